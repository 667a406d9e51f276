//! Every documented command runs (issue 29), so documentation cannot drift from the binary.
//!
//! What is documented: the shell blocks (```sh, ```bash, ```shell) of README.md, docs/*.md,
//! examples/**.md and deploy/**.md, and every example line of every verb's `--help`. A block
//! counts as run when
//! * a test extracts its section with `util::doc_blocks("DOC", "SECTION")` (string literals:
//!   the calls are found in the test sources), as the runbook tests and the controller suite do;
//! * a script runs it by the `<!-- NAME -->` comment before it (`doc_block FILE NAME`, as
//!   `scripts/test-release.sh` runs README's install and quickstart blocks);
//! * CI's entry point (`.ci/run`, `scripts/test.sh`) runs each of its lines;
//! * or this module runs it: `run_section("DOC", "SECTION", &sandbox)` runs the section's own
//!   blocks in order with `bash -euo pipefail` in a sandbox prepared with what the section's
//!   prose says exists (an empty HOME with the test keys as the sops key file, `shroud` and a
//!   `sops` link to it first on PATH, a git repository with a `.sops.yaml`), and
//!   `run_help("VERB", &sandbox)` runs each example line of `shroud VERB --help`.
//!
//! Placeholders a reader must replace are substituted from [`PLACEHOLDERS`] and must be
//! explained in the prose of the document that uses them. A block or example line that nothing
//! runs fails [`every_documented_command_is_run`]: a new block needs a runner.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::*;

/// What a reader puts in place of a placeholder, what the tests put there, and the text that
/// must explain it in the prose of a document that uses it. Longest first (`age1…recovery`
/// before `age1…`). Values are shell words, run in the section's sandbox.
const PLACEHOLDERS: &[(&str, &str, &str)] = &[
    // docs/backup.md: the recovery recipient made in step 1 (the `# public key:` line).
    (
        "age1…recovery",
        "\"$(sed -n 's/^# public key: //p' recovery.txt)\"",
        "age1…recovery",
    ),
    // A recipient: a teammate's key (the second test key; the sandbox's key file holds both).
    ("age1…", TEST_RECIPIENT2, "age1…"),
    (
        "SHROUD_PASSPHRASE=…",
        "SHROUD_PASSPHRASE='correct horse battery staple'",
        "SHROUD_PASSPHRASE=…",
    ),
    // Removable media: a directory of the sandbox's HOME, outside the repository.
    ("/media/usb", "\"$HOME/usb\"", "/media/usb"),
    // A PGP key of yours: the sops functional-test key, in the sandbox's GNUPGHOME.
    (
        "EF86A169B8B538DA80EA5C86CC53206584078C08",
        crate::pgp::FPR,
        "EF86A169B8B538DA80EA5C86CC53206584078C08",
    ),
    ("FINGERPRINT", crate::pgp::FPR, "FINGERPRINT"),
    // A KMS key: one made on moto_server for the section.
    (
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "\"$KMS_ARN\"",
        "arn:aws:kms:",
    ),
    // A commit range.
    ("A..B", "HEAD~1..HEAD", "A..B"),
    // docs/controller.md's install: your registry (an OCI layout in the sandbox's HOME), and
    // the Kubernetes 1.20 overlay (the test API server is 1.20).
    (
        "docker://registry.example/",
        "oci:$HOME/registry/",
        "registry.example",
    ),
    (
        "kubectl apply -k deploy/ ",
        "kubectl apply -k deploy/kube-1.20/ ",
        "deploy/kube-1.20/",
    ),
];

/// Where documentation lives: README.md, docs/*.md, and Markdown under examples/ and deploy/.
fn documents() -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>, deep: bool) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = format!("{rel}/{name}");
            if e.path().is_dir() {
                if deep {
                    walk(&e.path(), &r, out, deep);
                }
            } else if name.ends_with(".md") {
                out.push(r);
            }
        }
    }
    let mut out = vec!["README.md".to_owned()];
    walk(&root().join("docs"), "docs", &mut out, false);
    walk(&root().join("examples"), "examples", &mut out, true);
    walk(&root().join("deploy"), "deploy", &mut out, true);
    out.sort();
    out
}

