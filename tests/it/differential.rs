//! Differential interop with the real sops 3.11 binary, both directions, across generated
//! inputs × encryption rules × key setups (issue: sops as the oracle).
//!
//! For every case: S = `sops encrypt`, H = `shroud encrypt` of the same input with the same
//! rule. Then `sops decrypt S` is the reference, and `sops decrypt H` (MAC verified by sops),
//! `shroud decrypt S` (MAC verified by shroud) and `shroud decrypt H` must all mean the same
//! as it. Meaning is judged by go-yaml v3 and encoding/json themselves (`tests/support/sem.go`),
//! not by either tool's parser; dotenv and INI by their line semantics. Every mismatch is
//! collected and reported; the test fails on any.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// The inputs: every YAML feature sops users write, JSON numbers, dotenv and INI quirks,
/// binary data.
pub(crate) fn cases() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut v: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "scalars",
            "yaml",
            b"# top comment\nhex: 0x1F\noct: 017\noct2: 0o17\nunder: 1_000\nneg0: -0\nplus: +5\neight: 08\nbig53: 9007199254740993\nmax: 9223372036854775807\nmin: -9223372036854775808\nhuge: 99999999999999999999\nnegbig: -9223372036854775809\nf1: 1.0\nf2: 1e3\nf3: 6.02e23\nf4: 1.5e-10\nf5: .5\nf6: -.inf\nf7: .nan\nf8: 1_000.5\nf9: 3.10\nf10: 123456789.123456789\nf11: 1234567.0\nb1: true\nb2: True\nb3: yes\nn1: ~\nn2: null\nn3:\nt1: 2024-01-01\nt2: 2024-01-01T10:00:00Z\nt3: 2024-01-01T10:00:00.123456789Z\nt4: 2024-01-01T10:00:00.5+02:00\nt5: 2024-01-01 10:00:00\ns1: \"123\"\ns2: 'a: b'\ns3: \"tab\\there\"\ns4: \"\"\ns5: hello world # inline\npassword: hunter2\nplain_pub: visible\nsecret_enc: x\n".to_vec(),
        ),
        (
            "blocks",
            "yaml",
            b"lit: |\n  line one\n  line two\nstrip: |-\n  a\n  b\nkeep: |+\n  k\n\nfold: >\n  folded\n  text\nbin: !!binary aGVsbG8gd29ybGQ=\nbinraw: !!binary AAEC/w==\nt1: !!str 123\nt2: !!int \"5\"\nt3: !!float 3\nt4: !!timestamp 2024-01-01\nt5: !custom foo\nuni: \"h\xc3\xa9llo \xf0\x9f\x98\x80 \xf0\x9d\x84\x9e\"\n\"key with space\": 1\n\"123\": x\n\"y\": yes\nemptymap: {}\nemptylist: []\nsecret: |\n  -----BEGIN KEY-----\n  abc\n  -----END KEY-----\n".to_vec(),
        ),
        (
            "anchors",
            "yaml",
            b"base: &base\n  user: admin\n  port: 5432\ndev:\n  <<: *base\n  port: 1111\nmulti:\n  <<: [*base]\nlist: &l\n  - a\n  - b\ncopy: *l\nscalar: &s hello\nalias: *s\n".to_vec(),
        ),
        (
            "comments",
            "yaml",
            b"# top comment\n# second\n\na: 1 # inline a\n# before b\nb:\n  # inside b\n  c: x # inline c\n  # sops:enc\n  d: secretish\n  # sops:plain\n  p: open\n  e: {}\nlist:\n  # head of item\n  - one # inline item\n  - two\n  # trailing\n# end\n".to_vec(),
        ),
        (
            "multidoc",
            "yaml",
            b"---\na: 1\n---\nb: 2\nsecret: x\n---\nc: [1, two]\n".to_vec(),
        ),
        (
            "k8s-secret",
            "yaml",
            b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels:\n    app: db\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\nstringData:\n  user: admin\n  url: postgres://admin:pw@db:5432/app\n".to_vec(),
        ),
        (
            "nested",
            "yaml",
            b"items:\n  - name: a\n    vals:\n      - 1\n      - - 2\n        - 3\n  - name: b\n    password: p\nm:\n  \"n\":\n    o: p\n  deep:\n    deeper:\n      deepest: [1, {x: y}]\n".to_vec(),
        ),
        (
            "numbers",
            "json",
            br#"{"replicas": 3, "ratio": 1e-7, "big": 9007199254740993, "u": 9223372036854775808, "f": 1.0, "neg": -0.0, "e": 1E+21, "s": "x", "n": null, "b": true, "nested": [[1,2],[3.5]], "empty": {}, "el": [], "password": "pw", "plain": 9007199254740993, "secret_enc": 12}"#.to_vec(),
        ),
        (
            "json-strings",
            "json",
            "{\"html\": \"<a href=\\\"x\\\">&amp;</a>\", \"uni\": \"h\u{e9}llo \u{1F600}\", \"ctl\": \"tab\\tnl\\ncr\\r\\u0001\", \"ls\": \"\\u2028\", \"k\": {\"deep\": [\"a\", {\"password\": \"b\"}]}}\n".as_bytes().to_vec(),
        ),
        (
            "dotenv",
            "env",
            b"# top\nA=1\nB=\"quoted value\"\nC='single'\nD=a=b=c\nE=\nF=multi\\nline\nexport G=exp\n\n#c2\nI=with # hash\nPASSWORD=x\nsecret_enc=y\nplain_pub=z\n".to_vec(),
        ),
        (
            "ini",
            "ini",
            b"; file comment\ntop=1\n\n[sec1]\n# key comment\na = 1\nb=two words\nc = \"quoted\"\nd = x=y\ne =\nf = true ; trailing\npassword = p\n\n[sec.two]\ng = 3.5\nml = \"\"\"line1\nline2\"\"\"\ndup = first\ndup = second\n".to_vec(),
        ),
        ("binary", "bin", b"hello\x00\xff\xfe world\n".to_vec()),
    ];
    // Long keys and values, many entries.
    let mut long = String::from("big:\n");
    for i in 0..200 {
        long.push_str(&format!("  key_{i}: value-{i}-{}\n", "x".repeat(i % 50)));
    }
    v.push(("long", "yaml", long.into_bytes()));
    v
}

