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
            "-i",
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
            "-i",
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

/// `-i` through a symlink rewrites the target and keeps the link, for every in-place verb.
#[test]
fn in_place_writes_through_symlinks() {
    let sb = Sandbox::new();
    sb.write("real.yaml", "a: secret\n");
    std::os::unix::fs::symlink("real.yaml", sb.path("link.yaml")).unwrap();
    let is_link = || {
        std::fs::symlink_metadata(sb.path("link.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    };
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "link.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(is_link());
    assert!(
        sb.read("real.yaml").contains("ENC[AES256_GCM"),
        "target not encrypted"
    );
    let out = sb
        .with_key()
        .args(["set", "link.yaml", r#"["b"]"#, r#""two""#])
        .run();
    assert_code(&out, 0);
    assert!(is_link());
    let out = sb.with_key().args(["decrypt", "-i", "link.yaml"]).run();
    assert_code(&out, 0);
    assert!(is_link());
    assert_eq!(sb.read("real.yaml"), "a: secret\nb: two\n");
    assert_eq!(file_mode(&sb.path("real.yaml")), 0o600);
}

/// `-i` on a device node or FIFO is refused; the node stays what it was.
#[test]
fn in_place_refuses_special_files() {
    let sb = Sandbox::new();
    let fifo = sb.path("pipe.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = sb.cmd().args(["decrypt", "-i"]).arg("/dev/null").run();
    assert_ne!(out.status.code(), Some(0));
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // A FIFO named with -i: refused before anything waits on it.
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "-a", TEST_RECIPIENT])
        .arg(&fifo)
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// Two concurrent `set` on different keys of one file: both updates survive, every round.
#[test]
fn concurrent_sets_lose_no_update() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "base: 1\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "p.yaml"])
            .run(),
        0,
    );
    for round in 0..100 {
        let spawn = |key: &str| {
            sb.with_key()
                .args([
                    "set",
                    "p.yaml",
                    &format!(r#"["{key}"]"#),
                    &round.to_string(),
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("a"), spawn("b"));
        for c in [a, b] {
            let out = c.wait_with_output().unwrap();
            assert_code(&out, 0);
        }
        let out = sb.with_key().args(["decrypt", "p.yaml"]).run();
        let text = stdout(&out);
        assert!(
            text.contains(&format!("a: {round}\n")) && text.contains(&format!("b: {round}\n")),
            "round {round} lost an update:\n{text}"
        );
    }
    assert!(!sb.path(".p.yaml.shroud-lock").exists());
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("shroud-edit-") || n.starts_with("shroud-exec-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A signal sent to `edit` or `exec-file --no-fifo` while the editor/command runs removes the
/// plaintext temp directory (and the process dies of that signal).
#[test]
fn signals_remove_plaintext_temp_files() {
    for (sig, flag) in [
        ("TERM", "-TERM"),
        ("INT", "-INT"),
        ("HUP", "-HUP"),
        ("QUIT", "-QUIT"),
    ] {
        for verb in ["edit", "exec-file"] {
            let sb = Sandbox::new();
            let tmp = sb.path("tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            sb.write("e.yaml", "a: hunter2\n");
            assert_code(
                &sb.cmd()
                    .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "e.yaml"])
                    .run(),
                0,
            );
            let mut cmd = sb.with_key();
            cmd.env("TMPDIR", &tmp).env("XDG_RUNTIME_DIR", &tmp);
            if verb == "edit" {
                cmd.env("EDITOR", "sh -c 'sleep 30' --")
                    .args(["edit", "e.yaml"]);
            } else {
                cmd.args(["exec-file", "--no-fifo", "e.yaml", "sleep 30 #{}"]);
            }
            let mut child = cmd
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while leftovers(&tmp).is_empty() {
                assert!(std::time::Instant::now() < deadline, "{verb}: no temp dir");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let st = std::process::Command::new("kill")
                .args([flag, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(st.success());
            let status = child.wait().unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert!(
                status.signal().is_some() || status.code().is_some_and(|c| c >= 128),
                "{verb} {sig}: {status:?}"
            );
            assert!(
                leftovers(&tmp).is_empty(),
                "{verb} {sig}: plaintext left in {:?}",
                leftovers(&tmp)
            );
        }
    }
}

/// A `kill -9` during `decrypt -i` can leave a temp file with plaintext; the next write into
/// that directory removes it.
#[test]
fn stale_temp_files_of_crashed_runs_are_removed() {
    let sb = Sandbox::new();
    sb.write("a.yaml", "k: v\n");
    // pid 4194311 is above the largest pid Linux hands out by default.
    sb.write(
        ".shroud-4194311-XyZ123.tmp",
        "k: plaintext from a crashed run\n",
    );
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "a.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(!sb.path(".shroud-4194311-XyZ123.tmp").exists());
}

/// Output errors: a closed pipe is a quiet exit, a full disk one line with exit 3; never a
/// panic.
#[test]
fn stdout_errors_never_panic() {
    let sb = Sandbox::new();
    let shroud = env!("CARGO_BIN_EXE_shroud");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{shroud}' completion bash | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\""
        ))
        .env("HOME", sb.path(""))
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    sb.write("x.yaml", "a: b\n");
    for args in [
        &["filestatus", "x.yaml"][..],
        &["keygen", "-o", "-"][..],
        &["completion", "bash"][..],
    ] {
        let f = std::fs::File::create("/dev/full").unwrap();
        let out = sb.cmd().args(args).stdout(f).run();
        assert_code(&out, 3);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

/// Input that controls an allocation is bounded: a huge --indent, an oversized input.
#[test]
fn input_controlled_allocations_are_bounded() {
    let sb = Sandbox::new();
    sb.write("x.yaml", "a:\n  b: c\n");
    let out = sb
        .cmd()
        .args([
            "--indent",
            "100000000",
            "encrypt",
            "-a",
            TEST_RECIPIENT,
            "x.yaml",
        ])
        .run();
    assert_code(&out, 2);
    let big = sb.path("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(3 * 1024 * 1024).unwrap();
    let out = sb
        .cmd()
        .env("SHROUD_MAX_INPUT", "1048576")
        .args(["encrypt", "-a", TEST_RECIPIENT])
        .arg(&big)
        .run();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("SHROUD_MAX_INPUT"),
        "{}",
        stderr(&out)
    );
}

/// A hung SOPS_AGE_KEY_CMD is stopped with a clear message instead of hanging forever.
#[test]
fn key_command_times_out() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: b\n");
    let enc = sb
        .cmd()
        .args(["encrypt", "-a", TEST_RECIPIENT, "p.yaml"])
        .run();
    std::fs::write(sb.path("e.yaml"), &enc.stdout).unwrap();
    let start = std::time::Instant::now();
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_CMD", "sleep 100")
        .env("SHROUD_KEY_CMD_TIMEOUT", "1")
        .args(["decrypt", "e.yaml"])
        .run();
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains("did not answer within 1 s"),
        "{}",
        stderr(&out)
    );
}

/// `set` refuses the reserved `sops` key and values with duplicate keys (either would write a
/// file shroud itself then refuses).
#[test]
fn set_refuses_reserved_keys_and_duplicate_keys() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "db:\n  user: a\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "p.yaml"])
            .run(),
        0,
    );
    let before = sb.read("p.yaml");
    for path in [r#"["sops"]"#, r#"["sops"]["mac"]"#] {
        let out = sb.with_key().args(["set", "p.yaml", path, r#""x""#]).run();
        assert_code(&out, 4);
    }
    let out = sb
        .with_key()
        .args(["set", "p.yaml", r#"["db"]["user"]"#, r#"{"a":1,"a":2}"#])
        .run();
    assert_code(&out, 5);
    assert_eq!(sb.read("p.yaml"), before);
    assert_code(&sb.with_key().args(["decrypt", "p.yaml"]).run(), 0);
}

/// keygen writes the key file whole (atomically) and 0600, even when appending to a 0644 file;
/// a write that is cut off leaves the old file intact.
#[test]
fn keygen_appends_atomically_and_privately() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let keys = sb.path("keys.txt");
    assert_code(&sb.cmd().args(["keygen", "-o"]).arg(&keys).run(), 0);
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_code(&sb.cmd().args(["keygen", "-o"]).arg(&keys).run(), 0);
    assert_eq!(file_mode(&keys), 0o600);
    let before = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(before.matches("AGE-SECRET-KEY-1").count(), 2);
    // RLIMIT_FSIZE below the new file's size: the write is cut off (SIGXFSZ).
    let shroud = env!("CARGO_BIN_EXE_shroud");
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 1; exec '{shroud}' keygen -o '{}'",
            keys.display()
        ))
        .env("HOME", sb.path(""))
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        before,
        "key file damaged"
    );
    let ids = before
        .lines()
        .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .count();
    assert_eq!(ids, 2);
}

/// A corrupted `version` is refused (as sops refuses it), as an integrity failure.
#[test]
fn corrupted_version_is_refused() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: b\n");
    let enc = stdout(
        &sb.cmd()
            .args(["encrypt", "-a", TEST_RECIPIENT, "p.yaml"])
            .run(),
    );
    let version_line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("version:"))
        .unwrap();
    let bad = enc.replace(version_line, &version_line.replace('.', "x"));
    sb.write("bad.yaml", &bad);
    let out = sb.with_key().args(["decrypt", "bad.yaml"]).run();
    assert_code(&out, 51);
    assert!(stdout(&out).is_empty());
}

/// dotenv metadata with an absurd flattened list index is refused, not allocated.
#[test]
fn absurd_flattened_indices_are_refused() {
    let sb = Sandbox::new();
    sb.write("x.env", "A=ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops_age__list_99999999999__map_recipient=x\nsops_version=3.11.0\n");
    let out = sb.with_key().args(["decrypt", "x.env"]).run();
    assert_code(&out, 51);
    assert!(stderr(&out).contains("list index"), "{}", stderr(&out));
}

/// A value stored as an encrypted comment is refused cleanly (JSON output used to panic).
#[test]
fn comment_typed_values_are_refused() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: b\n");
    let enc = stdout(
        &sb.cmd()
            .args(["encrypt", "-a", TEST_RECIPIENT, "p.yaml"])
            .run(),
    );
    let crafted = enc.replacen(",type:str]", ",type:comment]", 1);
    sb.write("c.yaml", &crafted);
    let out = sb
        .with_key()
        .args(["decrypt", "--output-type", "json", "c.yaml"])
        .run();
    assert_ne!(out.status.code(), Some(101));
    assert!(!stderr(&out).contains("panicked"));
    assert_code(&out, 51);
}

/// A private key pasted where a recipient belongs is never echoed.
#[test]
fn private_key_as_recipient_is_not_echoed() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: b\n");
    let secret = std::fs::read_to_string(test_key()).unwrap();
    let line = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    let out = sb.cmd().args(["encrypt", "-a", &line, "p.yaml"]).run();
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(!err.contains(&line[16..]), "the key was echoed: {err}");
    assert!(err.contains("age-keygen -y"), "{err}");
}

fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every single-byte change anywhere in an encrypted file either leaves what it decrypts to
/// unchanged (an unused rule field, a recipient label) or fails as an integrity error (exit 51)
/// with nothing printed: never a different value, never another exit code. Comments are the
/// exception the sops format makes: they are not covered by the MAC, so a damaged encrypted
/// comment is shown as the ciphertext it has become (docs/format.md).
#[test]
fn every_single_byte_mutation_is_detected_as_integrity() {
    let sb = Sandbox::new();
    // No plaintext leaf: the MAC covers values, not key names, so renaming a key whose value
    // is stored in plaintext is undetectable in the sops format (docs/format.md).
    let plain = "# top comment\ndb:\n  user: admin\n  port: 5432\nlist:\n  - one\n  - true\n";
    sb.write("p.yaml", plain);
    let enc = sb
        .cmd()
        .args(["encrypt", "-a", TEST_RECIPIENT, "p.yaml"])
        .run();
    assert_code(&enc, 0);
    let base = enc.stdout.clone();
    let expected = stdout(&{
        std::fs::write(sb.path("m.yaml"), &base).unwrap();
        sb.with_key().args(["decrypt", "m.yaml"]).run()
    });
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..base.len() {
        let mut m = base.clone();
        let b = m[i];
        m[i] = match b {
            b'a'..=b'y' | b'A'..=b'Y' | b'0'..=b'8' => b + 1,
            b'z' | b'Z' | b'9' => b'a',
            b'\n' => b'x',
            _ => b'q',
        };
        std::fs::write(sb.path("m.yaml"), &m).unwrap();
        let out = sb.with_key().args(["decrypt", "m.yaml"]).run();
        let code = out.status.code().unwrap_or(-1);
        *codes.entry(code).or_insert(0) += 1;
        match code {
            0 => assert_eq!(
                without_comments(&stdout(&out)),
                without_comments(&expected),
                "byte {i} changed the plaintext without being detected"
            ),
            51 => assert!(out.stdout.is_empty(), "byte {i}: output on failure"),
            other => panic!("byte {i} ({:?}): exit {other}: {}", b as char, stderr(&out)),
        }
    }
    assert!(codes[&51] > base.len() / 2, "{codes:?}");
}

// ---- Issue 21: data safety on every write path ----------------------------------------------

/// A fingerprint no keyring holds (the fake gpg scripts below never look at it).
const FAKE_FPR: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

/// An executable shell script in the sandbox.
pub fn script(sb: &Sandbox, name: &str, body: &str) -> std::path::PathBuf {
    let p = sb.write(name, &format!("#!/bin/sh\n{body}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Runs a command to its end, or kills it after `cap` and fails: a hang is a finding, not a
/// stuck test run (the bound is generous; nothing here measures speed).
#[track_caller]
pub fn run_bounded(c: &mut std::process::Command, cap_secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(cap_secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the command hung for {cap_secs} s and was killed; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Whether a process still runs (a zombie waiting for its reaper does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// A gpg that exits 0 with empty output, with text, or with a cut-off message must not let
/// `encrypt -i`, `rotate` or `updatekeys` write an envelope nobody can open: one line naming
/// the key, exit 128, every file untouched.
#[test]
fn a_gpg_that_succeeds_with_garbage_writes_nothing() {
    for (name, body) in [
        ("empty", "cat >/dev/null\nexit 0\n"),
        ("text", "cat >/dev/null\necho 'encrypted, trust me'\n"),
        (
            "cut",
            "cat >/dev/null\nprintf -- '-----BEGIN PGP MESSAGE-----\\n\\nhQEMA3J1aloGbk09AQv8\\n-----END PGP MESSAGE-----\\n'\n",
        ),
    ] {
        let sb = Sandbox::new();
        let gpg = script(&sb, "fake-gpg", body);
        let check = |out: &std::process::Output, what: &str| {
            assert_code(out, 128);
            let err = stderr(out);
            assert!(
                err.contains(&format!("PGP {FAKE_FPR}")) && err.contains("OpenPGP message"),
                "{name} {what}: {err}"
            );
        };
        // encrypt -i
        sb.write("p.yaml", "a: secret\n");
        let out = sb
            .cmd()
            .env("SOPS_GPG_EXEC", &gpg)
            .args(["encrypt", "-i", "--pgp", FAKE_FPR, "p.yaml"])
            .run();
        check(&out, "encrypt -i");
        assert_eq!(sb.read("p.yaml"), "a: secret\n");
        // rotate -i adding the PGP key
        sb.write("r.yaml", "a: secret\n");
        assert_code(
            &sb.cmd()
                .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "r.yaml"])
                .run(),
            0,
        );
        let before = sb.read("r.yaml");
        let out = sb
            .with_key()
            .env("SOPS_GPG_EXEC", &gpg)
            .args(["rotate", "-i", "-y", "--add-pgp", FAKE_FPR, "r.yaml"])
            .run();
        check(&out, "rotate");
        assert_eq!(sb.read("r.yaml"), before);
        // updatekeys towards a rule that adds the PGP key
        sb.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: r\\.yaml$\n    age: {TEST_RECIPIENT}\n    pgp: {FAKE_FPR}\n"
            ),
        );
        let out = sb
            .with_key()
            .env("SOPS_GPG_EXEC", &gpg)
            .args(["updatekeys", "-y", "r.yaml"])
            .run();
        check(&out, "updatekeys");
        assert_eq!(sb.read("r.yaml"), before);
    }
}

/// A gpg that never answers is stopped at SHROUD_GPG_TIMEOUT with one line naming gpg and the
/// variable; the file is untouched.
#[test]
fn a_hung_gpg_is_stopped_at_its_timeout() {
    let sb = Sandbox::new();
    let gpg = script(&sb, "hung-gpg", "cat >/dev/null\nexec sleep 600\n");
    sb.write("p.yaml", "a: secret\n");
    let out = run_bounded(
        sb.cmd()
            .env("SOPS_GPG_EXEC", &gpg)
            .env("SHROUD_GPG_TIMEOUT", "1")
            .args(["encrypt", "-i", "--pgp", FAKE_FPR, "p.yaml"]),
        60,
    );
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(
        err.contains("gpg did not answer within 1 s") && err.contains("SHROUD_GPG_TIMEOUT"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(sb.read("p.yaml"), "a: secret\n");
}

/// SIGINT to shroud while gpg or SOPS_AGE_KEY_CMD hangs: the child dies with shroud.
#[test]
fn a_hung_gpg_or_key_command_does_not_survive_sigint() {
    for case in ["gpg", "key command"] {
        let sb = Sandbox::new();
        let pidfile = sb.path("child.pid");
        sb.write("p.yaml", "a: secret\n");
        let mut c = sb.cmd();
        if case == "gpg" {
            let gpg = script(
                &sb,
                "hung-gpg",
                &format!("echo $$ > '{}'\nexec sleep 600\n", pidfile.display()),
            );
            c.env("SOPS_GPG_EXEC", &gpg)
                .args(["encrypt", "-i", "--pgp", FAKE_FPR, "p.yaml"]);
        } else {
            let enc = sb
                .cmd()
                .args(["encrypt", "-a", TEST_RECIPIENT, "p.yaml"])
                .run();
            std::fs::write(sb.path("e.yaml"), &enc.stdout).unwrap();
            c.env(
                "SOPS_AGE_KEY_CMD",
                format!("echo $$ > '{}'; exec sleep 600", pidfile.display()),
            )
            .args(["decrypt", "e.yaml"]);
        }
        let mut shroud = c
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let pid: u32 = loop {
            if let Ok(t) = std::fs::read_to_string(&pidfile)
                && let Ok(p) = t.trim().parse()
            {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "{case} never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(running(pid));
        let st = std::process::Command::new("kill")
            .args(["-INT", &shroud.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        shroud.wait().unwrap();
        let gone = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            !running(pid)
        });
        if !gone {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        assert!(gone, "the {case} (pid {pid}) survived SIGINT to shroud");
    }
}

/// `external-secret --push` to an endpoint that accepts and never answers fails at
/// SHROUD_SECRETS_MANAGER_TIMEOUT, naming the service and the variable.
#[test]
fn push_to_an_endpoint_that_never_answers_fails_at_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(64) {
            held.push(c);
        }
    });
    let sb = Sandbox::new();
    sb.write(
        "k8s/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: hunter2\n",
    );
    assert_code(
        &sb.cmd()
            .args([
                "encrypt",
                "-i",
                "--age",
                TEST_RECIPIENT,
                "--encrypted-regex",
                "^(data|stringData)$",
                "k8s/s.yaml",
            ])
            .run(),
        0,
    );
    let out = run_bounded(
        sb.with_key()
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("SHROUD_SECRETS_MANAGER_TIMEOUT", "1")
            .args(["external-secret", "--push", "k8s/s.yaml"]),
        90,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("AWS Secrets Manager did not answer within 1 s")
            && err.contains("SHROUD_SECRETS_MANAGER_TIMEOUT"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
}

fn owner(p: &std::path::Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// In-place writes keep owner, group and mode (root rewriting a service's `nobody:nogroup 0640`
/// file); a writer that cannot give the new file the old owner refuses instead.
#[test]
fn in_place_writes_keep_owner_group_and_mode() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let sb = Sandbox::new();
    let p = sb.write("svc.yaml", "a: secret\n");
    std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "svc.yaml"])
            .run(),
        0,
    );
    assert_eq!(owner(&p), (65534, 65534, 0o640));
    assert_code(
        &sb.with_key()
            .args(["set", "svc.yaml", r#"["a"]"#, r#""other""#])
            .run(),
        0,
    );
    assert_eq!(owner(&p), (65534, 65534, 0o640));
    assert_code(&sb.with_key().args(["decrypt", "-i", "svc.yaml"]).run(), 0);
    assert_eq!(owner(&p).0, 65534);
    assert_eq!(owner(&p).1, 65534);

    // nobody, in a directory it may write, on a file root owns: it cannot keep the owner.
    let shared = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let q = shared.path().join("q.yaml");
    std::fs::write(&q, "a: secret\n").unwrap();
    std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_shroud"))
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "q.yaml"])
        .current_dir(shared.path())
        .env_clear()
        .env("HOME", shared.path())
        .run();
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("belongs to uid 0"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&q).unwrap(), "a: secret\n");
    assert_eq!(owner(&q), (0, 0, 0o666));
}

/// `encrypt -i` (and every in-place write) on a file with two names is refused unless
/// `--force`: the other name would keep the plaintext.
#[test]
fn files_with_other_names_are_refused_without_force() {
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: secret\n");
    std::fs::hard_link(sb.path("p.yaml"), sb.path("copy.yaml")).unwrap();
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "p.yaml"])
        .run();
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("hard links") && err.contains("plaintext") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(sb.read("p.yaml"), "a: secret\n");
    assert_code(
        &sb.cmd()
            .args([
                "encrypt",
                "-i",
                "--force",
                "--age",
                TEST_RECIPIENT,
                "p.yaml",
            ])
            .run(),
        0,
    );
    assert!(sb.read("p.yaml").contains("ENC["));
    assert_eq!(sb.read("copy.yaml"), "a: secret\n");
    // An encrypted file with two names: set and rotate refuse too, and take --force.
    std::fs::hard_link(sb.path("p.yaml"), sb.path("again.yaml")).unwrap();
    let before = sb.read("p.yaml");
    let out = sb
        .with_key()
        .args(["set", "p.yaml", r#"["a"]"#, r#""x""#])
        .run();
    assert_code(&out, 3);
    let out = sb.with_key().args(["rotate", "-i", "p.yaml"]).run();
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(sb.read("p.yaml"), before);
    assert_code(
        &sb.with_key()
            .args(["set", "--force", "p.yaml", r#"["a"]"#, r#""x""#])
            .run(),
        0,
    );
    assert_code(
        &sb.with_key()
            .args(["rotate", "-i", "--force", "p.yaml"])
            .run(),
        0,
    );
}

/// A verb without `--force` (keygen, the drop-in: sops has none) refused a file with other
/// names with advice to "pass --force", which that command then refused as an unknown flag.
/// The advice now names what exists: the command it quotes, run as written, makes the write
/// succeed, and the other name keeps its content. Before the fix: "(pass --force …)".
#[test]
fn the_advice_for_a_file_with_other_names_is_one_the_command_takes() {
    let sb = Sandbox::new();
    sb.write("keys.txt", "# an old identity file\n");
    std::fs::hard_link(sb.path("keys.txt"), sb.path("other-name.txt")).unwrap();
    sb.write("p.yaml", "a: secret\n");
    std::fs::hard_link(sb.path("p.yaml"), sb.path("copy.yaml")).unwrap();
    let advised = |out: &std::process::Output| -> String {
        assert_code(out, 3);
        let err = stderr(out);
        assert!(err.contains("hard links"), "{err}");
        assert!(
            !err.contains("--force"),
            "advice the command does not take: {err}"
        );
        // The last command in backquotes (the first names `encrypt -i`).
        err.rsplit('`')
            .nth(1)
            .expect("a command in backquotes")
            .to_owned()
    };
    // keygen: it takes no --force (clap refuses it), so the advice must not name it.
    assert_code(
        &sb.cmd().args(["keygen", "--force", "-o", "keys.txt"]).run(),
        2,
    );
    let cmd = advised(&sb.cmd().args(["keygen", "-o", "keys.txt"]).run());
    assert_eq!(
        cmd,
        "cp 'keys.txt' 'keys.txt.new' && mv 'keys.txt.new' 'keys.txt'"
    );
    run_block_ok(sb.dir.path(), &cmd, &[]);
    let out = sb.cmd().args(["keygen", "-o", "keys.txt"]).run();
    assert_code(&out, 0);
    assert!(sb.read("keys.txt").contains("AGE-SECRET-KEY-1"));
    assert_eq!(sb.read("other-name.txt"), "# an old identity file\n");
    // The drop-in (sops has no --force either).
    let sops = || crate::sops_mode::shroud_as_sops(&sb);
    let cmd = advised(
        &sops()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "p.yaml"])
            .run(),
    );
    run_block_ok(sb.dir.path(), &cmd, &[]);
    let out = sops()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "p.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(sb.read("p.yaml").contains("ENC["));
    assert_eq!(sb.read("copy.yaml"), "a: secret\n");
}

/// The lock file never follows a planted symlink, a stale one (its process gone) is taken
/// over and explained, and a signal during a write removes it.
#[test]
fn lock_files_are_not_followed_explained_when_stale_and_removed_on_signals() {
    let sb = Sandbox::new();
    sb.write("e.yaml", "a: secret\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "e.yaml"])
            .run(),
        0,
    );
    let before = sb.read("e.yaml");
    let lock = sb.path(".e.yaml.shroud-lock");
    let victim = sb.path("victim");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let out = sb
        .with_key()
        .args(["set", "e.yaml", r#"["a"]"#, r#""x""#])
        .run();
    assert_code(&out, 3);
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert!(!victim.exists(), "the planted link was followed");
    assert_eq!(sb.read("e.yaml"), before);
    std::fs::remove_file(&lock).unwrap();

    // Left by a process that no longer runs (a pid above the default pid_max range).
    std::fs::write(&lock, "4194311\n").unwrap();
    let out = sb
        .with_key()
        .args(["set", "e.yaml", r#"["a"]"#, r#""x""#])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("stale lock file left by shroud process 4194311"),
        "{}",
        stderr(&out)
    );
    assert!(!lock.exists());

    // A signal while the editor runs: the lock goes with the plaintext.
    for sig in ["-TERM", "-INT", "-HUP"] {
        let mut child = spawn_edit(&sb, "sh -c 'sleep 30' --");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !lock.exists() {
            assert!(std::time::Instant::now() < deadline, "edit took no lock");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let st = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        child.wait().unwrap();
        assert!(!lock.exists(), "{sig} left the lock file behind");
    }
}

/// File names in bulk progress lines, `keys verify` and the backup's source labels reach the
/// terminal escaped: no raw ESC or BEL from a repository's file names.
#[test]
fn file_names_and_labels_reach_the_terminal_escaped() {
    let evil = "x\u{1b}]0;pwned\u{7}.yaml";
    let sb = Sandbox::new();
    sb.write(
        "r/.sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {TEST_RECIPIENT}\n"),
    );
    sb.write(&format!("r/{evil}"), "a: secret\n");
    let clean = |out: &std::process::Output, what: &str| {
        let err = stderr(out);
        assert!(
            !err.contains('\u{1b}') && !err.contains('\u{7}'),
            "{what}: raw controls reach the terminal: {err:?}"
        );
        assert!(err.contains("\\e]0;pwned"), "{what}: {err:?}");
    };
    let out = sb.cmd().args(["encrypt", "-i", "-y", "-r", "r"]).run();
    assert_code(&out, 0);
    clean(&out, "encrypt -r");
    let out = sb.with_key().args(["rotate", "-i", "-y", "-r", "r"]).run();
    assert_code(&out, 0);
    clean(&out, "rotate -r");
    // A backup whose key file has such a name, and a verify that lists the file as lost.
    std::fs::copy(test_key2(), sb.path(evil)).unwrap();
    let out = sb
        .cmd()
        .env("SHROUD_PASSPHRASE", "correct horse battery")
        .env("SHROUD_SCRYPT_WORK_FACTOR", "10")
        .args([
            "keys",
            "backup",
            "--passphrase",
            "-o",
            "b.json",
            "--key-file",
            evil,
        ])
        .run();
    assert_code(&out, 0);
    clean(&out, "keys backup");
    let out = sb
        .cmd()
        .env("SHROUD_PASSPHRASE", "correct horse battery")
        .args(["keys", "verify", "b.json", "r", "--passphrase"])
        .run();
    assert_code(&out, 41);
    clean(&out, "keys verify");
}

/// `edit` on a terminal tells why an edit was refused before offering the editor again: that
/// line goes through the reporting edge too, so a file name with control characters cannot
/// drive the terminal (`\e` shown, never the byte).
#[test]
fn edit_errors_on_a_terminal_are_sanitised() {
    let sb = Sandbox::new();
    let name = "bad\u{1b}[31m.yaml";
    sb.write(name, "a: b\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, name])
            .run(),
        0,
    );
    sb.write("ed.sh", "#!/bin/sh\nprintf 'a: [\\n' > \"$1\"\n");
    std::fs::set_permissions(
        sb.path("ed.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // `script` gives shroud a terminal; its stdin (empty) ends the prompt.
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "script",
            "-qec",
            "\"$SHROUD\" edit \"$F\"",
            "/dev/null",
        ])
        .current_dir(sb.path("."))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.path("."))
        .env("SOPS_AGE_KEY_FILE", test_key())
        .env("EDITOR", sb.path("ed.sh"))
        .env("SHROUD", env!("CARGO_BIN_EXE_shroud"))
        .env("F", name)
        .run();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Press Enter"),
        "the terminal path ran: {shown:?}"
    );
    assert!(
        !shown.contains('\u{1b}'),
        "a raw escape reached the terminal: {shown:?}"
    );
    assert!(shown.contains("bad\\e[31m.yaml: syntax error"), "{shown:?}");
}

// ---- Red team: hygiene promises ---------------------------------------------------------------

/// Sends signal number `sig` to `pid` (numbers, so that real-time signals work too).
/// `shroud edit e.yaml` started under `editor`, its stdin and stderr closed.
fn spawn_edit(sb: &Sandbox, editor: &str) -> std::process::Child {
    sb.with_key()
        .env("EDITOR", editor)
        .args(["edit", "e.yaml"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn send_signal(sig: i32, pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-s", &sig.to_string(), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -s {sig} {pid}");
}

/// Whether `status` says the process ended because of signal `sig`: killed by it, or (for a
/// signal that cannot be re-raised, such as a real-time one) exit status 128 + `sig`.
fn ended_by(status: std::process::ExitStatus, sig: i32) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(sig) || status.code() == Some(128 + sig)
}

/// Waits (at most `secs`) until `cond` holds.
#[track_caller]
fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// An encrypted `e.yaml` with a recognisable secret value.
fn encrypted_yaml(sb: &Sandbox) {
    sb.write("e.yaml", "db:\n  password: Zx8SECRETqL2\n"); // shroud:allow
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "e.yaml"])
            .run(),
        0,
    );
}

/// Every catchable signal that ends the process, not only INT/TERM/HUP/QUIT, removes the
/// plaintext of `edit` and `exec-file` (in the RAM-backed temp dir) and the lock file.
#[test]
fn every_terminating_signal_removes_edit_and_exec_plaintext() {
    let rt = libc::SIGRTMIN() + 2;
    for sig in [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGPWR,
        rt,
    ] {
        for verb in ["edit", "exec-file"] {
            let sb = Sandbox::new();
            let tmp = sb.path("tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            encrypted_yaml(&sb);
            let mut cmd = sb.with_key();
            cmd.env("TMPDIR", &tmp).env("XDG_RUNTIME_DIR", &tmp);
            if verb == "edit" {
                cmd.env("EDITOR", "sh -c 'touch ready; exec sleep 30' --")
                    .args(["edit", "e.yaml"]);
            } else {
                cmd.args([
                    "exec-file",
                    "--no-fifo",
                    "e.yaml",
                    "touch ready; sleep 30 #{}",
                ]);
            }
            let mut child = cmd
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            wait_until(20, "the editor or command starts", || {
                sb.path("ready").exists()
            });
            assert!(!leftovers(&tmp).is_empty(), "{verb}: no temp dir");
            send_signal(sig, child.id());
            let status = child.wait().unwrap();
            assert!(ended_by(status, sig), "{verb} signal {sig}: {status:?}");
            let left = leftovers(&tmp);
            assert!(
                left.is_empty(),
                "{verb} signal {sig}: plaintext left in {left:?}"
            );
            assert!(
                !sb.path(".e.yaml.shroud-lock").exists(),
                "{verb} signal {sig}: lock file left"
            );
        }
    }
}

/// SIGUSR1 (or a real-time signal) while `decrypt -i` writes its temp file next to the file:
/// the temp file, which holds the plaintext, is removed before the process ends.
#[test]
fn a_signal_during_decrypt_in_place_removes_its_temp_file() {
    let sb = Sandbox::new();
    // A large binary file: its one value decrypts fast, and writing it takes a while.
    let line =
        "SECRET-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxyz\n";
    sb.write("big.bin", &line.repeat(48 * 1024 * 1024 / line.len()));
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "-a", TEST_RECIPIENT, "big.bin"])
            .run(),
        0,
    );
    let encrypted = std::fs::read(sb.path("big.bin")).unwrap();
    let temps = |pid: u32| -> Vec<String> {
        std::fs::read_dir(sb.path("."))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".shroud-{pid}-")) && n.ends_with(".tmp"))
            .collect()
    };
    let mut caught = 0;
    for sig in [libc::SIGUSR1, libc::SIGRTMIN() + 1] {
        for _attempt in 0..10 {
            std::fs::write(sb.path("big.bin"), &encrypted).unwrap();
            let mut child = sb
                .with_key()
                .args(["decrypt", "-i", "big.bin"])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let pid = child.id();
            // Poll for the temp file; the write ends when the process does.
            let seen = loop {
                if !temps(pid).is_empty() {
                    break true;
                }
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            };
            if !seen {
                continue;
            }
            send_signal(sig, pid);
            let status = child.wait().unwrap();
            if status.success() {
                // The rename came first: nothing to check this time.
                continue;
            }
            assert!(ended_by(status, sig), "signal {sig}: {status:?}");
            assert!(
                temps(pid).is_empty(),
                "signal {sig}: decrypt -i left its plaintext temp file {:?}",
                temps(pid)
            );
            assert!(!sb.path(".big.bin.shroud-lock").exists());
            caught += 1;
            break;
        }
    }
    assert_eq!(caught, 2, "the write was never caught in progress");
}

