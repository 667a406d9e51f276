//! ExternalSecret generation for every provider (AWS Secrets Manager, HashiCorp Vault, Azure Key
//! Vault, GCP Secret Manager) and their store skeletons, validated against the real ESO CRD
//! schemas (read from ../shared/fixtures/eso), and `--push` to AWS Secrets Manager on
//! moto_server.

use std::path::PathBuf;

use serde_json::Value as J;

use crate::kms::{Moto, rt};
use crate::util::*;

fn to_json(yaml: &[u8]) -> Vec<J> {
    let tree = shroud::store::load_plain(shroud::store::Format::Yaml, yaml).unwrap();
    tree.branches
        .into_iter()
        .map(|b| {
            let one = shroud::tree::Tree {
                branches: vec![b],
                ..Default::default()
            };
            let bytes =
                shroud::store::emit(shroud::store::Format::Json, &one, Default::default()).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}

fn eso_dir() -> PathBuf {
    std::env::var_os("SHROUD_ESO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/fixtures/eso"))
}

/// The real CRD of `kind` (ExternalSecret, SecretStore, ClusterSecretStore).
fn crd_of(kind: &str) -> J {
    let file = match kind {
        "ExternalSecret" => "externalsecrets.external-secrets.io.crd.yaml",
        "SecretStore" => "secretstores.external-secrets.io.crd.yaml",
        "ClusterSecretStore" => "clustersecretstores.external-secrets.io.crd.yaml",
        other => panic!("no ESO CRD for kind {other}"),
    };
    let crd = std::fs::read(eso_dir().join(file)).expect("the ESO CRD fixtures are required");
    to_json(&crd).remove(0)
}

/// The real ExternalSecret CRD.
#[cfg(feature = "cluster")]
fn eso_crd() -> J {
    crd_of("ExternalSecret")
}

/// The openAPIV3Schema of one version (`v1`, `v1beta1`) of the real ExternalSecret CRD.
fn eso_schema_of(version: &str) -> J {
    kind_schema_of("ExternalSecret", version)
}

/// The openAPIV3Schema of one version of the real CRD of `kind`.
fn kind_schema_of(kind: &str, version: &str) -> J {
    crd_of(kind)["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("a {version} version of {kind}"))["schema"]["openAPIV3Schema"]
        .clone()
}

/// The `v1` openAPIV3Schema of the real ExternalSecret CRD.
fn eso_schema() -> J {
    eso_schema_of("v1")
}

/// Asserts that every document is valid for its own kind and `apiVersion` in the real CRDs.
#[track_caller]
fn assert_valid(docs: &[J]) {
    for d in docs {
        let version = d["apiVersion"]
            .as_str()
            .and_then(|v| v.strip_prefix("external-secrets.io/"))
            .expect("an external-secrets.io apiVersion");
        let kind = d["kind"].as_str().expect("a kind");
        let mut errs = Vec::new();
        validate(d, &kind_schema_of(kind, version), "", &mut errs);
        assert!(errs.is_empty(), "{errs:?}\n{d:#}");
    }
}

/// Asserts a failure with `code` and a one-line message containing every `needle`.
#[track_caller]
fn assert_refused(out: &std::process::Output, code: i32, needles: &[&str]) {
    assert_code(out, code);
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} in {err}");
    }
    assert!(stdout(out).is_empty(), "nothing on stdout when refused");
}

fn secret_keys(doc: &J) -> Vec<String> {
    doc["spec"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["secretKey"].as_str().unwrap().to_owned())
        .collect()
}

/// A structural-schema validator for the keywords Kubernetes CRDs use. Unknown fields are
/// errors (the API server would silently prune them).
fn validate(v: &J, s: &J, path: &str, errs: &mut Vec<String>) {
    if v.is_null() && s["nullable"] == true {
        return;
    }
    match s["type"].as_str() {
        Some("object") => {
            let Some(obj) = v.as_object() else {
                return errs.push(format!("{path}: expected object"));
            };
            let props = s["properties"].as_object();
            for (k, val) in obj {
                match (props.and_then(|p| p.get(k)), &s["additionalProperties"]) {
                    (Some(ps), _) => validate(val, ps, &format!("{path}.{k}"), errs),
                    (None, ap) if ap.is_object() => validate(val, ap, &format!("{path}.{k}"), errs),
                    (None, _) if s["x-kubernetes-preserve-unknown-fields"] == true => {}
                    // `type: object` without properties (e.g. metadata): any fields.
                    (None, ap) if props.is_none() && ap.is_null() => {}
                    _ => errs.push(format!("{path}.{k}: unknown field")),
                }
            }
            for r in s["required"].as_array().into_iter().flatten() {
                if !obj.contains_key(r.as_str().unwrap()) {
                    errs.push(format!("{path}: missing required {r}"));
                }
            }
        }
        Some("array") => {
            let Some(items) = v.as_array() else {
                return errs.push(format!("{path}: expected array"));
            };
            if let Some(min) = s["minItems"].as_u64()
                && (items.len() as u64) < min
            {
                errs.push(format!("{path}: fewer than {min} items"));
            }
            for (i, it) in items.iter().enumerate() {
                validate(it, &s["items"], &format!("{path}[{i}]"), errs);
            }
        }
        Some("string") => {
            let Some(st) = v.as_str() else {
                return errs.push(format!("{path}: expected string"));
            };
            if let Some(e) = s["enum"].as_array()
                && !e.iter().any(|x| x == v)
            {
                errs.push(format!("{path}: {st:?} not in {e:?}"));
            }
            if s["minLength"]
                .as_u64()
                .is_some_and(|m| (st.chars().count() as u64) < m)
            {
                errs.push(format!("{path}: too short"));
            }
            if s["maxLength"]
                .as_u64()
                .is_some_and(|m| (st.chars().count() as u64) > m)
            {
                errs.push(format!("{path}: too long"));
            }
            if let Some(p) = s["pattern"].as_str()
                && !regex::Regex::new(p).unwrap().is_match(st)
            {
                errs.push(format!("{path}: {st:?} does not match {p}"));
            }
        }
        Some("integer") if !v.is_i64() && !v.is_u64() => {
            errs.push(format!("{path}: expected integer"))
        }
        Some("boolean") if !v.is_boolean() => errs.push(format!("{path}: expected boolean")),
        _ => {}
    }
}

fn secrets(sb: &Sandbox) {
    sb.write(
        "k8s/secrets.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  labels:\n    app: shop\ntype: kubernetes.io/basic-auth\ndata:\n  username: YWRtaW4=\nstringData:\n  password: hunter2-secret\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\nstringData:\n  token: tok-123-secret\n",
    );
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "-i",
            "--age",
            TEST_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
            "k8s/secrets.yaml",
        ])
        .run();
    assert_code(&out, 0);
}

