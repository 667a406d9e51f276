//! Key backup bundles: the age identities that open a repository's secrets, encrypted for
//! recovery recipients, a passphrase (scrypt) and/or split into Shamir paper shares.
//!
//! A bundle is a small JSON file: a readable manifest (backed-up recipients, fingerprints,
//! where each came from, creation time, tool version, share parameters) and an armored age
//! payload holding the manifest and the identities. The payload is encrypted to the recovery
//! recipients and to a fresh *bundle key*; the bundle key is kept only as a passphrase-wrapped
//! copy and/or as Shamir shares. Shares are bech32m strings (`shroudshare1…`) whose checksum
//! catches typos, each naming the backup, its index, n and k.
//!
//! Owns: the bundle and share formats, creating and opening them. Must not know: the CLI,
//! prompts, where files are written, the cluster (its Secret I/O is `k8s::cluster`).

use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use age::secrecy::{ExposeSecret, SecretString};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keysource::age::Identities;
use crate::keysource::shamir;
use crate::secret::SecretBytes;

pub const FORMAT: &str = "shroud-key-backup/v1";
const SHARE_HRP: &str = "shroudshare";
const SHARE_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "no age identities to back up (pass --key-file, or set SOPS_AGE_KEY_FILE / SOPS_AGE_KEY)"
    )]
    NothingToBackUp,
    #[error("choose how the backup is opened: --recipient, --passphrase and/or --shares")]
    NoProtection,
    #[error("invalid recovery recipient {0:?}")]
    BadRecipient(String),
    #[error("the bundle is damaged or truncated ({0}); nothing was restored")]
    Corrupt(String),
    #[error("the bundle has format {0:?}; this shroud reads {FORMAT}")]
    UnknownFormat(String),
    #[error("wrong passphrase (or the bundle was not protected with one)")]
    WrongPassphrase,
    #[error("the bundle has no passphrase copy of its key")]
    NoPassphraseCopy,
    #[error("none of the given identities opens this bundle")]
    WrongIdentity,
    #[error("share {which}: {why}")]
    BadShare { which: String, why: String },
    #[error("{have} share(s) given, {need} needed to restore this backup")]
    NotEnoughShares { have: usize, need: usize },
    #[error("share {which} belongs to backup {theirs}, not to this backup ({ours})")]
    ForeignShare {
        which: String,
        theirs: String,
        ours: String,
    },
    #[error("{0}")]
    Crypto(String),
}

/// One backed-up identity, as listed in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub recipient: String,
    /// First 8 bytes of SHA-256 of the recipient, hex: short enough to compare by eye.
    pub fingerprint: String,
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShareInfo {
    pub n: u8,
    pub k: u8,
}

/// The readable part of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub backup_id: String,
    pub created: String,
    pub tool_version: String,
    pub identities: Vec<Entry>,
    pub recovery_recipients: Vec<String>,
    pub passphrase: bool,
    pub shares: Option<ShareInfo>,
}

#[derive(Serialize, Deserialize)]
struct BundleFile {
    manifest: Manifest,
    /// Armored age file: the payload.
    payload: String,
    /// Armored age (scrypt) file holding the bundle key, when a passphrase was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passphrase_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    manifest: Manifest,
    identities: String,
}

/// Identity text from one place, to back up.
pub struct Source {
    pub label: String,
    pub text: SecretBytes,
}

/// How a new backup is protected.
#[derive(Default)]
pub struct Protection {
    pub recipients: Vec<String>,
    pub passphrase: Option<SecretString>,
    /// (n, k)
    pub shares: Option<(u8, u8)>,
    /// scrypt work factor (log2 N); None = age's default.
    pub work_factor: Option<u8>,
}

/// A created backup: the bundle file's bytes and the share texts.
pub struct Created {
    pub bundle: Vec<u8>,
    pub manifest: Manifest,
    pub shares: Vec<SecretString>,
}

fn fingerprint(recipient: &str) -> String {
    let d = Sha256::digest(recipient.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn age_encrypt(
    recipients: &[Box<dyn age::Recipient + Send>],
    plain: &[u8],
) -> Result<String, BackupError> {
    let err = |e: &dyn std::fmt::Display| BackupError::Crypto(e.to_string());
    let enc = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    let armor =
        ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| err(&e))?;
    let mut w = enc.wrap_output(armor).map_err(|e| err(&e))?;
    w.write_all(plain).map_err(|e| err(&e))?;
    w.finish().and_then(|a| a.finish()).map_err(|e| err(&e))?;
    String::from_utf8(out).map_err(|e| err(&e))
}

fn age_decrypt(
    armored: &str,
    identities: &[&dyn age::Identity],
) -> Result<SecretBytes, age::DecryptError> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))?;
    let mut r = dec.decrypt(identities.iter().copied())?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(SecretBytes::new(out))
}

