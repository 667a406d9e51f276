//! Envelopes: the stored master-key records of the `sops` block, one per key that wraps the
//! data key (or its Shamir share): age recipients, AWS KMS keys, PGP fingerprints, and entries
//! of key services shroud keeps but cannot use (GCP KMS, Azure Key Vault, HashiCorp Vault,
//! HuaweiCloud KMS).
//!
//! Owns: the record types and their stable identities (the strings `updatekeys`, `rotate` and
//! the audit compare), and what an age or PGP envelope's header says without a key: who else it may
//! open for ([`AgeKey::stanza_problem`], and an OpenPGP message's session-key packets:
//! [`PgpKey::session_key_problem`]; [`MasterKey::unnamed_reader`] is the one check the audit
//! and revocation share). Must not know: how a record is created or opened (that is behaviour, in
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
    #[error(
        "the PGP envelope holds {count} public-key encrypted session keys (sops writes one): the data key is also wrapped for a party this entry does not name"
    )]
    PgpSeveral { count: usize },
    #[error(
        "the PGP envelope's session key is for a hidden recipient (a wildcard key id): it may be wrapped for a party this entry does not name"
    )]
    PgpHidden,
    #[error(
        "the PGP envelope also holds a passphrase-encrypted session key: whoever knows the passphrase opens it"
    )]
    PgpPassphrase,
    #[error(
        "the PGP envelope cannot be read (not an armored OpenPGP message of session-key and data packets): who it opens for cannot be told"
    )]
    PgpUnreadable,
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
    /// A PGP envelope shroud cannot walk counts: gpg may still find session keys in it.
    pub fn unknown_reader(&self) -> bool {
        !matches!(self, StanzaProblem::Unreadable | StanzaProblem::NoStanza)
    }
}

/// What the session-key packets of an OpenPGP message say, before its encrypted data.
#[derive(Debug, Default, PartialEq, Eq)]
struct SessionKeys {
    /// Public-key encrypted session key packets (tag 1).
    public: usize,
    /// Of those, how many name no recipient (a wildcard key id: gpg's `--hidden-recipient`).
    hidden: usize,
    /// Symmetric-key encrypted session key packets (tag 3: a passphrase opens them).
    passphrase: usize,
}

/// The binary message inside an OpenPGP ASCII armor (RFC 4880 §6.2 / RFC 9580 §6.2): armor
/// headers up to the first blank line, base64 lines, an optional `=` checksum line.
fn pgp_unarmor(armored: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let mut lines = armored.lines().map(str::trim).skip_while(|l| l.is_empty());
    if lines.next()? != "-----BEGIN PGP MESSAGE-----" {
        return None;
    }
    // Armor headers (`Version: …`, `Comment: …`) end at a blank line.
    let mut body = String::new();
    let mut in_headers = true;
    for line in lines {
        if line == "-----END PGP MESSAGE-----" {
            return base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()
                .filter(|b| !b.is_empty());
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if !line.contains(": ") {
                // No header block: this is already the body (gpg accepts that too).
                in_headers = false;
                body.push_str(line);
            }
            continue;
        }
        if line.starts_with('=') && line.len() == 5 {
            continue; // the CRC-24 checksum
        }
        body.push_str(line);
    }
    None
}

/// Counts the session-key packets of a binary OpenPGP message: walks the packet headers (old
/// and new format, every length encoding, partial body lengths) up to the first encrypted data
/// packet. `None`: not such a message (truncated, a length past the end, no encrypted data).
fn pgp_session_keys(msg: &[u8]) -> Option<SessionKeys> {
    let mut keys = SessionKeys::default();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = msg.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(s)
    };
    while at < msg.len() {
        let head = take(&mut at, 1)?[0];
        if head & 0x80 == 0 {
            return None;
        }
        let (tag, body_len) = if head & 0x40 != 0 {
            // New format: the length octets may announce partial bodies (data packets only).
            let tag = head & 0x3f;
            let mut len = 0usize;
            loop {
                let o1 = take(&mut at, 1)?[0] as usize;
                let (n, partial) = match o1 {
                    0..=191 => (o1, false),
                    192..=223 => {
                        let o2 = take(&mut at, 1)?[0] as usize;
                        (((o1 - 192) << 8) + o2 + 192, false)
                    }
                    255 => {
                        let b = take(&mut at, 4)?;
                        (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, false)
                    }
                    _ => (1usize << (o1 & 0x1f), true),
                };
                if !partial {
                    len += n;
                    break;
                }
                if !matches!(tag, 8 | 9 | 11 | 18 | 20) {
                    return None;
                }
                // A partial chunk: skip it, the next length octets follow it.
                take(&mut at, n)?;
            }
            (tag, Some(len))
        } else {
            let tag = (head >> 2) & 0x0f;
            let len = match head & 0x03 {
                0 => Some(take(&mut at, 1)?[0] as usize),
                1 => {
                    let b = take(&mut at, 2)?;
                    Some(u16::from_be_bytes([b[0], b[1]]) as usize)
                }
                2 => {
                    let b = take(&mut at, 4)?;
                    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                }
                // Indeterminate: to the end of the message.
                _ => None,
            };
            (tag, len)
        };
        let body = match body_len {
            Some(n) => take(&mut at, n)?,
            None => {
                let rest = msg.len() - at;
                take(&mut at, rest)?
            }
        };
        match tag {
            1 => {
                keys.public += 1;
                // v3: version, 8-octet key id (zero: wildcard). v6: version, a length octet
                // (zero: anonymous recipient), the key version and fingerprint.
                let hidden = match body.first()? {
                    3 => body.get(1..9)?.iter().all(|b| *b == 0),
                    6 => *body.get(1)? == 0,
                    _ => true,
                };
                if hidden {
                    keys.hidden += 1;
                }
            }
            3 => keys.passphrase += 1,
            // Encrypted data (SED, SEIPD, AEAD): the session keys precede it.
            9 | 18 | 20 => return Some(keys),
            // Marker packets and anything else before the data are skipped, as gpg does.
            _ => {}
        }
    }
    None
}