#[test]
fn generated_manifests_are_valid_and_hold_no_values() {
    let sb = Sandbox::new();
    secrets(&sb);
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--env",
            "prod",
            "--key-template",
            "{env}/{namespace}/{name}",
            "k8s/secrets.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let text = stdout(&out);
    for secret in ["hunter2", "tok-123", "YWRtaW4=", "ENC["] {
        assert!(!text.contains(secret), "no values in the output: {text}");
    }
    let docs = to_json(text.as_bytes());
    assert_eq!(docs.len(), 2, "multi-document in, multi-document out");
    let schema = eso_schema();
    for d in &docs {
        let mut errs = Vec::new();
        validate(d, &schema, "", &mut errs);
        assert!(errs.is_empty(), "{errs:?}\n{text}");
        assert_eq!(d["apiVersion"], "external-secrets.io/v1");
    }
    // The validator rejects what the API server would: a bad enum, an unknown field.
    let mut bad = docs[0].clone();
    bad["spec"]["target"]["creationPolicy"] = J::from("Bogus");
    bad["spec"]["target"]["surprise"] = J::from(1);
    let mut errs = Vec::new();
    validate(&bad, &schema, "", &mut errs);
    assert_eq!(errs.len(), 2, "{errs:?}");
    let db = &docs[0]["spec"];
    assert_eq!(db["target"]["template"]["type"], "kubernetes.io/basic-auth");
    assert_eq!(
        db["target"]["template"]["metadata"]["labels"]["app"],
        "shop"
    );
    assert_eq!(db["data"][0]["remoteRef"]["key"], "prod/shop/db");
    assert_eq!(db["data"][0]["remoteRef"]["property"], "username");
    // Without --push no value is read: every value is taken for the text it is (a `data`
    // entry is pushed decoded), so no decodingStrategy.
    assert!(db["data"][0]["remoteRef"].get("decodingStrategy").is_none());
    assert_eq!(db["data"][1]["secretKey"], "password");
    // One file per Secret.
    let out = sb
        .cmd()
        .args(["external-secret", "--output-dir", "out", "k8s/secrets.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(
        sb.path("out/shop.db.externalsecret.yaml").is_file()
            && sb.path("out/shop.api.externalsecret.yaml").is_file()
    );
}

#[test]
fn values_files_and_bad_templates() {
    let sb = Sandbox::new();
    sb.write(
        "values.yaml",
        "db:\n  password: pw\n  host_unencrypted: db.internal\napi:\n  token: t\n",
    );
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "values.yaml"])
            .run(),
        0,
    );
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "values.yaml"])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    let keys: Vec<&str> = docs[0]["spec"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["secretKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["db.password", "api.token"],
        "only encrypted leaves are secrets"
    );
    let mut errs = Vec::new();
    validate(&docs[0], &eso_schema(), "", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--key-template",
            "{namespace} {name}",
            "values.yaml",
        ])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not a valid AWS Secrets Manager name"),
        "{}",
        stderr(&out)
    );
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--key-template",
            "{env}/{name}",
            "values.yaml",
        ])
        .run();
    assert!(stderr(&out).contains("--env"), "{}", stderr(&out));
    let out = sb.cmd().args(["external-secret", "values.yaml"]).run();
    assert!(stderr(&out).contains("--namespace"), "{}", stderr(&out));
    // A sops file whose metadata was cut off is damaged (the one sops-file sniff says so), not
    // plaintext whose `ENC[…]` strings would become the secrets' values.
    let enc = sb.read("values.yaml");
    let cut = &enc[..enc.find("sops:").unwrap()];
    sb.write("damaged.yaml", cut);
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "damaged.yaml"])
        .run();
    assert_refused(&out, 51, &["damaged.yaml", "damaged sops file"]);
}

#[test]
fn push_writes_secrets_manager_idempotently() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    secrets(&sb);
    let run = |extra: &[&str]| {
        let mut c = sb.with_key();
        moto.env(&mut c);
        c.env("AWS_REGION", "us-east-1")
            .args(["external-secret", "--push"])
            .args(extra)
            .arg("k8s/secrets.yaml")
            .run()
    };
    // A dry run needs no credentials and no key: names only.
    let out = sb
        .cmd()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["external-secret", "--push", "--dry-run", "k8s/secrets.yaml"])
        .run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("would push shop/db with keys username, password"),
        "{err}"
    );
    assert!(!err.contains("hunter2") && !stdout(&out).contains("hunter2"));
    let out = run(&[]);
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("created: shop/db") && stderr(&out).contains("created: shop/api"),
        "{}",
        stderr(&out)
    );
    let out = run(&[]);
    assert!(
        stderr(&out).contains("unchanged: shop/db"),
        "{}",
        stderr(&out)
    );
    // What the ExternalSecret references resolves: one JSON object per Secret.
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(conf);
    let v = rt()
        .block_on(client.get_secret_value().secret_id("shop/db").send())
        .unwrap();
    let obj: J = serde_json::from_str(v.secret_string().unwrap()).unwrap();
    // Text is stored as text (the `data` entry decoded), so any other reader of the remote
    // secret, or a person fixing it in the console, sees the real value.
    assert_eq!(
        obj,
        serde_json::json!({"username": "admin", "password": "hunter2-secret"})
    );
    // A changed value is updated.
    assert_code(
        &sb.with_key()
            .args([
                "set",
                "k8s/secrets.yaml",
                r#"["stringData"]["password"]"#,
                r#""new-pass""#,
            ])
            .run(),
        0,
    );
    let out = run(&[]);
    assert!(
        stderr(&out).contains("updated: shop/db") && stderr(&out).contains("unchanged: shop/api"),
        "{}",
        stderr(&out)
    );
}

/// A kustomize-style tree, all encrypted: a namespace-less Secret with `data` (binary) and
/// `stringData`, a dotenv file, and a values file with lists (a list of maps whose hosts are
/// left unencrypted, and a list of scalars).
fn kustomize_inputs(sb: &Sandbox) {
    sb.write(
        "base/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  cert: AAEC/w==\nstringData:\n  password: hunter2-secret\n",
    );
    sb.write(
        "shop/.env",
        "DB_PASSWORD=env-secret-1\nAPI_TOKEN=env-secret-2\n",
    );
    sb.write(
        "payments/values.yaml",
        "db:\n  password: pw-secret\n  replicas:\n  - host_unencrypted: a.internal\n    password: replica-secret-0\n  - host_unencrypted: b.internal\n    password: replica-secret-1\ntokens:\n- tok-secret-a\n- tok-secret-b\n",
    );
    let enc = |extra: &[&str], file: &str| {
        let out = sb
            .cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT])
            .args(extra)
            .arg(file)
            .run();
        assert_code(&out, 0);
    };
    enc(
        &["--encrypted-regex", "^(data|stringData)$"],
        "base/secret.yaml",
    );
    enc(&[], "shop/.env");
    enc(&[], "payments/values.yaml");
}

const KUSTOMIZE_VALUES: [&str; 7] = [
    "hunter2-secret",
    "AAEC/w==",
    "env-secret-",
    "pw-secret",
    "replica-secret-",
    "tok-secret-",
    "ENC[",
];

fn secrets_manager(moto: &Moto) -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

