//! The reporting edge (as ripgrep's `messages.rs`): every line the CLI writes to stderr about a
//! failure, a warning or a file's progress goes through here, and so does the process's exit
//! status ([`finish`]), for shroud's own command line and for the sops drop-in alike.
//!
//! Owns: one line per message (newlines folded), sanitised for the terminal (control
//! characters from file names or other untrusted text made visible), a closed stderr ignored;
//! the `shroud: ` prefix (the drop-in prints sops's bare lines); a closed stdout as a quiet
//! success; the error → exit-code step. Must not know: what the verbs do, which code an error
//! means (the library's `Error::exit_code`, or the drop-in's table, decides).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use shroud::error::Error;

/// What a verb wants the process to do on success.
pub enum Outcome {
    Done,
    /// Exit with a documented code other than success (findings, files a restore would lose).
    Code(shroud::error::ExitCode),
    /// Exit with this status: a child's (exec-env / exec-file), or the code sops gives a
    /// failed file (the drop-in, [`sops_code`]).
    Exit(u8),
}

/// The drop-in's table from an error to sops's exit code, for failures a verb reports itself
/// (a bulk run's failed file) rather than returning.
type CodeOf = Box<dyn Fn(&Error) -> u8 + Send + Sync>;
static SOPS_CODES: std::sync::OnceLock<CodeOf> = std::sync::OnceLock::new();

/// The drop-in mode: failed files exit with `code_of`'s code (sops's), not shroud's.
pub fn exit_as_sops(code_of: impl Fn(&Error) -> u8 + Send + Sync + 'static) {
    let _ = SOPS_CODES.set(Box::new(code_of));
}

/// The exit code sops gives this failure, in the drop-in mode.
pub fn sops_code(e: &Error) -> Option<u8> {
    SOPS_CODES.get().map(|f| f(e))
}

/// Set in the drop-in mode: errors are printed as sops prints them, without a prefix.
static SOPS_VOICE: AtomicBool = AtomicBool::new(false);

/// Errors from now on are printed bare, as sops prints them (the drop-in mode).
pub fn speak_as_sops() {
    SOPS_VOICE.store(true, Ordering::Relaxed);
}

/// Whether this is the drop-in mode (the binary invoked as `sops`).
pub fn as_sops() -> bool {
    SOPS_VOICE.load(Ordering::Relaxed)
}

fn write(line: &str, newline: bool) {
    let line = shroud::text::sanitize(&line.replace('\n', " "));
    let mut err = std::io::stderr().lock();
    let _ = if newline {
        writeln!(err, "{line}")
    } else {
        write!(err, "{line}").and_then(|()| err.flush())
    };
}

/// A failure, once, on one line: `shroud: FILE: what happened (what to do)`.
pub fn error(e: &Error) {
    error_line(&e.to_string());
}

/// A failure already put into words (the drop-in's refusals, a cluster-flag error).
pub fn error_line(line: &str) {
    if SOPS_VOICE.load(Ordering::Relaxed) {
        write(line, true);
    } else {
        write(&format!("shroud: {line}"), true);
    }
}

/// One file's failure inside a run over many files: the same line as [`error`]; the run goes
/// on and its exit code is merged at the end ([`shroud::error::ExitCode::merge`]).
pub fn file_error(e: &Error) {
    error(e);
}

/// `shroud: warning: …`.
pub fn warn(msg: &str) {
    write(&format!("shroud: warning: {msg}"), true);
}

/// A line about the work (a plan, a file changed, a summary), as given.
pub fn note(msg: &str) {
    write(msg, true);
}

/// A bulk run's per-file line or summary: silent in the drop-in mode, where sops's `rotate`
/// and `updatekeys` print nothing on success (failures still go through [`file_error`]).
pub fn progress(msg: &str) {
    if !SOPS_VOICE.load(Ordering::Relaxed) {
        note(msg);
    }
}

/// A question waiting for an answer on the same line.
pub fn prompt(msg: &str) {
    write(msg, false);
}

/// How the process ends: a verb's outcome, or its error reported once with the code
/// `code_of` gives it. A closed stdout (`shroud decrypt f | head -1`) is a quiet success.
pub fn finish(
    result: shroud::error::Result<Outcome>,
    code_of: impl FnOnce(&Error) -> u8,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Code(code)) => code.into(),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            error(&e);
            ExitCode::from(code_of(&e))
        }
    }
}
