//! Calls that leave the process: programs (git, gpg, `SOPS_AGE_KEY_CMD`) and remote services
//! (AWS KMS, AWS Secrets Manager). Every one has a timeout, and a child that is still running
//! when the timeout passes, or when a signal ends shroud, is killed: a hung gpg or an endpoint
//! that accepts and never answers must not hang a command, and must not outlive it.
//!
//! Owns: the [`Service`] table (name, environment variable, default timeout), running a child
//! process to completion under a deadline ([`run`]), bounding a future by a service's timeout
//! ([`timed`]), supervising a library call that starts programs itself ([`supervise`]: the
//! age crate's plugin connection), and the registry of running children the signal handler
//! kills ([`kill_children`]). Must not know: what the programs are asked, or what their output
//! means.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Something outside the process that shroud waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Git,
    Gpg,
    /// `SOPS_AGE_KEY_CMD` / `SOPS_AGE_SSH_PRIVATE_KEY_CMD`.
    KeyCommand,
    /// An age plugin binary (`age-plugin-NAME`).
    AgePlugin,
    Kms,
    SecretsManager,
}

impl Service {
    /// Every service, for documentation and tests.
    pub const ALL: [Service; 6] = [
        Service::Git,
        Service::Gpg,
        Service::KeyCommand,
        Service::AgePlugin,
        Service::Kms,
        Service::SecretsManager,
    ];

    /// The service's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Git => "git",
            Service::Gpg => "gpg",
            Service::KeyCommand => "the key command",
            Service::AgePlugin => "the age plugin",
            Service::Kms => "AWS KMS",
            Service::SecretsManager => "AWS Secrets Manager",
        }
    }

    /// The environment variable that sets its timeout, in seconds (`30` or `30s`).
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Git => "SHROUD_GIT_TIMEOUT",
            Service::Gpg => "SHROUD_GPG_TIMEOUT",
            Service::KeyCommand => "SHROUD_KEY_CMD_TIMEOUT",
            Service::AgePlugin => "SHROUD_AGE_PLUGIN_TIMEOUT",
            Service::Kms => "SHROUD_KMS_TIMEOUT",
            Service::SecretsManager => "SHROUD_SECRETS_MANAGER_TIMEOUT",
        }
    }

    /// The timeout when the environment sets none. Commands that may prompt a person (gpg's
    /// pinentry, a password manager behind the key command, a hardware key's touch) get
    /// minutes; network calls get seconds; git may read a large history.
    pub fn default_timeout(self) -> Duration {
        Duration::from_secs(match self {
            Service::Git => 300,
            Service::Gpg | Service::AgePlugin => 120,
            Service::KeyCommand => 60,
            Service::Kms | Service::SecretsManager => 30,
        })
    }

    /// The timeout in force: the environment variable, else the default. `0` is refused
    /// (it would make every call fail) and falls back to the default.
    pub fn timeout(self) -> Duration {
        std::env::var(self.env_var())
            .ok()
            .and_then(|v| parse_seconds(&v))
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| self.default_timeout())
    }
}

/// `30`, `30s`, `1.5` (seconds).
fn parse_seconds(v: &str) -> Option<Duration> {
    let v = v.trim();
    let v = v.strip_suffix('s').unwrap_or(v);
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Why an external call failed before it could answer.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error(
        "{service} did not answer within {secs} s ({what}) and was stopped (set {var} to allow longer)",
        service = .service.name(), var = .service.env_var()
    )]
    Timeout {
        service: Service,
        what: String,
        secs: u64,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program}: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

impl ExternalError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, ExternalError::Timeout { .. })
    }
}

/// What a finished child printed and how it ended. `stdout` may hold key material: callers
/// that expect secrets move it into a zeroizing container at once.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The pids of running children (see [`kill_children`]), and whether each leads a process
/// group of its own (then the whole group is killed).
static CHILDREN: Mutex<Vec<(u32, bool)>> = Mutex::new(Vec::new());

/// Removes a pid from the registry when dropped.
pub struct ChildGuard(u32);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let mut reg = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg.iter().rposition(|(p, _)| *p == self.0) {
            reg.swap_remove(i);
        }
    }
}

/// Registers a running child to be killed if a signal ends the process first.
pub fn register_child(pid: u32) -> ChildGuard {
    register(pid, false)
}

