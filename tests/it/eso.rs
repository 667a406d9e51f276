//! ExternalSecret generation, validated against the real ESO CRD schema (read from
//! ../shared/fixtures/eso), and `--push` to AWS Secrets Manager on moto_server.

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

/// The `v1` openAPIV3Schema of the real ExternalSecret CRD.
fn eso_schema() -> J {
    let dir = std::env::var_os("SHROUD_ESO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/fixtures/eso"));
    let crd = std::fs::read(dir.join("externalsecrets.external-secrets.io.crd.yaml"))
        .expect("the ESO CRD fixture is required");
    let crd = to_json(&crd).remove(0);
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1")
        .expect("a v1 version")["schema"]["openAPIV3Schema"]
        .clone()
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
    assert_eq!(db["data"][0]["remoteRef"]["decodingStrategy"], "Base64");
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
    let out = run(&["--dry-run"]);
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("would create shop/db with keys username, password"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
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
    assert_eq!(
        obj,
        serde_json::json!({"username": "YWRtaW4=", "password": "hunter2-secret"})
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
#[test]
fn the_real_api_server_accepts_generated_external_secrets() {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, DynamicObject, PostParams};
    use kube::core::{ApiResource, GroupVersionKind};

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
    let dir = std::env::var_os("SHROUD_ESO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/fixtures/eso"));
    let mut crd =
        to_json(&std::fs::read(dir.join("externalsecrets.external-secrets.io.crd.yaml")).unwrap())
            .remove(0);
    for_old_server(&mut crd);
    rt().block_on(async {
        let client = crate::controller::client(&kubeconfig).await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("the API server refused the ESO CRD: {e}"),
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let n: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        namespaces.create(&PostParams::default(), &n).await.unwrap();
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"),
            "externalsecrets",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        // The CRD needs a moment to be served.
        let mut last = String::new();
        for d in &docs {
            let obj: DynamicObject = serde_json::from_value(d.clone()).unwrap();
            let mut created = false;
            for _ in 0..50 {
                match api.create(&PostParams::default(), &obj).await {
                    Ok(_) => {
                        created = true;
                        break;
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        last = e.message;
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("the API server rejected a generated ExternalSecret: {e}"),
                }
            }
            assert!(created, "ExternalSecret API never became available: {last}");
        }
        let list = api.list(&Default::default()).await.unwrap();
        assert_eq!(list.items.len(), docs.len());
        // The server does validate against the schema: a bad enum is refused.
        let mut bad = docs[0].clone();
        bad["metadata"]["name"] = J::from("bad");
        bad["spec"]["target"]["creationPolicy"] = J::from("Bogus");
        let obj: DynamicObject = serde_json::from_value(bad).unwrap();
        match api.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{}", e.message),
            other => panic!("an invalid ExternalSecret was accepted: {other:?}"),
        }
    });
}
