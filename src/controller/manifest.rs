//! The mapping between an `EncryptedSecret` and the sops document it carries, and between a
//! plain `Secret` manifest and a new `EncryptedSecret`.
//!
//! Strict scope: the sops document is the canonical object
//! `{apiVersion, kind, metadata: {name, namespace}, spec (keys sorted at every level), sops}`.
//! Its plaintext leaves (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) are
//! covered by the MAC, and `spec` values are encrypted with their key path as AAD. The
//! controller rebuilds this document from the object's *real* name and namespace, so a copy in
//! another namespace or under another name fails the MAC. The API server may reorder keys or
//! add fields; the rebuild does not depend on either.
//!
//! Owns: canonicalisation, the encryption rule, payload extraction and validation.
//! Must not know: the API client, the CLI, metrics.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map as JsonMap, Value as Json};

use crate::crypto::RuleSpec;
use crate::document::{self, EncryptSpec};
use crate::error::Error;
use crate::keysource::Keyring;
use crate::metadata::Metadata;
use crate::secret::DataKey;
use crate::store::{EmitOptions, Format};
use crate::tree::Tree;

use super::crd::{API_VERSION, KIND};

/// Encrypted spec fields; everything else (the document's `apiVersion`, `kind`, `metadata`)
/// stays readable and MAC-covered.
pub const ENCRYPTED_REGEX: &str = "^(type|labels|annotations|data|stringData)$";

/// Spec fields an `EncryptedSecret` may hold.
const SPEC_FIELDS: [&str; 5] = ["annotations", "data", "labels", "stringData", "type"];

/// Why a manifest could not be converted. Messages name fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Document(#[from] Error),
}

/// The decrypted payload of an `EncryptedSecret`, ready to become a Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    pub type_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `data` merged with `stringData` (which wins, as in the API server).
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Sorts object keys at every level (byte order, as Go's `encoding/json` writes them).
pub fn sorted(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = JsonMap::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Json::Object(out)
        }
        Json::Array(a) => Json::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The canonical sops document of an object named `name` in `namespace`.
pub fn canonical(name: &str, namespace: &str, spec: &Json, sops: Option<&Json>) -> Json {
    let mut meta = JsonMap::new();
    meta.insert("name".into(), Json::String(name.into()));
    meta.insert("namespace".into(), Json::String(namespace.into()));
    let mut doc = JsonMap::new();
    doc.insert("apiVersion".into(), Json::String(API_VERSION.into()));
    doc.insert("kind".into(), Json::String(KIND.into()));
    doc.insert("metadata".into(), Json::Object(meta));
    doc.insert("spec".into(), sorted(spec));
    if let Some(s) = sops {
        doc.insert("sops".into(), s.clone());
    }
    Json::Object(doc)
}

/// Parses the canonical document of an object: the still-encrypted tree and its metadata.
pub fn load(
    label: &str,
    name: &str,
    namespace: &str,
    spec: &Json,
    sops: Option<&Json>,
) -> Result<(Tree, Metadata), ManifestError> {
    if sops.is_none() {
        return Err(ManifestError::Invalid(
            "the object has no top-level sops block (encrypt it with `shroud encrypt --kind EncryptedSecret`)".into(),
        ));
    }
    check_spec_shape(spec)?;
    let doc = canonical(name, namespace, spec, sops);
    let bytes = serde_json::to_vec(&doc).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    Ok(document::load_encrypted(label, Format::Json, &bytes)?)
}

/// A stable identity of the wrapped data key (the sops block without `mac`/`lastmodified`),
/// for caching unwrapped keys per envelope.
pub fn envelope_id(sops: &Json) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut s = sorted(sops);
    if let Json::Object(m) = &mut s {
        m.remove("mac");
        m.remove("lastmodified");
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(serde_json::to_vec(&s).unwrap_or_default()));
    out
}

/// Decrypts and verifies with a known data key, then extracts the payload.
pub fn open(
    label: &str,
    tree: Tree,
    md: Metadata,
    key: &DataKey,
) -> Result<Payload, ManifestError> {
    let opened = document::open_with_key(label, tree, md, key, false)?;
    let plain = document::emit_plain(label, Format::Json, &opened.tree, EmitOptions::default())?;
    let doc: Json =
        serde_json::from_slice(&plain).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    payload(doc.get("spec").unwrap_or(&Json::Null))
}

fn check_spec_shape(spec: &Json) -> Result<(), ManifestError> {
    let Json::Object(m) = spec else {
        return Err(ManifestError::Invalid("spec must be a mapping".into()));
    };
    for k in m.keys() {
        if !SPEC_FIELDS.contains(&k.as_str()) {
            return Err(ManifestError::Invalid(format!(
                "spec.{k} is not a field of EncryptedSecret (expected one of {})",
                SPEC_FIELDS.join(", ")
            )));
        }
    }
    Ok(())
}

