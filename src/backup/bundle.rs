//! The bundle file format: a JSON object with the readable manifest, the armored age payload
//! (manifest and identities) and, optionally, the passphrase-wrapped bundle key.
//!
//! Owns: (de)serialising bundles and payloads, and the age encryption of both. Must not know:
//! shares, where bundles are stored, how they are unlocked by a person.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use serde::{Deserialize, Serialize};

use super::{BackupError, Manifest};
use crate::secret::{SecretBytes, SecretText};

pub const FORMAT: &str = "shroud-key-backup/v1";

#[derive(Serialize, Deserialize)]
pub(super) struct BundleFile {
    pub manifest: Manifest,
    /// Armored age file: the payload.
    pub payload: String,
    /// Armored age (scrypt) file holding the bundle key, when a passphrase was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Payload {
    pub manifest: Manifest,
    /// The backed-up key file text.
    pub identities: SecretText,
    /// Armored PGP secret keys (absent in bundles without any).
    #[serde(default, skip_serializing_if = "SecretText::is_empty")]
    pub pgp_keys: SecretText,
}

pub(super) fn age_encrypt(
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

pub(super) fn age_decrypt(
    armored: &str,
    identities: &[&dyn age::Identity],
) -> Result<SecretBytes, age::DecryptError> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))?;
    let mut r = dec.decrypt(identities.iter().copied())?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(SecretBytes::new(out))
}

/// Reads only the manifest (no secret needed).
pub fn manifest(bundle: &[u8]) -> Result<Manifest, BackupError> {
    parse_file(bundle).map(|f| f.manifest)
}

pub(super) fn parse_file(bundle: &[u8]) -> Result<BundleFile, BackupError> {
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
