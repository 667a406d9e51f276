//! Paper shares of a bundle key: bech32m strings (`shroudshare1…`) whose checksum catches
//! typos, each naming its backup, n and k, and carrying one Shamir share.
//!
//! Owns: encoding, the paper layout (groups of four), decoding and the bundle key's byte form.
//! Must not know: bundles, how many shares a restore needs (the caller checks k).

use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};

use super::{BackupError, Manifest};
use crate::keysource::shamir;
use crate::secret::{SecretBytes, SecretText};

const SHARE_HRP: &str = "shroudshare";
/// The share format: 1 carries a classic (X25519) bundle key, 2 a post-quantum one (a backup
/// made for `age1pq1…` recovery recipients: age does not mix the two kinds in one file).
const SHARE_VERSION: u8 = 1;
const SHARE_VERSION_PQ: u8 = 2;

/// The key a bundle's payload is also encrypted to, kept only as a passphrase copy and/or as
/// shares. Post-quantum when the recovery recipients are.
pub(super) enum BundleKey {
    Classic(age::x25519::Identity),
    PostQuantum(age::pq::Identity),
}

#[allow(deprecated)] // a classic bundle key goes with classic recovery recipients
impl BundleKey {
    pub(super) fn generate(post_quantum: bool) -> BundleKey {
        if post_quantum {
            BundleKey::PostQuantum(age::pq::Identity::generate())
        } else {
            BundleKey::Classic(age::x25519::Identity::generate())
        }
    }

    pub(super) fn recipient(&self) -> Box<dyn age::Recipient + Send> {
        match self {
            BundleKey::Classic(k) => Box::new(k.to_public()),
            BundleKey::PostQuantum(k) => Box::new(k.to_public()),
        }
    }

    pub(super) fn identity(&self) -> &dyn age::Identity {
        match self {
            BundleKey::Classic(k) => k,
            BundleKey::PostQuantum(k) => k,
        }
    }

    /// `AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…` (the passphrase copy's content).
    pub(super) fn to_text(&self) -> SecretString {
        match self {
            BundleKey::Classic(k) => k.to_string(),
            BundleKey::PostQuantum(k) => k.to_string(),
        }
    }

    pub(super) fn from_text(text: &str) -> Option<BundleKey> {
        let t = text.trim();
        if t.starts_with("AGE-SECRET-KEY-PQ-1") {
            age::pq::Identity::from_str(t)
                .ok()
                .map(BundleKey::PostQuantum)
        } else {
            age::x25519::Identity::from_str(t)
                .ok()
                .map(BundleKey::Classic)
        }
    }

    fn is_post_quantum(&self) -> bool {
        matches!(self, BundleKey::PostQuantum(_))
    }
}

pub(super) fn key_bytes(id: &BundleKey) -> SecretBytes {
    let text = id.to_text();
    let lower = SecretText::new(text.expose_secret().to_ascii_lowercase());
    let (_, data) = bech32::decode(lower.expose()).expect("age identities are valid bech32");
    SecretBytes::new(data)
}

pub(super) fn identity_from_bytes(
    bytes: &[u8],
    post_quantum: bool,
) -> Result<BundleKey, BackupError> {
    let hrp = bech32::Hrp::parse(if post_quantum {
        "age-secret-key-pq-"
    } else {
        "age-secret-key-"
    })
    .expect("valid hrp");
    let s = bech32::encode::<bech32::Bech32>(hrp, bytes)
        .map_err(|e| BackupError::Crypto(e.to_string()))?;
    let s = SecretText::new(s.to_uppercase());
    BundleKey::from_text(s.expose())
        .ok_or_else(|| BackupError::Crypto("recombined bundle key is invalid".into()))
}

/// Formats a share for paper: a header line saying which share it is, then the share in
/// groups of four characters.
pub fn share_block(manifest: &Manifest, index: usize, share: &SecretString) -> String {
    let s = share.expose_secret();
    let body = &s[SHARE_HRP.len() + 1..];
    let groups: Vec<String> = body
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let info = manifest.shares.as_ref().expect("shares were made");
    format!(
        "shroud key backup {id} — share {i} of {n}, any {k} restore\n{SHARE_HRP}1 {body}\n",
        id = manifest.backup_id,
        i = index + 1,
        n = info.n,
        k = info.k,
        body = groups.join(" ")
    )
}

/// A decoded share.
#[derive(Debug)]
pub struct Share {
    pub backup_id: String,
    pub k: u8,
    pub n: u8,
    /// The share is of a post-quantum bundle key.
    pub post_quantum: bool,
    pub part: SecretBytes,
}

