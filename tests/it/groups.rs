//! `shroud groups add` / `groups rm` checked against the real sops 3.11's `groups add` /
//! `groups delete` on the same file: the key structure (threshold, each group's keys, read by
//! go-yaml) is the same, the values and MAC are untouched, and the result opens in sops only
//! with as many groups' keys as the threshold asks for.

use std::path::Path;

use crate::util::*;

/// The key structure of a YAML sops file, as the Go judge reads it.
fn keys_of(bytes: &[u8]) -> String {
    sem("keys", bytes)
}

/// An identity file holding both test keys.
fn both_keys(sb: &Sandbox) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(test_key()).unwrap();
    text.push_str(&std::fs::read_to_string(test_key2()).unwrap());
    sb.write("both.txt", &text)
}

fn sops_decrypt(sb: &Sandbox, keys: &Path, file: &str) -> std::process::Output {
    sops_cmd(sb)
        .env("SOPS_AGE_KEY_FILE", keys)
        .args(["decrypt", file])
        .run()
}

/// The encrypted values and MAC lines of a YAML sops file (everything but key envelopes).
fn values_and_mac(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("ENC[") || l.trim_start().starts_with("lastmodified:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn groups_add_and_rm_match_sops() {
    let sb = Sandbox::new();
    let both = both_keys(&sb);
    sb.write(
        "plain.yaml",
        "db:\n  password: hunter2\n  port: 5432\nlist: [a, b]\n",
    );
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "--age",
            TEST_RECIPIENT,
            "--output",
            "base.yaml",
            "plain.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let base = sb.read("base.yaml");

    // groups add: a second group with the second key; both tools, same input.
    sb.write("ours.yaml", &base);
    sb.write("theirs.yaml", &base);
    let ours = sb
        .with_key()
        .args([
            "groups",
            "add",
            "--file",
            "ours.yaml",
            "--age",
            TEST_RECIPIENT2,
            "-i",
        ])
        .run();
    assert_code(&ours, 0);
    let theirs = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args([
            "groups",
            "add",
            "--file",
            "theirs.yaml",
            "--age",
            TEST_RECIPIENT2,
            "-i",
        ])
        .run();
    assert_code(&theirs, 0);
    let (o, t) = (sb.read("ours.yaml"), sb.read("theirs.yaml"));
    assert_eq!(keys_of(o.as_bytes()), keys_of(t.as_bytes()));
    assert_eq!(
        keys_of(o.as_bytes()),
        format!("threshold 2\nage:{TEST_RECIPIENT}\nage:{TEST_RECIPIENT2}\n")
    );
    assert_eq!(
        values_and_mac(&o),
        values_and_mac(&base),
        "values must not change"
    );
    // sops opens ours with both keys, and not with one group's key alone.
    let dec = sops_decrypt(&sb, &both, "ours.yaml");
    assert_code(&dec, 0);
    assert_eq!(
        sem("yaml", &dec.stdout),
        sem("yaml", sb.read("plain.yaml").as_bytes())
    );
    assert_ne!(
        sops_decrypt(&sb, &test_key(), "ours.yaml").status.code(),
        Some(0)
    );
    // And shroud opens what sops wrote.
    let dec = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &both)
        .args(["decrypt", "theirs.yaml"])
        .run();
    assert_code(&dec, 0);

    // A third group with a threshold of 2 of 3 (sops form via the drop-in translation too).
    for (tool, file) in [("shroud", "ours.yaml"), ("sops", "theirs.yaml")] {
        let mut c = if tool == "shroud" {
            sb.cmd()
        } else {
            sops_cmd(&sb)
        };
        let out = c
            .env("SOPS_AGE_KEY_FILE", &both)
            .args([
                "groups",
                "add",
                "--file",
                file,
                "--age",
                TEST_RECIPIENT,
                "--shamir-secret-sharing-threshold",
                "2",
                "-i",
            ])
            .run();
        assert_code(&out, 0);
    }
    let (o, t) = (sb.read("ours.yaml"), sb.read("theirs.yaml"));
    assert_eq!(keys_of(o.as_bytes()), keys_of(t.as_bytes()));
    assert!(keys_of(o.as_bytes()).starts_with("threshold 2\n"));

    // groups rm/delete: removing a group keeps the threshold satisfiable, or both refuse.
    for (tool, file) in [("shroud", "ours.yaml"), ("sops", "theirs.yaml")] {
        let mut c = if tool == "shroud" {
            sb.cmd()
        } else {
            sops_cmd(&sb)
        };
        let verb = if tool == "shroud" { "rm" } else { "delete" };
        let out = c
            .env("SOPS_AGE_KEY_FILE", &both)
            .args(["groups", verb, "--file", file, "-i", "1"])
            .run();
        assert_code(&out, 0);
    }
    let (o, t) = (sb.read("ours.yaml"), sb.read("theirs.yaml"));
    assert_eq!(keys_of(o.as_bytes()), keys_of(t.as_bytes()));
    assert_eq!(
        keys_of(o.as_bytes()),
        format!("threshold 2\nage:{TEST_RECIPIENT}\nage:{TEST_RECIPIENT}\n")
    );
    assert_code(&sops_decrypt(&sb, &test_key(), "ours.yaml"), 0);
    assert_eq!(values_and_mac(&o), values_and_mac(&base));

    // Two groups, threshold 2: removing one is impossible without lowering the threshold.
    let before = sb.read("ours.yaml");
    let ours = sb
        .with_key()
        .args(["groups", "rm", "ours.yaml", "0", "-i"])
        .run();
    assert_code(&ours, 5);
    assert!(stderr(&ours).contains("threshold"), "{}", stderr(&ours));
    assert_eq!(stderr(&ours).lines().count(), 1, "{}", stderr(&ours));
    assert_eq!(
        sb.read("ours.yaml"),
        before,
        "a refused change must not touch the file"
    );
    let theirs = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["groups", "delete", "--file", "theirs.yaml", "-i", "0"])
        .run();
    assert_ne!(theirs.status.code(), Some(0));
    // With the threshold lowered, both go down to one group that opens alone.
    for (tool, file) in [("shroud", "ours.yaml"), ("sops", "theirs.yaml")] {
        let mut c = if tool == "shroud" {
            sb.cmd()
        } else {
            sops_cmd(&sb)
        };
        let verb = if tool == "shroud" { "rm" } else { "delete" };
        let out = c
            .env("SOPS_AGE_KEY_FILE", test_key())
            .args([
                "groups",
                verb,
                "--file",
                file,
                "--shamir-secret-sharing-threshold",
                "1",
                "-i",
                "0",
            ])
            .run();
        assert_code(&out, 0);
    }
    let (o, t) = (sb.read("ours.yaml"), sb.read("theirs.yaml"));
    assert_eq!(keys_of(o.as_bytes()), keys_of(t.as_bytes()));
    assert_eq!(
        keys_of(o.as_bytes()),
        format!("threshold 1\nage:{TEST_RECIPIENT}\n")
    );
    assert_code(&sops_decrypt(&sb, &test_key(), "ours.yaml"), 0);
}

