//! The words the controller's steps share: the field manager and label of the Secrets it
//! owns, the generation annotation, and why an object is (not) Ready. Used by the reconcile
//! steps and the write decision, so neither imports the other for these.
//! Must not know: how they are used.

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
