//! `keys revoke` against the red team's findings: each test sets up what the attacker found
//! (a revoked key with a full clone of the history), runs the revocation as documented, writes
//! values afterwards, and checks that the revoked identity, with every envelope of every version
//! of every path and ref, reads none of them, and that the verdict is true.

use crate::revocation::{
    Attacker, assert_locked_out, current_sops_files, git, new_key, repo_with, write_after,
};
use crate::util::*;

fn team() -> Vec<(&'static str, String)> {
    vec![("SOPS_AGE_KEY_FILE", test_key().display().to_string())]
}

fn env<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn rules(keys: &str) -> String {
    format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {keys}\n")
}

/// The real sops with the team key, in the sandbox, which must succeed (a key taken out "the
/// sops way": its `updatekeys` keeps the data key).
fn real_sops(sb: &Sandbox, args: &[&str]) {
    let out = sops_cmd(sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops {args:?}: {}", stderr(&out));
}

fn report(sb: &Sandbox, name: &str) -> serde_json::Value {
    serde_json::from_str(&sb.read(name)).unwrap()
}

/// The key was taken out the sops way (the real sops's `updatekeys` keeps the data key), then
/// the file was copied and renamed: no path today has a version listing the key, but the old
/// path's envelope opens both files' data key. `keys revoke` must give both a new data key, and
/// must not report the value as "no longer in the file" while it is in use under the new paths.
/// Before the fix: nothing re-keyed, exit 0, and the attacker read the values written after.
#[test]
fn revoke_rekeys_renamed_and_copied_files_whose_old_path_exposes_the_data_key() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/db.yaml", "db:\n  password: old-secret-1\n")], // shroud:allow
        &team,
    );
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    real_sops(&sb, &["updatekeys", "-y", "secrets/db.yaml"]);
    assert!(!sb.read("secrets/db.yaml").contains(&r));
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "remove the key the sops way"]);
    std::fs::copy(
        sb.path("secrets/db.yaml"),
        sb.path("secrets/db-staging.yaml"),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "staging copy"]);
    git(repo, &["mv", "secrets/db.yaml", "secrets/database.yaml"]);
    git(repo, &["commit", "-qm", "rename"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 0);
    let rep = report(&sb, "r.json");
    let rekeyed: Vec<&str> = rep["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["result"] == "rekeyed")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(rekeyed.len(), 2, "{rep}");
    assert_eq!(rep["complete"], true);
    // The old path's value is in use under the new ones: live, not "removed".
    let old = rep["exposure"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "secrets/db.yaml")
        .expect("the old path is in the exposure report");
    assert_eq!(old["values"][0]["status"], "live", "{rep}");
    assert!(
        !stderr(&out).contains("no longer in the file"),
        "{}",
        stderr(&out)
    );
    git(repo, &["commit", "-qam", "revoke"]);
    assert_eq!(current_sops_files(repo).len(), 2);
    write_after(&sb, &team, "after-rename-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-rename-revoke");
}

/// A repository whose rules live in `config/sops.yaml` (listing the team key and `r`), with
/// `.sops.yaml` a symlink to it when `link`, and one committed sops file.
fn repo_with_config_dir(sb: &Sandbox, r: &str, link: bool, env: &[(&str, &str)]) {
    let repo = sb.dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    sb.write("config/sops.yaml", &rules(&format!("{TEST_RECIPIENT},{r}")));
    if link {
        std::os::unix::fs::symlink("config/sops.yaml", sb.path(".sops.yaml")).unwrap();
    }
    sb.write("secrets/db.yaml", "db:\n  password: old-secret-1\n"); // shroud:allow
    let mut c = sb.with_key();
    for (k, v) in env {
        c.env(k, v);
    }
    assert_code(&c.args(["encrypt", "-i", "secrets/db.yaml"]).run(), 0);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "secrets"]);
}

