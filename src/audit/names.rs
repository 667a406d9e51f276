//! The recipient → name mapping file, so the access matrix reads as people, teams and
//! clusters instead of public keys.
//!
//! ```yaml
//! # recipient: name, or recipient: {name: …, kind: …}
//! age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p: alice
//! arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab:
//!   name: prod cluster
//!   kind: cluster
//! ```
//!
//! (optionally nested under a top-level `recipients:` key). Owns: reading and validating the
//! file and looking names up (age recipients exactly, PGP fingerprints case-insensitively,
//! KMS keys by ARN). Must not know: files, access or output.

use std::collections::HashMap;
use std::path::Path;

use crate::tree::Value;

/// Why the mapping file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    #[error("{path}: cannot read the recipient names: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid recipient names: {message}")]
    Invalid { path: String, message: String },
}

/// Who a recipient is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    /// person, team, cluster, … (free text).
    pub kind: Option<String>,
}

/// Recipient → holder.
#[derive(Clone, Debug, Default)]
pub struct Names {
    map: HashMap<String, Holder>,
}

fn normalise(recipient: &str) -> String {
    let r = recipient.trim();
    // PGP fingerprints are hex: compare them without case or spaces.
    if r.len() >= 16 && r.chars().all(|c| c.is_ascii_hexdigit() || c == ' ') {
        r.replace(' ', "").to_ascii_uppercase()
    } else {
        r.to_owned()
    }
}

impl Names {
    /// Reads a mapping file (YAML or JSON).
    pub fn load(path: &Path) -> Result<Names, NamesError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| NamesError::Read {
            path: display.clone(),
            source,
        })?;
        Names::parse(&display, &bytes)
    }

    pub(crate) fn parse(display: &str, bytes: &[u8]) -> Result<Names, NamesError> {
        let invalid = |message: String| NamesError::Invalid {
            path: display.to_owned(),
            message,
        };
        let tree = crate::store::yaml::parse(bytes).map_err(|e| invalid(e.to_string()))?;
        let root = tree.branches.into_iter().next().unwrap_or_default();
        let root = match root.get("recipients") {
            Some(Value::Map(m)) if root.pairs().count() == 1 => m.clone(),
            _ => root,
        };
        let mut map = HashMap::new();
        for (recipient, v) in root.pairs() {
            let holder = match v {
                Value::Map(m) => Holder {
                    name: m
                        .get("name")
                        .and_then(Value::as_text)
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| invalid(format!("{recipient}: has no name")))?,
                    kind: m.get("kind").and_then(Value::as_text),
                },
                Value::Comment(_) => continue,
                other => Holder {
                    name: other
                        .as_text()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            invalid(format!("{recipient}: the name must be text or a mapping"))
                        })?,
                    kind: None,
                },
            };
            map.insert(normalise(recipient), holder);
        }
        Ok(Names { map })
    }

    /// The holder of a recipient (an age recipient, KMS ARN, PGP fingerprint or other key id).
    pub fn get(&self, recipient: &str) -> Option<&Holder> {
        self.map.get(&normalise(recipient))
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_structured_entries() {
        let n = Names::parse(
            "names.yaml",
            b"recipients:\n  age1abc: alice\n  arn:aws:kms:eu-west-1:1:key/k:\n    name: prod cluster\n    kind: cluster\n  85d77543b3d624b63cea9e6dbc3cbe3a5ee4ac4b: release team\n",
        )
        .unwrap();
        assert_eq!(n.get("age1abc").unwrap().name, "alice");
        let k = n.get("arn:aws:kms:eu-west-1:1:key/k").unwrap();
        assert_eq!(k.kind.as_deref(), Some("cluster"));
        assert_eq!(
            n.get("85D77543B3D624B63CEA9E6DBC3CBE3A5EE4AC4B")
                .unwrap()
                .name,
            "release team"
        );
        assert!(n.get("age1other").is_none());
        assert!(Names::parse("x", b"age1abc: {kind: person}\n").is_err());
    }
}
