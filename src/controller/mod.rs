//! `shroud-controller`: the in-cluster decryptor. Watches `EncryptedSecret` objects (sops
//! documents whose Secret payload is encrypted), decrypts them with the keys the controller
//! holds and server-side-applies the owned Secret.
//!
//! | module | owns |
//! |---|---|
//! | [`keys`] | age identities and OpenPGP keys (files, mounted directories, reloaded when they change), KMS, the data-key cache |
//! | [`reconcile`] | the reconcile steps, status, Events, backoff |
//! | [`write`] | whose a live Secret is, adoption, and which write brings it to the decrypted one |
//! | [`rollout`] | restarting the workloads that use a Secret whose data changed |
//! | [`leader`] | Lease-based leader election |
//! | [`metrics`] | Prometheus metrics, `/healthz`, `/readyz` |
//!
//! The resource, its manifests, Secret payloads and the recipients ConfigMap are in `k8s`.
//! Must not know: the `shroud` CLI, process arguments. This module wires the pieces together
//! in [`run`]: signals and the shutdown deadline, leadership, the key-file reload loop, the
//! pruning of per-object state, and publishing the recipients.

pub mod keys;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod rollout;
pub mod status;
pub mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::Controller;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use crate::k8s::crd::EncryptedSecret;
use keys::{KeySources, Keys};
use leader::LeaseConfig;
use metrics::Metrics;
use reconcile::{Ctx, MANAGED_BY_LABEL, MANAGER};

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot load keys: {0}")]
    Keys(#[from] crate::keysource::KeyError),
    #[error("cannot reach the Kubernetes API: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lost leadership; exiting so the replica restarts as a follower")]
    LostLeadership,
}

/// Where the controller publishes its recipients: ConfigMap `name` in `namespace`.
#[derive(Clone, Debug)]
pub struct PublishTo {
    pub namespace: String,
    pub name: String,
}

/// Everything the controller is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub keys: KeySources,
    /// Watch one namespace only (default: all).
    pub namespace: Option<String>,
    pub metrics_addr: SocketAddr,
    /// `None` disables leader election (a single replica).
    pub lease: Option<LeaseConfig>,
    pub concurrency: u16,
    pub events: bool,
    /// The recipients ConfigMap (`None`: not published).
    pub recipients: Option<PublishTo>,
    /// How often the key files are re-read to notice a changed Secret (`None`: never).
    pub key_reload: Option<Duration>,
    /// How long a graceful shutdown may take after SIGTERM before the process exits anyway.
    pub shutdown_grace: Duration,
}

