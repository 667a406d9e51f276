//! docs/backup.md, step by step: back up, verify (stale and current), restore from shares, and
//! every bad input the runbook names.

use crate::util::*;

fn keys(sb: &Sandbox) -> std::process::Command {
    let mut c = sb.cmd();
    c.env("SHROUD_PASSPHRASE", "correct horse battery")
        .env("SHROUD_SCRYPT_WORK_FACTOR", "10")
        .arg("keys");
    c
}

#[test]
fn verify_that_finds_lost_files_exits_41_not_128() {
    let sb = Sandbox::new();
    for f in ["repo/a.yaml", "repo/b.yaml"] {
        sb.write(f, "a: 1\n");
        assert_code(
            &sb.cmd()
                .args(["encrypt", "-i", "--age", TEST_RECIPIENT, f])
                .run(),
            0,
        );
    }
    // A backup of another key: it opens, but none of the files does.
    let out = keys(&sb)
        .args(["backup", "--key-file"])
        .arg(test_key2())
        .args(["--passphrase", "-o", "other.json"])
        .run();
    assert_code(&out, 0);
    let out = keys(&sb)
        .args(["verify", "other.json", "repo", "--passphrase"])
        .env("SOPS_AGE_KEY_FILE", test_key())
        .run();
    assert_code(&out, 41);
    let err = stderr(&out);
    for f in ["repo/a.yaml", "repo/b.yaml"] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("verify: a restore would lose {f}: "))),
            "{err}"
        );
    }
    assert!(err.contains("opens 0 of 2"), "{err}");
    // The identities tried are the backup's alone: SOPS_AGE_KEY_FILE is neither used nor
    // suggested.
    assert!(
        err.contains("[age identities tried: the backup → age1"),
        "{err}"
    );
    assert!(!err.contains("SOPS_AGE_KEY_FILE"), "{err}");
    // A bundle that does not open is verify's own failure: 128, as documented.
    let out = keys(&sb)
        .env("SHROUD_PASSPHRASE", "wrong")
        .args(["verify", "other.json", "repo", "--passphrase"])
        .run();
    assert_code(&out, 128);
}

