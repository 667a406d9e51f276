//! `shroud scan` and `shroud hook`: the built binary in temporary real git repositories, run
//! through the harness (`util::shroud_in`: a cleared environment, `HOME` in the sandbox).
//! Credentials are assembled at run time so this file itself scans clean.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{RunExt, shroud_in};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shroud")
}

/// `git` with no user or system configuration (HOME is the repository itself).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn repo() -> tempfile::TempDir {
    repo_of("sha1")
}

/// A repository whose objects are named by `format` (`sha1`, `sha256`).
pub fn repo_of(format: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let format = format!("--object-format={format}");
    git(d.path(), &["init", "-q", &format, "-b", "main"]);
    git(d.path(), &["config", "user.name", "Test"]);
    git(d.path(), &["config", "user.email", "test@example.com"]);
    git(d.path(), &["config", "commit.gpgsign", "false"]);
    d
}

pub fn commit_all(dir: &Path, msg: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// Commits everything with both dates set to `epoch` (history order is by commit date).
pub fn commit_at(dir: &Path, msg: &str, epoch: u64) -> String {
    git(dir, &["add", "-A"]);
    let date = format!("@{epoch} +0000");
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["commit", "-q", "-m", msg])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

pub fn shroud(dir: &Path, args: &[&str]) -> Output {
    shroud_in(dir).args(args).run()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "bad json ({e}): {}\n{}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn rules_of(v: &serde_json::Value) -> Vec<(String, String, u64)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A GitHub classic token with a correct checksum, from a seed.
fn github_token(seed: u64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let random: String = (0..30)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALNUM[(x % 62) as usize] as char
        })
        .collect();
    let check = shroud::scan::rules::validate::base62_6(crc32fast::hash(random.as_bytes()));
    format!("{}_{random}{}", "ghp", std::str::from_utf8(&check).unwrap())
}

