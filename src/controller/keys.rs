//! The controller's key material: age identities from mounted files and directories (several
//! at once, for rotation windows), OpenPGP secret keys from mounted directories (imported into
//! a private GnuPG keyring the controller creates, used through gpg), AWS KMS through the
//! standard credential chain, a cache of unwrapped data keys per envelope, and the public
//! recipients to publish.
//!
//! Only these sources are used: never an ambient GnuPG keyring, never age identities from the
//! environment. Owns: loading identities, the private keyring (0700, removed with its agent
//! when the keys are replaced), noticing that the key files changed (a content fingerprint, so
//! a remounted Secret is picked up without a restart) and the data-key cache. Must not know:
//! the API server, or what the decrypted documents contain. Never logs or returns key material
//! in errors; the fingerprint is a SHA-256 over paths and contents and is never printed either.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keysource::pgp::Gpg;
use crate::keysource::{KeyError, Keyring};
use crate::metadata::KeyKind;
use crate::metadata::Metadata;
use crate::secret::DataKey;

/// Where identities come from: age key files, directories whose regular files are age key
/// files (a mounted Secret with one key per entry), and directories whose regular files are
/// OpenPGP secret keys (`gpg --export-secret-keys`, armored or binary).
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    pub pgp_dirs: Vec<PathBuf>,
}

/// Loaded key material.
pub struct Keys {
    pub keyring: Keyring,
    /// The recipients (`age1…`, `age1pq1…`) of the loaded age identities.
    pub recipients: Vec<String>,
    /// How many OpenPGP key files were imported.
    pub pgp_files: usize,
    /// What the key files held when loaded (see [`fingerprint`]).
    pub fingerprint: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], DataKey>>,
    /// The private GnuPG home the PGP keys were imported into.
    _pgp_home: Option<PgpHome>,
}

/// A private GnuPG home (0700, in the temporary directory): its agent is stopped and the
/// directory removed when dropped.
struct PgpHome {
    dir: tempfile::TempDir,
}

impl Drop for PgpHome {
    fn drop(&mut self) {
        Gpg {
            homedir: Some(self.dir.path().to_owned()),
        }
        .stop_agent();
    }
}

/// gpg runs unattended: it never asks for a passphrase (a protected key fails at once).
const GPG_CONF: &str = "batch\nno-tty\npinentry-mode cancel\n";

/// How many unwrapped data keys are kept before the cache is emptied.
const CACHE_MAX: usize = 16_384;