/// `.sops.yaml` is a symlink into the repository: the rule must lose the key at the link's
/// target (the link stays a link), so the documented `updatekeys` afterwards does not wrap the
/// new data key for it again. Before the fix: the rule kept the key, revoke said "verified", and
/// after `updatekeys` the revoked key read the new value.
#[test]
fn revoke_edits_a_symlinked_sops_yaml_at_its_target() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    repo_with_config_dir(&sb, &r, true, &[]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "r.json")["complete"], true);
    assert!(
        !sb.read("config/sops.yaml").contains(&r),
        "the rule kept the key"
    );
    assert!(
        std::fs::symlink_metadata(sb.path(".sops.yaml"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "revoke"]);
    assert_code(&sb.with_key().args(["updatekeys", "-y", "--all"]).run(), 0);
    let team = team();
    write_after(&sb, &env(&team), "after-symlink-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-symlink-revoke");
}

/// The team keeps its rules where `SOPS_CONFIG` points (sops's override, which encrypt and
/// updatekeys honour): revoke must take the key out of that config too. Before the fix it
/// ignored SOPS_CONFIG, said "verified", and the next file encrypted was wrapped for the key.
#[test]
fn revoke_honours_sops_config() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let cfg = sb.path("config/sops.yaml").display().to_string();
    let cfg_env = [("SOPS_CONFIG", cfg.as_str())];
    repo_with_config_dir(&sb, &r, false, &cfg_env);
    let out = sb
        .with_key()
        .env("SOPS_CONFIG", &cfg)
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "r.json")["complete"], true);
    assert!(
        !sb.read("config/sops.yaml").contains(&r),
        "the rule kept the key"
    );
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "revoke"]);
    sb.write(
        "secrets/new.yaml",
        "token: written-after-sops-config-revoke\n",
    );
    let out = sb
        .with_key()
        .env("SOPS_CONFIG", &cfg)
        .args(["encrypt", "-i", "secrets/new.yaml"])
        .run();
    assert_code(&out, 0);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "a file after the revocation"]);
    assert_locked_out(
        &Attacker::age(&attacker_key),
        &sb,
        "written-after-sops-config-revoke",
    );
}

/// A config that lists the key but lies outside the repository cannot be edited by the
/// revocation: the run must fail closed (not complete, non-zero, naming the config), never
/// report "verified". Before the fix: exit 0, complete.
#[test]
fn revoke_fails_closed_on_a_config_outside_the_repository() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let outside = tempfile::tempdir().unwrap();
    let cfg = outside.path().join("team-sops.yaml");
    std::fs::write(&cfg, rules(&format!("{TEST_RECIPIENT},{r}"))).unwrap();
    let cfg = cfg.display().to_string();
    let repo = sb.dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    sb.write("secrets/db.yaml", "db:\n  password: old\n");
    let out = sb
        .with_key()
        .env("SOPS_CONFIG", &cfg)
        .args(["encrypt", "-i", "secrets/db.yaml"])
        .run();
    assert_code(&out, 0);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "secrets"]);
    let out = sb
        .with_key()
        .env("SOPS_CONFIG", &cfg)
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("team-sops.yaml"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("verified"), "{}", stderr(&out));
    let rep = report(&sb, "r.json");
    assert_eq!(rep["complete"], false, "{rep}");
    // The file inside the repository was still re-keyed without the key.
    assert!(!sb.read("secrets/db.yaml").contains(&r));
}

/// An encrypted file larger than the walk's sniffing cap (64 MiB) that lists the key: the run
/// must handle it or fail naming it, never skip it and say complete. Here it cannot be read
/// (the input limit is set below its size; untracked, so no history is read either): the run
/// fails and names it. Before the fix: skipped, exit 0, complete.
#[test]
fn revoke_does_not_skip_a_sops_file_over_the_size_cap() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let repo = sb.dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    sb.write(
        ".sops.yaml",
        &rules(&format!("{TEST_RECIPIENT},{r}")).replace("secrets/.*\\.yaml$", "secrets/.*$"),
    );
    // 51 MB of random bytes: the binary store's JSON is over 64 MiB. Encrypted with the real
    // sops (fast at this size).
    let mut blob = vec![0u8; 51_000_000];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in blob.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::create_dir_all(sb.path("secrets")).unwrap();
    std::fs::write(sb.path("secrets/blob.bin"), &blob).unwrap();
    drop(blob);
    let out = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["encrypt", "-i", "secrets/blob.bin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let size = std::fs::metadata(sb.path("secrets/blob.bin"))
        .unwrap()
        .len();
    assert!(size > 64 * 1024 * 1024, "{size}");
    sb.write("secrets/db.yaml", "db:\n  password: old\n");
    assert_code(
        &sb.with_key()
            .args(["encrypt", "-i", "secrets/db.yaml"])
            .run(),
        0,
    );
    git(repo, &["add", ".sops.yaml", "secrets/db.yaml"]);
    git(repo, &["commit", "-qm", "secrets"]);
    let out = sb
        .with_key()
        .env("SHROUD_MAX_INPUT", (64 * 1024 * 1024).to_string())
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("blob.bin"), "{}", stderr(&out));
    assert_eq!(report(&sb, "r.json")["complete"], false);
}