/// SIGTERM (HUP, QUIT) to `edit` while the editor runs: shroud ends with that signal, never
/// with exit 201 ("the editor failed") because the forwarded signal ended the editor first.
#[test]
fn a_signal_to_edit_ends_it_with_the_signal_not_exit_201() {
    let sb = Sandbox::new();
    encrypted_yaml(&sb);
    let runs: Vec<i32> = std::iter::repeat_n(libc::SIGTERM, 20)
        .chain([libc::SIGHUP, libc::SIGQUIT, libc::SIGHUP, libc::SIGQUIT])
        .collect();
    for sig in runs {
        let _ = std::fs::remove_file(sb.path("ready"));
        let mut child = spawn_edit(&sb, "sh -c 'touch ready; exec sleep 30' --");
        wait_until(20, "the editor starts", || sb.path("ready").exists());
        send_signal(sig, child.id());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "signal {sig}: {status:?}");
    }
}

/// Runs `shroud scan ARGS` with `input` on its standard input (a pipe).
fn scan_with_stdin(sb: &Sandbox, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = sb
        .cmd()
        .arg("scan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// `scan` of a path that is a pipe (`/dev/stdin`, `<(…)`), a FIFO or a device reads it (as
/// gitleaks users pipe into it): its findings are reported; more than the size limit is
/// reported skipped; one that cannot be read fails the scan (exit 2). Never "0 findings" for
/// input that was not read.
#[test]
fn scan_reads_pipes_fifos_and_devices_named_on_the_command_line() {
    let sb = Sandbox::new();
    let secret = format!("db_{}{} = \"{}\"\n", "pass", "word", "Zx8q-SECRET-qL2w");

    let out = scan_with_stdin(&sb, &["/dev/stdin"], &secret);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("/dev/stdin:1:"), "{}", stdout(&out));

    let fifo = sb.path("f.env");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (f2, s2) = (fifo.clone(), secret.clone());
    let writer = std::thread::spawn(move || std::fs::write(f2, s2));
    let out = run_bounded(sb.cmd().args(["scan", "f.env"]), 60);
    writer.join().unwrap().unwrap();
    assert_code(&out, 1);
    assert!(stdout(&out).contains("f.env:1:"), "{}", stdout(&out));

    // Larger than the limit: skipped, and said so.
    let big = format!("{secret}{}\n", "x".repeat(4000));
    let out = scan_with_stdin(&sb, &["--max-file-size", "1000", "/dev/stdin"], &big);
    assert!(
        stderr(&out).contains("1 skipped"),
        "code {:?}: {}",
        out.status.code(),
        stderr(&out)
    );
    // A device: read, bounded (/dev/zero is endless: skipped as too large / binary).
    let out = run_bounded(sb.cmd().args(["scan", "/dev/zero"]), 60);
    assert!(stderr(&out).contains("1 skipped"), "{}", stderr(&out));

    // A socket cannot be read: the scan fails, exit 2, naming it.
    let _listener = std::os::unix::net::UnixListener::bind(sb.path("s.sock")).unwrap();
    let out = run_bounded(sb.cmd().args(["scan", "s.sock"]), 60);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("s.sock"), "{}", stderr(&out));
}