#[test]
fn groups_bad_input_is_one_line_and_loses_nothing() {
    let sb = Sandbox::new();
    sb.write("s.yaml", "a: secret\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "s.yaml"])
            .run(),
        0,
    );
    let before = sb.read("s.yaml");
    let cases: &[&[&str]] = &[
        &["groups", "rm", "s.yaml", "3", "-i"],
        &["groups", "rm", "s.yaml", "0", "-i"],
        &["groups", "rm", "s.yaml", "x", "-i"],
        &["groups", "add", "s.yaml", "-i"],
        &[
            "groups",
            "add",
            "-f",
            "s.yaml",
            "s.yaml",
            "--age",
            TEST_RECIPIENT2,
        ],
        &[
            "groups",
            "add",
            "s.yaml",
            "-i",
            "--age",
            "age1notarecipient",
        ],
    ];
    for args in cases {
        let out = sb.with_key().args(*args).run();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(sb.read("s.yaml"), before, "{args:?} changed the file");
    }
    // Without a key that opens the file, nothing is written and the error says so.
    let out = sb
        .cmd()
        .args(["groups", "add", "s.yaml", "-i", "--age", TEST_RECIPIENT2])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(sb.read("s.yaml"), before);
    // The environment's recipients never slip into a new group.
    let out = sb
        .with_key()
        .env("SOPS_AGE_RECIPIENTS", TEST_RECIPIENT2)
        .args(["groups", "add", "s.yaml", "--age", TEST_RECIPIENT])
        .run();
    assert_code(&out, 0);
    assert!(!stdout(&out).contains(TEST_RECIPIENT2));
}