fn register(pid: u32, group: bool) -> ChildGuard {
    crate::fsutil::arm_signal_cleanup();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, group));
    ChildGuard(pid)
}

/// SIGKILL to a child, or to the process group it leads.
fn kill(pid: u32, group: bool) {
    use rustix::process::{Pid, Signal, kill_process, kill_process_group};
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = if group {
            kill_process_group(pid, Signal::KILL)
        } else {
            kill_process(pid, Signal::KILL)
        };
    }
}

/// Kills every registered child (SIGKILL). Called by the binary's signal handler before the
/// process exits, so a hung gpg or git does not survive Ctrl-C.
pub fn kill_children() {
    let pids = std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|e| e.into_inner()));
    for (pid, group) in pids {
        kill(pid, group);
    }
}

/// Runs `f`, a blocking call into a library that talks to `service` itself (the rotation
/// job's in-process git: connect, SSH handshake, fetch, push), on a thread of its own, and
/// waits for it at most `service`'s timeout. A call still running then fails with
/// [`ExternalError::Timeout`] naming `what`; its thread is left behind, blocked on a socket
/// that the process's exit closes (the caller must then fail, not wait for it).
pub fn within<T: Send + 'static>(
    service: Service,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ExternalError> {
    let limit = service.timeout();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("shroud-{}", service.name().replace(' ', "-")))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|source| ExternalError::Io {
            program: service.name().to_owned(),
            source,
        })?;
    rx.recv_timeout(limit).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => ExternalError::Timeout {
            service,
            what: what.to_owned(),
            secs: limit.as_secs().max(1),
        },
        std::sync::mpsc::RecvTimeoutError::Disconnected => ExternalError::Io {
            program: service.name().to_owned(),
            source: std::io::Error::other(format!("{what} stopped unexpectedly")),
        },
    })
}

/// The most output read from a child (a key command or gpg answer is small; git output is
/// bounded by the repository, which this caps against a runaway process).
const MAX_OUTPUT: u64 = 1 << 30;

/// Runs `cmd` to completion within `service`'s timeout, writing `stdin` (if any) to it and
/// collecting its stdout and stderr. On timeout the child is killed and waited for, and the
/// call fails with [`ExternalError::Timeout`] naming `what`. Its stderr is collected, never
/// passed through (callers decide what of it to show).
pub fn run(
    cmd: &mut Command,
    service: Service,
    what: &str,
    stdin: Option<&[u8]>,
) -> Result<Output, ExternalError> {
    run_within(cmd, service, service.timeout(), what, stdin)
}

/// [`run`] for a program that may talk to the person (a password manager's prompt behind
/// `SOPS_AGE_KEY_CMD`): its stderr is passed on to ours as it comes, through a pipe of ours
/// (a process it leaves behind after a timeout then holds no descriptor of our caller's), and
/// [`Output::stderr`] is empty.
pub fn run_showing_stderr(
    cmd: &mut Command,
    service: Service,
    what: &str,
    stdin: Option<&[u8]>,
) -> Result<Output, ExternalError> {
    run_inner(cmd, service, service.timeout(), what, stdin, true)
}

/// [`run`] with an explicit deadline.
pub fn run_within(
    cmd: &mut Command,
    service: Service,
    limit: Duration,
    what: &str,
    stdin: Option<&[u8]>,
) -> Result<Output, ExternalError> {
    run_inner(cmd, service, limit, what, stdin, false)
}

