//! The drop-in `sops` mode: shroud invoked through a `sops` symlink accepts sops 3.11's
//! command line and exits with sops's codes. Invocations are the ones helm-secrets' sops
//! backend and the common editor plugins make; exit codes are compared with the real sops
//! failing the same way.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::*;

/// A directory with `sops` → the shroud binary.
fn sops_link(sb: &Sandbox) -> PathBuf {
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("sops");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_shroud"), &link).unwrap();
    }
    link
}

fn shroud_as_sops(sb: &Sandbox) -> Command {
    let mut c = Command::new(sops_link(sb));
    c.current_dir(sb.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir.path())
        .env("XDG_CONFIG_HOME", sb.dir.path().join(".config"))
        .env("SOPS_AGE_KEY_FILE", test_key());
    c
}

fn real_sops(sb: &Sandbox) -> Command {
    let mut c = sops_cmd(sb);
    c.env("SOPS_AGE_KEY_FILE", test_key());
    c
}

fn with_stdin(mut c: Command, input: &[u8]) -> std::process::Output {
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