/// Another branch still lists the key in its rules and files: revoke on main may clean main,
/// but its verdict must say the other ref still lists the key (not complete, non-zero). Once
/// that branch is revoked too, the verdict is complete.
#[test]
fn revoke_verdict_names_other_refs_that_still_list_the_key() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let team = team();
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/db.yaml", "db:\n  password: old\n")],
        &env(&team),
    );
    let repo = sb.dir.path();
    git(repo, &["branch", "staging"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("this branch is clean; these refs still list the key: staging"),
        "{}",
        stderr(&out)
    );
    let rep = report(&sb, "r.json");
    assert_eq!(rep["complete"], false, "{rep}");
    assert!(
        rep["refs"][0].as_str().unwrap().starts_with("staging"),
        "{rep}"
    );
    git(repo, &["commit", "-qam", "revoke on main"]);
    // The dry-run proof of the runbook says the same.
    let out = sb
        .with_key()
        .args(["keys", "revoke", "--dry-run", "--report", "d.json", &r])
        .run();
    assert_code(&out, 1);
    assert_eq!(report(&sb, "d.json")["complete"], false);
    // Revoked on staging too: complete.
    git(repo, &["switch", "-q", "staging"]);
    let out = sb.with_key().args(["keys", "revoke", "-y", &r]).run();
    assert_code(&out, 0);
    git(repo, &["commit", "-qam", "revoke on staging"]);
    git(repo, &["switch", "-q", "main"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "--dry-run", "--report", "d.json", &r])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "d.json")["complete"], true);
}

/// A file listing the key whose MAC does not verify: the plan line must not read as done, and
/// the failure must not suggest `--ignore-mac` (keys revoke has none); the run fails.
#[test]
fn revoke_words_a_bad_mac_failure_truthfully() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let team = team();
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/a.yaml", "a: one\nb: two\n")],
        &env(&team),
    );
    let text = sb.read("secrets/a.yaml");
    let cut: String = text
        .lines()
        .filter(|l| !l.starts_with("b:"))
        .map(|l| format!("{l}\n"))
        .collect();
    sb.write("secrets/a.yaml", &cut);
    let out = sb.with_key().args(["keys", "revoke", "-y", &r]).run();
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(!err.contains("a.yaml: new data key"), "{err}");
    assert!(!err.contains("--ignore-mac skips"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
}

/// `rotate --rm-age KEY -r .` takes the key out of the rule and the files: it must not then
/// advise that the files differ from their rule by that key (running `updatekeys` on that
/// advice would bring it back, were the rule unchanged).
#[test]
fn rotate_rm_does_not_report_drift_for_the_key_it_removed() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let team = team();
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/a.yaml", "k: v\n")],
        &env(&team),
    );
    let out = sb
        .with_key()
        .args(["rotate", "-i", "-y", "--rm-age", &r, "-r", "."])
        .run();
    assert_code(&out, 0);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("differ"), "{all}");
    assert!(!sb.read(".sops.yaml").contains(&r));
    assert!(!sb.read("secrets/a.yaml").contains(&r));
}

