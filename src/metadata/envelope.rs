//! Envelopes: the stored master-key records of the `sops` block, one per key that wraps the
//! data key (or its Shamir share): age recipients, AWS KMS keys, PGP fingerprints, and entries
//! of key services shroud keeps but cannot use (GCP KMS, Azure Key Vault, HashiCorp Vault,
//! HuaweiCloud KMS).
//!
//! Owns: the record types and their stable identities (the strings `updatekeys`, `rotate` and
//! the audit compare). Must not know: how a record is created or opened (that is behaviour, in
//! `keysource`), or how records are laid out on disk (that is [`super::layout`]).

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
    /// The metadata field it came from (`gcp_kms`, `azure_kv`, `hc_vault`, `hckms`).
    pub kind: OtherKind,
    pub fields: Map,
}

/// The key services whose entries are preserved but not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OtherKind {
    GcpKms,
    AzureKv,
    HcVault,
    HuaweiKms,
}

impl OtherKind {
    /// Every kind, in metadata field order.
    pub(crate) const ALL: [OtherKind; 4] = [
        OtherKind::GcpKms,
        OtherKind::AzureKv,
        OtherKind::HcVault,
        OtherKind::HuaweiKms,
    ];

    /// The metadata field name.
    pub fn field(self) -> &'static str {
        match self {
            OtherKind::GcpKms => "gcp_kms",
            OtherKind::AzureKv => "azure_kv",
            OtherKind::HcVault => "hc_vault",
            OtherKind::HuaweiKms => "hckms",
        }
    }

    /// The service's name for messages.
    pub fn label(self) -> &'static str {
        match self {
            OtherKind::GcpKms => "GCP KMS",
            OtherKind::AzureKv => "Azure Key Vault",
            OtherKind::HcVault => "HashiCorp Vault",
            OtherKind::HuaweiKms => "HuaweiCloud KMS",
        }
    }

    pub(crate) fn from_field(field: &str) -> Option<OtherKind> {
        OtherKind::ALL.into_iter().find(|k| k.field() == field)
    }
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

/// The kinds of master key, for decryption order (`--decryption-order`) and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    Age,
    Pgp,
    Kms,
    Other(OtherKind),
}

impl KeyType {
    /// The machine name: the sops metadata field (`age`, `pgp`, `kms`, `gcp_kms`, …), which is
    /// also the `--decryption-order` word and the audit report's key `type`.
    pub fn field(self) -> &'static str {
        match self {
            KeyType::Age => "age",
            KeyType::Pgp => "pgp",
            KeyType::Kms => "kms",
            KeyType::Other(o) => o.field(),
        }
    }

    /// The type as a word for people and messages (`age`, `PGP`, `AWS KMS`, `GCP KMS`, …).
    pub fn label(self) -> &'static str {
        match self {
            KeyType::Age => "age",
            KeyType::Pgp => "PGP",
            KeyType::Kms => "AWS KMS",
            KeyType::Other(o) => o.label(),
        }
    }
}

impl serde::Serialize for KeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.field())
    }
}

impl MasterKey {
    /// The key's type (its metadata field).
    pub fn key_type(&self) -> KeyType {
        match self {
            MasterKey::Age(_) => KeyType::Age,
            MasterKey::Pgp(_) => KeyType::Pgp,
            MasterKey::Kms(_) => KeyType::Kms,
            MasterKey::Other(o) => KeyType::Other(o.kind),
        }
    }

    /// The key type as a word for messages.
    pub fn type_name(&self) -> &'static str {
        self.key_type().label()
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
