//! The library's error type and the documented exit codes (`docs/exit-codes.md`; sops's
//! numbers wherever sops has an equivalent).
//!
//! Owns: one enum of failures, each naming the file and (where relevant) the key path, never a
//! value; and the failure → exit code table, for shroud and for the sops drop-in mode.
//! Must not know: how errors are printed.

use crate::config::ConfigError;
use crate::crypto::{RuleError, TreeError};
use crate::keysource::KeyError;
use crate::metadata::MetadataError;
use crate::store::StoreError;

/// What a process exit means. Every exit status shroud returns comes from here (or is a
/// child's status, for `exec-env`/`exec-file`). Two meanings may share a number where
/// conventions coincide (a scan's findings exit 1 like gitleaks; usage errors exit 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Success,
    /// An unexpected failure, or a declined confirmation.
    Generic,
    /// `scan`/`hook`/`audit --fail-on`: something was found.
    Findings,
    /// The command line is invalid (unknown flag, missing argument).
    Usage,
    CouldNotReadInput,
    CouldNotWriteOutput,
    InvalidInput,
    InvalidConfig,
    /// `keys verify`: a restore from the backup would lose files.
    RestoreWouldLose,
    /// `scan`/`hook`: the scan could not be completed (unreadable file or git object, bad
    /// baseline or scan settings, not a git repository).
    ScanFailed,
    /// `audit`: the audit could not be completed (git or the scanner failed): never read as
    /// "findings" (1) or "clean" (0).
    AuditFailed,
    Integrity,
    ConfigNotFound,
    /// Another shroud process holds the file's lock (`EX_TEMPFAIL`: try again).
    Busy,
    InvalidTreePath,
    NoFile,
    NoEncryptionKey,
    CouldNotRetrieveKey,
    FileNotModified,
    NoEditor,
    AlreadyEncrypted,
    NotEncrypted,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Generic | ExitCode::Findings => 1,
            ExitCode::Usage
            | ExitCode::CouldNotReadInput
            | ExitCode::ScanFailed
            | ExitCode::AuditFailed => 2,
            ExitCode::CouldNotWriteOutput => 3,
            ExitCode::InvalidInput => 4,
            ExitCode::InvalidConfig => 5,
            ExitCode::RestoreWouldLose => 41,
            ExitCode::Integrity => 51,
            ExitCode::ConfigNotFound => 61,
            ExitCode::Busy => 75,
            ExitCode::InvalidTreePath => 91,
            ExitCode::NoFile => 100,
            ExitCode::NoEncryptionKey => 111,
            ExitCode::CouldNotRetrieveKey => 128,
            ExitCode::FileNotModified => 200,
            ExitCode::NoEditor => 201,
            ExitCode::AlreadyEncrypted => 203,
            ExitCode::NotEncrypted => 204,
        }
    }
}