fn remote_json(client: &aws_sdk_secretsmanager::Client, key: &str) -> J {
    let v = rt()
        .block_on(client.get_secret_value().secret_id(key).send())
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

#[test]
fn names_derived_from_files_are_valid_kubernetes_names() {
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    // `.env` and `values.yaml` name a kind of file, not a secret: their directory names it.
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "shop/.env",
            "payments/values.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(!text.contains(".env") && !text.contains("values"), "{text}");
    let docs = to_json(text.as_bytes());
    assert_valid(&docs);
    for (d, name) in docs.iter().zip(["shop", "payments"]) {
        assert_eq!(d["metadata"]["name"], name);
        assert_eq!(d["spec"]["target"]["name"], name);
        assert_eq!(
            d["spec"]["data"][0]["remoteRef"]["key"],
            format!("shop/{name}")
        );
    }
    // A file name that says what it holds names it, made a valid DNS-1123 name.
    sb.write("k8s/DB_Creds.enc.yaml", "api_key: k\n");
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "k8s/DB_Creds.enc.yaml"])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_eq!(docs[0]["metadata"]["name"], "db-creds");
    assert_eq!(
        docs[0]["spec"]["data"][0]["remoteRef"]["key"],
        "shop/db-creds"
    );
    // Nothing to name it after: one line naming the file and the flag.
    std::fs::create_dir_all(sb.path("secrets")).unwrap();
    std::fs::copy(sb.path("shop/.env"), sb.path("secrets/.env")).unwrap();
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "secrets/.env"])
        .run();
    assert_refused(&out, 4, &["secrets/.env", "pass --name"]);
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--name",
            "shop-env",
            "secrets/.env",
        ])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_eq!(docs[0]["metadata"]["name"], "shop-env");
    assert_eq!(
        docs[0]["spec"]["data"][0]["remoteRef"]["key"],
        "shop/shop-env"
    );
    // --name must be a valid name, and names values files only.
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--name",
            ".env",
            "secrets/.env",
        ])
        .run();
    assert_refused(&out, 5, &["--name \".env\""]);
    let out = sb
        .cmd()
        .args(["external-secret", "--name", "db2", "base/secret.yaml"])
        .run();
    assert_refused(&out, 5, &["base/secret.yaml", "--name", "metadata.name"]);
    // Two inputs that would make one ExternalSecret: refused before anything is written.
    std::fs::create_dir_all(sb.path("other/shop")).unwrap();
    std::fs::copy(sb.path("shop/.env"), sb.path("other/shop/.env")).unwrap();
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--output-dir",
            "out",
            "shop/.env",
            "other/shop/.env",
        ])
        .run();
    assert_refused(
        &out,
        4,
        &[
            "other/shop/.env",
            "shop/shop",
            "also generated from shop/.env",
        ],
    );
    assert!(!sb.path("out").exists());
    // Two ExternalSecrets reading one remote key would overwrite each other's values.
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "-n",
            "shop",
            "--key-template",
            "{namespace}/app",
            "shop/.env",
            "payments/values.yaml",
        ])
        .run();
    assert_refused(&out, 4, &["remote key shop/app", "shop/.env"]);
    // A Secret manifest's own name must already be valid: it is never rewritten.
    sb.write(
        "bad/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: DB_Creds\n  namespace: shop\nstringData:\n  a: b\n",
    );
    let out = sb.cmd().args(["external-secret", "bad/secret.yaml"]).run();
    assert_refused(&out, 4, &["bad/secret.yaml", "metadata.name \"DB_Creds\""]);
}

#[test]
fn lists_are_carried_as_indexed_keys() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "payments/values.yaml"])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_valid(&docs);
    assert_eq!(
        secret_keys(&docs[0]),
        [
            "db.password",
            "db.replicas.0.password",
            "db.replicas.1.password",
            "tokens.0",
            "tokens.1"
        ],
        "every encrypted leaf, in lists too; unencrypted hosts are not secrets"
    );
    // What the manifest references is what is pushed.
    let mut c = sb.with_key();
    moto.env(&mut c);
    let out = c
        .env("AWS_REGION", "us-east-1")
        .args([
            "external-secret",
            "--push",
            "-n",
            "shop",
            "payments/values.yaml",
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(
        remote_json(&secrets_manager(&moto), "shop/payments"),
        serde_json::json!({
            "db.password": "pw-secret",
            "db.replicas.0.password": "replica-secret-0",
            "db.replicas.1.password": "replica-secret-1",
            "tokens.0": "tok-secret-a",
            "tokens.1": "tok-secret-b",
        })
    );
    // A list where a Secret needs a string is refused by its path, never shown.
    sb.write(
        "k8s/list.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  hosts:\n  - list-secret-1\n  - list-secret-2\n",
    );
    std::fs::copy(sb.path("k8s/list.yaml"), sb.path("k8s/all.yaml")).unwrap();
    assert_code(
        &sb.cmd()
            .args([
                "encrypt",
                "-i",
                "--age",
                TEST_RECIPIENT,
                "--encrypted-regex",
                "^(data|stringData)$",
                "k8s/list.yaml",
            ])
            .run(),
        0,
    );
    let out = sb.cmd().args(["external-secret", "k8s/list.yaml"]).run();
    assert_refused(&out, 4, &["k8s/list.yaml", "stringData.hosts is a list"]);
    assert!(!stderr(&out).contains("list-secret"));
    // A manifest encrypted whole (kind too) is not mistaken for a values file.
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "k8s/all.yaml"])
            .run(),
        0,
    );
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "k8s/all.yaml"])
        .run();
    assert_refused(
        &out,
        4,
        &["k8s/all.yaml", "kind is encrypted", "--encrypted-regex"],
    );
    // Two leaves that flatten to one key are refused, both paths named.
    sb.write(
        "clash/values.yaml",
        "a.b: one-secret\na:\n  b: two-secret\n",
    );
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "clash/values.yaml"])
        .run();
    assert_refused(&out, 4, &[r#"["a.b"] and ["a"]["b"]"#, "\"a.b\""]);
    assert!(!stderr(&out).contains("-secret"));
}

#[test]
fn namespace_less_manifests_stay_namespace_less() {
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--env",
            "prod",
            "--key-template",
            "{env}/{name}",
            "base/secret.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_valid(&docs);
    assert_eq!(docs[0]["metadata"], serde_json::json!({"name": "db"}));
    assert_eq!(docs[0]["spec"]["data"][0]["remoteRef"]["key"], "prod/db");
    // The default key template needs a namespace: it is never invented or left empty.
    let out = sb.cmd().args(["external-secret", "base/secret.yaml"]).run();
    assert_refused(
        &out,
        4,
        &[
            "base/secret.yaml",
            "no namespace",
            "{namespace}",
            "--namespace",
            "--key-template",
        ],
    );
    // --namespace still places it.
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "shop", "base/secret.yaml"])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_eq!(docs[0]["metadata"]["namespace"], "shop");
    assert_eq!(docs[0]["spec"]["data"][0]["remoteRef"]["key"], "shop/db");
    // Defaults in .sops.yaml, one file per ExternalSecret.
    sb.write(
        ".sops.yaml",
        "external_secrets:\n  key_template: \"{env}/{name}\"\n  env: prod\n",
    );
    let out = sb
        .cmd()
        .args(["external-secret", "--output-dir", "out", "base/secret.yaml"])
        .run();
    assert_code(&out, 0);
    let written = to_json(sb.read("out/db.externalsecret.yaml").as_bytes());
    assert!(written[0]["metadata"].get("namespace").is_none());
    assert_eq!(written[0]["spec"]["data"][0]["remoteRef"]["key"], "prod/db");
}

