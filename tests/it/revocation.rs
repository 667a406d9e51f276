//! Revocation as an attacker tests it. The attacker holds a revoked key and a full clone of the
//! repository: every envelope of every version in the history of every ref. For each flow that
//! takes a key away (`keys revoke`, `updatekeys` after a rule change, `rotate --rm-*`, and the
//! runbooks of docs/rotation.md and docs/compromised-key.md, run as written), values are written
//! afterwards and the attacker grafts every historical `sops:` block onto every current file
//! and decrypts the graft, MAC ignored, with the real sops and with shroud. No value written
//! after the revocation may come out. Before each flow the same attack must read the values of
//! that time (the harness can see a breach), and `updatekeys --keep-data-key` shows one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

pub(super) fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Team", "-c", "user.email=team@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(super) fn git_out(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}");
    out.stdout
}

/// A new age key file in `dir`; returns (path, recipient).
pub(super) fn new_key(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let path = sb.path(name);
    let out = sb.cmd().args(["keygen", "-o"]).arg(&path).run();
    assert_code(&out, 0);
    (path, stdout(&out).trim().to_owned())
}

/// What the attacker can bring to bear: environment for sops and shroud (a key file, a GnuPG
/// home, AWS credentials for a KMS key it may still call).
pub(super) struct Attacker {
    env: Vec<(String, String)>,
    /// The revoked key, when the environment opens more than it (AWS credentials on moto open
    /// every KMS key): grafts then keep only its envelopes.
    only: Option<shroud::keysource::Named>,
}

impl Attacker {
    pub(super) fn age(key: &Path) -> Attacker {
        Attacker {
            env: vec![("SOPS_AGE_KEY_FILE".into(), key.display().to_string())],
            only: None,
        }
    }

    /// A graft with only the revoked key's envelopes (see [`Attacker::only`]).
    fn restrict(&self, graft: String) -> String {
        let Some(named) = &self.only else {
            return graft;
        };
        use shroud::store::{EmitOptions, Format};
        let (tree, mut md) =
            shroud::document::load_encrypted("graft.yaml", Format::Yaml, graft.as_bytes())
                .expect("a graft parses");
        for g in &mut md.key_groups {
            g.keys.retain(|k| named.matches_key(k));
        }
        let out = shroud::document::emit_encrypted(
            "graft.yaml",
            Format::Yaml,
            tree,
            &md,
            EmitOptions::default(),
        )
        .expect("a graft emits");
        String::from_utf8(out).unwrap()
    }

    /// Every `sops:` block of every YAML version (under any name) in the history of every ref
    /// and in the work tree.
    fn envelopes(repo: &Path) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut add = |text: &str| {
            if let Some(i) = text.find("\nsops:\n") {
                out.insert(text[i + 1..].to_owned());
            }
        };
        let objects =
            String::from_utf8(git_out(repo, &["rev-list", "--all", "--objects"])).unwrap();
        for line in objects.lines() {
            let Some((sha, path)) = line.split_once(' ') else {
                continue;
            };
            // Any name: a YAML sops file need not be called `.yaml` (`--input-type yaml`).
            if path.ends_with(".sops.yaml") {
                continue;
            }
            let blob = git_out(repo, &["cat-file", "-p", sha]);
            add(&String::from_utf8_lossy(&blob));
        }
        for f in current_sops_files(repo) {
            add(&std::fs::read_to_string(&f).unwrap());
        }
        out
    }

    /// Everything the attacker decrypts: every envelope grafted onto every current sops file.
    fn reads(&self, repo: &Path) -> String {
        let envelopes = Attacker::envelopes(repo);
        assert!(!envelopes.is_empty(), "no sops file in {}", repo.display());
        let work = tempfile::tempdir().unwrap();
        let mut out = String::new();
        for current in current_sops_files(repo) {
            let text = std::fs::read_to_string(&current).unwrap();
            let body = &text[..text.find("\nsops:\n").unwrap() + 1];
            for (n, env) in envelopes.iter().enumerate() {
                let graft = work.path().join(format!("graft{n}.yaml"));
                std::fs::write(&graft, self.restrict(format!("{body}{env}"))).unwrap();
                let mut sops = Command::new(sops_bin());
                sops.args(["decrypt", "--ignore-mac"]).arg(&graft);
                let mut shroud = Command::new(env!("CARGO_BIN_EXE_shroud"));
                shroud.args(["decrypt", "--ignore-mac"]).arg(&graft);
                for c in [&mut sops, &mut shroud] {
                    c.current_dir(work.path())
                        .env_clear()
                        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                        .env("HOME", work.path())
                        .env("SOPS_DISABLE_VERSION_CHECK", "1");
                    for (k, v) in &self.env {
                        c.env(k, v);
                    }
                    let o = c.run();
                    if o.status.success() {
                        out.push_str(&stdout(&o));
                    }
                }
            }
        }
        out
    }
}