fn pw_line(value: &str) -> String {
    format!("db_{}{} = \"{value}\"\n", "pass", "word")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn corpus_recall_and_precision() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/scan");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("manifest.json")).unwrap()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("corpus");
    copy_dir(&data.join("corpus"), &root);
    let out = shroud(&root, &["scan", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    let mut got: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (rule, path, _) in rules_of(&report) {
        got.entry(path).or_default().insert(rule);
    }
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for case in manifest.as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let expected: std::collections::BTreeSet<String> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let found = got.remove(file).unwrap_or_default();
        tp += expected.intersection(&found).count();
        fn_ += expected.difference(&found).count();
        fp += found.difference(&expected).count();
        if expected != found {
            misses.push(format!("{file}: expected {expected:?}, found {found:?}"));
        }
    }
    for (file, rules) in got {
        fp += rules.len();
        misses.push(format!("{file} (not in manifest): found {rules:?}"));
    }
    let recall = tp as f64 / (tp + fn_) as f64;
    let precision = tp as f64 / (tp + fp) as f64;
    println!(
        "corpus: {} files, tp={tp} fp={fp} fn={fn_} recall={recall:.3} precision={precision:.3}",
        manifest.as_array().unwrap().len()
    );
    for m in &misses {
        println!("  {m}");
    }
    assert!(recall >= 0.95, "recall {recall:.3} < 0.95: {misses:#?}");
    assert!(
        precision >= 0.95,
        "precision {precision:.3} < 0.95: {misses:#?}"
    );
}

#[test]
fn clean_tree_exits_zero_and_findings_exit_one() {
    let d = repo();
    std::fs::write(d.path().join("README.md"), "# hello\n").unwrap();
    let out = shroud(d.path(), &["scan"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let tok = github_token(1);
    std::fs::write(d.path().join("app.py"), format!("TOKEN = \"{tok}\"\n")).unwrap();
    let out = shroud(d.path(), &["scan"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("app.py:1:"), "{text}");
    assert!(text.contains("[github-token]"));
    assert!(!text.contains(&tok), "the secret must be redacted: {text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&tok));
}

#[test]
fn gitignored_binary_and_oversized_files_are_skipped() {
    let d = repo();
    let tok = github_token(2);
    std::fs::write(d.path().join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir(d.path().join("build")).unwrap();
    std::fs::write(d.path().join("build/out.txt"), format!("{tok}\n")).unwrap();
    let mut bin_data = b"\x00\x01binary".to_vec();
    bin_data.extend_from_slice(tok.as_bytes());
    std::fs::write(d.path().join("blob.bin"), bin_data).unwrap();
    std::fs::write(
        d.path().join("big.txt"),
        format!("{tok}\n{}", "x".repeat(2000)),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--max-file-size", "1000"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn staged_reports_only_added_lines() {
    let d = repo();
    let old = github_token(3);
    std::fs::write(d.path().join("a.py"), format!("OLD = \"{old}\"\n")).unwrap();
    commit_all(d.path(), "old secret (accepted history)");
    // Nothing staged: clean.
    assert_eq!(code(&shroud(d.path(), &["scan", "--staged"])), 0);
    // Add an unrelated line: the old secret is not re-reported.
    std::fs::write(
        d.path().join("a.py"),
        format!("import os\nOLD = \"{old}\"\n"),
    )
    .unwrap();
    git(d.path(), &["add", "a.py"]);
    let out = shroud(d.path(), &["scan", "--staged"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // Add a new secret, then change the working tree back: the index is what counts.
    let new = github_token(4);
    std::fs::write(
        d.path().join("a.py"),
        format!("import os\nOLD = \"{old}\"\nNEW = \"{new}\"\n"),
    )
    .unwrap();
    git(d.path(), &["add", "a.py"]);
    std::fs::write(d.path().join("a.py"), "import os\n").unwrap();
    let out = shroud(d.path(), &["scan", "--staged", "--format", "json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        rules_of(&json(&out)),
        vec![("github-token".to_owned(), "a.py".to_owned(), 3)]
    );
}

#[test]
fn commit_range_since_and_all_history() {
    let d = repo();
    std::fs::write(d.path().join("README.md"), "hi\n").unwrap();
    let base = commit_all(d.path(), "base");
    let tok = github_token(5);
    std::fs::write(d.path().join("conf.env"), format!("GH={tok}\n")).unwrap();
    let leak = commit_all(d.path(), "leak");
    std::fs::write(d.path().join("conf.env"), "GH=\n").unwrap();
    commit_all(d.path(), "remove");
    // The secret was added and removed inside the range: still reported, with its commit.
    let out = shroud(
        d.path(),
        &[
            "scan",
            "--commits",
            &format!("{base}..HEAD"),
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["findings"][0]["commit"], leak.as_str());
    let out = shroud(d.path(), &["scan", "--since", &base, "--format", "json"]);
    assert_eq!(code(&out), 1);
    // After the leak commit only the removal: clean.
    let out = shroud(d.path(), &["scan", "--since", &leak]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // History: the blob with the secret, found once, attributed to the commit.
    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["findings"][0]["path"], "conf.env");
    assert_eq!(v["findings"][0]["commit"], leak.as_str());
    // The working tree is clean.
    assert_eq!(code(&shroud(d.path(), &["scan"])), 0);
    // A bad range is an error.
    assert_eq!(
        code(&shroud(d.path(), &["scan", "--commits", "nope..HEAD"])),
        2
    );
}

#[test]
fn baseline_survives_line_moves() {
    let d = repo();
    let tok = github_token(6);
    std::fs::write(d.path().join("a.py"), format!("T = \"{tok}\"\n")).unwrap();
    assert_eq!(code(&shroud(d.path(), &["scan"])), 1);
    let out = shroud(d.path(), &["scan", "--update-baseline"]);
    assert_eq!(code(&out), 0);
    let baseline = std::fs::read_to_string(d.path().join(".shroud-baseline.json")).unwrap();
    assert!(
        !baseline.contains(&tok[4..]),
        "the baseline must not hold the secret"
    );
    assert_eq!(code(&shroud(d.path(), &["scan"])), 0);
    // Lines above it change: still accepted (fingerprints have no line numbers).
    std::fs::write(
        d.path().join("a.py"),
        format!("import os\nimport sys\n\nT = \"{tok}\"\n"),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(json(&out)["stats"]["baselined"], 1);
    // The same secret in another file is a new finding.
    std::fs::write(d.path().join("b.py"), format!("T = \"{tok}\"\n")).unwrap();
    assert_eq!(code(&shroud(d.path(), &["scan"])), 1);
    assert_eq!(
        code(&shroud(d.path(), &["scan", "b.py", "--no-baseline"])),
        1
    );
}

#[test]
fn suppression_comments_and_ignore_file() {
    let d = repo();
    let body = format!(
        "A = \"{}\"  # shroud:allow\n# shroud:allow-next-line\nB = \"{}\"\nC = \"{}\"  # gitleaks:allow\n# pragma: allowlist nextline secret\nD = \"{}\"\nE = \"{}\"  # pragma: allowlist secret\n",
        github_token(7),
        github_token(8),
        github_token(9),
        github_token(10),
        github_token(11),
    );
    std::fs::write(d.path().join("a.py"), body).unwrap();
    std::fs::create_dir_all(d.path().join("fixtures/keys")).unwrap();
    std::fs::write(d.path().join("fixtures/keys/k.txt"), github_token(12)).unwrap();
    std::fs::write(d.path().join("other.txt"), github_token(13)).unwrap();
    std::fs::write(d.path().join(".shroudignore"), "fixtures/keys/\n").unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(
        rules_of(&json(&out)),
        vec![("github-token".to_owned(), "other.txt".to_owned(), 1)]
    );
}

#[test]
fn sarif_output_has_the_code_scanning_fields() {
    let d = repo();
    std::fs::write(d.path().join("s.py"), pw_line("Xk9#mQ2vL7pR4wZt")).unwrap(); // shroud:allow
    let out = shroud(d.path(), &["scan", "--format", "sarif"]);
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    assert!(run["tool"]["driver"]["rules"].as_array().unwrap().len() > 20);
    let r = &run["results"][0];
    assert_eq!(r["ruleId"], "generic-secret");
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "s.py");
    assert_eq!(loc["region"]["startLine"], 1);
    assert!(r["partialFingerprints"].as_object().unwrap().len() == 1);
    assert!(!stdout(&out).contains("Xk9#mQ2vL7pR4wZt"));
}

#[test]
fn terminal_escapes_in_paths_are_neutralised() {
    let d = repo();
    let name = "evil\u{1b}]0;pwned\u{7}.py";
    std::fs::write(
        d.path().join(name),
        format!("T = \"{}\"\n", github_token(14)),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("evil\\e]0;pwned\\u{7}.py"), "{text}");
}

#[test]
fn secrets_aware_checks() {
    let d = repo();
    std::fs::write(
        d.path().join(".sops.yaml"),
        "creation_rules:\n  - path_regex: ^secrets/\n    age: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqs3k8s5l\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.path().join("secrets")).unwrap();
    std::fs::create_dir_all(d.path().join("k8s")).unwrap();
    std::fs::write(d.path().join("secrets/app.env"), "MODE=prod\n").unwrap();
    // base64 of a realistic value
    std::fs::write(
        d.path().join("k8s/db.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: bkV3LXBhc3MtOTkyMS1xd2U=\n", // shroud:allow
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let v = json(&out);
    let rules = rules_of(&v);
    assert!(
        rules.contains(&("kubernetes-secret".into(), "k8s/db.yaml".into(), 6)),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("sops-unencrypted-file".into(), "secrets/app.env".into(), 1)),
        "{rules:?}"
    );
    let msg = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "kubernetes-secret")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("shroud encrypt -i --encrypted-regex '^(data|stringData)$' k8s/db.yaml"));
}

#[test]
fn custom_rules_from_config() {
    let d = repo();
    std::fs::create_dir_all(d.path().join(".shroud")).unwrap();
    std::fs::write(
        d.path().join(".shroud/scan.yaml"),
        "rules:\n  - id: acme-token\n    description: ACME token\n    regex: '\\b(acme_[a-z0-9]{24})\\b'\n    keywords: [acme_]\n    entropy: 3.0\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("x.txt"),
        "t = acme_k3j4h5g6f7d8s9a0q1w2e3r4\n",
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(
        rules_of(&json(&out)),
        vec![("acme-token".into(), "x.txt".into(), 1)]
    );
}

#[test]
fn hook_install_blocks_commits_and_respects_foreign_hooks() {
    let d = repo();
    let hook = d.path().join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    assert_eq!(code(&shroud(d.path(), &["hook", "install"])), 2);
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert_eq!(code(&shroud(d.path(), &["hook", "install", "--force"])), 0);
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("shroud scan --staged")
    );
    // Reinstalling over our own hook is fine.
    assert_eq!(code(&shroud(d.path(), &["hook", "install"])), 0);
    // The hook runs `shroud` from PATH.
    let bin_dir = Path::new(bin()).parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::write(
        d.path().join("a.py"),
        format!("T = \"{}\"\n", github_token(15)),
    )
    .unwrap();
    git(d.path(), &["add", "a.py"]);
    let commit = Command::new("git")
        .current_dir(d.path())
        .args(["commit", "-q", "-m", "leak"])
        .env("PATH", &path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(!commit.status.success(), "the hook must block the commit");
    std::fs::write(d.path().join("a.py"), "T = None\n").unwrap();
    git(d.path(), &["add", "a.py"]);
    let commit = Command::new("git")
        .current_dir(d.path())
        .args(["commit", "-q", "-m", "clean"])
        .env("PATH", &path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        commit.status.success(),
        "{}",
        String::from_utf8_lossy(&commit.stderr)
    );
    assert_eq!(code(&shroud(d.path(), &["hook", "uninstall"])), 0);
    assert!(!hook.exists());
}

/// `pre-commit` from PyPI (installed by `scripts/setup-scan.sh`), or `PRE_COMMIT_BIN`.
fn pre_commit_bin() -> Option<String> {
    if let Ok(p) = std::env::var("PRE_COMMIT_BIN") {
        return Some(p);
    }
    Command::new("pre-commit")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "pre-commit".to_owned())
}

/// The real `pre-commit` framework installs this repository's `.pre-commit-hooks.yaml` hooks
/// and both block a staged secret: `shroud-scan` (`language: system`, the `shroud` on PATH) and
/// `shroud-scan-build` (`language: rust`, so pre-commit runs `cargo install` on the hook
/// repository). To keep `cargo install` fast, the hook repository is a copy of the manifest
/// plus a tiny `shroud` shim crate that executes the binary under test.
#[test]
fn pre_commit_framework_uses_the_hook_manifest() {
    let Some(pre_commit) = pre_commit_bin() else {
        if std::env::var_os("SHROUD_SKIP_PRE_COMMIT_TEST").is_some() && !crate::util::in_ci() {
            eprintln!("SHROUD_SKIP_PRE_COMMIT_TEST is set: not running the pre-commit test");
            return;
        }
        panic!(
            "`pre-commit` is not installed: run scripts/setup-scan.sh (or `pip install pre-commit`), \
             or set PRE_COMMIT_BIN; set SHROUD_SKIP_PRE_COMMIT_TEST=1 to opt out on a dev machine (never under CI)"
        );
    };
    let work = tempfile::tempdir().unwrap();
    let hooks = work.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    git(&hooks, &["init", "-q", "-b", "main"]);
    git(&hooks, &["config", "user.name", "Test"]);
    git(&hooks, &["config", "user.email", "test@example.com"]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    std::fs::write(
        hooks.join("Cargo.toml"),
        "[package]\nname = \"shroud-shim\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"shroud\"\npath = \"main.rs\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        hooks.join("main.rs"),
        format!(
            "fn main() {{\n    let s = std::process::Command::new({:?}).args(std::env::args_os().skip(1)).status().expect(\"shroud runs\");\n    std::process::exit(s.code().unwrap_or(2));\n}}\n",
            bin()
        ),
    )
    .unwrap();
    let rev = commit_all(&hooks, "hooks");

    let d = repo();
    std::fs::write(
        d.path().join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: shroud-scan\n      - id: shroud-scan-build\n",
            hooks.display()
        ),
    )
    .unwrap();
    std::fs::write(d.path().join("README.md"), "hello\n").unwrap();
    commit_all(d.path(), "init");
    // The installed shroud the system hook runs.
    let installed = work.path().join("bin");
    std::fs::create_dir_all(&installed).unwrap();
    std::os::unix::fs::symlink(bin(), installed.join("shroud")).unwrap();
    let path = format!(
        "{}:{}",
        installed.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_with = |dir: &Path, extra: &[&str]| {
        Command::new(&pre_commit)
            .current_dir(dir)
            .args(["run", "--hook-stage", "pre-commit"])
            .args(extra)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", work.path().join("cache"))
            .env("CARGO_TARGET_DIR", work.path().join("target"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("pre-commit runs")
    };
    let run = |dir: &Path| run_with(dir, &[]);
    let both = |out: &Output, verdict: &str, what: &str| {
        let text = format!("{}{}", stdout(out), String::from_utf8_lossy(&out.stderr));
        for hook in [
            "shroud scan (secrets)....",
            "shroud scan (secrets, built from source)",
        ] {
            let line = text
                .lines()
                .find(|l| l.starts_with(hook))
                .unwrap_or_default();
            assert!(
                line.ends_with(verdict),
                "{what}: {hook}: expected {verdict}: {text}"
            );
        }
        text
    };
    // Clean index: passes.
    let ok = run(d.path());
    assert!(
        ok.status.success(),
        "{}{}",
        stdout(&ok),
        String::from_utf8_lossy(&ok.stderr)
    );
    // A staged token: the hook fails and names the rule.
    std::fs::write(
        d.path().join("app.py"),
        format!("T = \"{}\"\n", github_token(16)),
    )
    .unwrap();
    git(d.path(), &["add", "app.py"]);
    let bad = run(d.path());
    let text = both(&bad, "Failed", "a staged token");
    assert!(!bad.status.success(), "{text}");
    assert!(text.contains("github-token"), "{text}");

    // The secret is committed past the hook. A commit of an unrelated file still passes (the
    // hook reports what a commit adds, not what was there before)...
    git(d.path(), &["commit", "-q", "--no-verify", "-m", "leak"]);
    std::fs::write(d.path().join("README.md"), "hello again\n").unwrap();
    std::fs::write(
        d.path().join("app.py"),
        format!("T = \"{}\"\nU = 1\n", github_token(16)),
    )
    .unwrap();
    git(d.path(), &["add", "README.md", "app.py"]);
    let ok = run(d.path());
    both(&ok, "Passed", "a commit that adds no secret");
    git(d.path(), &["commit", "-q", "--no-verify", "-m", "more"]);
    // ...but `pre-commit run --all-files` (what CI and pre-commit.ci run) finds the committed
    // token, and so does `--files`.
    let all = run_with(d.path(), &["--all-files"]);
    let text = both(&all, "Failed", "--all-files");
    assert!(!all.status.success(), "{text}");
    assert!(
        text.contains("app.py") && text.contains("github-token"),
        "{text}"
    );
    let one = run_with(d.path(), &["--files", "app.py"]);
    both(&one, "Failed", "--files app.py");
    let other = run_with(d.path(), &["--files", "README.md"]);
    both(&other, "Passed", "--files README.md");
    // A staged symlink whose target holds a token, staged with a regular file: pre-commit's
    // default `types: [file]` would leave the symlink out of the names it passes.
    std::os::unix::fs::symlink(
        format!(
            "https://deploy:{}@git.example.com/org/repo.git",
            github_token(62)
        ),
        d.path().join("upstream"),
    )
    .unwrap();
    std::fs::write(d.path().join("README.md"), "hello, link\n").unwrap();
    git(d.path(), &["add", "upstream", "README.md"]);
    let link = run(d.path());
    let text = both(&link, "Failed", "a staged symlink with a token");
    assert!(text.contains("upstream"), "{text}");
}

/// 10,000 commits (made with `git fast-import`): history and range scans stay correct and each
/// blob is read once.
#[test]
fn ten_thousand_commits() {
    let d = repo();
    let tok = github_token(17);
    let mut stream = String::new();
    for i in 1..=10_000u32 {
        let body = if i == 5_000 {
            format!("n = {i}\nT = \"{tok}\"\n")
        } else {
            format!("n = {i}\n")
        };
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{i}\ncommitter T <t@example.com> {} +0000\ndata 2\nc\n",
            1_700_000_000 + i
        ));
        if i > 1 {
            stream.push_str(&format!("from :{}\n", i - 1));
        }
        stream.push_str(&format!(
            "M 100644 inline f.py\ndata {}\n{body}\n",
            body.len()
        ));
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(d.path())
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    git(d.path(), &["reset", "-q", "--hard", "main"]);
    assert_eq!(
        git(d.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "10000"
    );
    let leak = git(d.path(), &["rev-parse", "HEAD~5000"]).trim().to_owned();

    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["findings"][0]["commit"], leak.as_str());
    assert_eq!(v["stats"]["files"], 10_000);

    let out = shroud(
        d.path(),
        &["scan", "--commits", "HEAD~9000..HEAD", "--format", "json"],
    );
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["findings"][0]["line"], 2);
    assert_eq!(
        code(&shroud(d.path(), &["scan", "--since", "HEAD~4000"])),
        0
    );
}

/// An unreadable input is reported, the scan goes on, and the exit code is 2 even with findings.
#[test]
fn unreadable_input_is_an_error_but_the_scan_goes_on() {
    let d = repo();
    std::fs::write(
        d.path().join("a.py"),
        format!("T = \"{}\"\n", github_token(18)),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "missing.txt", "a.py"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("[github-token]"), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.txt"));
}

fn findings(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["findings"].as_array().unwrap()
}

/// History reports each distinct secret once: at the oldest commit that introduced it (parents
/// before children, also across a merged branch), with the number of occurrences, and never
/// without a commit.
#[test]
fn history_deduplicates_and_attributes_in_one_pass() {
    let d = repo();
    let tok = github_token(40);
    std::fs::write(d.path().join("README.md"), "hi\n").unwrap();
    commit_at(d.path(), "base", 1_700_000_000);
    git(d.path(), &["checkout", "-q", "-b", "feature"]);
    std::fs::write(d.path().join("a.py"), format!("T = \"{tok}\"\n")).unwrap();
    let first = commit_at(d.path(), "leak on a branch", 1_700_000_100);
    std::fs::write(d.path().join("b.py"), format!("x = 1\nT = \"{tok}\"\n")).unwrap();
    commit_at(d.path(), "copy", 1_700_000_300);
    git(d.path(), &["checkout", "-q", "main"]);
    std::fs::write(d.path().join("c.py"), format!("# moved\nT = \"{tok}\"\n")).unwrap();
    commit_at(d.path(), "third copy on main", 1_700_000_200);
    git(d.path(), &["merge", "-q", "--no-edit", "feature"]);
    let other = github_token(41);
    std::fs::write(d.path().join("d.py"), format!("U = \"{other}\"\n")).unwrap();
    let second = commit_at(d.path(), "another secret", 1_700_000_400);
    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let f = findings(&v);
    assert_eq!(f.len(), 2, "{v}");
    let by_path = |p: &str| f.iter().find(|x| x["path"] == p).unwrap();
    assert_eq!(by_path("a.py")["commit"], first.as_str());
    assert_eq!(by_path("a.py")["occurrences"], 3);
    assert_eq!(by_path("d.py")["commit"], second.as_str());
    assert_eq!(by_path("d.py")["occurrences"], 1);
    assert!(f.iter().all(|x| x["commit"].is_string()), "{v}");
    let text = stdout(&shroud(d.path(), &["scan", "--all-history"]));
    assert!(text.contains("(3 occurrences)"), "{text}");
}

/// A clone with missing blobs: a warning, the rest is scanned, and the exit code says findings
/// (1), not error (2).
#[test]
fn history_tolerates_missing_objects() {
    let d = repo();
    std::fs::write(
        d.path().join("a.py"),
        format!("T = \"{}\"\n", github_token(42)),
    )
    .unwrap();
    std::fs::write(d.path().join("b.txt"), "lost content\n").unwrap();
    commit_all(d.path(), "two files");
    let blob = git(d.path(), &["rev-parse", "HEAD:b.txt"])
        .trim()
        .to_owned();
    let obj = d
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&obj).unwrap();
    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(code(&out), 1, "{err}");
    let v = json(&out);
    assert_eq!(findings(&v).len(), 1, "{v}");
    assert!(err.contains("warning") && err.contains(&blob), "{err}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1, "{v}");
}

/// Paths are relative to what was scanned: `.` inside a subfolder gives bare names; a
/// subfolder named from above keeps its prefix. Baseline fingerprints do not change.
#[test]
fn paths_are_relative_to_what_was_scanned() {
    let d = repo();
    let sub = d.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("x.py"), format!("T = \"{}\"\n", github_token(43))).unwrap();
    let inside = shroud(&sub, &["scan", "--format", "json", "."]);
    let v = json(&inside);
    assert_eq!(findings(&v)[0]["path"], "x.py", "{v}");
    let above = json(&shroud(d.path(), &["scan", "--format", "json", "a/b"]));
    assert_eq!(findings(&above)[0]["path"], "a/b/x.py");
    let whole = json(&shroud(&sub, &["scan", "--format", "json"]));
    assert_eq!(findings(&whole)[0]["path"], "a/b/x.py");
    assert_eq!(
        findings(&v)[0]["fingerprint"],
        findings(&above)[0]["fingerprint"]
    );
}

/// `shroud scan -` scans standard input; `--stdin-name` names it (and picks the format).
#[test]
fn stdin_is_scanned() {
    let d = repo();
    let run = |args: &[&str], input: String| {
        let mut c = shroud_in(d.path());
        c.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["scan", "--format", "json", "-"],
        format!("x\nT = \"{}\"\n", github_token(44)),
    );
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(findings(&v)[0]["path"], "-");
    assert_eq!(findings(&v)[0]["line"], 2);
    let secret = format!("{}{}", "bkV3LXBhc3M", "tOTkyMS1xd2U=");
    let out = run(
        &["scan", "--format", "json", "--stdin-name", "db.yaml", "-"],
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {secret}\n"
        ),
    );
    let v = json(&out);
    assert_eq!(findings(&v)[0]["rule"], "kubernetes-secret", "{v}");
    assert_eq!(findings(&v)[0]["path"], "db.yaml");
    assert_eq!(code(&run(&["scan", "-"], "nothing here\n".into())), 0);
    assert_eq!(code(&run(&["scan", "-", "a.py"], String::new())), 2);
}

/// `.gitleaks.toml`: custom rules (secretGroup, keywords, entropy, path, per-rule allowlist) and
/// global allowlists (paths, regexes, stopwords, commits) apply.
#[test]
fn gitleaks_config_rules_and_allowlists() {
    let d = repo();
    std::fs::write(
        d.path().join(".gitleaks.toml"),
        r#"title = "team"
[extend]
useDefault = true

[[rules]]
id = "acme-key"
description = "ACME key"
regex = '''acme_(live|test)_([a-z0-9]{20})'''
secretGroup = 2
keywords = ["acme_"]
entropy = 2.5
  [[rules.allowlists]]
  stopwords = ["zzzz"]

[[rules]]
id = "corp-conf"
regex = '''corp=([A-Z0-9]{12})'''
path = '''\.conf$'''

[allowlist]
paths = ['''^vendor/''']
regexes = ['''^q1w2''']
stopwords = ["k9k9"]
"#,
    )
    .unwrap();
    let w = |p: &str, s: &str| {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, s).unwrap();
    };
    w("a.txt", "k = acme_live_h3k5j7l9m2n4b6v8c1x3\n");
    w(
        "b.txt",
        "k = ACME_test_h3k5j7l9m2nzzzzv8c1x3\n"
            .to_lowercase()
            .as_str(),
    );
    w("c.txt", "k = acme_live_q1w2j7l9m2n4b6v8c1x3\n");
    w("d.txt", "k = acme_live_h3k5k9k9m2n4b6v8c1x3\n");
    w("vendor/e.txt", "k = acme_live_h3k5j7l9m2n4b6v8c1x4\n");
    w("f.conf", "corp=AB12CD34EF56\n");
    w("f.txt", "corp=AB12CD34EF56\n");
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    let v = json(&out);
    let mut got: Vec<(String, String)> = findings(&v)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("acme-key".to_owned(), "a.txt".to_owned()),
            ("corp-conf".to_owned(), "f.conf".to_owned())
        ],
        "{v}"
    );
    // The secret group, not the whole match, is the secret.
    assert_eq!(findings(&v)[0]["column"], 15);
    // Global commit allowlists drop history findings of that commit.
    let c = commit_all(d.path(), "all");
    let toml = std::fs::read_to_string(d.path().join(".gitleaks.toml")).unwrap();
    std::fs::write(
        d.path().join(".gitleaks.toml"),
        toml.replace(
            "[allowlist]\n",
            &format!("[allowlist]\ncommits = [\"{}\"]\n", &c[..10]),
        ),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // A broken file is a configuration error.
    std::fs::write(d.path().join(".gitleaks.toml"), "[[rules]]\nid = 1\n").unwrap();
    assert_eq!(code(&shroud(d.path(), &["scan"])), 2);
}

/// The Flux layout: `path_regex` over the manifests plus `encrypted_regex: ^(data|stringData)$`.
/// A Deployment there would encrypt nothing, so it is not a finding; a Secret with data is.
#[test]
fn flux_layout_reports_only_files_the_rule_would_encrypt() {
    let d = repo();
    std::fs::write(
        d.path().join(".sops.yaml"),
        "creation_rules:\n  - path_regex: ^clusters/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqs3k8s5l\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.path().join("clusters/prod")).unwrap();
    std::fs::write(
        d.path().join("clusters/prod/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("clusters/prod/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deploy.yaml\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("clusters/prod/config.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  mode: production\n",
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    let v = json(&out);
    let got: Vec<(String, String)> = findings(&v)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        got.contains(&(
            "sops-unencrypted-file".into(),
            "clusters/prod/config.yaml".into()
        )),
        "{v}"
    );
    assert!(
        got.iter().all(|(_, p)| p == "clusters/prod/config.yaml"),
        "a Deployment or Kustomization is not a finding: {v}"
    );
}

/// The `sops-plaintext-value` hint is a fix that works: run it, and the file scans clean and
/// decrypts to the same values.
#[test]
fn sops_plaintext_value_hint_works() {
    let s = crate::util::Sandbox::new();
    git(s.dir.path(), &["init", "-q", "-b", "main"]);
    s.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    encrypted_regex: ^(password|token)$\n    age: {}\n",
            crate::util::TEST_RECIPIENT
        ),
    );
    s.write(
        "app.enc.yaml",
        "user: app\npassword: first-value\ntoken: second\n",
    );
    let out = s.with_key().args(["encrypt", "-i", "app.enc.yaml"]).run();
    crate::util::assert_code(&out, 0);
    // Someone pastes a new value in plaintext.
    let text = s.read("app.enc.yaml");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("password:"))
        .unwrap();
    lines[i] = format!("password: {}", "Zr7-pasted-Qx4");
    s.write("app.enc.yaml", &(lines.join("\n") + "\n"));
    let out = s.cmd().args(["scan", "--format", "json"]).run();
    let v = json(&out);
    let f = findings(&v)
        .iter()
        .find(|f| f["rule"] == "sops-plaintext-value")
        .unwrap_or_else(|| panic!("{v}"));
    let hint = f["message"].as_str().unwrap();
    // "fix: delete line N and store the value encrypted: shroud set …"
    let line: usize = hint
        .split("delete line ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{hint}"));
    assert_eq!(line as u64, f["line"].as_u64().unwrap());
    let text = s.read("app.enc.yaml");
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| i + 1 != line)
        .map(|(_, l)| l)
        .collect();
    s.write("app.enc.yaml", &(kept.join("\n") + "\n"));
    let cmd = hint.rsplit_once("encrypted: ").unwrap().1;
    let cmd = cmd.replace("'<the value as JSON>'", "\"Zr7-pasted-Qx4\"");
    let words: Vec<String> = cmd
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(words[0], "shroud", "{hint}");
    let out = s.with_key().args(&words[1..]).run();
    crate::util::assert_code(&out, 0);
    let out = s.cmd().args(["scan"]).run();
    crate::util::assert_code(&out, 0);
    let out = s.with_key().args(["decrypt", "app.enc.yaml"]).run();
    crate::util::assert_code(&out, 0);
    let plain = crate::util::stdout(&out);
    assert!(
        plain.contains("Zr7-pasted-Qx4") && plain.contains("second"),
        "{plain}"
    );
}

/// Blobs above `--max-file-size` in commit ranges are skipped without being read into memory.
#[test]
fn oversized_blobs_in_history_are_skipped() {
    let d = repo();
    std::fs::write(d.path().join("README.md"), "hi\n").unwrap();
    let base = commit_all(d.path(), "base");
    std::fs::write(
        d.path().join("big.py"),
        format!("T = \"{}\"\n{}\n", github_token(45), "x".repeat(4000)),
    )
    .unwrap();
    commit_all(d.path(), "big");
    let range = format!("{base}..HEAD");
    let out = shroud(d.path(), &["scan", "--commits", &range, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let out = shroud(
        d.path(),
        &[
            "scan",
            "--commits",
            &range,
            "--max-file-size",
            "1000",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(json(&out)["stats"]["skipped"], 1);
    let out = shroud(
        d.path(),
        &[
            "scan",
            "--all-history",
            "--max-file-size",
            "1000",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

/// Key-backup shares made by `keys backup` (real bech32m shares, generated here) are
/// findings wherever they are committed: the share files, a paper copy pasted into notes with
/// words after it on the line, and the compact form without spaces. A mistyped share and the
/// `shroudshare1 …` placeholder of the docs are not.
#[test]
fn key_backup_shares_are_findings() {
    let d = repo();
    let out = shroud_in(d.path())
        .args(["keys", "backup", "--key-file"])
        .arg(crate::util::test_key())
        .args([
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "backup/shares",
            "-o",
            "backup/keys-backup.json",
        ])
        .run();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let block = std::fs::read_to_string(d.path().join("backup/shares/share-2.txt")).unwrap();
    let line = block
        .lines()
        .find(|l| l.starts_with("shroudshare1 "))
        .unwrap_or_else(|| panic!("{block}"));
    let compact: String = line.split_whitespace().collect();
    std::fs::write(
        d.path().join("notes.md"),
        format!("# Recovery\n\nBob's paper: {line} keep safe\n\nOr `{compact}`.\n"),
    )
    .unwrap();
    let mut typo = line.to_owned();
    let last = typo.pop().unwrap();
    typo.push(if last == 'q' { 'p' } else { 'q' });
    std::fs::write(
        d.path().join("docs.md"),
        format!("A share looks like `shroudshare1 qqqq pppp …`.\n\n{typo}\n"),
    )
    .unwrap();
    commit_all(d.path(), "oops");
    for args in [
        &["scan", "--format", "json"][..],
        &["scan", "--all-history", "--format", "json"][..],
    ] {
        let out = shroud(d.path(), args);
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        let v = json(&out);
        let mut shares: Vec<(String, u64)> = findings(&v)
            .iter()
            .filter(|f| f["rule"] == "shroud-key-share")
            .map(|f| {
                let m = f["message"].as_str().unwrap_or_default();
                assert!(
                    m.contains("key-backup share")
                        && m.contains("history")
                        && m.contains("new backup"),
                    "{m}"
                );
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect();
        shares.sort();
        assert_eq!(
            shares,
            vec![
                ("backup/shares/share-1.txt".to_owned(), 2),
                ("backup/shares/share-2.txt".to_owned(), 2),
                ("backup/shares/share-3.txt".to_owned(), 2),
                ("notes.md".to_owned(), 3),
                ("notes.md".to_owned(), 5),
            ],
            "{v}"
        );
        assert!(!findings(&v).iter().any(|f| f["path"] == "docs.md"), "{v}");
    }
    // The text report says what to do and never shows the share.
    let out = shroud(d.path(), &["scan"]);
    let text = stdout(&out);
    assert!(
        text.contains("[shroud-key-share]") && text.contains("remove it from the repository"),
        "{text}"
    );
    assert!(!text.contains(&line[13..40]), "{text}");
}

/// Bypass 1 (issue 22): `--all-history --update-baseline` accepts a historical leak for the
/// commit and blob it was found in, never the same token committed again.
#[test]
fn history_baseline_is_scoped_to_its_commit_and_blob() {
    let d = repo();
    let tok = github_token(31);
    std::fs::write(d.path().join("app.py"), format!("T = \"{tok}\"\n")).unwrap();
    commit_all(d.path(), "leak");
    std::fs::write(d.path().join("app.py"), "T = None\n").unwrap();
    commit_all(d.path(), "rotated and removed");
    assert_eq!(code(&shroud(d.path(), &["scan", "--all-history"])), 1);
    // What the scanner suggests for a history finding.
    let out = shroud(d.path(), &["scan", "--all-history", "--update-baseline"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(code(&shroud(d.path(), &["scan", "--all-history"])), 0);
    git(d.path(), &["add", ".shroud-baseline.json"]);
    git(d.path(), &["commit", "-q", "-m", "baseline"]);

    // The same token committed again, at the same path.
    std::fs::write(d.path().join("app.py"), format!("T = \"{tok}\"\n")).unwrap();
    assert_eq!(code(&shroud(d.path(), &["scan"])), 1, "working tree");
    git(d.path(), &["add", "app.py"]);
    let staged = shroud(d.path(), &["scan", "--staged", "--format", "json"]);
    assert_eq!(
        code(&staged),
        1,
        "the hook must block it: {}",
        stdout(&staged)
    );
    assert_eq!(json(&staged)["stats"]["baselined"], 0);
    // The entry names the commit and blob it accepts, and no line number (no churn).
    let text = std::fs::read_to_string(d.path().join(".shroud-baseline.json")).unwrap();
    assert!(
        text.contains("\"commit\"") && text.contains("\"blob\""),
        "{text}"
    );
    assert!(!text.contains("\"line\""), "no line numbers: {text}");
    git(d.path(), &["commit", "-q", "-m", "again"]);
    assert_eq!(
        code(&shroud(d.path(), &["scan", "--commits", "HEAD~1..HEAD"])),
        1,
        "a new commit is a new finding"
    );
    // In a new blob (other content around it), history reports it again too.
    std::fs::write(
        d.path().join("app.py"),
        format!("import os\nT = \"{tok}\"\n"),
    )
    .unwrap();
    commit_all(d.path(), "moved");
    let out = shroud(d.path(), &["scan", "--all-history", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    // The accepted occurrence stays accepted: the report starts after it.
    let v = json(&out);
    let first = git(d.path(), &["rev-list", "--max-parents=0", "HEAD"]);
    assert!(
        findings(&v).iter().all(|f| f["commit"] != first.trim()),
        "{v}"
    );
}

/// Bypass 3: a `kubernetes.io/dockerconfigjson` Secret holding a GitLab token is reported as
/// that token, from the decoded `.dockerconfigjson` and from the `auth` field alone.
#[test]
fn registry_secrets_are_decoded_and_scanned_with_every_rule() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let d = repo();
    let tok = format!("{}-{}", "glpat", "Qr7x3V6YSJb6E2qSdkhy");
    let full = format!(
        "{{\"auths\":{{\"registry.gitlab.com\":{{\"username\":\"deploy\",\"password\":\"{tok}\",\"auth\":\"{}\"}}}}}}",
        b64(&format!("deploy:{tok}"))
    );
    let auth_only = format!(
        "{{\"auths\":{{\"registry.gitlab.com\":{{\"auth\":\"{}\"}}}}}}",
        b64(&format!("deploy:{tok}"))
    );
    let secret = |name: &str, json: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            b64(json)
        )
    };
    std::fs::write(d.path().join("full.yaml"), secret("a", &full)).unwrap();
    std::fs::write(d.path().join("auth.yaml"), secret("b", &auth_only)).unwrap();
    std::fs::write(d.path().join("plain.json"), &full).unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let rules = rules_of(&json(&out));
    for expected in [
        ("gitlab-token".to_owned(), "full.yaml".to_owned(), 7),
        ("gitlab-token".to_owned(), "auth.yaml".to_owned(), 7),
        ("gitlab-token".to_owned(), "plain.json".to_owned(), 1),
    ] {
        assert!(rules.contains(&expected), "{expected:?} in {rules:?}");
    }
    // A registry credential whose password is a placeholder is not a finding.
    let ph = format!(
        "{{\"auths\":{{\"r.example\":{{\"auth\":\"{}\"}}}}}}",
        b64("user:<password>")
    );
    std::fs::write(d.path().join("ph.yaml"), secret("c", &ph)).unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json", "ph.yaml"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

/// What `kubectl get secret db -o yaml` prints after `kubectl apply`: the data twice, once in
/// the last-applied annotation (keys in kubectl's alphabetical order).
fn exported_secret(password_b64: &str) -> String {
    format!(
        "apiVersion: v1\ndata:\n  password: {password_b64}\nkind: Secret\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n      {{\"apiVersion\":\"v1\",\"data\":{{\"password\":\"{password_b64}\"}},\"kind\":\"Secret\",\"metadata\":{{\"annotations\":{{}},\"name\":\"db\",\"namespace\":\"prod\"}},\"type\":\"Opaque\"}}\n  creationTimestamp: \"2024-05-01T10:00:00Z\"\n  name: db\n  namespace: prod\n  resourceVersion: \"4711\"\n  uid: 5b1e0e0e-0000-4000-8000-000000000001\ntype: Opaque\n" // shroud:allow
    )
}

/// Bypass 4: the last-applied annotation is scanned as the Secret it holds, also in a file
/// sops encrypted (where annotations stay plaintext), and `encrypt -i` removes it.
#[test]
fn last_applied_copies_are_found_and_encrypt_removes_them() {
    use base64::Engine;
    let pw = "Zq8-rT3x-Lm9w-K4v"; // shroud:allow
    let pw_b64 = base64::engine::general_purpose::STANDARD.encode(pw);
    let sb = crate::util::Sandbox::new();
    sb.write("k8s/db.yaml", &exported_secret(&pw_b64));
    let out = sb
        .cmd()
        .args(["scan", "--format", "json", "k8s/db.yaml"])
        .run();
    assert_eq!(code(&out), 1);
    let v = json(&out);
    let rules = rules_of(&v);
    assert!(
        rules.contains(&("kubernetes-secret".into(), "k8s/db.yaml".into(), 3)),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("kubernetes-secret".into(), "k8s/db.yaml".into(), 8)),
        "the annotation's copy: {rules:?}"
    );
    // encrypt -i as the scanner says: the copy is removed (and the user told), the data
    // encrypted; nothing of the password is left in the file and it scans clean.
    let enc = sb
        .with_key()
        .args([
            "encrypt",
            "-i",
            "--age",
            crate::util::TEST_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
            "k8s/db.yaml",
        ])
        .run();
    crate::util::assert_code(&enc, 0);
    assert!(
        crate::util::stderr(&enc).contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{}",
        crate::util::stderr(&enc)
    );
    let text = sb.read("k8s/db.yaml");
    assert!(!text.contains(&pw_b64) && !text.contains(pw), "{text}");
    assert!(!text.contains("last-applied-configuration"), "{text}");
    assert!(text.contains("name: db"), "{text}");
    let out = sb.cmd().args(["scan", "k8s/db.yaml"]).run();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let dec = sb.with_key().args(["decrypt", "k8s/db.yaml"]).run();
    crate::util::assert_code(&dec, 0);
    assert!(stdout(&dec).contains(&pw_b64));

    // The real sops keeps the annotation in plaintext: the scanner reports it, and the fix its
    // message gives works.
    sb.write("k8s/sops.yaml", &exported_secret(&pw_b64));
    let s = crate::util::sops_cmd(&sb)
        .args([
            "encrypt",
            "-i",
            "--age",
            crate::util::TEST_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
            "k8s/sops.yaml",
        ])
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert!(sb.read("k8s/sops.yaml").contains(&pw_b64));
    let out = sb
        .cmd()
        .args(["scan", "--format", "json", "k8s/sops.yaml"])
        .run();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let v = json(&out);
    let f = &findings(&v)[0];
    assert_eq!(f["rule"], "kubernetes-secret");
    let msg = f["message"].as_str().unwrap();
    let fix = msg
        .split("remove it: ")
        .nth(1)
        .expect("a fix in the message");
    let args = fix
        .strip_prefix("shroud unset ")
        .expect("a shroud unset command");
    let (file, path) = args.split_once(' ').unwrap();
    let unset = sb
        .with_key()
        .args(["unset", file, path.trim_matches('\'')])
        .run();
    crate::util::assert_code(&unset, 0);
    assert!(!sb.read("k8s/sops.yaml").contains(&pw_b64));
    assert_eq!(code(&sb.cmd().args(["scan", "k8s/sops.yaml"]).run()), 0);
    let dec = crate::util::sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", crate::util::test_key())
        .args(["decrypt", "k8s/sops.yaml"])
        .output()
        .unwrap();
    assert!(
        dec.status.success(),
        "sops still opens it: {}",
        String::from_utf8_lossy(&dec.stderr)
    );
}

/// Bypass 5: a file git tracks is scanned even when .gitignore matches it.
#[test]
fn tracked_files_that_gitignore_matches_are_scanned() {
    let d = repo();
    std::fs::write(d.path().join(".gitignore"), "*.env\nbuild/\n").unwrap();
    std::fs::create_dir_all(d.path().join("build")).unwrap();
    std::fs::write(
        d.path().join("prod.env"),
        format!("T={}\n", github_token(32)),
    )
    .unwrap();
    std::fs::write(
        d.path().join("build/cfg.py"),
        format!("T = \"{}\"\n", github_token(33)),
    )
    .unwrap();
    git(
        d.path(),
        &["add", "-f", ".gitignore", "prod.env", "build/cfg.py"],
    );
    git(
        d.path(),
        &["commit", "-q", "-m", "tracked despite .gitignore"],
    );
    // An untracked ignored file is still skipped.
    std::fs::write(
        d.path().join("local.env"),
        format!("T={}\n", github_token(34)),
    )
    .unwrap();
    let out = shroud(d.path(), &["scan", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let mut paths: Vec<String> = rules_of(&json(&out)).into_iter().map(|r| r.1).collect();
    paths.sort();
    assert_eq!(paths, ["build/cfg.py", "prod.env"]);
    // Also when the directory is named.
    let out = shroud(d.path(), &["scan", "--format", "json", "build"]);
    assert_eq!(rules_of(&json(&out)).len(), 1, "{}", stdout(&out));
}

/// Issue 21, scanner part: a custom rule id (from `.shroud/scan.yaml` or `.gitleaks.toml`) and
/// every other repository-controlled string reach the terminal escaped.
#[test]
fn custom_rule_ids_are_escaped_for_the_terminal() {
    let d = repo();
    std::fs::create_dir_all(d.path().join(".shroud")).unwrap();
    std::fs::write(
        d.path().join(".shroud/scan.yaml"),
        "rules:\n  - id: \"acme\\e]0;pwned\\a\\u202e\"\n    description: \"ACME\\e[31m token\"\n    regex: '\\b(acme_[a-z0-9]{24})\\b'\n    keywords: [acme_]\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join(".gitleaks.toml"),
        "[[rules]]\nid = \"gl\\u001b[2Jx\"\ndescription = \"d\"\nregex = '''\\b(zork_[a-z0-9]{24})\\b'''\nkeywords = [\"zork_\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("x.txt"),
        "t = acme_k3j4h5g6f7d8s9a0q1w2e3r4\nu = zork_k3j4h5g6f7d8s9a0q1w2e3r4\n",
    )
    .unwrap();
    let out = shroud(d.path(), &["scan"]);
    assert_eq!(code(&out), 1);
    let all = format!("{}{}", stdout(&out), crate::util::stderr(&out));
    assert!(
        !all.contains('\u{1b}') && !all.contains('\u{7}') && !all.contains('\u{202e}'),
        "{all:?}"
    );
    assert!(all.contains("[acme\\e]0;pwned\\u{7}\\u{202e}]"), "{all}");
    assert!(all.contains("[gl\\e[2Jx]"), "{all}");
}

/// A git that stops answering in the middle of a history scan (a stalled network file system,
/// a damaged pack) does not hang the scan or a CI job: each wait for git's output is bounded
/// by SHROUD_GIT_TIMEOUT, the stalled git (and anything it started) is killed, and the scan
/// fails with exit 2 naming the setting, never a clean result from half a history.
#[test]
fn a_stalled_git_stream_times_out_instead_of_hanging() {
    // SHA-256: objects are read through `git cat-file --batch` there (SHA-1 repositories are
    // read in process), the stream this test stalls.
    let d = repo_of("sha256");
    std::fs::write(
        d.path().join("conf.env"),
        format!("TOKEN={}\n", github_token(7)),
    )
    .unwrap();
    commit_all(d.path(), "leak");
    std::fs::write(
        d.path().join("more.env"),
        format!("T={}\n", github_token(8)),
    )
    .unwrap();
    commit_all(d.path(), "more");
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let tools = tempfile::tempdir().unwrap();
    // Every git call goes through; the streams a history and a range scan read stall (in a
    // grandchild that holds the pipe open, the hardest case).
    let wrapper = tools.path().join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  *'cat-file --batch'|log*' -p '*) sleep 300; exit 0 ;;\nesac\nexec '{}' \"$@\"\n",
            real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for args in [
        &["scan", "--all-history"][..],
        &["scan", "--commits", "HEAD~1..HEAD"][..],
    ] {
        let start = std::time::Instant::now();
        let out = shroud_in(d.path())
            .env("PATH", &path)
            .env("SHROUD_GIT_TIMEOUT", "1")
            .args(args)
            .run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.contains("SHROUD_GIT_TIMEOUT"), "{args:?}: {err}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{args:?} took {:?}",
            start.elapsed()
        );
    }
    // A signal that ends the scan ends the stalled git and what it started too.
    let marker = format!("sleep {}", 400 + std::process::id() % 500);
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  *'cat-file --batch') {marker}; exit 0 ;;\nesac\nexec '{}' \"$@\"\n",
            real.trim()
        ),
    )
    .unwrap();
    let mut child = shroud_in(d.path())
        .env("PATH", &path)
        .args(["scan", "--all-history"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let alive = || {
        Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !alive() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(alive(), "the stalled git did not start");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let start = std::time::Instant::now();
    while alive() && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(), "`{marker}` outlived the scan");
}

// Red-team bypasses of the hook's promise ("the hook never lets plaintext in"): each scenario
// below once passed `shroud scan --staged` (and `--commits`) with plaintext in it.

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `(rule, path, line)` of a JSON scan in `dir`, and its exit code.
fn scan_json(dir: &Path, args: &[&str]) -> (i32, Vec<(String, String, u64)>) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    let out = shroud(dir, &all);
    (code(&out), rules_of(&json(&out)))
}

fn has(found: &[(String, String, u64)], rule: &str, path: &str, line: u64) -> bool {
    found.contains(&(rule.to_owned(), path.to_owned(), line))
}

/// A repository whose `.sops.yaml` requires `k8s/*.yaml` encrypted, with a plaintext Secret
/// written as `k8s/api.yaml` and, identical (one blob), as `k8s/api.txt`, which git lists
/// first.
fn secret_under_two_paths() -> tempfile::TempDir {
    let d = repo();
    write(
        d.path(),
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n",
            crate::util::TEST_RECIPIENT
        ),
    );
    commit_all(d.path(), "sops");
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ntype: Opaque\ndata:\n  dsn: {}\n  admin: {}\n",
        b64("Tr0ub4dor&3-horse-staple"),
        b64(&format!("k7Qm2Rz9{}", "Xw4Lp8Vt3Nb6"))
    );
    write(d.path(), "k8s/api.yaml", &secret);
    write(d.path(), "k8s/api.txt", &secret);
    git(d.path(), &["add", "-A"]);
    d
}

/// One blob staged under two paths: the path-dependent checks (a Secret needs a `.yaml` name,
/// the `.sops.yaml` rule matches `.yaml`) run for every path it has, not only the first.
#[test]
fn one_blob_under_two_paths_is_checked_under_each() {
    let d = secret_under_two_paths();
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "kubernetes-secret", "k8s/api.yaml", 7),
        "{found:?}"
    );
    assert!(
        has(&found, "kubernetes-secret", "k8s/api.yaml", 8),
        "{found:?}"
    );
    assert!(
        has(&found, "sops-unencrypted-file", "k8s/api.yaml", 1),
        "{found:?}"
    );
}

/// The same, committed: a commit range and the history scan check every path of the blob.
#[test]
fn one_blob_under_two_paths_is_checked_under_each_in_history() {
    let d = secret_under_two_paths();
    git(d.path(), &["commit", "-q", "--no-verify", "-m", "leak"]);
    for args in [&["--commits", "HEAD~1..HEAD"][..], &["--all-history"][..]] {
        let (rc, found) = scan_json(d.path(), args);
        assert_eq!(rc, 1, "{args:?}: {found:?}");
        assert!(
            has(&found, "kubernetes-secret", "k8s/api.yaml", 7)
                && has(&found, "kubernetes-secret", "k8s/api.yaml", 8),
            "{args:?}: {found:?}"
        );
    }
}

/// A template committed with a PEM placeholder; the real key body pasted later between the
/// unchanged BEGIN/END lines: the finding starts on an unchanged line, but its span covers
/// added lines.
#[test]
fn key_body_pasted_between_unchanged_pem_lines_is_reported() {
    let d = repo();
    let (begin, end) = (
        format!("-----BEGIN {} KEY-----", "PRIVATE"),
        format!("-----END {} KEY-----", "PRIVATE"),
    );
    write(
        d.path(),
        "app.yaml",
        &format!("server:\n  tls_key: |\n    {begin}\n    REPLACE_ME\n    {end}\n"),
    );
    commit_all(d.path(), "template");
    let key = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl runs");
    assert!(key.status.success());
    let key = String::from_utf8(key.stdout).unwrap();
    assert!(key.starts_with(&begin), "{key}");
    let body: String = key.lines().map(|l| format!("    {l}\n")).collect();
    write(
        d.path(),
        "app.yaml",
        &format!("server:\n  tls_key: |\n{body}"),
    );
    git(d.path(), &["add", "app.yaml"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "private-key", "app.yaml", 3), "{found:?}");
}

/// Files a `.gitattributes` marks `-diff` or `binary` have no hunks in `git diff` ("Binary
/// files differ"): they are scanned whole; a real binary file is still skipped.
#[test]
fn binary_attributed_files_are_scanned() {
    let d = repo();
    write(
        d.path(),
        ".gitattributes",
        "*.lock -diff\nconfig/*.json binary\n*.bin binary\n",
    );
    commit_all(d.path(), "attributes");
    let token = github_token(41);
    write(
        d.path(),
        "config/prod.json",
        &format!("{{\n  \"github_token\": \"{token}\"\n}}\n"),
    );
    write(
        d.path(),
        "deps.lock",
        &format!("resolved x\nTOKEN={}\n", github_token(42)),
    );
    let mut bin = b"\x00\x01binary\n".to_vec();
    bin.extend_from_slice(format!("T={}\n", github_token(43)).as_bytes());
    std::fs::write(d.path().join("blob.bin"), bin).unwrap();
    git(d.path(), &["add", "-A"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "github-token", "config/prod.json", 2),
        "{found:?}"
    );
    assert!(has(&found, "github-token", "deps.lock", 2), "{found:?}");
    assert!(!found.iter().any(|f| f.1 == "blob.bin"), "{found:?}");
    git(d.path(), &["commit", "-q", "--no-verify", "-m", "leak"]);
    let (rc, found) = scan_json(d.path(), &["--commits", "HEAD~1..HEAD"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "github-token", "config/prod.json", 2),
        "{found:?}"
    );
    assert!(has(&found, "github-token", "deps.lock", 2), "{found:?}");
}

/// A symlink replaced by a regular file is a type change (`T`): it is scanned.
#[test]
fn a_symlink_turned_file_is_scanned() {
    let d = repo();
    write(d.path(), "settings.example.env", "placeholder\n");
    std::os::unix::fs::symlink("settings.example.env", d.path().join("settings.env")).unwrap();
    let base = commit_all(d.path(), "link");
    std::fs::remove_file(d.path().join("settings.env")).unwrap();
    write(
        d.path(),
        "settings.env",
        &format!("GITHUB_TOKEN={}\n", github_token(44)),
    );
    git(d.path(), &["add", "-A"]);
    assert!(git(d.path(), &["diff", "--cached", "--name-status"]).starts_with("T\t"));
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "github-token", "settings.env", 1), "{found:?}");
    git(d.path(), &["commit", "-q", "--no-verify", "-m", "leak"]);
    let range = format!("{base}..HEAD");
    let (rc, found) = scan_json(d.path(), &["--commits", &range]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "github-token", "settings.env", 1), "{found:?}");
}

/// An added line starting `++ ` is `+++ …` in the patch: it is content, not a file header
/// (which ended the file and hid every later hunk).
#[test]
fn an_added_plus_plus_line_is_not_a_header() {
    let d = repo();
    let lines: Vec<String> = (1..=40).map(|i| format!("line {i}")).collect();
    write(d.path(), "notes.txt", &(lines.join("\n") + "\n"));
    commit_all(d.path(), "notes");
    let mut changed = lines.clone();
    changed[4] = "++ /dev/null".into();
    changed[29] = format!("GITHUB_TOKEN={}", github_token(45));
    write(d.path(), "notes.txt", &(changed.join("\n") + "\n"));
    git(d.path(), &["add", "notes.txt"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "github-token", "notes.txt", 30), "{found:?}");
}

/// A staged submodule (a gitlink) has no blob in this repository: nothing is missing.
#[test]
fn a_staged_submodule_is_not_a_missing_object() {
    let d = repo();
    write(d.path(), "README", "x\n");
    commit_all(d.path(), "init");
    git(
        d.path(),
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1234567890123456789012345678901234567890,sub",
        ],
    );
    let out = shroud(d.path(), &["scan", "--staged", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        json(&out)["warnings"],
        serde_json::json!([]),
        "{}",
        stdout(&out)
    );
}

/// A sandbox that is a git repository with a `.sops.yaml` for `path_regex` and the test key.
fn sops_repo(path_regex: &str) -> crate::util::Sandbox {
    let s = crate::util::Sandbox::new();
    let dir = s.dir.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Test"]);
    git(dir, &["config", "user.email", "test@example.com"]);
    s.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: {path_regex}\n    age: {}\n",
            crate::util::TEST_RECIPIENT
        ),
    );
    s
}

/// A plaintext value pasted under a key whose name repeats (`staging.value`, `prod.value`) is
/// placed at its own key, an added line, not at the first line naming `value`.
#[test]
fn a_sops_value_under_a_repeated_key_is_placed_by_its_path() {
    let s = sops_repo("secrets/.*\\.yaml$");
    let dir = s.dir.path();
    s.write(
        "secrets/app.yaml",
        "staging:\n    value: s7aging-only-Kq2\nprod:\n    value: placeholder-to-replace\n",
    );
    let out = s
        .with_key()
        .args(["encrypt", "-i", "secrets/app.yaml"])
        .run();
    crate::util::assert_code(&out, 0);
    commit_all(dir, "encrypted");
    let text = s.read("secrets/app.yaml");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[3].trim_start().starts_with("value: ENC["), "{text}");
    lines[3] = format!("    value: {}", "Zr8vN2pQx7LmW4tK9sYb");
    s.write("secrets/app.yaml", &(lines.join("\n") + "\n"));
    git(dir, &["add", "secrets/app.yaml"]);
    let (rc, found) = scan_json(dir, &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "sops-plaintext-value", "secrets/app.yaml", 4),
        "{found:?}"
    );
}

/// A Secret document after a `%YAML` directive, and a Secret item of a `kind: List`, are
/// placed where they are, after an earlier object with the same key names.
#[test]
fn secret_items_and_documents_are_placed_by_position() {
    let value = b64(&format!("k7Qm2Rz9{}", "Xw4Lp8Vt3Nb6"));
    let cases = [
        (
            "app.yaml",
            "%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  admin: ops-team\n".to_owned(),
            format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata:\n  admin: {value}\n"),
            15,
        ),
        (
            "all.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    admin: ops-team\n".to_owned(),
            format!("- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: a\n  data:\n    admin: {value}\n"),
            15,
        ),
    ];
    for (name, old, added, line) in cases {
        let d = repo();
        write(d.path(), name, &old);
        commit_all(d.path(), "config map");
        write(d.path(), name, &format!("{old}{added}"));
        git(d.path(), &["add", name]);
        let (rc, found) = scan_json(d.path(), &["--staged"]);
        assert_eq!(rc, 1, "{name}: {found:?}");
        assert!(
            has(&found, "kubernetes-secret", name, line),
            "{name}: {found:?}"
        );
    }
}

/// A sops-encrypted Secret whose rules cover `data` only, with a plaintext `stringData` added
/// by hand: a Secret's values must be encrypted in a sops file too.
#[test]
fn plaintext_string_data_in_a_sops_secret_is_reported() {
    let s = sops_repo("nothing-matches$");
    let dir = s.dir.path();
    s.write(
        "k8s/api.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ndata:\n  dsn: {}\n",
            b64("Tr0ub4dor&3-horse-staple")
        ),
    );
    let out = s
        .with_key()
        .args(["encrypt", "-i", "--age", crate::util::TEST_RECIPIENT])
        .args(["--encrypted-regex", "^data$", "k8s/api.yaml"])
        .run();
    crate::util::assert_code(&out, 0);
    commit_all(dir, "encrypted Secret");
    let text = s.read("k8s/api.yaml").replacen(
        "metadata:\n",
        &format!(
            "stringData:\n    admin: k7Qm2Rz9{}\nmetadata:\n",
            "Xw4Lp8Vt3Nb6"
        ),
        1,
    );
    s.write("k8s/api.yaml", &text);
    git(dir, &["add", "k8s/api.yaml"]);
    let (rc, found) = scan_json(dir, &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "kubernetes-secret", "k8s/api.yaml", 4),
        "{found:?}"
    );
}

/// `sops: {}` is not sops metadata: the Secret is still judged as plaintext.
#[test]
fn an_empty_sops_key_does_not_hide_a_secret() {
    let d = repo();
    write(
        d.path(),
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata:\n  admin: {}\nsops: {{}}\n",
            b64(&format!("k7Qm2Rz9{}", "Xw4Lp8Vt3Nb6"))
        ),
    );
    git(d.path(), &["add", "-A"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "kubernetes-secret", "secret.yaml", 6),
        "{found:?}"
    );
}

/// A baselined `sops-unencrypted-file` accepts that version of the file, not whatever is put
/// into it later.
#[test]
fn a_baselined_unencrypted_file_that_changes_is_a_new_finding() {
    let d = repo();
    write(
        d.path(),
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*$\n    age: {}\n",
            crate::util::TEST_RECIPIENT
        ),
    );
    write(d.path(), "secrets/app.env", "LOG_LEVEL=debug\n");
    git(d.path(), &["add", "-A"]);
    assert_eq!(
        code(&shroud(
            d.path(),
            &["scan", "--staged", "--update-baseline"]
        )),
        0
    );
    commit_all(d.path(), "accepted for now");
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 0, "{found:?}");
    write(
        d.path(),
        "secrets/app.env",
        &format!("LOG_LEVEL=debug\nADMIN=k7Qm2Rz9{}\n", "Xw4Lp8Vt3Nb6"),
    );
    git(d.path(), &["add", "-A"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(
        has(&found, "sops-unencrypted-file", "secrets/app.env", 1),
        "{found:?}"
    );
}

// Round 2 of the red team: more ways past `--staged`/`--commits`.

/// A Secret value written on the lines after its key (a block scalar `|-`, `|`, `>-`, a plain
/// scalar on the next line): changing only the value line is an added line of the finding.
#[test]
fn a_secret_value_below_its_key_is_reported_when_only_the_value_changes() {
    let real = format!("k7Qm2Rz9{}", "Xw4Lp8Vt3Nb6");
    for indicator in ["|-", "|", ">-", ""] {
        let d = repo();
        let text = |v: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {indicator}\n    {v}\n  other: x\n"
            )
        };
        write(d.path(), "db.yaml", &text("CHANGEME"));
        commit_all(d.path(), "placeholder");
        write(d.path(), "db.yaml", &text(&real));
        git(d.path(), &["add", "db.yaml"]);
        let (rc, found) = scan_json(d.path(), &["--staged"]);
        assert_eq!(rc, 1, "{indicator:?}: {found:?}");
        assert!(
            has(&found, "kubernetes-secret", "db.yaml", 6),
            "{indicator:?}: {found:?}"
        );
        commit_all(d.path(), "real value");
        let (rc, found) = scan_json(d.path(), &["--commits", "HEAD~1..HEAD"]);
        assert_eq!(rc, 1, "{indicator:?}: {found:?}");
        // A change to the next key's line is not a change of this value.
        write(
            d.path(),
            "db.yaml",
            &text(&real).replace("other: x", "other: y"),
        );
        git(d.path(), &["add", "db.yaml"]);
        let (rc, found) = scan_json(d.path(), &["--staged"]);
        assert_eq!(rc, 0, "{indicator:?}: {found:?}");
    }
}