#[test]
fn api_version_and_extract_form() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    let gen_ = |extra: &[&str]| {
        let out = sb
            .cmd()
            .args([
                "external-secret",
                "--env",
                "prod",
                "--key-template",
                "{env}/{name}",
            ])
            .args(extra)
            .args(["base/secret.yaml", "shop/.env"])
            .run();
        assert_code(&out, 0);
        let text = stdout(&out);
        for v in KUSTOMIZE_VALUES {
            assert!(!text.contains(v), "no values in the output: {text}");
        }
        let docs = to_json(text.as_bytes());
        assert_valid(&docs);
        docs
    };
    // v1 stays the default; v1beta1 for operators that do not serve v1.
    assert!(
        gen_(&[])
            .iter()
            .all(|d| d["apiVersion"] == "external-secrets.io/v1")
    );
    let beta = gen_(&["--api-version", "v1beta1"]);
    assert!(
        beta.iter()
            .all(|d| d["apiVersion"] == "external-secrets.io/v1beta1")
    );
    assert_eq!(
        beta,
        gen_(&["--api-version", "external-secrets.io/v1beta1"])
    );
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--api-version",
            "v2",
            "-n",
            "shop",
            "shop/.env",
        ])
        .run();
    assert_refused(&out, 5, &["--api-version \"v2\"", "v1, v1beta1"]);
    // dataFrom.extract: one reference to the whole remote object.
    for version in ["v1", "v1beta1"] {
        let docs = gen_(&["--data-from-extract", "--api-version", version]);
        let (db, env) = (&docs[0]["spec"], &docs[1]["spec"]);
        assert!(db.get("data").is_none() && env.get("data").is_none());
        // Without --push values are taken for text: no decodingStrategy (a binary value
        // found at --push makes the whole object base64: see the binary push test).
        assert_eq!(
            db["dataFrom"],
            serde_json::json!([{"extract": {"key": "prod/db"}}])
        );
        assert_eq!(
            env["dataFrom"],
            serde_json::json!([{"extract": {"key": "prod/shop"}}])
        );
    }
    // What ESO decodes from the pushed objects is exactly what the Secrets held.
    let push = |extra: &[&str]| {
        let mut c = sb.with_key();
        moto.env(&mut c);
        c.env("AWS_REGION", "us-east-1")
            .args([
                "external-secret",
                "--push",
                "--data-from-extract",
                "--env",
                "prod",
                "--key-template",
                "{env}/{name}",
            ])
            .args(extra)
            .args(["base/secret.yaml", "shop/.env"])
            .run()
    };
    let out = push(&[]);
    assert_code(&out, 0);
    let client = secrets_manager(&moto);
    let db = remote_json(&client, "prod/db");
    use base64::Engine;
    let b64 = |v: &J| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    assert_eq!(b64(&db["cert"]), [0u8, 1, 2, 255]);
    assert_eq!(b64(&db["password"]), b"hunter2-secret");
    assert_eq!(db.as_object().unwrap().len(), 2);
    assert_eq!(
        remote_json(&client, "prod/shop"),
        serde_json::json!({"DB_PASSWORD": "env-secret-1", "API_TOKEN": "env-secret-2"})
    );
    let out = push(&[]);
    assert!(
        stderr(&out).contains("unchanged: prod/db")
            && stderr(&out).contains("unchanged: prod/shop"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_option_values_are_refused() {
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    let run = |args: &[&str]| {
        sb.cmd()
            .arg("external-secret")
            .args(args)
            .args(["-n", "shop", "--output-dir", "out", "shop/.env"])
            .run()
    };
    let spec = || to_json(sb.read("out/shop.shop.externalsecret.yaml").as_bytes()).remove(0);
    for good in ["1h", "30m", "1h30m", "0", "0s", "1.5h", "500ms", "2h45m30s"] {
        let out = run(&["--refresh-interval", good]);
        assert_code(&out, 0);
        assert_eq!(spec()["spec"]["refreshInterval"], good);
    }
    for good in ["Owner", "Orphan", "Merge", "None", "CreateOrMerge"] {
        let out = run(&["--creation-policy", good]);
        assert_code(&out, 0);
        assert_valid(&[spec()]);
        assert_eq!(spec()["spec"]["target"]["creationPolicy"], good);
    }
    for good in ["Retain", "Delete", "Merge"] {
        let out = run(&["--deletion-policy", good]);
        assert_code(&out, 0);
        assert_eq!(spec()["spec"]["target"]["deletionPolicy"], good);
    }
    std::fs::remove_dir_all(sb.path("out")).unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--refresh-interval", "1d"],
            &["--refresh-interval \"1d\"", "1d is 24h"],
        ),
        (
            &["--refresh-interval", "30"],
            &["--refresh-interval \"30\"", "without a unit"],
        ),
        (
            &["--refresh-interval", "1h30"],
            &["--refresh-interval", "without a unit"],
        ),
        (
            &["--refresh-interval=-1h"],
            &["--refresh-interval \"-1h\"", "negative"],
        ),
        (
            &["--refresh-interval", ""],
            &["--refresh-interval \"\"", "Go duration"],
        ),
        (&["--refresh-interval", "1 h"], &["--refresh-interval"]),
        (
            &["--refresh-interval", "1H"],
            &["--refresh-interval", "unknown unit \"H\""],
        ),
        (
            &["--refresh-interval", "9999999h"],
            &["--refresh-interval", "largest"],
        ),
        (
            &["--creation-policy", "owner"],
            &["--creation-policy \"owner\"", "did you mean Owner?"],
        ),
        (
            &["--creation-policy", "Bogus"],
            &["--creation-policy", "Owner, Orphan, Merge, None"],
        ),
        (&["--creation-policy", ""], &["--creation-policy"]),
        (
            &["--deletion-policy", "Orphan"],
            &["--deletion-policy", "Retain, Delete, Merge"],
        ),
        (
            &["--creation-policy", "Merge", "--deletion-policy", "Delete"],
            &["deletionPolicy Delete with creationPolicy Merge"],
        ),
        (
            &["--creation-policy", "None", "--deletion-policy", "Delete"],
            &["deletionPolicy Delete with creationPolicy None"],
        ),
        (
            &["--creation-policy", "None", "--deletion-policy", "Merge"],
            &["deletionPolicy Merge with creationPolicy None"],
        ),
        (
            &[
                "--creation-policy",
                "CreateOrMerge",
                "--api-version",
                "v1beta1",
            ],
            &["CreateOrMerge", "v1"],
        ),
        (&["--store", "AWS_SM"], &["--store \"AWS_SM\""]),
        (&["--key-template", "{nmespace}/{name}"], &["{nmespace}"]),
    ];
    for (args, needles) in cases {
        let out = run(args);
        assert_refused(&out, 5, needles);
        assert!(!sb.path("out").exists(), "nothing written for {args:?}");
    }
    let out = sb
        .cmd()
        .args(["external-secret", "-n", "Shop", "shop/.env"])
        .run();
    assert_refused(&out, 5, &["--namespace \"Shop\""]);
    // The same values from .sops.yaml are refused naming the key.
    for (key, value) in [
        ("creation_policy", "owner"),
        ("deletion_policy", "Keep"),
        ("refresh_interval", "1d"),
        ("api_version", "v1alpha1"),
        ("data_from_extract", "yes"),
    ] {
        sb.write(
            ".sops.yaml",
            &format!("external_secrets:\n  {key}: {value}\n"),
        );
        let out = sb
            .cmd()
            .args(["external-secret", "-n", "shop", "shop/.env"])
            .run();
        assert_refused(
            &out,
            5,
            &[&format!(".sops.yaml: external_secrets.{key} \"{value}\"")],
        );
    }
}

