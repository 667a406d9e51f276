//! The drop-in argv layer, differentially: a corpus of command lines (every boolean flag in
//! every spelling, refused values included; flags before and after the file; repeated flags;
//! `--`; `--help` anywhere; unknown flags and bad syntax) runs through the real sops 3.11 and
//! through shroud invoked as `sops`, each on its own copy of the same files with the same keys.
//! The exit status (exactly), stdout where it is deterministic, and the files left behind
//! (encrypted ones compared after decryption by the real sops, others byte for byte) must agree.
//! A run that reads stdin when it must not, or hangs, fails.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::sops_mode::{real_sops, shroud_as_sops};
use crate::util::*;

fn config(recipients: &[&str]) -> String {
    format!(
        "creation_rules:\n  - path_regex: \\.(yaml|json|env)$\n    age: {}\n",
        recipients.join(",")
    )
}

/// The files every sandbox starts with; the encrypted ones are made by the real sops.
fn fixture() -> &'static BTreeMap<String, Vec<u8>> {
    static F: std::sync::OnceLock<BTreeMap<String, Vec<u8>>> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let sb = Sandbox::new();
        sb.write(".sops.yaml", &config(&[TEST_RECIPIENT]));
        sb.write("p.yaml", "a: 1\nb: two\n");
        sb.write("p.env", "A=1\nB=two\n");
        sb.write("v.json", "\"from-file\"\n");
        sb.write("alt.yaml", &config(&[TEST_RECIPIENT2]));
        for (plain, enc) in [("p.yaml", "s.yaml"), ("p.env", "s.env")] {
            let o = real_sops(&sb)
                .args(["encrypt", plain])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            std::fs::write(sb.path(enc), &o.stdout).unwrap();
        }
        sb.write(
            "n.yaml",
            "db:\n    password: hunter2\nlist:\n    - a\n    - b\n", // shroud:allow
        );
        let two = format!("{TEST_RECIPIENT},{TEST_RECIPIENT2}");
        for (plain, enc, extra) in [
            ("n.yaml", "sn.yaml", &[][..]),
            ("p.yaml", "s2.yaml", &["--age", two.as_str()][..]),
        ] {
            let o = real_sops(&sb)
                .arg("encrypt")
                .args(extra)
                .arg(plain)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            std::fs::write(sb.path(enc), &o.stdout).unwrap();
        }
        std::fs::copy(sb.path("s.yaml"), sb.path("g.yaml")).unwrap();
        let o = real_sops(&sb)
            .args([
                "groups",
                "add",
                "-i",
                "-f",
                "g.yaml",
                "--age",
                TEST_RECIPIENT2,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        files(sb.dir.path())
    })
}

/// Every regular file under `dir` but the `sops` link and tool state in HOME.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if ["bin", ".config", ".cache", ".local", ".gnupg"].contains(&rel.as_str()) {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[derive(Clone)]
enum Input {
    /// /dev/null.
    Null,
    /// These bytes, then end of input.
    Bytes(Vec<u8>),
    /// A pipe that stays open: a run that reads stdin hangs, and fails.
    Open,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Null => write!(f, "null"),
            Input::Open => write!(f, "open"),
            Input::Bytes(b) if b.len() > 40 => write!(f, "{} bytes", b.len()),
            Input::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    args: Vec<String>,
    stdin: Input,
    env: Vec<(&'static str, String)>,
    config: Option<String>,
    /// Compare stdout bytes (when both succeed).
    stdout: bool,
}

fn case(args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: Input::Null,
        env: Vec::new(),
        config: None,
        stdout: false,
    }
}

impl Case {
    fn out(mut self) -> Case {
        self.stdout = true;
        self
    }
    fn stdin(mut self, i: Input) -> Case {
        self.stdin = i;
        self
    }
    fn env(mut self, k: &'static str, v: &str) -> Case {
        self.env.push((k, v.to_owned()));
        self
    }
    fn config(mut self, c: String) -> Case {
        self.config = Some(c);
        self
    }
}

struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    files: BTreeMap<String, Vec<u8>>,
    sb: Sandbox,
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Sops,
    Shroud,
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn run(tool: Tool, c: &Case) -> Ran {
    let sb = Sandbox::new();
    for (name, bytes) in fixture() {
        let p = sb.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    if let Some(cfg) = &c.config {
        sb.write(".sops.yaml", cfg);
    }
    let mut cmd = match tool {
        Tool::Sops => real_sops(&sb),
        Tool::Shroud => shroud_as_sops(&sb),
    };
    cmd.env("EDITOR", "true")
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    cmd.args(&c.args)
        .stdin(match c.stdin {
            Input::Null => Stdio::null(),
            _ => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut keep_open = None;
    if let Some(mut w) = child.stdin.take() {
        match &c.stdin {
            Input::Bytes(b) => {
                let b = b.clone();
                std::thread::spawn(move || {
                    let _ = w.write_all(&b);
                });
            }
            _ => keep_open = Some(w),
        }
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {:?} did not finish within {TIMEOUT:?} (does it read stdin?)",
                if tool == Tool::Sops {
                    "sops"
                } else {
                    "shroud-as-sops"
                },
                c.args
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(keep_open);
    let stdout = out_t.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    Ran {
        code: status.code(),
        stdout,
        stderr,
        files: files(sb.dir.path()),
        sb,
    }
}

/// A key file with both test identities (a file may gain a group for the second key).
fn both_keys() -> &'static Path {
    static F: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    &F.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("keys.txt");
        let mut all = std::fs::read(test_key()).unwrap();
        all.push(b'\n');
        all.extend(std::fs::read(test_key2()).unwrap());
        std::fs::write(&p, all).unwrap();
        (d, p)
    })
    .1
}

/// What the real sops decrypts a file to (the format from its content and name).
fn plaintext(sb: &Sandbox, name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut c = real_sops(sb);
    c.env("SOPS_AGE_KEY_FILE", both_keys());
    c.arg("decrypt");
    if json {
        c.args(["--input-type", "json", "--output-type", "json"]);
    }
    let o = c.arg(name).stdin(Stdio::null()).output().unwrap();
    if o.status.success() {
        Ok(o.stdout)
    } else {
        Err(stderr(&o))
    }
}

/// The age recipients a file names, sorted.
fn recipients(b: &[u8]) -> Vec<String> {
    let t = String::from_utf8_lossy(b);
    let mut r: Vec<String> = t
        .match_indices("age1")
        .map(|(i, _)| {
            t[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect()
        })
        .filter(|r: &String| r.len() == 62)
        .collect();
    r.sort();
    r.dedup();
    r
}

fn is_sops_file(b: &[u8]) -> bool {
    let t = String::from_utf8_lossy(b);
    t.contains("ENC[AES256_GCM") && (t.contains("sops") || t.contains("SOPS"))
}

/// The differences between the two runs of one case.
fn differences(c: &Case, s: &Ran, h: &Ran) -> Vec<String> {
    let mut bad = Vec::new();
    if s.code != h.code {
        bad.push(format!(
            "exit: sops {:?}, shroud {:?} (sops: {}; shroud: {})",
            s.code,
            h.code,
            s.stderr.trim(),
            h.stderr.trim()
        ));
    }
    if h.stderr.contains("panicked") {
        bad.push(format!("shroud panicked: {}", h.stderr));
    }
    let help = s.stdout.starts_with(b"NAME:");
    if c.stdout && !help && s.code == Some(0) && h.code == Some(0) && s.stdout != h.stdout {
        bad.push(format!(
            "stdout: sops {:?}, shroud {:?}",
            String::from_utf8_lossy(&s.stdout),
            String::from_utf8_lossy(&h.stdout)
        ));
    }
    // Help: shroud's must be sops's help, not shroud's.
    if help {
        let hs = String::from_utf8_lossy(&h.stdout);
        if !hs.starts_with("NAME:\n   sops") || hs.contains("Usage: shroud") {
            bad.push(format!("help does not say sops: {hs:?}"));
        }
    }
    let names: Vec<&String> = s.files.keys().chain(h.files.keys()).collect();
    for name in names.into_iter().collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = (s.files.get(name), h.files.get(name));
        match (a, b) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                if is_sops_file(a) && is_sops_file(b) {
                    if recipients(a) != recipients(b) {
                        bad.push(format!(
                            "{name}: recipients {:?} (sops) and {:?} (shroud)",
                            recipients(a),
                            recipients(b)
                        ));
                    }
                    let (pa, pb) = (plaintext(&s.sb, name, a), plaintext(&h.sb, name, b));
                    if pa != pb {
                        bad.push(format!(
                            "{name}: decrypts to {:?} (sops) and {:?} (shroud)",
                            pa.map(|v| String::from_utf8_lossy(&v).into_owned()),
                            pb.map(|v| String::from_utf8_lossy(&v).into_owned())
                        ));
                    }
                } else {
                    bad.push(format!(
                        "{name}: sops left {:?}, shroud left {:?}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    ));
                }
            }
            (a, b) => bad.push(format!(
                "{name}: exists after sops: {}, after shroud: {}",
                a.is_some(),
                b.is_some()
            )),
        }
    }
    bad
}

const TRUE_VALUES: &[&str] = &["1", "t", "T", "TRUE", "true", "True"];
const FALSE_VALUES: &[&str] = &["0", "f", "F", "FALSE", "false", "False"];
const REFUSED_VALUES: &[&str] = &["yes", "no", "y", "on", "", "2", "tRUE", "TRUE "];

/// Every spelling of a boolean flag: `-n`, `--n` for each name, and `=value` forms for every
/// value (all of them when `all`, else one true, one false and two refused), spread over the
/// names and dash counts.
fn spellings(names: &[&str], all: bool) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        out.push(format!("-{n}"));
        out.push(format!("--{n}"));
    }
    let values: Vec<&str> = if all {
        TRUE_VALUES
            .iter()
            .chain(FALSE_VALUES)
            .chain(REFUSED_VALUES)
            .copied()
            .collect()
    } else {
        vec!["T", "False", "yes", ""]
    };
    for (i, v) in values.iter().enumerate() {
        let n = names[i % names.len()];
        let dashes = if (i / names.len()).is_multiple_of(2) {
            "-"
        } else {
            "--"
        };
        out.push(format!("{dashes}{n}={v}"));
    }
    out
}

