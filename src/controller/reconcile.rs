//! Reconciliation of one `EncryptedSecret`: decrypt, build the owned Secret, apply it only when
//! it differs, report status, conditions and Events, and back off on failure.
//!
//! Never loses data: a failure leaves the last good Secret untouched; a Secret that was deleted
//! or edited by hand is restored; an unchanged object causes no write at all.
//! Owns: the reconcile decision. Must not know: process setup, HTTP, leader election.
//! Logs, Events and status name objects, reasons and key paths, never values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::keys::Keys;
use super::metrics::Metrics;
use super::rollout::{self, Marks};
use super::write::{self, Plan};
use crate::error::Error as DocError;
use crate::k8s::crd::{
    API_VERSION, Condition, EncryptedSecret, EncryptedSecretStatus, KIND, LAST_APPLIED_ANNOTATION,
};
use crate::k8s::manifest::{self, ManifestError};
use crate::k8s::secret::Payload;
use crate::k8s::wiped::{self, WipedSecret};

pub use super::owned::{GENERATION_ANNOTATION, MANAGED_BY_LABEL, MANAGER, Reason};

/// A reconcile failure (returned to the runtime, which calls the error policy).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{reason:?}: {message}")]
    Failed { reason: Reason, message: String },
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

impl ReconcileError {
    fn reason(&self) -> Reason {
        match self {
            ReconcileError::Failed { reason, .. } => *reason,
            ReconcileError::Kube(_) => Reason::ApiError,
        }
    }
}

/// (observedGeneration, reason, hash of the message) of a status write.
type WrittenStatus = (Option<i64>, Reason, u64);

fn message_hash(m: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.hash(&mut h);
    h.finish()
}

/// Shared state of the reconcilers.
pub struct Ctx {
    pub client: Client,
    /// Swapped as a whole when the key files change (see `controller::run`).
    keys: RwLock<Arc<Keys>>,
    pub metrics: Arc<Metrics>,
    pub recorder: Option<Recorder>,
    /// Consecutive failures per object (namespace/name), for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The last status written per object (namespace/name → uid, status): the watch cache may
    /// still show the previous status when a second reconcile follows at once, and this avoids
    /// writing it twice.
    written: Mutex<HashMap<String, (String, WrittenStatus)>>,
    /// Requeue period after success (a safety net; drift is seen through the Secret watch).
    pub resync: Duration,
}

impl Ctx {
    pub fn new(
        client: Client,
        keys: Keys,
        metrics: Arc<Metrics>,
        recorder: Option<Recorder>,
    ) -> Ctx {
        Ctx {
            client,
            keys: RwLock::new(Arc::new(keys)),
            metrics,
            recorder,
            failures: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            resync: Duration::from_secs(3600),
        }
    }
}

impl Ctx {
    /// The key material in use now.
    pub fn keys(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the key material (the data-key cache goes with the old keys).
    pub fn set_keys(&self, keys: Keys) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }

    /// Forgets every object for which `exists(namespace, name, uid)` is false (deleted objects):
    /// the backoff counters, the last written status and the metrics gauge.
    pub fn prune(&self, exists: impl Fn(&str, &str, Option<&str>) -> bool) {
        let split = |k: &str| -> (String, String) {
            let (ns, name) = k.split_once('/').unwrap_or(("", k));
            (ns.to_owned(), name.to_owned())
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| {
                let (ns, name) = split(k);
                exists(&ns, &name, None)
            });
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, (uid, _)| {
                let (ns, name) = split(k);
                exists(&ns, &name, Some(uid))
            });
        self.metrics.retain_objects(|k| {
            let (ns, name) = split(k);
            exists(&ns, &name, None)
        });
    }

    /// How many objects have backoff counters and remembered statuses (for tests and metrics).
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            self.written.lock().unwrap_or_else(|p| p.into_inner()).len(),
        )
    }
}

fn key_of(es: &EncryptedSecret) -> String {
    format!("{}/{}", es.namespace().unwrap_or_default(), es.name_any())
}