impl PgpKey {
    /// Whether this envelope may open for someone its fingerprint does not name: more than one
    /// public-key encrypted session key, a hidden recipient, a passphrase-encrypted session
    /// key, or a message that cannot be walked to tell (sops writes one session key, for the
    /// entry's key).
    pub fn session_key_problem(&self) -> Option<StanzaProblem> {
        let Some(keys) = pgp_unarmor(&self.enc).and_then(|m| pgp_session_keys(&m)) else {
            return Some(StanzaProblem::PgpUnreadable);
        };
        if keys.public > 1 {
            Some(StanzaProblem::PgpSeveral { count: keys.public })
        } else if keys.hidden > 0 {
            Some(StanzaProblem::PgpHidden)
        } else if keys.passphrase > 0 {
            Some(StanzaProblem::PgpPassphrase)
        } else {
            None
        }
    }
}

impl MasterKey {
    /// The reason this envelope may open for a party the entry does not name, if it may (the
    /// check the audit and `keys revoke` share; age and PGP envelopes can say so without a key).
    pub fn unnamed_reader(&self) -> Option<StanzaProblem> {
        match self {
            MasterKey::Age(a) => a.stanza_problem().filter(StanzaProblem::unknown_reader),
            MasterKey::Pgp(p) => p.session_key_problem(),
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

    /// The shared sops fixtures (`$SHROUD_SOPS_FIXTURES`, else `../shared/fixtures/sops`).
    fn sops_fixtures() -> std::path::PathBuf {
        let p = std::env::var_os("SHROUD_SOPS_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sops")
            });
        assert!(
            p.join("README.md").is_file(),
            "sops fixtures not found at {} (set SHROUD_SOPS_FIXTURES)",
            p.display()
        );
        p
    }

    fn pgp(enc: String) -> PgpKey {
        PgpKey {
            fp: "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4".into(),
            created_at: String::new(),
            enc,
        }
    }

