//! Signals: temp plaintext never outlives the process. Every catchable signal whose default
//! action ends the process and that can be sent from outside (HUP, INT, QUIT, USR1, USR2,
//! ALRM, TERM, STKFLT, XCPU, XFSZ, VTALRM, PROF, IO, PWR and the real-time signals) runs the
//! library's cleanup registry (`fsutil::cleanup_on_signal`), then ends the process with the
//! signal's default action, so the parent sees the real cause (a signal the handler library
//! cannot re-raise, such as a real-time one, ends it with exit status 128 + its number, as a
//! shell reports it). SIGKILL and SIGSTOP cannot be caught; SEGV, ILL, FPE and BUS are faults
//! of the process itself; SIGPIPE is ignored by Rust's runtime.
//!
//! While an editor or a command runs, a terminal's Ctrl-C or Ctrl-\ reaches it too and it
//! decides (vim ignores Ctrl-C); shroud then waits for it and cleans up on the normal path. A
//! signal sent to shroud itself (`kill`) is forwarded to the child (HUP, INT, QUIT and TERM as
//! they are; any other as SIGTERM, since the child must end with shroud and vim, for one, only
//! saves its swap file on SIGUSR1), then cleanup runs. The child's death is not reported as the
//! child's failure: the main thread leaves the exit to the handler (`run_child`).
//! Must not know: what the temp files hold.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, LazyLock};

use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

/// The running child's pid (0: none).
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Set (in the signal handler itself, as the signal is delivered) when a handled signal
/// arrives; cleared by the handler thread when it decides to let the signal pass (a terminal's
/// Ctrl-C while an editor runs).
static ARRIVED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Set by the handler thread once it has decided to end the process (before it forwards the
/// signal to the child).
static ENDING: AtomicBool = AtomicBool::new(false);

/// The signals handled: every catchable one whose default action ends the process and that
/// can be sent from outside.
fn handled() -> Vec<i32> {
    let mut s = vec![
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    s.extend([libc::SIGSTKFLT, libc::SIGPWR]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    s.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    s
}

/// What the child is sent when shroud is ended by `sig`.
fn forwarded(sig: i32) -> rustix::process::Signal {
    use rustix::process::Signal;
    match sig {
        libc::SIGHUP => Signal::HUP,
        libc::SIGINT => Signal::INT,
        libc::SIGQUIT => Signal::QUIT,
        _ => Signal::TERM,
    }
}

/// Installs the handler thread the first time a temp path or a child needs it (main hands
/// this to `fsutil::on_first_cleanup`; until then a signal's default action is right: there
/// is nothing to clean up).
pub fn install() {
    let signals = handled();
    // Registered first: a signal's actions run in order, so the flag is set before the thread
    // below hears of the signal (and can clear it).
    let flags: Vec<_> = signals
        .iter()
        .filter_map(|&sig| signal_hook::flag::register(sig, Arc::clone(&ARRIVED)).ok())
        .collect();
    let Ok(mut signals) = SignalsInfo::<WithOrigin>::new(signals) else {
        for id in flags {
            signal_hook::low_level::unregister(id);
        }
        return;
    };
    std::thread::spawn(move || {
        for info in signals.forever() {
            let child = CHILD.load(Ordering::SeqCst);
            let from_terminal = matches!(info.cause, Cause::Kernel);
            if child != 0 && from_terminal && matches!(info.signal, libc::SIGINT | libc::SIGQUIT) {
                ARRIVED.store(false, Ordering::SeqCst);
                continue;
            }
            ENDING.store(true, Ordering::SeqCst);
            if child != 0
                && let Some(pid) = rustix::process::Pid::from_raw(child)
            {
                let _ = rustix::process::kill_process(pid, forwarded(info.signal));
            }
            shroud::external::kill_children();
            shroud::fsutil::cleanup_on_signal();
            let _ = signal_hook::low_level::emulate_default_handler(info.signal);
            std::process::exit(128 + info.signal);
        }
    });
}

/// Runs `cmd` to completion as the current child (signals are forwarded to it). When a signal
/// that ends shroud ended the child too, this never returns: the handler thread cleans up and
/// ends the process with that signal (the child's death is not the child's failure).
pub fn run_child(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    shroud::fsutil::arm_signal_cleanup();
    let mut child: Child = cmd.spawn()?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    // A signal has arrived and the handler thread has not decided yet: wait for its decision
    // (it takes microseconds; the bound only keeps a lost wake-up from becoming a hang).
    for _ in 0..5000 {
        if !ARRIVED.load(Ordering::SeqCst) || ENDING.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if ENDING.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    status
}