/// Red-team finding (audit/attackA): the team key's age envelope is rewritten, with the real
/// `age`, as one age file with a second stanza for eve (the same data key). No rule and no
/// envelope names eve, yet she opens the file. `keys revoke` of eve must count such a file as
/// one she may open (an envelope with an unnamed reader) and give it a new data key, wrapped
/// afresh; before the fix it said no file lists her and changed nothing.
#[test]
fn revoke_rekeys_a_file_whose_envelope_hides_a_second_reader() {
    let sb = Sandbox::new();
    let (eve_key, eve) = new_key(&sb, "eve.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &rules(TEST_RECIPIENT),
        &[("secrets/a.yaml", "api: t0k3n-a\n")],
        &team,
    );
    let text = sb.read("secrets/a.yaml");
    sb.write(
        "secrets/a.yaml",
        &rewrap_age_envelope(&text, &test_key(), &[TEST_RECIPIENT, &eve]),
    );
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "tidy"]);
    // Eve, whom nothing names, reads it with the real sops.
    let out = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", &eve_key)
        .args(["-d", "secrets/a.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let dry = sb
        .with_key()
        .args(["keys", "revoke", "--dry-run", &eve])
        .run();
    assert!(
        stderr(&dry).contains("secrets/a.yaml") || stdout(&dry).contains("secrets/a.yaml"),
        "the dry run names the file: {}{}",
        stdout(&dry),
        stderr(&dry)
    );
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &eve])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "r.json")["complete"], true);
    git(repo, &["commit", "-qam", "revoke"]);
    write_after(&sb, &team, "after-hidden-reader");
    assert_locked_out(&Attacker::age(&eve_key), &sb, "after-hidden-reader");
}

/// Red-team round 2 (t-ref-datakey): another branch took the key out the sops way (the real
/// sops's `updatekeys` keeps the data key), so its tip lists the key nowhere, yet the key
/// unwraps that file's data key from main's history. Revoking on main must name that branch and
/// file in its verdict (not complete, exit 1); following the advice (revoke on the branch too)
/// makes it complete, and the key then reads nothing written on the branch. Before the fix:
/// exit 0, complete, and the key read the next value set on the branch.
#[test]
fn revoke_verdict_names_another_ref_whose_data_key_the_key_unwraps() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/db.yaml", "db:\n  password: old\n")],
        &team,
    );
    let repo = sb.dir.path();
    git(repo, &["switch", "-q", "-c", "staging"]);
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    real_sops(&sb, &["updatekeys", "-y", "secrets/db.yaml"]);
    assert!(!sb.read("secrets/db.yaml").contains(&r));
    git(
        repo,
        &["commit", "-qam", "staging: the key removed the sops way"],
    );
    git(repo, &["switch", "-q", "main"]);

    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("staging (secrets/db.yaml: its data key is one a revoked key"),
        "{}",
        stderr(&out)
    );
    let rep = report(&sb, "r.json");
    assert_eq!(rep["complete"], false, "{rep}");
    assert!(
        rep["refs"][0]
            .as_str()
            .unwrap()
            .starts_with("staging (secrets/db.yaml"),
        "{rep}"
    );
    git(repo, &["commit", "-qam", "revoke on main"]);
    // The advice: revoke on that branch too.
    git(repo, &["switch", "-q", "staging"]);
    let out = sb.with_key().args(["keys", "revoke", "-y", &r]).run();
    assert_code(&out, 0);
    git(repo, &["commit", "-qam", "revoke on staging"]);
    git(repo, &["switch", "-q", "main"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "--dry-run", "--report", "d.json", &r])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "d.json")["complete"], true);
    git(repo, &["switch", "-q", "staging"]);
    write_after(&sb, &team, "after-ref-datakey");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-ref-datakey");
}

