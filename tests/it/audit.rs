//! `shroud audit` on repositories whose state is known: generated git repositories (drift,
//! stale keys, a plaintext Secret, Shamir groups, age and AWS KMS mixed, damaged files) and
//! the real sops-written fixtures (read in place from ../shared/fixtures/sops). Asserts the
//! exact inventory, access matrix and findings; the HTML report is rendered by headless
//! Chromium and its screenshot checked for the tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::kms::Moto;
use crate::util::*;

const OLD_DATE: &str = "2020-01-01T00:00:00Z";

/// Runs git in `dir` as `author` at `date` (None: now). A missing git fails the test.
fn git(dir: &Path, date: Option<&str>, author: (&str, &str), args: &[&str]) {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_AUTHOR_NAME", author.0)
        .env("GIT_AUTHOR_EMAIL", author.1)
        .env("GIT_COMMITTER_NAME", author.0)
        .env("GIT_COMMITTER_EMAIL", author.1)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
    if let Some(d) = date {
        c.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = c
        .output()
        .expect("git is required for the audit tests (apt-get install git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const ADMIN: (&str, &str) = ("Old Admin", "old@example.com");
const DEV: (&str, &str) = ("Dev Person", "dev@example.com");

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit JSON does not parse ({e}); stderr: {}; stdout: {}",
            stderr(out),
            stdout(out)
        )
    })
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// `[[recipient, …], …]` of a file, each group sorted.
fn groups(f: &Value) -> Vec<Vec<String>> {
    f["key_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut v: Vec<String> = g
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        k["type"].as_str().unwrap(),
                        k["recipient"].as_str().unwrap()
                    )
                })
                .collect();
            v.sort();
            v
        })
        .collect()
}

fn file<'a>(r: &'a Value, path: &str) -> &'a Value {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in the inventory"))
}

fn sorted_groups(mut v: Vec<Vec<String>>) -> Vec<Vec<String>> {
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A random hex string (secret-looking test values are made at run time, so this source file
/// holds none).
fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| format!("{:x}", r.gen_range(0..16)))
        .collect()
}

/// type, recipient, name, opens alone, shares (path, groups held, threshold).
type RecipientRow = (
    String,
    String,
    Option<String>,
    Vec<String>,
    Vec<(String, u64, u64)>,
);

/// path, format, version, key types per group.
type InventoryRow = (String, String, Option<String>, Vec<Vec<String>>);

struct Generated {
    sb: Sandbox,
    r3: String,
    arn: String,
    secret_value: String,
}

impl Generated {
    fn repo(&self) -> PathBuf {
        self.sb.path("repo")
    }
    fn audit(&self) -> Command {
        let mut c = self.sb.cmd();
        c.current_dir(self.repo())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .arg("audit");
        c
    }
}

fn enc(sb: &Sandbox, dir: &str, args: &[&str]) {
    let out = sb.cmd().current_dir(sb.path(dir)).args(args).run();
    assert_code(&out, 0);
}

/// The repository of known state described in the module docs.
fn generate(moto: &Moto) -> Generated {
    let sb = Sandbox::new();
    let (_, r3) = shroud::keysource::age::generate();
    let arn = moto.create_key("us-east-1");
    let (r1, r2) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    let secret_value = format!("s3cr3t-{}", random_hex(24));
    std::fs::create_dir_all(sb.path("repo")).unwrap();
    std::fs::create_dir_all(sb.path("work")).unwrap();
    sb.write(
        "repo/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^prod/\n    shamir_threshold: 2\n    key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n      - age: [{r3}]\n  - path_regex: ^k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: {r1}\n  - path_regex: ^mixed/\n    key_groups:\n      - age: [{r1}]\n        kms:\n          - arn: {arn}\n            context: {{app: billing}}\n  - path_regex: ^apps/\n    age: {r1},{r2}\naudit:\n  max_key_age: 90d\n  names: names.yaml\n"
        ),
    );
    sb.write(
        "repo/names.yaml",
        &format!(
            "{r1}: {{name: alice, kind: person}}\n{r2}: bob\n{arn}:\n  name: billing cluster\n  kind: cluster\n"
        ),
    );
    let repo = sb.path("repo");
    git(&repo, None, ADMIN, &["init", "-q"]);

    // Commit 1, in 2020: two files under the apps rule, a Deployment, and a plaintext Secret
    // that a later commit removes (history only).
    for name in ["old", "rotated"] {
        sb.write(
            &format!("repo/apps/{name}.yaml"),
            "db:\n  user: app\n  password: one\n",
        );
        enc(
            &sb,
            "repo",
            &["encrypt", "-i", &format!("apps/{name}.yaml")],
        );
    }
    sb.write(
        "repo/k8s/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
    );
    sb.write(
        "repo/k8s/old-secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy\nstringData:\n  token: {}\n",
            random_hex(32)
        ),
    );
    git(&repo, Some(OLD_DATE), ADMIN, &["add", "-A"]);
    git(
        &repo,
        Some(OLD_DATE),
        ADMIN,
        &["commit", "-q", "-m", "initial secrets"],
    );

    // Commit 2, now.
    let set = sb
        .with_key()
        .current_dir(&repo)
        .args(["set", "apps/old.yaml", r#"["db"]["password"]"#, r#""two""#])
        .run();
    assert_code(&set, 0);
    let rot = sb
        .with_key()
        .current_dir(&repo)
        .args(["rotate", "-i", "apps/rotated.yaml"])
        .run();
    assert_code(&rot, 0);
    std::fs::remove_file(repo.join("k8s/old-secret.yaml")).unwrap();
    for name in ["fresh", "nomac", "broken"] {
        sb.write(&format!("repo/apps/{name}.yaml"), "api_key: abc\n");
        enc(
            &sb,
            "repo",
            &["encrypt", "-i", &format!("apps/{name}.yaml")],
        );
    }
    // No MAC: drop the mac line. Damaged: drop the whole sops block.
    let nomac = sb.read("repo/apps/nomac.yaml");
    let nomac: String = nomac
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    sb.write("repo/apps/nomac.yaml", &nomac);
    let broken = sb.read("repo/apps/broken.yaml");
    let cut = broken.find("sops:").unwrap();
    sb.write("repo/apps/broken.yaml", &broken[..cut]);
    // Recipients set by hand, outside the rules: one missing, one extra; one nobody covers.
    sb.write("work/drifted.yaml", "k: v\n");
    enc(&sb, "work", &["encrypt", "--age", r1, "-i", "drifted.yaml"]);
    sb.write("work/extra.yaml", "k: v\n");
    enc(
        &sb,
        "work",
        &[
            "encrypt",
            "--age",
            &format!("{r1},{r2},{r3}"),
            "-i",
            "extra.yaml",
        ],
    );
    sb.write("work/orphan.yaml", "k: v\n");
    enc(&sb, "work", &["encrypt", "--age", r2, "-i", "orphan.yaml"]);
    std::fs::copy(sb.path("work/drifted.yaml"), repo.join("apps/drifted.yaml")).unwrap();
    std::fs::copy(sb.path("work/extra.yaml"), repo.join("apps/extra.yaml")).unwrap();
    std::fs::create_dir_all(repo.join("stray")).unwrap();
    std::fs::copy(sb.path("work/orphan.yaml"), repo.join("stray/orphan.yaml")).unwrap();
    // Shamir 2-of-3 from the rule.
    sb.write("repo/prod/db.yaml", "password: x\n");
    enc(&sb, "repo", &["encrypt", "-i", "prod/db.yaml"]);
    // age and AWS KMS in one group, through moto.
    sb.write("repo/mixed/billing.yaml", "card_key: y\n");
    let mut c = sb.cmd();
    moto.env(&mut c);
    let out = c
        .current_dir(&repo)
        .env("AWS_REGION", "us-east-1")
        .args(["encrypt", "-i", "mixed/billing.yaml"])
        .run();
    assert_code(&out, 0);
    // A plaintext Secret where the k8s rule says stringData must be encrypted.
    sb.write(
        "repo/k8s/secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {secret_value}\n"
        ),
    );
    git(&repo, None, DEV, &["add", "-A"]);
    git(&repo, None, DEV, &["commit", "-q", "-m", "more secrets"]);
    // Untracked.
    sb.write("repo/apps/untracked.yaml", "k: v\n");
    enc(&sb, "repo", &["encrypt", "-i", "apps/untracked.yaml"]);
    Generated {
        sb,
        r3,
        arn,
        secret_value,
    }
}

