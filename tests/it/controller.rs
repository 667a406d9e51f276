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
    // Granted for rollouts: listing (and patching) the workloads; reading one, or Pods, is not.
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        apps_api(&sa, ns, kind)
            .list(&Default::default())
            .await
            .unwrap_or_else(|e| panic!("the ServiceAccount lists {kind}s: {e}"));
        forbidden(
            apps_api(&sa, ns, kind).get("x").await.map(|_| ()),
            &format!("get a {kind}"),
        );
    }
    forbidden(
        Api::<Pod>::namespaced(sa.clone(), ns)
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list Pods",
    );
    forbidden(
        apps_api(&sa, ns, "ReplicaSet")
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list ReplicaSets",
    );
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

/// A workload of `kind` (Deployment, StatefulSet, DaemonSet) named `name` whose one container
/// reads Secrets as `container` says, with `volumes`.
fn workload(kind: &str, name: &str, container: Value, volumes: Value) -> Value {
    let mut c = json!({"name": "app", "image": "example.invalid/app:1"});
    c.as_object_mut()
        .unwrap()
        .extend(container.as_object().unwrap().clone());
    let mut spec = json!({
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [c], "volumes": volumes}
        }
    });
    if kind == "StatefulSet" {
        spec["serviceName"] = json!(name);
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

fn apps_api(c: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind));
    Api::namespaced_with(c.clone(), ns, &ar)
}

async fn create_workload(c: &Client, ns: &str, w: &Value) {
    let obj: DynamicObject = serde_json::from_value(w.clone()).unwrap();
    apps_api(c, ns, w["kind"].as_str().unwrap())
        .create(&PostParams::default(), &obj)
        .await
        .expect("create workload");
}

/// (metadata.generation, the pod template's `checksum.shroud.io/SECRET` annotation).
async fn template_of(
    c: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    secret: &str,
) -> (i64, Option<String>) {
    let w = apps_api(c, ns, kind).get(name).await.unwrap();
    let cs = w.data["spec"]["template"]["metadata"]["annotations"]
        [format!("checksum.shroud.io/{secret}")]
    .as_str()
    .map(str::to_owned);
    (w.metadata.generation.unwrap_or(0), cs)
}

/// Sets annotations on an EncryptedSecret's own metadata (outside the MAC-covered document).
async fn annotate_es(c: &Client, ns: &str, name: &str, annotations: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .expect("annotate EncryptedSecret");
}

