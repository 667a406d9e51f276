//! Kubernetes `Secret` manifests read from a parsed document: the one reader of `data`,
//! `stringData`, `type`, labels and annotations for every part of shroud that meets a Secret
//! (the scanner, ExternalSecret generation, `encrypt --kind EncryptedSecret`, the controller).
//!
//! Owns: recognising a Secret document (also inside a `kind: List`), its entries in document
//! order (`data` before `stringData`, as the API server merges them), base64 decoding of
//! `data`, Secret key validation, the decrypted [`Payload`] a controller applies, and the
//! plaintext copy `kubectl apply` leaves in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation (reading it, and removing it before encryption).
//! Must not know: the API server, encryption, where the document came from.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::secret::SecretBytes;
use crate::store::{self, Format};
use crate::tree::{Map, Tree, Value};

/// The annotation `kubectl apply` writes: the whole object as last applied, as JSON text. On a
/// Secret it is a second, plaintext copy of `data`/`stringData`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Which field of a Secret an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `data`: base64 values.
    Data,
    /// `stringData`: plain-text values.
    StringData,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Data => "data",
            Field::StringData => "stringData",
        }
    }
}

/// One `data` or `stringData` entry.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub field: Field,
    pub key: &'a str,
    pub value: &'a Value,
}

impl Entry<'_> {
    /// The entry's raw text (a base64 string for `data`), when it is a scalar.
    pub fn raw(&self) -> Option<&[u8]> {
        self.value.as_scalar().map(|s| s.bytes())
    }

    /// The value a pod would see: `data` decoded from base64 (whitespace ignored, as the API
    /// server does), `stringData` as written. `None` for non-scalars and invalid base64.
    pub fn decoded(&self) -> Option<SecretBytes> {
        let raw = self.raw()?;
        match self.field {
            Field::StringData => Some(SecretBytes::from_slice(raw)),
            Field::Data => {
                let compact = SecretBytes::new(
                    raw.iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect(),
                );
                B64.decode(compact.expose()).ok().map(SecretBytes::new)
            }
        }
    }
}

/// A view of a document as a Secret manifest.
#[derive(Clone, Copy, Debug)]
pub struct SecretDoc<'a> {
    doc: &'a Map,
}

fn text(m: &Map, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_text).filter(|s| !s.is_empty())
}

impl<'a> SecretDoc<'a> {
    /// The document as a Secret, when its `kind` is `Secret`.
    pub fn of(doc: &'a Map) -> Option<SecretDoc<'a>> {
        (text(doc, "kind").as_deref() == Some("Secret")).then_some(SecretDoc { doc })
    }

    /// A mapping with Secret fields at its top level (`type`, `data`, `stringData`, `labels`,
    /// `annotations`), such as an `EncryptedSecret`'s `spec`, whatever its kind.
    pub fn fields(doc: &'a Map) -> SecretDoc<'a> {
        SecretDoc { doc }
    }

    fn metadata(&self) -> Option<&'a Map> {
        self.doc.get("metadata").and_then(Value::as_map)
    }

    pub fn name(&self) -> Option<String> {
        self.metadata().and_then(|m| text(m, "name"))
    }

    pub fn namespace(&self) -> Option<String> {
        self.metadata().and_then(|m| text(m, "namespace"))
    }

    /// `metadata.labels` of a manifest, else a top-level `labels` (a spec).
    pub fn labels(&self) -> Option<&'a Map> {
        self.metadata()
            .and_then(|m| m.get("labels"))
            .or_else(|| self.doc.get("labels"))
            .and_then(Value::as_map)
    }