#[test]
fn generated_repository_inventory_matrix_and_findings() {
    let moto = Moto::start();
    let g = generate(&moto);
    let (r1, r2, r3, arn) = (
        TEST_RECIPIENT,
        TEST_RECIPIENT2,
        g.r3.as_str(),
        g.arn.as_str(),
    );
    let out = g.audit().args(["--format", "json"]).run();
    assert_code(&out, 0);
    assert!(
        !stdout(&out).contains(&g.secret_value) && !stderr(&out).contains(&g.secret_value),
        "a secret value reached the output"
    );
    let r = json(&out);
    assert_eq!(r["schema"], "shroud-audit/2");

    // Inventory: exactly these files, recipients and thresholds.
    let paths: Vec<String> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "apps/broken.yaml",
            "apps/drifted.yaml",
            "apps/extra.yaml",
            "apps/fresh.yaml",
            "apps/nomac.yaml",
            "apps/old.yaml",
            "apps/rotated.yaml",
            "apps/untracked.yaml",
            "mixed/billing.yaml",
            "prod/db.yaml",
            "stray/orphan.yaml",
        ]
    );
    let a = |x: &str| format!("age:{x}");
    let both = vec![sorted(vec![a(r1), a(r2)])];
    for p in ["fresh", "nomac", "old", "rotated", "untracked"] {
        let f = file(&r, &format!("apps/{p}.yaml"));
        assert_eq!(groups(f), both, "{p}");
        assert_eq!(f["threshold"], 1);
        assert_eq!(f["format"], "yaml");
    }
    assert_eq!(groups(file(&r, "apps/drifted.yaml")), vec![vec![a(r1)]]);
    assert_eq!(
        groups(file(&r, "apps/extra.yaml")),
        vec![sorted(vec![a(r1), a(r2), a(r3)])]
    );
    assert_eq!(groups(file(&r, "stray/orphan.yaml")), vec![vec![a(r2)]]);
    let prod = file(&r, "prod/db.yaml");
    assert_eq!(groups(prod), vec![vec![a(r1)], vec![a(r2)], vec![a(r3)]]);
    assert_eq!(prod["threshold"], 2);
    assert_eq!(prod["shamir_threshold"], 2);
    let combos: Vec<Vec<String>> = prod["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(strs)
        .collect();
    let mut want_combos = vec![
        sorted(vec![r1.to_owned(), r2.to_owned()]),
        sorted(vec![r1.to_owned(), r3.to_owned()]),
        sorted(vec![r2.to_owned(), r3.to_owned()]),
    ];
    want_combos.sort();
    assert_eq!(sorted_groups(combos), want_combos);
    let mixed = file(&r, "mixed/billing.yaml");
    assert_eq!(
        groups(mixed),
        vec![sorted(vec![a(r1), format!("kms:{arn}")])]
    );
    let kms = mixed["key_groups"][0]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "kms")
        .unwrap();
    assert_eq!(kms["context"]["app"], "billing");
    assert_eq!(kms["identity"], format!("{arn}|app:billing"));
    assert_eq!(kms["name"], "billing cluster");
    let broken = file(&r, "apps/broken.yaml");
    assert!(
        broken["damaged"]
            .as_str()
            .unwrap()
            .contains("no sops metadata")
    );
    assert_eq!(file(&r, "apps/nomac.yaml")["mac"], false);
    assert_eq!(file(&r, "apps/fresh.yaml")["mac"], true);
    assert_eq!(file(&r, "apps/fresh.yaml")["config"], ".sops.yaml");
    assert_eq!(file(&r, "apps/fresh.yaml")["rule"], 3);

    // Access matrix, per recipient, with names from names.yaml.
    let recips: Vec<RecipientRow> = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["type"].as_str().unwrap().to_owned(),
                x["recipient"].as_str().unwrap().to_owned(),
                x["name"].as_str().map(str::to_owned),
                strs(&x["opens_alone"]),
                x["shares"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        (
                            s["path"].as_str().unwrap().to_owned(),
                            s["groups_held"].as_u64().unwrap(),
                            s["threshold"].as_u64().unwrap(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let apps =
        |extra: &[&str]| -> Vec<String> { sorted(extra.iter().map(|s| s.to_string()).collect()) };
    let prod_share = vec![("prod/db.yaml".to_owned(), 1, 2)];
    let mut want = vec![
        (
            "age".to_owned(),
            r1.to_owned(),
            Some("alice".to_owned()),
            apps(&[
                "apps/drifted.yaml",
                "apps/extra.yaml",
                "apps/fresh.yaml",
                "apps/nomac.yaml",
                "apps/old.yaml",
                "apps/rotated.yaml",
                "apps/untracked.yaml",
                "mixed/billing.yaml",
            ]),
            prod_share.clone(),
        ),
        (
            "age".to_owned(),
            r2.to_owned(),
            Some("bob".to_owned()),
            apps(&[
                "apps/extra.yaml",
                "apps/fresh.yaml",
                "apps/nomac.yaml",
                "apps/old.yaml",
                "apps/rotated.yaml",
                "apps/untracked.yaml",
                "stray/orphan.yaml",
            ]),
            prod_share.clone(),
        ),
        (
            "age".to_owned(),
            r3.to_owned(),
            None,
            apps(&["apps/extra.yaml"]),
            prod_share.clone(),
        ),
        (
            "kms".to_owned(),
            arn.to_owned(),
            Some("billing cluster".to_owned()),
            apps(&["mixed/billing.yaml"]),
            Vec::new(),
        ),
    ];
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(recips, want);

    // Drift: exactly these.
    let drift: Vec<(String, String)> = r["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        drift,
        [
            ("apps/drifted.yaml", "recipients"),
            ("apps/extra.yaml", "recipients"),
            ("k8s/secret.yaml", "must-encrypt"),
            ("stray/orphan.yaml", "uncovered"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let d = &r["drift"];
    assert_eq!(
        d[0]["groups"][0]["missing"],
        serde_json::json!([format!("age {r2}")])
    );
    assert_eq!(d[0]["groups"][0]["extra"], serde_json::json!([]));
    assert_eq!(d[0]["fix"], "shroud updatekeys apps/drifted.yaml");
    assert_eq!(
        d[1]["groups"][0]["extra"],
        serde_json::json!([format!("age {r3}")])
    );
    assert_eq!(d[2]["values"], 1);
    assert_eq!(
        d[2]["paths"],
        serde_json::json!([r#"["stringData"]["password"]"#])
    );
    assert_eq!(d[2]["rule"], 1);
    assert_eq!(d[3]["reason"], "no creation rule of .sops.yaml matches it");

    // Rotation: apps/old.yaml's envelopes date from 2020 although a later commit changed a
    // value; apps/rotated.yaml was rotated in the later commit.
    let stale: Vec<String> = r["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stale, ["apps/old.yaml"]);
    assert_eq!(r["stale"][0]["source"], "git");
    assert_eq!(r["stale"][0]["rotated_at"], OLD_DATE);
    assert_eq!(r["stale"][0]["max_age_days"], 90);
    assert_eq!(r["stale"][0]["policy"], ".sops.yaml");
    let old = file(&r, "apps/old.yaml");
    assert_eq!(old["git"]["last_rekey"]["author"], "Old Admin");
    assert_eq!(old["git"]["last_rekey"]["time"], OLD_DATE);
    assert_eq!(old["git"]["last_commit"]["author"], "Dev Person");
    assert_eq!(old["git"]["last_commit"]["email"], "dev@example.com");
    assert_ne!(
        old["git"]["last_commit"]["id"],
        old["git"]["last_rekey"]["id"]
    );
    let rotated = file(&r, "apps/rotated.yaml");
    assert_eq!(
        rotated["git"]["last_rekey"]["id"],
        rotated["git"]["last_commit"]["id"]
    );
    assert_eq!(rotated["rotation"]["source"], "git");
    assert_eq!(rotated["rotation"]["stale"], false);
    let untracked = file(&r, "apps/untracked.yaml");
    assert_eq!(untracked["git"]["tracked"], false);
    assert_eq!(untracked["git"]["last_commit"], Value::Null);
    assert_eq!(untracked["rotation"]["source"], "lastmodified");

    // Plaintext: the Secret in the working tree (scanner), nothing from history without
    // --history.
    let plain: Vec<(String, String)> = r["plaintext"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["rule_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        plain,
        [("k8s/secret.yaml".to_owned(), "kubernetes-secret".to_owned())]
    );
    assert_eq!(r["plaintext"][0]["lines"], serde_json::json!([6]));

    // Integrity without keys.
    let integ: Vec<(String, String)> = r["integrity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["check"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        integ,
        [
            ("apps/broken.yaml", "damaged"),
            ("apps/nomac.yaml", "mac-missing"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(r["header"]["head"].as_str().map(str::len), Some(40));

    // --history adds the Secret that only history holds, attributed to its commit.
    let out = g.audit().args(["--format", "json", "--history"]).run();
    assert_code(&out, 0);
    let h = json(&out);
    let old_secret = h["plaintext"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "k8s/old-secret.yaml")
        .expect("the removed Secret is found in history");
    assert_eq!(old_secret["rule_id"], "kubernetes-secret");
    assert_eq!(old_secret["lines"], serde_json::json!([]));
    assert_eq!(old_secret["commits"].as_array().unwrap().len(), 1);
    assert_eq!(h["header"]["scope"]["history"], true);

    // --verify with the key of R1: every intact file it can open verifies; the MAC-less one
    // fails; orphan (R2 only) has no key here.
    let out = g
        .audit()
        .env("SOPS_AGE_KEY_FILE", test_key())
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["--format", "json", "--verify"])
        .run();
    assert_code(&out, 0);
    let v = json(&out);
    let status = |p: &str| file(&v, p)["verify"]["status"].as_str().unwrap().to_owned();
    for p in [
        "apps/drifted.yaml",
        "apps/extra.yaml",
        "apps/fresh.yaml",
        "apps/old.yaml",
        "apps/rotated.yaml",
        "apps/untracked.yaml",
        "mixed/billing.yaml",
    ] {
        assert_eq!(status(p), "ok", "{p}");
    }
    assert_eq!(status("apps/nomac.yaml"), "failed");
    assert_eq!(status("stray/orphan.yaml"), "no-key");
    assert_eq!(
        status("prod/db.yaml"),
        "no-key",
        "one share of 2 is not enough"
    );
    assert_eq!(file(&v, "apps/broken.yaml")["verify"], Value::Null);
    assert_eq!(v["summary"]["verified"]["ok"], 7);
    assert_eq!(v["summary"]["verified"]["failed"], 1);
    assert_eq!(v["summary"]["verified"]["no_key"], 2);

    // CI gates: each category trips exit 1, with the report still written.
    for cat in ["drift", "stale", "plaintext", "integrity"] {
        let out = g.audit().args(["--fail-on", cat]).run();
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains(&format!("failing on {cat}")),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).contains("Inventory"));
    }
    // A clean part of the repository passes every gate; its git prefix is handled.
    let out = g
        .audit()
        .args(["prod", "--fail-on", "all", "--format", "json"])
        .run();
    assert_code(&out, 0);
    let p = json(&out);
    assert_eq!(p["files"][0]["path"], "db.yaml");
    assert_eq!(p["files"][0]["git"]["last_commit"]["author"], "Dev Person");
    assert_eq!(p["files"][0]["rule"], 0);
    // --max-key-age overrides the config: the prod file was committed today, so 1 day passes…
    let out = g
        .audit()
        .args(["prod", "--fail-on", "stale", "--max-key-age", "1d"])
        .run();
    assert_code(&out, 0);
    // …and an impossible policy syntax is a usage error.
    let out = g.audit().args(["--max-key-age", "3 months"]).run();
    assert_code(&out, 2);

    // Markdown and text name the same things.
    let out = g.audit().args(["--format", "markdown"]).run();
    assert_code(&out, 0);
    let md = stdout(&out);
    assert!(md.contains("## Access matrix"));
    assert!(md.contains("| `apps/old.yaml` |"));
    assert!(md.contains("◐ 1/2"));
    assert!(md.contains("alice"));
    assert!(!md.contains(&g.secret_value));
    let out = g.audit().run();
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("policy drift 4 · stale data keys 1 · revoked recipients 0 · plaintext secrets 1 · integrity problems 2"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("  prod/db.yaml ")
            && l.contains("2 of 3")
            && l.contains("alice + bob")),
        "{text}"
    );
}

/// The real sops-written fixtures, read where they are: every file's metadata without keys,
/// and their MACs with the published test keys.
#[test]
fn sops_fixture_files_inventory_and_verification() {
    let fixtures = sops_fixtures();
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("audit")
        .arg(&fixtures)
        .args(["--format", "json", "--max-key-age", "90d"])
        .run();
    assert_code(&out, 0);
    let r = json(&out);
    let inv: Vec<InventoryRow> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["format"].as_str().unwrap().to_owned(),
                f["version"].as_str().map(str::to_owned),
                groups(f)
                    .into_iter()
                    .map(|g| {
                        g.into_iter()
                            .map(|k| k.split(':').next().unwrap().to_owned())
                            .collect()
                    })
                    .collect(),
            )
        })
        .collect();
    let row = |p: &str, fmt: &str, v: Option<&str>, types: &[&str]| {
        (
            p.to_owned(),
            fmt.to_owned(),
            v.map(str::to_owned),
            vec![types.iter().map(|t| t.to_string()).collect::<Vec<_>>()],
        )
    };
    assert_eq!(
        inv,
        vec![
            row("flux/age.yaml", "yaml", Some("3.9.0"), &["age"]),
            row("flux/env.env", "dotenv", Some("3.9.0"), &["age"]),
            row("flux/file.txt", "binary", Some("3.9.0"), &["age"]),
            row("flux/global-secret.yaml", "yaml", Some("3.10.2"), &["age"]),
            row("flux/merge1.yaml", "yaml", Some("3.9.0"), &["age"]),
            row("negative/no-mac.pgp.yaml", "yaml", Some("3.3.1"), &["pgp"]),
            row(
                "negative/tampered-value.yaml",
                "yaml",
                Some("3.7.3"),
                &["age"]
            ),
            row("rops/age_empty_value.yaml", "yaml", None, &["age"]),
            row("rops/age_encrypted_regex.yaml", "yaml", None, &["age"]),
            row("rops/age_encrypted_suffix.yaml", "yaml", None, &["age"]),
            row("rops/age_example.yaml", "yaml", None, &["age"]),
            row("rops/age_mac_only_encrypted.yaml", "yaml", None, &["age"]),
            row("rops/age_unencrypted_regex.yaml", "yaml", None, &["age"]),
            row("rops/age_unencrypted_suffix.yaml", "yaml", None, &["age"]),
            row("rops/aws_kms_example.yaml", "yaml", None, &["kms"]),
            row(
                "sops-pgp/comments.enc.yaml",
                "yaml",
                Some("3.6.1"),
                &["pgp"]
            ),
            row(
                "sops-pgp/example.yaml",
                "yaml",
                Some("3.10.2"),
                &["pgp", "pgp"]
            ),
        ]
    );
    let kms = &file(&r, "rops/aws_kms_example.yaml")["key_groups"][0][0];
    assert!(
        kms["recipient"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:")
    );
    assert_eq!(
        file(&r, "flux/age.yaml")["encryption"]["option"],
        "encrypted_regex"
    );
    assert_eq!(
        file(&r, "flux/age.yaml")["encryption"]["value"],
        "^(data|stringData)$"
    );
    // Nothing covers them (no .sops.yaml), all are older than 90 days by lastmodified.
    assert_eq!(r["drift"].as_array().unwrap().len(), 17);
    assert!(
        r["drift"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] == "uncovered")
    );
    assert_eq!(r["stale"].as_array().unwrap().len(), 17);
    assert!(
        r["stale"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["source"] == "lastmodified" && s["policy"] == "--max-key-age")
    );
    assert_eq!(r["header"]["repository"], Value::Null);
    // Keyless integrity: the MAC-less file, and the rops re-layouts that lost `version`.
    let integ: Vec<(String, String)> = r["integrity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["check"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want = vec![(
        "negative/no-mac.pgp.yaml".to_owned(),
        "mac-missing".to_owned(),
    )];
    for f in [
        "age_empty_value",
        "age_encrypted_regex",
        "age_encrypted_suffix",
        "age_example",
        "age_mac_only_encrypted",
        "age_unencrypted_regex",
        "age_unencrypted_suffix",
        "aws_kms_example",
    ] {
        want.push((format!("rops/{f}.yaml"), "metadata-incomplete".to_owned()));
    }
    assert_eq!(integ, want);
    // The published private keys are plaintext secrets.
    let plain: Vec<(String, String)> = r["plaintext"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["rule_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        plain,
        [
            ("keys/flux-age-global.txt", "age-secret-key"),
            ("keys/flux-age.txt", "age-secret-key"),
            ("keys/op-age.txt", "age-secret-key"),
            ("keys/rops-age.txt", "age-secret-key"),
            ("keys/sops-functional-tests-pgp.asc", "pgp-private-key"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // --verify with every published age key.
    let keys: String = [
        "flux-age.txt",
        "flux-age-global.txt",
        "op-age.txt",
        "rops-age.txt",
    ]
    .iter()
    .map(|k| std::fs::read_to_string(fixtures.join("keys").join(k)).unwrap())
    .collect::<Vec<_>>()
    .join("\n");
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &keys)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .arg("audit")
        .arg(&fixtures)
        .args(["--format", "json", "--verify", "--fail-on", "integrity"])
        .run();
    assert_code(&out, 1);
    let v = json(&out);
    let mut by_status: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in v["files"].as_array().unwrap() {
        by_status
            .entry(f["verify"]["status"].as_str().unwrap().to_owned())
            .or_default()
            .push(f["path"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        by_status["failed"],
        ["negative/no-mac.pgp.yaml", "negative/tampered-value.yaml"]
    );
    assert_eq!(
        by_status["no-key"],
        [
            "rops/aws_kms_example.yaml",
            "sops-pgp/comments.enc.yaml",
            "sops-pgp/example.yaml"
        ]
    );
    assert_eq!(by_status["ok"].len(), 12);
    let tampered = v["integrity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "negative/tampered-value.yaml")
        .unwrap();
    assert_eq!(tampered["check"], "verify-failed");
    assert!(
        tampered["detail"]
            .as_str()
            .unwrap()
            .contains("could not be decrypted")
    );
}

/// A small repository for the HTML report: Shamir groups, names, drift and a stale file.
fn html_repo() -> Sandbox {
    let sb = Sandbox::new();
    let (_, r3) = shroud::keysource::age::generate();
    let (r1, r2) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^vault/\n    shamir_threshold: 2\n    key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n      - age: [{r3}]\n  - path_regex: ^apps/\n    age: {r1},{r2}\naudit:\n  names: names.yaml\n"
        ),
    );
    sb.write(
        "names.yaml",
        &format!("{r1}: alice\n{r2}: bob\n{r3}: carol\n"),
    );
    for i in 0..4 {
        sb.write(&format!("apps/app{i}.yaml"), "token: abc\n");
        assert_code(
            &sb.cmd()
                .args(["encrypt", "-i", &format!("apps/app{i}.yaml")])
                .run(),
            0,
        );
    }
    sb.write("vault/root.yaml", "root: x\n");
    assert_code(
        &sb.cmd().args(["encrypt", "-i", "vault/root.yaml"]).run(),
        0,
    );
    sb.write("apps/solo.yaml", "k: v\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "--age", r1, "-i", "apps/solo.yaml"])
            .run(),
        0,
    );
    sb
}

/// Headless Chromium (Debian's `chromium`; `$SHROUD_CHROMIUM` overrides). Missing Chromium
/// fails the test: scripts/setup-audit.sh installs it.
fn chromium() -> PathBuf {
    let bin = std::env::var_os("SHROUD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chromium"));
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "headless Chromium is required for the HTML report test (apt-get install chromium; scripts/setup-audit.sh does this)"
    );
    bin
}

/// Screenshots `html` (a file) at 1400×2400 and returns the RGB pixels.
fn screenshot(html: &Path, work: &Path, name: &str) -> (u32, u32, Vec<[u8; 3]>) {
    let png_path = work.join(format!("{name}.png"));
    let profile = work.join(format!("{name}-profile"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1400,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(format!("file://{}", html.display()))
        .env("HOME", work)
        .output()
        .expect("chromium runs");
    assert!(
        png_path.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

fn count(px: &[[u8; 3]], rgb: [u8; 3]) -> usize {
    px.iter().filter(|p| **p == rgb).count()
}

#[test]
fn html_report_is_self_contained_and_renders_its_tables() {
    let sb = html_repo();
    let out = sb
        .cmd()
        .args(["audit", "--format", "html", "-o", "report.html"])
        .run();
    assert_code(&out, 0);
    let html = sb.read("report.html");
    // One file, nothing fetched: no URL, no external reference, a CSP that forbids fetching.
    for banned in [
        "http://", "https://", "<script", "<link", "src=", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "the report contains {banned:?}");
    }
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("<table>"));
    assert!(html.contains("Access by recipient"));
    assert!(html.contains("alice") && html.contains("carol"));

    let work = sb.path("shots");
    std::fs::create_dir_all(&work).unwrap();
    let (w, h, px) = screenshot(&sb.path("report.html"), &work, "report");
    assert_eq!((w, h), (1400, 2400));
    let white = count(&px, [255, 255, 255]);
    let ink = px.len() - white;
    // Table header cells (#e9edf3), "opens alone" matrix cells (#e3f5ee), "share" cells
    // (#fff3d6) and the red finding card (#fde8e6) are solid fills: each must be on screen.
    let header = count(&px, [0xe9, 0xed, 0xf3]);
    let alone = count(&px, [0xe3, 0xf5, 0xee]);
    let share = count(&px, [0xff, 0xf3, 0xd6]);
    let bad = count(&px, [0xfd, 0xe8, 0xe6]);
    assert!(
        ink > px.len() / 20,
        "mostly blank: {ink} of {} pixels drawn",
        px.len()
    );
    assert!(header > 20_000, "table headers not rendered ({header} px)");
    assert!(
        alone > 5_000,
        "access-matrix cells not rendered ({alone} px)"
    );
    assert!(
        share > 2_000,
        "Shamir share cells not rendered ({share} px)"
    );
    assert!(bad > 2_000, "finding cards not rendered ({bad} px)");

    // The same measure on a blank page finds nothing: the checks can fail.
    sb.write("blank.html", "<!DOCTYPE html><html><body></body></html>");
    let (_, _, blank) = screenshot(&sb.path("blank.html"), &work, "blank");
    assert_eq!(count(&blank, [0xe9, 0xed, 0xf3]), 0);
    assert!(blank.len() - count(&blank, [255, 255, 255]) < blank.len() / 100);
}

/// `@<unix> +0000`: `days` days ago, as git's date variables take it.
fn days_ago(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    format!("@{} +0000", now - days * 86_400)
}

/// Runs git in `dir` and returns its trimmed stdout.
fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

fn kinds(f: &Value) -> Vec<String> {
    f["git"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

const ROTATOR: (&str, &str) = ("Rotating Robin", "robin@example.com");

/// The acceptance test of the key history: a file re-keyed 200 days ago and re-wrapped today
/// is stale with age 200 (not 0); edits and re-wraps (shroud's and the real sops's) never make a
/// key younger; each recipient change is listed with the commit and author that made it; a
/// shallow clone does not pretend its first commit made the keys; the header names the
/// repository, its remote without credentials, the branch, HEAD, the scope and the policy.
#[test]
fn history_tells_rekeys_from_rewraps_and_edits() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (r1, r2) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    let rule =
        |keys: &str| format!("creation_rules:\n  - age: {keys}\naudit:\n  max_key_age: 90d\n");
    sb.write("repo/.sops.yaml", &rule(r1));
    git(&repo, None, ADMIN, &["init", "-q"]);
    git(
        &repo,
        None,
        ADMIN,
        &[
            "remote",
            "add",
            "origin",
            "https://deploy:tok3n-s3cr3t@git.example.com/org/infra.git?x=tok3n-s3cr3t",
        ],
    );
    for f in ["a", "b", "c", "d", "e"] {
        sb.write(&format!("repo/{f}.yaml"), "k: v\nn: 1\n");
        enc(&sb, "repo", &["encrypt", "-i", &format!("{f}.yaml")]);
    }
    let d300 = days_ago(300);
    git(&repo, Some(&d300), ADMIN, &["add", "-A"]);
    git(&repo, Some(&d300), ADMIN, &["commit", "-qm", "secrets"]);
    let c1 = git_out(&repo, &["rev-parse", "HEAD"]);

    // 200 days ago: a.yaml gets a new data key.
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["rotate", "-i", "a.yaml"])
            .run(),
        0,
    );
    let d200 = days_ago(200);
    git(&repo, Some(&d200), ROTATOR, &["commit", "-qam", "rotate a"]);
    let c2 = git_out(&repo, &["rev-parse", "HEAD"]);

    // Today: R2 joins the rule; a.yaml is re-wrapped by shroud, d.yaml by the real sops (which
    // wraps every envelope again); b.yaml is edited; c.yaml is rotated.
    sb.write("repo/.sops.yaml", &rule(&format!("{r1},{r2}")));
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["updatekeys", "-y", "a.yaml"])
            .run(),
        0,
    );
    let sops = sops_cmd(&sb)
        .current_dir(&repo)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["updatekeys", "-y", "d.yaml"])
        .output()
        .unwrap();
    assert_code(&sops, 0);
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["set", "b.yaml", r#"["k"]"#, r#""w""#])
            .run(),
        0,
    );
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["rotate", "-i", "c.yaml"])
            .run(),
        0,
    );
    git(&repo, None, DEV, &["commit", "-qam", "bob joins; edits"]);
    let c3 = git_out(&repo, &["rev-parse", "HEAD"]);
    // The real sops's edit re-encrypts every value under the same data key: still an edit.
    let sops = sops_cmd(&sb)
        .current_dir(&repo)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["set", "d.yaml", r#"["k"]"#, r#""x""#])
        .output()
        .unwrap();
    assert_code(&sops, 0);
    git(&repo, None, DEV, &["commit", "-qam", "sops edit"]);
    // Uncommitted: e.yaml re-keyed in the working copy.
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["rotate", "-i", "e.yaml"])
            .run(),
        0,
    );

    let out = shroud_in(&repo)
        .args(["audit", "--format", "json", "--fail-on", "stale"])
        .run();
    assert_code(&out, 1);
    let r = json(&out);
    assert!(!stdout(&out).contains("tok3n"), "the remote's token leaked");
    let h = &r["header"];
    assert_eq!(
        h["repository"].as_str().unwrap(),
        std::fs::canonicalize(&repo).unwrap().to_str().unwrap()
    );
    assert_eq!(h["remote"], "https://git.example.com/org/infra.git");
    assert_eq!(h["branch"], "main");
    assert_eq!(h["head"], git_out(&repo, &["rev-parse", "HEAD"]));
    assert_eq!(h["path"], "");
    assert_eq!(h["scope"]["key_history"], true);
    assert_eq!(h["scope"]["history"], false);
    assert_eq!(
        h["policy"]["max_key_age"],
        serde_json::json!([{"config": ".sops.yaml", "days": 90}])
    );
    assert_eq!(h["policy"]["fail_on"], serde_json::json!(["stale"]));

    let a = file(&r, "a.yaml");
    assert_eq!(kinds(a), ["created", "re-key", "re-wrap"]);
    assert_eq!(a["rotation"]["source"], "git");
    assert_eq!(a["rotation"]["age_days"], 200, "{}", a["rotation"]);
    assert_eq!(a["rotation"]["stale"], true);
    assert_eq!(a["git"]["last_rekey"]["id"], c2.as_str());
    assert_eq!(a["git"]["last_rekey"]["author"], ROTATOR.0);
    assert_eq!(a["git"]["last_rewrap"]["id"], c3.as_str());
    let b = file(&r, "b.yaml");
    assert_eq!(kinds(b), ["created", "edit"]);
    assert_eq!(b["rotation"]["age_days"], 300);
    assert_eq!(b["git"]["last_rekey"]["id"], c1.as_str());
    let c = file(&r, "c.yaml");
    assert_eq!(kinds(c), ["created", "re-key"]);
    assert_eq!(c["rotation"]["age_days"], 0);
    assert_eq!(c["rotation"]["stale"], false);
    let d = file(&r, "d.yaml");
    assert_eq!(kinds(d), ["created", "re-wrap", "edit"]);
    assert_eq!(d["rotation"]["age_days"], 300);
    let e = file(&r, "e.yaml");
    assert_eq!(kinds(e), ["created", "re-key"]);
    assert_eq!(e["git"]["events"][1]["commit"], Value::Null);
    assert_eq!(e["rotation"]["source"], "lastmodified");
    assert_eq!(e["rotation"]["stale"], false);
    let stale: Vec<&str> = r["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(stale, ["a.yaml", "b.yaml", "d.yaml"]);

    // Access history: who was added, when, by which commit and author.
    let changes: Vec<(String, String, String, String, String)> = r["access_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_owned(),
                x["change"].as_str().unwrap().to_owned(),
                x["recipient"].as_str().unwrap().to_owned(),
                x["commit"]["id"].as_str().unwrap_or("-").to_owned(),
                x["commit"]["author"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let row = |p: &str, ch: &str, r: &str, c: &str, who: &str| {
        (
            p.to_owned(),
            ch.to_owned(),
            r.to_owned(),
            c.to_owned(),
            who.to_owned(),
        )
    };
    let mut want = Vec::new();
    for f in ["a.yaml", "b.yaml", "c.yaml", "d.yaml", "e.yaml"] {
        want.push(row(f, "added", r1, &c1, ADMIN.0));
    }
    want.push(row("a.yaml", "added", r2, &c3, DEV.0));
    want.push(row("d.yaml", "added", r2, &c3, DEV.0));
    assert_eq!(changes, want);
    assert_eq!(r["summary"]["access_changes"], 7);

    // A shallow clone holds only the newest commit: nothing there made the keys.
    let clone = sb.path("clone");
    let url = format!("file://{}", repo.display());
    git(
        sb.dir.path(),
        None,
        ADMIN,
        &["clone", "-q", "--depth", "1", &url, clone.to_str().unwrap()],
    );
    let out = shroud_in(&clone).args(["audit", "--format", "json"]).run();
    assert_code(&out, 0);
    let s = json(&out);
    let a = file(&s, "a.yaml");
    assert_eq!(kinds(a), ["first-seen"]);
    assert_eq!(a["git"]["last_rekey"], Value::Null);
    assert_eq!(a["rotation"]["source"], "lastmodified");
    assert!(
        s["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("shallow clone")),
        "{}",
        s["notes"]
    );

    // Under a key-age policy a gate must not pass on a lower bound: the full repository's keys
    // are days old (fresh under ten years), the shallow clone cannot show it (stale, exit 1).
    let gate = [
        "audit",
        "--format",
        "json",
        "--max-key-age",
        "3650d",
        "--fail-on",
        "stale",
    ];
    let full = shroud_in(&repo).args(gate).run();
    assert_code(&full, 0);
    assert_eq!(file(&json(&full), "a.yaml")["rotation"]["stale"], false);
    let shallow = shroud_in(&clone).args(gate).run();
    assert_code(&shallow, 1);
    let s = json(&shallow);
    assert_eq!(file(&s, "a.yaml")["rotation"]["stale"], true);
    assert!(
        s["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("git fetch --unshallow")),
        "{}",
        s["notes"]
    );
}

/// Splices the `age:` envelopes of `old` (a sops YAML file written by shroud) into `current`:
/// what an attacker holding a removed key does with `git show OLD:file`.
fn splice_envelopes(current: &str, old: &str) -> String {
    let block = |s: &str| -> (usize, usize) {
        let start = s.find("\n    age:\n").expect("an age block") + 1;
        let end = start
            + s[start..]
                .find("\n    lastmodified:")
                .expect("lastmodified")
            + 1;
        (start, end)
    };
    let (cs, ce) = block(current);
    let (os, oe) = block(old);
    format!("{}{}{}", &current[..cs], &old[os..oe], &current[ce..])
}

fn revoked_rows(r: &Value) -> Vec<(String, String, Vec<String>, String)> {
    r["revoked"]
        .as_array()
        .unwrap_or_else(|| panic!("no revoked findings array: {r}"))
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_owned(),
                x["via"].as_str().unwrap().to_owned(),
                strs(&x["commits"]),
                x["fix"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Bob's key is marked revoked in the names file. The audit finds every way it can still read:
/// a file that lists it, a file whose earlier version holds an envelope wrapping today's data
/// key (proved here by reading a value written after his removal with his key), and a rule that
/// still lists it; a file re-keyed since he left is only a note. No suggested fix re-adds him,
/// and running the suggested fixes leaves no finding and no way in.
#[test]
fn revoked_recipients_are_found_and_their_fixes_lock_them_out() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (alice, bob) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    sb.write(
        "repo/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^legacy/\n    age: {alice},{bob}\n  - path_regex: ^apps/\n    age: {alice}\naudit:\n  names: names.yaml\n"
        ),
    );
    sb.write(
        "repo/names.yaml",
        &format!("{alice}: alice\n{bob}:\n  name: bob\n  kind: person\n  revoked: 2026-11-02\n"),
    );
    git(&repo, None, ADMIN, &["init", "-q"]);
    for f in ["f1", "f2", "f3"] {
        sb.write(&format!("repo/apps/{f}.yaml"), "token: one\n");
        let both = format!("{alice},{bob}");
        enc(
            &sb,
            "repo",
            &["encrypt", "--age", &both, "-i", &format!("apps/{f}.yaml")],
        );
    }
    sb.write("repo/legacy/g.yaml", "token: one\n");
    enc(&sb, "repo", &["encrypt", "-i", "legacy/g.yaml"]);
    let d30 = days_ago(30);
    git(&repo, Some(&d30), ADMIN, &["add", "-A"]);
    git(&repo, Some(&d30), ADMIN, &["commit", "-qm", "secrets"]);
    let c1 = git_out(&repo, &["rev-parse", "HEAD"]);
    // f2: bob removed, data key kept (as sops's updatekeys does); f3: removed with a new key.
    for (f, extra) in [("f2", Some("--keep-data-key")), ("f3", None)] {
        let mut c = sb.with_key();
        c.current_dir(&repo).args(["updatekeys", "-y"]);
        c.args(extra);
        assert_code(&c.arg(format!("apps/{f}.yaml")).run(), 0);
    }
    git(&repo, None, DEV, &["commit", "-qam", "bob out"]);
    // A value written after his removal, and a plaintext file the legacy rule covers.
    let after = format!("after-{}", random_hex(16));
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args([
                "set",
                "apps/f2.yaml",
                r#"["token"]"#,
                &format!("\"{after}\""),
            ])
            .run(),
        0,
    );
    sb.write("repo/legacy/plain.yaml", "password: x\n");
    git(&repo, None, DEV, &["add", "-A"]);
    git(&repo, None, DEV, &["commit", "-qm", "new token"]);

    // The history finding is real: bob's envelope from c1 opens today's value.
    let old = git_out(&repo, &["show", &format!("{c1}:apps/f2.yaml")]);
    sb.write(
        "attack.yaml",
        &splice_envelopes(&sb.read("repo/apps/f2.yaml"), &format!("{old}\n")),
    );
    let stolen = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["decrypt", "attack.yaml"])
        .run();
    assert_code(&stolen, 0);
    assert!(stdout(&stolen).contains(&after));

    let out = shroud_in(&repo)
        .args(["audit", "--format", "json", "--fail-on", "revoked"])
        .run();
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("failing on revoked (4)"),
        "{}",
        stderr(&out)
    );
    let r = json(&out);
    let revoke = format!("shroud keys revoke {bob}");
    assert_eq!(
        revoked_rows(&r),
        [
            (".sops.yaml".into(), "rule".into(), vec![], revoke.clone()),
            (
                "apps/f1.yaml".into(),
                "current".into(),
                vec![],
                revoke.clone()
            ),
            (
                "apps/f2.yaml".into(),
                "history".into(),
                vec![c1.clone()],
                revoke.clone()
            ),
            (
                "legacy/g.yaml".into(),
                "current".into(),
                vec![],
                revoke.clone()
            ),
        ]
    );
    assert_eq!(r["revoked"][0]["rule"], 0);
    assert_eq!(r["revoked"][1]["name"], "bob");
    assert_eq!(r["revoked"][1]["revoked"], "2026-11-02");
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("revoked 2026-11-02, held envelopes in earlier versions of 1 file(s) whose data key has since been replaced (apps/f3.yaml)")),
        "{}",
        r["notes"]
    );
    let bob_row = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["recipient"] == bob)
        .unwrap();
    assert_eq!(bob_row["revoked"], "2026-11-02");
    // No fix applies a rule that lists bob without revoking him first.
    for d in r["drift"].as_array().unwrap() {
        let fix = d["fix"].as_str().unwrap();
        if d["path"].as_str().unwrap().starts_with("legacy/") {
            assert!(fix.starts_with(&format!("{revoke} && ")), "{d}");
        }
    }
    let plain = r["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "legacy/plain.yaml")
        .unwrap();
    assert_eq!(
        plain["fix"].as_str().unwrap(),
        format!("{revoke} && shroud encrypt -i legacy/plain.yaml")
    );
    // The Markdown and text reports name them too.
    let md = stdout(
        &shroud_in(&repo)
            .args(["audit", "--format", "markdown"])
            .run(),
    );
    assert!(
        md.contains("## Revoked recipients that can still read (4)"),
        "{md}"
    );
    assert!(md.contains("**revoked 2026-11-02**"), "{md}");

    // Run the fixes as suggested: nothing is left, and bob's old envelope opens nothing new.
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["keys", "revoke", "-y", bob])
            .run(),
        0,
    );
    assert_code(
        &sb.with_key()
            .current_dir(&repo)
            .args(["rotate", "-i", "apps/f2.yaml"])
            .run(),
        0,
    );
    git(&repo, None, DEV, &["commit", "-qam", "revoke bob"]);
    let out = shroud_in(&repo)
        .args(["audit", "--format", "json", "--fail-on", "revoked"])
        .run();
    assert_code(&out, 0);
    let r = json(&out);
    assert_eq!(revoked_rows(&r), []);
    sb.write(
        "attack.yaml",
        &splice_envelopes(&sb.read("repo/apps/f2.yaml"), &format!("{old}\n")),
    );
    let stolen = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["decrypt", "attack.yaml"])
        .run();
    assert_ne!(stolen.status.code(), Some(0));
    assert!(!stdout(&stolen).contains(&after));
}