async fn condition_message(c: &Client, ns: &str, name: &str) -> String {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &es_resource());
    let o = api.get(name).await.unwrap();
    o.data["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

const ROLLOUT: &str = "shroud.io/rollout-on-change";
const ADOPT: &str = "shroud.io/adopt";

/// Rollout on change: the Deployments, StatefulSets and DaemonSets whose pod templates use the
/// Secret get a new pod template when its data changes, and only then: not when it is created,
/// not when the document is re-encrypted with the same values, not after a controller restart,
/// not for an EncryptedSecret without the annotation.
async fn rollout_scenario(c: &Client, cl: &Cluster, ns: &str, opts: &Opts) {
    let sb = Sandbox::new();
    let ws = [
        workload(
            "Deployment",
            "web",
            json!({"envFrom": [{"secretRef": {"name": "db"}}]}),
            json!([]),
        ),
        workload(
            "StatefulSet",
            "cache",
            json!({"volumeMounts": [{"name": "s", "mountPath": "/s"}]}),
            json!([{"name": "s", "secret": {"secretName": "db"}}]),
        ),
        workload(
            "DaemonSet",
            "agent",
            json!({"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}),
            json!([{"name": "p", "projected": {"sources": [{"secret": {"name": "db"}}]}}]),
        ),
        workload(
            "Deployment",
            "other",
            json!({"envFrom": [{"secretRef": {"name": "plain"}}]}),
            json!([]),
        ),
    ];
    for w in &ws {
        create_workload(c, ns, w).await;
    }
    let using = [
        ("Deployment", "web"),
        ("StatefulSet", "cache"),
        ("DaemonSet", "agent"),
    ];
    let mut ctl = Ctl::start(&cl.sa, opts);
    let with_rollout = |values: &[(&str, &str)], name: &str, on: bool| {
        let mut d = encrypt_es(&sb, name, ns, values, TEST_RECIPIENT);
        if on {
            d["metadata"]["annotations"] = json!({ROLLOUT: "true"});
        }
        d
    };
    create(
        c,
        ns,
        &with_rollout(&[("password", "roll-one-5e1")], "db", true),
    )
    .await;
    create(
        c,
        ns,
        &with_rollout(&[("password", "plain-one")], "plain", false),
    )
    .await;
    wait_reason(c, ns, "db", "Decrypted").await;
    wait_reason(c, ns, "plain", "Decrypted").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (kind, name) in using {
        assert_eq!(
            template_of(c, ns, kind, name, "db").await,
            (1, None),
            "{kind}/{name}: a new Secret restarts nothing"
        );
    }

    // A changed value: every workload using the Secret gets a new pod template.
    update(
        c,
        ns,
        "db",
        &with_rollout(&[("password", "roll-two-77c")], "db", true),
    )
    .await;
    wait_for("workloads stamped", Duration::from_secs(30), || async {
        let mut ok = true;
        for (kind, name) in using {
            ok &= template_of(c, ns, kind, name, "db").await.0 == 2;
        }
        ok
    })
    .await;
    let (_, cs) = template_of(c, ns, "Deployment", "web", "db").await;
    let cs = cs.expect("a checksum annotation");
    assert_eq!(cs.len(), 32);
    for (kind, name) in using {
        assert_eq!(
            template_of(c, ns, kind, name, "db").await,
            (2, Some(cs.clone())),
            "{kind}/{name}"
        );
    }
    assert_eq!(
        template_of(c, ns, "Deployment", "other", "db").await,
        (1, None)
    );
    assert_eq!(
        secret_data(c, ns, "db").await,
        Some(map(&[("password", "roll-two-77c")]))
    );
    wait_for("a RolledOut event", Duration::from_secs(20), || async {
        events_about(c, ns, "db")
            .await
            .contains(&("Normal".into(), "RolledOut".into()))
    })
    .await;

    // Re-encrypted with the same value (a new data key): the Secret's data is unchanged.
    let gen_before = ready(c, ns, "db").await.unwrap().3;
    update(
        c,
        ns,
        "db",
        &with_rollout(&[("password", "roll-two-77c")], "db", true),
    )
    .await;
    wait_for("re-encryption reconciled", Duration::from_secs(30), || async {
        matches!(ready(c, ns, "db").await, Some((_, r, og, g)) if r == "Decrypted" && og == g && g > gen_before)
    })
    .await;
    // A value changed in an EncryptedSecret without the annotation: nothing is restarted.
    update(
        c,
        ns,
        "plain",
        &with_rollout(&[("password", "plain-two")], "plain", false),
    )
    .await;
    wait_for("plain updated", Duration::from_secs(30), || async {
        secret_data(c, ns, "plain").await == Some(map(&[("password", "plain-two")]))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (kind, name) in using {
        assert_eq!(
            template_of(c, ns, kind, name, "db").await.0,
            2,
            "{kind}/{name}"
        );
    }
    assert_eq!(
        template_of(c, ns, "Deployment", "other", "plain").await,
        (1, None)
    );

    // A controller restart with nothing changed: no write, no restart.
    ctl.stop();
    let ctl2 = Ctl::start(&cl.sa, opts);
    wait_for(
        "restarted controller reconciled",
        Duration::from_secs(30),
        || async { ctl2.metric("shroud_reconciles_total") >= 2.0 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for kind in ["secret", "workload", "status"] {
        assert_eq!(ctl2.writes(kind), 0.0, "{kind} writes after a restart");
    }
    for (kind, name) in using {
        assert_eq!(
            template_of(c, ns, kind, name, "db").await,
            (2, Some(cs.clone()))
        );
    }
    assert!(!ctl2.log().contains("roll-two-77c"));
}

/// Adoption: a Secret nobody owns is left untouched (status, Warning Event) without the
/// annotation, and taken over in one write with it; one another controller owns is refused
/// until that owner lets go.
async fn adoption_scenario(c: &Client, cl: &Cluster, ns: &str, opts: &Opts) {
    let sb = Sandbox::new();
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    let ctl = Ctl::start(&cl.sa, opts);
    let legacy: Secret = serde_json::from_value(json!({
        "metadata": {"name": "legacy", "labels": {"team": "shop"}, "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration":
                "{\"data\":{\"password\":\"b2xkLXZhbHVlLTQ0\"}}"}},
        "stringData": {"password": "old-value-44", "extra": "added-by-hand"}
    }))
    .unwrap();
    let before = secrets
        .create(&PostParams::default(), &legacy)
        .await
        .unwrap();
    let doc = encrypt_es(
        &sb,
        "legacy",
        ns,
        &[("password", "new-value-45")],
        TEST_RECIPIENT,
    );
    create(c, ns, &doc).await;
    wait_reason(c, ns, "legacy", "SecretNotOwned").await;
    let msg = condition_message(c, ns, "legacy").await;
    assert!(
        msg.contains("no EncryptedSecret owns it") && msg.contains("shroud.io/adopt=true"),
        "{msg}"
    );
    wait_for(
        "a Warning SecretNotOwned event",
        Duration::from_secs(20),
        || async {
            events_about(c, ns, "legacy")
                .await
                .contains(&("Warning".into(), "SecretNotOwned".into()))
        },
    )
    .await;
    let untouched = secrets.get("legacy").await.unwrap();
    assert_eq!(
        untouched.metadata.resource_version,
        before.metadata.resource_version
    );

    let writes = ctl.writes("secret");
    annotate_es(c, ns, "legacy", json!({ADOPT: "true"})).await;
    wait_reason(c, ns, "legacy", "Decrypted").await;
    let adopted = secrets.get("legacy").await.unwrap();
    assert_eq!(
        adopted.metadata.uid, before.metadata.uid,
        "taken over, not re-created"
    );
    assert_eq!(
        secret_data(c, ns, "legacy").await,
        Some(map(&[("password", "new-value-45")])),
        "data replaced"
    );
    let es_uid = Api::<DynamicObject>::namespaced_with(c.clone(), ns, &es_resource())
        .get("legacy")
        .await
        .unwrap()
        .metadata
        .uid;
    let owner = &adopted.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (Some(owner.uid.clone()), owner.controller),
        (es_uid, Some(true))
    );
    let annotations = adopted.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    assert_eq!(adopted.metadata.labels.unwrap()["team"], "shop");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ctl.writes("secret") - writes, 1.0, "adopted in one write");
    wait_for("an Adopted event", Duration::from_secs(20), || async {
        events_about(c, ns, "legacy")
            .await
            .contains(&("Normal".into(), "Adopted".into()))
    })
    .await;
    // Later changes are ordinary updates (server-side apply owns the adopted fields).
    update(
        c,
        ns,
        "legacy",
        &encrypt_es(&sb, "legacy", ns, &[("token", "t-46")], TEST_RECIPIENT),
    )
    .await;
    wait_for(
        "adopted secret updated",
        Duration::from_secs(30),
        || async { secret_data(c, ns, "legacy").await == Some(map(&[("token", "t-46")])) },
    )
    .await;

    // Controlled by another object: refused even with the annotation, until it lets go.
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "holder"}})).unwrap();
    let cm = cms.create(&PostParams::default(), &cm).await.unwrap();
    let held: Secret = serde_json::from_value(json!({
        "metadata": {"name": "held", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "holder", "uid": cm.metadata.uid, "controller": true}]},
        "stringData": {"password": "held-old"}
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &held).await.unwrap();
    let mut doc = encrypt_es(&sb, "held", ns, &[("password", "held-new")], TEST_RECIPIENT);
    doc["metadata"]["annotations"] = json!({ADOPT: "true"});
    create(c, ns, &doc).await;
    wait_reason(c, ns, "held", "SecretNotOwned").await;
    let msg = condition_message(c, ns, "held").await;
    assert!(
        msg.contains("controlled by ConfigMap holder") && msg.contains("--cascade=orphan"),
        "{msg}"
    );
    assert_eq!(
        secret_data(c, ns, "held").await,
        Some(map(&[("password", "held-old")]))
    );
    cms.delete("holder", &DeleteParams::orphan()).await.unwrap();
    wait_for(
        "the garbage collector orphans it",
        Duration::from_secs(60),
        || async {
            secrets
                .get("held")
                .await
                .unwrap()
                .metadata
                .owner_references
                .is_none_or(|r| r.is_empty())
        },
    )
    .await;
    annotate_es(c, ns, "held", json!({"touched": "1"})).await;
    wait_reason(c, ns, "held", "Decrypted").await;
    assert_eq!(
        secret_data(c, ns, "held").await,
        Some(map(&[("password", "held-new")]))
    );
    let log = ctl.log();
    for v in [
        "old-value-44",
        "new-value-45",
        "held-old",
        "held-new",
        "added-by-hand",
    ] {
        assert!(!log.contains(v), "a value in the controller log");
    }
}