/// Maps a document error to a reason and a message free of values.
fn classify(e: &ManifestError) -> (Reason, String) {
    match e {
        ManifestError::Invalid(m) => (Reason::InvalidSpec, m.clone()),
        ManifestError::Payload(_) => (Reason::InvalidSpec, e.to_string()),
        ManifestError::Document(DocError::Key { source, .. }) => (
            Reason::NoMatchingKey,
            format!("no key held by the controller opens the data key: {source}"),
        ),
        ManifestError::Document(d) if d.is_integrity() => (
            Reason::IntegrityFailure,
            "the document failed authentication (MAC or a value's AAD): it was altered, or copied/renamed from another name or namespace (strict scope); the Secret was left as it was".into(),
        ),
        ManifestError::Document(d) => (
            Reason::InvalidSpec,
            format!("the document is not a valid sops document ({})", doc_kind(d)),
        ),
    }
}

/// A short, value-free description of a document error.
fn doc_kind(e: &DocError) -> &'static str {
    match e {
        DocError::Store { .. } => "unreadable structure",
        DocError::Metadata { .. } => "invalid sops metadata",
        DocError::Rules { .. } => "invalid encryption rules",
        DocError::MacMissing { .. } => "no MAC",
        DocError::NotEncrypted { .. } => "no sops metadata",
        DocError::Tree { .. } => "invalid encrypted value",
        _ => "invalid document",
    }
}

/// Decrypts an object (timed, counted). The data key is cached per envelope.
pub async fn decrypt(ctx: &Ctx, es: &EncryptedSecret) -> Result<Payload, (Reason, String)> {
    let name = es.name_any();
    let ns = es.namespace().unwrap_or_default();
    let label = format!("{ns}/{name}");
    let start = Instant::now();
    let unreadable = |what: &str| {
        (
            Reason::InvalidSpec,
            format!("{what} is not valid JSON as returned by the API server"),
        )
    };
    let spec = es.spec.value().map_err(|_| unreadable("spec"))?;
    let sops = match &es.sops {
        Some(s) => Some(s.value().map_err(|_| unreadable("sops"))?),
        None => None,
    };
    let (tree, md) =
        manifest::load(&label, &name, &ns, &spec, sops.as_ref()).map_err(|e| classify(&e))?;
    let id = manifest::envelope_id(sops.as_ref().unwrap_or(&serde_json::Value::Null));
    let keys = ctx.keys();
    let (key, hit) = keys.data_key(id, &md).await.map_err(|source| {
        classify(&ManifestError::Document(DocError::Key {
            file: label.clone(),
            source,
        }))
    })?;
    if hit {
        ctx.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
    } else {
        ctx.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
    }
    let out = manifest::open(&label, tree, md, &key);
    ctx.metrics.observe_decrypt(start.elapsed());
    out.map_err(|e| classify(&e))
}

/// The Secret the controller wants for `es`, with the rollout annotations when `marks` is
/// given. Its values are copies of the payload's, wiped when it is dropped.
pub fn desired_secret(es: &EncryptedSecret, p: &Payload, marks: Option<&Marks>) -> WipedSecret {
    let mut labels = p.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    let mut annotations = p.annotations.clone();
    // kubectl's copy of an applied manifest (its values included) is never the controller's to
    // write: a Secret read back with `kubectl get -o yaml` and encrypted carries one.
    annotations.remove(LAST_APPLIED_ANNOTATION);
    annotations.insert(
        GENERATION_ANNOTATION.into(),
        es.metadata.generation.unwrap_or(0).to_string(),
    );
    if let Some(m) = marks {
        annotations.insert(rollout::SALT_ANNOTATION.into(), m.salt.clone());
        annotations.insert(rollout::ROLLED_OUT_ANNOTATION.into(), m.rolled_out.clone());
    }
    WipedSecret::new(Secret {
        metadata: ObjectMeta {
            name: Some(es.name_any()),
            namespace: es.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_ref(es)]),
            ..Default::default()
        },
        type_: Some(p.type_.clone()),
        data: Some(wiped::data(&p.data)),
        ..Default::default()
    })
}

fn owner_ref(es: &EncryptedSecret) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        name: es.name_any(),
        uid: es.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the live Secret records the EncryptedSecret's current generation.
fn generation_current(live: &Secret, es: &EncryptedSecret) -> bool {
    live.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(GENERATION_ANNOTATION))
        .map(String::as_str)
        == Some(es.metadata.generation.unwrap_or(0).to_string().as_str())
}

