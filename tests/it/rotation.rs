//! `updatekeys` and `rotate`, per file and across a repository (the key-replacement runbook of
//! docs/rotation.md runs as written, and is attacked, in `revocation.rs`).

use std::process::Command;

use crate::util::*;

fn git(dir: &std::path::Path, args: &[&str]) {
    let st = Command::new("git")
        .current_dir(dir)
        .args(args)
        .status()
        .expect("git runs");
    assert!(st.success(), "git {args:?}");
}

fn config(recipients: &[&str]) -> String {
    format!(
        "creation_rules:\n  - path_regex: secrets/.*\n    age: {}\n",
        recipients.join(",")
    )
}

fn decrypt_with(sb: &Sandbox, key: &std::path::Path, file: &str) -> std::process::Output {
    sb.cmd()
        .env("SOPS_AGE_KEY_FILE", key)
        .args(["decrypt", file])
        .run()
}

#[test]
fn updatekeys_rewraps_without_touching_values() {
    let sb = Sandbox::new();
    sb.write(".sops.yaml", &config(&[TEST_RECIPIENT]));
    sb.write("secrets/a.yaml", "a: 1\nb: two\n");
    assert_code(&sb.cmd().args(["encrypt", "-i", "secrets/a.yaml"]).run(), 0);
    let before = sb.read("secrets/a.yaml");
    // Unchanged config: nothing to do.
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "secrets/a.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("0 changed, 1 unchanged"),
        "{}",
        stderr(&out)
    );
    sb.write(".sops.yaml", &config(&[TEST_RECIPIENT, TEST_RECIPIENT2]));
    // Non-interactive without -y refuses and changes nothing.
    let out = sb.with_key().args(["updatekeys", "secrets/a.yaml"]).run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&format!("+age {TEST_RECIPIENT2}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.read("secrets/a.yaml"), before);
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "secrets/a.yaml"])
        .run();
    assert_code(&out, 0);
    let after = sb.read("secrets/a.yaml");
    let values = |t: &str| {
        t.lines()
            .take_while(|l| !l.starts_with("sops:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(&before),
        values(&after),
        "value ciphertexts unchanged"
    );
    let field = |t: &str, f: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with(f))
            .map(str::to_owned)
    };
    assert_eq!(field(&before, "mac:"), field(&after, "mac:"));
    assert_eq!(
        field(&before, "lastmodified:"),
        field(&after, "lastmodified:")
    );
    assert_code(&decrypt_with(&sb, &test_key2(), "secrets/a.yaml"), 0);
}

#[test]
fn rotate_renews_the_data_key_and_changes_recipients() {
    let sb = Sandbox::new();
    sb.write("s.yaml", "a: 1\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "s.yaml"])
            .run(),
        0,
    );
    let before = sb.read("s.yaml");
    let out = sb
        .with_key()
        .args([
            "rotate",
            "-i",
            "--add-age",
            TEST_RECIPIENT2,
            "--rm-age",
            TEST_RECIPIENT,
            "s.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let after = sb.read("s.yaml");
    assert_ne!(
        before.lines().next(),
        after.lines().next(),
        "values re-encrypted"
    );
    assert_code(&decrypt_with(&sb, &test_key2(), "s.yaml"), 0);
    assert_code(&decrypt_with(&sb, &test_key(), "s.yaml"), 128);
    // Without -i the rotated file goes to stdout and the file stays.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["rotate", "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(stdout(&out).contains("sops:"));
    assert_eq!(sb.read("s.yaml"), after);
}

#[test]
fn recursive_runs_isolate_failures_and_respect_gitignore() {
    let sb = Sandbox::new();
    git(sb.dir.path(), &["init", "-q"]);
    sb.write(".sops.yaml", &config(&[TEST_RECIPIENT]));
    sb.write(".gitignore", "secrets/ignored/\n");
    for i in 0..12 {
        sb.write(&format!("secrets/f{i}.yaml"), &format!("v: {i}\n"));
        assert_code(
            &sb.cmd()
                .args(["encrypt", "-i", &format!("secrets/f{i}.yaml")])
                .run(),
            0,
        );
    }
    sb.write("secrets/ignored/x.yaml", "v: plain\n");
    sb.write(
        "secrets/broken.yaml",
        "a: 1\nsops:\n    lastmodified: nope\n",
    );
    sb.write("other/not-matching.yaml", "v: 1\n");
    let broken_before = sb.read("secrets/broken.yaml");
    sb.write(".sops.yaml", &config(&[TEST_RECIPIENT, TEST_RECIPIENT2]));
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "--recursive", "."])
        .run();
    let err = stderr(&out);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a failed file makes the run fail: {err}"
    );
    assert!(
        err.contains("12 changed") && err.contains("1 failed"),
        "{err}"
    );
    assert!(
        !err.contains("ignored/x.yaml"),
        "gitignored files are not touched: {err}"
    );
    assert_eq!(sb.read("secrets/broken.yaml"), broken_before);
    for i in 0..12 {
        assert_code(
            &decrypt_with(&sb, &test_key2(), &format!("secrets/f{i}.yaml")),
            0,
        );
    }
    // Dry run: nothing written.
    let snapshot = sb.read("secrets/f0.yaml");
    let out = sb
        .with_key()
        .args(["rotate", "--dry-run", "--recursive", "secrets"])
        .run();
    assert!(
        stderr(&out).contains("would be changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.read("secrets/f0.yaml"), snapshot);
}