/// Characters that must never reach a terminal or a text report raw.
const RAW_CONTROLS: [char; 5] = ['\u{1}', '\u{1b}', '\u{7}', '\u{202e}', '\u{2066}'];

/// Hostile git metadata (control bytes and bidi overrides in an author's name and e-mail, in a
/// file name and in a names-file entry) never stops an audit, is escaped in every text format
/// and kept as found in JSON; an audit whose history cannot be read exits 2, never 1.
#[test]
fn hostile_git_metadata_is_escaped_and_a_broken_history_is_not_findings() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    sb.write(
        "repo/.sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\naudit:\n  names: names.yaml\n"),
    );
    let evil_name = "Ev\u{1}il\u{1b}]0;pwned\u{7} \u{202e}nimda\u{2066}";
    sb.write(
        "repo/names.yaml",
        &format!("{TEST_RECIPIENT}: \"alice \\u202E|`*<b>\"\n"),
    );
    let odd = "odd \u{202e}lmth.|`*<b>\u{1b}[31m.yaml";
    sb.write(&format!("repo/{odd}"), "k: v\n");
    enc(&sb, "repo", &["encrypt", "-i", odd]);
    git(&repo, None, ADMIN, &["init", "-q"]);
    git(&repo, None, (evil_name, "e\u{1b}[2J@x"), &["add", "-A"]);
    git(
        &repo,
        None,
        (evil_name, "e\u{1b}[2J@x"),
        &["commit", "-qm", "evil"],
    );

    let out = shroud_in(&repo).args(["audit", "--format", "json"]).run();
    assert_code(&out, 0);
    let r = json(&out);
    let f = file(&r, odd);
    assert_eq!(f["git"]["last_commit"]["author"], evil_name);
    assert_eq!(r["access_history"][0]["commit"]["author"], evil_name);
    for format in ["text", "markdown", "html"] {
        let out = shroud_in(&repo).args(["audit", "--format", format]).run();
        assert_code(&out, 0);
        let text = stdout(&out);
        for c in RAW_CONTROLS {
            assert!(
                !text.contains(c),
                "{format} output holds U+{:04X} raw",
                c as u32
            );
        }
        assert!(
            text.contains("\\u{202e}"),
            "{format}: bidi override not shown"
        );
        assert!(text.contains("pwned"), "{format}: the author is not shown");
        if format == "html" {
            assert!(!text.contains("*<b>"), "html: markup passed through");
            assert!(text.contains("&lt;b&gt;"));
        }
    }

    // A history git cannot read (a tree object is missing) is a failed audit, not findings.
    let tree = git_out(&repo, &["rev-parse", "HEAD^{tree}"]);
    let obj = repo.join(".git/objects").join(&tree[..2]).join(&tree[2..]);
    std::fs::remove_file(&obj).unwrap();
    let out = shroud_in(&repo)
        .args(["audit", "--fail-on", "all", "-o", "report.txt"])
        .run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("could not"), "{}", stderr(&out));
    assert!(
        !repo.join("report.txt").exists(),
        "a report of a failed audit was written"
    );
}