/// `--commits` reads what a merge commit brings to its first parent: a conflict resolved with
/// a credential (committed without the hook) is found by the CI range scan.
#[test]
fn a_credential_written_while_resolving_a_merge_is_found_in_the_range() {
    let d = repo();
    write(d.path(), "app.env", "a=1\nTOKEN=placeholder\nz=1\n");
    let base = commit_all(d.path(), "base");
    git(d.path(), &["checkout", "-q", "-b", "feat"]);
    write(d.path(), "app.env", "a=1\nTOKEN=from-feat\nz=1\n");
    commit_all(d.path(), "feat");
    git(d.path(), &["checkout", "-q", "main"]);
    write(d.path(), "app.env", "a=1\nTOKEN=from-main\nz=1\n");
    commit_all(d.path(), "main");
    let merge = Command::new("git")
        .arg("-C")
        .arg(d.path())
        .args(["merge", "-q", "feat"])
        .env("HOME", d.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge conflicts");
    write(
        d.path(),
        "app.env",
        &format!("a=1\nTOKEN={}\nz=1\n", github_token(61)),
    );
    let head = commit_all(d.path(), "merge feat");
    assert_eq!(git(d.path(), &["rev-parse", "HEAD^2"]).trim().len(), 40);
    for args in [
        vec!["--commits".to_owned(), format!("{base}..HEAD")],
        vec!["--since".to_owned(), base.clone()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut all = vec!["scan", "--format", "json"];
        all.extend_from_slice(&args);
        let out = shroud(d.path(), &all);
        assert_eq!(code(&out), 1, "{args:?}: {}", stdout(&out));
        let v = json(&out);
        assert!(
            v["findings"].as_array().unwrap().iter().any(|f| {
                f["rule"] == "github-token" && f["line"] == 2 && f["commit"] == head.as_str()
            }),
            "{args:?}: {v}"
        );
    }
}

/// `--commits` diffs a merge against its first parent, so a token a branch commit added comes
/// again with the merge that brings it (when the merged file differs from the branch's: main
/// changed another line). Each (rule, secret, path) is reported once per run, at the oldest
/// commit, as `--all-history` does; the same token in another file is another finding. Before
/// the fix: reported twice, by the branch commit and by the merge.
#[test]
fn commits_reports_a_token_a_merge_brings_again_once_at_the_branch_commit() {
    let d = repo();
    write(d.path(), "app.env", "a=1\nb=2\nc=3\nd=4\ne=5\n");
    let base = commit_at(d.path(), "base", 1_700_000_000);
    git(d.path(), &["checkout", "-q", "-b", "feat"]);
    let tok = github_token(62);
    write(
        d.path(),
        "app.env",
        &format!("a=1\nb=2\nc=3\nd=4\ne=5\nTOKEN={tok}\n"),
    );
    write(d.path(), "other.env", &format!("TOKEN={tok}\n"));
    let leak = commit_at(d.path(), "leak on a branch", 1_700_000_100);
    git(d.path(), &["checkout", "-q", "main"]);
    write(d.path(), "app.env", "a=changed\nb=2\nc=3\nd=4\ne=5\n");
    commit_at(d.path(), "main changes another line", 1_700_000_200);
    git(d.path(), &["merge", "-q", "--no-ff", "--no-edit", "feat"]);
    assert_eq!(
        git(d.path(), &["show", "HEAD:app.env"]),
        format!("a=changed\nb=2\nc=3\nd=4\ne=5\nTOKEN={tok}\n"),
        "the merged file differs from the branch's"
    );
    for range in [format!("{base}..HEAD"), format!("{base}..")] {
        let out = shroud(d.path(), &["scan", "--format", "json", "--commits", &range]);
        assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
        let v = json(&out);
        let f = findings(&v);
        let at =
            |p: &str| -> Vec<&serde_json::Value> { f.iter().filter(|x| x["path"] == p).collect() };
        assert_eq!(at("app.env").len(), 1, "{range}: {v}");
        assert_eq!(at("app.env")[0]["commit"], leak.as_str(), "{v}");
        assert_eq!(at("app.env")[0]["line"], 6, "{v}");
        assert_eq!(at("other.env").len(), 1, "{range}: {v}");
        assert_eq!(f.len(), 2, "{range}: {v}");
    }
}

/// A file renamed or copied (git's R100/C100, also with `diff.renames=copies`) to a path where
/// other checks apply is wholly added there: a plaintext Secret kept as `.txt` becomes
/// `k8s/api.yaml`, which `.sops.yaml` says must be encrypted.
#[test]
fn a_renamed_or_copied_file_is_checked_at_its_new_path() {
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ntype: Opaque\ndata:\n  dsn: {}\n",
        b64("Tr0ub4dor&3-horse-staple")
    );
    for (copies, copy) in [(false, false), (true, false), (true, true)] {
        let what = format!("renames=copies {copies}, copy {copy}");
        let d = repo();
        if copies {
            git(d.path(), &["config", "diff.renames", "copies"]);
        }
        write(
            d.path(),
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: k8s/.*\\.yaml$\n    age: {}\n",
                crate::util::TEST_RECIPIENT
            ),
        );
        write(d.path(), "drafts/api.txt", &secret);
        commit_all(d.path(), "draft");
        if copy {
            write(d.path(), "k8s/api.yaml", &secret);
            write(d.path(), "drafts/api.txt", &format!("{secret}# note\n"));
        } else {
            std::fs::create_dir_all(d.path().join("k8s")).unwrap();
            git(d.path(), &["mv", "drafts/api.txt", "k8s/api.yaml"]);
        }
        git(d.path(), &["add", "-A"]);
        let status = git(d.path(), &["diff", "--cached", "--name-status"]);
        assert!(
            status.contains(if copy { "C100" } else { "R100" }),
            "{what}: {status}"
        );
        let (rc, found) = scan_json(d.path(), &["--staged"]);
        assert_eq!(rc, 1, "{what}: {found:?}");
        for rule in ["kubernetes-secret", "sops-unencrypted-file"] {
            assert!(
                found
                    .iter()
                    .any(|(r, p, _)| r == rule && p == "k8s/api.yaml"),
                "{what}: {rule}: {found:?}"
            );
        }
        commit_all(d.path(), "moved");
        let (rc, found) = scan_json(d.path(), &["--commits", "HEAD~1..HEAD"]);
        assert_eq!(rc, 1, "{what}: {found:?}");
        assert!(
            has(&found, "kubernetes-secret", "k8s/api.yaml", 7),
            "{what}: {found:?}"
        );
    }
}