/// Encryption rules: `None` for the default, else a `.sops.yaml` creation-rule body (both
/// tools read the same config, so flags the sops 3.11 subcommands lack are covered too).
fn rules() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        ("default", None),
        (
            "encrypted_regex",
            Some("encrypted_regex: ^(password|data|stringData|s.*)$"),
        ),
        (
            "unencrypted_regex",
            Some("unencrypted_regex: ^(plain.*|n.*|apiVersion|kind)$"),
        ),
        ("encrypted_suffix", Some("encrypted_suffix: _enc")),
        ("unencrypted_suffix", Some("unencrypted_suffix: _pub")),
        (
            "encrypted_comment_regex",
            Some("encrypted_comment_regex: sops:enc"),
        ),
        (
            "unencrypted_comment_regex",
            Some("unencrypted_comment_regex: sops:plain"),
        ),
        (
            "mac_only_encrypted",
            Some("encrypted_regex: ^(password|s.*)$\n    mac_only_encrypted: true"),
        ),
    ]
}

/// Recipients: each with the `.sops.yaml` key lines and the identity file that opens it.
pub(crate) struct Keys {
    pub name: &'static str,
    pub config: String,
    pub env: Vec<(String, String)>,
}

fn key_setups(sb: &Sandbox) -> Vec<Keys> {
    // A combined identity file for key groups (both identities needed).
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(test_key()).unwrap(),
        std::fs::read_to_string(test_key2()).unwrap()
    );
    let both_path = sb.write("keys/both.txt", &both);
    let ssh = sb.path("keys/id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "diff", "-f"])
        .arg(&ssh)
        .status()
        .expect("ssh-keygen is required (openssh-client)");
    assert!(st.success());
    let ssh_pub = std::fs::read_to_string(ssh.with_extension("pub")).unwrap();
    let one = |k: &Path| vec![("SOPS_AGE_KEY_FILE".to_owned(), k.display().to_string())];
    vec![
        Keys {
            name: "age",
            config: format!("age: {TEST_RECIPIENT}"),
            env: one(&test_key()),
        },
        Keys {
            name: "two-age",
            config: format!("age: {TEST_RECIPIENT},{TEST_RECIPIENT2}"),
            env: one(&test_key2()),
        },
        Keys {
            name: "ssh-ed25519",
            config: format!("age: '{}'", ssh_pub.trim()),
            env: vec![(
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE".to_owned(),
                ssh.display().to_string(),
            )],
        },
        Keys {
            name: "shamir-2-of-2",
            config: format!(
                "shamir_threshold: 2\n    key_groups:\n      - age: [{TEST_RECIPIENT}]\n      - age: [{TEST_RECIPIENT2}]"
            ),
            env: one(&both_path),
        },
    ]
}

fn format_of(ext: &str) -> &'static str {
    match ext {
        "yaml" => "yaml",
        "json" => "json",
        "env" => "dotenv",
        "ini" => "ini",
        _ => "binary",
    }
}