/// The YAML sops files of the work tree (not under .git).
pub(super) fn current_sops_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml")
                && !p.ends_with(".sops.yaml")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("\nsops:\n"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Writes a new value into every sops file (as a remaining key holder) and commits: these are
/// the values a revoked key must never read.
pub(super) fn write_after(sb: &Sandbox, env: &[(&str, &str)], marker: &str) {
    for f in current_sops_files(sb.dir.path()) {
        let rel = f.strip_prefix(sb.dir.path()).unwrap().display().to_string();
        let mut c = sb.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c
            .args(["set", &rel, r#"["written_after"]"#])
            .arg(format!("\"{marker}-{}\"", rel.replace('/', "-")))
            .run();
        assert_code(&out, 0);
    }
    git(
        sb.dir.path(),
        &["commit", "-qam", "values written after the revocation"],
    );
}

#[track_caller]
pub(super) fn assert_locked_out(attacker: &Attacker, sb: &Sandbox, marker: &str) {
    let read = attacker.reads(sb.dir.path());
    assert!(
        !read.contains(marker),
        "the revoked key read a value written after its revocation:\n{read}"
    );
}

/// A repository whose `.sops.yaml` encrypts `secrets/` for `recipients`, with a committed file
/// that .gitignore matches, and a second version of each file in history.
pub(super) fn repo_with(sb: &Sandbox, rules: &str, files: &[(&str, &str)], env: &[(&str, &str)]) {
    let repo = sb.dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    sb.write(".sops.yaml", rules);
    for (f, content) in files {
        sb.write(f, content);
        let mut c = sb.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        assert_code(&c.args(["encrypt", "-i", f]).run(), 0);
    }
    sb.write(".gitignore", "secrets/ignored.yaml\n");
    git(repo, &["add", "-A"]);
    if sb.path("secrets/ignored.yaml").exists() {
        git(repo, &["add", "-f", "secrets/ignored.yaml"]);
    }
    git(repo, &["commit", "-qm", "secrets"]);
}

fn decrypt(sb: &Sandbox, env: &[(&str, &str)], file: &str) -> std::process::Output {
    let mut c = sb.cmd();
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["decrypt", file]).run()
}

#[test]
fn keys_revoke_locks_an_age_key_out_of_groups_and_ignored_files() {
    let sb = Sandbox::new();
    let (attacker_key, a) = new_key(&sb, "attacker.txt");
    let b = TEST_RECIPIENT;
    let c = TEST_RECIPIENT2;
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(test_key()).unwrap(),
        std::fs::read_to_string(test_key2()).unwrap()
    );
    let team: &[(&str, &str)] = &[("SOPS_AGE_KEY", &both)];
    // The attacker's key is in every key group of the critical files (an admin key), so before
    // the revocation it alone can rebuild their data keys.
    let rules = format!(
        "# keys of the team\ncreation_rules:\n  - path_regex: critical/.*\n    shamir_threshold: 2\n    key_groups:\n      - age: [{a}, {b}]\n      - age: [{a}, {c}]\n  - path_regex: secrets/.*\n    age: {a},{b}  # attacker, team\n"
    );
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "db:\n  password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
            ("critical/root.yaml", "root: before-3\n"),
        ],
        team,
    );
    let attacker = Attacker::age(&attacker_key);
    let before = attacker.reads(sb.dir.path());
    for v in ["before-1", "before-2", "before-3"] {
        assert!(
            before.contains(v),
            "positive control: the attacker should read {v} now"
        );
    }
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &both)
        .args(["keys", "revoke", "-y", "--report", "revoke.json", &a])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("verified"), "{}", stderr(&out));
    // The rules no longer name the key; comments and the other keys stay.
    let cfg = sb.read(".sops.yaml");
    assert!(!cfg.contains(&a), "{cfg}");
    assert!(cfg.contains("# keys of the team") && cfg.contains("# attacker, team"));
    assert!(cfg.contains(&format!("age: [{b}]")) && cfg.contains(&format!("age: [{c}]")));
    for f in [
        "secrets/db.yaml",
        "secrets/ignored.yaml",
        "critical/root.yaml",
    ] {
        assert!(!sb.read(f).contains(&a), "{f} still lists the revoked key");
        assert_code(&decrypt(&sb, team, f), 0);
    }
    // The report names every exposed key path, and which are still live.
    let report: serde_json::Value = serde_json::from_str(&sb.read("revoke.json")).unwrap();
    assert_eq!(report["schema"], "shroud-revoke/1");
    assert_eq!(report["complete"], true);
    let exposed: Vec<String> = report["exposure"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            let path = f["path"].as_str().unwrap().to_owned();
            f["values"].as_array().unwrap().iter().map(move |v| {
                format!(
                    "{path} {} {}",
                    v["key_path"].as_str().unwrap(),
                    v["status"].as_str().unwrap()
                )
            })
        })
        .collect();
    assert_eq!(
        exposed,
        [
            r#"critical/root.yaml ["root"] live"#,
            r#"secrets/db.yaml ["db"]["password"] live"#,
            r#"secrets/ignored.yaml ["token"] live"#,
        ],
        "{exposed:?}"
    );
    git(sb.dir.path(), &["commit", "-qam", "revoke"]);
    write_after(&sb, team, "after-revoke");
    assert_locked_out(&attacker, &sb, "after-revoke");
    // A later updatekeys cannot bring the key back: the rules no longer have it.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &both)
        .args(["updatekeys", "-y", "--all"])
        .run();
    assert_code(&out, 0);
    for f in ["secrets/db.yaml", "critical/root.yaml"] {
        assert!(!sb.read(f).contains(&a));
    }
    // Revoking again changes nothing and still reports the exposure.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &both)
        .args(["keys", "revoke", "--dry-run", &a])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("revoked already"), "{}", stderr(&out));
}

