//! Leader election through a `coordination.k8s.io/v1` Lease, so two replicas can run and only
//! one reconciles.
//!
//! Owns: acquiring, renewing and releasing the Lease (optimistic concurrency on
//! `resourceVersion`). Must not know: what the leader does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

use super::metrics::Metrics;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
    pub renew_every: Duration,
}

/// Campaigns for the Lease forever; `tx` carries whether this replica leads. Leadership is
/// given up (the flag drops to `false`) when the Lease could not be renewed within its
/// duration. Ends when `release` fires (sent once the controller has stopped, so the next
/// leader never overlaps with in-flight reconciles) or its sender is dropped, releasing the
/// Lease if held.
pub async fn campaign(
    api: Api<Lease>,
    cfg: LeaseConfig,
    tx: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    mut release_rx: watch::Receiver<bool>,
) {
    let mut last_renew = tokio::time::Instant::now();
    loop {
        let leading = *tx.borrow();
        match try_acquire(&api, &cfg, leading).await {
            Ok(true) => {
                if !leading {
                    tracing::info!(identity = %cfg.identity, lease = %cfg.name, "became leader");
                }
                last_renew = tokio::time::Instant::now();
                metrics.write("lease");
                let _ = tx.send(true);
            }
            Ok(false) => {
                if leading {
                    tracing::warn!(identity = %cfg.identity, "lost the lease to another replica");
                }
                let _ = tx.send(false);
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease update failed");
                if leading && last_renew.elapsed() > cfg.duration {
                    tracing::warn!("could not renew the lease in time; stepping down");
                    let _ = tx.send(false);
                }
            }
        }
        metrics.leader.store(*tx.borrow(), Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(cfg.renew_every) => {}
            _ = release_rx.changed() => break,
        }
    }
    if *tx.borrow() {
        release(&api, &cfg).await;
        let _ = tx.send(false);
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// One round: create, renew, or take over an expired Lease. Returns whether we hold it.
async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig, _leading: bool) -> kube::Result<bool> {
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(15);
    match api.get_opt(&cfg.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            let holder = spec.holder_identity.clone().unwrap_or_default();
            let mine = holder == cfg.identity;
            let dur = spec.lease_duration_seconds.unwrap_or(secs).max(1);
            let expired = match &spec.renew_time {
                None => true,
                Some(MicroTime(t)) => {
                    let age = Timestamp::now().duration_since(*t);
                    age.as_secs() >= i64::from(dur)
                }
            };
            if !mine && !holder.is_empty() && !expired {
                return Ok(false);
            }
            if !mine {
                spec.acquire_time = Some(now());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.holder_identity = Some(cfg.identity.clone());
            spec.lease_duration_seconds = Some(secs);
            spec.renew_time = Some(now());
            // `replace` carries resourceVersion: a concurrent writer makes this fail with 409.
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Empties the holder so another replica takes over at once (graceful shutdown).
async fn release(api: &Api<Lease>, cfg: &LeaseConfig) {
    if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await {
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() == Some(cfg.identity.as_str()) {
            spec.holder_identity = None;
            spec.renew_time = None;
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => tracing::info!("released the lease"),
                Err(e) => tracing::warn!(error = %e, "could not release the lease"),
            }
        }
    }
}