#[test]
fn backup_verify_restore_runbook() {
    let sb = Sandbox::new();
    // A repository with files for two keys.
    sb.write("repo/a.yaml", "a: 1\n");
    sb.write("repo/b.env", "B=2\n");
    sb.write("repo/c.yaml", "c: 3\n");
    for (f, r) in [
        ("repo/a.yaml", TEST_RECIPIENT),
        ("repo/b.env", TEST_RECIPIENT),
        ("repo/c.yaml", TEST_RECIPIENT2),
    ] {
        assert_code(&sb.cmd().args(["encrypt", "-i", "--age", r, f]).run(), 0);
    }
    // A backup of the first key only is stale: verify names the file it would lose.
    let out = keys(&sb)
        .args(["backup", "--key-file"])
        .arg(test_key())
        .args([
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "old-shares",
            "-o",
            "old.json",
        ])
        .run();
    assert_code(&out, 0);
    let out = keys(&sb)
        .args([
            "verify",
            "old.json",
            "repo",
            "--share",
            "old-shares/share-1.txt",
            "--share",
            "old-shares/share-3.txt",
        ])
        .run();
    assert_code(&out, 41);
    let err = stderr(&out);
    assert!(
        err.contains("opens 2 of 3") && err.contains("LOSE") && err.contains("c.yaml"),
        "{err}"
    );

    // The real backup: both keys, recovery recipient + passphrase + 5 shares (3 restore).
    let out = keys(&sb)
        .args(["backup", "--key-file"])
        .arg(test_key())
        .arg("--key-file")
        .arg(test_key2())
        .args([
            "--recipient",
            TEST_RECIPIENT2,
            "--passphrase",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--shares-dir",
            "shares",
            "-o",
            "backup.json",
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(file_mode(&sb.path("backup.json")), 0o600);
    assert_eq!(file_mode(&sb.path("shares/share-1.txt")), 0o600);
    let bundle = sb.read("backup.json");
    assert!(
        bundle.contains(TEST_RECIPIENT) && bundle.contains(TEST_RECIPIENT2),
        "manifest lists recipients"
    );
    assert!(
        !bundle.contains("AGE-SECRET-KEY"),
        "no identity in the clear"
    );
    assert!(
        sb.read("shares/share-2.txt")
            .contains("share 2 of 5, any 3 restore")
    );
    for unlock in [
        vec![
            "--share",
            "shares/share-1.txt",
            "--share",
            "shares/share-4.txt",
            "--share",
            "shares/share-5.txt",
        ],
        vec!["--passphrase"],
        vec!["--identity", test_key2().to_str().unwrap()],
    ] {
        let out = keys(&sb)
            .args(["verify", "backup.json", "repo"])
            .args(&unlock)
            .run();
        assert_code(&out, 0);
        assert!(stderr(&out).contains("opens 3 of 3"), "{}", stderr(&out));
    }
    // Restore from three shares into a new key file (0600), and it decrypts.
    let out = keys(&sb)
        .args([
            "restore",
            "backup.json",
            "--share",
            "shares/share-2.txt",
            "--share",
            "shares/share-3.txt",
            "--share",
            "shares/share-5.txt",
            "-o",
            "restored/keys.txt",
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(file_mode(&sb.path("restored/keys.txt")), 0o600);
    for f in ["repo/a.yaml", "repo/c.yaml"] {
        let out = sb
            .cmd()
            .env("SOPS_AGE_KEY_FILE", sb.path("restored/keys.txt"))
            .args(["decrypt", f])
            .run();
        assert_code(&out, 0);
    }
    // Never overwrites without --force: a second restore onto the same file finds every
    // identity there already and leaves it as it is.
    let before = sb.read("restored/keys.txt");
    let out = keys(&sb)
        .args([
            "restore",
            "backup.json",
            "--passphrase",
            "-o",
            "restored/keys.txt",
        ])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("already holds"), "{}", stderr(&out));
    assert_eq!(sb.read("restored/keys.txt"), before);
}

#[test]
fn bad_backup_input_is_named_and_writes_nothing() {
    let sb = Sandbox::new();
    let out = keys(&sb)
        .args(["backup", "--key-file"])
        .arg(test_key())
        .args([
            "--passphrase",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "s",
            "-o",
            "b.json",
        ])
        .run();
    assert_code(&out, 0);
    keys(&sb)
        .args(["backup", "--key-file"])
        .arg(test_key())
        .args([
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "other",
            "-o",
            "other.json",
        ])
        .run();
    let restore = |extra: &[&str], env_pass: Option<&str>| {
        let mut c = keys(&sb);
        if let Some(p) = env_pass {
            c.env("SHROUD_PASSPHRASE", p);
        }
        c.args(["restore", "b.json", "-o", "out.txt"])
            .args(extra)
            .run()
    };
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["--passphrase"],
            Some("wrong passphrase!"),
            "wrong passphrase",
        ),
        (
            vec!["--share", "s/share-1.txt"],
            None,
            "1 share(s) given, 2 needed",
        ),
        (
            vec!["--share", "s/share-1.txt", "--share", "other/share-2.txt"],
            None,
            "belongs to backup",
        ),
    ];
    for (extra, pass, expect) in cases {
        let out = restore(&extra, pass);
        assert_ne!(out.status.code(), Some(0));
        let err = stderr(&out);
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!sb.path("out.txt").exists());
    }
    // A typo in a share is caught by its checksum and the share is named.
    let share = sb.read("s/share-2.txt");
    let line = share.lines().nth(1).unwrap().to_owned();
    let pos = line.len() - 3;
    let c = line.as_bytes()[pos];
    let mut typo = line.clone();
    typo.replace_range(pos..pos + 1, if c == b'q' { "p" } else { "q" });
    sb.write("typo.txt", &share.replace(&line, &typo));
    let out = restore(&["--share", "s/share-1.txt", "--share", "typo.txt"], None);
    let err = stderr(&out);
    assert!(
        err.contains("typo.txt") && err.contains("checksum"),
        "{err}"
    );
    assert!(!sb.path("out.txt").exists());
    // A truncated bundle.
    let full = sb.read("b.json");
    sb.write("b.json", &full[..full.len() / 2]);
    let out = restore(
        &["--share", "s/share-1.txt", "--share", "s/share-2.txt"],
        None,
    );
    assert!(
        stderr(&out).contains("damaged or truncated"),
        "{}",
        stderr(&out)
    );
    assert!(!sb.path("out.txt").exists());
}

