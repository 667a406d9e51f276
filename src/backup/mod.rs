//! Key backup bundles: the age identities (and PGP secret keys) that open a repository's
//! secrets, encrypted for recovery recipients, a passphrase (scrypt) and/or split into Shamir
//! paper shares.
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

use std::sync::Arc;

use age::secrecy::{ExposeSecret, SecretString};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod bundle;
mod share;

use crate::keysource::age::Identities;
use crate::secret::{SecretBytes, SecretText};
use bundle::{BundleFile, Payload, age_decrypt, age_encrypt, parse_file};

pub use bundle::{FORMAT, manifest};
pub use share::{Share, parse_share, share_block};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "no age identities to back up (pass --key-file or --pgp FINGERPRINT, or set SOPS_AGE_KEY_FILE / SOPS_AGE_KEY)"
    )]
    NothingToBackUp,
    /// gpg could not export, import or check the PGP keys.
    #[error("{0}")]
    Pgp(String),
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
    /// The age library failed while building or opening the bundle.
    #[error("{0}")]
    Crypto(String),
    /// An identity source (a key file, `SOPS_AGE_KEY`, a Secret's key) holds something that is
    /// not an age identity: `why`, with the line.
    #[error("{why}; nothing was written")]
    KeyFile { origin: String, why: String },
}

impl crate::error::Failure for BackupError {
    fn exit_code(&self) -> crate::error::ExitCode {
        use crate::error::ExitCode as C;
        match self {
            BackupError::NothingToBackUp | BackupError::NoProtection => C::Usage,
            BackupError::BadRecipient(_) | BackupError::KeyFile { .. } => C::InvalidConfig,
            BackupError::Corrupt(_) => C::Integrity,
            BackupError::UnknownFormat(_) | BackupError::BadShare { .. } => C::InvalidInput,
            BackupError::WrongPassphrase
            | BackupError::NoPassphraseCopy
            | BackupError::WrongIdentity
            | BackupError::NotEnoughShares { .. }
            | BackupError::ForeignShare { .. } => C::CouldNotRetrieveKey,
            BackupError::Crypto(_) | BackupError::Pgp(_) => C::Generic,
        }
    }
}

impl BackupError {
    /// As a library error about `file` (the bundle), or about the key file at fault.
    pub fn about(self, file: &str) -> crate::error::Error {
        let file = match &self {
            BackupError::KeyFile { origin, .. } => origin.clone(),
            _ => file.to_owned(),
        };
        crate::error::Error::Procedure {
            file: Some(file),
            failure: Box::new(self),
        }
    }
}

/// One backed-up identity, as listed in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub recipient: String,
    /// First 8 bytes of SHA-256 of the recipient, hex: short enough to compare by eye.
    pub fingerprint: String,
    pub source: String,
}

/// One backed-up PGP secret key, as listed in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PgpEntry {
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
    /// PGP secret keys in the bundle (absent in bundles without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pgp: Vec<PgpEntry>,
    pub recovery_recipients: Vec<String>,
    pub passphrase: bool,
    pub shares: Option<ShareInfo>,
}

/// Identity text from one place, to back up.
pub struct Source {
    pub label: String,
    pub text: SecretBytes,
}

