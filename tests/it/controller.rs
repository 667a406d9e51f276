//! `shroud-controller` against a real kube-apiserver v1.20.2 (started by
//! `scripts/test-controller.sh`, which sets `SHROUD_TEST_KUBECONFIG`). Without that variable
//! these tests return early: `cargo test` alone has no API server.
//!
//! Every test uses its own namespace and its own controller process(es) restricted to it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};

use crate::util::{Sandbox, TEST_RECIPIENT, TEST_RECIPIENT2, test_key, test_key2};

pub(crate) fn kubeconfig() -> Option<PathBuf> {
    std::env::var_os("SHROUD_TEST_KUBECONFIG").map(PathBuf::from)
}

macro_rules! need_server {
    () => {
        match kubeconfig() {
            Some(k) => k,
            None => {
                eprintln!(
                    "skipped: SHROUD_TEST_KUBECONFIG is not set (run scripts/test-controller.sh)"
                );
                return;
            }
        }
    };
}

pub(crate) async fn client(path: &PathBuf) -> Client {
    let kc = Kubeconfig::read_from(path).expect("kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(cfg).expect("client")
}

/// A namespace name unique to this run (namespaces are never cleaned up: the test server has no
/// namespace controller).
fn uniq(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

fn es_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "shroud.dev",
        "v1alpha1",
        "EncryptedSecret",
    ))
}

/// Installs the CRD (idempotent) and a fresh namespace.
async fn setup(c: &Client, ns: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let crd = shroud::k8s::crd::crd();
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create CRD: {e}"),
    }
    let nss: Api<Namespace> = Api::all(c.clone());
    let n = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match nss.create(&PostParams::default(), &n).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create namespace: {e}"),
    }
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    wait_for("CRD established", Duration::from_secs(30), || async {
        api.list(&Default::default()).await.is_ok()
    })
    .await;
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Encrypts a Secret manifest into an EncryptedSecret with the `shroud` CLI; returns JSON.
pub fn encrypt_es(
    sb: &Sandbox,
    name: &str,
    ns: &str,
    string_data: &[(&str, &str)],
    recipient: &str,
) -> Value {
    let mut sd = serde_json::Map::new();
    for (k, v) in string_data {
        sd.insert((*k).into(), json!(v));
    }
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "demo"}, "annotations": {"note": "n"}},
        "type": "Opaque",
        "stringData": sd,
    });
    let file = format!("{name}-{ns}.json");
    sb.write(&file, &secret.to_string());
    let out = sb
        .cmd()
        .args([
            "encrypt",
            "--kind",
            "EncryptedSecret",
            "--age",
            recipient,
            &file,
        ])
        .output()
        .expect("shroud runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_to_json(&out.stdout)
}