/// The stores `--provider` knows, with their names, default store and each store's rule for
/// remote names (the rules of AWS Secrets Manager, Vault KV paths, Azure Key Vault and GCP
/// Secret Manager, written out here independently of the code).
const PROVIDERS: [(&str, &str, &str); 4] = [
    ("aws", "aws-secrets-manager", r"^[A-Za-z0-9/_+=.@-]{1,512}$"),
    ("vault", "vault", r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"),
    ("azurekv", "azure-key-vault", r"^[0-9a-zA-Z-]{1,127}$"),
    ("gcpsm", "gcp-secret-manager", r"^[A-Za-z0-9_-]{1,255}$"),
];

/// A Secret whose name holds a `.`, which Azure and GCP names cannot.
fn dotted_secret(sb: &Sandbox, file: &str, name: &str) {
    sb.write(
        file,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\nstringData:\n  password: dotted-secret\n"
        ),
    );
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT])
        .args(["--encrypted-regex", "^(data|stringData)$", file])
        .run();
    assert_code(&out, 0);
}

/// The remote keys an ExternalSecret references (`data[]` or `dataFrom[].extract`).
fn remote_keys(doc: &J) -> Vec<String> {
    let spec = &doc["spec"];
    let data = spec["data"].as_array().into_iter().flatten();
    let from = spec["dataFrom"].as_array().into_iter().flatten();
    data.map(|d| &d["remoteRef"]["key"])
        .chain(from.map(|d| &d["extract"]["key"]))
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Every provider, both forms and both store kinds: the store skeleton and the ExternalSecrets
/// validate against the real CRDs, reference each other, and every remote key satisfies the
/// store's own naming rule (derived where the store cannot hold the template's `/` or `.`).
#[test]
fn every_provider_validates_against_the_real_crds() {
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    dotted_secret(&sb, "k8s/dotted.yaml", "db.creds");
    let inputs = [
        "base/secret.yaml",
        "shop/.env",
        "payments/values.yaml",
        "k8s/dotted.yaml",
    ];
    for (provider, store, rule) in PROVIDERS {
        let rule = regex::Regex::new(rule).unwrap();
        for form in [&[][..], &["--data-from-extract"][..]] {
            for (kind_flag, kind) in [
                (&[][..], "ClusterSecretStore"),
                (&["--namespaced-store"][..], "SecretStore"),
            ] {
                let out = sb
                    .cmd()
                    .args([
                        "external-secret",
                        "--provider",
                        provider,
                        "--store-manifest",
                    ])
                    .args(["-n", "shop"])
                    .args(form)
                    .args(kind_flag)
                    .args(inputs)
                    .run();
                assert_code(&out, 0);
                let text = stdout(&out);
                for v in KUSTOMIZE_VALUES.iter().chain(&["dotted-secret"]) {
                    assert!(!text.contains(v), "no values in the output: {text}");
                }
                let docs = to_json(text.as_bytes());
                assert_eq!(docs.len(), 1 + inputs.len(), "{text}");
                assert_valid(&docs);
                let (head, rest) = docs.split_first().unwrap();
                assert_eq!(head["kind"], kind);
                assert_eq!(head["metadata"]["name"], store);
                assert_eq!(
                    head["metadata"].get("namespace").and_then(J::as_str),
                    (kind == "SecretStore").then_some("shop")
                );
                let block = &head["spec"]["provider"][provider];
                assert!(block.is_object(), "spec.provider.{provider}: {head:#}");
                assert!(
                    text.contains("Authentication: fill in"),
                    "the auth is left to fill in, explained: {text}"
                );
                for d in rest {
                    assert_eq!(d["kind"], "ExternalSecret");
                    assert_eq!(d["spec"]["secretStoreRef"]["name"], store);
                    assert_eq!(d["spec"]["secretStoreRef"]["kind"], kind);
                    for k in remote_keys(d) {
                        assert!(rule.is_match(&k), "{provider}: {k:?} breaks {rule}");
                    }
                }
                let dotted = rest.last().unwrap();
                let expected = match provider {
                    "aws" | "vault" => "shop/db.creds",
                    "azurekv" => "shop--db-creds",
                    _ => "shop_db-creds",
                };
                assert_eq!(remote_keys(dotted), vec![expected.to_owned()]);
            }
        }
    }
    // Vault: one path per Secret, one property per key.
    let out = sb
        .cmd()
        .args(["external-secret", "--provider", "vault", "-n", "shop"])
        .arg("payments/values.yaml")
        .run();
    assert_code(&out, 0);
    let doc = to_json(stdout(&out).as_bytes()).remove(0);
    let refs: Vec<(&str, &str)> = doc["spec"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["remoteRef"]["key"].as_str().unwrap(),
                d["remoteRef"]["property"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(refs.len(), 5);
    assert!(refs.iter().all(|(k, _)| *k == "shop/payments"));
    assert_eq!(refs[1].1, "db.replicas.0.password");
}

/// What a store's alphabet makes of two different names can be one name: refused before
/// anything is written, naming both files and the template's own rendering.
#[test]
fn derived_remote_names_that_clash_are_refused() {
    let sb = Sandbox::new();
    dotted_secret(&sb, "k8s/dotted.yaml", "db.creds");
    dotted_secret(&sb, "k8s/dashed.yaml", "db-creds");
    let files = ["k8s/dotted.yaml", "k8s/dashed.yaml"];
    for (provider, derived) in [("azurekv", "shop--db-creds"), ("gcpsm", "shop_db-creds")] {
        let out = sb
            .cmd()
            .args([
                "external-secret",
                "--provider",
                provider,
                "--output-dir",
                "out",
            ])
            .args(files)
            .run();
        assert_refused(
            &out,
            4,
            &[
                "k8s/dashed.yaml",
                &format!("remote key {derived} (derived from shop/db-creds)"),
                "k8s/dotted.yaml",
                "--key-template",
            ],
        );
        assert!(!sb.path("out").exists());
    }
    // The stores that keep `.` keep the two apart.
    for provider in ["aws", "vault"] {
        let out = sb
            .cmd()
            .args(["external-secret", "--provider", provider])
            .args(files)
            .run();
        assert_code(&out, 0);
    }
    // A name the store cannot hold at all: refused naming the store.
    let long = format!("{{name}}-{}", "x".repeat(130));
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--provider",
            "azurekv",
            "--key-template",
            &long,
        ])
        .arg("k8s/dotted.yaml")
        .run();
    assert_refused(
        &out,
        4,
        &["not a valid Azure Key Vault name", "more than the 127"],
    );
}

/// `--provider` from `.sops.yaml`, flags winning; unknown providers refused; push only to AWS;
/// the store skeleton alone and into `--output-dir`.
#[test]
fn provider_defaults_push_and_store_skeletons() {
    let sb = Sandbox::new();
    dotted_secret(&sb, "k8s/dotted.yaml", "db.creds");
    sb.write(".sops.yaml", "external_secrets:\n  provider: gcpsm\n");
    let gen_ = |args: &[&str]| {
        let out = sb
            .cmd()
            .arg("external-secret")
            .args(args)
            .arg("k8s/dotted.yaml")
            .run();
        assert_code(&out, 0);
        to_json(stdout(&out).as_bytes()).remove(0)
    };
    let doc = gen_(&[]);
    assert_eq!(remote_keys(&doc), ["shop_db-creds"]);
    assert_eq!(doc["spec"]["secretStoreRef"]["name"], "gcp-secret-manager");
    let doc = gen_(&["--provider", "aws", "--store", "sm"]);
    assert_eq!(remote_keys(&doc), ["shop/db.creds"]);
    assert_eq!(doc["spec"]["secretStoreRef"]["name"], "sm");
    sb.write(".sops.yaml", "external_secrets:\n  provider: azure\n");
    let out = sb.cmd().args(["external-secret", "k8s/dotted.yaml"]).run();
    assert_refused(
        &out,
        5,
        &[
            ".sops.yaml: external_secrets.provider \"azure\"",
            "aws, vault, azurekv, gcpsm",
        ],
    );
    std::fs::remove_file(sb.path(".sops.yaml")).unwrap();
    // Push writes AWS Secrets Manager only: the others are refused before any key is read.
    for (provider, title) in [
        ("vault", "HashiCorp Vault"),
        ("azurekv", "Azure Key Vault"),
        ("gcpsm", "GCP Secret Manager"),
    ] {
        for extra in [&[][..], &["--dry-run"][..]] {
            let out = sb
                .cmd()
                .args(["external-secret", "--push", "--provider", provider])
                .args(extra)
                .arg("k8s/dotted.yaml")
                .run();
            assert_refused(&out, 5, &["--push", &format!("not available for {title}")]);
        }
    }
    // The skeleton alone, as a namespaced SecretStore, and into --output-dir.
    let out = sb
        .cmd()
        .args(["external-secret", "--provider", "vault", "--store-manifest"])
        .args(["--namespaced-store", "-n", "shop"])
        .run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_eq!(docs.len(), 1);
    assert_valid(&docs);
    assert_eq!(docs[0]["kind"], "SecretStore");
    assert_eq!(docs[0]["spec"]["provider"]["vault"]["version"], "v2");
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--provider",
            "azurekv",
            "--store-manifest",
        ])
        .args(["--output-dir", "out", "k8s/dotted.yaml"])
        .run();
    assert_code(&out, 0);
    let store = to_json(
        sb.read("out/azure-key-vault.clustersecretstore.yaml")
            .as_bytes(),
    );
    assert_valid(&store);
    assert!(sb.path("out/shop.db.creds.externalsecret.yaml").is_file());
    let out = sb.cmd().args(["external-secret"]).run();
    assert_code(&out, 2);
}