/// A PGP secret key to back up, armored as `gpg --export-secret-keys` writes it.
pub struct PgpSource {
    pub fingerprint: String,
    pub label: String,
    pub armored: SecretBytes,
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

/// The age identity lines of a source (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`,
/// `AGE-PLUGIN-…`), each with what names it in the manifest: its recipient, or for a plugin
/// identity (whose recipient only its plugin knows) `age-plugin-NAME identity`, and its
/// fingerprint.
fn identity_lines(src: &Source) -> Result<Vec<(SecretString, String, String)>, BackupError> {
    use crate::keysource::age::{IdentityPublic, identity_public, is_identity_line};
    let bad = |why: String| BackupError::KeyFile {
        origin: src.label.clone(),
        why,
    };
    let Some(text) = src.text.as_str() else {
        return Err(bad(
            "not a text file of age identities (it is not UTF-8)".into()
        ));
    };
    if text.starts_with('\u{feff}') {
        return Err(bad(
            "the file starts with a byte-order mark (BOM), as some Windows editors save UTF-8; age and sops cannot read it either: save it as UTF-8 without BOM".into(),
        ));
    }
    let mut out = Vec::new();
    // As age reads an identity file: blank lines and `#` comments, every other line one identity.
    for (i, line) in text.lines().map(str::trim).enumerate() {
        let n = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !is_identity_line(line) {
            let what = if line.starts_with("-----BEGIN") {
                format!(
                    "line {n} starts an SSH or PEM private key, not an age identity: `keys backup` backs up age identities (AGE-SECRET-KEY-…, AGE-PLUGIN-…) and PGP keys (--pgp); keep a copy of the SSH key itself"
                )
            } else if line.starts_with("ssh-") || line.starts_with("ecdsa-sha2-") {
                format!("line {n} is an SSH public key, not an age identity")
            } else if line.starts_with("age1") {
                format!(
                    "line {n} is an age recipient (a public key), not an age identity (AGE-SECRET-KEY-…)"
                )
            } else {
                format!(
                    "line {n} is not an age identity (neither a # comment nor an AGE-SECRET-KEY-… or AGE-PLUGIN-… line)"
                )
            };
            return Err(bad(what));
        }
        let named = match identity_public(line) {
            Some(IdentityPublic::Recipient(r)) => {
                let fp = fingerprint(&r);
                (r, fp)
            }
            // A digest of the identity (never shown) tells two plugin identities apart.
            Some(IdentityPublic::Plugin(name)) => {
                (format!("age-plugin-{name} identity"), fingerprint(line))
            }
            None => {
                return Err(bad(format!(
                    "line {n} is not an age identity: it starts like one but does not parse (mistyped, cut off or with extra characters)"
                )));
            }
        };
        out.push((SecretString::from(line.to_owned()), named.0, named.1));
    }
    Ok(out)
}

/// Creates a backup of the age identities in `sources` and the PGP secret keys in `pgp`.
pub fn create(
    sources: &[Source],
    pgp: &[PgpSource],
    protection: &Protection,
) -> Result<Created, BackupError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for src in sources {
        for (line, recipient, fingerprint) in identity_lines(src)? {
            if seen.insert(fingerprint.clone()) {
                entries.push(Entry {
                    fingerprint,
                    recipient,
                    source: src.label.clone(),
                });
                lines.push(line);
            }
        }
    }
    let mut pgp_keys = SecretText::default();
    let mut pgp_entries = Vec::new();
    for k in pgp {
        let text = k.armored.as_str().unwrap_or_default();
        if !text.contains("BEGIN PGP PRIVATE KEY BLOCK") {
            return Err(BackupError::Pgp(format!(
                "{}: not an armored PGP secret key",
                k.label
            )));
        }
        if pgp_entries
            .iter()
            .any(|e: &PgpEntry| e.fingerprint == k.fingerprint)
        {
            continue;
        }
        pgp_keys.push_str(text);
        if !text.ends_with('\n') {
            pgp_keys.push_str("\n");
        }
        pgp_entries.push(PgpEntry {
            fingerprint: k.fingerprint.clone(),
            source: k.label.clone(),
        });
    }
    if entries.is_empty() && pgp_entries.is_empty() {
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
        pgp: pgp_entries,
        recovery_recipients: protection.recipients.clone(),
        passphrase: protection.passphrase.is_some(),
        shares: protection.shares.map(|(n, k)| ShareInfo { n, k }),
    };
    let mut identities = SecretText::default();
    for l in &lines {
        identities.push_str(l.expose_secret());
        identities.push_str("\n");
    }
    let payload = SecretBytes::from(
        serde_json::to_string(&Payload {
            manifest: manifest.clone(),
            identities,
            pgp_keys,
        })
        .expect("payload serializes"),
    );
    let mut parsed = Vec::new();
    for r in &protection.recipients {
        parsed.push(
            crate::keysource::age::Recipient::parse(r)
                .map_err(|_| BackupError::BadRecipient(crate::text::shorten_keys(r)))?,
        );
    }
    // age encrypts a file for post-quantum recipients only, or for classic ones only: the
    // bundle key is of the recovery recipients' kind.
    let post_quantum = parsed.iter().any(|r| r.is_post_quantum());
    if post_quantum && parsed.iter().any(|r| !r.is_post_quantum()) {
        return Err(BackupError::Crypto(
            "the recovery recipients mix post-quantum (age1pq1…) and classic keys, which age does not encrypt one file for: make one backup for each kind".into(),
        ));
    }
    let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
    for r in &parsed {
        recipients.push(r.boxed().map_err(|e| BackupError::Crypto(e.to_string()))?);
    }
    let runs_plugins = parsed
        .iter()
        .any(|r| matches!(r, crate::keysource::age::Recipient::Plugin(_)));
    let bundle_key = share::BundleKey::generate(post_quantum);
    let needs_bundle_key = protection.passphrase.is_some() || protection.shares.is_some();
    if needs_bundle_key {
        recipients.push(bundle_key.recipient());
    }
    let payload_armored =
        crate::keysource::age::encrypt_for(&recipients, payload.expose(), runs_plugins)
            .map_err(BackupError::Crypto)?;
    let passphrase_key = match &protection.passphrase {
        Some(p) => {
            let mut r = age::scrypt::Recipient::new(p.clone());
            if let Some(w) = protection.work_factor {
                r.set_work_factor(w);
            }
            let boxed: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(r)];
            Some(age_encrypt(
                &boxed,
                bundle_key.to_text().expose_secret().as_bytes(),
            )?)
        }
        None => None,
    };
    let shares = match protection.shares {
        Some((n, k)) => share::split_key(&bundle_key, &id_bytes, n, k)?,
        None => Vec::new(),
    };
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

