//! The drop-in `sops` mode: shroud invoked through a `sops` symlink accepts sops 3.11's
//! command line and exits with sops's codes. Invocations are the ones helm-secrets' sops
//! backend and the common editor plugins make; exit codes are compared with the real sops
//! failing the same way.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::*;

/// A directory with `sops` → the shroud binary.
pub(crate) fn sops_link(sb: &Sandbox) -> PathBuf {
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("sops");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_shroud"), &link).unwrap();
    }
    link
}

pub(crate) fn shroud_as_sops(sb: &Sandbox) -> Command {
    let mut c = Command::new(sops_link(sb));
    c.current_dir(sb.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir.path())
        .env("XDG_CONFIG_HOME", sb.dir.path().join(".config"))
        .env("SOPS_AGE_KEY_FILE", test_key());
    c
}

pub(crate) fn real_sops(sb: &Sandbox) -> Command {
    let mut c = sops_cmd(sb);
    c.env("SOPS_AGE_KEY_FILE", test_key());
    c
}

pub(crate) fn with_stdin(mut c: Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The command lines helm-secrets (scripts/lib/backends/sops.sh), sops.vim, vim-sops,
/// sops.nvim, the VS Code extensions and the emacs packages run, through the symlink.
#[test]
fn integrations_work_through_a_sops_symlink() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
    );
    let plain = "db:\n    password: hunter2\n    port: 5432\n";
    sb.write("values.yaml", plain);
    // helm-secrets: encrypt in place, to stdout, to --output; decrypt likewise.
    let run = |args: &[&str]| {
        let o = shroud_as_sops(&sb)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "sops {args:?}: {}", stderr(&o));
        o
    };
    let enc = run(&[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "values.yaml",
    ]);
    assert!(stdout(&enc).contains("mac: ENC[AES256_GCM,"));
    // helm-secrets decides "is it encrypted" with `grep -q 'mac.*,type:str]'`.
    assert!(
        stdout(&enc)
            .lines()
            .any(|l| l.contains("mac:") && l.contains(",type:str]"))
    );
    run(&[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "out.yaml",
        "values.yaml",
    ]);
    run(&[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--in-place",
        "values.yaml",
    ]);
    assert!(sb.read("values.yaml").contains("ENC[AES256_GCM"));
    let dec = run(&[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "values.yaml",
    ]);
    assert_eq!(stdout(&dec), plain);
    run(&[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "plain.yaml",
        "out.yaml",
    ]);
    assert_eq!(sb.read("plain.yaml"), plain);
    // The real sops opens what the drop-in wrote.
    let o = real_sops(&sb)
        .args(["--decrypt", "values.yaml"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), plain, "{}", stderr(&o));
    // helm-secrets literal values: ciphertext on stdin via /dev/stdin.
    let mut lit = real_sops(&sb);
    lit.args(["encrypt", "--filename-override", "v.json"]);
    let lit = with_stdin(lit, b"{\"k\": \"v\"}");
    assert!(lit.status.success(), "{}", stderr(&lit));
    let mut c = shroud_as_sops(&sb);
    c.args([
        "--decrypt",
        "--input-type",
        "json",
        "--output-type",
        "json",
        "/dev/stdin",
    ]);
    let o = with_stdin(c, &lit.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\n\t\"k\": \"v\"\n}\n");
    // helm-secrets edit and vim-sops edit: legacy `sops FILE`; unchanged → 200.
    let o = shroud_as_sops(&sb)
        .env("EDITOR", "true")
        .args([
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "values.yaml",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(200), "{}", stderr(&o));
    // dohq/sops.vim: the buffer through /dev/stdin, keys from .sops.yaml in the cwd.
    let mut c = shroud_as_sops(&sb);
    c.args([
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--encrypted-regex",
        "^password$",
        "/dev/stdin",
    ]);
    let vim_enc = with_stdin(c, plain.as_bytes());
    assert!(vim_enc.status.success(), "{}", stderr(&vim_enc));
    assert!(stdout(&vim_enc).contains("port: 5432"));
    let mut c = shroud_as_sops(&sb);
    c.args([
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "/dev/stdin",
    ]);
    let o = with_stdin(c, &vim_enc.stdout);
    assert_eq!(stdout(&o), plain, "{}", stderr(&o));
    // sops.nvim / vim-sops: `sops -d FILE`, `sops -e FILE`.
    assert_eq!(stdout(&run(&["-d", "values.yaml"])), plain);
    sb.write("new.yaml", "a: b\n");
    assert!(stdout(&run(&["-e", "new.yaml"])).contains("ENC["));
    // emacs sops.el: --version is parsed for MAJOR.MINOR.PATCH >= 3.9.0; filestatus; encrypt
    // from the buffer with --filename-override.
    let v = stdout(&run(&["--version"]));
    assert!(v.starts_with("sops 3.11.0"), "{v}");
    assert_eq!(
        stdout(&run(&["filestatus", "values.yaml"])),
        "{\"encrypted\":true}\n"
    );
    assert_eq!(
        stdout(&run(&["filestatus", "new.yaml"])),
        "{\"encrypted\":false}\n"
    );
    let mut c = shroud_as_sops(&sb);
    c.args([
        "encrypt",
        "--filename-override",
        "buffer.yaml",
        "/dev/stdin",
    ]);
    let o = with_stdin(c, plain.as_bytes());
    assert!(
        o.status.success() && stdout(&o).contains("ENC["),
        "{}",
        stderr(&o)
    );
    // emacs sops-file.el: ciphertext on stdin, plaintext to --output /dev/stderr.
    let mut c = shroud_as_sops(&sb);
    c.args([
        "decrypt",
        "--filename-override",
        "values.yaml",
        "--output",
        "/dev/stderr",
    ]);
    let o = with_stdin(c, sb.read("values.yaml").as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("password: hunter2"));
    // VS Code (signageos): decrypt a temp copy without extension, types given; re-encrypt
    // through edit mode with an EDITOR that copies the edited file over its argument.
    std::fs::copy(sb.path("values.yaml"), sb.path("tmpcopy")).unwrap();
    let o = run(&[
        "--output-type",
        "yaml",
        "--input-type",
        "yaml",
        "--decrypt",
        "tmpcopy",
    ]);
    assert_eq!(stdout(&o), plain);
    sb.write(
        "edited.yaml",
        "db:\n    password: changed\n    port: 5432\n",
    );
    let editor = sb.write(
        "copy-editor.sh",
        &format!(
            "#!/bin/sh\ncp '{}' \"$1\"\n",
            sb.path("edited.yaml").display()
        ),
    );
    let o = shroud_as_sops(&sb)
        .env("EDITOR", format!("sh {}", editor.display()))
        .args(["--output-type", "yaml", "--input-type", "yaml", "tmpcopy"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = real_sops(&sb)
        .args([
            "decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "tmpcopy",
        ])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("password: changed"), "{}", stderr(&o));
    // Legacy --set, -r, --extract.
    run(&["--set", r#"["db"]["user"] "admin""#, "values.yaml"]);
    assert_eq!(
        stdout(&run(&[
            "-d",
            "--extract",
            r#"["db"]["user"]"#,
            "values.yaml"
        ])),
        "admin"
    );
    run(&["-r", "-i", "--add-age", TEST_RECIPIENT2, "values.yaml"]);
    let o = real_sops(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["-d", "values.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // set --value-file is a switch (VALUE is a path), as in sops.
    sb.write("value.json", "\"from file\"\n");
    run(&[
        "set",
        "--value-file",
        "values.yaml",
        r#"["db"]["note"]"#,
        "value.json",
    ]);
    assert_eq!(
        stdout(&run(&[
            "decrypt",
            "--extract",
            r#"["db"]["note"]"#,
            "values.yaml"
        ])),
        "from file"
    );
}

/// The same failure gives the same exit code from the real sops and from the drop-in.
#[test]
fn exit_codes_match_the_real_sops() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.(yaml|json)$\n    age: {TEST_RECIPIENT}\n"),
    );
    sb.write("plain.yaml", "a: 1\nb: two\n");
    sb.write("bad.yaml", "a: [1, 2\n");
    sb.write("uint.yaml", "n: 9223372036854775808\n");
    sb.write("other.txt", "x\n");
    let enc = real_sops(&sb)
        .args(["encrypt", "plain.yaml"])
        .output()
        .unwrap();
    assert!(enc.status.success(), "{}", stderr(&enc));
    let good = String::from_utf8(enc.stdout).unwrap();
    sb.write("good.yaml", &good);
    sb.write("nested-plain.yaml", "a: 1\nm:\n  k: v\n");
    let enc = real_sops(&sb)
        .args(["encrypt", "nested-plain.yaml"])
        .output()
        .unwrap();
    assert!(enc.status.success(), "{}", stderr(&enc));
    sb.write("nested.yaml", &String::from_utf8(enc.stdout).unwrap());
    let b_line = good.lines().find(|l| l.starts_with("b: ")).unwrap();
    let flipped = b_line
        .replacen("data:", "data:A", 1)
        .replacen("data:AA", "data:BA", 1);
    sb.write("tampered.yaml", &good.replace(b_line, &flipped));
    let mac_line = good
        .lines()
        .find(|l| l.trim_start().starts_with("mac:"))
        .unwrap();
    sb.write("nomac.yaml", &good.replace(&format!("{mac_line}\n"), ""));
    sb.write(
        "badmac.yaml",
        &good.replace("lastmodified: \"", "lastmodified: \"1"),
    );
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "syntax error on encrypt",
            vec!["encrypt", "bad.yaml"],
            vec![],
        ),
        (
            "syntax error on decrypt",
            vec!["decrypt", "bad.yaml"],
            vec![],
        ),
        ("already encrypted", vec!["encrypt", "good.yaml"], vec![]),
        ("decrypt plaintext", vec!["decrypt", "plain.yaml"], vec![]),
        (
            "bad extract path",
            vec!["decrypt", "--extract", "s", "good.yaml"],
            vec![],
        ),
        (
            "missing extract path",
            vec!["decrypt", "--extract", r#"["nope"]"#, "good.yaml"],
            vec![],
        ),
        ("tampered value", vec!["decrypt", "tampered.yaml"], vec![]),
        ("missing MAC", vec!["decrypt", "nomac.yaml"], vec![]),
        ("unreadable MAC", vec!["decrypt", "badmac.yaml"], vec![]),
        (
            "no identity",
            vec!["decrypt", "good.yaml"],
            vec![("SOPS_AGE_KEY_FILE", test_key2().display().to_string())],
        ),
        ("no such file", vec!["decrypt", "nope.yaml"], vec![]),
        (
            "set bad JSON",
            vec!["set", "good.yaml", r#"["a"]"#, "notjson"],
            vec![],
        ),
        (
            "set bad index",
            vec!["set", "good.yaml", "a", r#""x""#],
            vec![],
        ),
        (
            "unset missing key",
            vec!["unset", "good.yaml", r#"["nope"]"#],
            vec![],
        ),
        (
            "edit unchanged",
            vec!["edit", "good.yaml"],
            vec![("EDITOR", "true".into())],
        ),
        (
            "legacy edit unchanged",
            vec!["good.yaml"],
            vec![("EDITOR", "true".into())],
        ),
        ("no creation rule", vec!["encrypt", "other.txt"], vec![]),
        ("stdin without override", vec!["encrypt"], vec![]),
        ("no file", vec![], vec![]),
        ("int beyond int64", vec!["encrypt", "uint.yaml"], vec![]),
        (
            "legacy set format",
            vec!["--set", "nospace", "good.yaml"],
            vec![],
        ),
        (
            "unknown flag",
            vec!["decrypt", "--nope", "good.yaml"],
            vec![],
        ),
        (
            "exec-env on nested values",
            vec!["exec-env", "nested.yaml", "true"],
            vec![],
        ),
        (
            "groups add without a key",
            vec![
                "groups",
                "add",
                "--file",
                "good.yaml",
                "--age",
                TEST_RECIPIENT2,
            ],
            vec![("SOPS_AGE_KEY_FILE", test_key2().display().to_string())],
        ),
    ];
    let mut bad = Vec::new();
    for (what, args, env) in &cases {
        let mut s = real_sops(&sb);
        let mut h = shroud_as_sops(&sb);
        for (k, v) in env {
            s.env(k, v);
            h.env(k, v);
        }
        let so = s.args(args).stdin(Stdio::null()).output().unwrap();
        let ho = h.args(args).stdin(Stdio::null()).output().unwrap();
        if so.status.code() != ho.status.code() {
            bad.push(format!(
                "{what}: sops exits {:?}, the drop-in {:?} ({})",
                so.status.code(),
                ho.status.code(),
                stderr(&ho).trim()
            ));
        }
        assert!(!stderr(&ho).contains("panicked"), "{what}: {}", stderr(&ho));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn publish_and_keyservice_are_refused_in_one_line() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        "destination_rules:\n  - s3_bucket: b\n    path_regex: .*\n",
    );
    sb.write("publish", "not a file to edit\n");
    for args in [
        &["publish", "f.yaml"][..],
        &["keyservice"][..],
        &["publish"][..],
    ] {
        let out = shroud_as_sops(&sb)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("shroud does not"), "{args:?}: {err}");
    }
    assert_eq!(sb.read("publish"), "not a file to edit\n");
}

/// A sandbox with `.sops.yaml` (age, the first test key), `p.yaml`/`p.env` and their
/// encryptions by the real sops, `s.yaml`/`s.env`.
fn encrypted_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.(yaml|json|env)$\n    age: {TEST_RECIPIENT}\n"
        ),
    );
    sb.write("p.yaml", "a: 1\nb: two\n");
    sb.write("p.env", "A=1\nB=two\n");
    for (plain, enc) in [("p.yaml", "s.yaml"), ("p.env", "s.env")] {
        let o = real_sops(&sb)
            .args(["encrypt", plain])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::write(sb.path(enc), &o.stdout).unwrap();
    }
    sb
}

/// What the real sops decrypts `name` to.
fn sops_plaintext(sb: &Sandbox, name: &str, input_type: Option<&str>) -> String {
    let mut c = real_sops(sb);
    c.arg("decrypt");
    if let Some(t) = input_type {
        c.args(["--input-type", t, "--output-type", t]);
    }
    let o = c.arg(name).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "sops decrypt {name}: {}", stderr(&o));
    stdout(&o)
}