/// Only a well-formed sops value is ciphertext: an unclosed `ENC[` does not hide the rest of
/// its line, nor a token standing where sops writes base64.
#[test]
fn only_well_formed_sops_values_are_exempt() {
    let d = repo();
    let (t1, t2, t3) = (github_token(71), github_token(72), github_token(73));
    write(d.path(), "app.env", &format!("NOTE=ENC[ TOKEN2={t1}\n"));
    write(
        d.path(),
        "tok.yaml",
        &format!("api_token: ENC[AES256_GCM,data:{t2},iv:x,tag:y,type:str]\n"),
    );
    // A real-looking sops value, then a token after it on the same line.
    write(
        d.path(),
        "ok.yaml",
        &format!(
            "a: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str] # {t3}\n",
            b64(&github_token(74)),
            b64("0123456789ab"),
            b64("0123456789abcdef")
        ),
    );
    let (rc, found) = scan_json(d.path(), &["."]);
    assert_eq!(rc, 1, "{found:?}");
    for path in ["app.env", "tok.yaml", "ok.yaml"] {
        assert!(has(&found, "github-token", path, 1), "{path}: {found:?}");
    }
    // The token base64-encoded as sops data is ciphertext-shaped: one finding in ok.yaml.
    assert_eq!(
        found.iter().filter(|(_, p, _)| p == "ok.yaml").count(),
        1,
        "{found:?}"
    );
}