/// How to open a bundle.
pub enum Unlock<'a> {
    Identities(&'a Identities),
    Passphrase(SecretString),
    /// (share text, name for errors)
    Shares(Vec<(SecretString, String)>),
}

/// An opened bundle.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    /// The backed-up identities (an age key file's text).
    pub identities: SecretBytes,
    /// The backed-up PGP secret keys, armored (empty when there are none).
    pub pgp_keys: SecretBytes,
}

/// Opens a bundle.
pub fn open(bundle: &[u8], unlock: Unlock<'_>) -> Result<Opened, BackupError> {
    let file = parse_file(bundle)?;
    let m = &file.manifest;
    let plain = match unlock {
        Unlock::Identities(ids) => ids.open_armored(&file.payload).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => BackupError::WrongIdentity,
            other => BackupError::Corrupt(other.to_string()),
        })?,
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
            let key = share::BundleKey::from_text(key_text.as_str().unwrap_or_default())
                .ok_or_else(|| {
                    BackupError::Corrupt("the passphrase copy of the key is invalid".into())
                })?;
            age_decrypt(&file.payload, &[key.identity()])
                .map_err(|e| BackupError::Corrupt(e.to_string()))?
        }
        Unlock::Shares(texts) => {
            let key = share::combine(&texts, m)?;
            age_decrypt(&file.payload, &[key.identity()]).map_err(|_| {
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
        identities: SecretBytes::from_slice(payload.identities.expose().as_bytes()),
        pgp_keys: SecretBytes::from_slice(payload.pgp_keys.expose().as_bytes()),
    })
}

/// How a backup covers one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The backup's keys open the file (values and MAC checked); `pgp_only` when none of the
    /// backed-up age identities is among its keys, so only the PGP keys open it.
    Opens { pgp_only: bool },
    /// The backup does not open it, but an AWS KMS key does (KMS keys are not in a backup).
    KmsOnly,
}

/// The result of checking one file against a backup.
pub type Verified = (std::path::PathBuf, Result<Coverage, crate::error::Error>);

/// A private GnuPG home holding the backup's PGP keys, so that a check uses those keys only
/// (never the user's own keyring); its agent is stopped and the directory removed on drop.
struct PgpHome {
    _dir: tempfile::TempDir,
    gpg: crate::keysource::pgp::Gpg,
}

impl PgpHome {
    async fn with_keys(armored: &SecretBytes) -> Result<PgpHome, BackupError> {
        // gpg-agent's socket path must be short: keep the home under /tmp.
        let dir = tempfile::Builder::new()
            .prefix(".shroud-gpg")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| BackupError::Pgp(format!("cannot create a private GnuPG home: {e}")))?;
        let gpg = crate::keysource::pgp::Gpg {
            homedir: Some(dir.path().to_path_buf()),
        };
        let home = PgpHome { _dir: dir, gpg };
        if !armored.is_empty() {
            home.gpg
                .import(armored.expose())
                .await
                .map_err(|e| BackupError::Pgp(e.to_string()))?;
        }
        Ok(home)
    }
}

impl Drop for PgpHome {
    fn drop(&mut self) {
        // Before the directory (a field) is removed.
        self.gpg.stop_agent();
    }
}

