//! Signals: temp plaintext never outlives the process. SIGINT, SIGTERM, SIGHUP and SIGQUIT
//! run the library's cleanup registry (`fsutil::cleanup_on_signal`), then end the process with
//! the signal's default action, so the parent sees the real cause.
//!
//! While an editor or a command runs, a terminal's Ctrl-C or Ctrl-\ reaches it too and it
//! decides (vim ignores Ctrl-C); shroud then waits for it and cleans up on the normal path. A
//! signal sent to shroud itself (`kill`) is forwarded to the child, then cleanup runs.
//! Must not know: what the temp files hold.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

/// The running child's pid (0: none).
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Installs the handler thread the first time a temp path or a child needs it (main hands
/// this to `fsutil::on_first_cleanup`; until then a signal's default action is right: there
/// is nothing to clean up).
pub fn install() {
    let Ok(mut signals) = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else {
        return;
    };
    std::thread::spawn(move || {
        for info in signals.forever() {
            let child = CHILD.load(Ordering::SeqCst);
            let from_terminal = matches!(info.cause, Cause::Kernel);
            if child != 0 && from_terminal && matches!(info.signal, SIGINT | SIGQUIT) {
                continue;
            }
            if child != 0
                && let Some(pid) = rustix::process::Pid::from_raw(child)
                && let Some(sig) = rustix::process::Signal::from_named_raw(info.signal)
            {
                let _ = rustix::process::kill_process(pid, sig);
            }
            shroud::external::kill_children();
            shroud::fsutil::cleanup_on_signal();
            let _ = signal_hook::low_level::emulate_default_handler(info.signal);
            std::process::exit(128 + info.signal);
        }
    });
}

/// Runs `cmd` to completion as the current child (signals are forwarded to it).
pub fn run_child(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    shroud::fsutil::arm_signal_cleanup();
    let mut child: Child = cmd.spawn()?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    status
}
