//! Every real sops file in `../shared/fixtures/sops` (and `../shared/fixtures/sops-pq`) behaves
//! as its README table says, and a decrypt → re-encrypt → decrypt cycle is lossless for each one
//! shroud can open.

use std::path::{Path, PathBuf};

use shroud::document;
use shroud::keysource::{KeySpec, Keyring};
use shroud::store::{EmitOptions, Format};

use crate::util::*;

/// (fixture, key file, reference plaintext)
const AGE_FIXTURES: &[(&str, &str, Option<&str>)] = &[
    (
        "rops/age_example.yaml",
        "rops-age.txt",
        Some("rops/age_example_plaintext.yaml"),
    ),
    (
        "rops/age_empty_value.yaml",
        "rops-age.txt",
        Some("rops/age_empty_value_plaintext.yaml"),
    ),
    (
        "rops/age_encrypted_regex.yaml",
        "rops-age.txt",
        Some("rops/age_encrypted_regex_plaintext.yaml"),
    ),
    (
        "rops/age_encrypted_suffix.yaml",
        "rops-age.txt",
        Some("rops/age_encrypted_suffix_plaintext.yaml"),
    ),
    (
        "rops/age_unencrypted_regex.yaml",
        "rops-age.txt",
        Some("rops/age_unencrypted_regex_plaintext.yaml"),
    ),
    (
        "rops/age_unencrypted_suffix.yaml",
        "rops-age.txt",
        Some("rops/age_unencrypted_suffix_plaintext.yaml"),
    ),
    (
        "rops/age_mac_only_encrypted.yaml",
        "rops-age.txt",
        Some("rops/age_mac_only_encrypted_plaintext.yaml"),
    ),
    ("flux/age.yaml", "flux-age.txt", None),
    ("flux/global-secret.yaml", "flux-age-global.txt", None),
    ("flux/merge1.yaml", "flux-age.txt", None),
    ("flux/env.env", "flux-age.txt", None),
    ("flux/file.txt", "flux-age.txt", None),
];

fn decrypt(fixture: &str, key: &str) -> std::process::Output {
    let f = sops_fixtures();
    Sandbox::new()
        .cmd()
        .env("SOPS_AGE_KEY_FILE", f.join("keys").join(key))
        .args(["decrypt"])
        .arg(f.join(fixture))
        .run()
}

#[test]
fn age_fixtures_decrypt_verify_and_match_their_plaintext() {
    let f = sops_fixtures();
    for (fixture, key, plain) in AGE_FIXTURES {
        let out = decrypt(fixture, key);
        assert_code(&out, 0);
        if let Some(plain) = plain {
            let expected = std::fs::read_to_string(f.join(plain)).unwrap();
            // Byte-exact, not only semantically equal: formatting is kept.
            assert_eq!(stdout(&out), expected, "{fixture}");
        }
    }
}