fn run_inner(
    cmd: &mut Command,
    service: Service,
    limit: Duration,
    what: &str,
    stdin: Option<&[u8]>,
    show_stderr: bool,
) -> Result<Output, ExternalError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| ExternalError::Spawn {
        program: program.clone(),
        source,
    })?;
    let _guard = register_child(child.id());
    // Readers and the writer run on their own threads so that a child blocked on a full pipe
    // never deadlocks us, and so that the deadline is checked while they run. A grandchild
    // that keeps a pipe open after a timeout leaves its reader thread behind, not us.
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => {
            let bytes = zeroize::Zeroizing::new(bytes.to_vec());
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    // Each reader hands its result over a channel: the caller wakes when the output ends, not
    // at the next tick of a polling clock.
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = (&mut out_pipe).take(MAX_OUTPUT).read_to_end(&mut buf);
        let _ = out_tx.send(r.map(|_| buf));
    });
    let (err_tx, err_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if show_stderr {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut chunk) {
                let mut out = std::io::stderr().lock();
                let _ = out.write_all(&chunk[..n]);
                let _ = out.flush();
            }
        } else {
            let _ = (&mut err_pipe).take(1 << 20).read_to_end(&mut buf);
        }
        let _ = err_tx.send(buf);
    });
    let start = Instant::now();
    // The output ends when the child exits (or closes it, or at the deadline); then the child
    // is reaped (killed at the deadline if it still runs).
    let stdout = out_rx.recv_timeout(limit);
    let status = wait_until(&mut child, start, limit).map_err(|e| match e {
        Some(source) => ExternalError::Io { program, source },
        None => ExternalError::Timeout {
            service,
            what: what.to_owned(),
            secs: limit.as_secs().max(1),
        },
    })?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    // The child has exited; its pipes close unless a grandchild holds them: wait for the
    // output no longer than what is left of the deadline.
    let stdout = stdout
        .or_else(|_| out_rx.recv_timeout(limit.saturating_sub(start.elapsed())))
        .ok()
        .and_then(|r| r.ok())
        .ok_or_else(|| ExternalError::Timeout {
            service,
            what: format!("{what}: its output did not end"),
            secs: limit.as_secs().max(1),
        })?;
    let stderr = err_rx
        .recv_timeout(Duration::from_millis(200))
        .unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Waits for `child` to exit, killing it (and failing with `None`) once `limit` has passed
/// since `start`. Polls: sleeps of 20 µs doubling up to 1 ms (a child whose output just ended
/// is exiting), 10 ms after the first 50 ms.
fn wait_until(
    child: &mut std::process::Child,
    start: Instant,
    limit: Duration,
) -> Result<ExitStatus, Option<std::io::Error>> {
    let mut nap = Duration::from_micros(20);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st),
            Ok(None) if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(None);
            }
            Ok(None) => {
                let cap = if start.elapsed() < Duration::from_millis(50) {
                    Duration::from_millis(1)
                } else {
                    Duration::from_millis(10)
                };
                std::thread::sleep(nap.min(cap));
                nap = (nap * 2).min(cap);
            }
            Err(source) => {
                let _ = child.kill();
                return Err(Some(source));
            }
        }
    }
}

/// One supervised call at a time: the children a call starts are told apart from other
/// threads' only by name, and a hardware key behind a plugin serves one request at a time anyway.
static SUPERVISED: Mutex<()> = Mutex::new(());

/// Runs `call`, a library call that starts programs named `program*` itself and keeps no handle
/// we could use (the age crate's plugin connection spawns `age-plugin-NAME` and drops its
/// `Child`), under `service`'s timeout. While it runs, this process's new children whose name
/// starts with `program` are found in `/proc`, registered (a signal that ends shroud kills them)
/// and, when the timeout passes, killed: the call then sees its pipes close and returns, and
/// this returns [`ExternalError::Timeout`]. Afterwards they are reaped (the library does not wait
/// for them). Without `/proc` (not Linux) the call runs unsupervised.
pub fn supervise<T>(
    service: Service,
    what: &str,
    program: &str,
    call: impl FnOnce() -> T,
) -> Result<T, ExternalError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _one = SUPERVISED.lock().unwrap_or_else(|e| e.into_inner());
    let limit = service.timeout();
    let before = children_named(program);
    let done = AtomicBool::new(false);
    let timed_out = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        let watchdog = s.spawn(|| {
            let start = Instant::now();
            let mut seen: Vec<(u32, ChildGuard)> = Vec::new();
            loop {
                // Read before the scan: a child that ends just before `done` is still found.
                let finished = done.load(Ordering::Acquire);
                for pid in children_named(program) {
                    if !before.contains(&pid) && !seen.iter().any(|(p, _)| *p == pid) {
                        seen.push((pid, register_child(pid)));
                    }
                }
                if finished {
                    break;
                }
                if !timed_out.load(Ordering::Relaxed) && start.elapsed() >= limit {
                    for (pid, _) in &seen {
                        signal_kill(*pid);
                    }
                    timed_out.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(
                    if start.elapsed() < Duration::from_millis(100) {
                        5
                    } else {
                        20
                    },
                ));
            }
            for (pid, _) in &seen {
                reap(*pid);
            }
        });
        // Set even if the call panics, so that the watchdog ends and the scope can close.
        struct Finish<'a>(&'a AtomicBool);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let finish = Finish(&done);
        let r = call();
        drop(finish);
        let _ = watchdog.join();
        r
    });
    if timed_out.load(Ordering::Relaxed) {
        return Err(ExternalError::Timeout {
            service,
            what: what.to_owned(),
            secs: limit.as_secs().max(1),
        });
    }
    Ok(out)
}