impl ExitCode {
    /// The one exit code of a run over many files, from the codes of the files that failed
    /// (fd's `merge_exitcodes`): success when none failed, their code when they all share one,
    /// else generic. Every bulk verb ends through this.
    pub fn merge(failures: impl IntoIterator<Item = ExitCode>) -> ExitCode {
        let mut merged = ExitCode::Success;
        for c in failures {
            merged = match merged {
                ExitCode::Success => c,
                m if m == c => m,
                _ => return ExitCode::Generic,
            };
        }
        merged
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

/// The error of a procedure built on the library (a key backup, ExternalSecret generation,
/// the scanner): it knows which documented exit code it means. Procedures implement this, so
/// this module never depends on them.
pub trait Failure: std::error::Error + Send + Sync + 'static {
    fn exit_code(&self) -> ExitCode;
}

/// A failure, naming the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: cannot write: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: no such file")]
    NoFile { file: String },
    #[error("{file}: {source}")]
    Store { file: String, source: StoreError },
    #[error("{file}: {source}")]
    Metadata { file: String, source: MetadataError },
    #[error("{file}: {source}")]
    Rules { file: String, source: RuleError },
    #[error("{file}: {source}")]
    Tree { file: String, source: TreeError },
    #[error(
        "{file}: MAC mismatch: the file was changed without re-encrypting it, or it is corrupt; nothing was decrypted (--ignore-mac skips this check)"
    )]
    MacMismatch { file: String },
    #[error(
        "{file}: the file has no MAC, so its integrity cannot be checked; nothing was decrypted (--ignore-mac skips this check)"
    )]
    MacMissing { file: String },
    #[error(
        "{file}: the stored MAC cannot be decrypted (wrong lastmodified or altered MAC); nothing was decrypted (--ignore-mac skips this check)"
    )]
    MacUnreadable { file: String },
    #[error(
        "{file}: damaged sops file: {why}; nothing was decrypted or changed (restore it from version control)"
    )]
    Damaged { file: String, why: String },
    #[error("{file}: {source}")]
    Key { file: String, source: KeyError },
    #[error("{file}: {source}")]
    NoRecipients { file: String, source: KeyError },
    #[error(
        "{file}: already encrypted (it has sops metadata); use decrypt, edit, updatekeys or rotate instead"
    )]
    AlreadyEncrypted { file: String },
    #[error(
        "{file}: not encrypted (no sops metadata); encrypt it first with `shroud encrypt -i {file}`"
    )]
    NotEncrypted { file: String },
    #[error("{file}: key {key:?} is reserved for sops metadata; choose another name")]
    ReservedKey { file: String, key: String },
    /// A key path that does not lead anywhere in the tree (or where a value cannot be set).
    #[error("{file}: {message}")]
    TreePath { file: String, message: String },
    /// A key path that is not written as one (`--extract`, `set`/`unset` INDEX).
    #[error("{file}: {message}")]
    PathSyntax { file: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line is invalid (exit 2): a missing or extra argument, options that do not
    /// go together or need another, a flag value outside the choices it takes, an output that
    /// exists without `--force`, a verb run where it cannot work (outside a git repository,
    /// without a terminal for a passphrase). clap's own usage errors exit 2 as well.
    #[error("{0}")]
    Usage(String),
    /// Invalid configuration (exit 5): a value given on the command line or in `.sops.yaml`
    /// that is read as keys, rules or data and is not acceptable, or a change that would leave
    /// a rule or key group without keys.
    #[error("{0}")]
    Invalid(String),
    /// `set`: the value is not JSON (exit 5; sops exits 7).
    #[error("the value is not valid JSON ({0}); strings need quotes, e.g. '\"text\"'")]
    NotJson(String),
    #[error("{file}: file not modified")]
    NotModified { file: String },
    #[error("{0}")]
    NoEditor(String),
    #[error("{file}: the edited content is not valid ({why}); {file} was not changed")]
    EditRejected { file: String, why: String },
    #[error("{file}: the editor exited with {status}; {file} was not changed")]
    EditorFailed { file: String, status: String },
    #[error("cannot run {command:?}: {source}")]
    Command {
        command: String,
        source: std::io::Error,
    },
    /// A failure of a procedure above the document layer (key backups, ExternalSecret
    /// generation, the scanner), which documents its own exit code ([`Failure`]).
    #[error("{}{failure}", file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Procedure {
        file: Option<String>,
        failure: Box<dyn Failure>,
    },
    #[error("{path}: cannot walk the directory: {message}")]
    Walk { path: String, message: String },
    #[error(
        "{file}: another shroud process is changing this file; nothing was done (try again when it has finished)"
    )]
    Busy { file: String },
    /// A confirmation answered "n".
    #[error("{0}; nothing was changed")]
    Declined(String),
    /// A confirmation that got no y/n answer (end of input, an empty line or several words on
    /// a stdin that is not a terminal): the same exit code as a declined one.
    #[error(
        "{question} \u{2014} no y/n answer on stdin (answer y or n, or pass -y to confirm without asking); nothing was changed"
    )]
    NoAnswer { question: String },
    #[error("{file}: internal error while processing the file; it was not changed")]
    Internal { file: String },
    /// A failure reported by a part of shroud above the library's document layer (the
    /// scanner, the cluster client), with the exit code it documents.
    #[error("{message}")]
    Reported { message: String, code: ExitCode },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        use ExitCode as C;
        match self {
            Error::Read { .. } => C::CouldNotReadInput,
            Error::Write { .. } => C::CouldNotWriteOutput,
            Error::NoFile { .. } => C::NoFile,
            Error::Store { .. } | Error::ReservedKey { .. } | Error::EditRejected { .. } => {
                C::InvalidInput
            }
            Error::Metadata { .. } => C::Integrity,
            Error::Usage(_) => C::Usage,
            Error::Rules { .. } | Error::Invalid(_) | Error::NotJson(_) => C::InvalidConfig,
            Error::Tree { source, .. } if source.is_integrity() => C::Integrity,
            Error::Tree { .. } => C::InvalidInput,
            Error::MacMismatch { .. }
            | Error::MacMissing { .. }
            | Error::MacUnreadable { .. }
            | Error::Damaged { .. } => C::Integrity,
            Error::Key { source, .. } => match source {
                KeyError::BadRecipient { .. } | KeyError::PrivateKeyAsRecipient { .. } => {
                    C::InvalidConfig
                }
                KeyError::Damaged { .. } => C::Integrity,
                _ => C::CouldNotRetrieveKey,
            },
            Error::NoRecipients { .. } => C::NoEncryptionKey,
            Error::AlreadyEncrypted { .. } => C::AlreadyEncrypted,
            Error::NotEncrypted { .. } => C::NotEncrypted,
            Error::TreePath { .. } | Error::PathSyntax { .. } => C::InvalidTreePath,
            Error::Config(ConfigError::NoMatchingRule { .. }) => C::ConfigNotFound,
            Error::Config(_) => C::InvalidConfig,
            Error::NotModified { .. } => C::FileNotModified,
            Error::NoEditor(_) | Error::EditorFailed { .. } => C::NoEditor,
            Error::Command { .. }
            | Error::Declined(_)
            | Error::NoAnswer { .. }
            | Error::Internal { .. } => C::Generic,
            Error::Procedure { failure, .. } => failure.exit_code(),
            Error::Walk { .. } => C::CouldNotReadInput,
            Error::Busy { .. } => C::Busy,
            Error::Reported { code, .. } => *code,
        }
    }

    /// Whether this is an integrity failure (tampering or corruption).
    pub fn is_integrity(&self) -> bool {
        self.exit_code() == ExitCode::Integrity
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A run over many files exits with the failures' code when they share it, generic when
    /// they differ, success when none failed.
    #[test]
    fn merged_exit_codes() {
        use ExitCode as C;
        assert_eq!(C::merge([]), C::Success);
        assert_eq!(C::merge([C::Busy]), C::Busy);
        assert_eq!(C::merge([C::Integrity, C::Integrity]), C::Integrity);
        assert_eq!(C::merge([C::Integrity, C::Busy, C::Integrity]), C::Generic);
    }

    /// Usage errors exit 2 and invalid configuration 5, as docs/exit-codes.md says.
    #[test]
    fn usage_and_invalid_configuration() {
        assert_eq!(Error::Usage("x".into()).exit_code().code(), 2);
        assert_eq!(Error::Invalid("x".into()).exit_code().code(), 5);
        assert_eq!(Error::NotJson("x".into()).exit_code().code(), 5);
        let no_answer = Error::NoAnswer {
            question: "rotate these files?".into(),
        };
        assert_eq!(no_answer.exit_code().code(), 1);
        assert!(no_answer.to_string().contains("no y/n answer on stdin"));
    }
}