/// Drops what a 1.20 API server rejects in the current ESO CRD: `selectableFields` and the
/// `default: ""` entries.
#[cfg(feature = "cluster")]
fn for_old_server(v: &mut J) {
    match v {
        J::Object(m) => {
            m.remove("selectableFields");
            if m.get("default") == Some(&J::from("")) {
                m.remove("default");
            }
            m.values_mut().for_each(for_old_server);
        }
        J::Array(a) => a.iter_mut().for_each(for_old_server),
        _ => {}
    }
}

#[cfg(feature = "cluster")]
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
#[cfg(feature = "cluster")]
use kube::api::{Api, DynamicObject, PostParams};
#[cfg(feature = "cluster")]
use kube::core::{ApiResource, GroupVersionKind};

#[cfg(feature = "cluster")]
/// Installs the real ESO CRD as a 1.20 API server takes it, with the deprecated `v1beta1`
/// served as well (as ESO releases before `v1` serve it), and creates namespace `ns`.
async fn eso_cluster(kubeconfig: &std::path::PathBuf, ns: &str) -> kube::Client {
    use k8s_openapi::api::core::v1::Namespace;
    let serve_v1beta1 = |crd: &mut CustomResourceDefinition| {
        let mut changed = false;
        for v in &mut crd.spec.versions {
            if v.name == "v1beta1" && !v.served {
                v.served = true;
                changed = true;
            }
        }
        changed
    };
    let mut crd = eso_crd();
    for_old_server(&mut crd);
    let mut crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
    serve_v1beta1(&mut crd);
    let client = crate::controller::client(kubeconfig).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // Installed by another test (or an older run): make sure v1beta1 is served.
            for _ in 0..20 {
                let mut cur = crds
                    .get("externalsecrets.external-secrets.io")
                    .await
                    .unwrap();
                if !serve_v1beta1(&mut cur) {
                    break;
                }
                match crds
                    .replace(
                        "externalsecrets.external-secrets.io",
                        &PostParams::default(),
                        &cur,
                    )
                    .await
                {
                    Ok(_) => break,
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => panic!("cannot serve v1beta1 of the ESO CRD: {e}"),
                }
            }
        }
        Err(e) => panic!("the API server refused the ESO CRD: {e}"),
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let n: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    namespaces.create(&PostParams::default(), &n).await.unwrap();
    client
}