/// The same attack with a hybrid post-quantum key revoked (grafts decrypted by the real sops
/// 3.11 and by shroud), next to X25519 and post-quantum keys that stay.
#[test]
fn keys_revoke_locks_a_post_quantum_key_out() {
    let sb = Sandbox::new();
    let (attacker_key, a) = crate::pq::pq_key(&sb, "attacker.txt");
    let (team_pq, t) = crate::pq::pq_key(&sb, "team-pq.txt");
    let b = TEST_RECIPIENT;
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(test_key()).unwrap(),
        std::fs::read_to_string(&team_pq).unwrap()
    );
    let team: &[(&str, &str)] = &[("SOPS_AGE_KEY", &both)];
    let rules = format!(
        "creation_rules:\n  - path_regex: critical/.*\n    shamir_threshold: 2\n    key_groups:\n      - age: [{a}, {b}]\n      - age: [{a}, {t}]\n  - path_regex: secrets/.*\n    age: {a},{b},{t}\n"
    );
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "db:\n  password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
            ("critical/root.yaml", "root: before-3\n"),
        ],
        team,
    );
    let attacker = Attacker::age(&attacker_key);
    let before = attacker.reads(sb.dir.path());
    for v in ["before-1", "before-2", "before-3"] {
        assert!(
            before.contains(v),
            "positive control: the attacker should read {v} now"
        );
    }
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &both)
        .args(["keys", "revoke", "-y", &a])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("verified"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(&a),
        "the message names the key whole"
    );
    let cfg = sb.read(".sops.yaml");
    assert!(
        !cfg.contains(&a) && cfg.contains(&t) && cfg.contains(b),
        "{cfg}"
    );
    for f in [
        "secrets/db.yaml",
        "secrets/ignored.yaml",
        "critical/root.yaml",
    ] {
        assert!(!sb.read(f).contains(&a), "{f} still lists the revoked key");
        assert_code(&decrypt(&sb, team, f), 0);
    }
    git(sb.dir.path(), &["commit", "-qam", "revoke"]);
    write_after(&sb, team, "after-revoke");
    assert_locked_out(&attacker, &sb, "after-revoke");
}