fn string_map(spec: &Json, field: &str) -> Result<BTreeMap<String, String>, ManifestError> {
    match spec.get(field) {
        None | Some(Json::Null) => Ok(BTreeMap::new()),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k.clone(), s.clone())),
                Json::Null => Ok((k.clone(), String::new())),
                _ => Err(ManifestError::Invalid(format!(
                    "spec.{field}.{k} must be a string"
                ))),
            })
            .collect(),
        Some(_) => Err(ManifestError::Invalid(format!(
            "spec.{field} must be a mapping of strings"
        ))),
    }
}

/// Validates a decrypted spec and turns it into a Secret payload.
pub fn payload(spec: &Json) -> Result<Payload, ManifestError> {
    check_spec_shape(spec)?;
    let type_ = match spec.get("type") {
        None | Some(Json::Null) => "Opaque".to_owned(),
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(ManifestError::Invalid(
                "spec.type must be a non-empty string".into(),
            ));
        }
    };
    let mut data = BTreeMap::new();
    for (k, v) in string_map(spec, "data")? {
        check_data_key(&k)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|_| ManifestError::Invalid(format!("spec.data.{k} is not valid base64")))?;
        data.insert(k, bytes);
    }
    for (k, v) in string_map(spec, "stringData")? {
        check_data_key(&k)?;
        data.insert(k, v.into_bytes());
    }
    Ok(Payload {
        type_,
        labels: string_map(spec, "labels")?,
        annotations: string_map(spec, "annotations")?,
        data,
    })
}

/// Secret data keys: `[-._a-zA-Z0-9]+`, at most 253 characters.
fn check_data_key(k: &str) -> Result<(), ManifestError> {
    let ok = !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Invalid(format!(
            "data key {k:?} is not a valid Secret key ([-._a-zA-Z0-9]+)"
        )))
    }
}

/// Builds the plaintext canonical document of a new `EncryptedSecret` from a plain Secret
/// manifest (already parsed to JSON). `namespace` overrides or supplies the manifest's.
pub fn from_secret(secret: &Json, namespace: Option<&str>) -> Result<Json, ManifestError> {
    let kind = secret
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or("Secret");
    if kind != "Secret" {
        return Err(ManifestError::Invalid(format!(
            "expected a Secret manifest, got kind {kind:?}"
        )));
    }
    let meta = secret.get("metadata").cloned().unwrap_or(Json::Null);
    let name = meta
        .get("name")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ManifestError::Invalid("the Secret has no metadata.name".into()))?;
    let ns = namespace
        .or_else(|| meta.get("namespace").and_then(Json::as_str))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ManifestError::Invalid(
                "the Secret has no metadata.namespace (strict scope needs one; pass --namespace)"
                    .into(),
            )
        })?;
    let mut spec = JsonMap::new();
    for (field, from) in [
        ("labels", meta.get("labels")),
        ("annotations", meta.get("annotations")),
        ("data", secret.get("data")),
        ("stringData", secret.get("stringData")),
        ("type", secret.get("type")),
    ] {
        if let Some(v) = from.filter(|v| !v.is_null()) {
            spec.insert(field.into(), v.clone());
        }
    }
    let spec = Json::Object(spec);
    payload(&spec)?; // validate before encrypting
    Ok(canonical(name, ns, &spec, None))
}

/// Encrypts a plain Secret manifest into an `EncryptedSecret` document (YAML or JSON bytes).
pub async fn encrypt_secret(
    label: &str,
    secret: &Json,
    namespace: Option<&str>,
    spec: &EncryptSpec,
    keyring: &Keyring,
    out: Format,
    opts: EmitOptions,
) -> Result<Vec<u8>, ManifestError> {
    let doc = from_secret(secret, namespace)?;
    let bytes = serde_json::to_vec(&doc).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    let tree = document::load_plain(label, Format::Json, &bytes)?;
    let spec = EncryptSpec {
        rules: rules(),
        ..spec.clone()
    };
    let (tree, md, _key) = document::encrypt(label, out, tree, &spec, keyring).await?;
    Ok(document::emit_encrypted(label, out, tree, &md, opts)?)
}

/// The encryption rule of every `EncryptedSecret`.
pub fn rules() -> RuleSpec {
    RuleSpec {
        encrypted_regex: Some(ENCRYPTED_REGEX.into()),
        ..Default::default()
    }
}