    /// `metadata.annotations` of a manifest, else a top-level `annotations` (a spec).
    pub fn annotations(&self) -> Option<&'a Map> {
        self.metadata()
            .and_then(|m| m.get("annotations"))
            .or_else(|| self.doc.get("annotations"))
            .and_then(Value::as_map)
    }

    /// The Secret type, `Opaque` when absent.
    pub fn type_(&self) -> String {
        text(self.doc, "type").unwrap_or_else(|| "Opaque".to_owned())
    }

    /// Whether the document carries sops metadata (it is encrypted): the decision the scanner
    /// makes of a whole file (`document::sniff` finds sops metadata, and it has a `mac` or a
    /// `lastmodified`). A `sops` key that is not such metadata (`sops: {}`) is user data, and
    /// the Secret's values are judged as plaintext.
    pub fn is_sops(&self) -> bool {
        self.doc
            .get("sops")
            .and_then(Value::as_map)
            .filter(|m| crate::metadata::layout::looks_like_metadata(m))
            .and_then(|m| crate::metadata::layout::parse(m).ok())
            .is_some_and(|md| md.is_written())
    }

    /// The raw text of the `kubectl.kubernetes.io/last-applied-configuration` annotation.
    pub fn last_applied_text(&self) -> Option<&'a [u8]> {
        self.metadata()?
            .get("annotations")?
            .as_map()?
            .get(LAST_APPLIED)?
            .as_scalar()
            .map(|s| s.bytes())
    }

    /// The object the last-applied annotation holds, parsed (`None` when absent or not JSON).
    pub fn last_applied(&self) -> Option<Map> {
        let text = self.last_applied_text()?;
        store::load_plain(Format::Json, text)
            .ok()?
            .branches
            .into_iter()
            .next()
    }

    /// Every `data` then `stringData` entry, in document order.
    pub fn entries(&self) -> Vec<Entry<'a>> {
        let mut out = Vec::new();
        for field in [Field::Data, Field::StringData] {
            if let Some(m) = self.doc.get(field.name()).and_then(Value::as_map) {
                out.extend(m.pairs().map(|(key, value)| Entry { field, key, value }));
            }
        }
        out
    }

    /// The distinct keys the Secret will have, first occurrence first (a key in both `data`
    /// and `stringData` is one key; `stringData` wins its value, as in the API server).
    pub fn keys(&self) -> Vec<Entry<'a>> {
        let mut out: Vec<Entry<'a>> = Vec::new();
        for e in self.entries() {
            match out.iter_mut().find(|o| o.key == e.key) {
                Some(slot) => *slot = Entry { key: slot.key, ..e },
                None => out.push(e),
            }
        }
        out
    }
}

/// Whether a mapping carries Secret values: a non-empty `data` or `stringData`.
pub fn holds_values(m: &Map) -> bool {
    ["data", "stringData"].iter().any(|f| match m.get(f) {
        Some(Value::Map(d)) => d.pairs().next().is_some(),
        Some(Value::Scalar(s)) => !s.bytes().is_empty(),
        _ => false,
    })
}

/// The objects of one document: the document itself and, for a `kind: List` (what
/// `kubectl get secrets -o yaml` prints), each of its `items`.
pub fn objects(doc: &Map) -> Vec<&Map> {
    let mut out = vec![doc];
    out.extend(list_items(doc));
    out
}

fn is_list(doc: &Map) -> bool {
    text(doc, "kind").is_some_and(|k| k.ends_with("List"))
}

fn list_items(doc: &Map) -> impl Iterator<Item = &Map> {
    let items = match doc.get("items") {
        Some(Value::List(items)) if is_list(doc) => items.as_slice(),
        _ => &[],
    };
    items.iter().filter_map(Value::as_map)
}

/// Removes the last-applied annotation from `doc` when `doc` is a Secret and the annotation
/// holds a copy of its values (or cannot be read, so it might); an `annotations` mapping left
/// empty goes too. Returns whether it removed something.
fn strip_one(doc: &mut Map) -> bool {
    let Some(secret) = SecretDoc::of(doc) else {
        return false;
    };
    if secret.last_applied_text().is_none()
        || secret.last_applied().is_some_and(|m| !holds_values(&m))
    {
        return false;
    }
    let Some(Value::Map(meta)) = doc.get_mut("metadata") else {
        return false;
    };
    let Some(Value::Map(ann)) = meta.get_mut("annotations") else {
        return false;
    };
    ann.remove(LAST_APPLIED);
    if ann.pairs().next().is_none() {
        meta.remove("annotations");
    }
    true
}