#[cfg(feature = "cluster")]
/// The ExternalSecret API of `ns` at the version `doc` names.
fn eso_api(client: &kube::Client, ns: &str, doc: &J) -> Api<DynamicObject> {
    let version = doc["apiVersion"]
        .as_str()
        .and_then(|v| v.strip_prefix("external-secrets.io/"))
        .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("external-secrets.io", version, "ExternalSecret"),
        "externalsecrets",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

#[cfg(feature = "cluster")]
/// Creates `doc` in `ns`, waiting (up to 10 s) for its version of the CRD to be served.
async fn create_eso(client: &kube::Client, ns: &str, doc: &J) -> Result<(), kube::Error> {
    let api = eso_api(client, ns, doc);
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    let mut last = None;
    for _ in 0..50 {
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    panic!("the ExternalSecret API never became available: {last:?}")
}

#[cfg(feature = "cluster")]
#[test]
fn the_real_api_server_accepts_generated_external_secrets() {
    let Some(kubeconfig) = crate::controller::kubeconfig() else {
        crate::util::missing(
            "SHROUD_TEST_KUBECONFIG (a real API server; run scripts/test-controller.sh)",
        );
        return;
    };
    let sb = Sandbox::new();
    secrets(&sb);
    let ns = format!("eso-{}", std::process::id());
    let out = sb
        .cmd()
        .args(["external-secret", "--namespace", &ns, "k8s/secrets.yaml"])
        .run();
    assert_code(&out, 0);
    // The manifests name their own namespace ("shop"); place them in a fresh one.
    let mut docs = to_json(stdout(&out).as_bytes());
    for d in &mut docs {
        d["metadata"]["namespace"] = J::from(ns.clone());
    }
    rt().block_on(async {
        let client = eso_cluster(&kubeconfig, &ns).await;
        for d in &docs {
            create_eso(&client, &ns, d).await.unwrap_or_else(|e| {
                panic!("the API server rejected a generated ExternalSecret: {e}")
            });
        }
        let list = eso_api(&client, &ns, &docs[0])
            .list(&Default::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), docs.len());
        // The server does validate against the schema: a bad enum is refused.
        let mut bad = docs[0].clone();
        bad["metadata"]["name"] = J::from("bad");
        bad["spec"]["target"]["creationPolicy"] = J::from("Bogus");
        match create_eso(&client, &ns, &bad).await {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{}", e.message),
            other => panic!("an invalid ExternalSecret was accepted: {other:?}"),
        }
    });
}

/// Every form `external-secret` writes (v1 and v1beta1, `data` and `dataFrom.extract`,
/// namespace-less, names derived from `.env` and values files, list elements) is accepted by a
/// real API server with the real CRD, each in a namespace of its own; and the server draws the
/// line on CreateOrMerge where the CLI does.
#[cfg(feature = "cluster")]
#[test]
fn the_real_api_server_accepts_every_form() {
    let Some(kubeconfig) = crate::controller::kubeconfig() else {
        crate::util::missing(
            "SHROUD_TEST_KUBECONFIG (a real API server; run scripts/test-controller.sh)",
        );
        return;
    };
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    let forms: [&[&str]; 4] = [
        &[],
        &["--data-from-extract"],
        &["--api-version", "v1beta1"],
        &["--api-version", "v1beta1", "--data-from-extract"],
    ];
    let runs: Vec<Vec<J>> = forms
        .iter()
        .map(|extra| {
            let out = sb
                .cmd()
                .args([
                    "external-secret",
                    "--env",
                    "prod",
                    "--key-template",
                    "{env}/{name}",
                ])
                .args(*extra)
                .args(["base/secret.yaml", "shop/.env", "payments/values.yaml"])
                .run();
            assert_code(&out, 0);
            let docs = to_json(stdout(&out).as_bytes());
            assert_eq!(docs.len(), 3);
            assert_valid(&docs);
            docs
        })
        .collect();
    rt().block_on(async {
        for (i, docs) in runs.iter().enumerate() {
            let ns = format!("eso-forms-{}-{i}", std::process::id());
            let client = eso_cluster(&kubeconfig, &ns).await;
            for d in docs {
                assert!(d["metadata"].get("namespace").is_none());
                create_eso(&client, &ns, d).await.unwrap_or_else(|e| {
                    panic!("the API server rejected {}: {e}\n{d:#}", d["apiVersion"])
                });
            }
            let list = eso_api(&client, &ns, &docs[0])
                .list(&Default::default())
                .await
                .unwrap();
            let mut names: Vec<_> = list
                .items
                .iter()
                .map(|o| o.metadata.name.clone().unwrap())
                .collect();
            names.sort();
            assert_eq!(names, ["db", "payments", "shop"]);
            // CreateOrMerge exists in v1 only: the server agrees with the CLI.
            let mut merge = docs[0].clone();
            merge["metadata"]["name"] = J::from("create-or-merge");
            merge["spec"]["target"]["creationPolicy"] = J::from("CreateOrMerge");
            let res = create_eso(&client, &ns, &merge).await;
            if merge["apiVersion"] == "external-secrets.io/v1" {
                res.unwrap();
            } else {
                match res {
                    Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{}", e.message),
                    other => panic!("v1beta1 accepted CreateOrMerge: {other:?}"),
                }
            }
        }
    });
}

#[cfg(feature = "cluster")]
/// Installs the real SecretStore and ClusterSecretStore CRDs as a 1.20 API server takes them
/// (idempotent), and waits until both are served.
async fn install_store_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for kind in ["SecretStore", "ClusterSecretStore"] {
        let mut crd = crd_of(kind);
        for_old_server(&mut crd);
        let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("the API server refused the {kind} CRD: {e}"),
        }
    }
}

#[cfg(feature = "cluster")]
/// The API of `doc`'s kind and version (namespaced in `ns` unless cluster-scoped).
fn api_of(client: &kube::Client, ns: &str, doc: &J) -> Api<DynamicObject> {
    let version = doc["apiVersion"]
        .as_str()
        .and_then(|v| v.strip_prefix("external-secrets.io/"))
        .unwrap();
    let kind = doc["kind"].as_str().unwrap();
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("external-secrets.io", version, kind),
        &plural,
    );
    if kind == "ClusterSecretStore" {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    }
}