#[test]
fn flux_fixtures_have_the_expected_values() {
    let get = |fixture: &str, key: &str, extract: &str| {
        let f = sops_fixtures();
        let out = Sandbox::new()
            .cmd()
            .env("SOPS_AGE_KEY_FILE", f.join("keys").join(key))
            .args(["decrypt", "--extract", extract])
            .arg(f.join(fixture))
            .run();
        assert_code(&out, 0);
        stdout(&out)
    };
    assert_eq!(
        get("flux/age.yaml", "flux-age.txt", r#"["stringData"]["key"]"#),
        "value"
    );
    assert_eq!(
        get(
            "flux/global-secret.yaml",
            "flux-age-global.txt",
            r#"["stringData"]["key"]"#
        ),
        "global-value"
    );
    assert_eq!(
        get(
            "flux/merge1.yaml",
            "flux-age.txt",
            r#"["stringData"]["key"]"#
        ),
        "merge1"
    );
    assert_eq!(get("flux/env.env", "flux-age.txt", r#"["key"]"#), "value");
    assert_eq!(stdout(&decrypt("flux/file.txt", "flux-age.txt")), "value");
}

/// `../shared/fixtures/sops-pq` (or `$SHROUD_SOPS_PQ_FIXTURES`), next to the sops fixtures and
/// read in place. Panics when missing, as the sops fixtures do.
fn sops_pq_fixtures() -> PathBuf {
    let p = std::env::var_os("SHROUD_SOPS_PQ_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| sops_fixtures().join("../sops-pq"));
    assert!(
        p.join("age-pq.yaml").is_file(),
        "the sops-pq fixture is not at {} (set SHROUD_SOPS_PQ_FIXTURES)",
        p.display()
    );
    p
}

/// The file sops 3.12.1 wrote for a hybrid post-quantum recipient (stanza `mlkem768x25519`)
/// opens with its published key, MAC checked; a rotation by shroud opens in the real sops.
#[test]
fn the_post_quantum_fixture_of_sops_3_12_opens_and_rotates() {
    let f = sops_pq_fixtures();
    let key = f.join("flux-age-pq.txt");
    let fixture = f.join("age-pq.yaml");
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt", "--extract", r#"["stringData"]["key"]"#])
        .arg(&fixture)
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "value");
    let plain = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt"])
        .arg(&fixture)
        .run();
    assert_code(&plain, 0);
    assert!(stdout(&plain).contains("stringData:\n  key: value\n"));
    // Without the key: the ~2,000-character recipient is named shortened.
    let out = sb.cmd().args(["decrypt"]).arg(&fixture).run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains("age age1pq1ehusfwsv…"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).len() < 600, "{}", stderr(&out));
    // A new data key for the same post-quantum recipient, opened by the real sops.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["rotate", "--output", "rotated.yaml"])
        .arg(&fixture)
        .run();
    assert_code(&out, 0);
    let rotated = sb.read("rotated.yaml");
    let original = std::fs::read_to_string(&fixture).unwrap();
    let recipient = original
        .lines()
        .find_map(|l| l.trim().strip_prefix("- recipient: "))
        .unwrap();
    assert!(rotated.contains(recipient));
    let out = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt", "rotated.yaml"])
        .run();
    assert_code(&out, 0);
    // sops indents by four; the same document.
    assert_eq!(sem("yaml", &out.stdout), sem("yaml", &plain.stdout));
}

#[test]
fn negative_fixtures_fail_with_the_integrity_code_and_print_nothing() {
    let out = decrypt("negative/tampered-value.yaml", "op-age.txt");
    assert_code(&out, 51);
    assert!(out.stdout.is_empty(), "nothing partial on stdout");
    assert!(
        stderr(&out).contains(r#"["username"]"#),
        "names the key path: {}",
        stderr(&out)
    );

    let out = decrypt("negative/no-mac.pgp.yaml", "op-age.txt");
    assert_code(&out, 51);
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("no MAC"));
}

#[test]
fn kms_fixture_parses_and_names_its_key() {
    let f = sops_fixtures();
    let bytes = std::fs::read(f.join("rops/aws_kms_example.yaml")).unwrap();
    let (_, md) = document::load_encrypted("kms", Format::Yaml, &bytes).unwrap();
    let key = md.all_keys().next().unwrap();
    assert_eq!(key.type_name(), "AWS KMS");
    assert!(
        key.identity()
            .starts_with("arn:aws:kms:eu-north-1:822284028627:key/")
    );
}

fn format_of(p: &Path) -> Format {
    Format::from_path(p)
}

#[test]
fn decrypt_reencrypt_decrypt_is_lossless_for_every_fixture() {
    let f = sops_fixtures();
    for (fixture, key, _) in AGE_FIXTURES {
        let path = f.join(fixture);
        let fmt = format_of(&path);
        let bytes = std::fs::read(&path).unwrap();
        let mut ring = Keyring::default();
        ring.age
            .add_text(
                &std::fs::read_to_string(f.join("keys").join(key)).unwrap(),
                key,
            )
            .unwrap();
        let first = tokio_block(document::open(fixture, fmt, &bytes, &ring, false)).unwrap();
        let spec = document::EncryptSpec {
            groups: vec![vec![KeySpec::Age(TEST_RECIPIENT.into())]],
            shamir_threshold: 0,
            rules: first.metadata.rules.clone(),
        };
        let plain1 =
            document::emit_plain(fixture, fmt, &first.tree, EmitOptions::default()).unwrap();
        let (enc_tree, md, _) = tokio_block(document::encrypt(
            fixture,
            fmt,
            first.tree.clone(),
            &spec,
            &Keyring::default(),
        ))
        .unwrap();
        let written =
            document::emit_encrypted(fixture, fmt, enc_tree, &md, EmitOptions::default()).unwrap();
        let mut ring2 = Keyring::default();
        ring2
            .age
            .add_text(&std::fs::read_to_string(test_key()).unwrap(), "test")
            .unwrap();
        let second = tokio_block(document::open(fixture, fmt, &written, &ring2, false)).unwrap();
        let plain2 =
            document::emit_plain(fixture, fmt, &second.tree, EmitOptions::default()).unwrap();
        assert_eq!(
            plain1, plain2,
            "{fixture}: re-encryption changed the plaintext"
        );
        assert_eq!(
            second.metadata.rules,
            first.metadata.rules.clone().with_default(),
            "{fixture}: rules kept"
        );
    }
}

pub fn tokio_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