/// How often the per-object state (backoff counters, last statuses, gauges) of deleted objects
/// is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// Runs until SIGTERM/SIGINT (graceful shutdown: in-flight reconciles finish, then the Lease is
/// released) or until leadership is lost. A second signal, or a shutdown still running after
/// `shutdown_grace`, exits the process at once.
pub async fn run(settings: Settings, client: Client) -> Result<(), RunError> {
    let keys = Keys::load(&settings.keys).await?;
    tracing::info!(
        age_identities = keys.keyring.age.len(),
        pgp_key_files = keys.pgp_files,
        recipients = ?keys.recipients,
        "keys loaded"
    );
    let metrics = Arc::new(Metrics::default());
    metrics
        .age_identities
        .store(keys.keyring.age.len() as u64, Ordering::Relaxed);
    let addr = metrics::serve(settings.metrics_addr, metrics.clone())
        .await
        .map_err(|source| RunError::Listen {
            addr: settings.metrics_addr,
            source,
        })?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");

    let (stop_tx, stop_rx) = watch::channel(false);
    let grace = settings.shutdown_grace;
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
        tokio::select! {
            _ = shutdown_signal() => tracing::warn!("second signal: exiting at once"),
            _ = tokio::time::sleep(grace) => tracing::error!(
                grace_seconds = grace.as_secs(),
                "graceful shutdown did not finish in time; exiting"
            ),
        }
        std::process::exit(1);
    });

    client.apiserver_version().await?;
    metrics.ready.store(true, Ordering::Relaxed);

    // Leadership. Without election this replica leads from the start and the sender is kept
    // for the whole run: a dropped sender would read as "leadership lost".
    let (lead_tx, lead_rx) = watch::channel(settings.lease.is_none());
    // Tells the campaign to release the Lease: sent once the controller has stopped.
    let (release_tx, release_rx) = watch::channel(false);
    let mut single_lead_tx = None;
    let campaign = match settings.lease.clone() {
        Some(cfg) => {
            let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
            Some(tokio::spawn(leader::campaign(
                api,
                cfg,
                lead_tx,
                metrics.clone(),
                release_rx,
            )))
        }
        None => {
            metrics.leader.store(true, Ordering::Relaxed);
            single_lead_tx = Some(lead_tx);
            None
        }
    };

    // Wait to lead (or to be stopped).
    let mut stop = stop_rx.clone();
    let mut lead_wait = lead_rx.clone();
    loop {
        if *lead_wait.borrow() {
            break;
        }
        tokio::select! {
            r = lead_wait.changed() => if r.is_err() { return Ok(()) },
            _ = stop.changed() => {
                let _ = release_tx.send(true);
                if let Some(h) = campaign {
                    let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
                }
                tracing::info!("stopped before leading");
                return Ok(());
            }
        }
    }
    tracing::info!("leading: starting the controller");

    let (es_api, secret_api): (Api<EncryptedSecret>, Api<Secret>) = match &settings.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let recorder = settings.events.then(|| {
        Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        )
    });
    let recipients = keys.recipients.clone();
    let ctx = Arc::new(Ctx::new(client.clone(), keys, metrics.clone(), recorder));
    if let Some(to) = &settings.recipients {
        publish_recipients(&client, to, &recipients, &metrics).await;
    }

    // Key files: re-read, and on a change reload them and reconcile every object again.
    let (reload_tx, reload_rx) = futures::channel::mpsc::channel::<()>(1);
    if let Some(every) = settings.key_reload {
        tokio::spawn(reload_keys(
            settings.keys.clone(),
            every,
            ctx.clone(),
            client.clone(),
            settings.recipients.clone(),
            reload_tx,
            stop_rx.clone(),
        ));
    }

    let mut lost = lead_rx.clone();
    let mut stop2 = stop_rx.clone();
    let stopping = stop_rx.clone();
    let (lost_tx, lost_flag) = watch::channel(false);
    let elected = campaign.is_some();
    let trigger = async move {
        let lost_leadership = async {
            if !elected {
                return std::future::pending::<()>().await;
            }
            while lost.changed().await.is_ok() {
                if !*lost.borrow() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = stop2.changed() => {}
            _ = lost_leadership => {
                if !*stopping.borrow() {
                    let _ = lost_tx.send(true);
                }
            }
        }
    };
    let controller = Controller::new(es_api, watcher::Config::default())
        .owns(
            secret_api,
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}")),
        )
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .reconcile_all_on(reload_rx)
        .graceful_shutdown_on(trigger);
    tokio::spawn(prune(controller.store(), ctx.clone(), stop_rx.clone()));
    controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| async {})
        .await;
    drop(single_lead_tx);
    if *lost_flag.borrow() {
        return Err(RunError::LostLeadership);
    }
    // Graceful: the controller has stopped; now let the campaign release the Lease.
    let _ = release_tx.send(true);
    if let Some(h) = campaign {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Publishes the recipients (a failure is logged: developers can still use `pubkey`).
async fn publish_recipients(client: &Client, to: &PublishTo, recipients: &[String], m: &Metrics) {
    if recipients.is_empty() {
        return;
    }
    match crate::k8s::cluster::publish_recipients(
        client.clone(),
        &to.namespace,
        &to.name,
        recipients,
        MANAGER,
    )
    .await
    {
        Ok(true) => {
            m.write("configmap");
            tracing::info!(namespace = %to.namespace, name = %to.name, "recipients published");
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "recipients not published"),
    }
}

/// Re-reads the key files every `every`; when what they hold changed, loads them (keeping the
/// old keys if the new ones do not load), publishes the new recipients and asks for every
/// object to be reconciled again.
async fn reload_keys(
    sources: KeySources,
    every: Duration,
    ctx: Arc<Ctx>,
    client: Client,
    publish: Option<PublishTo>,
    mut trigger: futures::channel::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failed: Option<[u8; 32]> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = match keys::fingerprint(&sources) {
            Ok(f) => f,
            // A kubelet swapping the mounted directory can race with the read: try again.
            Err(e) => {
                tracing::debug!(error = %e, "key files not readable now");
                continue;
            }
        };
        if now == ctx.keys().fingerprint || failed == Some(now) {
            continue;
        }
        match Keys::load(&sources).await {
            Ok(k) => {
                failed = None;
                tracing::info!(
                    age_identities = k.keyring.age.len(),
                    pgp_key_files = k.pgp_files,
                    recipients = ?k.recipients,
                    "key files changed: keys reloaded"
                );
                ctx.metrics
                    .age_identities
                    .store(k.keyring.age.len() as u64, Ordering::Relaxed);
                ctx.metrics.key_reload("ok");
                let recipients = k.recipients.clone();
                ctx.set_keys(k);
                if let Some(to) = &publish {
                    publish_recipients(&client, to, &recipients, &ctx.metrics).await;
                }
                let _ = trigger.try_send(());
            }
            Err(e) => {
                failed = Some(now);
                ctx.metrics.key_reload("error");
                tracing::warn!(error = %e, "key files changed but do not load; keeping the previous keys");
            }
        }
    }
}

/// Drops the per-object state of objects that are no longer in the watch cache (deleted).
async fn prune(store: Store<EncryptedSecret>, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    // `wait_until_ready` keeps one waker (the Controller waits on the same store), so it is
    // polled afresh every second rather than awaited once.
    loop {
        if *stop.borrow() {
            return;
        }
        match tokio::time::timeout(Duration::from_secs(1), store.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => {}
        }
    }
    tracing::debug!("watch cache ready: pruning deleted objects' state");
    loop {
        ctx.prune(|ns, name, uid| {
            let obj = if ns.is_empty() {
                store.get(&ObjectRef::new(name))
            } else {
                store.get(&ObjectRef::new(name).within(ns))
            };
            obj.is_some_and(|o| uid.is_none_or(|u| o.uid().as_deref() == Some(u)))
        });
        let (backoff, statuses) = ctx.tracked();
        ctx.metrics.set_tracked(backoff, statuses);
        tracing::debug!(backoff, statuses, "per-object state pruned");
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