async fn delivery_suite(base: &str, opts: impl Fn(&str) -> Opts) {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let (a, b) = (
        &uniq(&format!("{base}-roll")),
        &uniq(&format!("{base}-adopt")),
    );
    setup(&c, a).await;
    setup(&c, b).await;
    rollout_scenario(&c, &cl, a, &opts(a)).await;
    adoption_scenario(&c, &cl, b, &opts(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_and_adoption_leader_election() {
    delivery_suite("t-deliv-le", Opts::namespaced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_and_adoption_no_leader_election() {
    delivery_suite("t-deliv-single", |ns| Opts {
        lease: None,
        ..Opts::namespaced(ns)
    })
    .await;
}

/// PGP: the controller imports the OpenPGP keys of a mounted directory into a private
/// keyring and decrypts a PGP-encrypted EncryptedSecret with them (no age key at all); a key
/// added to the mounted Secret is picked up without a restart; its private keyring is gone
/// after it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgp_keyring_from_a_mounted_directory() {
    let cl = need_cluster!();
    let c = client(&cl.admin).await;
    let ns = &uniq("t-pgp");
    setup(&c, ns).await;
    let g = crate::pgp::Gnupg::empty();
    let fpr1 = g.new_key("shroud controller one <one@example.com>", "never", "");
    let fpr2 = g.new_key("shroud controller two <two@example.com>", "never", "");
    let export = |fpr: &str| {
        let out = g
            .gpg()
            .args(["--armor", "--export-secret-keys", fpr])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let keys = tempfile::tempdir().unwrap();
    let lay = |version: &str, entries: &[(&str, Vec<u8>)]| {
        let ts = keys.path().join(format!("..{version}"));
        std::fs::create_dir_all(&ts).unwrap();
        for (n, bytes) in entries {
            std::fs::write(ts.join(n), bytes).unwrap();
            let link = keys.path().join(n);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{n}"), &link).unwrap();
            }
        }
        let tmp = keys.path().join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, keys.path().join("..data")).unwrap();
    };
    lay("v1", &[("one.asc", export(&fpr1))]);
    let tmpdir = tempfile::tempdir().unwrap();
    let sb = Sandbox::new();
    let gpg_env: Vec<(String, String)> = g.env();
    let env: Vec<(&str, &str)> = gpg_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let enc = |name: &str, fpr: &str, value: &str| {
        encrypt_with(
            &sb,
            &plain_secret(name, ns, "Opaque", &[("token", value)]),
            &["--pgp", fpr],
            &env,
        )
    };
    let doc = enc("pgp", &fpr1, "pgp-plain-31a");
    assert!(doc["sops"]["pgp"].as_array().is_some_and(|a| a.len() == 1));
    assert!(doc["sops"]["age"].as_array().is_none_or(|a| a.is_empty()));
    let opts = Opts {
        key_files: vec![],
        extra: vec![
            "--pgp-key-dir".into(),
            keys.path().display().to_string(),
            "--key-reload-seconds".into(),
            "1".into(),
        ],
        env: vec![("TMPDIR".into(), tmpdir.path().display().to_string())],
        ..Opts::namespaced(ns)
    };
    let mut ctl = Ctl::start(&cl.sa, &opts);
    create(&c, ns, &doc).await;
    wait_reason(&c, ns, "pgp", "Decrypted").await;
    assert_eq!(
        secret_data(&c, ns, "pgp").await,
        Some(map(&[("token", "pgp-plain-31a")]))
    );
    let homes = || {
        std::fs::read_dir(tmpdir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("shroud-gnupg-"))
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    assert_eq!(homes().len(), 1, "one private keyring");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&homes()[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    // For a key the controller does not hold yet: NoMatchingKey, then Decrypted once the
    // mounted Secret gains it.
    create(&c, ns, &enc("later", &fpr2, "pgp-plain-32b")).await;
    wait_reason(&c, ns, "later", "NoMatchingKey").await;
    lay(
        "v2",
        &[("one.asc", export(&fpr1)), ("two.asc", export(&fpr2))],
    );
    wait_reason(&c, ns, "later", "Decrypted").await;
    assert_eq!(ctl.metric("shroud_key_reloads_total{result=\"ok\"}"), 1.0);
    wait_for(
        "the old keyring removed",
        Duration::from_secs(20),
        || async { homes().len() == 1 },
    )
    .await;
    let (_, code) = ctl.terminate();
    assert_eq!(code, Some(0));
    assert!(homes().is_empty(), "the private keyring is removed on exit");
    let log = ctl.log();
    assert!(!log.contains("pgp-plain") && !log.contains("PRIVATE KEY"));
}

/// kubectl v1.20.2 as scripts/setup-kube.sh caches it, in a directory of its own to put first
/// on PATH as `kubectl`.
fn kubectl_dir() -> Option<tempfile::TempDir> {
    let cache = std::env::var_os("SHROUD_KUBE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/shroud")))?;
    let bin = cache.join("kubectl-v1.20.2");
    if !bin.is_file() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&bin, dir.path().join("kubectl")).unwrap();
    Some(dir)
}

/// docs/controller.md's migrations, run as written by a person with the admin kubeconfig and
/// kubectl, against the controller in the Deployment mode: a plain Secret (kubectl-applied) and a
/// Secret owned by a SealedSecret (the sealed-secrets CRD installed; its controller is not run,
/// the Secret is made as it makes them) are adopted with their uids unchanged (no downtime), the
/// SealedSecret is gone, and no plaintext file is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_migration_runbooks_as_written() {
    let cl = need_cluster!();
    let Some(kubectl) = kubectl_dir() else {
        missing("kubectl-v1.20.2 (scripts/setup-kube.sh)");
        return;
    };
    let c = client(&cl.admin).await;
    let ns = "shop";
    let nss: Api<Namespace> = Api::all(c.clone());
    if nss.get_opt(ns).await.unwrap().is_some() {
        delete_namespaces(&c, &[ns]).await;
    }
    setup(&c, ns).await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let sealed_crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {"group": "bitnami.com", "scope": "Namespaced",
            "names": {"kind": "SealedSecret", "plural": "sealedsecrets", "singular": "sealedsecret"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    match crds.create(&PostParams::default(), &sealed_crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create the SealedSecret CRD: {e}"),
    }
    let sealed_api: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "bitnami.com",
            "v1alpha1",
            "SealedSecret",
        )),
    );
    let sealed: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {"encryptedData": {"token": "AgBy3i4OJSWK+PiTySYZZA=="}}
    }))
    .unwrap();
    let mut sealed_uid = None;
    for _ in 0..50 {
        match sealed_api.create(&PostParams::default(), &sealed).await {
            Ok(o) => {
                sealed_uid = o.metadata.uid;
                break;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("create the SealedSecret: {e}"),
        }
    }
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    let plain: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
            "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"stringData\":{\"password\":\"mig-db-6d1\"}}"}},
        "stringData": {"password": "mig-db-6d1"}
    }))
    .unwrap();
    let unsealed: Secret = serde_json::from_value(json!({
        "metadata": {"name": "api", "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret", "name": "api", "uid": sealed_uid.expect("SealedSecret created"),
            "controller": true}]},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "svc", "password": "mig-api-7e2"}
    }))
    .unwrap();
    let db_uid = secrets
        .create(&PostParams::default(), &plain)
        .await
        .unwrap()
        .metadata
        .uid;
    let api_uid = secrets
        .create(&PostParams::default(), &unsealed)
        .await
        .unwrap()
        .metadata
        .uid;

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
    wait_for("recipients published", Duration::from_secs(30), || async {
        published(&c).await.is_some()
    })
    .await;

    let sb = Sandbox::new();
    let path = format!(
        "{}:{}:{}",
        kubectl.path().display(),
        Path::new(env!("CARGO_BIN_EXE_shroud"))
            .parent()
            .unwrap()
            .display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kc = cl.admin.display().to_string();
    let env = [("PATH", path.as_str()), ("KUBECONFIG", kc.as_str())];
    for blocks in [
        crate::util::doc_blocks("docs/controller.md", "Migrating from plain Secrets"),
        crate::util::doc_blocks("docs/controller.md", "Migrating from sealed-secrets"),
    ] {
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        tokio::task::block_in_place(|| crate::util::run_block_ok(sb.dir.path(), &blocks[0], &env));
    }

    for (name, uid, data) in [
        ("db", &db_uid, map(&[("password", "mig-db-6d1")])),
        (
            "api",
            &api_uid,
            map(&[("username", "svc"), ("password", "mig-api-7e2")]),
        ),
    ] {
        wait_reason(&c, ns, name, "Decrypted").await;
        let s = secrets.get(name).await.unwrap();
        assert_eq!(&s.metadata.uid, uid, "{name}: the same Secret all along");
        assert_eq!(secret_data(&c, ns, name).await, Some(data));
        let refs = s.metadata.owner_references.unwrap();
        assert_eq!(refs.len(), 1, "{name}: {refs:?}");
        assert_eq!(refs[0].kind, "EncryptedSecret");
        let a = s.metadata.annotations.unwrap_or_default();
        assert!(!a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    }
    assert_eq!(
        secrets.get("api").await.unwrap().type_.as_deref(),
        Some("kubernetes.io/basic-auth")
    );
    assert!(
        sealed_api.get_opt("api").await.unwrap().is_none(),
        "SealedSecret deleted"
    );
    let mut left: Vec<String> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["api.enc.yaml", "db.enc.yaml"],
        "no plaintext left behind"
    );
    for f in &left {
        let text = sb.read(f);
        assert!(!text.contains("mig-") && text.contains("ENC["), "{f}");
    }
    assert!(!ctl.log().contains("mig-db-6d1"));
    sigterm(&c, &mut ctl).await;
    delete_namespaces(&c, &[ns]).await;
}