/// Red-team round 2 (t-pgp-two): the team's PGP envelope is rewritten, with the real gpg, as
/// one message with a second public-key encrypted session key, for eve's PGP key (the same data
/// key). No rule and no entry names eve, yet she opens the file with the real sops. `keys
/// revoke` of eve must count the file as one she may open and give it a new data key, wrapped
/// afresh; the audit must say the file has readers it does not name. Before the fix: "no rule
/// and no file lists it", nothing changed, and eve read the value written afterwards.
#[test]
fn revoke_rekeys_a_file_whose_pgp_envelope_has_a_second_recipient() {
    let team_gpg = crate::pgp::Gnupg::with_test_key();
    let fpr = crate::pgp::FPR;
    let (eve_gpg, eve) = team_gpg.with_eve();
    let sb = Sandbox::new();
    let home = team_gpg.home.path().display().to_string();
    let eve_home = eve_gpg.home.path().display().to_string();
    let key = test_key().display().to_string();
    let both: Vec<(&str, &str)> = vec![("GNUPGHOME", &home), ("SOPS_AGE_KEY_FILE", &key)];
    repo_with(
        &sb,
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\n    pgp: {fpr}\n    age: {TEST_RECIPIENT}\n"
        ),
        &[("secrets/a.yaml", "api: t0k3n-a\n")],
        &both,
    );
    let text = sb.read("secrets/a.yaml");
    let attacked = team_gpg.rewrap_envelope(&text, &[fpr, &eve]);
    sb.write("secrets/a.yaml", &attacked);
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "tidy"]);
    let eve_reads = |file: &str| {
        let out = sops_cmd(&sb)
            .env("GNUPGHOME", &eve_home)
            .args(["decrypt", "--ignore-mac", file])
            .output()
            .unwrap();
        if out.status.success() {
            stdout(&out)
        } else {
            String::new()
        }
    };
    // Eve, whom nothing names, reads it with the real sops.
    assert!(eve_reads("secrets/a.yaml").contains("t0k3n-a"));
    let tidy = sb.read("secrets/a.yaml");

    let dry = sb
        .with_key()
        .env("GNUPGHOME", &home)
        .args(["keys", "revoke", "--dry-run", &eve])
        .run();
    assert!(
        stderr(&dry).contains("secrets/a.yaml: would get a new data key: an envelope opens"),
        "the dry run names the file: {}",
        stderr(&dry)
    );
    let out = sb
        .with_key()
        .env("GNUPGHOME", &home)
        .args(["keys", "revoke", "-y", "--report", "r.json", &eve])
        .run();
    assert_code(&out, 0);
    assert_eq!(report(&sb, "r.json")["complete"], true);
    git(repo, &["commit", "-qam", "revoke"]);
    let team = team();
    write_after(&sb, &env(&team), "after-pgp-second-recipient");
    assert_eq!(eve_reads("secrets/a.yaml"), "");
    // Her envelope from history, grafted onto today's file, opens nothing written after.
    let now = sb.read("secrets/a.yaml");
    let body = &now[..now.find("\nsops:\n").unwrap() + 1];
    let old_sops = &tidy[tidy.find("\nsops:\n").unwrap() + 1..];
    sb.write("graft.yaml", &format!("{body}{old_sops}"));
    let read = eve_reads("graft.yaml");
    assert!(!read.contains("after-pgp-second-recipient"), "{read}");
}

/// Red-team round 2 (t-submodule): the secrets live in a git submodule (`vault/`), whose own
/// history took the key out the sops way (the real sops's `updatekeys` keeps the data key).
/// Run in the superproject, `keys revoke` walks the submodule's files, so it must read the
/// submodule's history and refs too: the file gets a new data key, and the verdict names the
/// submodule's refs that still hold the old one until the submodule is pushed. Before the fix:
/// nothing re-keyed, exit 0, complete, and the key read the value written afterwards.
#[test]
fn revoke_in_a_superproject_reads_the_submodules_history_and_refs() {
    // The sandbox is the vault's working repository; it pushes to a bare one, which the
    // superproject has as its submodule `vault`.
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    let work = sb.dir.path();
    let vault_rules =
        |keys: &str| format!("creation_rules:\n  - path_regex: .*\\.yaml$\n    age: {keys}\n");
    git(work, &["init", "-q", "-b", "main"]);
    sb.write(".gitignore", "attacker.txt\n");
    sb.write(".sops.yaml", &vault_rules(&format!("{TEST_RECIPIENT},{r}")));
    sb.write("db.yaml", "db:\n  password: old\n");
    assert_code(&sb.with_key().args(["encrypt", "-i", "db.yaml"]).run(), 0);
    git(work, &["add", "-A"]);
    git(work, &["commit", "-qm", "A,R"]);
    sb.write(".sops.yaml", &vault_rules(TEST_RECIPIENT));
    let out = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["updatekeys", "-y", "db.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    git(work, &["commit", "-qam", "the key removed the sops way"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let bare = elsewhere.path().join("vault.git");
    let bare_s = bare.to_str().unwrap();
    git(work, &["clone", "-q", "--bare", ".", bare_s]);
    git(work, &["remote", "add", "origin", bare_s]);
    let sup = elsewhere.path().join("super");
    std::fs::create_dir_all(&sup).unwrap();
    git(&sup, &["init", "-q", "-b", "main"]);
    let add = ["-c", "protocol.file.allow=always", "submodule", "add", "-q"];
    git(&sup, &[&add[..], &[bare_s, "vault"]].concat());
    git(&sup, &["commit", "-qm", "vault submodule"]);
    let vault = sup.join("vault");
    assert!(
        !std::fs::read_to_string(vault.join("db.yaml"))
            .unwrap()
            .contains(&r)
    );
    let sup_report = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(sup.join(name)).unwrap()).unwrap()
    };

    let out = sb
        .with_key()
        .current_dir(&sup)
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 1);
    let rep = sup_report("r.json");
    assert_eq!(rep["complete"], false, "{rep}");
    assert_eq!(rep["files"][0]["result"], "rekeyed", "{rep}");
    assert!(
        stderr(&out).contains(
            "vault/: remotes/origin/main (vault/db.yaml: its data key is one a revoked key"
        ),
        "{}",
        stderr(&out)
    );
    // The advice: commit and push the submodule, then the superproject's bump.
    git(&vault, &["commit", "-qam", "revoke"]);
    git(&vault, &["push", "-q", "origin", "HEAD:main"]);
    git(&vault, &["fetch", "-q"]);
    git(&sup, &["commit", "-qam", "revoke (submodule bumped)"]);
    let out = sb
        .with_key()
        .current_dir(&sup)
        .args(["keys", "revoke", "--dry-run", "--report", "d.json", &r])
        .run();
    assert_code(&out, 0);
    assert_eq!(sup_report("d.json")["complete"], true);
    // The vault's own clone takes the revocation and writes a value after it.
    git(work, &["pull", "-q", "origin", "main"]);
    write_after(&sb, &team, "after-submodule-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-submodule-revoke");
}

