//! The scan configuration file, `.shroud/scan.yaml`: custom rules, disabled rules, allowed
//! secret patterns and the size limit.
//!
//! Owns: reading and validating that file (with the crate's YAML store) into rules and
//! settings. Must not know: how rules run, files, git or output.
//!
//! ```yaml
//! rules:
//!   - id: acme-api-token
//!     description: ACME internal API token
//!     regex: '\b(acme_[a-z0-9]{32})\b'   # the last capture group that matched is the secret
//!     keywords: [acme_]                   # prefilter literals; optional (see keyword_variants)
//!     entropy: 3.5                        # optional floor, bits per byte
//!     paths: '^services/'                 # optional regex over the repo-relative path
//! disable: [generic-secret]
//! allow:
//!   secrets: ['^sk_test_']                # secrets matching any of these are ignored
//! max_file_size: 10485760
//! ```

use std::path::{Path, PathBuf};

use super::rules::{self, Rule, Scope};
use crate::tree::{Map, Value};

pub const DEFAULT_PATH: &str = ".shroud/scan.yaml";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Default)]
pub struct Settings {
    pub rules: Vec<Rule>,
    pub disable: Vec<String>,
    pub allow_secrets: Vec<regex::bytes::Regex>,
    pub max_file_size: Option<u64>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_text).collect(),
        Some(v @ Value::Scalar(_)) => v.as_text().into_iter().collect(),
        _ => Vec::new(),
    }
}

impl Settings {
    /// Loads `explicit`, else `root/.shroud/scan.yaml` when it exists.
    pub fn load(root: &Path, explicit: Option<&Path>) -> Result<Settings, SettingsError> {
        let path: PathBuf = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = root.join(DEFAULT_PATH);
                if !p.is_file() {
                    return Ok(Settings::default());
                }
                p
            }
        };
        let display = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| SettingsError::Read {
            path: display.clone(),
            source,
        })?;
        Settings::parse(&bytes, &display)
    }

    pub fn parse(bytes: &[u8], display: &str) -> Result<Settings, SettingsError> {
        let invalid = |message: String| SettingsError::Invalid {
            path: display.to_owned(),
            message,
        };
        let tree = crate::store::yaml::parse(bytes).map_err(|e| invalid(e.to_string()))?;
        let root = tree.branches.into_iter().next().unwrap_or_default();
        let mut s = Settings::default();
        if let Some(Value::List(items)) = root.get("rules") {
            for (i, item) in items.iter().enumerate() {
                let Value::Map(m) = item else {
                    continue;
                };
                s.rules
                    .push(custom_rule(m).map_err(|e| invalid(format!("rules[{i}]: {e}")))?);
            }
        }
        s.disable = strings(root.get("disable"));
        if let Some(Value::Map(allow)) = root.get("allow") {
            for p in strings(allow.get("secrets")) {
                s.allow_secrets.push(
                    regex::bytes::Regex::new(&p)
                        .map_err(|e| invalid(format!("allow.secrets: invalid regex: {e}")))?,
                );
            }
        }
        if let Some(v) = root.get("max_file_size").and_then(Value::as_text) {
            s.max_file_size = Some(
                v.parse()
                    .map_err(|_| invalid("max_file_size must be a number of bytes".into()))?,
            );
        }
        Ok(s)
    }
}

fn custom_rule(m: &Map) -> Result<Rule, String> {
    let text = |k: &str| m.get(k).and_then(Value::as_text).filter(|s| !s.is_empty());
    let id = text("id").ok_or("id is required")?;
    let regex = text("regex").ok_or(format!("rule {id}: regex is required"))?;
    let entropy = match text("entropy") {
        Some(e) => Some(
            e.parse::<f64>()
                .map_err(|_| format!("rule {id}: entropy must be a number"))?,
        ),
        None => None,
    };
    let paths = match text("paths") {
        Some(p) => Some(
            regex::Regex::new(&p).map_err(|e| format!("rule {id}: invalid paths regex: {e}"))?,
        ),
        None => None,
    };
    Ok(Rule {
        description: text("description").unwrap_or_else(|| id.clone()),
        keywords: strings(m.get("keywords"))
            .iter()
            .flat_map(|k| rules::keyword_variants(k))
            .collect(),
        regex: rules::LazyRegex::eager(&id, &regex).map_err(|e| e.to_string())?,
        scope: Scope::Buffer,
        entropy,
        placeholders: true,
        validator: None,
        paths,
        priority: 10,
        secret_group: None,
        allowlists: Vec::new(),
        message: None,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_custom_rules() {
        let s = Settings::parse(
            b"rules:\n  - id: acme\n    regex: '\\b(acme_[a-z0-9]{8})\\b'\n    keywords: [ACME_]\n    entropy: 2.5\ndisable: [jwt]\nallow:\n  secrets: ['^sk_test_']\nmax_file_size: 100\n",
            "x",
        )
        .unwrap();
        assert_eq!(s.rules[0].id, "acme");
        assert_eq!(s.rules[0].keywords, vec!["ACME_"]);
        assert_eq!(s.disable, vec!["jwt"]);
        assert_eq!(s.max_file_size, Some(100));
        assert!(Settings::parse(b"rules:\n  - id: x\n    regex: '('\n", "x").is_err());
    }
}