    /// An armored message of `packets` (with a header and a checksum line, as gpg writes it).
    fn armor(packets: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(packets);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PGP MESSAGE-----\nComment: test\n\n{}\n=abcd\n-----END PGP MESSAGE-----\n",
            lines.join("\n")
        )
    }

    /// A v3 PKESK body for `key_id` (all zeros: a hidden recipient).
    fn pkesk(key_id: [u8; 8]) -> Vec<u8> {
        let mut b = vec![3];
        b.extend_from_slice(&key_id);
        b.push(1); // RSA
        b.extend_from_slice(&[0, 8, 0xff]); // a one-octet MPI
        b
    }

    /// A new-format packet.
    fn new_packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | tag];
        match body.len() {
            n @ 0..=191 => p.push(n as u8),
            n @ 192..=8383 => {
                let n = n - 192;
                p.push((n >> 8) as u8 + 192);
                p.push(n as u8);
            }
            n => {
                p.push(255);
                p.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
        p.extend_from_slice(body);
        p
    }

    /// An old-format packet with a two-octet length.
    fn old_packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80 | (tag << 2) | 1];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    /// A SEIPD packet of `n` octets in partial body lengths (as gpg streams it): 512-octet
    /// chunks, then the rest (over 191 octets: a two-octet length).
    fn partial_seipd(n: usize) -> Vec<u8> {
        let body = vec![1u8; n];
        let mut p = vec![0xc0 | 18];
        let mut rest = &body[..];
        while rest.len() > 512 {
            p.push(224 + 9); // 1 << 9 = 512
            p.extend_from_slice(&rest[..512]);
            rest = &rest[512..];
        }
        // The last chunk: a two-octet length.
        let n = rest.len() - 192;
        p.push((n >> 8) as u8 + 192);
        p.push(n as u8);
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn real_gpg_envelopes_of_the_sops_fixtures_have_one_session_key() {
        let mut seen = 0;
        for f in [
            "sops-pgp/example.yaml",
            "sops-pgp/comments.enc.yaml",
            "negative/no-mac.pgp.yaml",
        ] {
            let text = std::fs::read_to_string(sops_fixtures().join(f)).unwrap();
            // Each `enc: |` block scalar, its indentation stripped.
            let end = "-----END PGP MESSAGE-----";
            for (i, _) in text.match_indices("-----BEGIN PGP MESSAGE-----") {
                let j = i + text[i..].find(end).unwrap() + end.len();
                let enc: String = text[i..j]
                    .lines()
                    .map(|l| format!("{}\n", l.trim()))
                    .collect();
                let msg = pgp_unarmor(&enc).expect("gpg's armor");
                let keys = pgp_session_keys(&msg).expect("gpg's packets");
                assert_eq!(
                    (keys.public, keys.hidden, keys.passphrase),
                    (1, 0, 0),
                    "{f}"
                );
                assert_eq!(pgp(enc).session_key_problem(), None, "{f}");
                seen += 1;
            }
        }
        assert!(seen >= 3);
    }

    #[test]
    fn pgp_packet_walker_counts_session_keys_in_every_header_format() {
        let a = pkesk([1, 2, 3, 4, 5, 6, 7, 8]);
        let b = pkesk([8, 7, 6, 5, 4, 3, 2, 1]);
        let data = partial_seipd(2000);
        // One recipient, new format, the data in partial lengths: fine.
        let one = [new_packet(1, &a), data.clone()].concat();
        assert_eq!(pgp(armor(&one)).session_key_problem(), None);
        // Two recipients, in old and new headers, with a marker packet between.
        let marker = old_packet(10, b"PGP");
        let two = [old_packet(1, &a), marker, new_packet(1, &b), data.clone()].concat();
        let p = pgp(armor(&two)).session_key_problem().unwrap();
        assert_eq!(p, StanzaProblem::PgpSeveral { count: 2 });
        assert!(p.unknown_reader());
        // A hidden recipient (gpg --hidden-recipient): key id zero.
        let hidden = [new_packet(1, &pkesk([0; 8])), data.clone()].concat();
        assert_eq!(
            pgp(armor(&hidden)).session_key_problem(),
            Some(StanzaProblem::PgpHidden)
        );
        // A v6 PKESK for an anonymous recipient.
        let v6 = [new_packet(1, &[6, 0, 9, 1, 2]), data.clone()].concat();
        assert_eq!(
            pgp(armor(&v6)).session_key_problem(),
            Some(StanzaProblem::PgpHidden)
        );
        // A passphrase-encrypted session key besides the named one.
        let sym = [
            new_packet(1, &a),
            new_packet(3, &[4, 9, 3, 2, 0]),
            data.clone(),
        ]
        .concat();
        assert_eq!(
            pgp(armor(&sym)).session_key_problem(),
            Some(StanzaProblem::PgpPassphrase)
        );
        // A four-octet new-format length and an old-format one-octet length.
        let big = new_packet(1, &[a.clone(), vec![0; 9000]].concat());
        let small = {
            let mut p = vec![0x80 | (1 << 2)];
            p.push(b.len() as u8);
            p.extend_from_slice(&b);
            p
        };
        let both = [big, small, data.clone()].concat();
        assert_eq!(
            pgp(armor(&both)).session_key_problem(),
            Some(StanzaProblem::PgpSeveral { count: 2 })
        );
        // Truncated, no data packet, junk, a partial length on a session-key packet: unreadable,
        // counted as a possible unnamed reader (fail closed).
        let partial_pkesk = [vec![0xc0 | 1, 224 + 4], vec![0; 16], vec![0]].concat();
        for bad in [
            one[..one.len() - 10].to_vec(),
            new_packet(1, &a),
            vec![0x01, 0x02],
            partial_pkesk,
        ] {
            let p = pgp(armor(&bad)).session_key_problem();
            assert_eq!(p, Some(StanzaProblem::PgpUnreadable));
            assert!(p.unwrap().unknown_reader());
        }
        assert_eq!(
            pgp("not armor".into()).session_key_problem(),
            Some(StanzaProblem::PgpUnreadable)
        );
    }

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
