//! Running one operation over many files: the one runner behind `rotate`, `updatekeys`,
//! `keys revoke`, `encrypt -i F1 F2 …`/`--recursive` and `keys verify`.
//!
//! Owns: at most N files in flight as tasks of the (multi-thread) runtime, so files are
//! processed in parallel; isolating failures (one file's error, or a task that dies, never
//! stops the others, and every file gets a result); results in input order; a progress call
//! after each file. Must not know: what the operation does, terminals, prompts, summaries (the
//! CLI's `bulk` module shows the plan, asks once, draws the bar and sums up).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Called after each file is done (a progress bar's tick).
pub type Progress = Arc<dyn Fn(&Path) + Send + Sync>;

/// A progress callback that does nothing.
pub fn no_progress() -> Progress {
    Arc::new(|_: &Path| {})
}

/// Runs `work` for every `(path, item)` with at most `parallel` in flight, each as its own
/// task. Results come back in input order; a task that panicked gets [`Error::Internal`].
pub async fn run<I, T, F, Fut>(
    items: Vec<(PathBuf, I)>,
    parallel: usize,
    progress: Progress,
    work: F,
) -> Vec<(PathBuf, Result<T>)>
where
    F: Fn(PathBuf, I) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let paths: Vec<PathBuf> = items.iter().map(|(p, _)| p.clone()).collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let results = Arc::new(Mutex::new(Vec::with_capacity(items.len())));
    let mut set = tokio::task::JoinSet::new();
    for (i, (path, item)) in items.into_iter().enumerate() {
        let sem = sem.clone();
        let results = results.clone();
        let progress = progress.clone();
        let job = work(path.clone(), item);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let r = job.await;
            progress(&path);
            results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((i, r));
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Err(e) = joined {
            tracing::error!("a file task failed: {e}");
        }
    }
    let mut done: Vec<Option<Result<T>>> = paths.iter().map(|_| None).collect();
    for (i, r) in std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner())) {
        done[i] = Some(r);
    }
    paths
        .into_iter()
        .zip(done)
        .map(|(p, r)| {
            // A task that died (a bug) still gets a line in the summary.
            let r = r.unwrap_or_else(|| {
                Err(Error::Internal {
                    file: p.display().to_string(),
                })
            });
            (p, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results keep the input order, at most `parallel` run at once, a failure stays with its
    /// file, and a task that panics is reported as an internal error of its file only.
    #[test]
    fn order_isolation_and_limit() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = ticks.clone();
        let items: Vec<(PathBuf, usize)> = (0..20)
            .map(|i| (PathBuf::from(format!("f{i}")), i))
            .collect();
        let out = rt.block_on(run(
            items,
            3,
            Arc::new(move |_: &Path| {
                t.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
            |p, i| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    running.fetch_sub(1, SeqCst);
                    match i {
                        7 => panic!("a bug"),
                        11 => Err(Error::NoFile {
                            file: p.display().to_string(),
                        }),
                        _ => Ok(i * 2),
                    }
                }
            },
        ));
        assert_eq!(out.len(), 20);
        for (i, (p, r)) in out.iter().enumerate() {
            assert_eq!(p, &PathBuf::from(format!("f{i}")));
            match i {
                7 => assert!(matches!(r, Err(Error::Internal { .. }))),
                11 => assert!(matches!(r, Err(Error::NoFile { .. }))),
                _ => assert_eq!(r.as_ref().ok(), Some(&(i * 2))),
            }
        }
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
        // The panicking task never reached its tick.
        assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), 19);
    }
}