/// Secrets kubectl reads as `kind: Secret` with a plaintext value, however the text spells it:
/// a merge key under `data`, the kind through an alias, escaped, tagged, a duplicate JSON
/// `kind`, a duplicate `data` (kubectl takes the last).
#[test]
fn secrets_spelled_in_other_ways_are_found() {
    let v = b64("Tr0ub4dor&3-horse-staple");
    let files = [
        (
            "merge.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  annotations: &c\n    dsn: {v}\ndata:\n  <<: *c\n"
            ),
        ),
        (
            "alias.yaml",
            format!("apiVersion: v1\nmetadata:\n  name: &k Secret\nkind: *k\ndata:\n  dsn: {v}\n"),
        ),
        (
            "escape.yaml",
            format!(
                "apiVersion: v1\nkind: \"Sec\\x72et\"\nmetadata: {{name: a}}\ndata:\n  dsn: {v}\n"
            ),
        ),
        (
            "escape.json",
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Secr\\u0065t\",\"metadata\":{{\"name\":\"a\"}},\"data\":{{\"dsn\":\"{v}\"}}}}\n"
            ),
        ),
        (
            "key-escape.json",
            format!(
                "{{\"apiVersion\":\"v1\",\"\\u006bind\":\"Secret\",\"metadata\":{{\"name\":\"a\"}},\"\\u0064ata\":{{\"dsn\":\"{v}\"}}}}\n"
            ),
        ),
        (
            "tag.yaml",
            format!(
                "apiVersion: v1\nkind: !!str Secret\nmetadata: {{name: a}}\ndata:\n  dsn: {v}\n"
            ),
        ),
        (
            "dupkind.json",
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"a\"}},\n \"data\":{{\"dsn\":\"{v}\"}},\n \"kind\":\"Secret\"}}\n"
            ),
        ),
        (
            "dupdata.json",
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"a\"}},\n \"data\":{{}},\n \"data\":{{\"dsn\":\"{v}\"}}}}\n"
            ),
        ),
        (
            "dupdata.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: a}}\ndata: {{}}\ndata:\n  dsn: {v}\n"
            ),
        ),
    ];
    let d = repo();
    for (name, text) in &files {
        write(d.path(), name, text);
    }
    git(d.path(), &["add", "-A"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    for (name, _) in &files {
        assert!(
            found
                .iter()
                .any(|(r, p, _)| r == "kubernetes-secret" && p == name),
            "{name}: {found:?}"
        );
    }
    // A ConfigMap with the same data is not a Secret.
    let d = repo();
    write(
        d.path(),
        "cm.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata: {{}}\ndata:\n  dsn: {v}\n"
        ),
    );
    let (_, found) = scan_json(d.path(), &["."]);
    assert!(
        !found.iter().any(|(r, _, _)| r == "kubernetes-secret"),
        "{found:?}"
    );
}