/// Checks that every sops file under `dir` (respecting `.gitignore`) opens, values and MAC
/// included, with the backed-up keys alone: the age identities and, in a private GnuPG home,
/// the PGP keys. AWS KMS and the user's own keyring are not used. Decrypts in memory and
/// keeps no values.
pub async fn verify_dir(
    dir: &std::path::Path,
    opened: &Opened,
) -> Result<Vec<Verified>, BackupError> {
    use crate::metadata::KeyKind;
    let mut ring = crate::keysource::Keyring::default();
    ring.age
        .add_text(opened.identities.as_str().unwrap_or_default(), "the backup")
        .map_err(|e| BackupError::Corrupt(e.to_string()))?;
    ring.order = vec![KeyKind::Age, KeyKind::Pgp];
    ring.exclusive = true;
    let found =
        crate::repo::sops_files(dir, None).map_err(|e| BackupError::Corrupt(e.to_string()))?;
    let needs_gpg = found.iter().any(|f| f.damage.is_none());
    let home = if needs_gpg {
        let h = PgpHome::with_keys(&opened.pgp_keys).await?;
        ring.pgp = h.gpg.clone();
        Some(h)
    } else {
        None
    };
    let backed_up: Arc<std::collections::BTreeSet<String>> = Arc::new(
        opened
            .manifest
            .identities
            .iter()
            .map(|e| e.recipient.clone())
            .collect(),
    );
    let ring = Arc::new(ring);
    let items = found.into_iter().map(|f| (f.path.clone(), f)).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out = crate::bulk::run(items, threads, crate::bulk::no_progress(), |_, f| {
        let (ring, backed_up) = (ring.clone(), backed_up.clone());
        async move { verify_one(f, &ring, &backed_up).await }
    })
    .await;
    drop(home);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One file of [`verify_dir`] (a task of the bulk runner).
async fn verify_one(
    f: crate::repo::SopsFile,
    ring: &crate::keysource::Keyring,
    backed_up: &std::collections::BTreeSet<String>,
) -> crate::error::Result<Coverage> {
    use crate::metadata::MasterKey;
    let label = f.path.display().to_string();
    if let Some(why) = f.damage {
        return Err(crate::error::Error::Damaged { file: label, why });
    }
    let bytes = crate::file::read(&f.path)?;
    let bytes = bytes.expose();
    let has_kms = crate::document::load_encrypted(&label, f.format, bytes)
        .map(|(_, md)| md.all_keys().any(|k| matches!(k, MasterKey::Kms(_))))
        .unwrap_or(false);
    match crate::document::open(&label, f.format, bytes, ring, false).await {
        Ok(o) => Ok(Coverage::Opens {
            pgp_only: !o.metadata.all_keys().any(
                |k| matches!(k, MasterKey::Age(a) if backed_up.contains(a.recipient.as_str())),
            ),
        }),
        Err(crate::error::Error::Key { .. }) if has_kms => Ok(Coverage::KmsOnly),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(texts: &[(String, String)]) -> Vec<(SecretString, String)> {
        texts
            .iter()
            .map(|(t, w)| (SecretString::from(t.clone()), w.clone()))
            .collect()
    }

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
            &[],
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
        let by_shares = open(&created.bundle, Unlock::Shares(secret(&texts[1..4]))).unwrap();
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
            open(&created.bundle, Unlock::Shares(secret(&texts[..2]))),
            Err(BackupError::NotEnoughShares { have: 2, need: 3 })
        ));
        let mut typo = texts[2].clone();
        let pos = typo.0.rfind(' ').unwrap() + 1;
        let c = typo.0.as_bytes()[pos];
        typo.0
            .replace_range(pos..pos + 1, if c == b'q' { "p" } else { "q" });
        let err = open(
            &created.bundle,
            Unlock::Shares(secret(&[texts[0].clone(), texts[1].clone(), typo])),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("share #3") && err.to_string().contains("checksum"),
            "{err}"
        );
        let truncated = &created.bundle[..created.bundle.len() / 2];
        assert!(matches!(
            open(truncated, Unlock::Shares(secret(&texts))),
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
            &[],
            &p,
        )
        .unwrap();
        let b = create(&[src], &[], &p).unwrap();
        let mix = vec![
            (share_block(&a.manifest, 0, &a.shares[0]), "a1".to_owned()),
            (share_block(&b.manifest, 1, &b.shares[1]), "b2".to_owned()),
        ];
        assert!(matches!(
            open(&a.bundle, Unlock::Shares(secret(&mix))),
            Err(BackupError::ForeignShare { .. })
        ));
    }
}