/// Decodes one share from text (whitespace and a header line are ignored). `which` names it in
/// errors.
pub fn parse_share(text: &str, which: &str) -> Result<Share, BackupError> {
    let bad = |why: &str| BackupError::BadShare {
        which: which.to_owned(),
        why: why.to_owned(),
    };
    let line = text
        .lines()
        .map(|l| {
            let mut compact: String = l.split_whitespace().collect();
            compact.make_ascii_lowercase();
            SecretText::new(compact)
        })
        .find(|l| l.expose().starts_with(&format!("{SHARE_HRP}1")))
        .ok_or_else(|| bad("no shroudshare1… line found"))?;
    let (hrp, mut data) = bech32::decode(line.expose()).map_err(|_| bad("checksum mismatch — a character is mistyped or missing; compare it with the paper copy"))?;
    if hrp.as_str() != SHARE_HRP {
        return Err(bad("not a shroud share"));
    }
    if data.len() < 9 || ![SHARE_VERSION, SHARE_VERSION_PQ].contains(&data[0]) {
        return Err(bad("unsupported share version or truncated share"));
    }
    let share = Share {
        backup_id: data[1..5].iter().map(|b| format!("{b:02x}")).collect(),
        k: data[5],
        n: data[6],
        post_quantum: data[0] == SHARE_VERSION_PQ,
        part: SecretBytes::from_slice(&data[7..]),
    };
    crate::secret::wipe(&mut data);
    Ok(share)
}

/// Splits the bundle key into `n` shares, any `k` of which restore it.
pub(super) fn split_key(
    bundle_key: &BundleKey,
    backup_id: &[u8; 4],
    n: u8,
    k: u8,
) -> Result<Vec<SecretString>, BackupError> {
    let raw = key_bytes(bundle_key);
    let parts = shamir::split(raw.expose(), n as usize, k as usize)
        .map_err(|e| BackupError::Crypto(e.to_string()))?;
    let hrp = bech32::Hrp::parse(SHARE_HRP).expect("valid hrp");
    let mut shares = Vec::with_capacity(parts.len());
    for part in &parts {
        let mut data = vec![if bundle_key.is_post_quantum() {
            SHARE_VERSION_PQ
        } else {
            SHARE_VERSION
        }];
        data.extend_from_slice(backup_id);
        data.extend_from_slice(&[k, n]);
        data.extend_from_slice(part.expose());
        let s = bech32::encode::<bech32::Bech32m>(hrp, &data)
            .map_err(|e| BackupError::Crypto(e.to_string()));
        crate::secret::wipe(&mut data);
        shares.push(SecretString::from(s?));
    }
    Ok(shares)
}

/// Recombines the bundle key of the backup described by `m` from share texts
/// (`(text, name for errors)`): each share is checked to belong to this backup, duplicates and
/// too few shares are refused.
pub(super) fn combine(
    texts: &[(SecretString, String)],
    m: &Manifest,
) -> Result<BundleKey, BackupError> {
    let info = m
        .shares
        .as_ref()
        .ok_or_else(|| BackupError::Corrupt("this backup was made without shares".into()))?;
    let mut parts: Vec<Share> = Vec::new();
    for (text, which) in texts {
        let s = parse_share(text.expose_secret(), which)?;
        if s.backup_id != m.backup_id {
            return Err(BackupError::ForeignShare {
                which: which.clone(),
                theirs: s.backup_id,
                ours: m.backup_id.clone(),
            });
        }
        if parts
            .iter()
            .any(|p| p.part.expose().last() == s.part.expose().last())
        {
            return Err(BackupError::BadShare {
                which: which.clone(),
                why: "the same share was given twice".into(),
            });
        }
        parts.push(s);
    }
    if parts.len() < info.k as usize {
        return Err(BackupError::NotEnoughShares {
            have: parts.len(),
            need: info.k as usize,
        });
    }
    let post_quantum = parts[0].post_quantum;
    if let Some((_, which)) = parts
        .iter()
        .zip(texts)
        .find(|(p, _)| p.post_quantum != post_quantum)
    {
        return Err(BackupError::BadShare {
            which: which.1.clone(),
            why: "it is of another kind of key than the other shares".into(),
        });
    }
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.part.expose()).collect();
    let raw = shamir::combine(&refs).map_err(|e| BackupError::Crypto(e.to_string()))?;
    identity_from_bytes(raw.expose(), post_quantum)
}