/// The Event of a write: (reason, note).
fn write_event(name: &str, live: Option<&Secret>, es: &EncryptedSecret) -> (&'static str, String) {
    match live {
        None => ("Created", format!("Secret {name} created")),
        Some(l) if write::owner(l, es) == write::Owner::Nobody => (
            "Adopted",
            format!(
                "Secret {name} adopted: ownerReference set, data replaced by the EncryptedSecret's"
            ),
        ),
        Some(_) => ("Updated", format!("Secret {name} updated")),
    }
}

/// Reconciles one object.
pub async fn reconcile(es: Arc<EncryptedSecret>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    ctx.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
    if es.metadata.deletion_timestamp.is_some() {
        // The Secret goes with its owner (garbage collection through the ownerReference).
        return Ok(Action::await_change());
    }
    let ns = es.namespace().unwrap_or_default();
    let name = es.name_any();
    let result = apply(&es, &ctx).await;
    match result {
        Ok(wrote) => {
            if wrote {
                tracing::info!(namespace = %ns, name = %name, "secret applied");
            }
            set_status(
                &es,
                &ctx,
                Reason::Decrypted,
                "the Secret matches the decrypted spec",
            )
            .await?;
            let key = key_of(&es);
            ctx.metrics.set_object(&key, Reason::Decrypted.as_str());
            ctx.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            Ok(Action::requeue(ctx.resync))
        }
        Err(ReconcileError::Failed { reason, message }) => {
            tracing::warn!(namespace = %ns, name = %name, reason = reason.as_str(), %message, "not reconciled; the Secret was left as it was");
            set_status(&es, &ctx, reason, &message).await?;
            Err(ReconcileError::Failed { reason, message })
        }
        Err(e) => Err(e),
    }
}

/// Decrypts and, when needed, writes the Secret, then restarts the workloads using it when
/// rollouts are on and its data changed. Returns whether the Secret was written.
async fn apply(es: &EncryptedSecret, ctx: &Ctx) -> Result<bool, ReconcileError> {
    let payload = decrypt(ctx, es)
        .await
        .map_err(|(reason, message)| ReconcileError::Failed { reason, message })?;
    let ns = es.namespace().unwrap_or_default();
    let name = es.name_any();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = wiped::get(&ctx.client, &ns, &name).await?;
    let existing = existing.as_deref();
    let mut desired = desired_secret(es, &payload, None);
    let marks = rollout::wanted(es).then(|| {
        let empty = BTreeMap::new();
        let data = desired.data.as_ref().unwrap_or(&empty);
        let changed = write::data_changed(existing, &desired);
        rollout::marks(existing, &payload.type_, data, changed)
    });
    if let Some(m) = &marks {
        desired = desired_secret(es, &payload, Some(m));
    }
    let current = existing.is_some_and(|l| generation_current(l, es));
    let plan =
        write::plan(existing, &desired, es, current).map_err(|r| ReconcileError::Failed {
            reason: r.reason,
            message: r.message,
        })?;
    let wrote = write_secret(&api, ctx, &name, &plan, &desired).await?;
    if wrote {
        let (reason, note) = write_event(&name, existing, es);
        publish(ctx, es, EventType::Normal, reason, note).await;
    }
    if let Some(m) = marks.filter(Marks::pending) {
        roll_out(ctx, es, &payload, m).await?;
    }
    Ok(wrote)
}

/// Carries out a write plan. Returns whether anything was written.
async fn write_secret(
    api: &Api<Secret>,
    ctx: &Ctx,
    name: &str,
    plan: &Plan,
    desired: &Secret,
) -> Result<bool, ReconcileError> {
    let ns = desired.metadata.namespace.as_deref().unwrap_or_default();
    match plan {
        Plan::Keep => return Ok(false),
        Plan::Replace(s) => {
            wiped::replace(&ctx.client, ns, name, Some(MANAGER), s).await?;
            ctx.metrics.write("secret");
            return Ok(true);
        }
        Plan::Recreate => {
            // The type of a Secret is immutable: replace it (only now that decryption worked).
            if let Some(cur) = api.get_metadata_opt(name).await? {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: cur.metadata.uid.clone(),
                        resource_version: cur.metadata.resource_version.clone(),
                    }),
                    ..Default::default()
                };
                api.delete(name, &dp).await?;
                ctx.metrics.write("secret");
            }
        }
        Plan::Apply => {}
    }
    wiped::apply(&ctx.client, ns, name, MANAGER, desired).await?;
    ctx.metrics.write("secret");
    Ok(true)
}