#[cfg(feature = "cluster")]
#[test]
fn backup_from_and_restore_to_the_controllers_key_secret() {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use kube::api::{Api, PostParams};

    let Some(kubeconfig) = crate::controller::kubeconfig() else {
        crate::util::missing(
            "SHROUD_TEST_KUBECONFIG (a real API server; run scripts/test-controller.sh)",
        );
        return;
    };
    let ns = format!("keys-{}", std::process::id());
    let key_text = std::fs::read_to_string(test_key()).unwrap();
    crate::kms::rt().block_on(async {
        let client = crate::controller::client(&kubeconfig).await;
        let n: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &n)
            .await
            .unwrap();
        let s: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shroud-age-keys", "namespace": ns},
            "stringData": {"current.txt": key_text}
        }))
        .unwrap();
        Api::<Secret>::namespaced(client, &ns)
            .create(&PostParams::default(), &s)
            .await
            .unwrap();
    });
    let sb = Sandbox::new();
    let kube = |c: &mut std::process::Command| {
        c.env("KUBECONFIG", &kubeconfig);
    };
    let mut c = keys(&sb);
    kube(&mut c);
    let out = c
        .args([
            "backup",
            "--from-secret",
            &format!("{ns}/shroud-age-keys"),
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "s",
            "-o",
            "b.json",
        ])
        .run();
    assert_code(&out, 0);
    let manifest = sb.read("b.json");
    assert!(
        manifest.contains(TEST_RECIPIENT) && manifest.contains("shroud-age-keys key current.txt"),
        "{manifest}"
    );
    let restore = |force: bool| {
        let mut c = keys(&sb);
        kube(&mut c);
        c.args([
            "restore",
            "b.json",
            "--share",
            "s/share-1.txt",
            "--share",
            "s/share-3.txt",
            "--to-secret",
            &format!("{ns}/restored"),
        ]);
        if force {
            c.arg("--force");
        }
        c.run()
    };
    assert_code(&restore(false), 0);
    let again = restore(false);
    assert_ne!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_code(&restore(true), 0);
    let restored = crate::kms::rt().block_on(async {
        let client = crate::controller::client(&kubeconfig).await;
        Api::<Secret>::namespaced(client, &ns)
            .get("restored")
            .await
            .unwrap()
    });
    let data = restored.data.unwrap();
    let text = String::from_utf8(data["keys.txt"].0.clone()).unwrap();
    let line = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    assert!(
        text.contains(line),
        "the restored Secret holds the backed-up identity"
    );
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A second `keys backup` into the same --shares-dir (or onto the same bundle) refuses
/// without --force: the earlier backup's shares would no longer restore it. Directories a
/// backup or a restore creates are private (0700).
#[test]
fn backups_never_overwrite_shares_and_directories_are_private() {
    let sb = Sandbox::new();
    let backup = |out: &str, extra: &[&str]| {
        keys(&sb)
            .args(["backup", "--key-file"])
            .arg(test_key())
            .args([
                "--shares",
                "3",
                "--threshold",
                "2",
                "--shares-dir",
                "paper/usb",
                "-o",
                out,
            ])
            .args(extra)
            .run()
    };
    assert_code(&backup("b1.json", &[]), 0);
    assert_eq!(mode(&sb.path("paper/usb")), 0o700);
    assert_eq!(mode(&sb.path("paper")), 0o700);
    let first = sb.read("paper/usb/share-1.txt");
    let out = backup("b2.json", &[]);
    // A usage error (exit 2): the shares directory holds shares already; --force replaces them.
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("share-1.txt")
            && err.contains("--force")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!sb.path("b2.json").exists());
    assert_eq!(sb.read("paper/usb/share-1.txt"), first);
    // The first backup still restores from its shares, into a new private directory.
    let out = keys(&sb)
        .args(["restore", "b1.json", "--share", "paper/usb/share-1.txt"])
        .args([
            "--share",
            "paper/usb/share-3.txt",
            "-o",
            "restored/keys/keys.txt",
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(mode(&sb.path("restored")), 0o700);
    assert_eq!(mode(&sb.path("restored/keys")), 0o700);
    assert_eq!(mode(&sb.path("restored/keys/keys.txt")), 0o600);
    // The bundle is not replaced either, and --force replaces both.
    let out = backup("b1.json", &[]);
    assert_code(&out, 2);
    assert_code(&backup("b1.json", &["--force"]), 0);
    assert_ne!(sb.read("paper/usb/share-1.txt"), first);
}

/// Shares, identities, bundles and key files are read with a size cap: a huge (sparse) file
/// is refused at once, naming the file.
#[test]
fn secret_files_are_read_with_a_size_cap() {
    let sb = Sandbox::new();
    assert_code(
        &keys(&sb)
            .args(["backup", "--key-file"])
            .arg(test_key())
            .args([
                "--shares",
                "3",
                "--threshold",
                "2",
                "--shares-dir",
                "paper",
                "-o",
                "b.json",
            ])
            .run(),
        0,
    );
    let big = sb.path("big.txt");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    for args in [
        vec![
            "restore",
            "b.json",
            "--share",
            "paper/share-1.txt",
            "--share",
            "big.txt",
        ],
        vec!["restore", "b.json", "--identity", "big.txt"],
        vec!["restore", "big.txt", "--passphrase"],
        vec![
            "backup",
            "--key-file",
            "big.txt",
            "--passphrase",
            "-o",
            "c.json",
        ],
    ] {
        let out = keys(&sb).args(&args).run();
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("big.txt") && err.contains("larger than"),
            "{args:?}: {err}"
        );
    }
}