/// One changed line can turn plaintext that was there into a Secret: a ConfigMap whose `kind`
/// becomes `Secret` reports its values, on unchanged lines.
#[test]
fn a_config_map_turned_into_a_secret_is_reported() {
    let d = repo();
    let text = |kind: &str| {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: api\ndata:\n  dsn: {}\n",
            b64("Tr0ub4dor&3-horse-staple")
        )
    };
    write(d.path(), "app.yaml", &text("ConfigMap"));
    commit_all(d.path(), "config map");
    write(d.path(), "app.yaml", &text("Secret"));
    git(d.path(), &["add", "app.yaml"]);
    let (rc, found) = scan_json(d.path(), &["--staged"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "kubernetes-secret", "app.yaml", 6), "{found:?}");
    commit_all(d.path(), "now a Secret");
    let (rc, found) = scan_json(d.path(), &["--commits", "HEAD~1..HEAD"]);
    assert_eq!(rc, 1, "{found:?}");
}

/// With the file names pre-commit passes, a file whose staged change only deletes lines adds
/// nothing: an old secret elsewhere in it is not reported (it is not scanned whole).
#[test]
fn a_deletion_only_change_does_not_report_an_old_secret() {
    let d = repo();
    let tok = github_token(63);
    write(d.path(), "old.env", &format!("x=1\nOLD={tok}\ny=2\n"));
    commit_all(d.path(), "old");
    write(d.path(), "old.env", &format!("x=1\nOLD={tok}\n"));
    git(d.path(), &["add", "old.env"]);
    let (rc, found) = scan_json(d.path(), &["--pre-commit", "old.env"]);
    assert_eq!(rc, 0, "{found:?}");
    // A file without a staged change is still scanned whole (`pre-commit run --all-files`).
    git(d.path(), &["commit", "-q", "-m", "deleted a line"]);
    let (rc, found) = scan_json(d.path(), &["--pre-commit", "old.env"]);
    assert_eq!(rc, 1, "{found:?}");
    assert!(has(&found, "github-token", "old.env", 2), "{found:?}");
}