/// Removes the `kubectl.kubernetes.io/last-applied-configuration` annotation from every Secret
/// of `tree` (also the items of a `kind: List`) whose annotation holds a plaintext copy of its
/// `data`/`stringData`, so that encrypting the Secret leaves no copy behind; `kubectl apply`
/// writes the annotation again on the next apply. Returns the names of the Secrets changed
/// (`"?"` for one without a name).
pub fn strip_last_applied(tree: &mut Tree) -> Vec<String> {
    let mut changed = Vec::new();
    let name = |m: &Map| {
        SecretDoc::of(m)
            .and_then(|s| s.name())
            .unwrap_or_else(|| "?".to_owned())
    };
    for doc in &mut tree.branches {
        if strip_one(doc) {
            changed.push(name(doc));
        }
        if !is_list(doc) {
            continue;
        }
        if let Some(Value::List(items)) = doc.get_mut("items") {
            for item in items.iter_mut() {
                if let Value::Map(m) = item
                    && strip_one(m)
                {
                    changed.push(name(m));
                }
            }
        }
    }
    changed
}

/// Whether `key` is a valid Secret data key: `[-._a-zA-Z0-9]+`, at most 253 characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// Why a decrypted document is not a valid Secret payload. Names fields, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("{field} must be a mapping of strings")]
    NotStringMap { field: String },
    #[error("{field}.{key} must be a string")]
    NotString { field: String, key: String },
    #[error("data key {0:?} is not a valid Secret key ([-._a-zA-Z0-9]+, at most 253 characters)")]
    BadKey(String),
    #[error("{0}.{1} is not valid base64")]
    BadBase64(String, String),
    #[error("type must be a non-empty string")]
    BadType,
}

/// The decrypted content of a Secret, ready to be applied. Wiped on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    pub type_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `data` merged with `stringData` (which wins, as in the API server).
    pub data: BTreeMap<String, SecretBytes>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn string_map(doc: &Map, field: &str) -> Result<BTreeMap<String, String>, PayloadError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Map(m)) => m
            .pairs()
            .map(|(k, v)| match v {
                Value::Null => Ok((k.clone(), String::new())),
                Value::Scalar(_) => Ok((k.clone(), v.as_text().unwrap_or_default())),
                _ => Err(PayloadError::NotString {
                    field: field.to_owned(),
                    key: k.clone(),
                }),
            })
            .collect(),
        Some(_) => Err(PayloadError::NotStringMap {
            field: field.to_owned(),
        }),
    }
}