/// dotenv meaning: the KEY=VALUE lines (sops drops blank lines; comments are presentation).
fn dotenv_sem(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// INI meaning as go-ini reads an output: section.key = value, quotes removed.
fn ini_sem(b: &[u8]) -> String {
    let mut out = String::new();
    let mut section = "DEFAULT".to_owned();
    let text = String::from_utf8_lossy(b);
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let t = l.trim();
        if t.is_empty() || t.starts_with([';', '#']) {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].to_owned();
            continue;
        }
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        let mut v = v.trim().to_owned();
        if v.starts_with("\"\"\"") && !v[3..].contains("\"\"\"") {
            for more in lines.by_ref() {
                v.push('\n');
                v.push_str(more);
                if more.contains("\"\"\"") {
                    break;
                }
            }
        }
        for q in ["\"\"\"", "\"", "'", "`"] {
            if v.len() >= 2 * q.len() && v.starts_with(q) && v.ends_with(q) {
                v = v[q.len()..v.len() - q.len()].to_owned();
                break;
            }
        }
        out.push_str(&format!("{section}.{}={v:?}\n", k.trim()));
    }
    out
}

fn meaning(format: &str, b: &[u8]) -> String {
    match format {
        "yaml" | "json" => sem(format, b),
        "dotenv" => dotenv_sem(b),
        "ini" => ini_sem(b),
        _ => format!("{b:?}"),
    }
}

/// Runs one (case, rule, keys) combination and returns its mismatches.
pub(crate) fn check(
    sb: &Sandbox,
    dir: &str,
    (name, ext, content): &(&str, &str, Vec<u8>),
    (rule_name, rule): &(&str, Option<&str>),
    keys: &Keys,
) -> Vec<String> {
    let label = format!("{name}.{ext} / {rule_name} / {}", keys.name);
    let d = sb.path(dir);
    std::fs::create_dir_all(&d).unwrap();
    let mut cfg = format!("creation_rules:\n  - {}\n", keys.config);
    if let Some(r) = rule {
        cfg.push_str(&format!("    {r}\n"));
    }
    std::fs::write(d.join(".sops.yaml"), &cfg).unwrap();
    let input = d.join(format!("in.{ext}"));
    std::fs::write(&input, content).unwrap();
    let fmt = format_of(ext);
    let run = |mut c: Command, args: &[&str], file: &Path| {
        c.current_dir(&d);
        for (k, v) in &keys.env {
            c.env(k, v);
        }
        c.args(args).arg(file).run()
    };
    let mut bad = Vec::new();
    let s_enc = run(sops_cmd(sb), &["encrypt"], &input);
    let h_enc = run(sb.cmd(), &["encrypt"], &input);
    match (s_enc.status.success(), h_enc.status.success()) {
        (true, true) => {}
        (false, false) => {
            bad.push(format!(
                "{label}: both refused to encrypt (sops: {})",
                stderr(&s_enc).trim()
            ));
            return bad;
        }
        (s, h) => {
            bad.push(format!(
                "{label}: encrypt: sops ok={s} shroud ok={h} | sops: {} | shroud: {}",
                stderr(&s_enc).trim(),
                stderr(&h_enc).trim()
            ));
            return bad;
        }
    }
    let s_file = d.join(format!("s.{ext}"));
    let h_file = d.join(format!("h.{ext}"));
    std::fs::write(&s_file, &s_enc.stdout).unwrap();
    std::fs::write(&h_file, &h_enc.stdout).unwrap();
    let outs = [
        (
            "sops decrypt sops-file",
            run(sops_cmd(sb), &["decrypt"], &s_file),
        ),
        (
            "sops decrypt shroud-file",
            run(sops_cmd(sb), &["decrypt"], &h_file),
        ),
        (
            "shroud decrypt sops-file",
            run(sb.cmd(), &["decrypt"], &s_file),
        ),
        (
            "shroud decrypt shroud-file",
            run(sb.cmd(), &["decrypt"], &h_file),
        ),
    ];
    let input_meaning = meaning(fmt, content);
    // sops cannot decrypt its own file for some inputs (its YAML emitter fails on them): then
    // it must fail the same way on shroud's file, and shroud must give back the input.
    if !outs[0].1.status.success() {
        if outs[1].1.status.success() {
            bad.push(format!(
                "{label}: sops fails on its own file but not on shroud's: {}",
                stderr(&outs[0].1).trim()
            ));
        }
        for (what, o) in &outs[2..] {
            if !o.status.success() || meaning(fmt, &o.stdout) != input_meaning {
                bad.push(format!(
                    "{label}: {what} does not give back the input (sops itself cannot: {})",
                    stderr(&outs[0].1).trim()
                ));
            }
        }
        return bad;
    }
    for (what, o) in &outs {
        if !o.status.success() {
            bad.push(format!("{label}: {what} failed: {}", stderr(o).trim()));
        }
    }
    if !bad.is_empty() {
        return bad;
    }
    let reference = meaning(fmt, &outs[0].1.stdout);
    // Where sops's own round trip loses something (a value its YAML emitter cannot write),
    // shroud must keep the input; sops must still treat both files the same.
    let sops_lossy = matches!(fmt, "yaml" | "json") && reference != input_meaning;
    for (i, (what, o)) in outs.iter().enumerate().skip(1) {
        let m = meaning(fmt, &o.stdout);
        let ok = m == reference || (sops_lossy && i >= 2 && m == input_meaning);
        if !ok {
            bad.push(format!(
                "{label}: {what} means something else than sops decrypt of sops's file:\n  sops:   {}\n  {what}: {}\n  input:  {}",
                reference.trim(),
                m.trim(),
                input_meaning.trim()
            ));
        }
    }
    bad
}