/// The cluster blocks of the documentation, run as written (`tests/it/docs.rs` sandboxes:
/// placeholders substituted, the state each section's prose names) by a person with the admin
/// kubeconfig and kubectl v1.20.2, with the controller running in the Deployment mode and
/// publishing its recipients: docs/controller.md's developer workflow, Flux migration and PGP
/// key Secret, docs/backup.md's restore into the cluster and docs/compromised-key.md's leaked
/// controller key. Each object the blocks make is checked as the prose says it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_documented_cluster_blocks_as_written() {
    use crate::docs::{Doc, run_section};
    let cl = need_cluster!();
    let Some(kubectl) = kubectl_dir() else {
        missing("kubectl-v1.20.2 (scripts/setup-kube.sh)");
        return;
    };
    let c = client(&cl.admin).await;
    let ns = "docs";
    setup(&c, ns).await;
    // The Secrets the blocks create in shroud-system do not exist yet (an earlier run's are
    // deleted: `create` and a restore without --force refuse an existing one).
    let sys: Api<Secret> = Api::namespaced(c.clone(), CONTROLLER_NS);
    for name in ["shroud-age-keys", "shroud-pgp-keys"] {
        let _ = sys.delete(name, &Default::default()).await;
    }
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
    wait_for("recipients published", Duration::from_secs(30), || async {
        published(&c)
            .await
            .is_some_and(|r| r.trim() == TEST_RECIPIENT)
    })
    .await;
    let kube = |d: &mut Doc| {
        d.prepend_path(kubectl.path());
        d.set("KUBECONFIG", &cl.admin.display().to_string());
    };

    // docs/controller.md, "Developer workflow": a Secret manifest of the developer's.
    let mut d = Doc::repo("creation_rules: []\n");
    kube(&mut d);
    d.write(
        "secret.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-db\n  namespace: {ns}\nstringData:\n  password: dev-6f1\n"),
    );
    tokio::task::block_in_place(|| run_section("docs/controller.md", "Developer workflow", &d));
    wait_reason(&c, ns, "app-db", "Decrypted").await;
    assert_eq!(
        secret_data(&c, ns, "app-db").await,
        Some(map(&[("password", "dev-6f1")]))
    );

    // "Migrating from sops-encrypted Secret files": a Flux Secret file in git, encrypted for
    // the reader's key; converted in memory, then applied as the plain-Secret recipe says.
    let mut d = Doc::repo(
        "creation_rules:\n  - path_regex: (^|/)k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: {R2}\n",
    );
    kube(&mut d);
    d.write(
        "k8s/db.secret.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: flux-db\n  namespace: {ns}\nstringData:\n  password: flux-7a2\n"),
    );
    d.sh("shroud encrypt -i k8s/db.secret.yaml && git add -A && git commit -qm flux");
    tokio::task::block_in_place(|| {
        run_section(
            "docs/controller.md",
            "Migrating from sops-encrypted Secret files (Flux, helm-secrets)",
            &d,
        )
    });
    assert!(!d.path("k8s/db.secret.yaml").exists());
    let converted = d.read("k8s/db.enc.yaml");
    assert!(
        converted.contains("kind: EncryptedSecret") && !converted.contains("flux-7a2"),
        "{converted}"
    );
    d.sh("kubectl apply -f k8s/db.enc.yaml");
    wait_reason(&c, ns, "flux-db", "Decrypted").await;
    assert_eq!(
        secret_data(&c, ns, "flux-db").await,
        Some(map(&[("password", "flux-7a2")]))
    );

    // "PGP keys": the reader's key exported into the controller's PGP key Secret.
    let g = crate::pgp::Gnupg::with_test_key();
    let mut d = Doc::repo("creation_rules: []\n");
    kube(&mut d);
    d.set("GNUPGHOME", &g.home.path().display().to_string());
    tokio::task::block_in_place(|| run_section("docs/controller.md", "PGP keys", &d));
    let pgp = sys.get("shroud-pgp-keys").await.unwrap().data.unwrap();
    let asc = String::from_utf8(pgp["key.asc"].0.clone()).unwrap();
    assert!(asc.contains("BEGIN PGP PRIVATE KEY BLOCK"), "{asc}");
    assert!(!d.read("key.asc").is_empty());

    // docs/backup.md, "Restore into the cluster": a bundle and its shares on the medium.
    let mut d = Doc::repo("creation_rules: []\n");
    kube(&mut d);
    d.sh("mkdir -p ~/usb && shroud keys backup --shares 5 --threshold 3 --shares-dir ~/usb/shares -o ~/usb/keys-backup.json 2>/dev/null");
    tokio::task::block_in_place(|| run_section("docs/backup.md", "Restore into the cluster", &d));
    let restored = sys.get("shroud-age-keys").await.unwrap().data.unwrap();
    let text = String::from_utf8(restored["keys.txt"].0.clone()).unwrap();
    for key in [test_key(), test_key2()] {
        let line = std::fs::read_to_string(key)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap()
            .to_owned();
        assert!(
            text.contains(&line),
            "the restored Secret holds every backed-up identity"
        );
    }

    // docs/compromised-key.md, "The controller's key leaked": the controller's key ($LEAKED)
    // and the reader's in the rules and files; the reader's key file opens them.
    let mut d = Doc::repo("creation_rules:\n  - path_regex: (^|/)secrets/\n    age: {R2},{R1}\n");
    kube(&mut d);
    d.set("LEAKED", TEST_RECIPIENT2);
    d.write("secrets/db.yaml", "password: before-1\n");
    d.write("secrets/api.yaml", "token: before-2\n");
    d.sh("shroud encrypt -i secrets/db.yaml && shroud encrypt -i secrets/api.yaml && git add -A && git commit -qm secrets");
    tokio::task::block_in_place(|| {
        run_section("docs/compromised-key.md", "The controller's key leaked", &d)
    });
    let new_key = d.read("controller-new.key");
    let new_recipient = new_key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    for f in [".sops.yaml", "secrets/db.yaml", "secrets/api.yaml"] {
        let text = d.read(f);
        assert!(
            !text.contains(TEST_RECIPIENT2),
            "{f} still lists the leaked key"
        );
        assert!(text.contains(&new_recipient), "{f} lacks the new key");
    }
    let secret = sys.get("shroud-age-keys").await.unwrap().data.unwrap();
    assert_eq!(
        String::from_utf8(secret["keys.txt"].0.clone()).unwrap(),
        new_key
    );
    assert_eq!(d.sh("git status --porcelain -uno"), "");

    for name in ["shroud-age-keys", "shroud-pgp-keys"] {
        let _ = sys.delete(name, &Default::default()).await;
    }
    sigterm(&c, &mut ctl).await;
    delete_namespaces(&c, &[ns]).await;
}