/// A Secret value read through an anchor (a merge key under `data`, an alias) changes where
/// the anchor is: that line is an added line of the value's finding.
#[test]
fn a_secret_value_changed_at_its_anchor_is_reported() {
    let cases = [
        (
            "merge.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  annotations: &c\n    dsn: VALUE\ndata:\n  <<: *c\n",
        ),
        (
            "alias.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  labels:\n    v: &v VALUE\ndata:\n  dsn: *v\n",
        ),
    ];
    for (name, template) in cases {
        let d = repo();
        write(d.path(), name, &template.replace("VALUE", &b64("CHANGEME")));
        commit_all(d.path(), "placeholder");
        let (rc, found) = scan_json(d.path(), &["."]);
        assert_eq!(rc, 0, "{name}: {found:?}");
        write(
            d.path(),
            name,
            &template.replace("VALUE", &b64("Tr0ub4dor&3-horse-staple")),
        );
        git(d.path(), &["add", name]);
        let diff = git(d.path(), &["diff", "--cached", "-U0"]);
        assert_eq!(diff.matches("\n+  ").count(), 1, "{diff}");
        let (rc, found) = scan_json(d.path(), &["--staged"]);
        assert_eq!(rc, 1, "{name}: {found:?}");
        assert!(
            found
                .iter()
                .any(|(r, p, _)| r == "kubernetes-secret" && p == name),
            "{name}: {found:?}"
        );
    }
}