/// Red-team round 2 (t-merge-only): a sops file first written, wrapped for R, while resolving a
/// merge (its version exists only in the merge commit), then stripped of R the sops way (the
/// data key kept) and the merged branch deleted. `git log --raw` lists no change for a merge,
/// so the revocation never saw that envelope and said complete; R then read every value
/// written afterwards. History now includes what a merge changed against every parent.
#[test]
fn revoke_sees_an_envelope_that_exists_only_in_a_merge_commit() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/other.yaml", "x: 1\n")],
        &team,
    );
    let repo = sb.dir.path();
    git(repo, &["switch", "-q", "-c", "feature"]);
    sb.write("f.txt", "f\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "feature work"]);
    git(repo, &["switch", "-q", "main"]);
    sb.write("m.txt", "m\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "main work"]);
    git(repo, &["merge", "-q", "--no-ff", "--no-commit", "feature"]);
    sb.write("secrets/db.yaml", "db:\n  password: old\n");
    let mut c = sb.cmd();
    for (k, v) in &team {
        c.env(k, v);
    }
    assert_code(&c.args(["encrypt", "-i", "secrets/db.yaml"]).run(), 0);
    git(repo, &["add", "-A"]);
    git(
        repo,
        &["commit", "-qm", "Merge feature, with the new db secret"],
    );
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/db\\.yaml$\n    age: {TEST_RECIPIENT}\n  - path_regex: secrets/.*\\.yaml$\n    age: {TEST_RECIPIENT},{r}\n"
        ),
    );
    real_sops(&sb, &["updatekeys", "-y", "secrets/db.yaml"]);
    assert!(!sb.read("secrets/db.yaml").contains(&r));
    git(
        repo,
        &["commit", "-qam", "db: only the team key, the sops way"],
    );
    git(repo, &["branch", "-q", "-d", "feature"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 0);
    git(repo, &["commit", "-qam", "revoke"]);
    write_after(&sb, &team, "after-merge-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-merge-revoke");
}