/// The sources of the test binary, to find which sections and verbs the tests run.
fn test_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("tests/it"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            // Without comment lines: a call named in a comment runs nothing.
            let src: String = std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| format!("{l}\n"))
                .collect();
            out.push((name, src));
        }
    }
    out
}

/// What the test sources run: `doc_blocks` sections (with their subsections), `run_section`
/// sections (their own blocks) and `run_help` verbs.
#[derive(Default)]
struct Runs {
    nested: BTreeSet<(String, String)>,
    own: BTreeSet<(String, String)>,
    help: BTreeSet<String>,
}

fn runs_in_tests() -> Runs {
    let lit = r#""((?:[^"\\]|\\.)*)""#;
    let nested =
        regex::Regex::new(&format!(r"doc_blocks\(\s*{lit}\s*,\s*{lit}\s*,?\s*\)")).unwrap();
    let own = regex::Regex::new(&format!(r"run_section\(\s*{lit}\s*,\s*{lit}\s*,")).unwrap();
    let help = regex::Regex::new(&format!(r"run_help\(\s*{lit}\s*,")).unwrap();
    let any = regex::Regex::new(r"\b(doc_blocks|run_section|run_help)\(").unwrap();
    let unescape = |s: &str| s.replace("\\\"", "\"").replace("\\\\", "\\");
    let defs = regex::Regex::new(r"fn (doc_blocks|run_section|run_help)\(").unwrap();
    let mut runs = Runs::default();
    for (file, src) in test_sources() {
        let mut literal = 0;
        for c in nested.captures_iter(&src) {
            runs.nested.insert((unescape(&c[1]), unescape(&c[2])));
            literal += 1;
        }
        for c in own.captures_iter(&src) {
            runs.own.insert((unescape(&c[1]), unescape(&c[2])));
            literal += 1;
        }
        for c in help.captures_iter(&src) {
            runs.help.insert(unescape(&c[1]));
            literal += 1;
        }
        // Every call must name its document and section (or verb) with literals, else this
        // test cannot see what it runs; the definitions are not calls.
        let calls = any.find_iter(&src).count() - defs.find_iter(&src).count();
        assert_eq!(
            calls, literal,
            "tests/it/{file}: a doc_blocks/run_section/run_help call without string literals for the document and section (or verb): the docs test cannot see what it runs"
        );
    }
    runs
}

/// Blocks scripts run by their marker: `doc_block FILE NAME` in scripts/*.sh or .ci/run.
fn runs_in_scripts() -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let re = regex::Regex::new(r"\bdoc_block\s+(\S+)\s+([A-Za-z0-9:_.-]+)").unwrap();
    let mut marked = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scripts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    files.push(root().join(".ci/run"));
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_default();
        for c in re.captures_iter(&src) {
            marked.insert((c[1].to_owned(), c[2].to_owned()));
        }
    }
    // The commands CI's entry point runs itself, one a line.
    let mut ci = BTreeSet::new();
    for f in [".ci/run", "scripts/test.sh"] {
        let src = std::fs::read_to_string(root().join(f)).unwrap_or_default();
        for l in src.lines() {
            let l = l.trim();
            ci.insert(l.strip_prefix("exec ").unwrap_or(l).to_owned());
        }
    }
    (marked, ci)
}

/// The command lines of a block: no blank lines, comments or trailing comments.
fn command_lines(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| match l.find(" #") {
            Some(i) => l[..i].trim(),
            None => l.trim(),
        })
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `shroud ARGS --help` as printed with no line wrapped.
fn help_text(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "1000")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "shroud {args:?} --help: {out:?}");
    stdout(&out)
}

