//! Regression tests for what adversarial testing found (issue: hardening): each failed on the
//! code before its fix.

use crate::util::*;

fn two_recipient_file(sb: &Sandbox, name: &str) {
    sb.write("p.yaml", "db:\n  password: hunter2\n  port: 5432\n");
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "-a",
            &format!("{TEST_RECIPIENT},{TEST_RECIPIENT2}"),
            "p.yaml",
        ])
        .run();
    assert_code(&out, 0);
    std::fs::write(sb.path(name), &out.stdout).unwrap();
}

/// The file without its `version:` line (the rops layout).
fn without_version(text: &str) -> String {
    let out: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("version:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(out, text, "the file had a version line");
    out
}

fn decrypts_with(sb: &Sandbox, key: &std::path::Path, file: &str) -> bool {
    sb.cmd()
        .env("SOPS_AGE_KEY_FILE", key)
        .args(["decrypt", file])
        .run()
        .status
        .success()
}

/// A file without `version` (the rops layout) is still a sops file: `rotate --rm-age` must
/// really revoke the removed recipient, in place and through `--recursive`.
#[test]
fn rotate_revokes_on_files_without_version() {
    let sb = Sandbox::new();
    two_recipient_file(&sb, "t.yaml");
    let text = sb.read("t.yaml");
    let stripped = without_version(&text);
    sb.write("t.yaml", &stripped);
    assert!(decrypts_with(&sb, &test_key2(), "t.yaml"));
    let out = sb
        .with_key()
        .args(["rotate", "-i", "-y", "--rm-age", TEST_RECIPIENT2, "t.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(
        !decrypts_with(&sb, &test_key2(), "t.yaml"),
        "R2 still decrypts"
    );
    assert!(decrypts_with(&sb, &test_key(), "t.yaml"));

    // The same through a directory walk.
    std::fs::create_dir_all(sb.path("dir")).unwrap();
    two_recipient_file(&sb, "dir/u.yaml");
    let u = without_version(&sb.read("dir/u.yaml"));
    sb.write("dir/u.yaml", &u);
    let out = sb
        .with_key()
        .args([
            "rotate",
            "-y",
            "--rm-age",
            TEST_RECIPIENT2,
            "--recursive",
            "dir",
        ])
        .run();
    assert_code(&out, 0);
    assert!(!decrypts_with(&sb, &test_key2(), "dir/u.yaml"));
}

/// Files with sops metadata that cannot be rotated (no MAC, null MAC, duplicate keys,
/// truncated metadata) fail the run loudly and stay byte for byte as they were.
#[test]
fn rotate_fails_loudly_on_damaged_sops_files() {
    let sb = Sandbox::new();
    two_recipient_file(&sb, "good.yaml");
    let good = sb.read("good.yaml");
    let mac_line = good
        .lines()
        .find(|l| l.trim_start().starts_with("mac:"))
        .unwrap()
        .to_owned();
    let cut = good.find("  lastmodified:").unwrap();
    let variants = [
        ("no-mac.yaml", good.replace(&format!("{mac_line}\n"), "")),
        ("null-mac.yaml", good.replace(&mac_line, "  mac: null")),
        ("dup.yaml", good.replacen("  password:", "  port:", 1)),
        ("truncated.yaml", good[..cut].to_owned()),
    ];
    for (name, text) in &variants {
        let name = format!("bad/{name}");
        sb.write(&name, text);
        let out = sb
            .with_key()
            .args(["rotate", "-i", "-y", "--rm-age", TEST_RECIPIENT2, &name])
            .run();
        assert_ne!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(&sb.read(&name), text, "{name} was changed");
    }
    let out = sb
        .with_key()
        .args([
            "rotate",
            "-y",
            "--rm-age",
            TEST_RECIPIENT2,
            "--recursive",
            "bad",
        ])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("4 failed"),
        "every damaged file is reported: {}",
        stderr(&out)
    );
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "--recursive", "bad"])
        .run();
    assert_ne!(out.status.code(), Some(0));
}

/// A plaintext file named on the command line is an error, not a silent skip.
#[test]
fn rotate_and_updatekeys_refuse_plaintext() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", "a: b\n");
    for verb in [&["rotate", "-i", "-y"][..], &["updatekeys", "-y"][..]] {
        let out = sb.with_key().args(verb).arg("plain.yaml").run();
        assert_code(&out, 204);
    }
}
