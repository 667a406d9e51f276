//! `shroud-controller` against a real kube-apiserver v1.20.2 and kube-controller-manager v1.20.2
//! (garbage collector, namespace controller), started by `scripts/test-controller.sh`. The
//! script applies `deploy/kube-1.20` and sets `SHROUD_TEST_KUBECONFIG` (admin, used by the tests
//! themselves) and `SHROUD_TEST_SA_KUBECONFIG` (a token of the ServiceAccount the manifests
//! create): every controller here runs as that ServiceAccount, so RBAC is exercised by every
//! scenario. Without the variables a test fails under CI and is skipped locally.
//!
//! Every documented mode runs the real binary as that mode starts it and passes the same
//! scenario suite, then a SIGTERM check. Tests named `all_namespaces_*` watch every namespace and
//! must run alone (the script runs them after deleting the other tests' namespaces).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};

use crate::util::{Sandbox, TEST_RECIPIENT, TEST_RECIPIENT2, missing, test_key, test_key2};

/// The namespace the manifests install the controller into (its Lease and ConfigMap live there).
const CONTROLLER_NS: &str = "shroud-system";
const RECIPIENTS_CM: &str = "shroud-controller-recipients";

pub(crate) fn kubeconfig() -> Option<PathBuf> {
    std::env::var_os("SHROUD_TEST_KUBECONFIG").map(PathBuf::from)
}

/// The test cluster: the admin kubeconfig and the controller ServiceAccount's.
pub struct Cluster {
    pub admin: PathBuf,
    pub sa: PathBuf,
}

fn cluster() -> Option<Cluster> {
    let admin = kubeconfig()?;
    let sa = std::env::var_os("SHROUD_TEST_SA_KUBECONFIG")
        .map(PathBuf::from)
        .expect("SHROUD_TEST_SA_KUBECONFIG must be set with SHROUD_TEST_KUBECONFIG (scripts/test-controller.sh)");
    Some(Cluster { admin, sa })
}

macro_rules! need_cluster {
    () => {
        match cluster() {
            Some(c) => c,
            None => {
                missing("SHROUD_TEST_KUBECONFIG (a real API server)");
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

/// A name unique to this run and test.
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

/// Installs the CRD (idempotent; the script already applied it with the manifests) and a
/// fresh namespace labelled as a test namespace (the script deletes them before the
/// all-namespaces tests).
async fn setup(c: &Client, ns: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    match crds
        .create(&PostParams::default(), &shroud::k8s::crd::crd())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create CRD: {e}"),
    }
    let nss: Api<Namespace> = Api::all(c.clone());
    let n = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            labels: Some([("shroud.dev/test".to_owned(), "true".to_owned())].into()),
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

/// Whether `f` held within `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
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

fn plain_secret(
    name: &str,
    ns: &str,
    type_: &str,
    string_data: &[(&str, &str)],
) -> serde_json::Value {
    let mut sd = serde_json::Map::new();
    for (k, v) in string_data {
        sd.insert((*k).into(), json!(v));
    }
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "demo"}, "annotations": {"note": "n"}},
        "type": type_,
        "stringData": sd,
    })
}

/// Encrypts a Secret manifest into an EncryptedSecret with the `shroud` CLI; returns JSON.
pub fn encrypt_es(
    sb: &Sandbox,
    name: &str,
    ns: &str,
    string_data: &[(&str, &str)],
    recipient: &str,
) -> Value {
    encrypt_with(
        sb,
        &plain_secret(name, ns, "Opaque", string_data),
        &["--age", recipient],
        &[],
    )
}