#[test]
fn revoke_refuses_to_empty_a_group_and_names_unknown_keys() {
    let sb = Sandbox::new();
    let (_, a) = new_key(&sb, "a.txt");
    let rules = format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {a}\n");
    repo_with(&sb, &rules, &[("secrets/x.yaml", "k: v\n")], &[]);
    let before = (sb.read(".sops.yaml"), sb.read("secrets/x.yaml"));
    let out = sb.with_key().args(["keys", "revoke", "-y", &a]).run();
    assert_code(&out, 5);
    assert!(stderr(&out).contains("no key left"), "{}", stderr(&out));
    assert_eq!((sb.read(".sops.yaml"), sb.read("secrets/x.yaml")), before);
    // A key found nowhere (a typo) is a usage error, and a private key is never echoed.
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", TEST_RECIPIENT2])
        .run();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    let secret = std::fs::read_to_string(test_key()).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let out = sb.with_key().args(["keys", "revoke", "-y", secret]).run();
    assert_code(&out, 2);
    assert!(!stderr(&out).contains(secret));
}

/// A revocation the keys at hand cannot carry out (no loaded key opens the files that need a
/// new data key) is refused before anything is written, the dry run included: editing the
/// rules and then failing on every file would leave the repository half revoked. A mistyped
/// recipient is malformed (exit 5), not searched for.
#[test]
fn revoke_without_a_key_that_opens_the_files_changes_nothing() {
    let sb = Sandbox::new();
    let (a_key, a) = new_key(&sb, "a.txt");
    let (_, b) = new_key(&sb, "b.txt");
    let (stranger, _) = new_key(&sb, "stranger.txt");
    let rules = format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {a},{b}\n");
    let with_a = [("SOPS_AGE_KEY_FILE", a_key.to_str().unwrap())];
    repo_with(
        &sb,
        &rules,
        &[("secrets/x.yaml", "k: v\n"), ("secrets/y.yaml", "k: w\n")],
        &with_a,
    );
    let before = (
        sb.read(".sops.yaml"),
        sb.read("secrets/x.yaml"),
        sb.read("secrets/y.yaml"),
    );
    for dry in [true, false] {
        let mut c = sb.cmd();
        c.env("SOPS_AGE_KEY_FILE", &stranger)
            .args(["keys", "revoke", "-y"]);
        if dry {
            c.arg("--dry-run");
        }
        let out = c.arg(&b).run();
        assert_code(&out, 128);
        assert!(
            stderr(&out).contains("nothing was changed") && stderr(&out).contains("2 files"),
            "{}",
            stderr(&out)
        );
        let after = (
            sb.read(".sops.yaml"),
            sb.read("secrets/x.yaml"),
            sb.read("secrets/y.yaml"),
        );
        assert_eq!(after, before, "dry run: {dry}");
    }
    // With a key that opens them, the same command completes.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &a_key)
        .args(["keys", "revoke", "-y", &b])
        .run();
    assert_code(&out, 0);
    // A mistyped recipient: malformed, nothing searched or changed.
    let typo = format!("{}x", &a[..a.len() - 1]);
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &a_key)
        .args(["keys", "revoke", "-y", &typo])
        .run();
    assert_code(&out, 5);
}