/// docs/controller.md's install block, run as written from this checkout (the image with the
/// test build's binaries, `SHROUD_IMAGE_PROFILE=dev`; the registry an OCI layout; the 1.20
/// overlay; prometheus-operator's CRDs installed, not the operator): the image is pushed, the
/// controller's objects, key Secret and alert rules are in the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_install_block_as_written() {
    use crate::docs::{Doc, run_section};
    let cl = need_cluster!();
    let Some(kubectl) = kubectl_dir() else {
        missing("kubectl-v1.20.2 (scripts/setup-kube.sh)");
        return;
    };
    let c = client(&cl.admin).await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    for (kind, plural) in [
        ("PrometheusRule", "prometheusrules"),
        ("ServiceMonitor", "servicemonitors"),
    ] {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": format!("{plural}.monitoring.coreos.com")},
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }))
        .unwrap();
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create the {kind} CRD: {e}"),
        }
    }
    let rules = Api::<DynamicObject>::namespaced_with(
        c.clone(),
        CONTROLLER_NS,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "monitoring.coreos.com",
            "v1",
            "PrometheusRule",
        )),
    );
    wait_for(
        "the PrometheusRule CRD served",
        Duration::from_secs(30),
        || async { rules.list(&Default::default()).await.is_ok() },
    )
    .await;
    let sys: Api<Secret> = Api::namespaced(c.clone(), CONTROLLER_NS);
    let _ = sys.delete("shroud-age-keys", &Default::default()).await;

    let mut d = Doc::repo("creation_rules: []\n");
    d.cwd = crate::util::root();
    d.prepend_path(kubectl.path());
    d.set("KUBECONFIG", &cl.admin.display().to_string());
    d.set("SHROUD_IMAGE_PROFILE", "dev");
    // The reader's Rust toolchain (build-image.sh runs cargo; the test build is up to date).
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let v = std::env::var_os(var).map_or_else(|| home.join(default), PathBuf::from);
        d.set(var, &v.display().to_string());
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        d.set("CARGO_TARGET_DIR", &t.to_string_lossy());
    }
    std::fs::create_dir_all(d.home().join("registry")).unwrap();
    tokio::task::block_in_place(|| run_section("docs/controller.md", "Install", &d));

    let pushed = d.home().join("registry/shroud-controller/index.json");
    let index = std::fs::read_to_string(&pushed).unwrap();
    assert!(
        index.contains("0.1.0") || index.contains("manifests"),
        "{index}"
    );
    let key = std::fs::read_to_string(d.home().join("controller.key")).unwrap();
    let secret = sys.get("shroud-age-keys").await.unwrap().data.unwrap();
    assert_eq!(
        String::from_utf8(secret["keys.txt"].0.clone()).unwrap(),
        key
    );
    let deployments = Api::<DynamicObject>::namespaced_with(
        c.clone(),
        CONTROLLER_NS,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")),
    );
    assert!(
        deployments
            .get_opt("shroud-controller")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !rules
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let _ = sys.delete("shroud-age-keys", &Default::default()).await;
}