/// The verbs (and nested verbs, "keys revoke") of the binary, from `--help`.
fn verbs() -> Vec<String> {
    fn subs(args: &[&str]) -> Vec<String> {
        let text = help_text(args);
        let mut on = false;
        let mut out = Vec::new();
        for l in text.lines() {
            if l == "Commands:" {
                on = true;
            } else if on && !l.starts_with(' ') {
                on = false;
            } else if on && l.starts_with("  ") && !l.starts_with("   ") {
                let name = l.split_whitespace().next().unwrap();
                if name != "help" {
                    out.push(name.to_owned());
                }
            }
        }
        out
    }
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = subs(&[]).into_iter().map(|v| vec![v]).collect();
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        for s in subs(&args) {
            let mut p = path.clone();
            p.push(s);
            todo.push(p);
        }
        out.push(path.join(" "));
    }
    out.sort();
    out
}

/// The example lines of `shroud VERB --help` (the lines after `Examples:`).
fn help_examples(verb: &str) -> Vec<String> {
    let args: Vec<&str> = verb.split_whitespace().collect();
    let text = help_text(&args);
    text.lines()
        .skip_while(|l| l.trim() != "Examples:")
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The text of a block with the placeholders replaced, and which were.
fn substitute(block: &str) -> (String, Vec<&'static str>) {
    let mut text = block.to_owned();
    let mut used = Vec::new();
    for (p, v, explained) in PLACEHOLDERS {
        if text.contains(p) {
            text = text.replace(p, v);
            used.push(*explained);
        }
    }
    (text, used)
}

/// A sandbox for one section: an empty HOME, `shroud` (and `sops`, a link to it: the drop-in
/// mode) first on PATH, and the working directory commands run in.
pub(crate) struct Doc {
    dir: tempfile::TempDir,
    pub(crate) cwd: PathBuf,
    env: Vec<(String, String)>,
}

/// A non-interactive editor for `shroud edit`: it appends a line (valid YAML and dotenv).
const EDITOR: &str = "sed -i '$a edited: true'";

impl Doc {
    /// Nothing but the HOME (the quickstart starts from nothing); commands run in HOME.
    pub(crate) fn empty() -> Doc {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_shroud"));
        std::os::unix::fs::symlink(&exe, bin.join("shroud")).unwrap();
        std::os::unix::fs::symlink(&exe, bin.join("sops")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = [
            ("HOME", home.display().to_string()),
            ("PATH", path),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "dumb".to_owned()),
            ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
            ("GIT_AUTHOR_NAME", "Doc Reader".to_owned()),
            ("GIT_AUTHOR_EMAIL", "reader@example.com".to_owned()),
            ("GIT_COMMITTER_NAME", "Doc Reader".to_owned()),
            ("GIT_COMMITTER_EMAIL", "reader@example.com".to_owned()),
            ("EDITOR", EDITOR.to_owned()),
        ];
        Doc {
            cwd: home,
            dir,
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// [`Doc::empty`] with the two test keys as the sops key file and a git repository
    /// `~/repo` (the working directory) holding `.sops.yaml` with `rules` (`{R1}` and `{R2}`
    /// are the test recipients), committed.
    pub(crate) fn repo(rules: &str) -> Doc {
        let mut d = Doc::empty();
        let keys = d.home().join(".config/sops/age");
        std::fs::create_dir_all(&keys).unwrap();
        let mut text = std::fs::read_to_string(test_key()).unwrap();
        text.push_str(&std::fs::read_to_string(test_key2()).unwrap());
        std::fs::write(keys.join("keys.txt"), text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            keys.join("keys.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        d.cwd = d.home().join("repo");
        std::fs::create_dir_all(&d.cwd).unwrap();
        d.write(
            ".sops.yaml",
            &rules
                .replace("{R1}", TEST_RECIPIENT)
                .replace("{R2}", TEST_RECIPIENT2),
        );
        d.sh("git init -q -b main && git add .sops.yaml && git commit -qm policy");
        d
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.cwd.join(rel)
    }

    pub(crate) fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Puts `dir` first on PATH.
    pub(crate) fn prepend_path(&mut self, dir: &Path) {
        let path = self
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .unwrap()
            .1
            .clone();
        self.set("PATH", &format!("{}:{path}", dir.display()));
    }

    pub(crate) fn set(&mut self, k: &str, v: &str) {
        self.env.retain(|(x, _)| x != k);
        self.env.push((k.to_owned(), v.to_owned()));
    }

    fn bash(&self, script: &str) -> Output {
        let mut c = Command::new("bash");
        c.args(["-euo", "pipefail", "-c", script])
            .current_dir(&self.cwd)
            .env_clear()
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().expect("bash runs")
    }

    /// A setup step (not documentation): fails the test unless it succeeds; its stdout.
    #[track_caller]
    pub(crate) fn sh(&self, script: &str) -> String {
        let out = self.bash(script);
        assert!(
            out.status.success(),
            "setup failed:\n{script}\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs one documented block (placeholders replaced), failing the test unless it succeeds.
    #[track_caller]
    fn run_doc_block(&self, what: &str, block: &str) -> Output {
        let (text, _) = substitute(block);
        let out = self.bash(&text);
        assert!(
            out.status.success(),
            "{what} fails as written ({}):\n{block}\nas run:\n{text}\nstdout: {}\nstderr: {}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        out
    }
}

/// Runs the own blocks of section TITLE of DOC (not its subsections') in order in `d`, each
/// with `bash -euo pipefail`; every placeholder used must be explained in the document's prose.
#[track_caller]
pub(crate) fn run_section(doc: &str, title: &str, d: &Doc) -> Vec<Output> {
    let parsed = parse_doc(doc);
    let blocks: Vec<&DocBlock> = parsed
        .blocks
        .iter()
        .filter(|b| parsed.section(b) == title)
        .collect();
    assert!(
        !blocks.is_empty(),
        "{doc} has no shell block in section {title:?}"
    );
    blocks
        .iter()
        .map(|b| {
            for p in substitute(&b.text).1 {
                assert!(
                    parsed.prose.contains(p),
                    "{doc}:{}: a placeholder is not explained in the document's prose (it must say `{p}`)",
                    b.line
                );
            }
            d.run_doc_block(&format!("{doc}:{} ({title})", b.line), &b.text)
        })
        .collect()
}

/// Runs each example line of `shroud VERB --help` in order in `d` (placeholders replaced).
#[track_caller]
fn run_help(verb: &str, d: &Doc) -> Vec<Output> {
    let lines = help_examples(verb);
    assert!(!lines.is_empty(), "`shroud {verb} --help` has no examples");
    lines
        .iter()
        .map(|l| d.run_doc_block(&format!("`shroud {verb} --help` example"), l))
        .collect()
}

/// Every shell block of the documentation and every `--help` example line is run by a test.
#[test]
fn every_documented_command_is_run() {
    let runs = runs_in_tests();
    let (marked, ci) = runs_in_scripts();
    let mut missing = Vec::new();
    let mut total = 0;
    for doc in documents() {
        let parsed = parse_doc(&doc);
        for b in &parsed.blocks {
            total += 1;
            let section = parsed.section(b);
            let nested = b.under.iter().any(|&i| {
                runs.nested
                    .contains(&(doc.clone(), parsed.headings[i].1.clone()))
            });
            let own = runs.own.contains(&(doc.clone(), section.to_owned()));
            let script = b
                .marker
                .as_ref()
                .is_some_and(|m| marked.contains(&(doc.clone(), m.clone())));
            let lines = command_lines(&b.text);
            let by_ci = !lines.is_empty() && lines.iter().all(|l| ci.contains(l));
            if !(nested || own || script || by_ci) {
                missing.push(format!("{doc}:{} (section {section:?})", b.line));
            }
        }
    }
    for verb in verbs() {
        if help_examples(&verb).is_empty() {
            continue;
        }
        total += 1;
        if !runs.help.contains(&verb) {
            missing.push(format!("`shroud {verb} --help` examples"));
        }
    }
    // What the tests name must exist (a renamed section would otherwise count as run).
    for (doc, title) in runs.nested.iter().chain(&runs.own) {
        let parsed = parse_doc(doc);
        assert!(
            parsed.headings.iter().any(|(_, t, _)| t == title),
            "a test runs section {title:?} of {doc}, which has no such section"
        );
    }
    assert!(total > 40, "only {total} documented blocks and verbs found");
    assert!(
        missing.is_empty(),
        "documented commands that no test runs (run the section with run_section/doc_blocks, or the verb with run_help, in a sandbox with what it needs):\n  {}",
        missing.join("\n  ")
    );
}

/// A program of the reader's (`./deploy.sh` in README and the `exec-*` examples): it reads
/// the values from its environment, or from the file after `--values`/`--config`, and fails
/// unless they are there.
const DEPLOY_SH: &str = "#!/bin/sh\ncase \"${1:-}\" in\n  --values|--config) grep -q password \"$2\" ;;\n  *) [ -n \"${DATABASE_URL:-}\" ] ;;\nesac\n";

impl Doc {
    fn deploy_sh(&self) {
        self.write("deploy.sh", DEPLOY_SH);
        self.sh("chmod +x deploy.sh");
    }
}

/// README's quickstart, from an empty HOME (no key yet) with git and the real pre-commit.
#[test]
fn readme_quickstart() {
    let d = Doc::empty();
    run_section("README.md", "Quickstart", &d);
    let demo = d.home().join("demo");
    let db = std::fs::read_to_string(demo.join("secrets/db.yaml")).unwrap();
    assert!(db.contains("password: ENC[AES256_GCM,"), "{db}");
    let log = d.sh("git -C demo log --oneline");
    assert_eq!(log.lines().count(), 2, "{log}");
}

/// README's "Use" lines, in order, in the repository its prose describes.
#[test]
fn readme_use() {
    let d = Doc::repo(
        "creation_rules:\n  - path_regex: (^|/)k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {R1},{R2}\n  - path_regex: (^|/)secrets(\\.yaml|\\.env|/.*)$\n    age: {R1},{R2}\n",
    );
    d.write("secrets.yaml", "db:\n  password: hunter2\n  port: 5432\n");
    d.write(
        "secrets.env",
        "DATABASE_URL=postgres://app:hunter2@db/app\n",
    );
    d.write("secrets/api.yaml", "token: t0k3n\n");
    d.write(
        "k8s/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
    );
    d.deploy_sh();
    std::fs::create_dir_all(d.home().join("usb")).unwrap();
    let out = run_section("README.md", "Use", &d);
    assert_eq!(out.len(), 1);
    let text = stdout(&out[0]);
    assert!(text.contains("{\"encrypted\":true}"), "{text}");
    assert!(d.home().join("usb/keys.json").is_file());
    assert!(
        d.home()
            .join(".local/share/bash-completion/completions/shroud")
            .is_file()
    );
}

/// docs/audit.md: the commands of its introduction, on a repository that follows its policy
/// (with the `clusters/` directory and the names file `recipients.yaml` they name), and the
/// digest recomputations.
#[test]
fn audit_commands() {
    let d = Doc::repo("creation_rules:\n  - path_regex: (^|/)clusters/\n    age: {R1},{R2}\n");
    d.write("clusters/prod/db.yaml", "password: hunter2\n");
    d.write("clusters/dev/db.yaml", "password: hunter3\n");
    d.write(
        "recipients.yaml",
        &format!("{TEST_RECIPIENT}: {{name: alice, kind: person}}\n{TEST_RECIPIENT2}: ci\n"),
    );
    d.sh("shroud encrypt -i clusters/prod/db.yaml && shroud encrypt -i clusters/dev/db.yaml && git add -A && git commit -qm secrets");
    let intro = run_section(
        "docs/audit.md",
        "`shroud audit` — evidence for auditors",
        &d,
    );
    assert!(stdout(&intro[0]).contains("clusters/prod/db.yaml"));
    assert!(d.read("audit.html").contains("</html>"));
    let digests = run_section("docs/audit.md", "The report's digest", &d);
    // Each line prints the recomputed digest, then the lines holding the recorded one.
    for line in stdout(&digests[0]).lines().filter(|l| l.ends_with("  -")) {
        let digest = line.split_whitespace().next().unwrap();
        assert_eq!(stdout(&digests[0]).matches(digest).count(), 2, "{digest}");
    }
}

/// docs/backup.md from the recovery key to a restore on a new machine, in one sandbox: a
/// repository with an age file and a PGP file, the PGP key in GNUPGHOME, the removable medium
/// a directory of HOME. (`Restore into the cluster` runs in the controller suite.)
#[test]
fn backup_runbook() {
    let g = crate::pgp::Gnupg::with_test_key();
    let mut d = Doc::repo(
        "creation_rules:\n  - path_regex: (^|/)pgp\\.enc\\.yaml$\n    pgp: FPR\n  - age: {R1}\n"
            .replace("FPR", crate::pgp::FPR)
            .as_str(),
    );
    d.set("GNUPGHOME", &g.home.path().display().to_string());
    // A cheap scrypt for the passphrase (a test knob; the format records the work factor).
    d.set("SHROUD_SCRYPT_WORK_FACTOR", "10");
    d.write("secrets.enc.yaml", "db:\n  password: hunter2\n");
    d.write("pgp.enc.yaml", "token: t0k3n\n");
    d.sh("shroud encrypt -i secrets.enc.yaml && shroud encrypt -i pgp.enc.yaml && git add -A && git commit -qm secrets");
    std::fs::create_dir_all(d.home().join("usb")).unwrap();
    run_section(
        "docs/backup.md",
        "1. Make the offline recovery key (once)",
        &d,
    );
    let made = run_section("docs/backup.md", "2. Make the backup", &d);
    assert!(
        stderr(&made[0]).contains("1 PGP secret keys")
            || stdout(&made[0]).contains("1 PGP secret keys"),
        "{made:?}"
    );
    let verified = run_section("docs/backup.md", "3. Prove it, regularly", &d);
    assert_eq!(
        stderr(&verified[0]).matches("opens 2 of 2").count(),
        3,
        "{}",
        stderr(&verified[0])
    );
    let restored = run_section("docs/backup.md", "Restore into a new machine", &d);
    assert_eq!(stdout(&restored[1]), "ok\n");
    assert_eq!(file_mode(&d.home().join("restored-keys.txt")), 0o600);
}

impl Doc {
    /// The standard AWS chain pointed at `moto` (as a reader's AWS profile would be).
    pub(crate) fn aws(&mut self, moto: &crate::kms::Moto) {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            self.set(k, v);
        }
    }
}

/// docs/migrate-to-eso.md, both steps, on a repository with encrypted Secret manifests in
/// `k8s/`; the push goes to AWS Secrets Manager on moto_server.
#[test]
fn migrate_to_eso() {
    let moto = crate::kms::Moto::start();
    let mut d = Doc::repo(
        "creation_rules:\n  - path_regex: (^|/)k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: {R1}\n",
    );
    d.aws(&moto);
    for (name, ns) in [("db", "shop"), ("api", "shop")] {
        d.write(
            &format!("k8s/{name}.yaml"),
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\nstringData:\n  password: {name}-pass\n"),
        );
        d.sh(&format!("shroud encrypt -i k8s/{name}.yaml"));
    }
    d.sh("git add -A && git commit -qm secrets");
    run_section(
        "docs/migrate-to-eso.md",
        "1. Generate the references (keys only)",
        &d,
    );
    let refs = d.read("eso/external-secrets.yaml");
    assert!(
        refs.contains("key: prod/shop/db") && !refs.contains("db-pass"),
        "{refs}"
    );
    assert!(
        d.read("eso/vault.yaml")
            .contains("kind: ClusterSecretStore")
    );
    let pushed = run_section("docs/migrate-to-eso.md", "2. Push the values", &d);
    assert_eq!(pushed.len(), 1);
    let refs = d.read("eso/external-secrets.yaml");
    assert!(refs.contains("key: prod/shop/api"), "{refs}");
    let got = d.sh("aws secretsmanager get-secret-value --secret-id prod/shop/db --query SecretString --output text");
    assert_eq!(got.trim(), "{\"password\":\"db-pass\"}");
}

/// docs/scanning.md's usage lines, in a clean clone (two commits, an `origin` remote, the
/// `src/` and `config/app.yaml` they name).
#[test]
fn scanning_usage() {
    let d = Doc::repo("creation_rules:\n  - path_regex: (^|/)secrets/\n    age: {R1}\n");
    d.write("src/main.py", "print('hello')\n");
    d.write("config/app.yaml", "name: shop\nreplicas: 2\n");
    d.sh("git add -A && git commit -qm app && echo 'log: info' >> config/app.yaml && git commit -qam 'log level' && git init -q --bare ../origin.git && git remote add origin ../origin.git && git push -q origin main");
    let out = run_section("docs/scanning.md", "Usage", &d);
    assert!(
        stdout(&out[0]).contains("\"findings\"") || stdout(&out[0]).contains('['),
        "{}",
        stdout(&out[0])
    );
    assert!(!d.path(".git/hooks/pre-commit").exists(), "uninstalled");
}

/// docs/sops-yaml.md: the same command picks a different config as `shroud` and as `sops`
/// (the drop-in mode, a link named sops), with the two configs its comment describes.
#[test]
fn sops_yaml_config_lookup() {
    let mut d = Doc::repo("creation_rules:\n  - age: {R1}\n");
    d.write(
        "app/.sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT2}\n"),
    );
    d.write("app/sub/y.yaml", "password: hunter2\n");
    d.cwd = d.home();
    let out = run_section("docs/sops-yaml.md", "Where shroud finds it", &d);
    let text = stdout(&out[0]);
    let docs: Vec<&str> = text.split("password: ENC[").collect();
    assert_eq!(docs.len(), 3, "{text}");
    assert!(docs[1].contains(TEST_RECIPIENT2) && !docs[1].contains(TEST_RECIPIENT));
    assert!(docs[2].contains(TEST_RECIPIENT) && !docs[2].contains(TEST_RECIPIENT2));
}

/// The state the `--help` examples name: a repository whose rules encrypt `*.enc.*`,
/// `secrets.yaml`, `shop/` files and the data of `k8s/` manifests for both test keys; plaintext
/// `secrets.yaml` and `k8s/secret.yaml`; encrypted `secrets.enc.yaml`, `secrets.enc.env`,
/// `prod.enc.env`, `config.enc.yaml` and `k8s/secrets.yaml`; a plain `shop/.env`, a JSON value
/// `key.json`, `./deploy.sh`, the removable medium `~/usb` and `recovery.key` (the identity of
/// `age1…`). Committed, except the plaintext files.
fn help_sandbox() -> Doc {
    let d = Doc::repo(
        "creation_rules:\n  - path_regex: (^|/)k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {R1},{R2}\n  - path_regex: (\\.enc\\.[a-z]+|(^|/)secrets\\.yaml|(^|/)shop/.*)$\n    age: {R1},{R2}\n",
    );
    d.write(
        "secrets.enc.yaml",
        "db:\n  password: hunter2\n  port: 5432\nold: legacy\ntls:\n  key: k\n",
    );
    d.write(
        "secrets.enc.env",
        "DATABASE_URL=postgres://app:hunter2@db/app\n",
    );
    d.write("prod.enc.env", "DATABASE_URL=postgres://app:prod@db/app\n");
    d.write("config.enc.yaml", "password: hunter2\n");
    d.write(
        "k8s/secrets.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: hunter2\n",
    );
    d.sh("for f in secrets.enc.yaml secrets.enc.env prod.enc.env config.enc.yaml k8s/secrets.yaml; do shroud encrypt -i \"$f\"; done; git add -A && git commit -qm secrets");
    d.write("secrets.yaml", "db:\n  password: hunter2\n");
    d.write(
        "k8s/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\nstringData:\n  token: t0k3n\n",
    );
    d.write("shop/.env", "API_TOKEN=t0k3n\n");
    d.write("key.json", "{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}\n");
    d.deploy_sh();
    std::fs::copy(test_key2(), d.path("recovery.key")).unwrap();
    std::fs::create_dir_all(d.home().join("usb")).unwrap();
    d
}

impl Doc {
    /// Without the plaintext files and the key file of [`help_sandbox`]: a clean repository.
    fn clean(self) -> Doc {
        self.sh("rm -r secrets.yaml k8s/secret.yaml shop recovery.key");
        self
    }
}

/// The `--help` examples of the file verbs, each verb in a fresh sandbox.
#[test]
fn help_examples_of_file_verbs() {
    let d = help_sandbox();
    run_help("encrypt", &d);
    assert!(d.read("secrets.yaml").contains("ENC["));
    assert!(d.read("k8s/secret.yaml").contains("ENC["));
    assert!(d.read("secrets.enc.yaml").contains("ENC["));
    let out = run_help("decrypt", &help_sandbox());
    assert_eq!(stdout(&out[1]), "hunter2");
    let d = help_sandbox();
    run_help("edit", &d);
    assert!(d.read("new.enc.yaml").contains("ENC["));
    let d = help_sandbox();
    run_help("set", &d);
    run_help("unset", &d);
    let out = run_help("filestatus", &help_sandbox());
    assert_eq!(stdout(&out[0]).trim(), "{\"encrypted\":true}");
    run_help("exec-env", &help_sandbox());
    run_help("exec-file", &help_sandbox());
    run_help("groups", &help_sandbox());
}

/// The `--help` examples of the repository verbs, each verb in a fresh sandbox.
#[test]
fn help_examples_of_repository_verbs() {
    run_help("updatekeys", &help_sandbox());
    run_help("rotate", &help_sandbox());
    run_help("keygen", &help_sandbox());
    let mut d = help_sandbox();
    d.set("SHROUD_SCRYPT_WORK_FACTOR", "10");
    run_help("keys", &d);
    run_help("scan", &help_sandbox().clean());
    run_help("git", &help_sandbox());
    run_help("hook", &help_sandbox().clean());
    run_help("audit", &help_sandbox().clean());
    run_help("external-secret", &help_sandbox());
    run_help("completion", &help_sandbox());
    let mut d = help_sandbox();
    // As after README's install: ~/.local/bin on PATH, where man finds ~/.local/share/man.
    let local = d.home().join(".local/bin");
    d.prepend_path(&local);
    run_help("man", &d);
}

/// `keys revoke`'s examples: an age key, then a KMS key (made on moto_server: the ARN of the
/// example stands for it), each listed in the rules and files next to a key that stays.
#[test]
fn help_examples_of_keys_revoke() {
    let moto = crate::kms::Moto::start();
    let arn = moto.create_key("eu-west-1");
    let mut d = Doc::repo(&format!(
        "creation_rules:\n  - path_regex: (^|/)kms/\n    kms: {arn}\n    age: {{R1}}\n  - age: {{R1}},{{R2}}\n"
    ));
    d.aws(&moto);
    d.set("AWS_REGION", "eu-west-1");
    d.set("KMS_ARN", &arn);
    d.write("secrets.enc.yaml", "db:\n  password: hunter2\n");
    d.write("kms/db.yaml", "password: hunter3\n");
    d.sh("shroud encrypt -i secrets.enc.yaml && shroud encrypt -i kms/db.yaml && git add -A && git commit -qm secrets");
    run_help("keys revoke", &d);
    assert!(!d.read("secrets.enc.yaml").contains(TEST_RECIPIENT2));
    assert!(!d.read("kms/db.yaml").contains(&arn));
    assert!(d.read("revoke.json").contains("\"complete\""));
}