/// The pids of this process's children whose name (`/proc/PID/stat`'s `comm`, at most 15
/// bytes) starts with `program`, exited ones (not yet reaped) included.
fn children_named(program: &str) -> Vec<u32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let prefix = &program.as_bytes()[..program.len().min(15)];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read(entry.path().join("stat")) else {
            continue;
        };
        // `PID (COMM) STATE PPID …`; COMM may hold spaces and parentheses: it ends at the last `)`.
        let (Some(open), Some(close)) = (
            stat.iter().position(|&c| c == b'('),
            stat.iter().rposition(|&c| c == b')'),
        ) else {
            continue;
        };
        if close <= open || !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let rest = String::from_utf8_lossy(&stat[close + 1..]);
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

fn signal_kill(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Waits for a child found by [`children_named`]: a moment for it to exit on its own (a plugin
/// exits once its last answer is read), then it is killed.
fn reap(pid: u32) {
    use rustix::process::{Pid, WaitOptions, waitpid};
    let Some(p) = Pid::from_raw(pid as i32) else {
        return;
    };
    let start = Instant::now();
    loop {
        match waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(None) if start.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(None) => {
                signal_kill(pid);
                let _ = waitpid(Some(p), WaitOptions::empty());
                return;
            }
            // Reaped, or not (any more) our child.
            Ok(Some(_)) | Err(_) => return,
        }
    }
}

/// Bounds a future (a KMS or Secrets Manager request, a gpg child) by `service`'s timeout.
/// The future is dropped on timeout: requests are cancelled, and children spawned with
/// `kill_on_drop` are killed.
pub async fn timed<T>(
    service: Service,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ExternalError> {
    let limit = service.timeout();
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ExternalError::Timeout {
            service,
            what: what.to_owned(),
            secs: limit.as_secs().max(1),
        })
}

/// A child whose output is read as a stream (`git log` over a whole history, `git cat-file
/// --batch` over every blob): all of it may take as long as the repository is large, so the
/// service's timeout bounds each wait for output instead (time spent waiting while the reader
/// is busy elsewhere does not count). A wait that passes it kills the child, and the read then
/// fails with [`ExternalError::Timeout`] (inside an [`std::io::Error`]), never a short stream
/// that looks complete. The child is registered, so a signal that ends shroud kills it.
pub struct Streamed {
    pub child: std::process::Child,
    watch: std::sync::Arc<Watch>,
    watchdog: Option<std::thread::JoinHandle<()>>,
    _guard: ChildGuard,
}

/// What the watchdog of a [`Streamed`] child shares with its reader.
struct Watch {
    start: Instant,
    /// Milliseconds since `start` (plus one) when the pending read began; 0 when none is.
    waiting_since: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicBool,
    timed_out: std::sync::atomic::AtomicBool,
    service: Service,
    what: String,
}

impl Watch {
    fn timeout_error(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            ExternalError::Timeout {
                service: self.service,
                what: self.what.clone(),
                secs: self.service.timeout().as_secs(),
            },
        )
    }
}

/// The stdout of a [`Streamed`] child.
pub struct StreamOut {
    inner: std::process::ChildStdout,
    watch: std::sync::Arc<Watch>,
}

impl Read for StreamOut {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering;
        let since = self.watch.start.elapsed().as_millis() as u64 + 1;
        self.watch.waiting_since.store(since, Ordering::Release);
        let r = self.inner.read(buf);
        self.watch.waiting_since.store(0, Ordering::Release);
        if self.watch.timed_out.load(Ordering::Acquire) {
            return Err(self.watch.timeout_error());
        }
        r
    }
}