#[test]
fn updatekeys_that_removes_a_key_gives_a_new_data_key() {
    let sb = Sandbox::new();
    let (attacker_key, a) = new_key(&sb, "attacker.txt");
    let rules =
        |keys: &str| format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {keys}\n");
    let team = &[("SOPS_AGE_KEY_FILE", test_key().display().to_string())];
    let team: Vec<(&str, &str)> = team.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo_with(
        &sb,
        &rules(&format!("{a},{TEST_RECIPIENT}")),
        &[
            ("secrets/db.yaml", "password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &team,
    );
    let attacker = Attacker::age(&attacker_key);
    assert!(attacker.reads(sb.dir.path()).contains("before-2"));
    // The key is taken out of the rule by hand, then updatekeys.
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    let out = sb.with_key().args(["updatekeys", "-y", "--all"]).run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("new data key"), "{}", stderr(&out));
    for f in ["secrets/db.yaml", "secrets/ignored.yaml"] {
        assert!(!sb.read(f).contains(&a), "{f}");
    }
    git(sb.dir.path(), &["commit", "-qam", "remove a key"]);
    write_after(&sb, &team, "after-updatekeys");
    assert_locked_out(&attacker, &sb, "after-updatekeys");

    // The opt-out keeps the data key, and the attack then succeeds: the harness sees breaches.
    let sb = Sandbox::new();
    let (attacker_key, a) = new_key(&sb, "attacker.txt");
    repo_with(
        &sb,
        &rules(&format!("{a},{TEST_RECIPIENT}")),
        &[("secrets/db.yaml", "password: before-1\n")],
        &team,
    );
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "--keep-data-key", "--all"])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    git(
        sb.dir.path(),
        &["commit", "-qam", "remove a key, keep the data key"],
    );
    write_after(&sb, &team, "kept-key");
    let read = Attacker::age(&attacker_key).reads(sb.dir.path());
    assert!(
        read.contains("kept-key"),
        "the attack should succeed: {read}"
    );
}

#[test]
fn rotate_rm_takes_the_key_out_of_the_rules_and_every_tracked_file() {
    let sb = Sandbox::new();
    let (attacker_key, a) = new_key(&sb, "attacker.txt");
    let rules = format!(
        "creation_rules:\n  - path_regex: secrets/.*\n    age:\n      - {a}\n      - {TEST_RECIPIENT}\n"
    );
    let team = [("SOPS_AGE_KEY_FILE", test_key().display().to_string())];
    let team: Vec<(&str, &str)> = team.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &team,
    );
    let attacker = Attacker::age(&attacker_key);
    assert!(attacker.reads(sb.dir.path()).contains("before-1"));
    let out = sb
        .with_key()
        .args(["rotate", "-i", "-y", "--rm-age", &a, "-r", "."])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("2 changed"), "{}", stderr(&out));
    assert_eq!(
        sb.read(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: secrets/.*\n    age:\n      - {TEST_RECIPIENT}\n"
        )
    );
    // updatekeys afterwards has nothing to add back.
    let out = sb.with_key().args(["updatekeys", "-y", "--all"]).run();
    assert_code(&out, 0);
    git(sb.dir.path(), &["commit", "-qam", "rotate without the key"]);
    write_after(&sb, &team, "after-rotate");
    assert_locked_out(&attacker, &sb, "after-rotate");
}

