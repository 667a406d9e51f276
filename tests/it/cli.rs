//! CLI behaviour: verbs, flags, config discovery, file safety, exit codes.

use crate::util::*;

const PLAIN: &str = "# top comment\ndb:\n    user: admin # who\n    password: hunter2\n    port: 5432\nlist:\n    - a\n    - b\nurl_unencrypted: https://x\n";

fn encrypted(sb: &Sandbox, name: &str, content: &str) {
    sb.write(name, content);
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, name])
        .run();
    assert_code(&out, 0);
}

/// Lines of an encrypted file that hold values (not the sops block).
fn value_lines(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| !l.starts_with("sops:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn encrypt_decrypt_in_place_keeps_modes_and_content() {
    let sb = Sandbox::new();
    encrypted(&sb, "s.yaml", PLAIN);
    let enc = sb.read("s.yaml");
    assert!(!enc.contains("hunter2") && !enc.contains("admin"));
    assert!(enc.contains("url_unencrypted: https://x"));
    assert!(enc.contains("unencrypted_suffix: _unencrypted"));
    let out = sb.with_key().args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), PLAIN);
    // Plaintext written to disk is private.
    let out = sb
        .with_key()
        .args(["decrypt", "s.yaml", "--output", "plain.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(file_mode(&sb.path("plain.yaml")), 0o600);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path("s.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = sb.with_key().args(["decrypt", "-i", "s.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(
        file_mode(&sb.path("s.yaml")),
        0o600,
        "in-place plaintext is 0600"
    );
    assert_eq!(sb.read("s.yaml"), PLAIN);
}

#[test]
fn stdin_stdout_and_legacy_flags() {
    let sb = Sandbox::new();
    sb.write("s.json", "{\"a\": \"b\", \"n\": 9007199254740993}\n");
    let out = sb
        .cmd()
        .args(["encrypt", "--age", TEST_RECIPIENT, "s.json"])
        .run();
    assert_code(&out, 0);
    std::fs::write(sb.path("e.json"), &out.stdout).unwrap();
    // sops's legacy `-d` form.
    let out = sb.with_key().args(["-d", "e.json"]).run();
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("9007199254740993"),
        "big ints exact: {}",
        stdout(&out)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shroud"))
        .env_clear()
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["decrypt", "--input-type", "json"])
        .stdin(std::fs::File::open(sb.path("e.json")).unwrap())
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(stdout(&out).contains("\"a\": \"b\""));
}

#[test]
fn exit_codes_and_messages() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["decrypt", "missing.yaml"]).run();
    assert_code(&out, 100);
    assert!(stderr(&out).contains("missing.yaml"));

    sb.write("plain.yaml", "a: 1\n");
    let out = sb.cmd().args(["decrypt", "plain.yaml"]).run();
    assert_code(&out, 204);
    assert!(stderr(&out).contains("shroud encrypt -i plain.yaml"));

    encrypted(&sb, "e.yaml", "a: 1\n");
    let out = sb
        .cmd()
        .args(["encrypt", "--age", TEST_RECIPIENT, "e.yaml"])
        .run();
    assert_code(&out, 203);

    sb.write("bad.yaml", "a: [\nb: 1\n");
    let out = sb
        .cmd()
        .args(["encrypt", "--age", TEST_RECIPIENT, "bad.yaml"])
        .run();
    assert_code(&out, 4);
    let err = stderr(&out);
    assert!(err.contains("bad.yaml") && err.contains("line"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");

    sb.write("seq.yaml", "- a\n- b\n");
    let out = sb
        .cmd()
        .args(["encrypt", "--age", TEST_RECIPIENT, "seq.yaml"])
        .run();
    assert_code(&out, 4);
    assert!(stderr(&out).contains("--input-type binary"));

    let out = sb.cmd().args(["encrypt", "plain.yaml"]).run();
    assert_code(&out, 111);

    let out = sb
        .with_key()
        .args(["decrypt", "--extract", r#"["nope"]"#, "e.yaml"])
        .run();
    assert_code(&out, 91);

    let out = sb.cmd().args(["decrypt", "e.yaml"]).run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains("SOPS_AGE_KEY_FILE"),
        "{}",
        stderr(&out)
    );

    // Nothing was written over the originals by failing commands.
    assert_eq!(sb.read("bad.yaml"), "a: [\nb: 1\n");
}

/// An empty entry in a list of keys (`--age 'K1,,K2'`, a trailing comma, in the flag, its
/// variable or a rotate list) is refused in one line, exit 5 (a malformed recipient), with
/// nothing written: a key left out by mistake must not become a file encrypted for fewer
/// recipients than meant. Before the fix: encrypted for the keys that were there, exit 0.
#[test]
fn an_empty_entry_in_a_key_list_is_refused() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", "a: 1\n");
    encrypted(&sb, "e.yaml", "a: 1\n");
    let before = sb.read("e.yaml");
    let doubled = format!("{TEST_RECIPIENT},,{TEST_RECIPIENT2}");
    let trailing = format!("{TEST_RECIPIENT2},");
    let refused = |out: std::process::Output| {
        assert_code(&out, 5);
        let err = stderr(&out);
        assert!(err.contains("empty entry"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    };
    for list in [&doubled, &trailing, &format!(",{TEST_RECIPIENT}")] {
        refused(
            sb.cmd()
                .args(["encrypt", "--age", list, "plain.yaml"])
                .run(),
        );
        refused(
            sb.cmd()
                .env("SOPS_AGE_RECIPIENTS", list)
                .args(["encrypt", "plain.yaml"])
                .run(),
        );
    }
    refused(
        sb.cmd()
            .args(["encrypt", "--age", TEST_RECIPIENT, "--pgp", ","])
            .arg("plain.yaml")
            .run(),
    );
    for flag in ["--add-age", "--rm-age", "--rm-pgp", "--add-kms"] {
        let list = if flag.ends_with("age") {
            &trailing
        } else {
            ","
        };
        refused(
            sb.with_key()
                .args(["rotate", "-i", flag, list, "e.yaml"])
                .run(),
        );
    }
    assert_eq!(sb.read("e.yaml"), before);
    assert_eq!(sb.read("plain.yaml"), "a: 1\n");
    // Blanks around entries are fine, as in sops.
    let out = sb
        .cmd()
        .args(["encrypt", "--age"])
        .arg(format!("{TEST_RECIPIENT}, {TEST_RECIPIENT2}"))
        .arg("plain.yaml")
        .run();
    assert_code(&out, 0);
}

#[test]
fn wrong_key_lists_each_identity_source() {
    let sb = Sandbox::new();
    encrypted(&sb, "e.yaml", "a: 1\n");
    // A key file that holds another identity: the message names the file's recipient once,
    // each place identities were looked for with what it held, and the remedy.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["decrypt", "e.yaml"])
        .run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(err.matches(TEST_RECIPIENT).count(), 1, "{err}");
    let held = format!(
        "SOPS_AGE_KEY_FILE={} → {}…{}",
        test_key2().display(),
        &TEST_RECIPIENT2[..12],
        &TEST_RECIPIENT2[TEST_RECIPIENT2.len() - 5..]
    );
    assert!(err.contains(&held), "{err}");
    assert!(
        err.contains("~/.config/sops/age/keys.txt: not found"),
        "{err}"
    );
    assert!(
        err.contains("set SOPS_AGE_KEY_FILE to the key file"),
        "{err}"
    );
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");

    // No identity anywhere: every place tried, and where to put one.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", sb.path("missing-keys.txt"))
        .args(["decrypt", "e.yaml"])
        .run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(err.contains("missing-keys.txt: not found"), "{err}");
    assert!(
        err.contains("~/.config/sops/age/keys.txt: not found"),
        "{err}"
    );
    assert!(
        err.contains("put it at ~/.config/sops/age/keys.txt"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    // Many identities and many recipients: summarized, still one bounded line.
    let mut recipients = Vec::new();
    for i in 0..6 {
        let out = sb.cmd().args(["keygen", "-o", &format!("r{i}.txt")]).run();
        assert_code(&out, 0);
        recipients.push(stdout(&out).trim().to_owned());
    }
    sb.write("many.yaml", "a: 1\n");
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", &recipients.join(","), "many.yaml"])
        .run();
    assert_code(&out, 0);
    let mut keys = String::new();
    for i in 0..8 {
        assert_code(
            &sb.cmd().args(["keygen", "-o", &format!("k{i}.txt")]).run(),
            0,
        );
        keys.push_str(&sb.read(&format!("k{i}.txt")));
    }
    sb.write(".config/sops/age/keys.txt", &keys);
    let mut c = sb.cmd();
    for (i, var) in ["SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"]
        .iter()
        .enumerate()
    {
        c.env(var, sb.path(&format!("k{i}.txt")));
    }
    let out = c
        .env("SOPS_AGE_KEY", sb.read("k2.txt"))
        .args(["decrypt", "many.yaml"])
        .run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.len() < 1000, "bounded: {} bytes: {err}", err.len());
    assert!(
        err.contains("and 3 more: no loaded identity matches"),
        "{err}"
    );
    assert!(err.contains("~/.config/sops/age/keys.txt → "), "{err}");
    assert!(err.contains(" +6 more"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
}

#[test]
fn config_is_found_from_the_files_directory() {
    let sb = Sandbox::new();
    sb.write(
        "repo/.sops.yaml",
        &format!("creation_rules:\n  - path_regex: k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {TEST_RECIPIENT}\n"),
    );
    sb.write(
        "repo/k8s/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  pw: hunter2\n",
    );
    sb.write("repo/other.yaml", "a: 1\n");
    // Run from outside the repository: the rule still applies (sops issue #242).
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "repo/k8s/secret.yaml"])
        .run();
    assert_code(&out, 0);
    let enc = sb.read("repo/k8s/secret.yaml");
    assert!(enc.contains("name: x"), "metadata stays readable");
    assert!(!enc.contains("hunter2"));
    let out = sb.cmd().args(["encrypt", "repo/other.yaml"]).run();
    assert_code(&out, 61);
    assert!(stderr(&out).contains("no creation rule matches"));
    sb.write("repo/.sops.yaml", "creation_rules: {{{\n");
    let out = sb.cmd().args(["encrypt", "repo/other.yaml"]).run();
    assert_code(&out, 5);
    assert!(stderr(&out).contains(".sops.yaml"));
}

#[test]
fn set_and_unset_keep_other_ciphertexts() {
    let sb = Sandbox::new();
    encrypted(&sb, "s.yaml", PLAIN);
    let before = value_lines(&sb.read("s.yaml"));
    let out = sb
        .with_key()
        .args(["set", "s.yaml", r#"["db"]["password"]"#, r#""new-pass""#])
        .run();
    assert_code(&out, 0);
    let after = value_lines(&sb.read("s.yaml"));
    let changed: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
    assert_eq!(
        changed.len(),
        1,
        "only the password line changes: {changed:?}"
    );
    assert!(changed[0].0.contains("password:"));
    let out = sb
        .with_key()
        .args(["decrypt", "--extract", r#"["db"]["password"]"#, "s.yaml"])
        .run();
    assert_eq!(stdout(&out), "new-pass");

    let out = sb
        .with_key()
        .args(["unset", "s.yaml", r#"["db"]["port"]"#])
        .run();
    assert_code(&out, 0);
    let out = sb
        .with_key()
        .args(["unset", "s.yaml", r#"["db"]["port"]"#])
        .run();
    assert_code(&out, 91);
    let out = sb
        .with_key()
        .args(["unset", "--idempotent", "s.yaml", r#"["db"]["port"]"#])
        .run();
    assert_code(&out, 0);
    let out = sb
        .with_key()
        .args(["set", "s.yaml", r#"["db"]["x"]"#, "not json"])
        .run();
    assert_code(&out, 5);
}

#[test]
fn missing_paths_name_siblings_and_the_path_syntax() {
    let sb = Sandbox::new();
    encrypted(&sb, "s.yaml", PLAIN);
    let before = sb.read("s.yaml");
    let check = |args: &[&str], wanted: &[&str]| {
        let out = sb.with_key().args(args).run();
        assert_code(&out, 91);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for w in wanted {
            assert!(err.contains(w), "{args:?}: wanted {w:?} in {err}");
        }
        for value in ["hunter2", "admin", "5432", "https://x"] {
            assert!(!err.contains(value), "{args:?} names a value: {err}");
        }
        assert!(out.stdout.is_empty());
    };
    let syntax = r#"paths are written ["key"]["key"], with [0] for a list item"#;
    check(
        &["decrypt", "--extract", r#"["db"]["pasword"]"#, "s.yaml"],
        &[
            r#"["db"]["pasword"] not found: did you mean ["db"]["password"]?"#,
            r#"its keys, closest first: "password", "port", "user""#,
            syntax,
        ],
    );
    check(
        &["decrypt", "--extract", r#"["dbx"]["password"]"#, "s.yaml"],
        &[r#"did you mean ["db"]?"#, r#""url_unencrypted""#],
    );
    check(
        &["decrypt", "--extract", r#"["list"][2]"#, "s.yaml"],
        &[r#"["list"] has 2 items, [0] to [1]"#],
    );
    check(
        &["decrypt", "--extract", "db.password", "s.yaml"],
        &[
            "invalid --extract path",
            r#"write it as ["db"]["password"]"#,
        ],
    );
    check(
        &["unset", "s.yaml", r#"["db"]["usr"]"#],
        &[
            r#"["db"]["usr"] not found: did you mean ["db"]["user"]?"#,
            "--idempotent succeeds when the path is absent",
            syntax,
        ],
    );
    check(
        &["set", "s.yaml", r#"["db"]["user"]["x"]"#, r#""x""#],
        &[r#"["db"]["user"] is a single value, not a mapping"#],
    );
    check(
        &["set", "s.yaml", "db.password", r#""x""#],
        &["invalid index", r#"write it as ["db"]["password"]"#],
    );
    assert_eq!(sb.read("s.yaml"), before, "failed commands change nothing");
}

#[test]
fn edit_changes_only_what_was_edited() {
    let sb = Sandbox::new();
    encrypted(&sb, "s.yaml", PLAIN);
    let before = sb.read("s.yaml");
    // An "editor" that changes one value.
    sb.write(
        "ed.sh",
        "#!/bin/sh\nsed -i 's/hunter2/correct-horse/' \"$1\"\n",
    );
    let out = sb
        .with_key()
        .env("EDITOR", format!("sh {}", sb.path("ed.sh").display()))
        .args(["edit", "s.yaml"])
        .run();
    assert_code(&out, 0);
    let after = sb.read("s.yaml");
    let changed: Vec<_> = value_lines(&before)
        .into_iter()
        .zip(value_lines(&after))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let out = sb
        .with_key()
        .args(["decrypt", "--extract", r#"["db"]["password"]"#, "s.yaml"])
        .run();
    assert_eq!(stdout(&out), "correct-horse");

    // No change: exit 200, file untouched.
    let out = sb
        .with_key()
        .env("EDITOR", "true")
        .args(["edit", "s.yaml"])
        .run();
    assert_code(&out, 200);
    assert_eq!(sb.read("s.yaml"), after);

    // Invalid result: clear error, file untouched.
    sb.write("bad.sh", "#!/bin/sh\nprintf 'a: [\\n' > \"$1\"\n");
    let out = sb
        .with_key()
        .env("EDITOR", format!("sh {}", sb.path("bad.sh").display()))
        .args(["edit", "s.yaml"])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("not changed"), "{}", stderr(&out));
    assert_eq!(sb.read("s.yaml"), after);

    // The temp plaintext lived in a private directory and is gone.
    sb.write("spy.sh", "#!/bin/sh\nstat -c '%a' \"$(dirname \"$1\")\" > \"$HOME/dirmode\"\nstat -c '%a' \"$1\" > \"$HOME/filemode\"\necho \"$1\" > \"$HOME/where\"\n");
    let out = sb
        .with_key()
        .env("EDITOR", format!("sh {}", sb.path("spy.sh").display()))
        .args(["edit", "s.yaml"])
        .run();
    assert_code(&out, 200);
    assert_eq!(sb.read("dirmode").trim(), "700");
    assert_eq!(sb.read("filemode").trim(), "600");
    assert!(!std::path::Path::new(sb.read("where").trim()).exists());
}

#[test]
fn edit_creates_new_files_from_the_config() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
    );
    sb.write("ed.sh", "#!/bin/sh\nprintf 'token: abc\\n' > \"$1\"\n");
    let out = sb
        .with_key()
        .env("EDITOR", format!("sh {}", sb.path("ed.sh").display()))
        .args(["edit", "new.yaml"])
        .run();
    assert_code(&out, 0);
    let out = sb.with_key().args(["decrypt", "new.yaml"]).run();
    assert_eq!(stdout(&out), "token: abc\n");
}

#[test]
fn exec_env_and_exec_file() {
    let sb = Sandbox::new();
    encrypted(&sb, "e.env", "API_TOKEN=abc123\nOTHER=x\n");
    let out = sb
        .with_key()
        .args([
            "exec-env",
            "e.env",
            "test \"$API_TOKEN\" = abc123 && exit 7",
        ])
        .run();
    assert_code(&out, 7);
    encrypted(&sb, "s.yaml", "k: v\n");
    for extra in [&[][..], &["--no-fifo"][..]] {
        let out = sb
            .with_key()
            .arg("exec-file")
            .args(extra)
            .args(["s.yaml", "cat {}"])
            .run();
        assert_code(&out, 0);
        assert_eq!(stdout(&out), "k: v\n");
    }
    // A command that never reads the FIFO must not hang.
    let out = sb.with_key().args(["exec-file", "s.yaml", "true"]).run();
    assert_code(&out, 0);
}

#[test]
fn exec_env_on_nested_values_names_them_and_points_to_exec_file() {
    let sb = Sandbox::new();
    encrypted(
        &sb,
        "n.yaml",
        "TOKEN: hunter2\ndb:\n    password: s3cret\nhosts:\n    - a\n    - b\n",
    );
    let out = sb
        .with_key()
        .args(["exec-env", "n.yaml", "touch ran"])
        .run();
    assert_code(&out, 91);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(r#"["db"] is a mapping and ["hosts"] is a list; nothing was run"#),
        "{err}"
    );
    assert!(
        err.contains("shroud exec-file n.yaml 'COMMAND {}'"),
        "{err}"
    );
    assert!(!err.contains("hunter2") && !err.contains("s3cret"), "{err}");
    assert!(!sb.path("ran").exists(), "the command did not run");
    // The same document through exec-file reaches the command whole.
    let out = sb
        .with_key()
        .args(["exec-file", "n.yaml", "grep -c password {}"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "1");
    // Many nested keys: a few named, the rest counted.
    let many: String = (0..8).map(|i| format!("k{i}:\n    x: 1\n")).collect();
    encrypted(&sb, "m.yaml", &many);
    let err = stderr(&sb.with_key().args(["exec-env", "m.yaml", "true"]).run());
    assert!(
        err.contains(r#"["k4"] is a mapping and 3 more are nested"#),
        "{err}"
    );
}

#[test]
fn keygen_writes_private_keys_and_prints_recipient() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["keygen", "-o", "k.txt"]).run();
    assert_code(&out, 0);
    assert!(stdout(&out).trim().starts_with("age1"));
    assert_eq!(file_mode(&sb.path("k.txt")), 0o600);
    assert!(sb.read("k.txt").contains("AGE-SECRET-KEY-1"));
    // Default location, XDG-aware, then usable without any variable.
    let out = sb.cmd().arg("keygen").run();
    assert_code(&out, 0);
    let recipient = stdout(&out).trim().to_owned();
    assert_eq!(file_mode(&sb.path(".config/sops/age/keys.txt")), 0o600);
    // Every directory keygen creates for a key file is private (0700), not only the last.
    for dir in [".config", ".config/sops", ".config/sops/age"] {
        assert_eq!(file_mode(&sb.path(dir)), 0o700, "{dir}");
    }
    let out = sb.cmd().args(["keygen", "-o", "new/keys/k.txt"]).run();
    assert_code(&out, 0);
    for dir in ["new", "new/keys"] {
        assert_eq!(file_mode(&sb.path(dir)), 0o700, "{dir}");
    }
    sb.write("s.yaml", "a: b\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", &recipient, "s.yaml"])
            .run(),
        0,
    );
    let out = sb.cmd().args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "a: b\n");
}

#[test]
fn filestatus_and_completion() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: 1\n");
    let out = sb.cmd().args(["filestatus", "p.yaml"]).run();
    assert_eq!(stdout(&out).trim(), r#"{"encrypted":false}"#);
    encrypted(&sb, "e.yaml", "a: 1\n");
    let out = sb.cmd().args(["filestatus", "e.yaml"]).run();
    assert_eq!(stdout(&out).trim(), r#"{"encrypted":true}"#);
    let out = sb.cmd().args(["completion", "bash"]).run();
    assert_code(&out, 0);
    assert!(stdout(&out).contains("shroud"));
}

#[test]
fn all_formats_round_trip_through_the_cli() {
    let sb = Sandbox::new();
    let cases = [
        ("a.yaml", "x: 1\n"),
        ("a.json", "{\n\t\"x\": [1, 2.5, true, null, \"s\"]\n}\n"),
        ("a.env", "# c\nKEY=value with spaces\nMULTI=a\\nb\n"),
        ("a.ini", "[sect]\nk = v\n"),
        ("a.bin", "\u{1}\u{2}binary\u{0}data"),
    ];
    for (name, content) in cases {
        sb.write(name, content);
        let out = sb
            .cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, name])
            .run();
        assert_code(&out, 0);
        assert_ne!(sb.read(name), content, "{name} encrypted");
        let out = sb.with_key().args(["decrypt", name]).run();
        assert_code(&out, 0);
        let got = stdout(&out);
        match name {
            "a.json" => {
                assert!(got.contains("2.5") && got.contains("true") && got.contains("null"))
            }
            _ => assert_eq!(got, content, "{name}"),
        }
    }
}

#[test]
fn errors_never_contain_values() {
    let sb = Sandbox::new();
    encrypted(&sb, "s.yaml", "password: hunter2-very-secret\n");
    // Tamper with the ciphertext of the value.
    let text = sb.read("s.yaml");
    let start = text.find("data:").unwrap() + 5;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    std::fs::write(sb.path("s.yaml"), &bytes).unwrap();
    let out = sb.with_key().args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 51);
    assert!(out.stdout.is_empty());
    assert!(!stderr(&out).contains("hunter2"));
    assert!(stderr(&out).contains(r#"["password"]"#));
}

#[test]
fn bulk_encrypt_in_place_with_plan_and_summary() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {TEST_RECIPIENT}\n  - age: {TEST_RECIPIENT}\n"
        ),
    );
    for i in 1..=5 {
        sb.write(&format!("secrets/app/f{i}.yaml"), &format!("k{i}: v{i}\n"));
    }
    sb.write("secrets/ignored.yaml", "x: y\n");
    sb.write(".gitignore", "secrets/ignored.yaml\n");
    // The catch-all rule selects nothing for --recursive: it would take every file.
    sb.write("notes/readme.yaml", "n: 1\n");
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "-r", ".", "--dry-run"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out)
            .contains("encrypt: 5 would be encrypted, 0 already are, 0 hold no value to encrypt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.read("secrets/app/f1.yaml"), "k1: v1\n");
    // Not on a terminal and without -y: asks to confirm, writes nothing.
    let out = sb.cmd().args(["encrypt", "-i", "-r", "."]).run();
    // A confirmation with no answer is refused like a declined one (exit 1, docs/exit-codes.md).
    assert_code(&out, 1);
    assert!(stderr(&out).contains("-y"), "{}", stderr(&out));
    assert_eq!(sb.read("secrets/app/f1.yaml"), "k1: v1\n");
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "-y", "-j", "3", "-r", "."])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains(
            "encrypt: 5 encrypted, 0 encrypted already, 0 with nothing to encrypt, 0 failed"
        ),
        "{}",
        stderr(&out)
    );
    for i in 1..=5 {
        let dec = sb
            .with_key()
            .args(["decrypt", &format!("secrets/app/f{i}.yaml")])
            .run();
        assert_eq!(stdout(&dec), format!("k{i}: v{i}\n"));
    }
    assert_eq!(sb.read("secrets/ignored.yaml"), "x: y\n");
    assert_eq!(sb.read("notes/readme.yaml"), "n: 1\n");
    // Again: nothing left to do.
    let out = sb.cmd().args(["encrypt", "-i", "-y", "-r", "."]).run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("nothing to encrypt"),
        "{}",
        stderr(&out)
    );
    // Explicit files: the encrypted one is skipped, the other encrypted; --quiet prints the
    // summary only.
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "-i",
            "-y",
            "--quiet",
            "notes/readme.yaml",
            "secrets/app/f1.yaml",
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(
        stderr(&out),
        "encrypt: 1 encrypted, 1 encrypted already, 0 failed\n"
    );
    // Several files need -i.
    let out = sb.cmd().args(["encrypt", "a.yaml", "b.yaml"]).run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("add -i"), "{}", stderr(&out));
}

#[test]
fn rotate_writes_several_files_only_with_in_place() {
    let sb = Sandbox::new();
    for f in ["a.yaml", "b.yaml"] {
        encrypted(&sb, f, "k: v\n");
    }
    let before = sb.read("a.yaml");
    let out = sb
        .with_key()
        .args(["rotate", "-y", "a.yaml", "b.yaml"])
        .run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("add -i"), "{}", stderr(&out));
    assert_eq!(sb.read("a.yaml"), before);
    // One FILE without -i goes to stdout, as in sops.
    let out = sb.with_key().args(["rotate", "a.yaml"]).run();
    assert_code(&out, 0);
    assert!(stdout(&out).contains("sops:"));
    assert_eq!(sb.read("a.yaml"), before);
    let out = sb
        .with_key()
        .args(["rotate", "-i", "-y", "--quiet", "a.yaml", "b.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "rotate: 2 changed, 0 unchanged, 0 failed\n");
    assert_ne!(sb.read("a.yaml"), before);
}

#[test]
fn verbs_offer_only_the_options_they_use() {
    let sb = Sandbox::new();
    for verb in ["keygen", "scan", "hook", "completion", "keys"] {
        let out = sb.cmd().args([verb, "--help"]).run();
        let help = stdout(&out);
        for global in ["--indent", "--config", "--decryption-order"] {
            assert!(!help.contains(global), "{verb} --help shows {global}");
        }
    }
    let help = stdout(&sb.cmd().args(["decrypt", "--help"]).run());
    assert!(help.contains("--config") && help.contains("--indent"));
    // Before the verb, as sops places them, or after it.
    sb.write(
        "c.yaml",
        "creation_rules:\n  - path_regex: nomatch\n    age: x\n",
    );
    sb.write("p.yaml", "a: b\n");
    for args in [
        &["--config", "c.yaml", "encrypt", "p.yaml"][..],
        &["encrypt", "--config", "c.yaml", "p.yaml"][..],
    ] {
        let out = sb.cmd().args(args).run();
        assert_code(&out, 61);
    }
    // An explicit flag beats SOPS_CONFIG.
    let out = sb
        .cmd()
        .env("SOPS_CONFIG", "missing.yaml")
        .args(["encrypt", "--config", "c.yaml", "p.yaml"])
        .run();
    assert_code(&out, 61);
    // -i means in place and -r recursive everywhere: keys uses --identity and --recipient.
    let help = stdout(&sb.cmd().args(["keys", "verify", "--help"]).run());
    assert!(help.contains("--identity") && !help.contains("-i, --identity"));
    let help = stdout(&sb.cmd().args(["keys", "backup", "--help"]).run());
    assert!(help.contains("--recipient") && !help.contains("-r, --recipient"));
    let v = stdout(&sb.cmd().arg("--version").run());
    assert!(v.starts_with("shroud ") && v.contains("commit ") && v.contains("features: "));
}

/// exec-file never hangs on its FIFO, whether the command reads all of it, part of it or none,
/// however the command's end and the writer's end interleave (a command that read everything
/// and ended just as the writer finished once left shroud waiting forever for a writer).
#[test]
fn exec_file_never_hangs_on_its_fifo() {
    let sb = Sandbox::new();
    let body: String = (0..2000).map(|i| format!("k{i}: value-{i}\n")).collect();
    encrypted(&sb, "big.yaml", &body);
    for (i, cmd) in ["cat {} > /dev/null", "head -c 10 {} > /dev/null", "true"]
        .iter()
        .cycle()
        .take(30)
        .enumerate()
    {
        let out = std::process::Command::new("timeout")
            .args([
                "20",
                env!("CARGO_BIN_EXE_shroud"),
                "exec-file",
                "big.yaml",
                cmd,
            ])
            .current_dir(sb.dir.path())
            .env("SOPS_AGE_KEY_FILE", test_key())
            .env("HOME", sb.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {i} ({cmd}): {}",
            stderr(&out)
        );
    }
}

/// `encrypt -i -r` leaves alone a manifest in which the rule selects no value (a Deployment next
/// to Secrets under `encrypted_regex: ^(data|stringData)$`), and lists it: a `sops:` block on it
/// would break a plain `kubectl apply`, and `scan` and `audit` treat such files as needing none.
#[test]
fn recursive_encrypt_skips_files_with_nothing_to_encrypt() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {TEST_RECIPIENT}\n"
        ),
    );
    let deployment =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n";
    sb.write("k8s/deployment.yaml", deployment);
    sb.write(
        "k8s/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: q7Rt-2xLp\n",
    );
    let out = sb.cmd().args(["encrypt", "-i", "-y", "-r", "."]).run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("skipped k8s/deployment.yaml: its creation rule selects no value in it"),
        "{err}"
    );
    assert!(
        err.contains(
            "encrypt: 1 encrypted, 0 encrypted already, 1 with nothing to encrypt, 0 failed"
        ),
        "{err}"
    );
    assert_eq!(sb.read("k8s/deployment.yaml"), deployment);
    assert!(sb.read("k8s/secret.yaml").contains("sops:"));
}

/// `encrypt --kind EncryptedSecret` converts a Secret that is already sops-encrypted (opened in
/// memory with the caller's key, nothing plaintext written) and every Secret of a multi-document
/// file (one EncryptedSecret each, as a YAML stream); another kind in the stream is named.
#[test]
fn encrypted_secret_from_sops_files_and_streams() {
    let sb = Sandbox::new();
    let secret = |name: &str, token: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\nstringData:\n  token: {token}\n"
        )
    };
    sb.write("one.yaml", &secret("api", "tok-one"));
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "-i",
            "--age",
            TEST_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
            "one.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let before: Vec<_> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let out = sb
        .with_key()
        .args([
            "encrypt",
            "--kind",
            "EncryptedSecret",
            "--age",
            TEST_RECIPIENT,
            "one.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let after: Vec<_> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "nothing written beside the input");
    let es = stdout(&out);
    assert!(
        es.contains("kind: EncryptedSecret") && !es.contains("tok-one"),
        "{es}"
    );
    sb.write("es-one.yaml", &es);
    let plain = stdout(&sb.with_key().args(["decrypt", "es-one.yaml"]).run());
    assert!(plain.contains("token: tok-one"), "{plain}");
    // Several Secrets in one stream: one EncryptedSecret each.
    sb.write(
        "many.yaml",
        &format!("{}---\n{}", secret("a", "tok-a"), secret("b", "tok-b")),
    );
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "--kind",
            "EncryptedSecret",
            "--age",
            TEST_RECIPIENT,
            "many.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let stream = stdout(&out);
    let docs: Vec<&str> = stream.split("\n---\n").collect();
    assert_eq!(docs.len(), 2, "{stream}");
    for (i, (doc, tok)) in docs.iter().zip(["tok-a", "tok-b"]).enumerate() {
        let f = format!("es{i}.yaml");
        sb.write(&f, &format!("{}\n", doc.trim_end()));
        let plain = stdout(&sb.with_key().args(["decrypt", &f]).run());
        assert!(plain.contains(&format!("token: {tok}")), "{plain}");
    }
    // Another kind in the stream is named, with its document number.
    sb.write(
        "mixed.yaml",
        &format!(
            "{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n",
            secret("a", "tok-a")
        ),
    );
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "--kind",
            "EncryptedSecret",
            "--age",
            TEST_RECIPIENT,
            "mixed.yaml",
        ])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("document 2") && stderr(&out).contains("Deployment"),
        "{}",
        stderr(&out)
    );
}
