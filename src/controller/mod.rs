//! `shroud-controller`: the in-cluster decryptor. Watches `EncryptedSecret` objects (sops
//! documents whose Secret payload is encrypted), decrypts them with the keys the controller
//! holds and server-side-applies the owned Secret.
//!
//! | module | owns |
//! |---|---|
//! | [`keys`] | age identities (files, mounted directories), KMS, the data-key cache |
//! | [`reconcile`] | the reconcile decision, status, Events, backoff |
//! | [`leader`] | Lease-based leader election |
//! | [`metrics`] | Prometheus metrics, `/healthz`, `/readyz` |
//!
//! The resource, its manifests and Secret payloads are in `k8s`. Must not know: the `shroud`
//! CLI. This module wires the pieces together in [`run`].

pub mod keys;
pub mod leader;
pub mod metrics;
pub mod reconcile;

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
use kube::runtime::watcher;
use kube::{Api, Client};
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
}

/// Runs until SIGTERM/SIGINT (graceful shutdown: in-flight reconciles finish, the Lease is
/// released) or until leadership is lost.
pub async fn run(settings: Settings, client: Client) -> Result<(), RunError> {
    let keys = Keys::load(&settings.keys)?;
    tracing::info!(
        age_identities = keys.keyring.age.len(),
        recipients = ?keys.recipients,
        "keys loaded"
    );
    let metrics = Arc::new(Metrics::default());
    let addr = metrics::serve(settings.metrics_addr, metrics.clone())
        .await
        .map_err(|source| RunError::Listen {
            addr: settings.metrics_addr,
            source,
        })?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    client.apiserver_version().await?;
    metrics.ready.store(true, Ordering::Relaxed);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });

    let (lead_tx, mut lead_rx) = watch::channel(settings.lease.is_none());
    let campaign = settings.lease.clone().map(|cfg| {
        let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
        tokio::spawn(leader::campaign(
            api,
            cfg,
            lead_tx,
            metrics.clone(),
            stop_rx.clone(),
        ))
    });
    if campaign.is_none() {
        metrics.leader.store(true, Ordering::Relaxed);
    }

    // Wait to lead (or to be stopped).
    let mut stop = stop_rx.clone();
    loop {
        if *lead_rx.borrow() {
            break;
        }
        tokio::select! {
            r = lead_rx.changed() => if r.is_err() { return Ok(()) },
            _ = stop.changed() => return Ok(()),
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
    let ctx = Arc::new(Ctx::new(client.clone(), keys, metrics.clone(), recorder));

    let mut lost = lead_rx.clone();
    let mut stop2 = stop_rx.clone();
    let (lost_tx, lost_flag) = watch::channel(false);
    let trigger = async move {
        tokio::select! {
            _ = stop2.changed() => {}
            _ = async { while lost.changed().await.is_ok() { if !*lost.borrow() { break } } } => {
                let _ = lost_tx.send(true);
            }
        }
    };
    Controller::new(es_api, watcher::Config::default())
        .owns(
            secret_api,
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}")),
        )
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(trigger)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| async {})
        .await;
    if *lost_flag.borrow() {
        return Err(RunError::LostLeadership);
    }
    // Graceful: let the campaign release the Lease.
    if let Some(h) = campaign {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    tracing::info!("stopped");
    Ok(())
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