/// Issue 29: `keys restore` onto an existing key file adds the restored identities next to
/// the ones it holds (as `keygen` adds a new one); only `--force` replaces it.
#[test]
fn restore_adds_to_an_existing_key_file() {
    let sb = Sandbox::new();
    for (f, r) in [
        ("mine.yaml", TEST_RECIPIENT2),
        ("team.yaml", TEST_RECIPIENT),
    ] {
        sb.write(f, "a: 1\n");
        assert_code(&sb.cmd().args(["encrypt", "-i", "--age", r, f]).run(), 0);
    }
    assert_code(
        &keys(&sb)
            .args(["backup", "--key-file"])
            .arg(test_key())
            .args(["--passphrase", "-o", "team.json"])
            .run(),
        0,
    );
    // My own key file, at the default place.
    let kf = sb.path(".config/sops/age/keys.txt");
    std::fs::create_dir_all(kf.parent().unwrap()).unwrap();
    std::fs::copy(test_key2(), &kf).unwrap();
    let mine = std::fs::read_to_string(&kf).unwrap();
    let out = keys(&sb)
        .args(["restore", "team.json", "--passphrase"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("added 1 restored identities"),
        "{}",
        stderr(&out)
    );
    let now = std::fs::read_to_string(&kf).unwrap();
    assert!(now.starts_with(&mine), "my identity was not kept");
    assert_eq!(mode(&kf), 0o600);
    for f in ["mine.yaml", "team.yaml"] {
        assert_code(&sb.cmd().args(["decrypt", f]).run(), 0);
    }
    // Again: nothing to add, nothing changed.
    let out = keys(&sb)
        .args(["restore", "team.json", "--passphrase"])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("already holds"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&kf).unwrap(), now);
    // --force replaces: my file no longer opens.
    assert_code(
        &keys(&sb)
            .args(["restore", "team.json", "--passphrase", "--force"])
            .run(),
        0,
    );
    assert_code(&sb.cmd().args(["decrypt", "team.yaml"]).run(), 0);
    assert_code(&sb.cmd().args(["decrypt", "mine.yaml"]).run(), 128);
}

/// A key file `keys backup` cannot read is named with the line at fault and exits 5 (invalid
/// keys), never "the bundle is damaged" (51) nor "no age identities … pass --key-file" when one
/// was passed: a mistyped identity, a byte-order mark, an SSH key.
#[test]
fn a_malformed_key_file_is_named_with_its_line_not_as_a_damaged_bundle() {
    let sb = Sandbox::new();
    let key = std::fs::read_to_string(test_key()).unwrap();
    let identity = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    let cases = [
        (
            "typo.txt",
            format!("# my key\n{identity}X\n"),
            "line 2 is not an age identity",
        ),
        (
            "bom.txt",
            format!("\u{feff}{identity}\n"),
            "byte-order mark (BOM)",
        ),
        (
            "ssh.txt",
            format!(
                "-----BEGIN {} PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END {} PRIVATE KEY-----\n",
                "OPENSSH", "OPENSSH"
            ),
            "SSH",
        ),
        (
            "recipient.txt",
            format!("{TEST_RECIPIENT}\n"),
            "line 1 is an age recipient (a public key)",
        ),
    ];
    for (name, text, says) in cases {
        let p = sb.write(name, &text);
        let out = keys(&sb)
            .args(["backup", "--key-file"])
            .arg(&p)
            .args(["--recipient", TEST_RECIPIENT, "-o", "backup.json"])
            .run();
        assert_code(&out, 5);
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("shroud: {}: ", p.display())) && err.contains(says),
            "{name}: {err}"
        );
        assert!(
            !err.contains("damaged") && !err.contains("pass --key-file"),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            !err.contains(&identity[20..]),
            "{name}: the key leaked: {err}"
        );
        assert!(!sb.path("backup.json").exists(), "{name}");
    }
}