/// Issue 29's gaps: a creation rule an earlier, broader rule shadows is reported (decided on the
/// patterns, not their text), recipients the names file does not name are marked unnamed with a
/// note; and every format's digest is what docs/audit.md says, recomputed by the shell commands
/// it gives.
#[test]
fn shadowed_rules_unnamed_recipients_and_the_report_digest() {
    let sb = Sandbox::new();
    let (r1, r2) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {r1}\n  - path_regex: ^secrets/(prod|dev)/.*\\.yaml$\n    age: {r2}\n  - path_regex: \\.ya?ml$\n    age: {r1}\n  - path_regex: ^other/.*\\.yml$\n    age: {r1}\n  - path_regex: ^other/.*\\.json$\n    age: {r1}\n  - age: {r1}\n  - path_regex: ^late/\n    age: {r2}\naudit:\n  names: names.yaml\n"
        ),
    );
    sb.write("names.yaml", &format!("{r1}: alice\n"));
    sb.write("secrets/a.yaml", "k: v\n");
    enc(&sb, "", &["encrypt", "-i", "secrets/a.yaml"]);
    sb.write("other/b.yaml", "k: v\n");
    enc(
        &sb,
        "",
        &[
            "encrypt",
            "--age",
            &format!("{r1},{r2}"),
            "-i",
            "other/b.yaml",
        ],
    );
    let out = sb.cmd().args(["audit", "--format", "json"]).run();
    assert_code(&out, 0);
    let r = json(&out);
    let shadowed: Vec<(u64, u64)> = r["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "shadowed")
        .map(|d| {
            assert_eq!(d["path"], ".sops.yaml");
            (d["rule"].as_u64().unwrap(), d["by"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(shadowed, [(1, 0), (3, 2), (6, 5)]);
    let unnamed: Vec<(&str, bool)> = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["recipient"].as_str().unwrap(),
                x["unnamed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(unnamed, [(r1, false), (r2, true)]);
    assert!(
        r["notes"].as_array().unwrap().iter().any(|n| n
            == "names.yaml does not name 1 recipient(s): they are shown by key and marked unnamed"),
        "{}",
        r["notes"]
    );
    let text = stdout(&sb.cmd().arg("audit").run());
    assert!(text.contains("[unnamed]"), "{text}");
    assert!(text.contains("[shadowed]"), "{text}");

    // The digest of each format, recomputed as docs/audit.md says.
    let doc = std::fs::read_to_string(root().join("docs/audit.md")).unwrap();
    for (format, file, cmd) in [
        ("json", "audit.json", "head -n -2 audit.json | sha256sum"),
        ("html", "audit.html", "head -n -2 audit.html | sha256sum"),
        ("markdown", "audit.md", "head -n -1 audit.md | sha256sum"),
        ("text", "audit.txt", "head -n -1 audit.txt | sha256sum"),
    ] {
        if format != "text" {
            assert!(doc.contains(cmd), "docs/audit.md does not give `{cmd}`");
        }
        assert_code(
            &sb.cmd()
                .args(["audit", "--format", format, "-o", file])
                .run(),
            0,
        );
        let out = Command::new("sh")
            .current_dir(sb.dir.path())
            .args(["-c", cmd])
            .output()
            .unwrap();
        let digest = stdout(&out).split_whitespace().next().unwrap().to_owned();
        assert_eq!(digest.len(), 64);
        let report = sb.read(file);
        let tail: Vec<&str> = report.lines().rev().take(2).collect();
        assert!(
            tail.iter().any(|l| l.contains(&digest)),
            "{format}: {digest} not in {tail:?}"
        );
        if format == "json" {
            assert_eq!(json_value(&report)["sha256"], digest.as_str());
        }
        // One changed byte above the digest line no longer matches it.
        let tampered = report.replacen("secrets/a.yaml", "secrets/A.yaml", 1);
        sb.write(file, &tampered);
        let again = Command::new("sh")
            .current_dir(sb.dir.path())
            .args(["-c", cmd])
            .output()
            .unwrap();
        assert_ne!(
            stdout(&again).split_whitespace().next(),
            Some(digest.as_str())
        );
    }
}

fn json_value(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The body of the first fenced block after `marker` in `doc`.
fn block_after(doc: &str, marker: &str) -> String {
    let at = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in docs/audit.md"));
    let rest = &doc[at..];
    let open = rest.find("```").unwrap();
    let body_start = open + rest[open..].find('\n').unwrap() + 1;
    let body_end = body_start + rest[body_start..].find("\n```").unwrap() + 1;
    rest[body_start..body_end].to_owned()
}

/// A shell in `dir` with the shroud under test first on `PATH`, `HOME` = `dir`.
fn shell(dir: &Path, script: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_shroud")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.current_dir(dir)
        .args(["-e", "-c", script])
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c
}

/// An audit's text with what differs in every run (keys, commit ids, digests, times, the
/// directory) replaced, and its lines sorted (rows sorted by key order vary with the keys).
fn normalize(text: &str) -> Vec<String> {
    let subs = [
        (r"age1[0-9a-z]{58}", "<age>"),
        (r"age1[0-9a-z]{8}…[0-9a-z]{8}", "<age…>"),
        (r"\b[0-9a-f]{12,64}\b", "<hex>"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "<time>"),
        (r"\d{4}-\d{2}-\d{2}", "<date>"),
        (r"shroud \d+\.\d+\.\d+\S*", "shroud <version>"),
        (r"/\S*/audit-demo", "<dir>/audit-demo"),
    ];
    let mut t = text.to_owned();
    for (re, by) in subs {
        t = regex::Regex::new(re)
            .unwrap()
            .replace_all(&t, by)
            .into_owned();
    }
    let mut lines: Vec<String> = t.lines().map(|l| l.trim_end().to_owned()).collect();
    lines.sort();
    lines
}

/// docs/audit.md's worked example is the output of its own setup block, run as written
/// (`SHROUD_UPDATE_DOCS=1` writes a fresh run into the document).
#[test]
fn worked_example_in_the_docs_is_a_real_audit() {
    let doc_path = root().join("docs/audit.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let setup = doc_blocks("docs/audit.md", "Worked example");
    assert_eq!(setup.len(), 1, "{setup:?}");
    let setup = &setup[0];
    let shown = block_after(&doc, "<!-- worked-example:output -->");
    let base = std::env::temp_dir().join("shroud-audit-worked-example");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let out = shell(&base, setup).output().unwrap();
    assert_code(&out, 0);
    let got = stdout(&out);
    if std::env::var_os("SHROUD_UPDATE_DOCS").is_some() {
        let start = doc.find("<!-- worked-example:output -->").unwrap();
        let end = doc.find("<!-- worked-example:end -->").unwrap();
        let fresh = format!(
            "{}<!-- worked-example:output -->\n```text\n{got}```\n{}",
            &doc[..start],
            &doc[end..]
        );
        std::fs::write(&doc_path, fresh).unwrap();
    } else {
        assert_eq!(
            normalize(&got),
            normalize(&shown),
            "docs/audit.md's worked example is not what its setup produces today (SHROUD_UPDATE_DOCS=1 rewrites it)"
        );
    }
    // What the prose after it says.
    let inventory = |file: &str| {
        got.lines()
            .find(|l| l.trim_start().starts_with(file) && l.contains(" 1 of 1 "))
            .unwrap_or_else(|| panic!("{file} not in the inventory of\n{got}"))
            .to_owned()
    };
    assert!(
        inventory("apps/db.yaml").contains("(200 d, git) [stale]"),
        "{got}"
    );
    assert!(
        inventory("apps/api.yaml").contains("(300 d, git) [stale]"),
        "{got}"
    );
    for f in ["apps/api.yaml", "apps/db.yaml"] {
        assert!(
            got.lines().any(|l| l.contains(f)
                && l.contains("[history]")
                && l.contains("shroud keys revoke age1")),
            "{got}"
        );
    }
    assert!(got.contains("[unnamed]") && got.contains("[shadowed]"));
    let _ = std::fs::remove_dir_all(&base);
}

/// The CI job of docs/audit.md, its `shroud` and `tail` steps run as written: on a repository
/// without a key-age policy `--fail-on all` passes and the report is written and summarised;
/// on one with a finding the gate fails (1) and the report is still there for the upload.
#[test]
fn the_ci_job_in_the_docs_runs_as_written() {
    let doc = std::fs::read_to_string(root().join("docs/audit.md")).unwrap();
    let job = block_after(&doc, "### A CI job");
    let steps: Vec<String> = job
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- run: "))
        .map(|cmd| cmd.split(" #").next().unwrap().trim().to_owned())
        .filter(|cmd| !cmd.starts_with("cargo "))
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].contains("--fail-on all"), "{steps:?}");
    for findings in [false, true] {
        let sb = Sandbox::new();
        let repo = sb.path("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sb.write(
            "repo/.sops.yaml",
            &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
        );
        sb.write("repo/app.yaml", "token: x\n");
        enc(&sb, "repo", &["encrypt", "-i", "app.yaml"]);
        if findings {
            sb.write("repo/extra.yaml", "token: x\n");
            let both = format!("{TEST_RECIPIENT},{TEST_RECIPIENT2}");
            enc(
                &sb,
                "repo",
                &["encrypt", "--age", &both, "-i", "extra.yaml"],
            );
        }
        git(&repo, None, ADMIN, &["init", "-q"]);
        git(&repo, None, ADMIN, &["add", "-A"]);
        git(&repo, None, ADMIN, &["commit", "-qm", "secrets"]);
        let summary = sb.path("summary.md");
        let run = |cmd: &str| {
            shell(&repo, cmd)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .output()
                .unwrap()
        };
        let gate = run(&steps[0]);
        assert_code(&gate, if findings { 1 } else { 0 });
        let html = std::fs::read_to_string(repo.join("audit.html")).expect("the report to upload");
        assert!(html.contains("Policy drift (") && html.contains("</html>"));
        assert_eq!(html.contains("extra.yaml"), findings);
        assert_code(&run(&steps[1]), 0);
        let md = std::fs::read_to_string(&summary).unwrap();
        assert!(md.starts_with("# shroud audit of"), "{md}");
        assert!(
            md.contains("max key age none (stale keys are not checked)"),
            "{md}"
        );
        let tail = run(&steps[2]);
        assert_code(&tail, 0);
        assert!(stdout(&tail).contains("SHA-256 of every line above"));
    }
}

/// A git that stops answering while the audit reads old versions of a file (`git cat-file
/// --batch`) fails the audit (exit 2, naming SHROUD_GIT_TIMEOUT, no report written) within the
/// timeout instead of hanging a CI job.
#[test]
fn a_stalled_git_fails_the_audit_instead_of_hanging() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    sb.write(
        "repo/.sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
    );
    sb.write("repo/s.yaml", "k: v\n");
    enc(&sb, "repo", &["encrypt", "-i", "s.yaml"]);
    // SHA-256: old versions are read through `git cat-file --batch` there (SHA-1 repositories
    // are read in process), the stream this test stalls.
    git(
        &repo,
        None,
        ADMIN,
        &["init", "-q", "--object-format=sha256"],
    );
    git(&repo, None, ADMIN, &["add", "-A"]);
    git(&repo, None, ADMIN, &["commit", "-qm", "one"]);
    sb.write("repo/s.yaml", "k: w\n");
    enc(&sb, "repo", &["encrypt", "-i", "s.yaml"]);
    git(&repo, None, DEV, &["commit", "-qam", "two"]);
    let real = git_out(&repo, &["--exec-path"]);
    let tools = sb.path("tools");
    std::fs::create_dir_all(&tools).unwrap();
    sb.write(
        "tools/git",
        &format!(
            "#!/bin/sh\ncase \"$*\" in\n  *'cat-file --batch') sleep 300; exit 0 ;;\nesac\nexec '{}/git' \"$@\"\n",
            real.trim()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path("tools/git"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let start = std::time::Instant::now();
    let out = shroud_in(&repo)
        .env("PATH", &path)
        .env("SHROUD_GIT_TIMEOUT", "1")
        .args(["audit", "-o", "report.txt"])
        .run();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("SHROUD_GIT_TIMEOUT"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.join("report.txt").exists());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
}

/// Red-team finding (audit/attackA): the age envelope recorded for alice is rewritten, with the
/// real `age`, as one age file with two stanzas (alice and eve, the same data key). Eve then
/// opens the file with the real sops although no entry names her. Judged without a key, the
/// audit reports an `envelope-unknown-reader` integrity finding and marks the file as readable
/// by unknown parties; `--verify` with alice's key does not call it ok. Files written by sops
/// and by shroud (whose age envelopes carry grease stanzas) have no such finding.
#[test]
fn an_envelope_wrapped_for_a_second_party_is_an_unknown_reader() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (alice, eve) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    sb.write(
        "repo/.sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {alice}\n"),
    );
    sb.write(
        "repo/names.yaml",
        &format!("{alice}: alice\n{eve}:\n  name: eve\n  revoked: 2026-01-01\n"),
    );
    git(&repo, None, ADMIN, &["init", "-q"]);
    for f in ["a", "b"] {
        sb.write(&format!("repo/secrets/{f}.yaml"), "api: t0k3n-a\n");
    }
    let mut c = sops_cmd(&sb);
    c.current_dir(&repo)
        .env("SOPS_AGE_KEY_FILE", test_key())
        .args(["-e", "-i", "secrets/a.yaml"]);
    assert_code(&c.run(), 0);
    enc(&sb, "repo", &["encrypt", "-i", "secrets/b.yaml"]);
    git(&repo, None, ADMIN, &["add", "-A"]);
    git(&repo, None, ADMIN, &["commit", "-qm", "secrets"]);
    let audit = |verify: bool| {
        let mut c = sb.cmd();
        c.current_dir(&repo)
            .args(["audit", "--names", "names.yaml", "--format", "json"]);
        if verify {
            c.env("SOPS_AGE_KEY_FILE", test_key()).arg("--verify");
        }
        json(&c.run())
    };
    let before = audit(true);
    assert_eq!(before["integrity"], serde_json::json!([]), "{before:#}");
    for f in ["secrets/a.yaml", "secrets/b.yaml"] {
        assert_eq!(file(&before, f)["verify"]["status"], "ok");
    }

    // The attack: alice's envelope re-wrapped for alice and eve with the real age.
    let text = sb.read("repo/secrets/a.yaml");
    let attacked = rewrap_age_envelope(&text, &test_key(), &[alice, eve]);
    std::fs::write(repo.join("secrets/a.yaml"), attacked).unwrap();
    git(&repo, None, DEV, &["commit", "-qam", "tidy"]);
    // Eve, whom no entry names, opens it with the real sops.
    let mut c = sops_cmd(&sb);
    c.current_dir(&repo)
        .env("SOPS_AGE_KEY_FILE", test_key2())
        .args(["-d", "secrets/a.yaml"]);
    let out = c.run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "api: t0k3n-a\n");

    let r = audit(false);
    let found: Vec<(String, String)> = r["integrity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["check"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [(
            "secrets/a.yaml".to_owned(),
            "envelope-unknown-reader".to_owned()
        )],
        "{r:#}"
    );
    assert!(
        r["integrity"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("2 recipient stanzas")
    );
    assert_eq!(file(&r, "secrets/a.yaml")["unknown_readers"], true);
    assert_eq!(file(&r, "secrets/b.yaml")["unknown_readers"], false);
    let v = audit(true);
    assert_eq!(file(&v, "secrets/a.yaml")["verify"]["status"], "failed");
    assert_eq!(file(&v, "secrets/b.yaml")["verify"]["status"], "ok");
    // The text report says it where the recipients are listed.
    let mut c = sb.cmd();
    c.current_dir(&repo)
        .args(["audit", "--names", "names.yaml"]);
    let out = c.run();
    assert!(stdout(&out).contains("unknown readers"), "{}", stdout(&out));
}

/// Red-team finding (audit/attackF2): `cp prod/db.yaml staging/db.yaml` then the real sops's
/// `updatekeys` for the staging rule (which adds a CI key) keeps prod's data key, so the CI key
/// reads prod's values too (shown with the real `age`: its staging envelope holds prod's data
/// key). Judged without a key from the byte-identical ciphertexts, the access matrix says the
/// CI key opens both files (`opens_via_shared_key` names prod), each file lists the other in
/// `shares_data_key_with`, and a note names the pair. A file encrypted on its own, with the same
/// plaintext, shares nothing.
#[test]
fn files_that_share_a_data_key_share_their_readers() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (alice, ci) = (TEST_RECIPIENT, TEST_RECIPIENT2);
    sb.write(
        "repo/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^prod/\n    age: {alice}\n  - path_regex: ^staging/\n    age: {alice},{ci}\n  - path_regex: ^other/\n    age: {alice},{ci}\n"
        ),
    );
    sb.write(
        "repo/names.yaml",
        &format!("{alice}: alice\n{ci}:\n  name: staging-ci\n  kind: cluster\n"),
    );
    git(&repo, None, ADMIN, &["init", "-q"]);
    let sops = |args: &[&str]| {
        let mut c = sops_cmd(&sb);
        c.current_dir(&repo)
            .env("SOPS_AGE_KEY_FILE", test_key())
            .args(args);
        assert_code(&c.run(), 0);
    };
    sb.write("repo/prod/db.yaml", "db_password: prod-only-Zx8qL2\n");
    sb.write("repo/other/db.yaml", "db_password: prod-only-Zx8qL2\n");
    sops(&["-e", "-i", "prod/db.yaml"]);
    sops(&["-e", "-i", "other/db.yaml"]);
    git(&repo, None, ADMIN, &["add", "-A"]);
    git(&repo, None, ADMIN, &["commit", "-qm", "prod secret"]);
    std::fs::create_dir_all(repo.join("staging")).unwrap();
    std::fs::copy(repo.join("prod/db.yaml"), repo.join("staging/db.yaml")).unwrap();
    sops(&["updatekeys", "-y", "staging/db.yaml"]);
    git(&repo, None, DEV, &["add", "-A"]);
    git(
        &repo,
        None,
        DEV,
        &["commit", "-qm", "staging secret, copied from prod"],
    );
    // The CI key's staging envelope holds prod's data key.
    let staging = sb.read("repo/staging/db.yaml");
    let ci_entry = &staging[staging.find(ci).unwrap()..];
    assert_eq!(
        age_data_key(ci_entry, &test_key2()),
        age_data_key(&sb.read("repo/prod/db.yaml"), &test_key())
    );

    let mut c = sb.cmd();
    c.current_dir(&repo)
        .args(["audit", "--names", "names.yaml", "--format", "json"]);
    let r = json(&c.run());
    let who = |recipient: &str| {
        r["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["recipient"] == recipient)
            .unwrap_or_else(|| panic!("{recipient} not in {r:#}"))
            .clone()
    };
    let ci_row = who(ci);
    assert_eq!(
        strs(&ci_row["opens_alone"]),
        ["other/db.yaml", "prod/db.yaml", "staging/db.yaml"],
        "{r:#}"
    );
    assert_eq!(strs(&ci_row["opens_via_shared_key"]), ["prod/db.yaml"]);
    assert_eq!(
        strs(&who(alice)["opens_via_shared_key"]),
        Vec::<String>::new()
    );
    assert_eq!(
        strs(&file(&r, "prod/db.yaml")["shares_data_key_with"]),
        ["staging/db.yaml"]
    );
    assert_eq!(
        strs(&file(&r, "staging/db.yaml")["shares_data_key_with"]),
        ["prod/db.yaml"]
    );
    assert_eq!(
        strs(&file(&r, "other/db.yaml")["shares_data_key_with"]),
        Vec::<String>::new()
    );
    let notes = strs(&r["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("prod/db.yaml, staging/db.yaml share one data key")),
        "{notes:?}"
    );
}

/// Red-team findings (audit/attackE, audit/attackG-rename), on files the real sops wrote:
/// a rotation commit dated 500 days in the future does not make a key fresh (no age, a note,
/// stale under the policy, `--fail-on stale` trips); a pure rename (`git mv`, identical blob)
/// is an `unchanged` event, not an `edit`.
#[test]
fn future_dates_are_never_fresh_and_renames_are_not_edits() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    sb.write(
        "repo/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {TEST_RECIPIENT}\naudit:\n  max_key_age: 90d\n"
        ),
    );
    git(&repo, None, ADMIN, &["init", "-q"]);
    let sops = |args: &[&str]| {
        let mut c = sops_cmd(&sb);
        c.current_dir(&repo)
            .env("SOPS_AGE_KEY_FILE", test_key())
            .args(args);
        assert_code(&c.run(), 0);
    };
    for f in ["a", "b"] {
        sb.write(&format!("repo/secrets/{f}.yaml"), "api: x\n");
        sops(&["-e", "-i", &format!("secrets/{f}.yaml")]);
    }
    let d400 = days_ago(400);
    git(&repo, Some(&d400), ADMIN, &["add", "-A"]);
    git(&repo, Some(&d400), ADMIN, &["commit", "-qm", "c1"]);
    sops(&["rotate", "-i", "secrets/b.yaml"]);
    let future = days_ago(-500);
    git(&repo, Some(&future), ADMIN, &["commit", "-qam", "rotate b"]);
    let d10 = days_ago(10);
    sops(&["rotate", "-i", "secrets/a.yaml"]);
    git(&repo, Some(&d10), ADMIN, &["commit", "-qam", "rotate a"]);
    git(
        &repo,
        None,
        DEV,
        &["mv", "secrets/a.yaml", "secrets/renamed.yaml"],
    );
    git(&repo, None, DEV, &["commit", "-qm", "rename only"]);

    let mut c = sb.cmd();
    c.current_dir(&repo)
        .args(["audit", "--format", "json", "--fail-on", "stale"]);
    let out = c.run();
    let r = json(&out);
    let b = file(&r, "secrets/b.yaml");
    assert_eq!(b["rotation"]["age_days"], Value::Null, "{r:#}");
    assert_eq!(b["rotation"]["stale"], true);
    assert_eq!(
        strs(
            &r["stale"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["path"].clone())
                .collect()
        ),
        ["secrets/b.yaml"]
    );
    assert!(
        strs(&r["notes"]).iter().any(|n| n
            .starts_with("secrets/b.yaml: the date its data key was made (")
            && n.contains("is in the future")),
        "{:?}",
        r["notes"]
    );
    assert_ne!(out.status.code(), Some(0), "--fail-on stale must trip");
    // The renamed file: made 10 days ago, fresh; the rename changed nothing.
    let a = file(&r, "secrets/renamed.yaml");
    assert_eq!(kinds(a), ["created", "re-key", "unchanged"], "{a:#}");
    assert_eq!(a["rotation"]["age_days"], 10);
    assert_eq!(a["rotation"]["stale"], false);
}

/// Red-team round 2 (t-pgp-two): the team's PGP envelope rewritten, with the real gpg, as one
/// OpenPGP message with a second public-key encrypted session key, for eve's key. Eve opens the
/// file with the real sops although no entry names her. The audit marks the file as readable by
/// parties it does not name, and `--verify` with the team's key does not call it ok; a file
/// whose envelope gpg wrote for the entry alone has no such mark.
#[test]
fn a_pgp_envelope_with_a_second_recipient_is_an_unknown_reader() {
    let team = crate::pgp::Gnupg::with_test_key();
    let fpr = crate::pgp::FPR;
    let (eve_gpg, eve) = team.with_eve();
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    sb.write(
        "repo/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    pgp: {fpr}\n    age: {TEST_RECIPIENT}\n"
        ),
    );
    git(&repo, None, ADMIN, &["init", "-q"]);
    let home = team.home.path().display().to_string();
    for f in ["a", "b"] {
        sb.write(&format!("repo/secrets/{f}.yaml"), "api: t0k3n-a\n");
        let out = sb
            .cmd()
            .current_dir(&repo)
            .env("GNUPGHOME", &home)
            .args(["encrypt", "-i", &format!("secrets/{f}.yaml")])
            .run();
        assert_code(&out, 0);
    }
    git(&repo, None, ADMIN, &["add", "-A"]);
    git(&repo, None, ADMIN, &["commit", "-qm", "secrets"]);
    let audit = |verify: bool| {
        let mut c = sb.cmd();
        c.current_dir(&repo).args(["audit", "--format", "json"]);
        if verify {
            c.env("SOPS_AGE_KEY_FILE", test_key()).arg("--verify");
        }
        json(&c.run())
    };
    assert_eq!(
        file(&audit(false), "secrets/a.yaml")["unknown_readers"],
        false
    );

    // The attack: the PGP envelope re-wrapped for the team key and eve.
    let text = sb.read("repo/secrets/a.yaml");
    std::fs::write(
        repo.join("secrets/a.yaml"),
        team.rewrap_envelope(&text, &[fpr, &eve]),
    )
    .unwrap();
    git(&repo, None, DEV, &["commit", "-qam", "tidy"]);
    // Eve, whom no entry names, opens it with the real sops.
    let mut c = sops_cmd(&sb);
    c.current_dir(&repo)
        .env("GNUPGHOME", eve_gpg.home.path())
        .args(["-d", "secrets/a.yaml"]);
    let out = c.run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "api: t0k3n-a\n");

    let r = audit(false);
    assert_eq!(file(&r, "secrets/a.yaml")["unknown_readers"], true, "{r:#}");
    assert_eq!(file(&r, "secrets/b.yaml")["unknown_readers"], false);
    // And an integrity finding names it, as for age.
    let found: Vec<(&str, &str)> = r["integrity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap(), i["check"].as_str().unwrap()))
        .collect();
    assert!(
        found.contains(&("secrets/a.yaml", "envelope-unknown-reader")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(p, _)| *p == "secrets/b.yaml"),
        "{found:?}"
    );
    let v = audit(true);
    assert_eq!(file(&v, "secrets/a.yaml")["verify"]["status"], "failed");
    assert_eq!(file(&v, "secrets/b.yaml")["verify"]["status"], "ok");
}