/// The age identity lines (`AGE-SECRET-KEY-1…`) of a source, with their recipients.
fn identity_lines(src: &Source) -> Result<Vec<(SecretString, String)>, BackupError> {
    let text = src.text.as_str().unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("AGE-SECRET-KEY-1") {
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                BackupError::Corrupt(format!("{} holds an invalid identity line", src.label))
            })?;
            out.push((
                SecretString::from(line.to_owned()),
                id.to_public().to_string(),
            ));
        }
    }
    Ok(out)
}

fn key_bytes(id: &age::x25519::Identity) -> SecretBytes {
    let text = id.to_string();
    let (_, data) = bech32::decode(&text.expose_secret().to_lowercase())
        .expect("age identities are valid bech32");
    SecretBytes::new(data)
}

fn identity_from_bytes(bytes: &[u8]) -> Result<age::x25519::Identity, BackupError> {
    let hrp = bech32::Hrp::parse("age-secret-key-").expect("valid hrp");
    let s = bech32::encode::<bech32::Bech32>(hrp, bytes)
        .map_err(|e| BackupError::Crypto(e.to_string()))?;
    age::x25519::Identity::from_str(&s.to_uppercase())
        .map_err(|_| BackupError::Crypto("recombined bundle key is invalid".into()))
}

/// Creates a backup of the identities in `sources`.
pub fn create(sources: &[Source], protection: &Protection) -> Result<Created, BackupError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for src in sources {
        for (line, recipient) in identity_lines(src)? {
            if seen.insert(recipient.clone()) {
                entries.push(Entry {
                    fingerprint: fingerprint(&recipient),
                    recipient,
                    source: src.label.clone(),
                });
                lines.push(line);
            }
        }
    }
    if entries.is_empty() {
        return Err(BackupError::NothingToBackUp);
    }
    if protection.recipients.is_empty()
        && protection.passphrase.is_none()
        && protection.shares.is_none()
    {
        return Err(BackupError::NoProtection);
    }
    let mut id_bytes = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    let manifest = Manifest {
        format: FORMAT.into(),
        backup_id: id_bytes.iter().map(|b| format!("{b:02x}")).collect(),
        created: crate::timestamp::Timestamp::now_utc().to_rfc3339(),
        tool_version: format!("shroud {}", crate::VERSION),
        identities: entries,
        recovery_recipients: protection.recipients.clone(),
        passphrase: protection.passphrase.is_some(),
        shares: protection.shares.map(|(n, k)| ShareInfo { n, k }),
    };
    let mut identities = String::new();
    for l in &lines {
        identities.push_str(l.expose_secret());
        identities.push('\n');
    }
    let payload = SecretBytes::from(
        serde_json::to_string(&Payload {
            manifest: manifest.clone(),
            identities,
        })
        .expect("payload serializes"),
    );
    let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
    for r in &protection.recipients {
        let parsed = crate::keysource::age::Recipient::parse(r)
            .map_err(|_| BackupError::BadRecipient(r.clone()))?;
        recipients.push(match parsed {
            crate::keysource::age::Recipient::X25519(x) => Box::new(x),
            crate::keysource::age::Recipient::Ssh(s) => Box::new(s),
        });
    }
    let bundle_key = age::x25519::Identity::generate();
    let needs_bundle_key = protection.passphrase.is_some() || protection.shares.is_some();
    if needs_bundle_key {
        recipients.push(Box::new(bundle_key.to_public()));
    }
    let payload_armored = age_encrypt(&recipients, payload.expose())?;
    let passphrase_key = match &protection.passphrase {
        Some(p) => {
            let mut r = age::scrypt::Recipient::new(p.clone());
            if let Some(w) = protection.work_factor {
                r.set_work_factor(w);
            }
            let boxed: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(r)];
            Some(age_encrypt(
                &boxed,
                bundle_key.to_string().expose_secret().as_bytes(),
            )?)
        }
        None => None,
    };
    let mut shares = Vec::new();
    if let Some((n, k)) = protection.shares {
        let raw = key_bytes(&bundle_key);
        let parts = shamir::split(raw.expose(), n as usize, k as usize)
            .map_err(|e| BackupError::Crypto(e.to_string()))?;
        for part in &parts {
            let mut data = vec![SHARE_VERSION];
            data.extend_from_slice(&id_bytes);
            data.extend_from_slice(&[k, n]);
            data.extend_from_slice(part.expose());
            let hrp = bech32::Hrp::parse(SHARE_HRP).expect("valid hrp");
            let s = bech32::encode::<bech32::Bech32m>(hrp, &data)
                .map_err(|e| BackupError::Crypto(e.to_string()))?;
            crate::secret::wipe(&mut data);
            shares.push(SecretString::from(s));
        }
    }
    let file = BundleFile {
        manifest: manifest.clone(),
        payload: payload_armored,
        passphrase_key,
    };
    let mut bundle = serde_json::to_vec_pretty(&file).expect("bundle serializes");
    bundle.push(b'\n');
    Ok(Created {
        bundle,
        manifest,
        shares,
    })
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
        .map(|l| l.split_whitespace().collect::<String>().to_lowercase())
        .find(|l| l.starts_with(&format!("{SHARE_HRP}1")))
        .ok_or_else(|| bad("no shroudshare1… line found"))?;
    let (hrp, data) = bech32::decode(&line).map_err(|_| bad("checksum mismatch — a character is mistyped or missing; compare it with the paper copy"))?;
    if hrp.as_str() != SHARE_HRP {
        return Err(bad("not a shroud share"));
    }
    if data.len() < 9 || data[0] != SHARE_VERSION {
        return Err(bad("unsupported share version or truncated share"));
    }
    Ok(Share {
        backup_id: data[1..5].iter().map(|b| format!("{b:02x}")).collect(),
        k: data[5],
        n: data[6],
        part: SecretBytes::from_slice(&data[7..]),
    })
}