/// The two sops commands a comparison runs: the real one, then shroud as `sops`.
fn both(sb: &Sandbox) -> [(&'static str, Command); 2] {
    [("sops", real_sops(sb)), ("shroud", shroud_as_sops(sb))]
}

/// `exec-env --same-process`: the command replaces the process (its parent is whoever ran
/// sops), as in the real sops; without it the command is a child.
#[test]
fn exec_env_same_process_replaces_the_process() {
    let sb = encrypted_sandbox();
    let me = std::process::id().to_string();
    for (tool, mut c) in both(&sb) {
        let o = c
            .args([
                "exec-env",
                "--same-process",
                "s.env",
                "echo \"$PPID $B\"; exit 7",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(7), "{tool}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{me} two\n"), "{tool}");
    }
    for (tool, mut c) in both(&sb) {
        let o = c
            .args(["exec-env", "s.env", "echo \"$PPID\""])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        assert_ne!(stdout(&o).trim(), me, "{tool}");
    }
    // shroud's own command line has it too.
    let o = sb
        .with_key()
        .args(["exec-env", "--same-process", "s.env", "echo \"$PPID\""])
        .run();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), me);
}

/// A user of /etc/passwd that /etc/group lists as a member of some group, else `nobody`.
fn other_user() -> Option<(String, u32, u32, String, Vec<u32>)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let users: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7 && f[2] != "0")
        .collect();
    let groups_of = |name: &str, gid: u32| {
        let mut g = vec![gid];
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() == 4
                && f[3].split(',').any(|m| m == name)
                && let Ok(n) = f[2].parse::<u32>()
                && !g.contains(&n)
            {
                g.push(n);
            }
        }
        g.sort();
        g
    };
    let pick = users
        .iter()
        .find(|f| groups_of(f[0], f[3].parse().unwrap_or(0)).len() > 1)
        .or_else(|| users.iter().find(|f| f[0] == "nobody"))?;
    let gid: u32 = pick[3].parse().ok()?;
    Some((
        pick[0].to_owned(),
        pick[2].parse().ok()?,
        gid,
        pick[5].to_owned(),
        groups_of(pick[0], gid),
    ))
}

