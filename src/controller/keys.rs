//! The controller's key material: age identities from mounted files and directories (several
//! at once, for rotation windows), AWS KMS through the standard credential chain, a cache of
//! unwrapped data keys per envelope, and the public recipients to publish.
//!
//! Owns: loading identities, noticing that the key files changed (a content fingerprint, so a
//! remounted Secret is picked up without a restart) and the data-key cache. Must not know: the
//! API server, or what the decrypted documents contain. Never logs or returns key material in
//! errors; the fingerprint is a SHA-256 over paths and contents and is never printed either.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keysource::{KeyError, Keyring};
use crate::metadata::Metadata;
use crate::secret::DataKey;

/// Where identities come from: files, and directories whose regular files are key files
/// (a mounted Secret with one key per entry).
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

/// Loaded key material.
pub struct Keys {
    pub keyring: Keyring,
    /// `age1…` recipients of the loaded X25519 identities.
    pub recipients: Vec<String>,
    /// What the key files held when loaded (see [`fingerprint`]).
    pub fingerprint: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], DataKey>>,
}

/// How many unwrapped data keys are kept before the cache is emptied.
const CACHE_MAX: usize = 16_384;

fn key_files(src: &KeySources) -> Result<Vec<PathBuf>, KeyError> {
    let mut out = src.files.clone();
    for d in &src.dirs {
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

impl Keys {
    /// Loads every identity of `src`. Having no age identity is allowed (KMS only).
    pub fn load(src: &KeySources) -> Result<Keys, KeyError> {
        let mut keyring = Keyring::default();
        let mut recipients = Vec::new();
        let mut hash = Sha256::new();
        for f in key_files(src)? {
            let text = read_key_file(&f)?;
            hash_entry(&mut hash, &f, &text);
            keyring.age.add_text(&text, &f.display().to_string())?;
            recipients.extend(recipients_of(&text));
        }
        recipients.sort();
        recipients.dedup();
        Ok(Keys {
            keyring,
            recipients,
            fingerprint: hash.finalize().into(),
            cache: Mutex::new(HashMap::new()),
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

fn hash_entry(hash: &mut Sha256, path: &std::path::Path, text: &str) {
    let p = path.as_os_str().as_encoded_bytes();
    hash.update((p.len() as u64).to_le_bytes());
    hash.update(p);
    hash.update((text.len() as u64).to_le_bytes());
    hash.update(text.as_bytes());
}

/// A fingerprint of what the key files of `src` hold now: equal to [`Keys::fingerprint`] while
/// nothing changed. A kubelet updates a mounted Secret by swapping its `..data` symlink, so the
/// files are re-read rather than watched.
pub fn fingerprint(src: &KeySources) -> Result<[u8; 32], KeyError> {
    let mut hash = Sha256::new();
    for f in key_files(src)? {
        let text = read_key_file(&f)?;
        hash_entry(&mut hash, &f, &text);
    }
    Ok(hash.finalize().into())
}

/// The `age1…` recipients of the X25519 identities in a key file (other lines are ignored).
pub fn recipients_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .filter_map(|l| age::x25519::Identity::from_str(l).ok())
        .map(|id| id.to_public().to_string())
        .collect()
}

/// The recipients of every identity under `src`, for `shroud-controller pubkey`.
pub fn recipients(src: &KeySources) -> Result<Vec<String>, KeyError> {
    Ok(Keys::load(src)?.recipients)
}
