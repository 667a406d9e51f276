//! Prometheus metrics and the small HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
//!
//! Owns: counters, the decrypt-latency histogram, the text exposition format and the listener.
//! Must not know: secrets, documents, or the API client. Labels are reasons, never values.

use std::collections::BTreeMap;
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

    /// Counts one write to the API server (`secret`, `status`, `event`, `lease`).
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
