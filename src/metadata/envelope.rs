//! Envelopes: the stored master-key records of the `sops` block, one per key that wraps the
//! data key (or its Shamir share): age recipients, AWS KMS keys, PGP fingerprints, and entries
//! of key services shroud keeps but cannot use (GCP KMS, Azure Key Vault, HashiCorp Vault,
//! HuaweiCloud KMS).
//!
//! Owns: the record types and their stable identities (the strings `updatekeys`, `rotate` and
//! the audit compare). Must not know: how a record is created or opened (that is behaviour, in
//! `keysource`), or how records are laid out on disk (that is [`super::layout`]).

use super::kind::KeyKind;
use crate::tree::Map;

/// One master-key entry of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum MasterKey {
    Age(AgeKey),
    Kms(KmsKey),
    Pgp(PgpKey),
    /// GCP KMS, Azure Key Vault, HashiCorp Vault, HuaweiCloud KMS: kept as written.
    Other(OtherKey),
}

/// One `age` entry: a recipient and the data key (or share) wrapped for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    pub recipient: String,
    /// The armored age file.
    pub enc: String,
}

/// One `kms` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKey {
    pub arn: String,
    pub role: Option<String>,
    /// The KMS encryption context, in file order.
    pub context: Vec<(String, String)>,
    pub aws_profile: Option<String>,
    pub created_at: String,
    /// Standard base64 of the KMS `CiphertextBlob`.
    pub enc: String,
}

/// One `pgp` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgpKey {
    pub fp: String,
    pub created_at: String,
    /// The armored OpenPGP message holding the data key.
    pub enc: String,
}

/// An entry of a key type shroud does not use, preserved verbatim.
#[derive(Clone, Debug, PartialEq)]
pub struct OtherKey {
    /// Which type (one whose row in [`super::kind::KINDS`] is not supported).
    pub kind: KeyKind,
    pub fields: Map,
}

/// sops's identity string of a KMS key: `arn[+role][|k:v,… sorted][|profile]`. Shared by stored
/// entries and by the keys a rule asks for, so the two compare as equal strings.
pub(crate) fn kms_identity(
    arn: &str,
    role: Option<&str>,
    context: &[(String, String)],
    aws_profile: Option<&str>,
) -> String {
    let mut s = arn.to_owned();
    if let Some(r) = role {
        s.push('+');
        s.push_str(r);
    }
    if !context.is_empty() {
        let mut ctx: Vec<String> = context.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        ctx.sort();
        s.push('|');
        s.push_str(&ctx.join(","));
    }
    if let Some(p) = aws_profile {
        s.push('|');
        s.push_str(p);
    }
    s
}

impl KmsKey {
    /// sops's identity string (see [`kms_identity`]).
    pub fn identity(&self) -> String {
        kms_identity(
            &self.arn,
            self.role.as_deref(),
            &self.context,
            self.aws_profile.as_deref(),
        )
    }
}

impl OtherKey {
    /// The entry's own name for the key (resource id, vault URL, …), else its kind.
    pub fn identity(&self) -> String {
        [
            "resource_id",
            "key_id",
            "vault_url",
            "vault_address",
            "key_name",
            "name",
        ]
        .iter()
        .find_map(|k| self.fields.get(k).and_then(|v| v.as_text()))
        .unwrap_or_else(|| self.kind.field().to_owned())
    }
}

impl MasterKey {
    /// The key type (its row in [`super::kind::KINDS`]).
    pub fn kind(&self) -> KeyKind {
        match self {
            MasterKey::Age(_) => KeyKind::Age,
            MasterKey::Pgp(_) => KeyKind::Pgp,
            MasterKey::Kms(_) => KeyKind::Kms,
            MasterKey::Other(o) => o.kind,
        }
    }

    /// The key type as a word for messages.
    pub fn type_name(&self) -> &'static str {
        self.kind().label()
    }

    /// A stable identity: recipient, KMS identity string, PGP fingerprint.
    pub fn identity(&self) -> String {
        match self {
            MasterKey::Age(a) => a.recipient.clone(),
            MasterKey::Kms(k) => k.identity(),
            MasterKey::Pgp(p) => p.fp.split_whitespace().collect(),
            MasterKey::Other(o) => o.identity(),
        }
    }

    /// `type identity`, as plans and reports print a key.
    pub fn label(&self) -> String {
        format!("{} {}", self.type_name(), self.identity())
    }

    /// [`MasterKey::label`] for a message: a long key (a post-quantum or plugin age recipient
    /// is ~2,000 characters) shortened, still telling it apart ([`crate::text::shorten_keys`]).
    pub fn shown(&self) -> String {
        crate::text::shorten_keys(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_identity_matches_sops() {
        let k = KmsKey {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
            role: Some("arn:aws:iam::1:role/r".into()),
            context: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
            aws_profile: Some("p".into()),
            created_at: String::new(),
            enc: String::new(),
        };
        assert_eq!(
            k.identity(),
            "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r|a:1,b:2|p"
        );
        assert_eq!(
            MasterKey::Kms(k).label(),
            "AWS KMS arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r|a:1,b:2|p"
        );
    }
}