/// How to open a bundle.
pub enum Unlock<'a> {
    Identities(&'a Identities),
    Passphrase(SecretString),
    /// (share text, name for errors)
    Shares(Vec<(String, String)>),
}

/// An opened bundle.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    /// The backed-up identities (an age key file's text).
    pub identities: SecretBytes,
}

/// Reads only the manifest (no secret needed).
pub fn manifest(bundle: &[u8]) -> Result<Manifest, BackupError> {
    parse_file(bundle).map(|f| f.manifest)
}

fn parse_file(bundle: &[u8]) -> Result<BundleFile, BackupError> {
    let file: BundleFile = serde_json::from_slice(bundle).map_err(|e| {
        BackupError::Corrupt(format!(
            "not a complete bundle: {}",
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    if file.manifest.format != FORMAT {
        return Err(BackupError::UnknownFormat(file.manifest.format));
    }
    Ok(file)
}

/// Opens a bundle.
pub fn open(bundle: &[u8], unlock: Unlock<'_>) -> Result<Opened, BackupError> {
    let file = parse_file(bundle)?;
    let m = &file.manifest;
    let plain = match unlock {
        Unlock::Identities(ids) => {
            let list = ids.as_dyn();
            age_decrypt(&file.payload, &list).map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => BackupError::WrongIdentity,
                other => BackupError::Corrupt(other.to_string()),
            })?
        }
        Unlock::Passphrase(p) => {
            let wrapped = file
                .passphrase_key
                .as_deref()
                .ok_or(BackupError::NoPassphraseCopy)?;
            let mut id = age::scrypt::Identity::new(p);
            id.set_max_work_factor(22);
            let key_text = age_decrypt(wrapped, &[&id]).map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    BackupError::WrongPassphrase
                }
                other => BackupError::Corrupt(other.to_string()),
            })?;
            let key = age::x25519::Identity::from_str(key_text.as_str().unwrap_or_default().trim())
                .map_err(|_| {
                    BackupError::Corrupt("the passphrase copy of the key is invalid".into())
                })?;
            age_decrypt(&file.payload, &[&key]).map_err(|e| BackupError::Corrupt(e.to_string()))?
        }
        Unlock::Shares(texts) => {
            let info = m.shares.as_ref().ok_or_else(|| {
                BackupError::Corrupt("this backup was made without shares".into())
            })?;
            let mut parts: Vec<Share> = Vec::new();
            for (text, which) in &texts {
                let s = parse_share(text, which)?;
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
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.part.expose()).collect();
            let raw = shamir::combine(&refs).map_err(|e| BackupError::Crypto(e.to_string()))?;
            let key = identity_from_bytes(raw.expose())?;
            age_decrypt(&file.payload, &[&key]).map_err(|_| {
                BackupError::Crypto("the shares do not recombine to this backup's key".into())
            })?
        }
    };
    let payload: Payload = serde_json::from_slice(plain.expose())
        .map_err(|_| BackupError::Corrupt("the payload is not a shroud backup".into()))?;
    if payload.manifest != file.manifest {
        return Err(BackupError::Corrupt(
            "the readable manifest does not match the encrypted one".into(),
        ));
    }
    Ok(Opened {
        manifest: payload.manifest,
        identities: SecretBytes::from(payload.identities),
    })
}

