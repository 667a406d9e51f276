//! Prometheus metrics and the small HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
//!
//! Owns: counters, gauges (objects by the reason of their `Ready` condition, identities,
//! leadership), the decrypt-latency histogram, the text exposition format and the listener.
//! Must not know: secrets, documents, or the API client. Labels are reasons, never values.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Upper bounds (seconds) of the decrypt-latency histogram buckets.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    pub reconciles: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    writes: Mutex<BTreeMap<&'static str, u64>>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    decrypt: Mutex<Histogram>,
    pub leader: AtomicBool,
    pub ready: AtomicBool,
    /// The reason of each tracked object's `Ready` condition, by `namespace/name`.
    objects: Mutex<HashMap<String, &'static str>>,
    /// Age identities currently loaded.
    pub age_identities: AtomicU64,
    key_reloads: Mutex<BTreeMap<&'static str, u64>>,
    /// Entries of the reconciler's per-object maps (backoff counters, last statuses).
    tracked: Mutex<(u64, u64)>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    pub fn failure(&self, reason: &'static str) {
        *self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Counts one write to the API server (`secret`, `status`, `event`, `lease`, `configmap`,
    /// `workload`).
    pub fn write(&self, what: &'static str) {
        *self
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(what)
            .or_default() += 1;
    }

    pub fn writes_of(&self, what: &str) -> u64 {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    /// Records the outcome of an object's last reconcile (`namespace/name`, reason).
    pub fn set_object(&self, key: &str, reason: &'static str) {
        let mut o = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        match o.get_mut(key) {
            Some(r) => *r = reason,
            None => {
                o.insert(key.to_owned(), reason);
            }
        }
    }

    /// Keeps only the objects for which `keep(namespace/name)` holds (deleted ones are dropped).
    pub fn retain_objects(&self, mut keep: impl FnMut(&str) -> bool) {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keep(k));
    }

    /// How many objects are tracked.
    pub fn objects_tracked(&self) -> usize {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Sizes of the reconciler's per-object maps, after pruning.
    pub fn set_tracked(&self, backoff: usize, statuses: usize) {
        *self.tracked.lock().unwrap_or_else(|p| p.into_inner()) = (backoff as u64, statuses as u64);
    }

    /// Counts one key reload (`ok` or `error`).
    pub fn key_reload(&self, result: &'static str) {
        *self
            .key_reloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(result)
            .or_default() += 1;
    }

    pub fn observe_decrypt(&self, d: Duration) {
        let s = d.as_secs_f64();
        let mut h = self.decrypt.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP shroud_reconciles_total Reconciliations started.\n# TYPE shroud_reconciles_total counter\nshroud_reconciles_total {}",
            self.reconciles.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP shroud_reconcile_failures_total Failed reconciliations by reason.\n# TYPE shroud_reconcile_failures_total counter"
        );
        for (r, n) in self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "shroud_reconcile_failures_total{{reason=\"{r}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP shroud_api_writes_total Writes issued to the API server by kind.\n# TYPE shroud_api_writes_total counter"
        );
        for (r, n) in self.writes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(o, "shroud_api_writes_total{{kind=\"{r}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP shroud_datakey_cache_total Data-key lookups by result.\n# TYPE shroud_datakey_cache_total counter\nshroud_datakey_cache_total{{result=\"hit\"}} {}\nshroud_datakey_cache_total{{result=\"miss\"}} {}",
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed)
        );
        {
            let h = self.decrypt.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(
                o,
                "# HELP shroud_decrypt_duration_seconds Time to unwrap, decrypt and verify one object.\n# TYPE shroud_decrypt_duration_seconds histogram"
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "shroud_decrypt_duration_seconds_bucket{{le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                o,
                "shroud_decrypt_duration_seconds_bucket{{le=\"+Inf\"}} {c}\nshroud_decrypt_duration_seconds_sum {}\nshroud_decrypt_duration_seconds_count {c}",
                h.sum,
                c = h.count
            );
        }
        let _ = writeln!(
            o,
            "# HELP shroud_leader Whether this replica holds the leader Lease.\n# TYPE shroud_leader gauge\nshroud_leader {}",
            u8::from(self.leader.load(Ordering::Relaxed))
        );
        let mut by_reason: BTreeMap<&'static str, u64> = BTreeMap::from([("Decrypted", 0)]);
        for r in self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            *by_reason.entry(r).or_default() += 1;
        }
        let _ = writeln!(
            o,
            "# HELP shroud_objects EncryptedSecrets reconciled by this replica, by the reason of their Ready condition (Decrypted = Ready).\n# TYPE shroud_objects gauge"
        );
        for (r, n) in by_reason {
            let _ = writeln!(o, "shroud_objects{{reason=\"{r}\"}} {n}");
        }
        let (backoff, statuses) = *self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            o,
            "# HELP shroud_tracked_entries Per-object entries the reconciler keeps (pruned when objects are deleted).\n# TYPE shroud_tracked_entries gauge\nshroud_tracked_entries{{map=\"backoff\"}} {backoff}\nshroud_tracked_entries{{map=\"status\"}} {statuses}\nshroud_tracked_entries{{map=\"objects\"}} {}",
            self.objects_tracked()
        );
        let _ = writeln!(
            o,
            "# HELP shroud_age_identities Age identities loaded.\n# TYPE shroud_age_identities gauge\nshroud_age_identities {}",
            self.age_identities.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP shroud_key_reloads_total Reloads of the key files after they changed, by result.\n# TYPE shroud_key_reloads_total counter"
        );
        for (r, n) in self
            .key_reloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "shroud_key_reloads_total{{result=\"{r}\"}} {n}");
        }
        o
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` until the process ends. Returns the bound address.
pub async fn serve(addr: SocketAddr, m: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let m = m.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                let read = tokio::time::timeout(Duration::from_secs(5), async {
                    while n < buf.len() {
                        match sock.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k,
                        }
                        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                })
                .await;
                if read.is_err() {
                    return;
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (code, body, ctype) = match path {
                    "/metrics" => ("200 OK", m.render(), "text/plain; version=0.0.4"),
                    "/healthz" => ("200 OK", "ok\n".to_owned(), "text/plain"),
                    "/readyz" if m.ready.load(Ordering::Relaxed) => {
                        ("200 OK", "ok\n".to_owned(), "text/plain")
                    }
                    "/readyz" => (
                        "503 Service Unavailable",
                        "not ready\n".to_owned(),
                        "text/plain",
                    ),
                    _ => ("404 Not Found", "not found\n".to_owned(), "text/plain"),
                };
                let resp = format!(
                    "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(local)
}
