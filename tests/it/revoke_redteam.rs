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
        &[("secrets/db.yaml", "db:\n  password: old-secret-1\n")],
        &team,
    );
    sb.write(".sops.yaml", &rules(TEST_RECIPIENT));
    let out = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["updatekeys", "-y", "secrets/db.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sb.read("secrets/db.yaml").contains(&r));
    let repo = sb.dir.path();
    git(repo, &["commit", "-qam", "remove the key the sops way"]);
    std::fs::copy(sb.path("secrets/db.yaml"), sb.path("secrets/db-staging.yaml")).unwrap();
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
