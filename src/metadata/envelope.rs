//! Envelopes: the stored master-key records of the `sops` block, one per key that wraps the
//! data key (or its Shamir share): age recipients, AWS KMS keys, PGP fingerprints, and entries
//! of key services shroud keeps but cannot use (GCP KMS, Azure Key Vault, HashiCorp Vault,
//! HuaweiCloud KMS).
//!
//! Owns: the record types and their stable identities (the strings `updatekeys`, `rotate` and
//! the audit compare), and what an age envelope's header says without a key: who else it may
//! open for ([`AgeKey::stanza_problem`], the one check the audit and revocation share). Must not know: how a record is created or opened (that is behaviour, in
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

/// Why an age envelope may open for someone its recipient field does not name (judged from
/// its header, without a key). sops writes one recipient stanza per envelope, for the entry's
/// recipient; a second stanza wraps the same data key for another party, which no audit can
/// name (an X25519 stanza does not say whom it is for).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StanzaProblem {
    #[error("the age envelope cannot be read (not an armored age v1 file)")]
    Unreadable,
    #[error("the age envelope has no recipient stanza: nobody can open it")]
    NoStanza,
    #[error(
        "the age envelope has {count} recipient stanzas (sops writes one): the data key is also wrapped for a party this entry does not name"
    )]
    Several { count: usize },
    #[error(
        "the age envelope's stanza is of type {found}, not {expected} as its recipient's type: it is wrapped for a party this entry does not name"
    )]
    WrongType {
        found: String,
        expected: &'static str,
    },
}

/// The stanza types of age's built-in recipients (and passphrases).
const BUILT_IN_STANZAS: [&str; 5] = [
    "X25519",
    "scrypt",
    "ssh-ed25519",
    "ssh-rsa",
    "mlkem768x25519",
];

/// The stanza type an age recipient's envelope carries, when the recipient's type fixes it
/// (plugin recipients choose their own).
fn stanza_type(recipient: &str) -> Option<&'static str> {
    let r = recipient.trim();
    if r.starts_with("ssh-ed25519 ") {
        return Some("ssh-ed25519");
    }
    if r.starts_with("ssh-rsa ") {
        return Some("ssh-rsa");
    }
    // Bech32: the human-readable part ends at the last `1`.
    match r.to_ascii_lowercase().rsplit_once('1') {
        Some(("age", _)) => Some("X25519"),
        Some(("age1pq", _)) => Some("mlkem768x25519"),
        _ => None,
    }
}