/// Red-team round 2 (t-conf-history): the version wrapped for R was a YAML sops file named
/// `deploy/app.conf` (used with `--input-type yaml`); R was removed the sops way (the data key
/// kept) and the file renamed to `secrets/app.yaml`. History versions were read by their
/// name's format, so the `.conf` ones were skipped and today's file kept the data key R
/// unwraps from them; a history version is now read in whichever format opens it.
#[test]
fn revoke_reads_history_versions_whose_name_does_not_say_their_format() {
    let sb = Sandbox::new();
    let (attacker_key, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &format!("creation_rules:\n  - path_regex: .*\n    age: {TEST_RECIPIENT},{r}\n"),
        &[("secrets/other.yaml", "x: 1\n")],
        &team,
    );
    let repo = sb.dir.path();
    sb.write("deploy/app.conf", "db:\n  password: old\n");
    let real = |args: &[&str]| real_sops(&sb, args);
    real(&[
        "encrypt",
        "-i",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "deploy/app.conf",
    ]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "app.conf for the team and R"]);
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: deploy/.*\n    age: {TEST_RECIPIENT}\n  - path_regex: .*\n    age: {TEST_RECIPIENT},{r}\n"
        ),
    );
    real(&[
        "updatekeys",
        "-y",
        "--input-type",
        "yaml",
        "deploy/app.conf",
    ]);
    git(repo, &["mv", "deploy/app.conf", "secrets/app.yaml"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "R removed the sops way; renamed"]);
    let out = sb
        .with_key()
        .args(["keys", "revoke", "-y", "--report", "r.json", &r])
        .run();
    assert_code(&out, 0);
    git(repo, &["commit", "-qam", "revoke"]);
    write_after(&sb, &team, "after-conf-revoke");
    assert_locked_out(&Attacker::age(&attacker_key), &sb, "after-conf-revoke");
}

/// Red-team round 3: `keys revoke --dry-run` exited 0 while its report said `complete: false`,
/// so `shroud keys revoke --dry-run KEY && echo nothing left` lied. A dry run whose plan leaves
/// work (files to re-key, a config to edit, a config outside the repository that only a person
/// can change) exits 1, the code of a revocation that did not complete; 0 only when nothing is
/// left. Before the fix: exit 0 in the first two cases.
#[test]
fn revoke_dry_run_exits_1_while_work_is_left() {
    let sb = Sandbox::new();
    let (_, r) = new_key(&sb, "attacker.txt");
    let team = team();
    let team = env(&team);
    repo_with(
        &sb,
        &rules(&format!("{TEST_RECIPIENT},{r}")),
        &[("secrets/db.yaml", "db:\n  password: old\n")], // shroud:allow
        &team,
    );
    let outside = tempfile::tempdir().unwrap();
    let cfg = outside.path().join("team-sops.yaml");
    std::fs::write(&cfg, rules(&format!("{TEST_RECIPIENT},{r}"))).unwrap();
    let dry = |config: Option<&std::path::Path>| {
        let mut c = sb.with_key();
        if let Some(cfg) = config {
            c.env("SOPS_CONFIG", cfg);
        }
        let out = c
            .args(["keys", "revoke", "--dry-run", "--report", "d.json", &r])
            .run();
        (out, report(&sb, "d.json")["complete"].clone())
    };
    // A config and a file to change: nothing changed, exit 1, not complete.
    let before = (sb.read(".sops.yaml"), sb.read("secrets/db.yaml"));
    let (out, complete) = dry(None);
    assert_code(&out, 1);
    assert_eq!(complete, false);
    assert!(stderr(&out).contains("NOT revoked yet"), "{}", stderr(&out));
    assert_eq!((sb.read(".sops.yaml"), sb.read("secrets/db.yaml")), before);
    // Revoked in the repository; a config outside it still lists the key: exit 1.
    let out = sb.with_key().args(["keys", "revoke", "-y", &r]).run();
    assert_code(&out, 0);
    git(sb.dir.path(), &["commit", "-qam", "revoke"]);
    let (out, complete) = dry(Some(&cfg));
    assert_code(&out, 1);
    assert_eq!(complete, false);
    assert!(stderr(&out).contains("team-sops.yaml"), "{}", stderr(&out));
    // Nothing left: exit 0, complete.
    let (out, complete) = dry(None);
    assert_code(&out, 0);
    assert_eq!(complete, true);
    // `&& echo` as a script writes it, while the outside config still lists the key.
    let cfg = cfg.display().to_string();
    let key = test_key().display().to_string();
    let out = run_block(
        sb.dir.path(),
        r#"shroud keys revoke --dry-run "$R" && echo nothing left || echo "work left: $?""#,
        &[
            ("R", &r),
            ("SOPS_CONFIG", &cfg),
            ("SOPS_AGE_KEY_FILE", &key),
        ],
    );
    assert_eq!(stdout(&out), "work left: 1\n", "{}", stderr(&out));
}
