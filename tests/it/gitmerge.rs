//! git that understands sops files (`shroud git setup`, the merge and diff drivers, and
//! minimal-diff `encrypt -i`), with the real git in temporary repositories and the real sops
//! judging every merged file. The conflict test looks for plaintext everywhere a merge writes:
//! the work tree, every file under `.git`, and every loose object decompressed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

/// A repository in a sandbox whose HOME is the sandbox (no user or system git config), with
/// `shroud` first on PATH (git runs the drivers by that name).
struct Repo {
    sb: Sandbox,
}

fn path_with_shroud() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_shroud"));
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

impl Repo {
    /// A repository with a creation rule for `recipients`, `shroud git setup` run in it.
    fn new(recipients: &[&str]) -> Repo {
        let r = Repo::bare_init();
        r.sb.write(
            ".sops.yaml",
            &format!("creation_rules:\n  - age: {}\n", recipients.join(",")),
        );
        let out = r.shroud(&["git", "setup"]);
        assert_code(&out, 0);
        r
    }

    fn bare_init() -> Repo {
        let r = Repo { sb: Sandbox::new() };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn dir(&self) -> &Path {
        self.sb.dir.path()
    }

    fn env(&self, c: &mut Command) {
        let d = self.dir();
        c.current_dir(d)
            .env_clear()
            .env("PATH", path_with_shroud())
            .env("HOME", d)
            .env("XDG_CONFIG_HOME", d.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            // Fixed dates: two repositories built alike have the same commit ids (conflict
            // labels name the base commit).
            .env("GIT_AUTHOR_DATE", "2025-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2025-01-01T00:00:00Z")
            .env("SOPS_AGE_KEY_FILE", test_key())
            .stdin(std::process::Stdio::null());
    }

    /// git with the test key available to the drivers.
    fn git_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        self.env(&mut c);
        c.args(args);
        c
    }

    fn try_git(&self, args: &[&str]) -> Output {
        self.git_cmd(args).output().expect("git runs")
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> String {
        let out = self.try_git(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn shroud(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shroud"));
        self.env(&mut c);
        c.args(args).output().expect("shroud runs")
    }

    #[track_caller]
    fn shroud_ok(&self, args: &[&str]) -> Output {
        let out = self.shroud(args);
        assert_code(&out, 0);
        out
    }

    fn commit_all(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", msg]);
    }

    /// The real sops's plaintext of `file` with `key`.
    fn sops_decrypt(&self, file: &str, key: &Path) -> Output {
        sops_cmd(&self.sb)
            .env("SOPS_AGE_KEY_FILE", key)
            .args(["decrypt", file])
            .output()
            .expect("sops runs")
    }

    #[track_caller]
    fn sops_plain(&self, file: &str) -> String {
        let out = self.sops_decrypt(file, &test_key());
        assert_code(&out, 0);
        stdout(&out)
    }
}

/// One branch changes one value, the other another: the merge succeeds without conflict and
/// the real sops opens the result with both changes; untouched values keep their ciphertext.
#[test]
fn different_values_merge_for_yaml_json_and_dotenv() {
    let cases = [
        (
            "s.yaml",
            "db:\n    user: app\n    password: base-pw\napi:\n    token: base-token\n",
            r#"["db"]["password"]"#,
            r#"["api"]["token"]"#,
            "user:",
        ),
        (
            "s.json",
            "{\n\t\"db\": {\n\t\t\"user\": \"app\",\n\t\t\"password\": \"base-pw\"\n\t},\n\t\"api\": {\n\t\t\"token\": \"base-token\"\n\t}\n}\n",
            r#"["db"]["password"]"#,
            r#"["api"]["token"]"#,
            "\"user\":",
        ),
        (
            "s.env",
            "DB_USER=app\nDB_PASSWORD=base-pw\nAPI_TOKEN=base-token\n",
            r#"["DB_PASSWORD"]"#,
            r#"["API_TOKEN"]"#,
            "DB_USER=",
        ),
    ];
    let r = Repo::new(&[TEST_RECIPIENT]);
    for (file, plain, ..) in &cases {
        r.sb.write(file, plain);
        r.shroud_ok(&["encrypt", "-i", file]);
    }
    r.commit_all("base");
    let base: Vec<String> = cases.iter().map(|c| r.sb.read(c.0)).collect();
    r.git(&["checkout", "-qb", "side"]);
    for (file, _, _, theirs_path, _) in &cases {
        r.shroud_ok(&["set", file, theirs_path, "\"side-token\""]);
    }
    r.commit_all("side: new token");
    r.git(&["checkout", "-q", "main"]);
    for (file, _, ours_path, _, _) in &cases {
        r.shroud_ok(&["set", file, ours_path, "\"main-pw\""]);
    }
    r.commit_all("main: new password");
    let out = r.try_git(&["merge", "-q", "--no-edit", "side"]);
    assert!(out.status.success(), "merge failed: {}", stderr(&out));
    for ((file, _, _, _, untouched), before) in cases.iter().zip(&base) {
        let plain = r.sops_plain(file);
        assert!(plain.contains("main-pw"), "{file}: ours lost: {plain}");
        assert!(plain.contains("side-token"), "{file}: theirs lost: {plain}");
        assert!(plain.contains("app"), "{file}: {plain}");
        assert!(!plain.contains("base-"), "{file}: {plain}");
        // The untouched value's ciphertext is the base's, byte for byte.
        let line = |t: &str| {
            t.lines()
                .find(|l| l.contains(untouched) && l.contains("ENC["))
                .map(str::to_owned)
        };
        let merged = r.sb.read(file);
        assert!(line(&merged).is_some(), "{file}: {merged}");
        assert_eq!(line(&merged), line(before), "{file}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(r.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".merge_file"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Every byte a merge may have left on disk: each file under the work tree and `.git` as it is,
/// and every loose object decompressed (python3's zlib; objects are deflated on disk).
fn everything_on_disk(dir: &Path) -> Vec<u8> {
    fn walk(p: &Path, out: &mut Vec<u8>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(b) = std::fs::read(&path) {
                out.extend_from_slice(&b);
                out.push(b'\n');
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    let script = "import os, sys, zlib\nfor root, _, files in os.walk(sys.argv[1]):\n    for f in files:\n        p = os.path.join(root, f)\n        if len(os.path.basename(root)) == 2 and len(f) == 38:\n            sys.stdout.buffer.write(zlib.decompress(open(p, 'rb').read()) + b'\\n')\n";
    let objects = Command::new("python3")
        .args(["-c", script])
        .arg(dir.join(".git/objects"))
        .output()
        .expect("python3 runs");
    assert!(objects.status.success(), "{}", stderr(&objects));
    assert!(
        objects.stdout.len() > 1000,
        "the loose objects were not read"
    );
    out.extend_from_slice(&objects.stdout);
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The same value changed differently on both sides: the merge stops, names the key path
/// (never a value), leaves a valid encrypted file holding every other change, and no
/// plaintext is anywhere on disk; the conflict is then resolved with shroud.
#[test]
fn same_value_changed_on_both_sides_conflicts_without_plaintext_on_disk() {
    let r = Repo::new(&[TEST_RECIPIENT]);
    let (base_pw, ours_pw, theirs_pw) = ("pw-base-Kd9q", "pw-ours-Xq7w", "pw-theirs-Zp3e");
    r.sb.write(
        "s.yaml",
        &format!("db:\n    user: app\n    password: {base_pw}\nother: one\n"),
    );
    r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    r.commit_all("base");
    r.git(&["checkout", "-qb", "side"]);
    r.shroud_ok(&[
        "set",
        "s.yaml",
        r#"["db"]["password"]"#,
        &format!("\"{theirs_pw}\""),
    ]);
    r.shroud_ok(&["set", "s.yaml", r#"["other"]"#, "\"two\""]);
    r.commit_all("side");
    r.git(&["checkout", "-q", "main"]);
    r.shroud_ok(&[
        "set",
        "s.yaml",
        r#"["db"]["password"]"#,
        &format!("\"{ours_pw}\""),
    ]);
    r.commit_all("main");
    let out = r.try_git(&["merge", "--no-edit", "side"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"merge conflict at ["db"]["password"]"#),
        "{err}"
    );
    assert!(err.contains("shroud edit s.yaml"), "{err}");
    assert!(err.contains("git checkout --theirs -- s.yaml"), "{err}");
    for v in [base_pw, ours_pw, theirs_pw] {
        assert!(!err.contains(v) && !stdout(&out).contains(v), "{v} printed");
    }
    assert!(r.git(&["status", "--porcelain"]).contains("UU s.yaml"));
    // A valid sops file: ours at the conflict, their other change merged.
    let plain = r.sops_plain("s.yaml");
    assert!(
        plain.contains(ours_pw) && plain.contains("other: two"),
        "{plain}"
    );
    let disk = everything_on_disk(r.dir());
    for v in [base_pw, ours_pw, theirs_pw] {
        assert!(!contains(&disk, v), "{v} is on disk in plaintext");
    }
    // Resolve: take their value with shroud, then commit.
    r.shroud_ok(&[
        "set",
        "s.yaml",
        r#"["db"]["password"]"#,
        &format!("\"{theirs_pw}\""),
    ]);
    r.git(&["add", "s.yaml"]);
    r.git(&["commit", "-qm", "merged"]);
    let plain = r.sops_plain("s.yaml");
    assert!(
        plain.contains(theirs_pw) && plain.contains("other: two"),
        "{plain}"
    );
    let disk = everything_on_disk(r.dir());
    for v in [base_pw, ours_pw, theirs_pw] {
        assert!(!contains(&disk, v), "{v} is on disk in plaintext");
    }
}

/// Without a key the merge says so and stops with our version in place, conflicted.
#[test]
fn a_merge_without_a_key_fails_cleanly() {
    let r = Repo::new(&[TEST_RECIPIENT]);
    r.sb.write("s.yaml", "a: 1\nb: 2\n");
    r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    r.commit_all("base");
    r.git(&["checkout", "-qb", "side"]);
    r.shroud_ok(&["set", "s.yaml", r#"["a"]"#, "10"]);
    r.commit_all("side");
    r.git(&["checkout", "-q", "main"]);
    r.shroud_ok(&["set", "s.yaml", r#"["b"]"#, "20"]);
    r.commit_all("main");
    let ours = r.sb.read("s.yaml");
    let out = r
        .git_cmd(&["merge", "--no-edit", "side"])
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("s.yaml (our version): could not decrypt the data key"),
        "{err}"
    );
    assert!(err.contains("stopped with our version in place"), "{err}");
    assert_eq!(r.sb.read("s.yaml"), ours);
    assert!(r.git(&["status", "--porcelain"]).contains("UU s.yaml"));
}

/// Files that are not sops files merge exactly as git merges them without the driver: clean
/// merges, conflicts with markers (labels, marker size and diff3 style included), binary files.
#[test]
fn other_files_merge_as_git_does() {
    let build = |with_driver: bool| -> Repo {
        let r = Repo::bare_init();
        r.git(&["config", "merge.conflictStyle", "diff3"]);
        r.sb.write("clean.txt", "one\ntwo\nthree\nfour\nfive\n");
        r.sb.write("clash.txt", "alpha\nbeta\ngamma\n");
        r.sb.write("marks.md", "# title\nbody\n");
        r.sb.write(
            ".gitattributes",
            "* merge=shroud diff=shroud\nmarks.md conflict-marker-size=12\n",
        );
        std::fs::write(r.sb.path("blob.bin"), b"\x00\x01base").unwrap();
        r.commit_all("base");
        if with_driver {
            r.shroud_ok(&["git", "setup"]);
            assert!(
                r.git(&["status", "--porcelain"]).is_empty(),
                "setup is committed already"
            );
        }
        r.git(&["checkout", "-qb", "side"]);
        r.sb.write("clean.txt", "one\ntwo\nthree\nfour\nFIVE\n");
        r.sb.write("clash.txt", "alpha\nBETA-side\ngamma\n");
        r.sb.write("marks.md", "# title\nside body\n");
        std::fs::write(r.sb.path("blob.bin"), b"\x00\x01side").unwrap();
        r.commit_all("side");
        r.git(&["checkout", "-q", "main"]);
        r.sb.write("clean.txt", "ONE\ntwo\nthree\nfour\nfive\n");
        r.sb.write("clash.txt", "alpha\nBETA-main\ngamma\n");
        r.sb.write("marks.md", "# title\nmain body\n");
        std::fs::write(r.sb.path("blob.bin"), b"\x00\x01main").unwrap();
        r.commit_all("main");
        r
    };
    let plain = build(false);
    let driven = build(true);
    assert!(
        driven
            .git(&["config", "merge.shroud.driver"])
            .contains("merge-driver")
    );
    let a = plain.try_git(&["merge", "--no-edit", "side"]);
    let b = driven.try_git(&["merge", "--no-edit", "side"]);
    assert_eq!(a.status.code(), b.status.code(), "{}", stderr(&b));
    assert_eq!(b.status.code(), Some(1));
    for f in ["clean.txt", "clash.txt", "marks.md", "blob.bin"] {
        assert_eq!(
            std::fs::read(plain.sb.path(f)).unwrap(),
            std::fs::read(driven.sb.path(f)).unwrap(),
            "{f} differs from git's own merge"
        );
    }
    assert_eq!(driven.sb.read("clean.txt"), "ONE\ntwo\nthree\nfour\nFIVE\n");
    let clash = driven.sb.read("clash.txt");
    assert!(
        clash.contains("<<<<<<< HEAD\nBETA-main\n||||||| ") && clash.contains(">>>>>>> side\n"),
        "{clash}"
    );
    assert!(driven.sb.read("marks.md").contains("<<<<<<<<<<<< HEAD"));
    assert_eq!(
        plain.git(&["status", "--porcelain"]),
        driven.git(&["status", "--porcelain"])
    );
}

/// A rotation (new data key, a recipient removed) on one side and an edit on the other merge,
/// in both directions: the result has the edit, the rotated data key and envelopes, and the
/// removed key opens nothing.
#[test]
fn rotated_vs_edited_keeps_the_rotation() {
    for rotated_is_ours in [false, true] {
        let r = Repo::new(&[TEST_RECIPIENT, TEST_RECIPIENT2]);
        r.sb.write("s.yaml", "a: one\nb: two\n");
        r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
        r.commit_all("base");
        r.git(&["checkout", "-qb", "rot"]);
        r.shroud_ok(&["rotate", "-i", "-y", "--rm-age", TEST_RECIPIENT2, "s.yaml"]);
        r.commit_all("rotate, without key 2");
        let rotated = r.sb.read("s.yaml");
        r.git(&["checkout", "-q", "main"]);
        r.git(&["checkout", "-qb", "edit"]);
        r.shroud_ok(&["set", "s.yaml", r#"["a"]"#, "\"edited\""]);
        r.commit_all("edit");
        let (into, from) = if rotated_is_ours {
            ("rot", "edit")
        } else {
            ("edit", "rot")
        };
        r.git(&["checkout", "-q", into]);
        let out = r.try_git(&["merge", "--no-edit", from]);
        assert!(out.status.success(), "{}", stderr(&out));
        if !rotated_is_ours {
            assert!(
                stderr(&out).contains("their version has a new data key"),
                "{}",
                stderr(&out)
            );
        }
        let merged = r.sb.read("s.yaml");
        assert!(
            !merged.contains(TEST_RECIPIENT2),
            "key 2 came back: {merged}"
        );
        assert!(r.sops_plain("s.yaml").contains("a: edited"));
        assert_ne!(
            r.sops_decrypt("s.yaml", &test_key2()).status.code(),
            Some(0)
        );
        // The rotated side's data key and envelope, not the base's.
        let envelope = |t: &str| -> String {
            t.lines()
                .skip_while(|l| !l.contains("- enc: |"))
                .take_while(|l| !l.contains("recipient:"))
                .collect()
        };
        assert_eq!(envelope(&merged), envelope(&rotated));
        assert!(!r.sb.read(".sops.yaml").contains(TEST_RECIPIENT2));
    }
}

/// The diff driver shows each changed value as its key path with the old and new value, a
/// recipient change as a recipient line, other files as they are; without a key, the
/// encrypted text.
#[test]
fn diff_driver_shows_changes_by_key_path() {
    let r = Repo::new(&[TEST_RECIPIENT]);
    r.sb.write("s.yaml", "db:\n    user: app\n    password: old-pw\n");
    r.sb.write("notes.txt", "hello\n");
    std::fs::write(r.sb.path("b.bin"), b"\x00one").unwrap();
    r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    r.commit_all("base");
    r.shroud_ok(&["set", "s.yaml", r#"["db"]["password"]"#, "\"new-pw\""]);
    r.sb.write("notes.txt", "hello world\n");
    std::fs::write(r.sb.path("b.bin"), b"\x00two").unwrap();
    let diff = r.git(&["diff"]);
    assert!(
        diff.contains("-[\"db\"][\"password\"]: \"old-pw\"\n+[\"db\"][\"password\"]: \"new-pw\"\n"),
        "{diff}"
    );
    assert!(diff.contains(" [\"db\"][\"user\"]: \"app\"\n"), "{diff}");
    assert!(!diff.contains("ENC["), "{diff}");
    assert!(diff.contains("-hello\n+hello world\n"), "{diff}");
    assert!(diff.contains("+binary file, 4 bytes, sha256 "), "{diff}");
    r.commit_all("new password");
    let log = r.git(&["log", "-p", "-1", "--", "s.yaml"]);
    assert!(log.contains("+[\"db\"][\"password\"]: \"new-pw\""), "{log}");
    // A recipient added with updatekeys is a recipient line.
    r.sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"),
    );
    r.shroud_ok(&["updatekeys", "-y", "s.yaml"]);
    let diff = r.git(&["diff", "--", "s.yaml"]);
    assert!(
        diff.contains(&format!("+sops recipient: age {TEST_RECIPIENT2}\n")),
        "{diff}"
    );
    // No key: the encrypted text, and the diff still works.
    let out = r
        .git_cmd(&["diff", "--", "s.yaml"])
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ENC[AES256_GCM"));
    assert!(stderr(&out).contains("no key opens this version"));
}

/// `decrypt -i`, one changed value, `encrypt -i`: the diff is that value's line plus
/// `lastmodified` and `mac`, as with `shroud edit` (every value line changed before).
#[test]
fn decrypt_edit_encrypt_gives_a_minimal_diff() {
    let r = Repo::new(&[TEST_RECIPIENT]);
    let plain = "db:\n    user: app\n    password: pw-1\n    host: db.internal\n# a comment\nport: 5432\nflags:\n    - a\n    - b\n";
    r.sb.write("s.yaml", plain);
    r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    r.commit_all("base");
    r.shroud_ok(&["decrypt", "-i", "s.yaml"]);
    r.sb.write("s.yaml", &r.sb.read("s.yaml").replace("pw-1", "pw-2"));
    // `lastmodified` has one-second resolution: let it move, as it does between real edits.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    assert!(
        stderr(&out).contains("kept the data key and unchanged values' ciphertext"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.git(&["diff", "--numstat"]), "3\t3\ts.yaml\n");
    let diff = r.git(&["diff", "--no-textconv", "-U0"]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| l[1..].trim_start().split(':').next().unwrap())
        .collect();
    assert_eq!(changed, ["password", "lastmodified", "mac"], "{diff}");
    assert!(r.sops_plain("s.yaml").contains("password: pw-2"));
    // --new-data-key: every value is encrypted afresh.
    r.git(&["checkout", "s.yaml"]);
    r.shroud_ok(&["decrypt", "-i", "s.yaml"]);
    let out = r.shroud_ok(&["encrypt", "-i", "--new-data-key", "s.yaml"]);
    assert!(!stderr(&out).contains("kept the data key"));
    let numstat = r.git(&["diff", "--numstat"]);
    let added: usize = numstat.split('\t').next().unwrap().parse().unwrap();
    assert!(added > 8, "{numstat}");
    // Recipients that differ from the rule: a new data key, and it says why.
    r.git(&["checkout", "s.yaml"]);
    r.shroud_ok(&["decrypt", "-i", "s.yaml"]);
    r.sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\n"),
    );
    let out = r.shroud_ok(&["encrypt", "-i", "s.yaml"]);
    assert!(
        stderr(&out).contains("new data key: the committed version (HEAD) its recipients differ"),
        "{}",
        stderr(&out)
    );
    assert_code(&r.sops_decrypt("s.yaml", &test_key2()), 0);
}

/// `shroud git setup` is idempotent, has a dry run and an undo, and `--global` configures git
/// for every repository of the user.
#[test]
fn setup_is_idempotent_with_dry_run_remove_and_global() {
    let r = Repo::bare_init();
    let out = r.shroud_ok(&["git", "setup", "--dry-run"]);
    assert!(
        stderr(&out).contains("would set merge.shroud.driver"),
        "{}",
        stderr(&out)
    );
    assert!(!r.sb.path(".gitattributes").exists());
    assert!(r.try_git(&["config", "merge.shroud.driver"]).status.code() == Some(1));
    r.sb.write(".gitattributes", "*.png binary\n");
    r.shroud_ok(&["git", "setup"]);
    let attrs = r.sb.read(".gitattributes");
    let config = std::fs::read_to_string(r.sb.path(".git/config")).unwrap();
    assert!(
        attrs.ends_with("* merge=shroud diff=shroud\n*.png binary\n"),
        "{attrs}"
    );
    assert_eq!(
        r.git(&["check-attr", "merge", "diff", "--", "a.yaml"]),
        "a.yaml: merge: shroud\na.yaml: diff: shroud\n"
    );
    assert_eq!(
        r.git(&["check-attr", "diff", "--", "x.png"]),
        "x.png: diff: unset\n"
    );
    let out = r.shroud_ok(&["git", "setup"]);
    assert!(stderr(&out).contains("set up already"), "{}", stderr(&out));
    assert_eq!(r.sb.read(".gitattributes"), attrs);
    assert_eq!(
        std::fs::read_to_string(r.sb.path(".git/config")).unwrap(),
        config
    );
    // A cached textconv would store decrypted text in .git: setup takes it out.
    r.git(&["config", "diff.shroud.cachetextconv", "true"]);
    let out = r.shroud_ok(&["git", "setup"]);
    assert!(stderr(&out).contains("unset diff.shroud.cachetextconv"));
    assert_eq!(
        r.try_git(&["config", "diff.shroud.cachetextconv"])
            .status
            .code(),
        Some(1)
    );
    let out = r.shroud_ok(&["git", "setup", "--remove", "--dry-run"]);
    assert!(stderr(&out).contains("would remove"), "{}", stderr(&out));
    assert_eq!(r.sb.read(".gitattributes"), attrs);
    r.shroud_ok(&["git", "setup", "--remove"]);
    assert_eq!(r.sb.read(".gitattributes"), "*.png binary\n");
    assert_eq!(
        r.try_git(&["config", "--get-regexp", "shroud"])
            .status
            .code(),
        Some(1)
    );
    let out = r.shroud_ok(&["git", "setup", "--remove"]);
    assert!(stderr(&out).contains("nothing to remove"));
    // --global: the user's config and global attributes file; any repository picks them up.
    r.shroud_ok(&["git", "setup", "--global"]);
    let global_attrs = r.sb.path(".config/git/attributes");
    assert!(
        std::fs::read_to_string(&global_attrs)
            .unwrap()
            .contains("* merge=shroud diff=shroud")
    );
    assert!(
        std::fs::read_to_string(r.sb.path(".gitconfig"))
            .unwrap()
            .contains("merge-driver")
    );
    assert_eq!(
        r.git(&["check-attr", "merge", "--", "a.yaml"]),
        "a.yaml: merge: shroud\n"
    );
    r.shroud_ok(&["git", "setup", "--global", "--remove"]);
    assert!(!global_attrs.exists());
    // Outside a repository, the local setup says what to do.
    let out = shroud_in(&std::env::temp_dir())
        .env("GIT_CEILING_DIRECTORIES", std::env::temp_dir())
        .args(["git", "setup"])
        .run();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("not inside a git work tree"),
        "{}",
        stderr(&out)
    );
}

/// The ```sh blocks of docs/git-diff.md run as written.
#[test]
fn documented_setup_runs_as_written() {
    let r = Repo::bare_init();
    r.sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
    );
    r.sb.write("secrets.enc.yaml", "db:\n    password: hunter2\n");
    r.shroud_ok(&["encrypt", "-i", "secrets.enc.yaml"]);
    r.commit_all("base");
    let key = test_key();
    let env = [("SOPS_AGE_KEY_FILE", key.to_str().unwrap())];
    for b in doc_blocks("docs/git-diff.md", "Set it up") {
        run_block_ok(r.dir(), &b, &env);
    }
    assert!(
        r.sb.read(".gitattributes")
            .contains("* merge=shroud diff=shroud")
    );
    for b in doc_blocks("docs/git-diff.md", "Undo") {
        run_block_ok(r.dir(), &b, &env);
    }
    assert_eq!(
        r.try_git(&["config", "--get-regexp", "shroud"])
            .status
            .code(),
        Some(1)
    );
}