/// The stanza types of an armored age file's header, in order; `None` when it is not one.
/// Grease stanzas (`*-grease`, which rage adds and no identity opens) are left out.
fn stanza_types(armored: &str) -> Option<Vec<String>> {
    use base64::Engine as _;
    let mut body = String::new();
    let mut inside = false;
    for line in armored.lines().map(str::trim) {
        match line {
            "-----BEGIN AGE ENCRYPTED FILE-----" => inside = true,
            "-----END AGE ENCRYPTED FILE-----" => break,
            _ if inside => body.push_str(line),
            _ if line.is_empty() => {}
            _ => return None,
        }
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let mut lines = bytes.split(|b| *b == b'\n');
    if lines.next()? != b"age-encryption.org/v1" {
        return None;
    }
    let mut types = Vec::new();
    for line in lines {
        if line.starts_with(b"--- ") {
            return Some(types);
        }
        if let Some(stanza) = line.strip_prefix(b"-> ") {
            let ty = stanza.split(|b| *b == b' ').next().unwrap_or_default();
            let ty = std::str::from_utf8(ty).ok()?;
            if !ty.ends_with("-grease") {
                types.push(ty.to_owned());
            }
        }
    }
    None
}

impl StanzaProblem {
    /// Whether the envelope may open for a party the entry does not name (not merely unusable).
    pub fn unknown_reader(&self) -> bool {
        matches!(
            self,
            StanzaProblem::Several { .. } | StanzaProblem::WrongType { .. }
        )
    }
}

impl MasterKey {
    /// The reason this envelope may open for a party the entry does not name, if it may (the
    /// check the audit and `keys revoke` share; only age envelopes can say so without a key).
    pub fn unnamed_reader(&self) -> Option<StanzaProblem> {
        match self {
            MasterKey::Age(a) => a.stanza_problem().filter(StanzaProblem::unknown_reader),
            _ => None,
        }
    }
}

impl AgeKey {
    /// Whether this envelope may open for someone its `recipient` does not name: more than one
    /// recipient stanza, or a stanza of another type than the recipient's.
    pub fn stanza_problem(&self) -> Option<StanzaProblem> {
        let Some(types) = stanza_types(&self.enc) else {
            return Some(StanzaProblem::Unreadable);
        };
        match types.len() {
            0 => return Some(StanzaProblem::NoStanza),
            1 => {}
            count => return Some(StanzaProblem::Several { count }),
        }
        match stanza_type(&self.recipient) {
            Some(expected) if types[0] != expected => Some(StanzaProblem::WrongType {
                found: types[0].clone(),
                expected,
            }),
            // A recipient of no built-in type (a plugin's `age1NAME1…`, or a label no age
            // recipient has, such as `ssh-ecdsa …`) never gets a built-in stanza: one wraps the
            // data key for someone else.
            None if BUILT_IN_STANZAS.contains(&types[0].as_str()) => {
                Some(StanzaProblem::WrongType {
                    found: types[0].clone(),
                    expected: "its plugin's own type",
                })
            }
            _ => None,
        }
    }
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
// Classic X25519 recipients are what sops files hold; the age crate deprecates them for new
// encryption only.
#[allow(deprecated)]
mod tests {
    use super::{AgeKey, StanzaProblem};

    /// An armored age file of `data` for `recipients` (as the age crate writes it, grease and all).
    fn armored(recipients: &[&age::x25519::Recipient], data: &[u8]) -> String {
        use std::io::Write as _;
        let list: Vec<&dyn age::Recipient> = recipients
            .iter()
            .map(|r| *r as &dyn age::Recipient)
            .collect();
        let enc = age::Encryptor::with_recipients(list.into_iter()).unwrap();
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .unwrap();
        let mut w = enc.wrap_output(armor).unwrap();
        w.write_all(data).unwrap();
        w.finish().and_then(|a| a.finish()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn age_envelope_with_a_second_stanza_is_flagged() {
        let alice = age::x25519::Identity::generate().to_public();
        let eve = age::x25519::Identity::generate().to_public();
        let one = AgeKey {
            recipient: alice.to_string(),
            enc: armored(&[&alice], b"data key"),
        };
        assert_eq!(one.stanza_problem(), None);
        let two = AgeKey {
            recipient: alice.to_string(),
            enc: armored(&[&alice, &eve], b"data key"),
        };
        let p = two.stanza_problem().unwrap();
        assert_eq!(p, StanzaProblem::Several { count: 2 });
        assert!(p.unknown_reader());
        // An SSH recipient's entry holding an X25519 stanza is wrapped for someone else.
        let ssh = AgeKey {
            recipient:
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN x"
                    .into(),
            enc: one.enc.clone(),
        };
        assert!(matches!(
            ssh.stanza_problem(),
            Some(StanzaProblem::WrongType { .. })
        ));
        // Labels of no built-in type (a plugin's, or none age has) holding an X25519 stanza.
        for label in [
            "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
            "ssh-ecdsa AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY x",
        ] {
            let k = AgeKey {
                recipient: label.into(),
                enc: one.enc.clone(),
            };
            assert!(
                matches!(k.stanza_problem(), Some(StanzaProblem::WrongType { .. })),
                "{label}"
            );
        }
        let junk = AgeKey {
            recipient: alice.to_string(),
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\nbm90IGFnZQ==\n-----END AGE ENCRYPTED FILE-----\n".into(),
        };
        assert_eq!(junk.stanza_problem(), Some(StanzaProblem::Unreadable));
    }

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