#[test]
fn rotate_reports_files_whose_keys_differ_from_their_rule() {
    let sb = Sandbox::new();
    let rules = format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {TEST_RECIPIENT}\n");
    repo_with(&sb, &rules, &[("secrets/db.yaml", "password: x\n")], &[]);
    // A key was added to the rule, and the file was never updated for it.
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"),
    );
    let out = sb
        .with_key()
        .args(["rotate", "-i", "secrets/db.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("recipients differ from its .sops.yaml rule")
            && stderr(&out).contains(&format!("+age {TEST_RECIPIENT2}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_rotation_runbook_as_written() {
    let sb = Sandbox::new();
    let repo = sb.dir.path();
    std::fs::copy(test_key(), sb.path("old.txt")).unwrap();
    std::fs::copy(test_key2(), sb.path("new.txt")).unwrap();
    let rules = format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {TEST_RECIPIENT}\n");
    let old = [(
        "SOPS_AGE_KEY_FILE",
        sb.path("old.txt").display().to_string(),
    )];
    let old: Vec<(&str, &str)> = old.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "db:\n  password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &old,
    );
    let attacker = Attacker::age(&sb.path("old.txt"));
    assert!(attacker.reads(repo).contains("before-2"));
    let env = [("OLD", TEST_RECIPIENT), ("NEW", TEST_RECIPIENT2)];
    let blocks = doc_blocks("docs/rotation.md", "Replacing an age key");
    assert_eq!(blocks.len(), 4, "{blocks:?}");
    for b in &blocks {
        run_block_ok(repo, b, &env);
    }
    for f in ["secrets/db.yaml", "secrets/ignored.yaml"] {
        assert!(!sb.read(f).contains(TEST_RECIPIENT), "{f}");
    }
    let new = [(
        "SOPS_AGE_KEY_FILE",
        sb.path("new.txt").display().to_string(),
    )];
    let new: Vec<(&str, &str)> = new.iter().map(|(k, v)| (*k, v.as_str())).collect();
    write_after(&sb, &new, "after-runbook");
    assert_locked_out(&attacker, &sb, "after-runbook");
}

#[test]
fn the_stolen_laptop_runbook_as_written() {
    let sb = Sandbox::new();
    let repo = sb.dir.path();
    // The thief's copy of the laptop's key lives outside the repository.
    let thief = tempfile::tempdir().unwrap();
    let stolen_key = thief.path().join("stolen.txt");
    let out = sb.cmd().args(["keygen", "-o"]).arg(&stolen_key).run();
    assert_code(&out, 0);
    let stolen = stdout(&out).trim().to_owned();
    let rules = format!(
        "creation_rules:\n  - path_regex: secrets/.*\n    age: {stolen},{TEST_RECIPIENT}\n"
    );
    let mine = [("SOPS_AGE_KEY_FILE", test_key().display().to_string())];
    let mine: Vec<(&str, &str)> = mine.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "db:\n  password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &mine,
    );
    // The token changes once while the laptop still had access: that old value is exposed but
    // no longer in use; the password is still the same (live) until the runbook changes it.
    assert_code(
        &sb.with_key()
            .args([
                "set",
                "secrets/ignored.yaml",
                r#"["token"]"#,
                r#""before-3""#,
            ])
            .run(),
        0,
    );
    git(repo, &["commit", "-qam", "new token"]);
    let attacker = Attacker::age(&stolen_key);
    assert!(attacker.reads(repo).contains("before-1"));
    let mut env: Vec<(&str, &str)> = mine.clone();
    env.push(("STOLEN", &stolen));
    let blocks = doc_blocks(
        "docs/compromised-key.md",
        "A laptop was stolen (a person's age key)",
    );
    assert_eq!(blocks.len(), 7, "{blocks:?}");
    // 1. The dry run changes nothing.
    let before = sb.read("secrets/db.yaml");
    run_block_ok(repo, &blocks[0], &env);
    assert_eq!(sb.read("secrets/db.yaml"), before);
    let exposure: serde_json::Value = serde_json::from_str(&sb.read("exposure.json")).unwrap();
    assert_eq!(exposure["dry_run"], true);
    // 2. Revoke.
    run_block_ok(repo, &blocks[1], &env);
    // 3. The live values, listed by the documented command: the password and the token
    //    (still the same today), not the token's exposed older value.
    let listed = stdout(&run_block_ok(repo, &blocks[2], &env));
    assert_eq!(
        listed,
        "secrets/db.yaml [\"db\"][\"password\"]\nsecrets/ignored.yaml [\"token\"]\n"
    );
    run_block_ok(repo, &blocks[3], &env);
    // The token is changed at its source too (the runbook's "for each").
    assert_code(
        &sb.with_key()
            .args([
                "set",
                "secrets/ignored.yaml",
                r#"["token"]"#,
                r#""a-new-token""#,
            ])
            .run(),
        0,
    );
    git(
        repo,
        &["commit", "-qam", "new token (the old one was exposed)"],
    );
    // 4. The proof passes.
    run_block_ok(repo, &blocks[4], &env);
    // 5. A key backup for which the stolen key is a recovery recipient is found, re-made
    //    without it, checked, and the old one destroyed.
    let usb = tempfile::tempdir().unwrap();
    let bundle = usb.path().join("keys-backup.json").display().to_string();
    let new_bundle = usb
        .path()
        .join("keys-backup-new.json")
        .display()
        .to_string();
    let recovery_key = usb.path().join("recovery.txt");
    let out = sb.cmd().args(["keygen", "-o"]).arg(&recovery_key).run();
    assert_code(&out, 0);
    let recovery = stdout(&out).trim().to_owned();
    let recovery_key = recovery_key.display().to_string();
    let out = sb
        .cmd()
        .args(["keys", "backup", "--key-file"])
        .arg(test_key())
        .args([
            "--recipient",
            &stolen,
            "--recipient",
            &recovery,
            "-o",
            &bundle,
        ])
        .run();
    assert_code(&out, 0);
    let mut env5 = env.clone();
    env5.extend([
        ("BUNDLE", bundle.as_str()),
        ("NEW_BUNDLE", new_bundle.as_str()),
        ("RECOVERY", recovery.as_str()),
        ("RECOVERY_KEY", recovery_key.as_str()),
    ]);
    let check = stdout(&run_block_ok(repo, &blocks[5], &env5));
    assert!(check.contains("lists the revoked key"), "{check}");
    run_block_ok(repo, &blocks[6], &env5);
    assert!(!Path::new(&bundle).exists());
    let mut env_new = env.clone();
    env_new.push(("BUNDLE", new_bundle.as_str()));
    let check = stdout(&run_block_ok(repo, &blocks[5], &env_new));
    assert!(check.ends_with(": ok\n"), "{check}");
    write_after(&sb, &mine, "after-theft");
    assert_locked_out(&attacker, &sb, "after-theft");
}

#[test]
fn the_kms_retirement_runbook_as_written() {
    let moto = crate::kms::Moto::start();
    let retired = moto.create_key("us-east-1");
    let replacement = moto.create_key("us-east-1");
    let sb = Sandbox::new();
    let repo = sb.dir.path();
    let rules = format!("creation_rules:\n  - path_regex: secrets/.*\n    kms: {retired}\n");
    let aws: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL", &moto.endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &aws,
    );
    // The attacker can still call kms:Decrypt on the retired key (a role nobody removed).
    let attacker = Attacker {
        env: aws
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        only: Some(shroud::keysource::Named::new([retired.as_str()])),
    };
    assert!(attacker.reads(repo).contains("before-2"));
    let mut env = aws.clone();
    env.push(("RETIRED", &retired));
    env.push(("REPLACEMENT", &replacement));
    let blocks = doc_blocks("docs/compromised-key.md", "A KMS key to retire");
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    run_block_ok(repo, &blocks[0], &env);
    for f in ["secrets/db.yaml", "secrets/ignored.yaml"] {
        assert!(!sb.read(f).contains(&retired), "{f}");
        assert!(sb.read(f).contains(&replacement), "{f}");
    }
    // Before the key is disabled, the attacker can still call it: nothing new opens.
    write_after(&sb, &aws, "after-kms");
    assert_locked_out(&attacker, &sb, "after-kms");
    // Disabled and scheduled for deletion with the real AWS CLI: not even history opens now.
    run_block_ok(repo, &blocks[1], &env);
    let read = attacker.reads(repo);
    assert!(!read.contains("before-"), "{read}");
}

