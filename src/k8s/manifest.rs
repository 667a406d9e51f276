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

use serde_json::Value as Json;

use super::secret::{Payload, PayloadError, SecretDoc};
use crate::crypto::RuleSpec;
use crate::document::{self, EncryptSpec};
use crate::error::Error;
use crate::keysource::Keyring;
use crate::metadata::Metadata;
use crate::secret::DataKey;
use crate::store::{self, EmitOptions, Format};
use crate::tree::{Map, Tree, Value};

/// The resource's group, version and kind.
pub const GROUP: &str = "shroud.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "EncryptedSecret";
pub const API_VERSION: &str = "shroud.dev/v1alpha1";

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
    #[error("spec.{0}")]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Document(#[from] Error),
}

/// A mapping with its keys sorted at every level (byte order, as Go's `encoding/json` writes
/// them) and comments dropped.
fn sorted(m: &Map) -> Map {
    let mut pairs: Vec<(&String, &Value)> = m.pairs().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Map::new();
    for (k, v) in pairs {
        out.insert(k.clone(), sorted_value(v));
    }
    out
}

fn sorted_value(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(sorted(m)),
        Value::List(l) => Value::List(
            l.iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(sorted_value)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The canonical sops document of an object named `name` in `namespace`.
pub fn canonical(name: &str, namespace: &str, spec: &Map, sops: Option<Map>) -> Tree {
    let mut meta = Map::new();
    meta.insert("name", Value::str(name));
    meta.insert("namespace", Value::str(namespace));
    let mut doc = Map::new();
    doc.insert("apiVersion", Value::str(API_VERSION));
    doc.insert("kind", Value::str(KIND));
    doc.insert("metadata", Value::Map(meta));
    doc.insert("spec", Value::Map(sorted(spec)));
    if let Some(s) = sops {
        doc.insert("sops", Value::Map(s));
    }
    Tree {
        branches: vec![doc],
        ..Default::default()
    }
}

/// A JSON object (as the API server returns it) as a mapping.
fn json_map(what: &str, v: &Json) -> Result<Map, ManifestError> {
    if !v.is_object() {
        return Err(ManifestError::Invalid(format!("{what} must be a mapping")));
    }
    let bytes = serde_json::to_vec(v).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    let mut tree =
        store::json::parse(&bytes).map_err(|e| ManifestError::Invalid(format!("{what}: {e}")))?;
    Ok(tree.branches.pop().unwrap_or_default())
}

fn check_spec_shape(spec: &Map) -> Result<(), ManifestError> {
    for (k, _) in spec.pairs() {
        if !SPEC_FIELDS.contains(&k.as_str()) {
            return Err(ManifestError::Invalid(format!(
                "spec.{k} is not a field of EncryptedSecret (expected one of {})",
                SPEC_FIELDS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Parses the canonical document of an object: the still-encrypted tree and its metadata.
pub fn load(
    label: &str,
    name: &str,
    namespace: &str,
    spec: &Json,
    sops: Option<&Json>,
) -> Result<(Tree, Metadata), ManifestError> {
    let Some(sops) = sops else {
        return Err(ManifestError::Invalid(
            "the object has no top-level sops block (encrypt it with `shroud encrypt --kind EncryptedSecret`)".into(),
        ));
    };
    let spec = json_map("spec", spec)?;
    check_spec_shape(&spec)?;
    let tree = canonical(name, namespace, &spec, Some(json_map("sops", sops)?));
    Ok(document::split_encrypted(label, Format::Json, tree)?)
}

/// A stable identity of the wrapped data key (the sops block without `mac`/`lastmodified`),
/// for caching unwrapped keys per envelope.
pub fn envelope_id(sops: &Json) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    fn sorted_json(v: &Json) -> Json {
        match v {
            Json::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Json::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted_json(&m[k])))
                        .collect(),
                )
            }
            Json::Array(a) => Json::Array(a.iter().map(sorted_json).collect()),
            other => other.clone(),
        }
    }
    let mut s = sorted_json(sops);
    if let Json::Object(m) = &mut s {
        m.remove("mac");
        m.remove("lastmodified");
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(serde_json::to_vec(&s).unwrap_or_default()));
    out
}

/// Decrypts and verifies with a known data key, then extracts the payload. The plaintext
/// never leaves zeroizing containers.
pub fn open(
    label: &str,
    tree: Tree,
    md: Metadata,
    key: &DataKey,
) -> Result<Payload, ManifestError> {
    let opened = document::open_with_key(label, tree, md, key, false)?;
    let root = opened.tree.branches.first().cloned().unwrap_or_default();
    let spec = root
        .get("spec")
        .and_then(Value::as_map)
        .cloned()
        .unwrap_or_default();
    check_spec_shape(&spec)?;
    Ok(SecretDoc::fields(&spec).payload()?)
}

/// Builds the plaintext canonical document of a new `EncryptedSecret` from a plain Secret
/// manifest. `namespace` overrides or supplies the manifest's.
pub fn from_secret(secret: &Map, namespace: Option<&str>) -> Result<Tree, ManifestError> {
    let kind = secret
        .get("kind")
        .and_then(Value::as_text)
        .unwrap_or_else(|| "Secret".into());
    let doc = SecretDoc::of(secret).ok_or_else(|| {
        ManifestError::Invalid(format!("expected a Secret manifest, got kind {kind:?}"))
    })?;
    let name = doc
        .name()
        .ok_or_else(|| ManifestError::Invalid("the Secret has no metadata.name".into()))?;
    let ns = namespace
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
        .or_else(|| doc.namespace())
        .ok_or_else(|| {
            ManifestError::Invalid(
                "the Secret has no metadata.namespace (strict scope needs one; pass --namespace)"
                    .into(),
            )
        })?;
    doc.payload()?; // validate before encrypting
    let mut spec = Map::new();
    let fields = [
        ("labels", doc.labels().cloned().map(Value::Map)),
        // Without kubectl's last-applied copy of the Secret (its data again, soon stale).
        (
            "annotations",
            doc.annotations()
                .cloned()
                .map(|mut a| {
                    a.remove(super::secret::LAST_APPLIED);
                    a
                })
                .filter(|a| a.pairs().next().is_some())
                .map(Value::Map),
        ),
        ("data", secret.get("data").cloned()),
        ("stringData", secret.get("stringData").cloned()),
        ("type", secret.get("type").cloned()),
    ];
    for (field, v) in fields {
        if let Some(v) = v.filter(|v| !matches!(v, Value::Null)) {
            spec.insert(field, v);
        }
    }
    Ok(canonical(&name, &ns, &spec, None))
}

/// Encrypts a plain Secret manifest into an `EncryptedSecret` document (YAML or JSON bytes).
pub async fn encrypt_secret(
    label: &str,
    secret: &Map,
    namespace: Option<&str>,
    spec: &EncryptSpec,
    keyring: &Keyring,
    out: Format,
    opts: EmitOptions,
) -> Result<Vec<u8>, ManifestError> {
    let tree = from_secret(secret, namespace)?;
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