/// The regular files of `dirs` that are not dot entries, sorted per directory.
fn dir_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, KeyError> {
    let mut out = Vec::new();
    for d in dirs {
        let rd = std::fs::read_dir(d).map_err(|e| KeyError::BadIdentity {
            origin: d.display().to_string(),
            reason: e.kind().to_string(),
        })?;
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            // Mounted Secrets hold `..data` symlinks and `..2026_…` directories: skip dot names.
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn key_files(src: &KeySources) -> Result<Vec<PathBuf>, KeyError> {
    let mut out = src.files.clone();
    out.extend(dir_files(&src.dirs)?);
    Ok(out)
}

fn read_bytes(f: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    std::fs::read(f)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::BadIdentity {
            origin: f.display().to_string(),
            reason: e.kind().to_string(),
        })
}

/// Imports every OpenPGP key file of `src` into a new private GnuPG home.
async fn load_pgp(
    src: &KeySources,
    hash: &mut Sha256,
) -> Result<Option<(PgpHome, usize)>, KeyError> {
    let files = dir_files(&src.pgp_dirs)?;
    if src.pgp_dirs.is_empty() {
        return Ok(None);
    }
    let io = |e: std::io::Error| KeyError::BadIdentity {
        origin: "the private GnuPG home".into(),
        reason: e.to_string(),
    };
    let dir = tempfile::Builder::new()
        .prefix("shroud-gnupg-")
        .tempdir()
        .map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    std::fs::write(dir.path().join("gpg.conf"), GPG_CONF).map_err(io)?;
    let home = PgpHome { dir };
    let gpg = Gpg {
        homedir: Some(home.dir.path().to_owned()),
    };
    for f in &files {
        let bytes = read_bytes(f)?;
        hash_entry(hash, f, &bytes);
        gpg.import(&bytes)
            .await
            .map_err(|e| KeyError::BadIdentity {
                origin: f.display().to_string(),
                reason: match e {
                    KeyError::Unwrap { reason, .. } => format!("gpg does not import it: {reason}"),
                    other => other.to_string(),
                },
            })?;
    }
    Ok(Some((home, files.len())))
}

/// The age identities of `src`, added to `keyring` and hashed; their recipients.
fn load_age(
    src: &KeySources,
    keyring: &mut Keyring,
    hash: &mut Sha256,
) -> Result<Vec<String>, KeyError> {
    let mut recipients = Vec::new();
    for f in key_files(src)? {
        let text = read_key_file(&f)?;
        hash_entry(hash, &f, text.as_bytes());
        keyring.age.add_text(&text, &f.display().to_string())?;
        recipients.extend(recipients_of(&text));
    }
    recipients.sort();
    recipients.dedup();
    Ok(recipients)
}

/// The key types the controller uses, in order: age, PGP when key directories are given,
/// AWS KMS.
pub fn key_order(src: &KeySources) -> Vec<KeyKind> {
    let mut order = vec![KeyKind::Age];
    if !src.pgp_dirs.is_empty() {
        order.push(KeyKind::Pgp);
    }
    order.push(KeyKind::Kms);
    order
}

impl Keys {
    /// Loads every identity of `src`. Having no age identity is allowed (KMS only).
    pub async fn load(src: &KeySources) -> Result<Keys, KeyError> {
        let mut keyring = Keyring::default();
        let mut hash = Sha256::new();
        let recipients = load_age(src, &mut keyring, &mut hash)?;
        let pgp = load_pgp(src, &mut hash).await?;
        keyring.order = key_order(src);
        keyring.exclusive = true;
        let pgp_files = pgp.as_ref().map_or(0, |(_, n)| *n);
        if let Some((home, _)) = &pgp {
            keyring.pgp = Gpg {
                homedir: Some(home.dir.path().to_owned()),
            };
        }
        Ok(Keys {
            keyring,
            recipients,
            pgp_files,
            fingerprint: hash.finalize().into(),
            cache: Mutex::new(HashMap::new()),
            _pgp_home: pgp.map(|(h, _)| h),
        })
    }

    /// Unwraps the data key of an envelope, from the cache when this envelope was seen before.
    /// Returns whether the cache answered.
    pub async fn data_key(&self, id: [u8; 32], md: &Metadata) -> Result<(DataKey, bool), KeyError> {
        if let Some(k) = self.cached(&id) {
            return Ok((k, true));
        }
        let key = self.keyring.unwrap_data_key(md).await?;
        if let Some(copy) = DataKey::from_slice(key.expose()) {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(id, copy);
        }
        Ok((key, false))
    }

    fn cached(&self, id: &[u8; 32]) -> Option<DataKey> {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.get(id).and_then(|k| DataKey::from_slice(k.expose()))
    }

    /// Forgets a cached key (after it failed to verify a document).
    pub fn forget(&self, id: &[u8; 32]) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

fn read_key_file(f: &std::path::Path) -> Result<Zeroizing<String>, KeyError> {
    std::fs::read_to_string(f)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::BadIdentity {
            origin: f.display().to_string(),
            reason: e.kind().to_string(),
        })
}

fn hash_entry(hash: &mut Sha256, path: &std::path::Path, content: &[u8]) {
    let p = path.as_os_str().as_encoded_bytes();
    hash.update((p.len() as u64).to_le_bytes());
    hash.update(p);
    hash.update((content.len() as u64).to_le_bytes());
    hash.update(content);
}

/// A fingerprint of what the key files of `src` hold now: equal to [`Keys::fingerprint`] while
/// nothing changed. A kubelet updates a mounted Secret by swapping its `..data` symlink, so the
/// files are re-read rather than watched.
pub fn fingerprint(src: &KeySources) -> Result<[u8; 32], KeyError> {
    let mut hash = Sha256::new();
    for f in key_files(src)? {
        let text = read_key_file(&f)?;
        hash_entry(&mut hash, &f, text.as_bytes());
    }
    for f in dir_files(&src.pgp_dirs)? {
        hash_entry(&mut hash, &f, &read_bytes(&f)?);
    }
    Ok(hash.finalize().into())
}

/// The recipients (`age1…`, `age1pq1…`) of the native age identities in a key file (other
/// lines are ignored): what the controller publishes.
pub fn recipients_of(text: &str) -> Vec<String> {
    crate::keysource::age::recipients_of(text)
}

/// The recipients of every age identity under `src`, for `shroud-controller pubkey`.
pub fn recipients(src: &KeySources) -> Result<Vec<String>, KeyError> {
    load_age(src, &mut Keyring::default(), &mut Sha256::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_given_sources_are_used() {
        let age_only = KeySources::default();
        assert_eq!(key_order(&age_only), [KeyKind::Age, KeyKind::Kms]);
        let with_pgp = KeySources {
            pgp_dirs: vec!["/etc/shroud/pgp".into()],
            ..Default::default()
        };
        assert_eq!(
            key_order(&with_pgp),
            [KeyKind::Age, KeyKind::Pgp, KeyKind::Kms]
        );
    }

    /// A key Secret holding a post-quantum identity next to an X25519 one: both are loaded and
    /// both recipients published.
    #[test]
    fn post_quantum_identities_are_loaded_and_published() {
        let d = tempfile::tempdir().unwrap();
        let (pq, pq_recipient) = crate::keysource::age::generate_kind(true);
        let (x, x_recipient) = crate::keysource::age::generate_kind(false);
        let text = format!("{}{}", pq.as_str().unwrap(), x.as_str().unwrap());
        std::fs::write(d.path().join("keys.txt"), text).unwrap();
        let src = KeySources {
            files: vec![d.path().join("keys.txt")],
            ..Default::default()
        };
        let mut want = vec![pq_recipient.clone(), x_recipient];
        want.sort();
        assert_eq!(recipients(&src).unwrap(), want);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let keys = rt.block_on(Keys::load(&src)).unwrap();
        assert_eq!(keys.recipients, want);
        let wrapped = crate::keysource::age::wrap(&pq_recipient, &[5u8; 32]).unwrap();
        assert_eq!(
            keys.keyring.age.unwrap(&wrapped).unwrap().expose(),
            &[5u8; 32]
        );
    }

    #[test]
    fn the_fingerprint_follows_every_key_file() {
        let d = tempfile::tempdir().unwrap();
        let (age, pgp) = (d.path().join("age"), d.path().join("pgp"));
        std::fs::create_dir_all(&age).unwrap();
        std::fs::create_dir_all(&pgp).unwrap();
        let src = KeySources {
            dirs: vec![age.clone()],
            pgp_dirs: vec![pgp.clone()],
            ..Default::default()
        };
        let empty = fingerprint(&src).unwrap();
        std::fs::write(
            pgp.join("key.asc"),
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----",
        )
        .unwrap();
        let one = fingerprint(&src).unwrap();
        assert_ne!(empty, one);
        // Dot entries (a kubelet's ..data) are not key files.
        std::fs::write(pgp.join("..data"), b"x").unwrap();
        assert_eq!(fingerprint(&src).unwrap(), one);
        std::fs::write(pgp.join("key.asc"), b"changed").unwrap();
        assert_ne!(fingerprint(&src).unwrap(), one);
    }
}