#[test]
fn keys_revoke_locks_a_pgp_key_out() {
    let g = crate::pgp::Gnupg::with_test_key();
    let fpr = crate::pgp::FPR;
    let sb = Sandbox::new();
    let rules = format!(
        "creation_rules:\n  - path_regex: secrets/.*\n    pgp: {fpr}\n    age: {TEST_RECIPIENT}\n"
    );
    let home = g.home.path().display().to_string();
    let key = test_key().display().to_string();
    let both: Vec<(&str, &str)> = vec![("GNUPGHOME", &home), ("SOPS_AGE_KEY_FILE", &key)];
    repo_with(
        &sb,
        &rules,
        &[
            ("secrets/db.yaml", "password: before-1\n"),
            ("secrets/ignored.yaml", "token: before-2\n"),
        ],
        &both,
    );
    let attacker = Attacker {
        env: vec![("GNUPGHOME".into(), home.clone())],
        only: None,
    };
    assert!(attacker.reads(sb.dir.path()).contains("before-2"));
    let out = sb
        .with_key()
        .env("GNUPGHOME", &home)
        .args(["keys", "revoke", "-y", &fpr.to_ascii_lowercase()])
        .run();
    assert_code(&out, 0);
    assert!(!sb.read(".sops.yaml").contains(fpr));
    git(sb.dir.path(), &["commit", "-qam", "revoke the PGP key"]);
    let team: Vec<(&str, &str)> = vec![("SOPS_AGE_KEY_FILE", &key)];
    write_after(&sb, &team, "after-pgp");
    assert_locked_out(&attacker, &sb, "after-pgp");
}