/// `edit` refuses what the final write would refuse (a file with other names without
/// `--force`; as another user, a file whose owner it cannot keep) before the editor starts, with
/// the write's error: the user's edits are never thrown away after the editor closed.
#[test]
fn edit_refuses_before_the_editor_starts_what_the_write_would_refuse() {
    let sb = Sandbox::new();
    encrypted_yaml(&sb);
    std::fs::hard_link(sb.path("e.yaml"), sb.path("other-name.yaml")).unwrap();
    let editor = script(
        &sb,
        "ed.sh",
        &format!(
            "touch '{}'\nsed -i 's/Zx8SECRETqL2/changed/' \"$1\"\n",
            sb.path("started").display()
        ),
    );
    let before = sb.read("e.yaml");
    let out = sb
        .with_key()
        .env("EDITOR", &editor)
        .args(["edit", "e.yaml"])
        .run();
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("hard links") && err.contains("--force"),
        "{err}"
    );
    assert!(!sb.path("started").exists(), "the editor was started");
    assert_eq!(sb.read("e.yaml"), before);
    // With --force the same edit is made and saved.
    let out = sb
        .with_key()
        .env("EDITOR", &editor)
        .args(["edit", "--force", "e.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(sb.path("started").exists());
    let out = sb.with_key().args(["decrypt", "e.yaml"]).run();
    assert!(
        stdout(&out).contains("password: changed"),
        "{}",
        stdout(&out)
    );

    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped the ownership case: needs root (CI runs as root)");
        return;
    }
    // nobody edits a group-writable file root owns, in a directory it may write: the write
    // could not keep the owner, so the editor never starts.
    use std::os::unix::fs::PermissionsExt;
    let shared = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let dir = shared.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::copy(sb.path("e.yaml"), dir.join("g.yaml")).unwrap();
    std::fs::set_permissions(dir.join("g.yaml"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::copy(test_key(), dir.join("key.txt")).unwrap();
    std::os::unix::fs::chown(dir.join("key.txt"), Some(65534), Some(65534)).unwrap();
    let before = std::fs::read(dir.join("g.yaml")).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_shroud"))
        .args(["edit", "g.yaml"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SOPS_AGE_KEY_FILE", dir.join("key.txt"))
        .env("EDITOR", "sh -c 'touch started' --")
        .run();
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("belongs to uid 0"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("started").exists(), "the editor was started");
    assert_eq!(std::fs::read(dir.join("g.yaml")).unwrap(), before);
}

/// keygen says a key file "is now 0600" only once the private file is written: a refused
/// write (here: other names) leaves it as it was, and says nothing of the kind.
#[test]
fn keygen_claims_0600_only_after_the_write() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let keys = sb.path("keys.txt");
    assert_code(&sb.cmd().args(["keygen", "-o"]).arg(&keys).run(), 0);
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(&keys, sb.path("backup-keys.txt")).unwrap();
    let out = sb.cmd().args(["keygen", "-o"]).arg(&keys).run();
    assert_code(&out, 3);
    assert!(!stderr(&out).contains("0600"), "{}", stderr(&out));
    assert_eq!(file_mode(&keys), 0o644);
    std::fs::remove_file(sb.path("backup-keys.txt")).unwrap();
    let out = sb.cmd().args(["keygen", "-o"]).arg(&keys).run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("it is now 0600"), "{}", stderr(&out));
    assert_eq!(file_mode(&keys), 0o600);
}

/// `decrypt --output` never hands plaintext to another user: an existing output file (or a
/// symlink's target) another user owns is refused, not rewritten and given to that user, and a
/// symlink another user planted in a sticky directory is not followed. `-i` keeps its
/// keep-the-owner rule (`in_place_writes_keep_owner_group_and_mode`).
#[test]
fn decrypt_output_never_writes_plaintext_into_another_users_file() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    encrypted_yaml(&sb);
    let top = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let d = top.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = d.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    // The other user (nobody) prepares a file and links.
    let prep = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
            "-c",
        ])
        .arg(
            "set -e; cd \"$1\"; touch out.yaml; mkdir -m 700 att; touch att/x; \
             ln -s \"$1/att/x\" link.yaml; ln -s \"$1/att/new\" dangling.yaml; \
             mkfifo fifo.yaml",
        )
        .arg("sh")
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(prep.success());
    for (name, says) in [
        ("out.yaml", "belongs to uid 65534"),
        ("link.yaml", "symbolic link owned by uid 65534"),
        ("dangling.yaml", "symbolic link owned by uid 65534"),
        // A FIFO is written into, not replaced: its owner would read the plaintext.
        ("fifo.yaml", "belongs to uid 65534"),
    ] {
        let out = run_bounded(
            sb.with_key()
                .args(["decrypt", "--output"])
                .arg(tmp.join(name))
                .arg("e.yaml"),
            20,
        );
        assert_code(&out, 3);
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert_eq!(owner(&tmp.join("out.yaml")).0, 65534);
    assert_eq!(std::fs::read(tmp.join("out.yaml")).unwrap(), b"");
    assert_eq!(std::fs::read(tmp.join("att/x")).unwrap(), b"");
    assert!(!tmp.join("att/new").exists());
    // Nothing anywhere holds the plaintext.
    for dir in [&tmp, &tmp.join("att")] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if !std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let text = std::fs::read(e.path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains("Zx8SECRETqL2"),
                "plaintext in {}",
                e.path().display()
            );
        }
    }
    // A file of one's own, and a new file, are written (0600).
    let mine = tmp.join("mine.yaml");
    std::fs::write(&mine, "old\n").unwrap();
    for p in [mine, tmp.join("new.yaml")] {
        let out = sb
            .with_key()
            .args(["decrypt", "--output"])
            .arg(&p)
            .arg("e.yaml")
            .run();
        assert_code(&out, 0);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("Zx8SECRETqL2")
        );
        assert_eq!(owner(&p), (0, 0, 0o600));
    }
}
