//! The library's error type and the exit codes the CLI maps it to (documented in
//! `docs/exit-codes.md`; sops's numbers wherever sops has an equivalent).
//!
//! Owns: one enum of failures, each naming the file and (where relevant) the key path, never a
//! value; and the failure → exit code table.
//! Must not know: how errors are printed.

use crate::config::ConfigError;
use crate::crypto::{RuleError, TreeError};
use crate::keysource::KeyError;
use crate::metadata::MetadataError;
use crate::store::StoreError;

/// Process exit codes. The numbers are stable and documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    Generic = 1,
    CouldNotReadInput = 2,
    CouldNotWriteOutput = 3,
    InvalidInput = 4,
    InvalidConfig = 5,
    Integrity = 51,
    ConfigNotFound = 61,
    InvalidTreePath = 91,
    NoFile = 100,
    NoEncryptionKey = 111,
    CouldNotRetrieveKey = 128,
    FileNotModified = 200,
    NoEditor = 201,
    AlreadyEncrypted = 203,
    NotEncrypted = 204,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
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
    #[error(
        "{file}: damaged sops file: {why}; nothing was decrypted or changed (restore it from version control)"
    )]
    Damaged { file: String, why: String },
    #[error("{file}: data key {key:?} is reserved for sops metadata; rename it")]
    ReservedKey { file: String, key: String },
    #[error("{file}: {message}")]
    TreePath { file: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("{file}: file not modified")]
    NotModified { file: String },
    #[error("{0}")]
    NoEditor(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Read { .. } => ExitCode::CouldNotReadInput,
            Error::Write { .. } => ExitCode::CouldNotWriteOutput,
            Error::NoFile { .. } => ExitCode::NoFile,
            Error::Store { .. } | Error::ReservedKey { .. } => ExitCode::InvalidInput,
            Error::Metadata { .. } => ExitCode::Integrity,
            Error::Rules { .. } | Error::Usage(_) => ExitCode::InvalidConfig,
            Error::Tree { source, .. } if source.is_integrity() => ExitCode::Integrity,
            Error::Tree { .. } => ExitCode::InvalidInput,
            Error::MacMismatch { .. }
            | Error::MacMissing { .. }
            | Error::MacUnreadable { .. }
            | Error::Damaged { .. } => ExitCode::Integrity,
            Error::Key { .. } => ExitCode::CouldNotRetrieveKey,
            Error::NoRecipients { .. } => ExitCode::NoEncryptionKey,
            Error::AlreadyEncrypted { .. } => ExitCode::AlreadyEncrypted,
            Error::NotEncrypted { .. } => ExitCode::NotEncrypted,
            Error::TreePath { .. } => ExitCode::InvalidTreePath,
            Error::Config(ConfigError::NoMatchingRule { .. }) => ExitCode::ConfigNotFound,
            Error::Config(_) => ExitCode::InvalidConfig,
            Error::NotModified { .. } => ExitCode::FileNotModified,
            Error::NoEditor(_) => ExitCode::NoEditor,
            Error::Other(_) => ExitCode::Generic,
        }
    }

    /// Whether this is an integrity failure (tampering or corruption).
    pub fn is_integrity(&self) -> bool {
        self.exit_code() == ExitCode::Integrity
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