#[cfg(feature = "cluster")]
/// Creates `doc`, waiting (up to 10 s) for its kind to be served.
async fn create_doc(client: &kube::Client, ns: &str, doc: &J) -> Result<(), kube::Error> {
    let api = api_of(client, ns, doc);
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    let mut last = None;
    for _ in 0..50 {
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    panic!("the {} API never became available: {last:?}", doc["kind"])
}

/// Every provider's store skeleton (ClusterSecretStore and SecretStore) and ExternalSecrets
/// (both forms) are accepted by a real API server with the real ESO CRDs installed, and the
/// server does validate the stores: a skeleton with a bad enum is refused.
#[cfg(feature = "cluster")]
#[test]
fn the_real_api_server_accepts_every_provider() {
    let Some(kubeconfig) = crate::controller::kubeconfig() else {
        crate::util::missing(
            "SHROUD_TEST_KUBECONFIG (a real API server; run scripts/test-controller.sh)",
        );
        return;
    };
    let sb = Sandbox::new();
    kustomize_inputs(&sb);
    dotted_secret(&sb, "k8s/dotted.yaml", "db.creds");
    let pid = std::process::id();
    rt().block_on(async {
        let first = format!("eso-providers-{pid}");
        let client = eso_cluster(&kubeconfig, &first).await;
        install_store_crds(&client).await;
        for (i, (provider, _, _)) in PROVIDERS.iter().enumerate() {
            for (j, (form, kind_flag)) in [
                (&[][..], &[][..]),
                (&["--data-from-extract"][..], &["--namespaced-store"][..]),
            ]
            .into_iter()
            .enumerate()
            {
                let ns = if i + j == 0 {
                    first.clone()
                } else {
                    let ns = format!("eso-providers-{pid}-{provider}-{j}");
                    eso_cluster(&kubeconfig, &ns).await;
                    ns
                };
                let store = format!("{provider}-{pid}-{j}");
                let out = sb
                    .cmd()
                    .args([
                        "external-secret",
                        "--provider",
                        provider,
                        "--store-manifest",
                    ])
                    .args(["--store", &store, "-n", &ns])
                    .args(form)
                    .args(kind_flag)
                    .args(["base/secret.yaml", "shop/.env", "payments/values.yaml"])
                    .run();
                assert_code(&out, 0);
                let mut docs = to_json(stdout(&out).as_bytes());
                docs.extend({
                    // The dotted Secret names its own namespace ("shop"): place it in this one.
                    let out = sb
                        .cmd()
                        .args(["external-secret", "--provider", provider, "--store", &store])
                        .args(form)
                        .args(kind_flag)
                        .arg("k8s/dotted.yaml")
                        .run();
                    assert_code(&out, 0);
                    let mut d = to_json(stdout(&out).as_bytes());
                    d[0]["metadata"]["namespace"] = J::from(ns.clone());
                    d
                });
                assert_valid(&docs);
                for d in &docs {
                    create_doc(&client, &ns, d).await.unwrap_or_else(|e| {
                        panic!(
                            "the API server rejected a {provider} {}: {e}\n{d:#}",
                            d["kind"]
                        )
                    });
                }
                let es = api_of(&client, &ns, &docs[1])
                    .list(&Default::default())
                    .await
                    .unwrap();
                assert_eq!(es.items.len(), 4, "{provider}");
                // The schema is enforced for stores too.
                let mut bad = docs[0].clone();
                bad["metadata"]["name"] = J::from(format!("bad-{store}"));
                let block = &mut bad["spec"]["provider"][*provider];
                match *provider {
                    "aws" => block["service"] = J::from("Vault"),
                    "vault" => block["version"] = J::from("v3"),
                    "azurekv" => block["authType"] = J::from("Password"),
                    _ => block["secretVersionSelectionPolicy"] = J::from(1),
                }
                match create_doc(&client, &ns, &bad).await {
                    Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{}", e.message),
                    other => panic!("an invalid {provider} store was accepted: {other:?}"),
                }
            }
        }
    });
}

/// Binary values (not UTF-8) are the only ones stored base64, and only their references get
/// `decodingStrategy: Base64` (in the extract form, one binary value makes the whole object
/// base64, as ESO has one strategy per object). `--env` with a key template that cannot use it
/// is refused instead of doing nothing.
#[test]
fn push_stores_text_as_text_and_binary_as_base64() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    sb.write(
        "k8s/tls.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\n  namespace: shop\ndata:\n  cert: AAEC/w==\n  user: YWRtaW4=\n",
    );
    assert_code(
        &sb.cmd()
            .args([
                "encrypt",
                "-i",
                "--age",
                TEST_RECIPIENT,
                "--encrypted-regex",
                "^(data|stringData)$",
                "k8s/tls.yaml",
            ])
            .run(),
        0,
    );
    let push = |extra: &[&str]| {
        let mut c = sb.with_key();
        moto.env(&mut c);
        c.env("AWS_REGION", "us-east-1")
            .args(["external-secret", "--push"])
            .args(extra)
            .arg("k8s/tls.yaml")
            .run()
    };
    let out = push(&[]);
    assert_code(&out, 0);
    let m = &to_json(&out.stdout)[0];
    let data = &m["spec"]["data"];
    assert_eq!(data[0]["secretKey"], "cert");
    assert_eq!(data[0]["remoteRef"]["decodingStrategy"], "Base64");
    assert!(data[1]["remoteRef"].get("decodingStrategy").is_none());
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(conf);
    let stored = |key: &str| -> J {
        let v = rt()
            .block_on(client.get_secret_value().secret_id(key).send())
            .unwrap();
        serde_json::from_str(v.secret_string().unwrap()).unwrap()
    };
    assert_eq!(
        stored("shop/tls"),
        serde_json::json!({"cert": "AAEC/w==", "user": "admin"})
    );
    // The extract form: one strategy for the object, so everything is base64 there.
    let out = push(&[
        "--data-from-extract",
        "--key-template",
        "{namespace}/{name}-all",
    ]);
    assert_code(&out, 0);
    let m = &to_json(&out.stdout)[0];
    assert_eq!(
        m["spec"]["dataFrom"],
        serde_json::json!([{"extract": {"key": "shop/tls-all", "decodingStrategy": "Base64"}}])
    );
    assert_eq!(
        stored("shop/tls-all"),
        serde_json::json!({"cert": "AAEC/w==", "user": "YWRtaW4="})
    );
    // --env with a template without {env} would do nothing: refused.
    let out = sb
        .cmd()
        .args(["external-secret", "--env", "prod", "k8s/tls.yaml"])
        .run();
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("--env has no effect"),
        "{}",
        stderr(&out)
    );
}

/// A glob over a manifests directory (Secrets next to Deployments and ConfigMaps, also in one
/// multi-document file) generates ExternalSecrets for the Secrets only: another Kubernetes
/// object is not a values file, and its fields must never be pushed as secret keys.
#[test]
fn other_kubernetes_objects_are_skipped() {
    let sb = Sandbox::new();
    sb.write(
        "k8s/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n",
    );
    sb.write(
        "k8s/app.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: Zx8-qL2-vR7t-Wm4\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  foo: bar\n",
    );
    let out = sb
        .cmd()
        .args([
            "external-secret",
            "--push",
            "--dry-run",
            "k8s/app.yaml",
            "k8s/deploy.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("would push shop/db with keys password"),
        "{err}"
    );
    assert!(
        !err.contains("replicas") && !err.contains("foo") && !err.contains("settings"),
        "{err}"
    );
    let out = sb.cmd().args(["external-secret", "k8s/app.yaml"]).run();
    assert_code(&out, 0);
    let docs = to_json(stdout(&out).as_bytes());
    assert_eq!(docs.len(), 1, "{}", stdout(&out));
    assert_eq!(docs[0]["metadata"]["name"], "db");
}

/// `encrypt --kind EncryptedSecret` of a `kubectl get -o yaml` export leaves kubectl's
/// last-applied copy of the data out of the EncryptedSecret (as `encrypt -i` removes it).
#[test]
fn encrypted_secret_drops_the_last_applied_copy() {
    let sb = Sandbox::new();
    let copy = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop"},"stringData":{"password":"Zx8-qL2-vR7t-Wm4"}}"#;
    sb.write(
        "db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  annotations:\n    team: payments\n    kubectl.kubernetes.io/last-applied-configuration: '{copy}'\nstringData:\n  password: Zx8-qL2-vR7t-Wm4\n"
        ),
    );
    let out = sb
        .with_key()
        .args([
            "encrypt",
            "--kind",
            "EncryptedSecret",
            "--age",
            TEST_RECIPIENT,
            "db.yaml",
        ])
        .run();
    assert_code(&out, 0);
    sb.write("db.enc.yaml", &stdout(&out));
    let out = sb.with_key().args(["decrypt", "db.enc.yaml"]).run();
    assert_code(&out, 0);
    let plain = stdout(&out);
    assert!(plain.contains("team: payments"), "{plain}");
    assert!(!plain.contains("last-applied"), "{plain}");
}