pub fn yaml_to_json(yaml: &[u8]) -> Value {
    use shroud::store::{EmitOptions, Format, emit_plain, load_plain};
    let tree = load_plain(Format::Yaml, yaml).expect("yaml");
    serde_json::from_slice(&emit_plain(Format::Json, &tree, EmitOptions::default()).unwrap())
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A controller process, killed on drop.
pub struct Ctl {
    child: Child,
    pub port: u16,
}

impl Ctl {
    pub fn start(kubeconfig: &PathBuf, ns: &str, extra: &[&str], keys: &[PathBuf]) -> Ctl {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shroud-controller"));
        cmd.env("KUBECONFIG", kubeconfig)
            .env("SHROUD_LOG", "info")
            .args([
                "--namespace",
                ns,
                "--lease-namespace",
                ns,
                "--log-format",
                "text",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                if std::env::var_os("SHROUD_TEST_CONTROLLER_LOGS").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                },
            );
        for k in keys {
            cmd.arg("--age-key-file").arg(k);
        }
        let child = cmd.spawn().expect("controller starts");
        Ctl { child, port }
    }

    pub fn metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// A metric's value (0 when absent).
    pub fn metric(&self, line_prefix: &str) -> f64 {
        self.metrics()
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn stop(&mut self) {
        // SIGTERM first (graceful shutdown), then kill.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create(c: &Client, ns: &str, doc: &Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create EncryptedSecret");
}

/// Replaces spec and sops of an existing object (as `kubectl apply` of a new file would).
async fn update(c: &Client, ns: &str, name: &str, doc: &Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    // A replace, not a merge patch: a merge would keep keys the new document no longer has.
    let mut obj = api.get(name).await.expect("get EncryptedSecret");
    obj.data["spec"] = doc["spec"].clone();
    obj.data["sops"] = doc["sops"].clone();
    api.replace(name, &PostParams::default(), &obj)
        .await
        .expect("replace EncryptedSecret");
}

async fn ready(c: &Client, ns: &str, name: &str) -> Option<(String, String, i64, i64)> {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    let o = api.get_opt(name).await.ok()??;
    let generation = o.metadata.generation.unwrap_or(0);
    let st = o.data.get("status")?;
    let cond = st["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        cond["status"].as_str()?.to_owned(),
        cond["reason"].as_str()?.to_owned(),
        st["observedGeneration"].as_i64().unwrap_or(-1),
        generation,
    ))
}

async fn wait_reason(c: &Client, ns: &str, name: &str, reason: &str) {
    wait_for(
        &format!("{ns}/{name} reason {reason}"),
        Duration::from_secs(30),
        || async {
            matches!(ready(c, ns, name).await, Some((_, r, og, g)) if r == reason && og == g)
        },
    )
    .await;
}

async fn secret_data(c: &Client, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let api: Api<Secret> = Api::namespaced(c.clone(), ns);
    let s = api.get_opt(name).await.ok()??;
    Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect(),
    )
}

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_tamper_drift() {
    let kc = need_server!();
    let c = client(&kc).await;
    let ns = &uniq("t-lifecycle");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let _ctl = Ctl::start(&kc, ns, &[], &[test_key()]);

    // create → Secret appears with the right data, labels, annotations and owner.
    let v1 = encrypt_es(
        &sb,
        "db",
        ns,
        &[("password", "one"), ("user", "admin")],
        TEST_RECIPIENT,
    );
    create(&c, ns, &v1).await;
    wait_reason(&c, ns, "db", "Decrypted").await;
    assert_eq!(
        secret_data(&c, ns, "db").await.unwrap(),
        map(&[("password", "one"), ("user", "admin")])
    );
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    let s = secrets.get("db").await.unwrap();
    assert_eq!(s.metadata.labels.as_ref().unwrap()["app"], "demo");
    assert_eq!(s.metadata.annotations.as_ref().unwrap()["note"], "n");
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "EncryptedSecret");
    assert_eq!(owner.controller, Some(true));
    let es_api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    assert_eq!(
        Some(owner.uid.clone()),
        es_api.get("db").await.unwrap().metadata.uid
    );
    assert_eq!(s.type_.as_deref(), Some("Opaque"));

    // update → Secret updated.
    let v2 = encrypt_es(&sb, "db", ns, &[("password", "two")], TEST_RECIPIENT);
    update(&c, ns, "db", &v2).await;
    wait_for("secret updated", Duration::from_secs(30), || async {
        secret_data(&c, ns, "db").await == Some(map(&[("password", "two")]))
    })
    .await;
    wait_reason(&c, ns, "db", "Decrypted").await;

    // tampered ciphertext → IntegrityFailure, Secret unchanged.
    let before = secrets.get("db").await.unwrap();
    let mut bad = v2.clone();
    let enc = bad["spec"]["stringData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    // Flip one character of the base64 ciphertext.
    let i = enc.find("data:").unwrap() + 5;
    let flipped = if &enc[i..i + 1] == "A" { "B" } else { "A" };
    bad["spec"]["stringData"]["password"] =
        json!(format!("{}{}{}", &enc[..i], flipped, &enc[i + 1..]));
    update(&c, ns, "db", &bad).await;
    wait_reason(&c, ns, "db", "IntegrityFailure").await;
    let after = secrets.get("db").await.unwrap();
    assert_eq!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );
    assert_eq!(
        secret_data(&c, ns, "db").await.unwrap(),
        map(&[("password", "two")])
    );

    // back to a good document
    update(&c, ns, "db", &v2).await;
    wait_reason(&c, ns, "db", "Decrypted").await;

    // hand-edited Secret → restored
    secrets
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"password": "aGFja2Vk"}})),
        )
        .await
        .unwrap();
    wait_for(
        "edited secret restored",
        Duration::from_secs(30),
        || async { secret_data(&c, ns, "db").await == Some(map(&[("password", "two")])) },
    )
    .await;

    // deleted Secret → restored
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "deleted secret restored",
        Duration::from_secs(30),
        || async { secret_data(&c, ns, "db").await == Some(map(&[("password", "two")])) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_scope_and_wrong_key() {
    let kc = need_server!();
    let c = client(&kc).await;
    let (a, b) = (&uniq("t-scope-a"), &uniq("t-scope-b"));
    setup(&c, a).await;
    setup(&c, b).await;
    let sb = Sandbox::new();
    let _ca = Ctl::start(&kc, a, &["--lease-name", "scope-a"], &[test_key()]);
    let _cb = Ctl::start(&kc, b, &["--lease-name", "scope-b"], &[test_key()]);

    let doc = encrypt_es(&sb, "api", a, &[("token", "t0k")], TEST_RECIPIENT);
    create(&c, a, &doc).await;
    wait_reason(&c, a, "api", "Decrypted").await;

    // The same document copied into another namespace fails and creates nothing.
    let mut copy = doc.clone();
    copy["metadata"]["namespace"] = json!(b);
    create(&c, b, &copy).await;
    wait_reason(&c, b, "api", "IntegrityFailure").await;
    // ...and renamed in the same namespace.
    let mut renamed = doc.clone();
    renamed["metadata"]["name"] = json!("api2");
    create(&c, a, &renamed).await;
    wait_reason(&c, a, "api2", "IntegrityFailure").await;
    assert!(secret_data(&c, b, "api").await.is_none());
    assert!(secret_data(&c, a, "api2").await.is_none());

    // Encrypted only for a key the controller does not hold.
    let other = encrypt_es(&sb, "other", a, &[("k", "v")], TEST_RECIPIENT2);
    create(&c, a, &other).await;
    wait_reason(&c, a, "other", "NoMatchingKey").await;
    assert!(secret_data(&c, a, "other").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_window_and_restart_without_writes() {
    let kc = need_server!();
    let c = client(&kc).await;
    let ns = &uniq("t-restart");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let mut ctl = Ctl::start(&kc, ns, &[], &[test_key(), test_key2()]);
    for i in 0..5 {
        let r = if i % 2 == 0 {
            TEST_RECIPIENT
        } else {
            TEST_RECIPIENT2
        };
        let doc = encrypt_es(&sb, &format!("s{i}"), ns, &[("v", &format!("value{i}"))], r);
        create(&c, ns, &doc).await;
    }
    for i in 0..5 {
        wait_reason(&c, ns, &format!("s{i}"), "Decrypted").await;
    }
    assert_eq!(ctl.metric("shroud_api_writes_total{kind=\"secret\"}"), 5.0);
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    let rv_before: Vec<_> = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.metadata.resource_version)
        .collect();
    ctl.stop();

    let ctl2 = Ctl::start(&kc, ns, &[], &[test_key(), test_key2()]);
    wait_for(
        "restarted controller reconciled all",
        Duration::from_secs(30),
        || async { ctl2.metric("shroud_reconciles_total") >= 5.0 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for kind in ["secret", "status", "event"] {
        assert_eq!(
            ctl2.metric(&format!("shroud_api_writes_total{{kind=\"{kind}\"}}")),
            0.0,
            "{kind} writes after restart"
        );
    }
    let rv_after: Vec<_> = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.metadata.resource_version)
        .collect();
    assert_eq!(rv_before, rv_after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leader_and_failover() {
    let kc = need_server!();
    let c = client(&kc).await;
    let ns = &uniq("t-leader");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let args = ["--lease-seconds", "3"];
    let mut r1 = Ctl::start(&kc, ns, &args, &[test_key()]);
    let r2 = Ctl::start(&kc, ns, &args, &[test_key()]);
    wait_for("one leader", Duration::from_secs(20), || async {
        r1.metric("shroud_leader") + r2.metric("shroud_leader") == 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(r1.metric("shroud_leader") + r2.metric("shroud_leader"), 1.0);

    let doc = encrypt_es(&sb, "x", ns, &[("k", "v1")], TEST_RECIPIENT);
    create(&c, ns, &doc).await;
    wait_reason(&c, ns, "x", "Decrypted").await;
    let total = |r: &Ctl| r.metric("shroud_reconciles_total");
    let (t1, t2) = (total(&r1), total(&r2));
    assert!(
        t1 == 0.0 || t2 == 0.0,
        "only the leader reconciles ({t1}, {t2})"
    );

    // Stop the leader: the follower takes over and keeps reconciling.
    let (mut leader, follower) = if r1.metric("shroud_leader") == 1.0 {
        (r1, r2)
    } else {
        r1.stop();
        (r2, Ctl::start(&kc, ns, &args, &[test_key()]))
    };
    leader.stop();
    wait_for("follower leads", Duration::from_secs(20), || async {
        follower.metric("shroud_leader") == 1.0
    })
    .await;
    let v2 = encrypt_es(&sb, "x", ns, &[("k", "v2")], TEST_RECIPIENT);
    update(&c, ns, "x", &v2).await;
    wait_for("new leader applies", Duration::from_secs(30), || async {
        secret_data(&c, ns, "x").await == Some(map(&[("k", "v2")]))
    })
    .await;
}
