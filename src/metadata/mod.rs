//! In-memory sops metadata: key groups, Shamir threshold, rules, MAC and timestamps.
//!
//! Owns: the meaning of the `sops` block, independent of how any sops version laid it out.
//! The on-disk layouts (field order, empty lists, dotenv/INI flattening) live in [`layout`].
//! The stored master-key records are in [`envelope`]; the key types and everything decided per
//! type, in [`kind`].
//! Must not know: how master keys wrap or unwrap (that is `keysource`).

pub mod envelope;
pub mod kind;
pub mod layout;

use crate::crypto::RuleSpec;
pub use envelope::{AgeKey, KmsKey, MasterKey, OtherKey, PgpKey, StanzaProblem};
pub use kind::{KeyKind, KindInfo};

/// The layout version written to the `version` field. sops reads this field as *its* version
/// (it gates a KMS-context workaround for files older than 3.3.0, and `filestatus` needs it),
/// so shroud records the sops layout it writes rather than its own version.
pub(crate) const SOPS_LAYOUT_VERSION: &str = "3.13.2";

/// Master keys that each wrap the same data key (or, with Shamir, the same share).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub keys: Vec<MasterKey>,
}

/// The `sops` block of a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    /// 0 when unset (the data key is not split).
    pub shamir_threshold: usize,
    /// The stored `lastmodified` text, exactly as found (the MAC's AAD derives from it).
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[...]`), if the file has one.
    pub mac: Option<String>,
    pub rules: RuleSpec,
    pub version: Option<String>,
}

impl Metadata {
    /// The number of groups needed to recover the data key.
    pub fn threshold(&self) -> usize {
        if self.key_groups.len() <= 1 {
            1
        } else if self.shamir_threshold == 0 {
            self.key_groups.len()
        } else {
            self.shamir_threshold
        }
    }

    /// Whether sops (or shroud) wrote this block: it has a MAC or a `lastmodified`. The scanner
    /// takes a `sops` key without either (`sops: {}`) for user data, whose values are judged as
    /// plaintext.
    pub fn is_written(&self) -> bool {
        self.mac.is_some() || !self.lastmodified.is_empty()
    }

    /// All master keys, in group order.
    pub fn all_keys(&self) -> impl Iterator<Item = &MasterKey> {
        self.key_groups.iter().flat_map(|g| g.keys.iter())
    }

    /// The MAC's AAD: Go's `Format(time.RFC3339)` of the parsed `lastmodified`, falling back to
    /// the raw text when it does not parse.
    pub(crate) fn mac_aad(&self) -> String {
        crate::timestamp::Timestamp::parse_rfc3339(&self.lastmodified)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| self.lastmodified.clone())
    }
}

/// Why a `sops` block could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("the file has no sops metadata (it is not encrypted)")]
    Missing,
    #[error("sops metadata field {field} is invalid: {message}")]
    Invalid { field: String, message: String },
}