/// The result of checking one file against a backup.
pub type Verified = (std::path::PathBuf, Result<(), crate::error::Error>);

/// Checks that every sops file under `dir` (respecting `.gitignore`) opens, values and MAC
/// included, with the backed-up identities alone. Decrypts in memory and keeps no values.
pub async fn verify_dir(
    dir: &std::path::Path,
    opened: &Opened,
) -> Result<Vec<Verified>, BackupError> {
    let mut ring = crate::keysource::Keyring::default();
    ring.age
        .add_text(opened.identities.as_str().unwrap_or_default(), "the backup")
        .map_err(|e| BackupError::Corrupt(e.to_string()))?;
    let found =
        crate::repo::sops_files(dir, None).map_err(|e| BackupError::Corrupt(e.to_string()))?;
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        let label = f.path.display().to_string();
        let r = match f.damage {
            Some(why) => Err(crate::error::Error::Damaged { file: label, why }),
            None => match std::fs::read(&f.path) {
                Ok(bytes) => crate::document::open(&label, f.format, &bytes, &ring, false)
                    .await
                    .map(|_| ()),
                Err(source) => Err(crate::error::Error::Read {
                    file: label,
                    source,
                }),
            },
        };
        out.push((f.path, r));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> (Source, String) {
        let (text, recipient) = crate::keysource::age::generate();
        (
            Source {
                label: "test".into(),
                text,
            },
            recipient,
        )
    }

    #[test]
    fn shares_passphrase_and_recipients_open_the_same_bundle() {
        let (src, backed_up) = source();
        let (rec_text, rec) = crate::keysource::age::generate();
        let created = create(
            &[src],
            &Protection {
                recipients: vec![rec],
                passphrase: Some(SecretString::from("correct horse".to_owned())),
                shares: Some((5, 3)),
                work_factor: Some(10),
            },
        )
        .unwrap();
        assert_eq!(created.manifest.identities[0].recipient, backed_up);
        assert_eq!(created.shares.len(), 5);
        let texts: Vec<(String, String)> = created
            .shares
            .iter()
            .enumerate()
            .map(|(i, s)| (share_block(&created.manifest, i, s), format!("#{}", i + 1)))
            .collect();
        let by_shares = open(&created.bundle, Unlock::Shares(texts[1..4].to_vec())).unwrap();
        assert!(
            by_shares
                .identities
                .as_str()
                .unwrap()
                .starts_with("AGE-SECRET-KEY-1")
        );
        let by_pass = open(
            &created.bundle,
            Unlock::Passphrase(SecretString::from("correct horse".to_owned())),
        )
        .unwrap();
        assert_eq!(by_pass.identities, by_shares.identities);
        let mut ids = Identities::default();
        ids.add_text(rec_text.as_str().unwrap(), "recovery")
            .unwrap();
        assert_eq!(
            open(&created.bundle, Unlock::Identities(&ids))
                .unwrap()
                .identities,
            by_shares.identities
        );

        assert!(matches!(
            open(
                &created.bundle,
                Unlock::Passphrase(SecretString::from("wrong".to_owned()))
            ),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(matches!(
            open(&created.bundle, Unlock::Shares(texts[..2].to_vec())),
            Err(BackupError::NotEnoughShares { have: 2, need: 3 })
        ));
        let mut typo = texts[2].clone();
        let pos = typo.0.rfind(' ').unwrap() + 1;
        let c = typo.0.as_bytes()[pos];
        typo.0
            .replace_range(pos..pos + 1, if c == b'q' { "p" } else { "q" });
        let err = open(
            &created.bundle,
            Unlock::Shares(vec![texts[0].clone(), texts[1].clone(), typo]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("share #3") && err.to_string().contains("checksum"),
            "{err}"
        );
        let truncated = &created.bundle[..created.bundle.len() / 2];
        assert!(matches!(
            open(truncated, Unlock::Shares(texts.clone())),
            Err(BackupError::Corrupt(_))
        ));
    }

    #[test]
    fn shares_of_another_backup_are_named() {
        let (src, _) = source();
        let p = Protection {
            shares: Some((3, 2)),
            ..Default::default()
        };
        let a = create(
            &[Source {
                label: "a".into(),
                text: src.text.clone(),
            }],
            &p,
        )
        .unwrap();
        let b = create(&[src], &p).unwrap();
        let mix = vec![
            (share_block(&a.manifest, 0, &a.shares[0]), "a1".to_owned()),
            (share_block(&b.manifest, 1, &b.shares[1]), "b2".to_owned()),
        ];
        assert!(matches!(
            open(&a.bundle, Unlock::Shares(mix)),
            Err(BackupError::ForeignShare { .. })
        ));
    }
}