/// Stamps the workloads using the Secret with the new checksum, reports them in an Event, and
/// records on the Secret that the checksum was rolled out.
async fn roll_out(
    ctx: &Ctx,
    es: &EncryptedSecret,
    payload: &Payload,
    marks: Marks,
) -> Result<(), ReconcileError> {
    let ns = es.namespace().unwrap_or_default();
    let name = es.name_any();
    let stamped = rollout::stamp(&ctx.client, &ns, &name, &marks.checksum, MANAGER).await?;
    for _ in &stamped {
        ctx.metrics.write("workload");
    }
    if !stamped.is_empty() {
        tracing::info!(namespace = %ns, name = %name, workloads = ?stamped, "workloads restarted");
        let note = format!(
            "Secret {name} changed: restarted {}",
            rollout::summary(&stamped)
        );
        publish(ctx, es, EventType::Normal, "RolledOut", note).await;
    }
    let done = Marks {
        rolled_out: marks.checksum.clone(),
        ..marks
    };
    let desired = desired_secret(es, payload, Some(&done));
    wiped::apply(&ctx.client, &ns, &name, MANAGER, &desired).await?;
    ctx.metrics.write("secret");
    Ok(())
}

async fn publish(ctx: &Ctx, es: &EncryptedSecret, type_: EventType, reason: &str, note: String) {
    let Some(rec) = &ctx.recorder else { return };
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    match rec.publish(&ev, &es.object_ref(&())).await {
        Ok(()) => ctx.metrics.write("event"),
        Err(e) => tracing::debug!(error = %e, "event not published"),
    }
}

fn ready_condition(es: &EncryptedSecret) -> Option<&Condition> {
    es.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
}

/// The `status` of the `Ready` condition for a reason.
fn condition_status(reason: Reason) -> &'static str {
    if reason == Reason::Decrypted {
        "True"
    } else {
        "False"
    }
}

/// Whether the object already shows this status for its current generation.
fn status_current(es: &EncryptedSecret, reason: Reason, message: &str) -> bool {
    let generation = es.metadata.generation;
    ready_condition(es).is_some_and(|c| {
        c.status == condition_status(reason)
            && c.reason == reason.as_str()
            && c.message == message
            && c.observed_generation == generation
    }) && es.status.as_ref().and_then(|s| s.observed_generation) == generation
}

/// Writes the status when it differs from what the object shows (no write otherwise).
async fn set_status(
    es: &EncryptedSecret,
    ctx: &Ctx,
    reason: Reason,
    message: &str,
) -> Result<(), ReconcileError> {
    let generation = es.metadata.generation;
    let status = condition_status(reason);
    let prev = ready_condition(es);
    let same = status_current(es, reason, message);
    let uid = es.uid().unwrap_or_default();
    let key = key_of(es);
    let mine = (uid, (generation, reason, message_hash(message)));
    let just_written = ctx
        .written
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        == Some(&mine);
    if same || just_written {
        return Ok(());
    }
    let transition = match prev {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(
            k8s_openapi::jiff::Timestamp::now()
                .round(k8s_openapi::jiff::Unit::Second)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ),
    };
    let new = EncryptedSecretStatus {
        observed_generation: generation,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.as_str().into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: transition,
        }],
    };
    let api: Api<EncryptedSecret> =
        Api::namespaced(ctx.client.clone(), &es.namespace().unwrap_or_default());
    api.patch_status(
        &es.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": new })),
    )
    .await?;
    ctx.metrics.write("status");
    ctx.written
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, mine);
    if reason != Reason::Decrypted && prev.map(|c| c.reason.as_str()) != Some(reason.as_str()) {
        publish(
            ctx,
            es,
            EventType::Warning,
            reason.as_str(),
            message.to_owned(),
        )
        .await;
    }
    Ok(())
}

/// Requeues failed objects with exponential backoff (5 s doubling up to 5 minutes).
pub fn error_policy(es: Arc<EncryptedSecret>, err: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    let reason = err.reason();
    ctx.metrics.failure(reason.as_str());
    ctx.metrics.set_object(&key_of(&es), reason.as_str());
    if let ReconcileError::Kube(e) = err {
        tracing::warn!(namespace = %es.namespace().unwrap_or_default(), name = %es.name_any(), error = %e, "API request failed");
    }
    let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let n = f.entry(key_of(&es)).or_default();
    *n = n.saturating_add(1);
    Action::requeue(backoff(*n))
}