/// Every blob `git rev-list --objects --all` lists in `dir`, read through the library's reader
/// and through `git cat-file blob`: the same bytes. Returns whether the reader was in process.
fn reader_agrees_with_git(dir: &Path) -> bool {
    let mut blobs = shroud::git::Blobs::new(dir);
    let in_process = blobs.in_process();
    let listed = git(dir, &["rev-list", "--objects", "--all"]);
    let mut n = 0;
    for id in listed.lines().filter_map(|l| l.split(' ').next()) {
        if git(dir, &["cat-file", "-t", id]).trim() != "blob" {
            continue;
        }
        let want = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["cat-file", "blob", id])
            .output()
            .unwrap()
            .stdout;
        let got = blobs.read(id).unwrap();
        assert!(
            got.as_ref() == Some(&want),
            "blob {id} in {dir:?} differs from git's"
        );
        n += 1;
    }
    assert!(n > 10, "{n} blobs");
    let zero = "0".repeat(id_len(dir));
    assert_eq!(blobs.read(&zero).unwrap(), None);
    in_process
}

fn id_len(dir: &Path) -> usize {
    git(dir, &["rev-parse", "HEAD"]).trim().len()
}

/// History scans read objects inside the process where the object database allows (packed and
/// deltified, loose, through alternates, in a linked work tree) and through `git cat-file`
/// where it does not (replace refs, a SHA-256 repository): the same bytes either way, and the
/// same findings.
#[test]
fn history_objects_read_in_process_agree_with_git() {
    let d = repo();
    let tok = github_token(41);
    let body: String = (0..400)
        .map(|i| format!("line {i} of the configuration\n"))
        .collect();
    // More blobs than a staged change has: the scan reads these in process.
    for v in 0..40 {
        let mut text = body.replace("line 7 ", &format!("line 7 (v{v}) "));
        if v == 12 {
            // Deep in a delta chain once packed.
            text.push_str(&format!("GH={tok}\n"));
        }
        std::fs::write(d.path().join("app.conf"), text).unwrap();
        commit_all(d.path(), &format!("v{v}"));
    }
    git(d.path(), &["gc", "-q", "--aggressive"]);
    // And a loose object after the pack.
    let tok2 = github_token(42);
    std::fs::write(d.path().join("late.env"), format!("GH={tok2}\n")).unwrap();
    commit_all(d.path(), "late");
    let secrets = |dir: &Path| {
        let out = shroud(dir, &["scan", "--all-history", "--format", "json"]);
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        let mut found: Vec<(String, String)> = json(&out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().into(),
                    f["commit"].as_str().unwrap().into(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let want = secrets(d.path());
    assert_eq!(want.len(), 2, "{want:?}");
    assert!(reader_agrees_with_git(d.path()));

    // A clone that borrows its objects through alternates, and a linked work tree.
    let shared = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "-q", "--shared"])
        .arg(d.path())
        .arg(shared.path().join("c"))
        .status()
        .unwrap();
    assert!(status.success());
    let c = shared.path().join("c");
    assert!(c.join(".git/objects/info/alternates").exists());
    assert_eq!(secrets(&c), want);
    assert!(
        !reader_agrees_with_git(&c),
        "borrowed object stores are git's to resolve"
    );
    let wt = shared.path().join("wt");
    git(d.path(), &["worktree", "add", "-q", wt.to_str().unwrap()]);
    assert_eq!(secrets(&wt), want);
    assert!(reader_agrees_with_git(&wt));

    // Replace refs: git shows the replacement, and so does the scan (through the CLI).
    let leaked = git(d.path(), &["rev-parse", "HEAD:late.env"])
        .trim()
        .to_owned();
    let clean = git(d.path(), &["rev-parse", "HEAD~1:app.conf"])
        .trim()
        .to_owned();
    git(&c, &["fetch", "-q", "origin"]);
    git(&c, &["replace", &leaked, &clean]);
    assert!(!reader_agrees_with_git(&c));
    let out = shroud(&c, &["scan", "--all-history", "--format", "json"]);
    let paths: Vec<String> = json(&out)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["app.conf"], "the replaced blob is what git shows");

    // A SHA-256 repository: read through the CLI, same findings.
    let s = repo_of("sha256");
    for v in 0..12 {
        let extra = if v == 5 {
            format!("GH={tok}\n")
        } else {
            String::new()
        };
        std::fs::write(s.path().join("app.conf"), format!("{body}v{v}\n{extra}")).unwrap();
        commit_all(s.path(), &format!("v{v}"));
    }
    assert!(!reader_agrees_with_git(s.path()));
    assert_eq!(secrets(s.path()).len(), 1);
}

/// Red team of the in-process reader: a repository git reads correctly but that a second
/// reader could misread, or one git itself cannot fully read, never scans as clean.
#[test]
fn history_reader_never_turns_a_store_it_cannot_read_into_a_clean_scan() {
    let tok = github_token(43);
    let make = |dir: &Path| {
        for i in 0..40 {
            std::fs::write(dir.join(format!("f{i}.txt")), format!("filler {i}\n")).unwrap();
        }
        commit_all(dir, "fill");
        std::fs::write(dir.join("secret.txt"), format!("token = \"{tok}\"\n")).unwrap();
        commit_all(dir, "secret");
        git(dir, &["rm", "-q", "secret.txt"]);
        git(dir, &["commit", "-q", "-m", "rm"]);
    };
    let history = |dir: &Path| {
        let out = shroud(dir, &["scan", "--all-history", "--format", "json"]);
        (
            code(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out,
        )
    };
    let loose = |dir: &Path, rev: &str| {
        let id = git(dir, &["rev-parse", rev]).trim().to_owned();
        dir.join(".git/objects").join(&id[..2]).join(&id[2..])
    };

    // A chain of borrowed stores whose second hop is relative to the first (a clone
    // `--reference`d to a pooled mirror): git resolves it; so must the scan.
    let w = tempfile::tempdir().unwrap();
    let src_repo = repo();
    let src = src_repo.path();
    make(src);
    let status = |c: &mut Command| assert!(c.status().unwrap().success());
    status(
        Command::new("git")
            .arg("clone")
            .args(["-q", "--bare"])
            .arg(src)
            .arg(w.path().join("store.git")),
    );
    status(
        Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(w.path().join("mid.git")),
    );
    std::fs::write(
        w.path().join("mid.git/objects/info/alternates"),
        "../../store.git/objects\n",
    )
    .unwrap();
    status(
        Command::new("git")
            .args(["clone", "-q", "-s"])
            .arg(w.path().join("store.git"))
            .arg(w.path().join("u")),
    );
    let u = w.path().join("u");
    std::fs::write(
        u.join(".git/objects/info/alternates"),
        format!("{}\n", w.path().join("mid.git/objects").display()),
    )
    .unwrap();
    let (c, err, out) = history(&u);
    assert_eq!(c, 1, "{err}");
    assert_eq!(json(&out)["findings"].as_array().unwrap().len(), 1);

    // An unrelated object git cannot read: the scan fails, never reports the rest as clean.
    let d = repo();
    make(d.path());
    let f = loose(d.path(), "HEAD~2:f3.txt");
    std::fs::remove_file(&f).unwrap();
    std::fs::create_dir(&f).unwrap();
    let (c, err, _) = history(d.path());
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("git fsck"), "{err}");

    // A loose object whose header understates its size (git shows all of it): a failed scan,
    // in process and through `git cat-file` (a SHA-256 repository) alike.
    for d in [repo(), repo_of("sha256")] {
        make(d.path());
        let f = loose(d.path(), "HEAD~1:secret.txt");
        let content = format!("token = \"{tok}\"\n");
        let mut z = flate2_free_zlib(format!("blob 5\0{content}").as_bytes());
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, std::mem::take(&mut z)).unwrap();
        let (c, err, out) = history(d.path());
        assert_eq!(c, 2, "{err} {}", stdout(&out));
    }

    // A stale multi-pack index that git is told not to read: the scan reads what git reads.
    let d = repo();
    make(d.path());
    git(d.path(), &["repack", "-q", "-a", "-d", "--write-midx"]);
    let midx = d.path().join(".git/objects/pack/multi-pack-index");
    let stale = std::fs::read(&midx).unwrap();
    git(d.path(), &["repack", "-q", "-a", "-d"]);
    std::fs::write(&midx, stale).unwrap();
    git(d.path(), &["config", "core.multiPackIndex", "false"]);
    let (c, err, out) = history(d.path());
    if c != 2 {
        assert_eq!(c, 1, "{err}");
        assert_eq!(json(&out)["findings"].as_array().unwrap().len(), 1);
    }
}

/// zlib's stored (uncompressed) format, enough for a git loose object a test writes by hand.
fn flate2_free_zlib(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}
