//! The words the controller writes on objects: its field manager, the label that marks the
//! Secrets it owns, the annotation that records what a Secret was written from, and the reasons
//! of its conditions and metrics.
//!
//! Owns: those names. Must not know: how or when they are written (reconcile, write).

/// The field manager of every write, and the label that marks owned Secrets.
pub const MANAGER: &str = "shroud-controller";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The `EncryptedSecret` generation the Secret was last written from.
pub const GENERATION_ANNOTATION: &str = "shroud.dev/generation";

/// Why an object is not Ready (the `reason` of the condition and the metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Decrypted,
    NoMatchingKey,
    IntegrityFailure,
    InvalidSpec,
    SecretNotOwned,
    ApiError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Decrypted => "Decrypted",
            Reason::NoMatchingKey => "NoMatchingKey",
            Reason::IntegrityFailure => "IntegrityFailure",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::SecretNotOwned => "SecretNotOwned",
            Reason::ApiError => "ApiError",
        }
    }
}