/// Starts `cmd` (its stdout piped) as a [`Streamed`] child of `service`; `what` names the call
/// in a timeout message.
pub fn stream(
    cmd: &mut Command,
    service: Service,
    what: &str,
) -> Result<(Streamed, StreamOut), ExternalError> {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    // Its own process group: a timeout kills whatever it started too (a child that kept the
    // pipe open would keep the read waiting).
    let mut child = cmd
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ExternalError::Spawn {
            program: what.split(' ').next().unwrap_or(what).to_owned(),
            source,
        })?;
    let guard = register(child.id(), true);
    let stdout = child.stdout.take().ok_or_else(|| ExternalError::Io {
        program: what.to_owned(),
        source: std::io::Error::other("no stdout"),
    })?;
    // A streamed child writes a lot (a history's blobs): a pipe of 1 MiB instead of 64 KiB
    // wakes reader and writer a sixteenth as often. Best effort: the system may cap it.
    let _ = rustix::pipe::fcntl_setpipe_size(&stdout, 1 << 20);
    let watch = std::sync::Arc::new(Watch {
        start: Instant::now(),
        waiting_since: AtomicU64::new(0),
        done: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
        service,
        what: what.to_owned(),
    });
    let limit = service.timeout().as_millis() as u64;
    let pid = child.id();
    let w = watch.clone();
    let watchdog = std::thread::Builder::new()
        .name("stream-watchdog".into())
        .spawn(move || {
            let tick = Duration::from_millis((limit / 10).clamp(10, 1000));
            while !w.done.load(Ordering::Acquire) {
                let since = w.waiting_since.load(Ordering::Acquire);
                let now = w.start.elapsed().as_millis() as u64 + 1;
                if since != 0 && now.saturating_sub(since) >= limit {
                    w.timed_out.store(true, Ordering::Release);
                    kill(pid, true);
                    return;
                }
                std::thread::park_timeout(tick);
            }
        });
    let watchdog = match watchdog {
        Ok(t) => t,
        Err(source) => {
            kill(pid, true);
            let _ = child.wait();
            return Err(ExternalError::Spawn {
                program: "a watchdog thread".into(),
                source,
            });
        }
    };
    Ok((
        Streamed {
            child,
            watch: watch.clone(),
            watchdog: Some(watchdog),
            _guard: guard,
        },
        StreamOut {
            inner: stdout,
            watch,
        },
    ))
}

impl Streamed {
    /// Waits for the child (after its output was read to the end); a read that timed out makes
    /// this fail too.
    pub fn wait(mut self) -> std::io::Result<ExitStatus> {
        use std::sync::atomic::Ordering;
        // Waiting for the exit is bounded too (a git that closed its output and then stalls).
        let since = self.watch.start.elapsed().as_millis() as u64 + 1;
        self.watch.waiting_since.store(since, Ordering::Release);
        let status = self.child.wait();
        self.watch.waiting_since.store(0, Ordering::Release);
        self.stop_watchdog();
        if self.watch.timed_out.load(Ordering::Acquire) {
            return Err(self.watch.timeout_error());
        }
        status
    }

    fn stop_watchdog(&mut self) {
        self.watch
            .done
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(t) = self.watchdog.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Streamed {
    /// A child left unread (the caller failed half-way) is killed and reaped, not left behind.
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.stop_watchdog();
            kill(self.child.id(), true);
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("soon"), None);
    }

    #[test]
    fn a_hung_child_is_killed_at_the_deadline() {
        let start = Instant::now();
        let err = run_within(
            Command::new("sleep").arg("30"),
            Service::Gpg,
            Duration::from_millis(300),
            "test",
            None,
        )
        .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("SHROUD_GPG_TIMEOUT"), "{err}");
    }

    /// A child that exits while a process it started holds its output open fails at the
    /// deadline, saying the output did not end, with the child's exit seen.
    #[test]
    fn output_held_by_a_grandchild_ends_at_the_deadline() {
        let start = Instant::now();
        let err = run_within(
            Command::new("sh").args(["-c", "sleep 3 & echo started"]),
            Service::Git,
            Duration::from_millis(300),
            "test",
            None,
        )
        .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(err.to_string().contains("did not end"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn output_and_stdin() {
        let out = run(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            Service::Git,
            "test",
            Some(b"hello"),
        )
        .unwrap();
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn every_service_has_a_distinct_variable() {
        let mut vars: Vec<_> = Service::ALL.iter().map(|s| s.env_var()).collect();
        vars.sort();
        vars.dedup();
        assert_eq!(vars.len(), Service::ALL.len());
    }
}
