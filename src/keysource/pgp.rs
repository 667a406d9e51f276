//! PGP entries: parsed and preserved so files keep every recipient they had, but not used to
//! unwrap (shroud has no OpenPGP implementation). Errors say so plainly.
//!
//! Must not know: trees, stores.

/// One `pgp` metadata entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgpKey {
    pub fp: String,
    pub created_at: String,
    /// The armored OpenPGP message holding the data key.
    pub enc: String,
}
