//! The recipient → name mapping file, so the access matrix reads as people, teams and
//! clusters instead of public keys.
//!
//! ```yaml
//! # recipient: name, or recipient: {name: …, kind: …, revoked: YYYY-MM-DD}
//! age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p: alice
//! arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab:
//!   name: prod cluster
//!   kind: cluster
//! age1kysxysual092nysvcl48pnxflapl0fyqaxz3uf82f4ka7hd86ecspjy7pg:
//!   name: bob's old laptop
//!   revoked: 2026-12-01
//! ```
//!
//! (optionally nested under a top-level `recipients:` key). `revoked:` marks a key that must
//! no longer open anything from that date on: the audit reports every file it can still open.
//! Owns: reading and validating the file and looking names up (age recipients exactly, PGP
//! fingerprints case-insensitively, KMS keys by ARN). Must not know: files, access or output.

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
    /// `revoked:`, as `YYYY-MM-DD`.
    pub revoked: Option<String>,
}

/// Recipient → holder.
#[derive(Clone, Debug, Default)]
pub struct Names {
    map: HashMap<String, Holder>,
    /// Revoked recipients as written, with their holder, in file order.
    revoked: Vec<(String, Holder)>,
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
        let tree = crate::store::yaml::parse(bytes).map_err(|e| {
            // YAML limits a plain key to 1,024 characters: a post-quantum or plugin recipient
            // (~2,000) must be an explicit key.
            let long = bytes.split(|b| *b == b'\n').any(|l| l.len() > 1024);
            invalid(if long {
                format!(
                    "{e} (a key longer than 1,024 characters, such as a post-quantum or plugin age recipient, is written as an explicit key: `? age1pq1…` on one line, `: name` on the next)"
                )
            } else {
                e.to_string()
            })
        })?;
        let root = tree.branches.into_iter().next().unwrap_or_default();
        let root = match root.get("recipients") {
            Some(Value::Map(m)) if root.pairs().count() == 1 => m.clone(),
            _ => root,
        };
        let mut names = Names::default();
        for (recipient, v) in root.pairs() {
            let holder = match v {
                Value::Map(m) => Holder {
                    name: m
                        .get("name")
                        .and_then(Value::as_text)
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| invalid(format!("{recipient}: has no name")))?,
                    kind: m.get("kind").and_then(Value::as_text),
                    revoked: match m.get("revoked") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(v.as_text().as_deref().and_then(revoked_date).ok_or_else(
                            || invalid(format!("{recipient}: revoked must be a date (YYYY-MM-DD)")),
                        )?),
                    },
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
                    revoked: None,
                },
            };
            if holder.revoked.is_some() {
                names
                    .revoked
                    .push((recipient.trim().to_owned(), holder.clone()));
            }
            names.map.insert(normalise(recipient), holder);
        }
        Ok(names)
    }

    /// The recipients marked `revoked:`, as written, with their holders.
    pub fn revoked(&self) -> &[(String, Holder)] {
        &self.revoked
    }

    /// The holder of a recipient (an age recipient, KMS ARN, PGP fingerprint or other key id).
    pub fn get(&self, recipient: &str) -> Option<&Holder> {
        self.map.get(&normalise(recipient))
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A `revoked:` value as `YYYY-MM-DD`: a date, or an RFC 3339 time (its date is kept).
fn revoked_date(s: &str) -> Option<String> {
    let s = s.trim();
    let day = s.get(..10)?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format).ok()?;
    let rest = &s[10..];
    if rest.is_empty() || crate::timestamp::Timestamp::parse_rfc3339(s).is_some() {
        Some(day.to_owned())
    } else {
        None
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
        assert!(n.revoked().is_empty());
    }

    #[test]
    fn revoked_dates() {
        let n = Names::parse(
            "names.yaml",
            b"age1abc: {name: alice, revoked: 2026-12-01}\nage1def: {name: bob, revoked: \"2026-11-02T10:00:00Z\"}\nage1ghi: carol\n",
        )
        .unwrap();
        assert_eq!(
            n.get("age1abc").unwrap().revoked.as_deref(),
            Some("2026-12-01")
        );
        let revoked: Vec<(&str, &str)> = n
            .revoked()
            .iter()
            .map(|(r, h)| (r.as_str(), h.revoked.as_deref().unwrap()))
            .collect();
        assert_eq!(
            revoked,
            [("age1abc", "2026-12-01"), ("age1def", "2026-11-02")]
        );
        for bad in ["yes", "2026-13-01", "2026-12-01x", "01/12/2026"] {
            let text = format!("age1abc: {{name: a, revoked: \"{bad}\"}}\n");
            assert!(Names::parse("x", text.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn post_quantum_recipients_are_explicit_keys() {
        let (_, pq) = crate::keysource::age::generate_kind(true);
        let text = format!("? {pq}\n: {{name: carol, revoked: 2026-12-01}}\n");
        let n = Names::parse("names.yaml", text.as_bytes()).unwrap();
        assert_eq!(n.get(&pq).unwrap().name, "carol");
        assert_eq!(n.revoked().len(), 1);
        let err = Names::parse("names.yaml", format!("{pq}: carol\n").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`? age1pq1…` on one line"), "{err}");
    }
}