impl SecretDoc<'_> {
    /// The payload: every key validated, `data` decoded, `stringData` merged over it.
    pub fn payload(&self) -> Result<Payload, PayloadError> {
        let type_ = match self.doc.get("type") {
            None | Some(Value::Null) => "Opaque".to_owned(),
            Some(v @ Value::Scalar(_)) => v
                .as_text()
                .filter(|t| !t.is_empty())
                .ok_or(PayloadError::BadType)?,
            Some(_) => return Err(PayloadError::BadType),
        };
        let mut data = BTreeMap::new();
        for field in [Field::Data, Field::StringData] {
            match self.doc.get(field.name()) {
                None | Some(Value::Null) => {}
                Some(Value::Map(_)) => {}
                Some(_) => {
                    return Err(PayloadError::NotStringMap {
                        field: field.name().to_owned(),
                    });
                }
            }
        }
        for e in self.entries() {
            if !valid_key(e.key) {
                return Err(PayloadError::BadKey(e.key.to_owned()));
            }
            let value = match e.value {
                Value::Null => SecretBytes::default(),
                Value::Scalar(_) => e.decoded().ok_or_else(|| {
                    PayloadError::BadBase64(e.field.name().to_owned(), e.key.to_owned())
                })?,
                _ => {
                    return Err(PayloadError::NotString {
                        field: e.field.name().to_owned(),
                        key: e.key.to_owned(),
                    });
                }
            };
            data.insert(e.key.to_owned(), value);
        }
        let labels = match self.metadata() {
            Some(m) if m.get("labels").is_some() => string_map(m, "labels")?,
            _ => string_map(self.doc, "labels")?,
        };
        let annotations = match self.metadata() {
            Some(m) if m.get("annotations").is_some() => string_map(m, "annotations")?,
            _ => string_map(self.doc, "annotations")?,
        };
        Ok(Payload {
            type_,
            labels,
            annotations,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, Format};

    fn doc(yaml: &str) -> Map {
        store::load_plain(Format::Yaml, yaml.as_bytes())
            .unwrap()
            .branches
            .remove(0)
    }

    #[test]
    fn reads_a_secret_in_document_order() {
        let d = doc(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels: {app: x}\ntype: kubernetes.io/basic-auth\ndata:\n  password: aHVudGVyMg==\n  user: YQ==\nstringData:\n  user: admin\n",
        );
        let s = SecretDoc::of(&d).unwrap();
        assert_eq!(s.name().as_deref(), Some("db"));
        assert_eq!(s.namespace().as_deref(), Some("prod"));
        assert_eq!(s.type_(), "kubernetes.io/basic-auth");
        let keys: Vec<_> = s.keys().iter().map(|e| (e.key, e.field)).collect();
        assert_eq!(
            keys,
            vec![("password", Field::Data), ("user", Field::StringData)]
        );
        let p = s.payload().unwrap();
        assert_eq!(p.data["password"].expose(), b"hunter2");
        assert_eq!(p.data["user"].expose(), b"admin");
        assert_eq!(p.labels["app"], "x");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(SecretDoc::of(&doc("kind: ConfigMap\ndata: {a: b}\n")).is_none());
    }

    /// What `kubectl get secret -o yaml` prints after a `kubectl apply`: the data twice.
    const APPLIED: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n      {\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMg==\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"db\",\"namespace\":\"prod\"}}\n  name: db\n  namespace: prod\ndata:\n  password: aHVudGVyMg==\n"; // shroud:allow

    #[test]
    fn reads_and_strips_the_last_applied_copy() {
        let d = doc(APPLIED);
        let s = SecretDoc::of(&d).unwrap();
        let copy = s.last_applied().expect("the annotation parses");
        assert!(holds_values(&copy));
        let e = SecretDoc::fields(&copy).entries();
        assert_eq!(e[0].key, "password");
        assert_eq!(e[0].decoded().unwrap().expose(), b"hunter2");

        let mut tree = store::load_plain(Format::Yaml, APPLIED.as_bytes()).unwrap();
        assert_eq!(strip_last_applied(&mut tree), vec!["db".to_owned()]);
        let s = SecretDoc::of(&tree.branches[0]).unwrap();
        assert!(s.last_applied_text().is_none());
        assert!(
            s.annotations().is_none(),
            "an emptied annotations map goes too"
        );
        assert_eq!(s.entries().len(), 1, "the data itself stays");
        // Nothing to strip the second time, nor in a ConfigMap or a Secret without values.
        assert!(strip_last_applied(&mut tree).is_empty());
        let mut cm = store::load_plain(
            Format::Yaml,
            APPLIED
                .replace("kind: Secret", "kind: ConfigMap")
                .as_bytes(),
        )
        .unwrap();
        assert!(strip_last_applied(&mut cm).is_empty());
        let empty = APPLIED.replace("\"data\":{\"password\":\"aHVudGVyMg==\"},", ""); // shroud:allow
        let mut t = store::load_plain(Format::Yaml, empty.as_bytes()).unwrap();
        assert!(strip_last_applied(&mut t).is_empty());
    }

    #[test]
    fn list_items_are_objects_and_are_stripped() {
        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}\n",
            APPLIED.replace('\n', "\n  ")
        );
        let mut tree = store::load_plain(Format::Yaml, list.as_bytes()).unwrap();
        assert_eq!(objects(&tree.branches[0]).len(), 2);
        assert_eq!(strip_last_applied(&mut tree), vec!["db".to_owned()]);
        assert!(
            objects(&tree.branches[0])
                .iter()
                .all(|m| SecretDoc::of(m).is_none_or(|s| s.last_applied_text().is_none()))
        );
    }

    #[test]
    fn refuses_bad_payloads_naming_the_key() {
        let bad = doc("kind: Secret\ndata:\n  'a b': eA==\n");
        assert_eq!(
            SecretDoc::of(&bad).unwrap().payload(),
            Err(PayloadError::BadKey("a b".into()))
        );
        let b64 = doc("kind: Secret\ndata:\n  k: '%%%'\n");
        assert!(matches!(
            SecretDoc::of(&b64).unwrap().payload(),
            Err(PayloadError::BadBase64(..))
        ));
        assert!(valid_key("tls.crt") && !valid_key("") && !valid_key(&"a".repeat(254)));
    }
}
