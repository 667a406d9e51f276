//! Every real sops file in `../shared/fixtures/sops` behaves as its README table says, and a
//! decrypt → re-encrypt → decrypt cycle is lossless for each one shroud can open.

use std::path::Path;

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