/// The wait before retrying after `failures` consecutive failures: 5 s doubling, at most 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 5u64
        .saturating_mul(1u64 << failures.saturating_sub(1).min(6))
        .min(300);
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;
    use std::collections::BTreeMap;

    fn es(status: serde_json::Value) -> EncryptedSecret {
        serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "app", "uid": "u1", "generation": 3},
            "spec": {}, "sops": {}, "status": status
        }))
        .unwrap()
    }

    #[test]
    fn backoff_doubles_from_5_seconds_to_5_minutes() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(0).as_secs(), 5);
        assert_eq!(backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn errors_are_classified_without_values() {
        let (r, m) = classify(&ManifestError::Invalid("spec.x is not a field".into()));
        assert_eq!(
            (r, m.as_str()),
            (Reason::InvalidSpec, "spec.x is not a field")
        );
        let key = DocError::Key {
            file: "app/db".into(),
            source: crate::keysource::KeyError::NoKey {
                summary: "age age1x: no identity".into(),
            },
        };
        let (r, m) = classify(&ManifestError::Document(key));
        assert_eq!(r, Reason::NoMatchingKey);
        assert!(m.starts_with("no key held by the controller"), "{m}");
        for r in [
            Reason::Decrypted,
            Reason::NoMatchingKey,
            Reason::IntegrityFailure,
            Reason::InvalidSpec,
            Reason::SecretNotOwned,
            Reason::ApiError,
        ] {
            assert_eq!(condition_status(r) == "True", r == Reason::Decrypted);
        }
    }

    #[test]
    fn the_desired_secret_is_owned_labelled_and_without_kubectl_copies() {
        let e = es(json!(null));
        let mut p = Payload {
            type_: "kubernetes.io/basic-auth".into(),
            labels: [("app".to_owned(), "shop".to_owned())].into(),
            annotations: [
                ("note".to_owned(), "n".to_owned()),
                (
                    LAST_APPLIED_ANNOTATION.to_owned(),
                    "{\"data\":{}}".to_owned(),
                ),
            ]
            .into(),
            data: BTreeMap::new(),
        };
        p.data.insert("password".into(), SecretBytes::from("pw"));
        let s = desired_secret(&e, &p, None);
        let a = s.metadata.annotations.as_ref().unwrap();
        assert!(!a.contains_key(LAST_APPLIED_ANNOTATION));
        assert_eq!(a[GENERATION_ANNOTATION], "3");
        assert!(!a.contains_key(rollout::SALT_ANNOTATION));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
            MANAGER
        );
        let o = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((o.uid.as_str(), o.controller), ("u1", Some(true)));
        assert_eq!(s.data.as_ref().unwrap()["password"].0, b"pw");
        // The copy of the value is wiped with the Secret (here at once, as its drop does).
        let mut s = s;
        s.wipe();
        assert_eq!(s.data.as_ref().unwrap()["password"].0, [0, 0]);
        assert_eq!(
            p.data["password"].expose(),
            b"pw",
            "the payload keeps its own"
        );
        let m = Marks {
            salt: "s".into(),
            rolled_out: "r".into(),
            checksum: "c".into(),
        };
        let s = desired_secret(&e, &p, Some(&m));
        let a = s.metadata.annotations.clone().unwrap();
        assert_eq!(
            (
                a[rollout::SALT_ANNOTATION].as_str(),
                a[rollout::ROLLED_OUT_ANNOTATION].as_str()
            ),
            ("s", "r")
        );
    }

    #[test]
    fn a_status_is_written_only_when_it_changes() {
        let written = es(
            json!({"observedGeneration": 3, "conditions": [{"type": "Ready",
            "status": "True", "reason": "Decrypted", "message": "ok", "observedGeneration": 3}]}),
        );
        assert!(status_current(&written, Reason::Decrypted, "ok"));
        assert!(!status_current(&written, Reason::Decrypted, "other"));
        assert!(!status_current(&written, Reason::SecretNotOwned, "ok"));
        let old = es(
            json!({"observedGeneration": 2, "conditions": [{"type": "Ready",
            "status": "True", "reason": "Decrypted", "message": "ok", "observedGeneration": 2}]}),
        );
        assert!(!status_current(&old, Reason::Decrypted, "ok"));
        assert!(!status_current(&es(json!(null)), Reason::Decrypted, "ok"));
    }
}