/// `--user`: the command runs as the user, as in the real sops (same uid; exec-file's plaintext
/// is the user's and readable by it). Beyond sops 3.11, as sops 3.13.2 does: the group is the
/// user's primary group (3.11 sets its uid as gid), the supplementary groups are exactly the
/// user's (root's are dropped), and HOME, USER and LOGNAME are the user's.
#[test]
fn exec_user_runs_the_command_as_that_user() {
    if !rustix::process::getuid().is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let Some((name, uid, gid, home, groups)) = other_user() else {
        eprintln!("skipped: no unprivileged user in /etc/passwd");
        return;
    };
    let sb = encrypted_sandbox();
    // The sandbox must be reachable by the user for the real sops's working directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = "id -u; id -g; id -G; echo \"$HOME|$USER|$LOGNAME|$A\"";
    let mut uids = Vec::new();
    for (tool, mut c) in both(&sb) {
        let o = c
            .args(["exec-env", "--user", &name, "s.env", script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        uids.push(lines[0].to_owned());
        assert!(lines[3].ends_with("|1"), "{tool}: {out}");
        if tool == "shroud" {
            assert_eq!(lines[1], gid.to_string(), "{out}");
            let mut got: Vec<u32> = lines[2]
                .split_whitespace()
                .map(|g| g.parse().unwrap())
                .collect();
            got.sort();
            assert_eq!(got, groups, "{out}");
            assert_eq!(lines[3], format!("{home}|{name}|{name}|1"), "{out}");
        }
    }
    assert_eq!(uids, [uid.to_string(), uid.to_string()]);
    for (tool, mut c) in both(&sb) {
        let o = c
            .args([
                "exec-file",
                "--user",
                &name,
                "s.yaml",
                "id -u; stat -c %u {}; cat {}",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{uid}\n{uid}\na: 1\nb: two\n"),
            "{tool}"
        );
    }
    // An unknown user: nothing runs, exit 1 as sops.
    for (tool, mut c) in both(&sb) {
        let o = c
            .args(["exec-env", "--user", "no-such-user-x", "s.env", "touch ran"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{tool}: {}", stderr(&o));
    }
    assert!(!sb.path("ran").exists());
}

/// Runs a sops command that must return while its command waits on the FIFO `gate`; then opens
/// the gate. Fails (instead of hanging) if the command line does not return.
fn returns_before_the_gate_opens(sb: &Sandbox, mut c: Command, what: &str) -> std::process::Output {
    let gate = sb.path("gate");
    let _ = std::fs::remove_file(&gate);
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &gate,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let returned = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // Open the gate either way, so the background command ends.
    drop(std::fs::OpenOptions::new().write(true).open(&gate).unwrap());
    let out = child.wait_with_output().unwrap();
    assert!(returned, "{what}: waited for the command");
    out
}

fn wait_for_file(p: &std::path::Path) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && s.ends_with('\n')
        {
            return s;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `--background`: the command is started and sops returns without waiting for it, as the
/// real sops does. exec-file: shroud returns once the command has read the plaintext (sops
/// 3.11 removes the file as it returns, so its command cannot read it).
#[test]
fn exec_background_returns_without_waiting() {
    let sb = encrypted_sandbox();
    for (tool, mut c) in both(&sb) {
        let _ = std::fs::remove_file(sb.path("done"));
        c.args([
            "exec-env",
            "--background",
            "s.env",
            "cat gate > /dev/null; echo \"$A\" > done",
        ]);
        let o = returns_before_the_gate_opens(&sb, c, tool);
        assert_eq!(o.status.code(), Some(0), "{tool}: {}", stderr(&o));
        assert_eq!(wait_for_file(&sb.path("done")), "1\n", "{tool}");
    }
    for (tool, mut c) in both(&sb) {
        let _ = std::fs::remove_file(sb.path("got"));
        let _ = std::fs::remove_file(sb.path("done"));
        c.args([
            "exec-file",
            "--background",
            "s.yaml",
            "cat {} > got 2>&1; cat gate > /dev/null; echo ok > done",
        ]);
        let o = returns_before_the_gate_opens(&sb, c, tool);
        wait_for_file(&sb.path("done"));
        // sops 3.11 exits 0 or 1 here at random (its FIFO writer races the removal).
        if tool == "shroud" {
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert_eq!(sb.read("got"), "a: 1\nb: two\n");
        }
    }
    // --background with --same-process is refused before anything runs (8, as sops).
    for (tool, mut c) in both(&sb) {
        let o = c
            .args([
                "exec-env",
                "--background",
                "--same-process",
                "s.env",
                "touch ran",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(8), "{tool}: {}", stderr(&o));
    }
    assert!(!sb.path("ran").exists());
}

/// `edit -s`: the editor shows the values and the sops metadata (recipients), as the real
/// sops; unchanged exits 200. shroud applies value edits made with -s (sops 3.11 drops them)
/// and refuses a changed metadata block, leaving the file untouched.
#[test]
fn edit_show_master_keys() {
    let sb = encrypted_sandbox();
    for (tool, mut c) in both(&sb) {
        let o = c
            .env("EDITOR", "cat")
            .args(["edit", "-s", "s.yaml"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(200), "{tool}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with("a: 1\nb: two\nsops:\n"), "{tool}: {out}");
        assert!(
            out.contains(&format!("recipient: {TEST_RECIPIENT}")),
            "{tool}: {out}"
        );
        assert!(out.contains("mac: ENC[AES256_GCM"), "{tool}: {out}");
    }
    // Without -s the metadata is not shown.
    let o = shroud_as_sops(&sb)
        .env("EDITOR", "cat")
        .args(["edit", "s.yaml"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "a: 1\nb: two\n");
    let edit = sb.write(
        "edit.sh",
        "#!/bin/sh\nsed -i 's/^b: two$/b: three/' \"$1\"\n",
    );
    let o = shroud_as_sops(&sb)
        .env("EDITOR", format!("sh {}", edit.display()))
        .args(["edit", "--show-master-keys", "s.yaml"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sops_plaintext(&sb, "s.yaml", None), "a: 1\nb: three\n");
    let before = sb.read("s.yaml");
    let tamper = sb.write(
        "tamper.sh",
        &format!("#!/bin/sh\nsed -i 's/{TEST_RECIPIENT}/{TEST_RECIPIENT2}/' \"$1\"\n"),
    );
    let o = shroud_as_sops(&sb)
        .env("EDITOR", format!("sh {}", tamper.display()))
        .args(["-s", "s.yaml"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("metadata"), "{}", stderr(&o));
    assert_eq!(sb.read("s.yaml"), before);
    // A dotenv file shows its flattened metadata the same way.
    let o = shroud_as_sops(&sb)
        .env("EDITOR", "cat")
        .args(["edit", "-s", "s.env"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(200), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("sops_age__list_0__map_recipient="),
        "{}",
        stdout(&o)
    );
}

/// `edit --output-type`: the editor shows, and the file is written in, the output format, as
/// the real sops does.
#[test]
fn edit_output_type() {
    let sb = encrypted_sandbox();
    let edit = sb.write(
        "edit.sh",
        "#!/bin/sh\nsed -i 's/\"two\"/\"three\"/' \"$1\"\n",
    );
    let before = sb.read("s.yaml");
    let mut results = Vec::new();
    for (tool, mut c) in both(&sb) {
        std::fs::write(sb.path("s.yaml"), &before).unwrap();
        let o = c
            .env("EDITOR", format!("sh {}", edit.display()))
            .args(["edit", "--output-type", "json", "s.yaml"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        assert!(sb.read("s.yaml").trim_start().starts_with('{'), "{tool}");
        results.push(sops_plaintext(&sb, "s.yaml", Some("json")));
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].contains("\"three\""), "{}", results[0]);
}

/// `set`/`unset --output-type`: the file is written back in that format, as the real sops.
#[test]
fn set_and_unset_output_type() {
    let sb = encrypted_sandbox();
    let before = sb.read("s.yaml");
    for args in [
        &["set", "--output-type", "json", "s.yaml", "[\"a\"]", "5"][..],
        &["unset", "--output-type", "json", "s.yaml", "[\"a\"]"],
        &["set", "--output-type=dotenv", "s.yaml", "[\"c\"]", "\"x\""],
    ] {
        let mut results = Vec::new();
        for (tool, mut c) in both(&sb) {
            std::fs::write(sb.path("s.yaml"), &before).unwrap();
            let o = c.args(args).stdin(Stdio::null()).output().unwrap();
            assert!(o.status.success(), "{tool} {args:?}: {}", stderr(&o));
            let t = if args.iter().any(|a| a.contains("dotenv")) {
                "dotenv"
            } else {
                "json"
            };
            results.push(sops_plaintext(&sb, "s.yaml", Some(t)));
        }
        assert_eq!(results[0], results[1], "{args:?}");
    }
    // shroud's own command line has it too.
    std::fs::write(sb.path("s.yaml"), &before).unwrap();
    let o = sb
        .with_key()
        .args(["set", "--output-type", "json", "s.yaml", "[\"a\"]", "6"])
        .run();
    assert_code(&o, 0);
    assert_eq!(
        sops_plaintext(&sb, "s.yaml", Some("json")),
        "{\n\t\"a\": 6,\n\t\"b\": \"two\"\n}\n"
    );
}

/// `rotate --filename-override` (the format of a file without extension) and
/// `--output-type`, compared with the real sops; `--encryption-context` for added KMS keys
/// against moto.
#[test]
fn rotate_filename_override_output_type_and_encryption_context() {
    let sb = encrypted_sandbox();
    std::fs::copy(sb.path("s.yaml"), sb.path("noext")).unwrap();
    for (args, t) in [
        (
            &["rotate", "--filename-override", "x.yaml", "noext"][..],
            None,
        ),
        (&["rotate", "--output-type", "json", "s.yaml"], Some("json")),
        (
            &["rotate", "--output-type=dotenv", "s.yaml"],
            Some("dotenv"),
        ),
        (
            &["rotate", "--encryption-context", "not-a-context", "s.yaml"],
            None,
        ),
    ] {
        let mut results = Vec::new();
        for (tool, mut c) in both(&sb) {
            let o = c.args(args).stdin(Stdio::null()).output().unwrap();
            assert!(o.status.success(), "{tool} {args:?}: {}", stderr(&o));
            std::fs::write(sb.path("out"), &o.stdout).unwrap();
            results.push(sops_plaintext(&sb, "out", t.or(Some("yaml"))));
        }
        assert_eq!(results[0], results[1], "{args:?}");
    }
    let moto = crate::kms::Moto::start();
    let arn = moto.create_key("eu-west-1");
    for (tool, mut c) in both(&sb) {
        moto.env(&mut c);
        let o = c
            .args([
                "rotate",
                "--add-kms",
                &arn,
                "--encryption-context",
                "Env:prod,App:shroud",
                "s.yaml",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!("arn: {arn}"))
                && out.contains("Env: prod")
                && out.contains("App: shroud"),
            "{tool}: {out}"
        );
        // The KMS key alone opens it (the context is checked by KMS).
        std::fs::write(sb.path("kms.yaml"), &out).unwrap();
        let mut d = sb.cmd();
        moto.env(&mut d);
        let o = d.args(["decrypt", "kms.yaml"]).run();
        assert_code(&o, 0);
        assert_eq!(stdout(&o), "a: 1\nb: two\n", "{tool}");
    }
}

/// Issue 29: with a `.sops.yaml` whose rules do not match the file, sops refuses to encrypt it
/// even with keys on the command line, in every mode that loads the creation rule; the drop-in
/// mode refuses exactly there (exit 1, sops's message), and proceeds where sops proceeds.
#[test]
fn drop_in_refuses_a_file_outside_the_policy() {
    let sb = Sandbox::new();
    sb.write("x.yaml", "a: 1\n");
    let o = real_sops(&sb)
        .args(["encrypt", "--age", TEST_RECIPIENT, "x.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    sb.write("enc.yaml", &stdout(&o));
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^prod/\n    age: {TEST_RECIPIENT}\n"),
    );
    let files = |sb: &Sandbox| (sb.read("x.yaml"), sb.read("enc.yaml"));
    let start = files(&sb);
    let r = TEST_RECIPIENT;
    let cases: Vec<Vec<&str>> = vec![
        vec!["encrypt", "--age", r, "x.yaml"],
        vec!["-e", "--age", r, "x.yaml"],
        vec!["-e", "-i", "--age", r, "x.yaml"],
        vec![
            "encrypt",
            "-i",
            "--age",
            r,
            "--filename-override",
            "prod/x.yaml",
            "x.yaml",
        ],
        vec!["decrypt", "enc.yaml"],
        vec!["-d", "enc.yaml"],
        vec!["rotate", "enc.yaml"],
        vec!["-r", "enc.yaml"],
        vec!["-r", "-i", "enc.yaml"],
        vec!["set", "enc.yaml", "[\"a\"]", "2"],
        vec!["--set", "[\"a\"] 3", "enc.yaml"],
        vec!["edit", "enc.yaml"],
        vec!["enc.yaml"],
        vec!["edit", "--age", r, "new.yaml"],
        vec!["new.yaml"],
    ];
    for args in &cases {
        let mut codes = Vec::new();
        for (tool, mut c) in both(&sb) {
            let o = c
                .env("EDITOR", "true")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            codes.push(o.status.code());
            if tool == "shroud" && o.status.code() == Some(1) {
                assert!(
                    stderr(&o).contains("no matching creation rules found"),
                    "{args:?}: {}",
                    stderr(&o)
                );
                assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
            }
            // Put the files back for the next run.
            let (x, enc) = files(&sb);
            if (x.clone(), enc.clone()) != start {
                sb.write("x.yaml", &start.0);
                sb.write("enc.yaml", &start.1);
            }
        }
        assert_eq!(codes[0], codes[1], "{args:?}: sops vs shroud");
    }
    assert!(!sb.path("new.yaml").exists());
    // The refused ones are the ones sops refuses.
    let o = shroud_as_sops(&sb)
        .args(["encrypt", "-i", "--age", r, "x.yaml"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(sb.read("x.yaml"), "a: 1\n");
}

/// Issue 29, shroud's own mode: encrypting a file no rule of `.sops.yaml` covers with keys
/// from the command line works, with one warning line that says so and that audit reports it.
#[test]
fn own_mode_warns_when_a_file_is_outside_the_policy() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^prod/\n    age: {TEST_RECIPIENT}\n"),
    );
    sb.write("x.yaml", "a: 1\n");
    sb.write("prod/y.yaml", "a: 1\n");
    let o = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "x.yaml"])
        .run();
    assert_code(&o, 0);
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("x.yaml is outside the policy")
            && err.contains("no creation rule of .sops.yaml matches it")
            && err.contains("`shroud audit` will report it as uncovered"),
        "{err}"
    );
    let audit = sb.with_key().args(["audit"]).run();
    assert!(
        stdout(&audit)
            .lines()
            .any(|l| l.trim_start().starts_with("x.yaml") && l.contains("[uncovered]")),
        "{}",
        stdout(&audit)
    );
    // A covered file, or no policy at all: no warning.
    let o = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "prod/y.yaml"])
        .run();
    assert_code(&o, 0);
    assert_eq!(stderr(&o), "");
    std::fs::remove_file(sb.path(".sops.yaml")).unwrap();
    sb.write("z.yaml", "a: 1\n");
    let o = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "z.yaml"])
        .run();
    assert_code(&o, 0);
    assert_eq!(stderr(&o), "");
}

/// Confirmations read y/n from stdin when it is not a terminal, in shroud's own mode too
/// (`yes | shroud updatekeys f` works; sops's drop-in cases are in `sops_argv`).
#[test]
fn confirmations_read_stdin_in_shroud_mode() {
    let sb = encrypted_sandbox();
    let before = sb.read("s.yaml");
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.(yaml|json|env)$\n    age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"
        ),
    );
    let run = |input: &[u8]| {
        std::fs::write(sb.path("s.yaml"), &before).unwrap();
        let mut c = sb.with_key();
        c.args(["updatekeys", "s.yaml"]);
        with_stdin(c, input)
    };
    for yes in [&b"y\n"[..], b"y\ny\ny\ny\n", b"x\ny\n", b" y \n", b"y"] {
        let o = run(yes);
        assert_eq!(o.status.code(), Some(0), "{yes:?}: {}", stderr(&o));
        assert!(sb.read("s.yaml").contains(TEST_RECIPIENT2), "{yes:?}");
    }
    for (no, says) in [
        (&b"n\n"[..], "not confirmed"),
        (b"", "no y/n answer on stdin"),
        (b"\n", "no y/n answer on stdin"),
        (b"yes please\n", "no y/n answer on stdin"),
    ] {
        let o = run(no);
        assert_eq!(o.status.code(), Some(1), "{no:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{no:?}: {}", stderr(&o));
        assert_eq!(sb.read("s.yaml"), before, "{no:?}");
    }
    // A bulk verb: rotate of several files.
    std::fs::write(sb.path("s.yaml"), &before).unwrap();
    std::fs::copy(sb.path("s.yaml"), sb.path("t.yaml")).unwrap();
    let mut c = sb.with_key();
    c.args(["rotate", "-i", "s.yaml", "t.yaml"]);
    let o = with_stdin(c, b"y\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_ne!(sb.read("t.yaml"), before);
}

/// The drop-in `sops updatekeys` keeps the data key when a key is removed, as sops does (values
/// keep their exact ciphertext); shroud's own updatekeys gives such a file a new data key.
#[test]
fn drop_in_updatekeys_keeps_the_data_key() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"
        ),
    );
    sb.write("p.yaml", "a: 1\nb: two\n");
    let o = real_sops(&sb).args(["encrypt", "p.yaml"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let two_keys = stdout(&o);
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {TEST_RECIPIENT}\n"),
    );
    let values = |t: &str| {
        t.lines()
            .take_while(|l| !l.starts_with("sops:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut tools = both(&sb).into_iter().collect::<Vec<_>>();
    let mut own = sb.with_key();
    own.arg("updatekeys");
    tools.push(("shroud's own mode", own));
    for (tool, mut c) in tools {
        sb.write("s.yaml", &two_keys);
        if tool != "shroud's own mode" {
            c.arg("updatekeys");
        }
        let o = c
            .args(["-y", "s.yaml"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        let after = sb.read("s.yaml");
        assert!(
            !after.contains(TEST_RECIPIENT2),
            "{tool}: the key is removed"
        );
        assert_eq!(sops_plaintext(&sb, "s.yaml", None), "a: 1\nb: two\n");
        let kept = values(&after) == values(&two_keys);
        assert_eq!(kept, tool != "shroud's own mode", "{tool}: data key kept?");
    }
}

/// sops's `rotate -i` prints nothing when it succeeds, and its `updatekeys` looks for a
/// `.sops.yaml` (from the working directory) before it reads a file: without one it fails with
/// exit 1. The drop-in does the same (it printed its bulk summary, and exited 5).
#[test]
fn drop_in_rotate_is_silent_and_updatekeys_wants_a_config_first() {
    let sb = encrypted_sandbox();
    for (tool, mut c) in both(&sb) {
        let o = c
            .args(["rotate", "-i", "s.yaml"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{tool}");
        assert_eq!(stdout(&o), "", "{tool}");
    }
    // A change to make: both show it before they ask (answered "n": nothing is written).
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.(yaml|json|env)$\n    age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"
        ),
    );
    let before = sb.read("s.yaml");
    for (tool, c) in both(&sb) {
        let mut c = c;
        c.args(["updatekeys", "s.yaml"]);
        let o = with_stdin(c, b"n\n");
        assert!(o.status.success(), "{tool}: {}", stderr(&o));
        // sops writes its plan to stdout, shroud to stderr: either way, before the question.
        let said = format!("{}{}", stdout(&o), stderr(&o));
        assert!(said.contains(TEST_RECIPIENT2), "{tool}: {said}");
        assert_eq!(sb.read("s.yaml"), before, "{tool}");
    }
    std::fs::remove_file(sb.path(".sops.yaml")).unwrap();
    for (tool, mut c) in both(&sb) {
        let o = c
            .args(["updatekeys", "-y", "s.yaml"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{tool}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim(), "config file not found", "{tool}");
        assert_eq!(sb.read("s.yaml"), before, "{tool}");
    }
}