/// `shroud encrypt --kind EncryptedSecret ARGS` of `secret` with extra environment.
fn encrypt_with(sb: &Sandbox, secret: &Value, args: &[&str], env: &[(&str, &str)]) -> Value {
    let name = secret["metadata"]["name"].as_str().unwrap();
    let ns = secret["metadata"]["namespace"].as_str().unwrap();
    let file = format!("{name}-{ns}.json");
    sb.write(&file, &secret.to_string());
    let mut cmd = sb.cmd();
    cmd.args(["encrypt", "--kind", "EncryptedSecret"])
        .args(args)
        .arg(&file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("shroud runs");
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

/// How a controller process is started (what its Deployment or a mode's flags would give it).
#[derive(Clone, Default)]
pub struct Opts {
    /// `--namespace` (None: all namespaces, as the Deployment runs).
    pub namespace: Option<String>,
    /// `--lease-name` (None: `--no-leader-election`).
    pub lease: Option<String>,
    pub extra: Vec<String>,
    pub key_files: Vec<PathBuf>,
    pub key_dirs: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Publish the recipients ConfigMap (only one test at a time may: it is one object).
    pub publish: bool,
}

impl Opts {
    /// A leader-electing controller restricted to `ns` with the main test key.
    fn namespaced(ns: &str) -> Opts {
        Opts {
            namespace: Some(ns.into()),
            lease: Some(format!("lease-{ns}")),
            key_files: vec![test_key()],
            ..Default::default()
        }
    }

    fn with(mut self, args: &[&str]) -> Opts {
        self.extra.extend(args.iter().map(|s| (*s).to_owned()));
        self
    }
}

/// A controller process (as the controller's ServiceAccount), killed on drop; its log is kept
/// in a file and printed when the test fails.
pub struct Ctl {
    child: Child,
    pub port: u16,
    pub identity: String,
    pub lease: Option<String>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Ctl {
    pub fn start(kubeconfig: &Path, o: &Opts) -> Ctl {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("controller.log");
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let identity = format!("shroud-controller-{}-{n}", std::process::id());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shroud-controller"));
        // As the Deployment: POD_NAME and POD_NAMESPACE from the downward API.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", &identity)
            .env("POD_NAMESPACE", CONTROLLER_NS)
            .env("SHROUD_LOG", "info")
            .args(["--log-format", "text"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        if let Some(ns) = &o.namespace {
            cmd.args(["--namespace", ns]);
        }
        match &o.lease {
            Some(l) => cmd.args(["--lease-name", l]),
            None => cmd.arg("--no-leader-election"),
        };
        if !o.publish {
            cmd.arg("--recipients-configmap=");
        }
        cmd.args(&o.extra);
        for k in &o.key_files {
            cmd.arg("--age-key-file").arg(k);
        }
        for d in &o.key_dirs {
            cmd.arg("--age-key-dir").arg(d);
        }
        for (k, v) in &o.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("controller starts");
        Ctl {
            child,
            port,
            identity,
            lease: o.lease.clone(),
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out.split_once("\r\n\r\n")?.1.to_owned())
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

    fn objects(&self, reason: &str) -> f64 {
        self.metric(&format!("shroud_objects{{reason=\"{reason}\"}}"))
    }

    fn writes(&self, kind: &str) -> f64 {
        self.metric(&format!("shroud_api_writes_total{{kind=\"{kind}\"}}"))
    }

    /// Sends SIGTERM and waits (at most 30 s); returns how long the exit took and the code.
    pub fn terminate(&mut self) -> (Duration, Option<i32>) {
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return (start.elapsed(), st.code());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (start.elapsed(), None)
    }

    pub fn stop(&mut self) {
        let _ = self.terminate();
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("SHROUD_TEST_CONTROLLER_LOGS").is_some() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- controller {} log (last lines) ---", self.identity);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

async fn create(c: &Client, ns: &str, doc: &Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create EncryptedSecret");
}

async fn delete_es(c: &Client, ns: &str, name: &str) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    api.delete(name, &DeleteParams::background())
        .await
        .expect("delete EncryptedSecret");
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

/// The (type, reason) of the events.k8s.io Events about `name` in `ns`.
async fn events_about(c: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(c.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
        .collect()
}

async fn lease_holder(c: &Client, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(c.clone(), CONTROLLER_NS);
    api.get_opt(name)
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Values the scenarios write; none may ever appear in a controller log.
const PLAIN_VALUES: [&str; 4] = [
    "pw-one-3d9a1c",
    "pw-two-81f0e2",
    "pw-basic-5b77",
    "pw-batch-c0de",
];

/// The scenario suite every mode passes. `other_ns` (watched too, in all-namespaces mode)
/// receives a copy of a document, which must fail strict scope.
async fn scenarios(c: &Client, ns: &str, other_ns: Option<&str>, ctl: &Ctl, events: bool) {
    let sb = Sandbox::new();
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);

    // create → Secret appears with the right data, labels, annotations and owner.
    let mut v1 = encrypt_es(
        &sb,
        "db",
        ns,
        &[("password", PLAIN_VALUES[0]), ("user", "admin")],
        TEST_RECIPIENT,
    );
    // What Flux adds to the objects it applies, and the opt-out of its own sops decryption:
    // metadata outside the MAC-covered document, so the object still verifies.
    v1["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": "apps"});
    v1["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/decrypt": "disabled"});
    create(c, ns, &v1).await;
    wait_reason(c, ns, "db", "Decrypted").await;
    assert_eq!(
        secret_data(c, ns, "db").await.unwrap(),
        map(&[("password", PLAIN_VALUES[0]), ("user", "admin")])
    );
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
    if events {
        wait_for(
            "a Normal Created event",
            Duration::from_secs(20),
            || async {
                events_about(c, ns, "db")
                    .await
                    .contains(&("Normal".into(), "Created".into()))
            },
        )
        .await;
    }

    // update → Secret updated.
    let v2 = encrypt_es(
        &sb,
        "db",
        ns,
        &[("password", PLAIN_VALUES[1])],
        TEST_RECIPIENT,
    );
    update(c, ns, "db", &v2).await;
    wait_for("secret updated", Duration::from_secs(30), || async {
        secret_data(c, ns, "db").await == Some(map(&[("password", PLAIN_VALUES[1])]))
    })
    .await;
    wait_reason(c, ns, "db", "Decrypted").await;

    // tampered ciphertext → IntegrityFailure, Secret unchanged.
    let before = secrets.get("db").await.unwrap();
    let mut bad = v2.clone();
    let enc = bad["spec"]["stringData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let i = enc.find("data:").unwrap() + 5;
    let flipped = if &enc[i..i + 1] == "A" { "B" } else { "A" };
    bad["spec"]["stringData"]["password"] =
        json!(format!("{}{}{}", &enc[..i], flipped, &enc[i + 1..]));
    update(c, ns, "db", &bad).await;
    wait_reason(c, ns, "db", "IntegrityFailure").await;
    let after = secrets.get("db").await.unwrap();
    assert_eq!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );
    if events {
        wait_for(
            "a Warning IntegrityFailure event",
            Duration::from_secs(20),
            || async {
                events_about(c, ns, "db")
                    .await
                    .contains(&("Warning".into(), "IntegrityFailure".into()))
            },
        )
        .await;
    }

    // back to a good document
    update(c, ns, "db", &v2).await;
    wait_reason(c, ns, "db", "Decrypted").await;

    // hand-edited Secret → restored; deleted Secret → restored.
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
        || async { secret_data(c, ns, "db").await == Some(map(&[("password", PLAIN_VALUES[1])])) },
    )
    .await;
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "deleted secret restored",
        Duration::from_secs(30),
        || async { secret_data(c, ns, "db").await == Some(map(&[("password", PLAIN_VALUES[1])])) },
    )
    .await;

    // Strict scope: the same document renamed, or copied into another watched namespace.
    let mut renamed = v2.clone();
    renamed["metadata"]["name"] = json!("db-copy");
    create(c, ns, &renamed).await;
    wait_reason(c, ns, "db-copy", "IntegrityFailure").await;
    assert!(secret_data(c, ns, "db-copy").await.is_none());
    let mut integrity_failures = 1.0;
    if let Some(other) = other_ns {
        let mut copy = v2.clone();
        copy["metadata"]["namespace"] = json!(other);
        create(c, other, &copy).await;
        wait_reason(c, other, "db", "IntegrityFailure").await;
        assert!(secret_data(c, other, "db").await.is_none());
        integrity_failures += 1.0;
    }

    // Encrypted only for a key the controller does not hold.
    let other = encrypt_es(&sb, "other", ns, &[("k", "v")], TEST_RECIPIENT2);
    create(c, ns, &other).await;
    wait_reason(c, ns, "other", "NoMatchingKey").await;
    assert!(secret_data(c, ns, "other").await.is_none());

    // A type change (immutable in Kubernetes) replaces the Secret.
    let basic = |t: &str| {
        encrypt_with(
            &sb,
            &plain_secret(
                "basic",
                ns,
                t,
                &[("username", "u"), ("password", PLAIN_VALUES[2])],
            ),
            &["--age", TEST_RECIPIENT],
            &[],
        )
    };
    create(c, ns, &basic("Opaque")).await;
    wait_reason(c, ns, "basic", "Decrypted").await;
    update(c, ns, "basic", &basic("kubernetes.io/basic-auth")).await;
    wait_for("secret type replaced", Duration::from_secs(30), || async {
        secrets
            .get_opt("basic")
            .await
            .ok()
            .flatten()
            .and_then(|s| s.type_)
            .as_deref()
            == Some("kubernetes.io/basic-auth")
    })
    .await;
    wait_reason(c, ns, "basic", "Decrypted").await;

    // A batch at once: all Ready with exactly one Secret write and one status write each.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (secret_w, status_w) = (ctl.writes("secret"), ctl.writes("status"));
    let batch = 12;
    let docs: Vec<Value> = (0..batch)
        .map(|i| {
            encrypt_es(
                &sb,
                &format!("b{i}"),
                ns,
                &[("v", PLAIN_VALUES[3])],
                TEST_RECIPIENT,
            )
        })
        .collect();
    futures::future::join_all(docs.iter().map(|d| create(c, ns, d))).await;
    for i in 0..batch {
        wait_reason(c, ns, &format!("b{i}"), "Decrypted").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ctl.writes("secret") - secret_w,
        f64::from(batch),
        "secret writes"
    );
    assert_eq!(
        ctl.writes("status") - status_w,
        f64::from(batch),
        "status writes"
    );

    // Gauges: objects by reason.
    let decrypted = f64::from(batch) + 2.0; // db, basic, the batch
    wait_for("object gauges", Duration::from_secs(20), || async {
        ctl.objects("Decrypted") == decrypted
            && ctl.objects("IntegrityFailure") == integrity_failures
            && ctl.objects("NoMatchingKey") == 1.0
    })
    .await;

    // Deleting an EncryptedSecret deletes its Secret (garbage collection, ownerReference).
    delete_es(c, ns, "db").await;
    wait_for(
        "the garbage collector deletes the owned Secret",
        Duration::from_secs(90),
        || async { secrets.get_opt("db").await.unwrap().is_none() },
    )
    .await;

    // Deleted objects are forgotten: gauges and the per-object maps are pruned.
    delete_es(c, ns, "db-copy").await;
    delete_es(c, ns, "other").await;
    if let Some(other) = other_ns {
        delete_es(c, other, "db").await;
    }
    let pruned = wait_until(Duration::from_secs(30), || async {
        ctl.objects("Decrypted") == decrypted - 1.0
            && ctl.objects("IntegrityFailure") == 0.0
            && ctl.objects("NoMatchingKey") == 0.0
            && ctl.metric("shroud_tracked_entries{map=\"backoff\"}") == 0.0
            && ctl.metric("shroud_tracked_entries{map=\"status\"}") == decrypted - 1.0
    })
    .await;
    assert!(
        pruned,
        "per-object state of deleted objects not pruned (expected {} Decrypted):\n{}",
        decrypted - 1.0,
        ctl.metrics().unwrap_or_default()
    );

    if !events {
        let api: Api<Event> = Api::namespaced(c.clone(), ns);
        let evs = api.list(&Default::default()).await.unwrap().items;
        assert!(evs.is_empty(), "--no-events published {} events", evs.len());
        assert_eq!(ctl.writes("event"), 0.0);
    }
    let log = ctl.log();
    for v in PLAIN_VALUES {
        assert!(
            !log.contains(v),
            "a decrypted value is in the controller log"
        );
    }
}

/// Deletes namespaces and waits until the namespace controller has removed them (the next
/// all-namespaces test must not see their objects).
async fn delete_namespaces(c: &Client, names: &[&str]) {
    let nss: Api<Namespace> = Api::all(c.clone());
    for n in names {
        nss.delete(n, &DeleteParams::default()).await.unwrap();
    }
    wait_for("namespaces deleted", Duration::from_secs(120), || async {
        futures::future::join_all(names.iter().map(|n| nss.get_opt(n)))
            .await
            .into_iter()
            .all(|r| matches!(r, Ok(None)))
    })
    .await;
}

/// SIGTERM: the process exits 0 within the grace period; a Lease it held is released.
async fn sigterm(c: &Client, ctl: &mut Ctl) {
    if let Some(l) = ctl.lease.clone() {
        assert_eq!(
            lease_holder(c, &l).await.as_deref(),
            Some(ctl.identity.as_str())
        );
    }
    let (took, code) = ctl.terminate();
    assert_eq!(code, Some(0), "exit code after SIGTERM (took {took:?})");
    assert!(
        took < Duration::from_secs(20),
        "SIGTERM took {took:?} (grace: 20 s)"
    );
    if let Some(l) = ctl.lease.clone() {
        assert_eq!(lease_holder(c, &l).await, None, "Lease released");
    }
}

async fn mode_suite(base: &str, opts: impl FnOnce(&str) -> Opts, events: bool) {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq(base);
    setup(&c, ns).await;
    let mut ctl = Ctl::start(&cl.sa, &opts(ns));
    scenarios(&c, ns, None, &ctl, events).await;
    sigterm(&c, &mut ctl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_leader_election_namespaced() {
    mode_suite("t-leader-ns", Opts::namespaced, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_single_replica_no_leader_election() {
    mode_suite(
        "t-single",
        |ns| Opts {
            lease: None,
            ..Opts::namespaced(ns)
        },
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_no_events() {
    mode_suite(
        "t-noevents",
        |ns| Opts::namespaced(ns).with(&["--no-events"]),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_concurrency_1() {
    mode_suite(
        "t-conc1",
        |ns| Opts::namespaced(ns).with(&["--concurrency", "1"]),
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_concurrency_32_single_replica() {
    mode_suite(
        "t-conc32",
        |ns| Opts {
            lease: None,
            ..Opts::namespaced(ns).with(&["--concurrency", "32"])
        },
        true,
    )
    .await;
}

/// Exactly as deploy/ runs it: all namespaces, leader election on the Lease
/// `shroud-controller`, keys from a mounted Secret directory, recipients published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_deployment_mode() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let (a, b) = (&uniq("t-all-a"), &uniq("t-all-b"));
    setup(&c, a).await;
    setup(&c, b).await;
    let keys = tempfile::tempdir().unwrap();
    mounted_secret(keys.path(), "v1", &[test_key()]);
    let mut ctl = Ctl::start(
        &cl.sa,
        &Opts {
            lease: Some("shroud-controller".into()),
            key_dirs: vec![keys.path().to_owned()],
            publish: true,
            ..Default::default()
        },
    );
    scenarios(&c, a, Some(b), &ctl, true).await;
    sigterm(&c, &mut ctl).await;
    delete_namespaces(&c, &[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_single_replica() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let (a, b) = (&uniq("t-all1-a"), &uniq("t-all1-b"));
    setup(&c, a).await;
    setup(&c, b).await;
    let mut ctl = Ctl::start(
        &cl.sa,
        &Opts {
            key_files: vec![test_key()],
            ..Default::default()
        },
    );
    scenarios(&c, a, Some(b), &ctl, true).await;
    sigterm(&c, &mut ctl).await;
    delete_namespaces(&c, &[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_scope_across_namespaces() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let (a, b) = (&uniq("t-scope-a"), &uniq("t-scope-b"));
    setup(&c, a).await;
    setup(&c, b).await;
    let sb = Sandbox::new();
    let _ca = Ctl::start(&cl.sa, &Opts::namespaced(a));
    let _cb = Ctl::start(&cl.sa, &Opts::namespaced(b));

    let doc = encrypt_es(&sb, "api", a, &[("token", "t0k")], TEST_RECIPIENT);
    create(&c, a, &doc).await;
    wait_reason(&c, a, "api", "Decrypted").await;
    let mut copy = doc.clone();
    copy["metadata"]["namespace"] = json!(b);
    create(&c, b, &copy).await;
    wait_reason(&c, b, "api", "IntegrityFailure").await;
    assert!(secret_data(&c, b, "api").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_window_and_restart_without_writes() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq("t-restart");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let opts = Opts {
        key_files: vec![test_key(), test_key2()],
        ..Opts::namespaced(ns)
    };
    let mut ctl = Ctl::start(&cl.sa, &opts);
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
    assert_eq!(ctl.writes("secret"), 5.0);
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    let rvs = || async {
        secrets
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.metadata.resource_version)
            .collect::<Vec<_>>()
    };
    let rv_before = rvs().await;
    ctl.stop();

    let ctl2 = Ctl::start(&cl.sa, &opts);
    wait_for(
        "restarted controller reconciled all",
        Duration::from_secs(30),
        || async { ctl2.metric("shroud_reconciles_total") >= 5.0 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for kind in ["secret", "status", "event"] {
        assert_eq!(ctl2.writes(kind), 0.0, "{kind} writes after restart");
    }
    assert_eq!(rv_before, rvs().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leader_and_failover() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq("t-leader");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let opts = Opts::namespaced(ns).with(&["--lease-seconds", "6"]);
    let r1 = Ctl::start(&cl.sa, &opts);
    let r2 = Ctl::start(&cl.sa, &opts);
    wait_for("one leader", Duration::from_secs(30), || async {
        r1.metric("shroud_leader") + r2.metric("shroud_leader") == 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(r1.metric("shroud_leader") + r2.metric("shroud_leader"), 1.0);

    let doc = encrypt_es(&sb, "x", ns, &[("k", "v1")], TEST_RECIPIENT);
    create(&c, ns, &doc).await;
    wait_reason(&c, ns, "x", "Decrypted").await;
    let (mut leader, follower) = if r1.metric("shroud_leader") == 1.0 {
        (r1, r2)
    } else {
        (r2, r1)
    };
    assert!(leader.metric("shroud_reconciles_total") > 0.0);
    assert_eq!(
        follower.metric("shroud_reconciles_total"),
        0.0,
        "only the leader reconciles"
    );
    assert_eq!(follower.writes("secret") + follower.writes("status"), 0.0);

    // SIGTERM the leader: it releases the Lease, so the follower takes over well before the
    // Lease would have expired.
    sigterm(&c, &mut leader).await;
    let start = Instant::now();
    wait_for("follower leads", Duration::from_secs(20), || async {
        follower.metric("shroud_leader") == 1.0
    })
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "takeover took {:?}",
        start.elapsed()
    );
    let v2 = encrypt_es(&sb, "x", ns, &[("k", "v2")], TEST_RECIPIENT);
    update(&c, ns, "x", &v2).await;
    wait_for("new leader applies", Duration::from_secs(30), || async {
        secret_data(&c, ns, "x").await == Some(map(&[("k", "v2")]))
    })
    .await;
    let mut follower = follower;
    sigterm(&c, &mut follower).await;
}

/// The ServiceAccount of the manifests may do what the controller needs and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_denies_verbs_outside_the_role() {
    let cl = need_cluster!();
    let admin = client(&cl.admin).await;
    let ns = &uniq("t-rbac");
    setup(&admin, ns).await;
    let sa = client(&cl.sa).await;
    let forbidden = |r: kube::Result<()>, what: &str| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    };
    // Granted: listing Secrets and EncryptedSecrets.
    Api::<Secret>::namespaced(sa.clone(), ns)
        .list(&Default::default())
        .await
        .expect("the ServiceAccount lists Secrets");
    Api::<DynamicObject>::namespaced_with(sa.clone(), ns, &es_resource())
        .list(&Default::default())
        .await
        .expect("the ServiceAccount lists EncryptedSecrets");
    // Denied: everything else.
    let es = Api::<DynamicObject>::namespaced_with(sa.clone(), ns, &es_resource());
    forbidden(
        es.delete("x", &DeleteParams::default()).await.map(|_| ()),
        "delete an EncryptedSecret",
    );
    let doc = encrypt_es(&Sandbox::new(), "x", ns, &[("k", "v")], TEST_RECIPIENT);
    let obj: DynamicObject = serde_json::from_value(doc).unwrap();
    forbidden(
        es.create(&PostParams::default(), &obj).await.map(|_| ()),
        "create an EncryptedSecret",
    );
    forbidden(
        Api::<ConfigMap>::namespaced(sa.clone(), ns)
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list ConfigMaps",
    );
    forbidden(
        Api::<ConfigMap>::namespaced(sa.clone(), CONTROLLER_NS)
            .get("kube-root-ca.crt")
            .await
            .map(|_| ()),
        "get another ConfigMap in shroud-system",
    );
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
    )
    .unwrap();
    forbidden(
        Api::<Pod>::namespaced(sa.clone(), ns)
            .create(&PostParams::default(), &pod)
            .await
            .map(|_| ()),
        "create a Pod",
    );
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {}})).unwrap();
    forbidden(
        Api::<Lease>::namespaced(sa.clone(), ns)
            .create(&PostParams::default(), &lease)
            .await
            .map(|_| ()),
        "create a Lease outside shroud-system",
    );
    forbidden(
        Api::<Namespace>::all(sa.clone())
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list Namespaces",
    );
}

/// A mounted Secret as a kubelet lays it out: `..TS/` holds the files, `..data` points at it,
/// and each entry is a symlink through `..data`. Re-laying it swaps `..data` atomically.
fn mounted_secret(dir: &Path, version: &str, keys: &[PathBuf]) {
    let ts = format!("..{version}");
    std::fs::create_dir_all(dir.join(&ts)).unwrap();
    let mut text = String::new();
    for k in keys {
        text.push_str(&std::fs::read_to_string(k).unwrap());
    }
    std::fs::write(dir.join(&ts).join("keys.txt"), text).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if std::fs::symlink_metadata(dir.join("keys.txt")).is_err() {
        std::os::unix::fs::symlink("..data/keys.txt", dir.join("keys.txt")).unwrap();
    }
}

async fn published(c: &Client) -> Option<String> {
    Api::<ConfigMap>::namespaced(c.clone(), CONTROLLER_NS)
        .get_opt(RECIPIENTS_CM)
        .await
        .unwrap()
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove("recipients.txt"))
}

/// Keys: a changed key Secret is reloaded without a restart; the recipients are published and
/// `shroud encrypt --fetch-recipients` encrypts for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_secret_reload_and_published_recipients() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq("t-reload");
    setup(&c, ns).await;
    let keys = tempfile::tempdir().unwrap();
    mounted_secret(keys.path(), "v1", &[test_key()]);
    let ctl = Ctl::start(
        &cl.sa,
        &Opts {
            key_files: vec![],
            key_dirs: vec![keys.path().to_owned()],
            publish: true,
            ..Opts::namespaced(ns).with(&["--key-reload-seconds", "1"])
        },
    );
    wait_for("recipients published", Duration::from_secs(30), || async {
        published(&c).await.as_deref() == Some(&format!("{TEST_RECIPIENT}\n"))
    })
    .await;

    // A developer encrypts for what the cluster publishes (admin kubeconfig, as a person).
    let sb = Sandbox::new();
    let kc = cl.admin.to_string_lossy().into_owned();
    let fetched = encrypt_with(
        &sb,
        &plain_secret("fetched", ns, "Opaque", &[("k", "v")]),
        &["--fetch-recipients"],
        &[("KUBECONFIG", &kc)],
    );
    let recips = |d: &Value| -> Vec<String> {
        d["sops"]["age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["recipient"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(recips(&fetched), vec![TEST_RECIPIENT.to_owned()]);
    create(&c, ns, &fetched).await;
    wait_reason(&c, ns, "fetched", "Decrypted").await;

    // Encrypted for a key the controller does not hold yet.
    let later = encrypt_es(&sb, "later", ns, &[("k", "v")], TEST_RECIPIENT2);
    create(&c, ns, &later).await;
    wait_reason(&c, ns, "later", "NoMatchingKey").await;

    // The Secret gains the second identity: reloaded, the object is Decrypted, no restart.
    let pid_before = ctl.child.id();
    mounted_secret(keys.path(), "v2", &[test_key(), test_key2()]);
    wait_reason(&c, ns, "later", "Decrypted").await;
    assert_eq!(secret_data(&c, ns, "later").await, Some(map(&[("k", "v")])));
    assert_eq!(ctl.child.id(), pid_before);
    assert_eq!(ctl.metric("shroud_key_reloads_total{result=\"ok\"}"), 1.0);
    assert_eq!(ctl.metric("shroud_age_identities"), 2.0);
    let mut both = vec![TEST_RECIPIENT.to_owned(), TEST_RECIPIENT2.to_owned()];
    both.sort();
    wait_for(
        "new recipients published",
        Duration::from_secs(30),
        || async { published(&c).await == Some(format!("{}\n{}\n", both[0], both[1])) },
    )
    .await;
    let fetched2 = encrypt_with(
        &sb,
        &plain_secret("fetched2", ns, "Opaque", &[("k", "v")]),
        &[&format!(
            "--fetch-recipients={CONTROLLER_NS}/{RECIPIENTS_CM}"
        )],
        &[("KUBECONFIG", &kc)],
    );
    let mut got = recips(&fetched2);
    got.sort();
    assert_eq!(got, both);

    // A broken key file is refused: the previous keys stay in use.
    let broken = sb.path("broken.txt");
    std::fs::write(&broken, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    mounted_secret(
        keys.path(),
        "v3",
        &[test_key(), test_key2(), broken.clone()],
    );
    wait_for("reload error counted", Duration::from_secs(20), || async {
        ctl.metric("shroud_key_reloads_total{result=\"error\"}") >= 1.0
    })
    .await;
    assert_eq!(ctl.metric("shroud_age_identities"), 2.0);
    let after = encrypt_es(&sb, "after", ns, &[("k", "v")], TEST_RECIPIENT2);
    create(&c, ns, &after).await;
    wait_reason(&c, ns, "after", "Decrypted").await;
    let log = ctl.log();
    for k in [test_key(), test_key2(), broken] {
        for line in std::fs::read_to_string(k).unwrap().lines() {
            let line = line.trim();
            if line.starts_with("AGE-SECRET-KEY-1") {
                assert!(!log.contains(line), "key material in the log");
            }
        }
    }
}

/// AWS KMS: the data key is unwrapped through the standard credential chain (moto_server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kms_through_the_credential_chain() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq("t-kms");
    setup(&c, ns).await;
    let (moto, arn) = tokio::task::spawn_blocking(|| {
        let m = crate::kms::Moto::start();
        let arn = m.create_key("eu-central-1");
        (m, arn)
    })
    .await
    .unwrap();
    let endpoint = moto.endpoint.clone();
    let aws_env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let sb = Sandbox::new();
    let doc = encrypt_with(
        &sb,
        &plain_secret("kms", ns, "Opaque", &[("token", "kms-plain-9f2b")]),
        &["--kms", &arn],
        &aws_env,
    );
    assert!(doc["sops"]["age"].as_array().is_none_or(|a| a.is_empty()));
    let ctl = Ctl::start(
        &cl.sa,
        &Opts {
            key_files: vec![],
            env: aws_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Opts::namespaced(ns)
        },
    );
    create(&c, ns, &doc).await;
    wait_reason(&c, ns, "kms", "Decrypted").await;
    assert_eq!(
        secret_data(&c, ns, "kms").await,
        Some(map(&[("token", "kms-plain-9f2b")]))
    );
    assert_eq!(
        ctl.metric("shroud_datakey_cache_total{result=\"miss\"}"),
        1.0
    );
    assert!(!ctl.log().contains("kms-plain-9f2b"));
    drop(moto);
}

/// The alert rules are valid (`promtool check rules`), every metric they name is served by a
/// real controller, and the exposition passes `promtool check metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_match_served_metrics() {
    let cl = need_cluster!();
    if Command::new("promtool").arg("--version").output().is_err() {
        missing("promtool (Debian prometheus)");
        return;
    }
    let c = client(&cl.admin).await;
    let ns = &uniq("t-alerts");
    setup(&c, ns).await;
    let sb = Sandbox::new();
    let ctl = Ctl::start(&cl.sa, &Opts::namespaced(ns));
    create(
        &c,
        ns,
        &encrypt_es(&sb, "ok", ns, &[("k", "v")], TEST_RECIPIENT),
    )
    .await;
    create(
        &c,
        ns,
        &encrypt_es(&sb, "nokey", ns, &[("k", "v")], TEST_RECIPIENT2),
    )
    .await;
    wait_reason(&c, ns, "ok", "Decrypted").await;
    wait_reason(&c, ns, "nokey", "NoMatchingKey").await;
    wait_for("failure counted", Duration::from_secs(20), || async {
        ctl.objects("NoMatchingKey") == 1.0
    })
    .await;
    let exposition = ctl.metrics().unwrap();

    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut served = std::collections::BTreeSet::new();
    for l in exposition.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            served.insert(name.to_owned());
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    served.insert(format!("{name}{s}"));
                }
            }
        }
    }
    let rule_file = crate::util::root().join("deploy/monitoring/prometheusrule.yaml");
    let rule = yaml_to_json(&std::fs::read(&rule_file).unwrap());
    assert_eq!(rule["kind"], "PrometheusRule");
    let rules_path = sb.write("rules.json", &rule["spec"].to_string());
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name_re = regex::Regex::new(r"shroud_[a-z_]+").unwrap();
    let mut alerts = 0;
    for g in rule["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let expr = r["expr"].as_str().unwrap();
            let names: Vec<&str> = name_re.find_iter(expr).map(|m| m.as_str()).collect();
            assert!(!names.is_empty(), "{expr} names no shroud metric");
            for n in names {
                assert!(
                    served.contains(n),
                    "alert {} uses {n}, which /metrics does not serve ({served:?})",
                    r["alert"]
                );
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 3);
}

/// The shutdown deadline: an API server that accepts connections and never answers keeps the
/// controller waiting, and SIGTERM still ends it after `--shutdown-grace-seconds` (it used to
/// ignore SIGTERM for good). Needs no cluster.
#[test]
fn sigterm_exits_after_the_grace_period_when_the_api_server_hangs() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let sb = Sandbox::new();
    let kc = sb.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    );
    let mut ctl = Ctl::start(
        &kc,
        &Opts {
            lease: None,
            ..Opts::namespaced("hang").with(&["--shutdown-grace-seconds", "2"])
        },
    );
    let start = Instant::now();
    while ctl.metrics().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never served /metrics"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (took, code) = ctl.terminate();
    assert_eq!(code, Some(1), "exit code after the grace period");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "exited after {took:?} (grace: 2 s)"
    );
    assert!(
        ctl.log()
            .contains("graceful shutdown did not finish in time")
    );
    drop(silent);
}