/// `keys revoke` needs each file's data key three times (to compare history's values with
/// today's, for the pre-flight check that the keys at hand open every file, and to re-key) but
/// asks the key source once per file: gpg decrypts each file's envelope once, plus once for
/// the new envelope it checks before writing. Before, it was asked at every step.
#[test]
fn keys_revoke_opens_each_envelope_once() {
    let g = crate::pgp::Gnupg::with_test_key();
    let fpr = crate::pgp::FPR;
    let sb = Sandbox::new();
    let (_, a) = new_key(&sb, "leaver.txt");
    let rules = format!(
        "creation_rules:\n  - path_regex: secrets/.*\n    pgp: {fpr}\n    age: {a},{TEST_RECIPIENT}\n"
    );
    let home = g.home.path().display().to_string();
    let pgp_only: Vec<(&str, &str)> = vec![("GNUPGHOME", &home)];
    let files: Vec<(String, String)> = (0..4)
        .map(|i| (format!("secrets/s{i}.yaml"), format!("password: v{i}\n")))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, c)| (f.as_str(), c.as_str()))
        .collect();
    repo_with(&sb, &rules, &files, &pgp_only);
    let (wrapper, log) = crate::pgp::logging_gpg(&sb);
    let out = sb
        .cmd()
        .env("GNUPGHOME", &home)
        .env("SOPS_GPG_EXEC", &wrapper)
        .args(["keys", "revoke", "-y", &a])
        .run();
    assert_code(&out, 0);
    assert_eq!(
        crate::pgp::calls(&log),
        2 * files.len(),
        "gpg decryptions for {} files:\n{}",
        files.len(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for (f, content) in &files {
        let out = sb.cmd().env("GNUPGHOME", &home).args(["decrypt", f]).run();
        assert_code(&out, 0);
        assert_eq!(String::from_utf8_lossy(&out.stdout), *content);
        assert!(!sb.read(f).contains(&a));
    }
}

/// A key taken out the way sops does it (`updatekeys` keeps the data key) is no longer listed
/// anywhere, but its envelope in an older commit still opens today's data key. `keys revoke`
/// finds that through history and gives those files a new data key too; then the key is locked
/// out. Before the fix, nothing listed the key, so `keys revoke` changed nothing.
#[test]
fn keys_revoke_rekeys_files_whose_data_key_history_exposes() {
    let sb = Sandbox::new();
    let (attacker_key, a) = new_key(&sb, "attacker.txt");
    let rules =
        |keys: &str| format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {keys}\n");
    let team = [("SOPS_AGE_KEY_FILE", test_key().display().to_string())];
    let team: Vec<(&str, &str)> = team.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo_with(
        &sb,
        &rules(&format!("{a},{TEST_RECIPIENT}")),
        &[
            ("secrets/db.yaml", "password: before-1\n"),
            ("secrets/other.yaml", "token: before-2\n"),
        ],
        &team,
    );
    // sops's way: the rule loses the key, and updatekeys keeps the data key.
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    let out = sb
        .with_key()
        .args(["updatekeys", "-y", "--keep-data-key", "--all"])
        .run();
    assert_code(&out, 0);
    git(
        sb.dir.path(),
        &["commit", "-qam", "remove a key the sops way"],
    );
    assert!(!sb.read("secrets/db.yaml").contains(&a));
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &a])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("a revoked key's envelope in history opens the current one"),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_str(&sb.read("r.json")).unwrap();
    assert_eq!(report["complete"], true);
    let states: Vec<&str> = report["exposure"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["data_key"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["exposed", "exposed"], "{report}");
    git(sb.dir.path(), &["commit", "-qam", "revoke"]);
    write_after(&sb, &team, "after-history-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-history-revoke");
    // Now every data key is fresh: revoking again changes nothing.
    let out = sb
        .with_key()
        .args(["keys", "revoke", "--dry-run", &a])
        .run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("revoked already"), "{}", stderr(&out));
}
