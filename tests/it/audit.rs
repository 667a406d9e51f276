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
    assert_eq!(r["schema"], "shroud-audit/1");

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
        vec![sorted(vec![a(r1), format!("aws_kms:{arn}")])]
    );
    let kms = mixed["key_groups"][0]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "aws_kms")
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
            "aws_kms".to_owned(),
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
    assert_eq!(old["git"]["envelopes_changed"]["author"], "Old Admin");
    assert_eq!(old["git"]["envelopes_changed"]["time"], OLD_DATE);
    assert_eq!(old["git"]["last_commit"]["author"], "Dev Person");
    assert_eq!(old["git"]["last_commit"]["email"], "dev@example.com");
    assert_ne!(
        old["git"]["last_commit"]["id"],
        old["git"]["envelopes_changed"]["id"]
    );
    let rotated = file(&r, "apps/rotated.yaml");
    assert_eq!(
        rotated["git"]["envelopes_changed"]["id"],
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
    assert_eq!(r["git"]["head"].as_str().map(str::len), Some(40));

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
    assert_eq!(h["options"]["history"], true);

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
        text.contains("drift 4 · stale 1 · plaintext 1 · integrity 2"),
        "{text}"
    );
    assert!(text.contains("prod/db.yaml (2 of 3): "), "{text}");
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
            row("rops/aws_kms_example.yaml", "yaml", None, &["aws_kms"]),
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
    assert_eq!(r["git"], Value::Null);
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