/// Cases for one boolean flag: `template` holds `FLAG` where each spelling goes.
fn bool_cases(
    names: &[&str],
    all: bool,
    template: &[&str],
    make: impl Fn(Case) -> Case,
) -> Vec<Case> {
    spellings(names, all)
        .into_iter()
        .map(|f| {
            let args: Vec<&str> = template
                .iter()
                .map(|a| if *a == "FLAG" { f.as_str() } else { a })
                .collect();
            make(case(&args))
        })
        .collect()
}

fn corpus() -> Vec<Case> {
    let id = |c: Case| c;
    let out = |c: Case| c.out();
    let two = config(&[TEST_RECIPIENT, TEST_RECIPIENT2]);
    let mut v = Vec::new();
    // The dangerous ones, with every value: in-place decryption, the MAC check, the legacy
    // selectors.
    v.extend(bool_cases(
        &["in-place", "i"],
        true,
        &["decrypt", "FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["in-place", "i"],
        true,
        &["decrypt", "s.yaml", "FLAG"],
        out,
    ));
    v.extend(bool_cases(
        &["in-place", "i"],
        true,
        &["-d", "FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["ignore-mac"],
        true,
        &["decrypt", "FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["decrypt", "d"],
        true,
        &["FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["in-place", "i"],
        true,
        &["encrypt", "FLAG", "p.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["help", "h"],
        true,
        &["decrypt", "FLAG", "s.yaml"],
        |c| c.out().stdin(Input::Open),
    ));
    // Every other boolean flag of every verb and of the top level.
    v.extend(bool_cases(
        &["help", "h"],
        false,
        &["decrypt", "s.yaml", "FLAG"],
        |c| c.stdin(Input::Open),
    ));
    v.extend(bool_cases(
        &["help", "h"],
        false,
        &["FLAG", "decrypt", "s.yaml"],
        |c| c.stdin(Input::Open),
    ));
    v.extend(bool_cases(
        &["help", "h"],
        false,
        &["-d", "FLAG", "s.yaml"],
        |c| c.stdin(Input::Open),
    ));
    v.extend(bool_cases(
        &["version", "v"],
        false,
        &["FLAG", "-d", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["encrypt", "e"],
        false,
        &["FLAG", "-i", "p.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["rotate", "r"],
        false,
        &["FLAG", "-i", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["show-master-keys", "s"],
        false,
        &["FLAG", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["ignore-mac"],
        false,
        &["-d", "FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["mac-only-encrypted"],
        false,
        &["-e", "-i", "FLAG", "p.yaml"],
        id,
    ));
    for top in [
        "verbose",
        "disable-version-check",
        "check-for-updates",
        "enable-local-keyservice",
    ] {
        v.extend(bool_cases(&[top], false, &["-d", "FLAG", "s.yaml"], out));
    }
    v.extend(bool_cases(
        &["enable-local-keyservice"],
        false,
        &["decrypt", "FLAG", "s.yaml"],
        out,
    ));
    v.extend(bool_cases(
        &["in-place", "i"],
        false,
        &["rotate", "FLAG", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["show-master-keys", "s"],
        false,
        &["edit", "FLAG", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["ignore-mac"],
        false,
        &["edit", "FLAG", "s.yaml"],
        id,
    ));
    v.extend(bool_cases(
        &["value-file"],
        false,
        &["set", "FLAG", "s.yaml", "[\"a\"]", "v.json"],
        id,
    ));
    v.extend(bool_cases(
        &["value-stdin"],
        false,
        &["set", "FLAG", "s.yaml", "[\"a\"]"],
        |c| c.stdin(Input::Bytes(b"\"from-stdin\"".to_vec())),
    ));
    v.extend(bool_cases(
        &["idempotent"],
        false,
        &["set", "FLAG", "s.yaml", "[\"a\"]", "1"],
        id,
    ));
    v.extend(bool_cases(
        &["ignore-mac"],
        false,
        &["set", "FLAG", "s.yaml", "[\"a\"]", "2"],
        id,
    ));
    v.extend(bool_cases(
        &["idempotent"],
        false,
        &["unset", "FLAG", "s.yaml", "[\"nope\"]"],
        id,
    ));
    v.extend(bool_cases(
        &["ignore-mac"],
        false,
        &["unset", "FLAG", "s.yaml", "[\"b\"]"],
        id,
    ));
    v.extend(bool_cases(
        &["yes", "y"],
        false,
        &["updatekeys", "FLAG", "s.yaml"],
        |c| c.config(two.clone()),
    ));
    v.extend(bool_cases(
        &["pristine"],
        false,
        &["exec-env", "FLAG", "s.env", "echo \"$A\" ${PATH:+path}"],
        out,
    ));
    v.extend(bool_cases(
        &["same-process"],
        false,
        &["exec-env", "FLAG", "s.env", "echo \"$B\""],
        out,
    ));
    v.extend(bool_cases(
        &["background"],
        false,
        &["exec-env", "FLAG", "s.env", "true"],
        id,
    ));
    v.extend(bool_cases(
        &["no-fifo"],
        false,
        &["exec-file", "FLAG", "s.yaml", "cat {}"],
        out,
    ));
    // (exec-file --background is left out: sops 3.11 removes the FIFO while its writer may
    // still open it, so it exits 0 or 1 at random; sops_mode tests shroud's behaviour.)
    v.extend(bool_cases(
        &["in-place", "i"],
        false,
        &[
            "groups",
            "add",
            "-f",
            "s.yaml",
            "--age",
            TEST_RECIPIENT2,
            "FLAG",
        ],
        id,
    ));
    v.extend(bool_cases(
        &["in-place", "i"],
        false,
        &["groups", "delete", "-f", "g.yaml", "FLAG", "1"],
        id,
    ));
    v.extend(bool_cases(
        &["enable-local-keyservice"],
        false,
        &["filestatus", "FLAG", "s.yaml"],
        out,
    ));
    // Flags after the file: moved before it for commands, ignored by the legacy form.
    for args in [
        &["decrypt", "s.yaml", "--extract", "[\"b\"]"][..],
        &["decrypt", "s.yaml", "--output-type", "dotenv"],
        &["decrypt", "s.yaml", "--nope"],
        &["decrypt", "s.yaml", "-i", "x"],
        &["decrypt", "s.yaml", "--extract", "--nope"],
        &["-d", "s.yaml", "-i"],
        &["-d", "s.yaml", "--output-type", "json"],
        &["encrypt", "p.yaml", "-i"],
        &["encrypt", "p.yaml", "--output", "o.yaml"],
        &["set", "s.yaml", "[\"a\"]", "3", "--idempotent"],
        &["unset", "s.yaml", "[\"a\"]", "--ignore-mac"],
        &["rotate", "s.yaml", "-i"],
        &["filestatus", "p.yaml", "--input-type", "yaml"],
        &["exec-env", "s.env", "echo \"$A\"", "--pristine"],
        &["exec-file", "s.yaml", "cat {}", "--no-fifo"],
        &["groups", "delete", "1", "-f", "g.yaml", "-i"],
    ] {
        v.push(case(args).out());
    }
    // Repeated flags: the last scalar wins; two names of one flag are refused.
    for args in [
        &[
            "decrypt",
            "--output-type",
            "json",
            "--output-type",
            "yaml",
            "s.yaml",
        ][..],
        &[
            "decrypt",
            "--extract",
            "[\"a\"]",
            "--extract",
            "[\"b\"]",
            "s.yaml",
        ],
        &[
            "--indent",
            "2",
            "--indent",
            "4",
            "-d",
            "--output-type",
            "json",
            "s.yaml",
        ],
        &["-d", "--output-type=json", "-output-type", "yaml", "s.yaml"],
        &["decrypt", "-i", "-i", "s.yaml"],
        &["decrypt", "-i", "--i", "s.yaml"],
        &["decrypt", "-i", "--in-place", "s.yaml"],
        &["-d", "--decrypt", "s.yaml"],
        &["-d", "-d", "s.yaml"],
        &[
            "-e",
            "-i",
            "--age",
            TEST_RECIPIENT2,
            "--age",
            TEST_RECIPIENT,
            "p.yaml",
        ],
        &[
            "groups",
            "add",
            "-f",
            "s.yaml",
            "--age",
            TEST_RECIPIENT2,
            "--age",
            TEST_RECIPIENT,
            "-i",
        ],
        &[
            "groups",
            "add",
            "-f",
            "s.yaml",
            "--file",
            "s.yaml",
            "--age",
            TEST_RECIPIENT2,
        ],
        &["-d", "-e", "s.yaml"],
        &["-e", "-d", "s.yaml"],
    ] {
        v.push(case(args).out());
    }
    // `--` ends the flags.
    for args in [
        &["decrypt", "--", "s.yaml"][..],
        &["decrypt", "s.yaml", "--", "-i"],
        &["decrypt", "-i", "--", "s.yaml"],
        &["decrypt", "--extract", "--", "s.yaml"],
        &["-d", "--", "s.yaml"],
        &["-d", "-i", "--", "s.yaml"],
        &["exec-env", "s.env", "--", "echo \"$A\""],
        &["exec-env", "--", "s.env", "echo \"$A\""],
        &["--", "-d", "s.yaml"],
    ] {
        v.push(case(args).out());
    }
    // --help anywhere prints help and touches nothing: no stdin, no decryption, no editor.
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["h"],
        &["help", "decrypt"],
        &["help", "groups"],
        &["help", "nope"],
        &["decrypt", "--help"],
        &["encrypt", "--help"],
        &["edit", "--help", "s.yaml"],
        &["edit", "s.yaml", "--help"],
        &["set", "s.yaml", "[\"a\"]", "5", "-h"],
        &["unset", "--help", "s.yaml", "[\"a\"]"],
        &["rotate", "-i", "s.yaml", "--help"],
        &["updatekeys", "s.yaml", "--help"],
        &["exec-env", "s.env", "touch ran", "--help"],
        &["exec-file", "--help", "s.yaml", "touch ran"],
        &["filestatus", "--help"],
        &["groups"],
        &["groups", "--help"],
        &["groups", "help", "add"],
        &[
            "groups",
            "add",
            "--help",
            "-f",
            "s.yaml",
            "--age",
            TEST_RECIPIENT2,
            "-i",
        ],
        &["groups", "delete", "-f", "g.yaml", "-i", "1", "--help"],
        &["groups", "nope"],
        &["completion", "--help"],
        &["publish", "--help"],
        &["keyservice", "--help"],
        &["-e", "-i", "--help", "p.yaml"],
        &["-r", "-i", "s.yaml", "--help"],
        &["--help", "-e", "-i", "p.yaml"],
        &["-d", "-i", "--help=false", "s.yaml"],
        &["decrypt", "-i", "-h=0", "s.yaml"],
        &["decrypt", "--nope", "--help", "s.yaml"],
    ] {
        v.push(case(args).stdin(Input::Open));
    }
    // Unknown flags, bad syntax, missing values, ints, environment variables.
    for args in [
        &["decrypt", "--nope", "s.yaml"][..],
        &["--nope", "-d", "s.yaml"],
        &["-d", "-x", "s.yaml"],
        &["---d", "s.yaml"],
        &["-=x", "s.yaml"],
        &["decrypt", "---i", "s.yaml"],
        &["decrypt", "--output"],
        &["--output"],
        &["groups", "add", "--nope"],
        &["--indent=0x4", "-d", "--output-type", "json", "s.yaml"],
        &["--indent", "010", "-d", "--output-type", "json", "s.yaml"],
        &["--indent", "abc", "-d", "s.yaml"],
        &["encrypt", "--shamir-secret-sharing-threshold=x", "p.yaml"],
        &["groups", "delete", "-f", "g.yaml", "abc"],
        &["groups", "delete", "-f", "g.yaml"],
        &["groups", "add", "-f", "s.yaml", "extra"],
        &["set", "--value-file", "--value-stdin", "s.yaml", "[\"a\"]"],
        &["set", "s.yaml", "[\"a\"]"],
        &["unset", "s.yaml"],
        &["exec-env", "s.env"],
        &[
            "exec-env",
            "--background",
            "--same-process",
            "s.env",
            "true",
        ],
        &["-d", "--in-place", "--output", "x", "s.yaml"],
        &["decrypt", "--in-place"],
        &["encrypt", "--in-place"],
        &["encrypt"],
        &["decrypt", "nope.yaml"],
        &["-d", "nope.yaml"],
        &["-r", "nope.yaml"],
        &["-r", "--add-age", TEST_RECIPIENT2, "nope.yaml"],
        &["rotate", "--add-age", TEST_RECIPIENT2, "nope.yaml"],
        &["rotate"],
        &["rotate", "nope.yaml"],
        &["updatekeys"],
        &["set", "nope.yaml", "[\"a\"]", "1"],
        &["edit"],
        &["filestatus"],
        &["-d", "--extract", "", "s.yaml"],
        &["-d", "--output", "", "s.yaml"],
        &["decrypt", "--extract=[\"a\"]", "s.yaml"],
        &["--set", "[\"a\"] 7", "s.yaml"],
        &["--set", "nospace", "s.yaml"],
        &["--set", "", "s.yaml"],
    ] {
        v.push(case(args).out());
    }
    // A top-level flag reaches a command that does not define it, and is ignored by one
    // that does (urfave's lineage).
    for args in [
        &["--age", TEST_RECIPIENT2, "encrypt", "-i", "p.yaml"][..],
        &["--ignore-mac", "exec-env", "s.env", "echo \"$A\""],
        &["--input-type", "dotenv", "exec-env", "s.env", "echo \"$B\""],
        &["--output-type", "json", "decrypt", "s.yaml"],
        &["--in-place", "decrypt", "s.yaml"],
        &["--mac-only-encrypted", "encrypt", "-i", "p.yaml"],
        &[
            "--shamir-secret-sharing-threshold",
            "1",
            "updatekeys",
            "-y",
            "s.yaml",
        ],
    ] {
        v.push(case(args).out());
    }
    // stdin and `-`.
    let s_yaml = fixture()["s.yaml"].clone();
    v.push(case(&["decrypt"]).stdin(Input::Bytes(s_yaml.clone())).out());
    v.push(
        case(&["decrypt", "--input-type", "yaml"])
            .stdin(Input::Bytes(s_yaml.clone()))
            .out(),
    );
    v.push(
        case(&["decrypt", "--filename-override", "x.yaml"])
            .stdin(Input::Bytes(s_yaml.clone()))
            .out(),
    );
    v.push(
        case(&["decrypt", "-"])
            .stdin(Input::Bytes(s_yaml.clone()))
            .out(),
    );
    v.push(case(&["-d", "-"]).stdin(Input::Bytes(s_yaml)).out());
    // --config and SOPS_CONFIG choose the rules for every verb.
    for args in [
        &["--config", "alt.yaml", "encrypt", "-i", "p.yaml"][..],
        &["--config=alt.yaml", "-e", "-i", "p.yaml"],
        &["--config", "alt.yaml", "updatekeys", "-y", "s.yaml"],
        &["encrypt", "--config", "alt.yaml", "p.yaml"],
    ] {
        v.push(case(args));
    }
    v.push(case(&["-e", "-i", "p.yaml"]).env("SOPS_CONFIG", "alt.yaml"));
    v.push(case(&["updatekeys", "-y", "s.yaml"]).env("SOPS_CONFIG", "alt.yaml"));
    v.push(case(&["decrypt", "s.yaml"]).env("SOPS_ENABLE_LOCAL_KEYSERVICE", "yes"));
    v.push(
        case(&["decrypt", "s.yaml"])
            .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "T")
            .out(),
    );
    v.push(
        case(&["decrypt", "s.yaml"])
            .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "")
            .out(),
    );
    v.push(case(&["-d", "s.yaml"]).env("SOPS_DISABLE_VERSION_CHECK", "maybe"));
    // What a failure means, by sops's exit codes: no such file, not encrypted, a tree the
    // output format cannot hold, conflicting rule options, a malformed key.
    for args in [
        &["rotate", "-i", "nonexist.yaml"][..],
        &["rotate", "-i", "p.yaml"],
        &["updatekeys", "-y", "p.yaml"],
        // sops's updatekeys fails with exit 1 on anything but a sops file it can write: a
        // device, a directory, a file that does not exist.
        &["updatekeys", "-y", "/dev/null"],
        &["updatekeys", "-y", "."],
        &["updatekeys", "-y", "nonexist.yaml"],
        &["filestatus", "nonexist.yaml"],
        &["exec-env", "nonexist.env", "true"],
        &["-d", "--output-type", "dotenv", "sn.yaml"],
        &["-e", "--output-type", "dotenv", "n.yaml"],
        &[
            "-e",
            "--encrypted-regex",
            "^p",
            "--unencrypted-regex",
            "^u",
            "p.yaml",
        ],
        &["-e", "--age", "age1bogus", "p.yaml"],
        // An index past a list's end appends.
        &["set", "sn.yaml", r#"["list"][5]"#, r#""c""#],
        // sops's rotate --rm-* changes the file, never the creation rules.
        &["rotate", "-i", "--rm-age", TEST_RECIPIENT2, "s2.yaml"],
        &["-r", "-i", "--rm-age", TEST_RECIPIENT2, "s2.yaml"],
    ] {
        v.push(case(args).config(two.clone()));
    }
    // An empty entry of a key list (a doubled, leading or trailing comma): sops 3.11 refuses it
    // in every list of keys to encrypt for or add, and in --rm-age, and lets it through in
    // --rm-pgp and --rm-kms (it names no key). A `.sops.yaml` string list drops it; a YAML list
    // refuses an empty item.
    let k1 = TEST_RECIPIENT;
    let k2 = TEST_RECIPIENT2;
    let doubled = format!("{k1},,{k2}");
    let trailing = format!("{k2},");
    let leading = format!(",{k1}");
    for args in [
        &["encrypt", "--age", doubled.as_str(), "p.yaml"][..],
        &["encrypt", "--age", &trailing, "p.yaml"],
        &["encrypt", "-a", &leading, "p.yaml"],
        &["-e", "--age", &doubled, "p.yaml"],
        &["-e", "-i", "--age", &trailing, "p.yaml"],
        &["encrypt", "--age", k1, "--pgp", ",", "p.yaml"],
        &["encrypt", "--age", k1, "--kms", ",", "p.yaml"],
        &["encrypt", "--age", k1, "--kms", "", "p.yaml"],
        &["rotate", "-i", "--add-age", &trailing, "s.yaml"],
        &["-r", "-i", "--add-age", &doubled, "s.yaml"],
        &["rotate", "-i", "--add-pgp", ",", "s.yaml"],
        &["rotate", "-i", "--add-kms", ",", "s.yaml"],
        &["rotate", "-i", "--rm-age", &trailing, "s2.yaml"],
        &["rotate", "-i", "--rm-pgp", ",", "s.yaml"],
        &["rotate", "-i", "--rm-kms", ",,", "s.yaml"],
        &["-r", "-i", "--rm-pgp", ",", "s.yaml"],
    ] {
        v.push(case(args));
    }
    v.push(case(&["encrypt", "p.yaml"]).env("SOPS_AGE_RECIPIENTS", &trailing));
    v.push(case(&["encrypt", "p.yaml"]).env("SOPS_AGE_RECIPIENTS", &doubled));
    v.push(case(&["encrypt", "--age", k1, "p.yaml"]).env("SOPS_PGP_FP", ","));
    for rule in [
        format!("age: {doubled}"),
        format!("age: {trailing}"),
        format!("age: [{k1}, '']"),
        format!("age: [{k1}, '{trailing}']"),
    ] {
        v.push(case(&["encrypt", "p.yaml"]).config(format!("creation_rules:\n  - {rule}\n")));
    }
    // sops skips key types it does not know in the decryption order.
    v.push(case(&["-d", "--decryption-order", "bogus", "s.yaml"]).out());
    v.push(
        case(&["decrypt", "s.yaml"])
            .env("SOPS_DECRYPTION_ORDER", "bogus,age")
            .out(),
    );
    // The output format follows --output-type, else the file's name, never --input-type.
    v.push(
        case(&["decrypt", "--input-type", "yaml", "/dev/stdin"])
            .stdin(Input::Bytes(fixture()["s.yaml"].clone()))
            .out(),
    );
    v.push(
        case(&[
            "-d",
            "--input-type",
            "yaml",
            "--output-type",
            "json",
            "s.yaml",
        ])
        .out(),
    );
    // Confirmations read y/n from stdin when it is not a terminal.
    for input in [
        &b"y\n"[..],
        b"y\ny\ny\n",
        b"n\n",
        b"x\ny\n",
        b"yes\n",
        b"\ny\n",
        b"y n\n",
        b" y \n",
        b"y",
        b"",
    ] {
        v.push(
            case(&["updatekeys", "s.yaml"])
                .config(two.clone())
                .stdin(Input::Bytes(input.to_vec())),
        );
    }
    v
}

/// Runs every case through both and reports every difference at once.
#[test]
fn drop_in_reads_argv_exactly_as_sops() {
    sops_bin();
    fixture();
    let cases = corpus();
    assert!(cases.len() > 300, "{} cases", cases.len());
    let threads = 4;
    let bad: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let cases = &cases;
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for c in cases.iter().skip(t).step_by(threads) {
                        let (so, ho) = (run(Tool::Sops, c), run(Tool::Shroud, c));
                        let d = differences(c, &so, &ho);
                        if !d.is_empty() {
                            bad.push(format!(
                                "sops {:?} (stdin {:?}):\n    {}",
                                c.args,
                                c.stdin,
                                d.join("\n    ")
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        bad.is_empty(),
        "{} of {} command lines differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// sops writes in the format `--output-type` names, else the one the file's name says, never
/// the `--input-type` one: an encrypted binary input named `.yaml` comes out as YAML (the
/// ciphertext differs run to run, so the layout is compared).
#[test]
fn drop_in_output_format_follows_the_file_name() {
    sops_bin();
    fixture();
    for args in [
        &["-e", "--input-type", "binary", "p.yaml"][..],
        &["encrypt", "--input-type", "binary", "p.yaml"],
        &[
            "encrypt",
            "--input-type",
            "dotenv",
            "--filename-override",
            "x.json",
            "p.env",
        ],
    ] {
        let c = case(args);
        let (s, h) = (run(Tool::Sops, &c), run(Tool::Shroud, &c));
        assert_eq!(s.code, Some(0), "sops {args:?}: {}", s.stderr);
        assert_eq!(h.code, Some(0), "shroud {args:?}: {}", h.stderr);
        let first = |b: &[u8]| {
            b.iter()
                .take_while(|&&c| c != b':')
                .copied()
                .collect::<Vec<u8>>()
        };
        assert_eq!(
            String::from_utf8_lossy(&first(&h.stdout)),
            String::from_utf8_lossy(&first(&s.stdout)),
            "{args:?}: the output's first key differs in layout"
        );
    }
}

/// sops records a Shamir threshold it was given even for a single key group (which it does
/// not split); so does the drop-in, and both open the result.
#[test]
fn drop_in_records_a_threshold_given_for_one_group() {
    sops_bin();
    fixture();
    let two = format!("{TEST_RECIPIENT},{TEST_RECIPIENT2}");
    let c = case(&[
        "-e",
        "--shamir-secret-sharing-threshold",
        "2",
        "--age",
        &two,
        "--output",
        "t.yaml",
        "p.yaml",
    ]);
    for tool in [Tool::Sops, Tool::Shroud] {
        let r = run(tool, &c);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let out = String::from_utf8_lossy(&r.files["t.yaml"]).into_owned();
        assert!(out.contains("shamir_threshold: 2"), "{out}");
        assert_eq!(
            plaintext(&r.sb, "t.yaml", &r.files["t.yaml"]).unwrap(),
            b"a: 1\nb: two\n"
        );
    }
}