/// The whole matrix: every case × every rule with one age key, and every case × every key
/// setup with the default rule.
#[test]
fn both_directions_across_inputs_rules_and_keys() {
    let sb = Sandbox::new();
    let keys = key_setups(&sb);
    let cases = cases();
    let rules = rules();
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
    for c in 0..cases.len() {
        for r in 0..rules.len() {
            jobs.push((c, r, 0));
        }
        for k in 1..keys.len() {
            jobs.push((c, 0, k));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(c, r, k)) = jobs.get(i) else { break };
                    let bad = check(&sb, &format!("job{i}"), &cases[c], &rules[r], &keys[k]);
                    found.lock().unwrap().extend(bad);
                }
            });
        }
    });
    let found = found.into_inner().unwrap();
    assert!(
        found.is_empty(),
        "{} mismatches in {} combinations:\n{}",
        found.len(),
        jobs.len(),
        found.join("\n")
    );
    eprintln!(
        "differential: {} combinations, 4 decryptions each, no mismatch",
        jobs.len()
    );
}

/// AWS KMS on a real moto_server, with and without an encryption context: files written by
/// either tool open in the other.
#[test]
fn aws_kms_both_directions() {
    let moto = crate::kms::Moto::start();
    let arn = moto.create_key("us-east-1");
    let sb = Sandbox::new();
    let aws = vec![
        ("AWS_ENDPOINT_URL".to_owned(), moto.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    let setups = [
        Keys {
            name: "kms",
            config: format!("kms: {arn}"),
            env: aws.clone(),
        },
        Keys {
            name: "kms-context",
            config: format!(
                "key_groups:\n      - kms:\n          - arn: {arn}\n            context:\n              Env: prod\n              App: shroud"
            ),
            env: aws.clone(),
        },
    ];
    let mut found = Vec::new();
    let mut n = 0;
    for (i, case) in cases().iter().enumerate() {
        for keys in &setups {
            n += 1;
            found.extend(check(
                &sb,
                &format!("kms{i}{}", keys.name),
                case,
                &("default", None),
                keys,
            ));
        }
    }
    assert!(
        found.is_empty(),
        "{} mismatches:\n{}",
        found.len(),
        found.join("\n")
    );
    eprintln!("differential kms: {n} combinations, no mismatch");
}

/// Which tool runs a command.
#[derive(Clone, Copy, Debug)]
enum Tool {
    Sops,
    Shroud,
}

fn tool(sb: &Sandbox, t: Tool, dir: &Path) -> Command {
    let mut c = match t {
        Tool::Sops => sops_cmd(sb),
        Tool::Shroud => sb.cmd(),
    };
    c.current_dir(dir);
    c
}

/// `set`, `unset`, `edit`, `updatekeys` and `rotate` by one tool, then decryption (MAC
/// verified) by the other, for YAML, JSON and dotenv files.
#[test]
fn changes_by_one_tool_open_in_the_other() {
    let sb = Sandbox::new();
    let edit = sb.write(
        "edit.sh",
        "#!/bin/sh\nsed -e 's/^keep: .*/keep: edited/' -e 's/\"keep\": \"[^\"]*\"/\"keep\": \"edited\"/' -e 's/^KEEP=.*/KEEP=edited/' \"$1\" > \"$1.new\" && cat \"$1.new\" > \"$1\" && rm \"$1.new\"\n",
    );
    let inputs = [
        ("yaml", "keep: one\ndrop: two\nnested:\n  a: 1\n"),
        (
            "json",
            "{\"keep\": \"one\", \"drop\": \"two\", \"nested\": {\"a\": 1}}\n",
        ),
        ("env", "KEEP=one\nDROP=two\n"),
    ];
    let mut bad = Vec::new();
    for (ext, text) in inputs {
        for (writer, changer) in [(Tool::Sops, Tool::Shroud), (Tool::Shroud, Tool::Sops)] {
            let d = sb.path(&format!("{ext}-{writer:?}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join(".sops.yaml"),
                format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
            )
            .unwrap();
            let f = d.join(format!("f.{ext}"));
            std::fs::write(&f, text).unwrap();
            let key = |c: &mut Command, k: &Path| {
                c.env("SOPS_AGE_KEY_FILE", k);
            };
            let mut enc = tool(&sb, writer, &d);
            enc.args(["encrypt", "-i"]).arg(&f);
            assert_code(&enc.run(), 0);
            let (set_path, unset_path) = if ext == "env" {
                (r#"["NEW"]"#, r#"["DROP"]"#)
            } else {
                (r#"["nested"]["new"]"#, r#"["drop"]"#)
            };
            let steps: Vec<(&str, Vec<String>)> = vec![
                (
                    "set",
                    vec![
                        "set".into(),
                        f.display().to_string(),
                        set_path.into(),
                        "\"added\"".into(),
                    ],
                ),
                (
                    "unset",
                    vec!["unset".into(), f.display().to_string(), unset_path.into()],
                ),
                ("edit", vec!["edit".into(), f.display().to_string()]),
            ];
            for (what, args) in steps {
                let mut c = tool(&sb, changer, &d);
                key(&mut c, &test_key());
                c.env("EDITOR", format!("sh {}", edit.display()))
                    .env("SOPS_EDITOR", format!("sh {}", edit.display()))
                    .args(&args);
                let out = c.run();
                if !out.status.success() {
                    bad.push(format!(
                        "{ext}: {changer:?} {what} on a {writer:?} file failed: {}",
                        stderr(&out)
                    ));
                    continue;
                }
                let mut dec = tool(&sb, writer, &d);
                key(&mut dec, &test_key());
                let out = dec.arg("decrypt").arg(&f).run();
                if !out.status.success() {
                    bad.push(format!(
                        "{ext}: {writer:?} cannot open the file after {changer:?} {what}: {}",
                        stderr(&out)
                    ));
                }
            }
            let plain = {
                let mut dec = tool(&sb, writer, &d);
                key(&mut dec, &test_key());
                stdout(&dec.arg("decrypt").arg(&f).run())
            };
            for want in ["added", "edited"] {
                if !plain.contains(want) {
                    bad.push(format!("{ext}: {writer:?} file lost {want:?}: {plain}"));
                }
            }
            if plain.contains("two") {
                bad.push(format!(
                    "{ext}: unset by {changer:?} did not remove the value: {plain}"
                ));
            }
            // updatekeys by the changer for a second recipient; the writer opens with it alone.
            std::fs::write(
                d.join(".sops.yaml"),
                format!("creation_rules:\n  - age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"),
            )
            .unwrap();
            let mut up = tool(&sb, changer, &d);
            key(&mut up, &test_key());
            let out = up.args(["updatekeys", "-y"]).arg(&f).run();
            if !out.status.success() {
                bad.push(format!(
                    "{ext}: {changer:?} updatekeys failed: {}",
                    stderr(&out)
                ));
            }
            let mut dec = tool(&sb, writer, &d);
            key(&mut dec, &test_key2());
            let out = dec.arg("decrypt").arg(&f).run();
            if !out.status.success() {
                bad.push(format!(
                    "{ext}: {writer:?} cannot open with the key {changer:?} updatekeys added: {}",
                    stderr(&out)
                ));
            }
            // rotate by the changer removing the first recipient; the writer opens with R2 and
            // R1 no longer opens it.
            let mut rot = tool(&sb, changer, &d);
            key(&mut rot, &test_key());
            let out = rot
                .args(["rotate", "-i", "--rm-age", TEST_RECIPIENT])
                .arg(&f)
                .run();
            if !out.status.success() {
                bad.push(format!(
                    "{ext}: {changer:?} rotate failed: {}",
                    stderr(&out)
                ));
            }
            let mut dec = tool(&sb, writer, &d);
            key(&mut dec, &test_key2());
            if !dec.arg("decrypt").arg(&f).run().status.success() {
                bad.push(format!(
                    "{ext}: {writer:?} cannot open after {changer:?} rotate"
                ));
            }
            let mut old = tool(&sb, writer, &d);
            key(&mut old, &test_key());
            if old.arg("decrypt").arg(&f).run().status.success() {
                bad.push(format!(
                    "{ext}: the removed key still opens the file after {changer:?} rotate"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Both tools refuse the same inputs, and both detect the same tampering.
#[test]
fn refusals_and_tampering_agree() {
    let sb = Sandbox::new();
    let d = sb.path("r");
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in [
        ("uint64.yaml", "n: 9223372036854775808\n"),
        ("uint64-plain.yaml", "n_unencrypted: 18446744073709551615\n"),
        ("list.yaml", "- 1\n- 2\n"),
        ("dup.yaml", "a: 1\na: 2\n"),
        ("list.json", "[1, 2]\n"),
    ] {
        let f = d.join(name);
        std::fs::write(&f, text).unwrap();
        let s = tool(&sb, Tool::Sops, &d)
            .args(["encrypt", "--age", TEST_RECIPIENT])
            .arg(&f)
            .run();
        let h = tool(&sb, Tool::Shroud, &d)
            .args(["encrypt", "--age", TEST_RECIPIENT])
            .arg(&f)
            .run();
        assert!(!s.status.success(), "sops accepted {name}");
        assert!(
            !h.status.success(),
            "shroud accepted {name}: {}",
            stdout(&h)
        );
        assert!(h.stdout.is_empty());
    }
    // A changed value, a swapped pair, a changed plaintext value: each tool rejects the
    // other's file.
    let f = d.join("t.yaml");
    std::fs::write(&f, "a: first\nb: second\nc_unencrypted: visible\n").unwrap();
    for writer in [Tool::Sops, Tool::Shroud] {
        let enc = tool(&sb, writer, &d)
            .args(["encrypt", "--age", TEST_RECIPIENT])
            .arg(&f)
            .run();
        assert_code(&enc, 0);
        let text = stdout(&enc);
        let a = text
            .lines()
            .find(|l| l.starts_with("a: "))
            .unwrap()
            .to_owned();
        let b = text
            .lines()
            .find(|l| l.starts_with("b: "))
            .unwrap()
            .to_owned();
        let flipped = {
            let mut v = a.clone().into_bytes();
            let i = a.find("data:").unwrap() + 6;
            v[i] = if v[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(v).unwrap()
        };
        let variants = [
            text.replace(&a, &flipped),
            text.replace(&a, &format!("a: {}", &b[3..]))
                .replace(&b, &format!("b: {}", &a[3..])),
            text.replace("c_unencrypted: visible", "c_unencrypted: changed"),
        ];
        let reader = match writer {
            Tool::Sops => Tool::Shroud,
            Tool::Shroud => Tool::Sops,
        };
        for (i, v) in variants.iter().enumerate() {
            let m = d.join(format!("m{i}.yaml"));
            std::fs::write(&m, v).unwrap();
            let mut c = tool(&sb, reader, &d);
            c.env("SOPS_AGE_KEY_FILE", test_key());
            let out = c.arg("decrypt").arg(&m).run();
            assert!(
                !out.status.success(),
                "{reader:?} accepted tampering #{i} of a {writer:?} file"
            );
            assert!(out.stdout.is_empty());
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, .. proptest::prelude::ProptestConfig::default() })]

    /// Random trees (comments, lists, every scalar type, awkward keys and strings), written as
    /// YAML and JSON: both directions through the real sops mean the same.
    #[test]
    fn random_trees_both_directions(tree in crate::props::yaml_tree(), json in crate::props::map(3)) {
        let sb = Sandbox::new();
        let keys = Keys { name: "age", config: format!("age: {TEST_RECIPIENT}"), env: vec![("SOPS_AGE_KEY_FILE".to_owned(), test_key().display().to_string())] };
        let yaml = shroud::store::emit(shroud::store::Format::Yaml, &tree, Default::default()).unwrap();
        let mut bad = check(&sb, "y", &("random", "yaml", yaml.clone()), &("default", None), &keys);
        if !bad.is_empty() {
            bad.push(format!("input:\n{}", String::from_utf8_lossy(&yaml)));
        }
        let mut m = json;
        crate::props::strip_map_for_json(&mut m);
        let t = shroud::tree::Tree { branches: vec![m], ..Default::default() };
        let json = shroud::store::emit(shroud::store::Format::Json, &t, Default::default()).unwrap();
        bad.extend(check(&sb, "j", &("random", "json", json), &("encrypted_regex", Some("encrypted_regex: ^[a-m]")), &keys));
        proptest::prop_assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}

/// shroud's spellings of floats (the bytes sops encrypts and hashes, go-yaml's and
/// encoding/json's output) equal Go's own for random bit patterns and for exact ties.
#[test]
fn float_spellings_are_go_s() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut floats: Vec<f64> = (0..20_000)
        .map(|_| {
            proptest::num::f64::NORMAL
                .new_tree(&mut runner)
                .unwrap()
                .current()
        })
        .collect();
    floats.extend([
        "-2110556351937382.25".parse().unwrap(),
        0.0,
        -0.0,
        1e21,
        1e-7,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        123456.0,
        1234567.0,
        0.1 + 0.2,
    ]);
    let input: String = floats
        .iter()
        .map(|f| format!("{:016x}\n", f.to_bits()))
        .collect();
    let out = sem("floats", input.as_bytes());
    let mut bad = Vec::new();
    for (f, line) in floats.iter().zip(out.lines()) {
        let mut parts = line.split(' ');
        let (gf, gg, gj) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let ours = (
            shroud::tree::go_format_float(*f),
            shroud::tree::go_format_float_g(*f),
            shroud::tree::go_json_float(*f),
        );
        if (ours.0.as_str(), ours.1.as_str(), ours.2.as_str()) != (gf, gg, gj) {
            bad.push(format!("{:e}: go ({gf}, {gg}, {gj}) shroud {ours:?}", f));
        }
    }
    assert_eq!(out.lines().count(), floats.len());
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        floats.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

/// Issue 23 and the JSON finding: on a file written the way sops writes YAML, decrypting gives
/// the same bytes as `sops decrypt` — keys and values YAML 1.1 reads as another type keep
/// their quotes (`"yes": yyy`), and `--output-type json` is tab-indented — whichever tool
/// encrypted it.
#[test]
fn decrypted_bytes_match_sops_for_type_lookalikes_and_json_output() {
    let sb = Sandbox::new();
    let input = "\"yes\": yyy\n\"on\": 1\n\"y\": \"n\"\n\"Off\": x\nnested:\n    \"no\": \"yes\"\n    \"null\": \"~\"\n    list:\n        - \"on\"\n        - \"1:20\"\n        - \"0x1F\"\nplain: words\n";
    sb.write("in.yaml", input);
    let mut outputs = Vec::new();
    for (name, writer) in [("sops", Tool::Sops), ("shroud", Tool::Shroud)] {
        let out = tool(&sb, writer, sb.dir.path())
            .args(["encrypt", "--age", TEST_RECIPIENT, "in.yaml"])
            .output()
            .unwrap();
        assert_code(&out, 0);
        sb.write(&format!("{name}.yaml"), &stdout(&out));
        for args in [vec!["decrypt"], vec!["decrypt", "--output-type", "json"]] {
            let run = |t: Tool| {
                let mut c = tool(&sb, t, sb.dir.path());
                c.env("SOPS_AGE_KEY_FILE", test_key());
                let out = c.args(&args).arg(format!("{name}.yaml")).output().unwrap();
                assert_code(&out, 0);
                stdout(&out)
            };
            let (theirs, ours) = (run(Tool::Sops), run(Tool::Shroud));
            outputs.push((format!("{name} file, {}", args.join(" ")), theirs, ours));
        }
    }
    // The YAML reference is the input itself (sops's own layout).
    assert_eq!(outputs[0].1, input);
    for (what, theirs, ours) in &outputs {
        assert_eq!(ours, theirs, "{what}: shroud's output differs from sops's");
    }
    assert!(
        outputs[1].2.contains("\n\t\"yes\": \"yyy\""),
        "{}",
        outputs[1].2
    );
}

/// The red-team finding on comment markers: a marker on a key's own line (`user: admin #
/// sops:plain`) selects that key in sops 3.11 (go-yaml's line comment is walked before the
/// key), not the next one. For inline markers on scalars, on keys whose value is a map or a
/// list, on list items, for markers on the line before, with comments encrypted and not, under
/// both comment regexes (with and without `mac_only_encrypted`): shroud encrypts exactly the
/// values and comments sops encrypts, and each tool decrypts the other's file (MAC verified,
/// every encrypted comment opened). INI and dotenv files, where sops has its own attachment
/// rules, are held to the same standard.
#[test]
fn inline_comment_markers_select_what_sops_selects() {
    let inputs: [(&str, &str, &[u8]); 7] = [
        (
            "inline-scalar",
            "yaml",
            b"user: admin # sops:plain\npassword: hunter2\ntoken: abc # sops:enc\nnote: hello\n", // shroud:allow
        ),
        (
            "inline-collections",
            "yaml",
            // (Not `- k: v # marker`: sops writes that marker above the item, where it reads it
            // back for the whole item, so sops cannot decrypt its own file.)
            b"db: # sops:plain\n  pass: x\nlist: # sops:enc\n  - a\nother: y\ndb2:\n  pass: x # sops:plain\n  user: y\nlm:\n  - z # sops:plain\n  - w\n  - {f: 1, g: [2, 3]} # sops:enc\nlast: q # sops:enc\n", // shroud:allow
        ),
        (
            "line-before",
            "yaml",
            b"# sops:plain\nuser: admin\npassword: hunter2\n# sops:enc\ntoken: abc\nnote: hello\n", // shroud:allow
        ),
        (
            "comments-encrypted",
            "yaml",
            b"# sops:enc\nkey: v # a note\nn2: x # sops:plain\n# own note\nafter: 1\nm:\n  a: 1 # note in m\n  b: 2\n",
        ),
        (
            "flow",
            "yaml",
            b"flow: {p: 1} # sops:plain\nafter: 2\nfl: [1, 2] # sops:enc\nafter3: 3\n",
        ),
        // No analogue in the line formats: sops's INI store gives a key's comments (before it
        // or on its line) to that key, walked after it; dotenv comments are whole lines.
        (
            "ini",
            "ini",
            b"[s]\n; sops:plain\na = 1\nb = 2\nc = 3 ; sops:plain\nd = 4\n# sops:enc\ne = 5\nf = 6\n",
        ),
        (
            "dotenv",
            "env",
            b"# sops:plain\nA=1\nB=2\nC=3 # sops:plain\nD=4\n# sops:enc\nE=5\nF=6\n",
        ),
    ];
    let rules = [
        (
            "encrypted_comment_regex",
            "encrypted_comment_regex: sops:enc",
        ),
        (
            "unencrypted_comment_regex",
            "unencrypted_comment_regex: sops:plain",
        ),
        (
            "encrypted_comment_regex+mac_only_encrypted",
            "encrypted_comment_regex: sops:enc\n    mac_only_encrypted: true",
        ),
        (
            "unencrypted_comment_regex+mac_only_encrypted",
            "unencrypted_comment_regex: sops:plain\n    mac_only_encrypted: true",
        ),
    ];
    let sb = Sandbox::new();
    let keys = key_setups(&sb).remove(0);
    let enc =
        regex::Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:(\w+)\]").unwrap();
    // What a file encrypts: its data (the `sops` section cut off) as go-yaml reads it (YAML)
    // or its lines (INI, dotenv), every ciphertext replaced by its type; and how many comments
    // it encrypts.
    let shape = |ext: &str, b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let data = match ext {
            "yaml" => text
                .split("\nsops:\n")
                .next()
                .unwrap_or_default()
                .to_owned(),
            "ini" => text.split("[sops]").next().unwrap_or_default().to_owned(),
            _ => text
                .lines()
                .filter(|l| !l.starts_with("sops_"))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let comments = enc
            .captures_iter(&data)
            .filter(|c| &c[1] == "comment")
            .count();
        if ext != "yaml" {
            return (enc.replace_all(&data, "ENC:$1").into_owned(), comments);
        }
        // sops writes an encrypted comment of a list as a list item: presentation only.
        let meaning = sem("yaml", data.as_bytes());
        let data = enc.replace_all(&meaning, "ENC:$1");
        (data.replace("str:\"ENC:comment\",", ""), comments)
    };
    let mut bad = Vec::new();
    for (i, (name, ext, input)) in inputs.iter().enumerate() {
        for (j, (rule_name, rule)) in rules.iter().enumerate() {
            let dir = format!("m{i}-{j}");
            let case = (*name, *ext, input.to_vec());
            bad.extend(check(&sb, &dir, &case, &(rule_name, Some(rule)), &keys));
            let d = sb.path(&dir);
            let (s_file, h_file) = (format!("s.{ext}"), format!("h.{ext}"));
            let s = std::fs::read(d.join(&s_file)).unwrap_or_default();
            let h = std::fs::read(d.join(&h_file)).unwrap_or_default();
            let (s_shape, h_shape) = (shape(ext, &s), shape(ext, &h));
            if s_shape != h_shape {
                bad.push(format!(
                    "{name} / {rule_name}: encrypts other values or comments than sops:\n  sops:   {s_shape:?}\n  shroud: {h_shape:?}"
                ));
            }
            // Every encrypted comment opens in the other tool (sops leaves one it cannot open
            // as `ENC[...]` text with a warning).
            for (tool, file) in [("sops", &h_file), ("shroud", &s_file)] {
                let cmd = if tool == "sops" {
                    sops_cmd(&sb)
                } else {
                    sb.cmd()
                };
                let mut cmd = cmd;
                cmd.current_dir(&d);
                for (k, v) in &keys.env {
                    cmd.env(k, v);
                }
                let out = cmd.arg("decrypt").arg(file).run();
                if String::from_utf8_lossy(&out.stdout).contains("ENC[") {
                    bad.push(format!(
                        "{name} / {rule_name}: {tool} leaves a comment of {file} encrypted"
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
