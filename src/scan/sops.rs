//! sops awareness: files `.sops.yaml` says must be encrypted but are not, and sops files with a
//! plaintext value where their own rules demand ciphertext.
//!
//! Owns: applying creation rules (`shroud::config`) to scanned paths, and walking sops files'
//! trees with the compiled encryption rules (`shroud::crypto::decide`, the cipher's own
//! per-leaf decision). Which config applies and whether a file is a sops file are decided by
//! `shroud::config::Configs` and `shroud::document::sniff`. Must not know: pattern rules, git,
//! suppression or output.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Finding;
use super::engine::{inline_allowed, line_at};
use super::locate::{Places, Step};
use crate::config::{Config, Configs};
use crate::crypto;
use crate::store::{self, Format};

pub const UNENCRYPTED_FILE: &str = "sops-unencrypted-file";
pub const PLAINTEXT_VALUE: &str = "sops-plaintext-value";

/// The `.sops.yaml` files of the scanned tree: for each file the nearest one from its directory
/// up to the root, as `shroud`/`sops` would pick when encrypting it ([`Configs::within`], the
/// one lookup).
pub struct Policy {
    /// The directory scanned paths are relative to.
    root: PathBuf,
    configs: Configs,
    /// Configs that could not be read (reported once each).
    errors: Mutex<Vec<String>>,
}

impl Policy {
    pub fn new(root: &Path) -> Policy {
        Policy {
            root: root.to_path_buf(),
            configs: Configs::within(root),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// Unreadable or invalid `.sops.yaml` files met so far.
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The config that applies to `file`; an unreadable or invalid one is recorded (once) and
    /// claims nothing.
    fn config_for(&self, file: &Path) -> Option<Arc<Config>> {
        self.configs.for_file(file).unwrap_or_else(|e| {
            let e = e.to_string();
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            if !errors.contains(&e) {
                errors.push(e);
            }
            None
        })
    }

    /// The `path_regex` and encryption options of the creation rule that claims `path`, when
    /// one does (a catch-all rule without `path_regex` does not demand that every file be
    /// encrypted).
    fn required_by(&self, path: &str) -> Option<(String, crate::crypto::RuleSpec)> {
        let name = Path::new(path).file_name()?.to_string_lossy().into_owned();
        if name == crate::config::CONFIG_FILE_NAME || name.starts_with(".shroud") {
            return None;
        }
        let abs = self.root.join(path);
        let config = self.config_for(&abs)?;
        let rule = config.rule_for(&abs).ok()?;
        let regex = rule.path_regex.as_ref()?.as_str().to_owned();
        Some((regex, rule.rules.clone()))
    }

    /// Whether encrypting this plaintext file under `spec` would encrypt anything: some
    /// non-empty leaf its rules (`encrypted_regex`, `unencrypted_suffix`, …) select, by the
    /// cipher's own decision. A file that does not parse in its format is encrypted whole.
    fn would_encrypt(format: Format, data: &[u8], spec: &crate::crypto::RuleSpec) -> bool {
        let Ok(rules) = spec.clone().with_default().compile() else {
            return true;
        };
        if format == Format::Binary {
            return true;
        }
        match store::load_plain(format, data) {
            Ok(tree) => crypto::decide(&tree, &rules)
                .iter()
                .any(|d| d.is_plaintext_violation()),
            Err(_) => true,
        }
    }

    /// Findings for one file.
    pub fn check(&self, path: &str, data: &[u8]) -> Vec<Finding> {
        let required = self.required_by(path);
        let looks_sops = contains(data, b"ENC[AES256_GCM,") && contains(data, b"sops");
        if required.is_none() && !looks_sops {
            return Vec::new();
        }
        let format = Format::from_path(Path::new(path));
        // Whether it is a sops file is `document::sniff`'s decision; a `sops` key that is not
        // sops metadata (no mac, no lastmodified) is user data.
        let sops = match crate::document::sniff_parsed(format, data) {
            (crate::document::Sniff::Sops, Some((tree, md))) if md.is_written() => Some((tree, md)),
            _ => None,
        };
        match sops {
            None => match required {
                Some((regex, spec))
                    if !data.is_empty()
                        && !inline_allowed(data, 0)
                        && Self::would_encrypt(format, data, &spec) =>
                {
                    // The "secret" is the file's content: a baseline entry accepts this
                    // version of the file, and any change to it is a new finding.
                    let mut f = Finding::new(
                        UNENCRYPTED_FILE,
                        "File must be encrypted by .sops.yaml but is plaintext",
                        path,
                        1,
                        1,
                        data,
                        Some(format!(
                            ".sops.yaml creation rule path_regex {regex:?} matches this file, but it is not sops-encrypted; encrypt it: shroud encrypt -i {path}"
                        )),
                    );
                    // Nothing secret to show: the finding is about the file.
                    f.redacted.clear();
                    f.end_line = 1;
                    vec![f]
                }
                _ => Vec::new(),
            },
            Some((tree, md)) => {
                let Ok(rules) = md.rules.clone().with_default().compile() else {
                    return Vec::new();
                };
                let decisions = crypto::decide(&tree, &rules);
                if !decisions
                    .iter()
                    .any(|d| !d.comment && d.is_plaintext_violation())
                {
                    return Vec::new();
                }
                // Each value's place by its path in the document (what the cipher walked), not
                // by searching for its key's name: a key that repeats (`staging.value`,
                // `prod.value`) or contains another puts the finding on the right line.
                let scalars = leaf_paths(&tree);
                let places = (format == Format::Yaml || format == Format::Json)
                    .then(|| Places::of(data))
                    .flatten()
                    .filter(|p| {
                        p.docs() == tree.branches.len()
                            && scalars.len() == decisions.iter().filter(|d| !d.comment).count()
                    });
                let mut out = Vec::new();
                let mut cursor = 0;
                let mut scalar = 0;
                for d in decisions {
                    let this = scalar;
                    if !d.comment {
                        scalar += 1;
                    }
                    if d.comment || !d.is_plaintext_violation() {
                        continue;
                    }
                    let (leaf_path, value) = (d.path, d.bytes);
                    let key = d.key.unwrap_or_default();
                    let placed = places.as_ref().and_then(|p| {
                        let (doc, steps) = &scalars[this];
                        p.at(*doc, steps)
                    });
                    let at = match placed {
                        Some(at) => at,
                        None => {
                            let at = find_line_with(data, cursor, &key).unwrap_or(cursor);
                            cursor = at;
                            at
                        }
                    };
                    if inline_allowed(data, at) {
                        continue;
                    }
                    let (line, range) = line_at(data, at);
                    out.push(Finding::new(
                        PLAINTEXT_VALUE,
                        "Plaintext value in a sops file where its rules demand encryption",
                        path,
                        line,
                        1 + at - range.start,
                        value.expose(),
                        Some(format!(
                            "value at {leaf_path} is plaintext although this sops file's rules say it must be encrypted; fix: delete line {line} and store the value encrypted: shroud set --ignore-mac {path} '{leaf_path}' '<the value as JSON>'"
                        )),
                    ));
                }
                out
            }
        }
    }
}

/// The document and path of every scalar of `tree`, in the order the cipher walks them.
fn leaf_paths(tree: &crate::tree::Tree) -> Vec<(usize, Vec<Step>)> {
    use crate::tree::{Entry, Value};
    fn walk(v: &Value, doc: usize, path: &mut Vec<Step>, out: &mut Vec<(usize, Vec<Step>)>) {
        match v {
            Value::Scalar(_) => out.push((doc, path.clone())),
            Value::Map(m) => {
                for e in &m.entries {
                    if let Entry::Pair(k, v) = e {
                        path.push(Step::Key(k.clone()));
                        walk(v, doc, path, out);
                        path.pop();
                    }
                }
            }
            Value::List(items) => {
                let nodes = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
                for (i, v) in nodes.enumerate() {
                    path.push(Step::Index(i));
                    walk(v, doc, path, out);
                    path.pop();
                }
            }
            Value::Null | Value::Comment(_) => {}
        }
    }
    let mut out = Vec::new();
    for (doc, m) in tree.branches.iter().enumerate() {
        let mut path = Vec::new();
        for e in &m.entries {
            if let Entry::Pair(k, v) = e {
                path.push(Step::Key(k.clone()));
                walk(v, doc, &mut path, &mut out);
                path.pop();
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The offset of the first line at or after `from` that contains `key` followed by `:`/`=`.
fn find_line_with(data: &[u8], from: usize, key: &str) -> Option<usize> {
    let mut pos = from.min(data.len());
    if pos > 0 {
        pos = data[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    }
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| pos + p);
        let line = &data[pos..end];
        if let Some(i) = line.windows(key.len()).position(|w| w == key.as_bytes()) {
            let rest = String::from_utf8_lossy(&line[i + key.len()..]);
            let rest = rest.trim_start_matches(['"', '\'', ' ', ']']);
            if rest.starts_with(':') || rest.starts_with('=') {
                return Some(pos + i);
            }
        }
        pos = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOPS_META: &str = "sops:\n    age:\n        - recipient: age1qqq\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            abc\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    encrypted_regex: ^(data|stringData)$\n    version: 3.13.2\n";

    #[test]
    fn plaintext_leaf_under_encrypted_regex() {
        let doc = format!(
            "apiVersion: v1\nkind: Secret\ndata:\n    a: ENC[AES256_GCM,data:q,iv:w,tag:e,type:str]\n    b: cGxhaW4tbGVha2Vk\nmetadata:\n    name: x\n{SOPS_META}"
        );
        let p = Policy::new(Path::new("/nonexistent"));
        let f = p.check("s.yaml", doc.as_bytes());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule_id, PLAINTEXT_VALUE);
        assert_eq!(f[0].line, 5);
    }

    #[test]
    fn required_but_plaintext() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(".sops.yaml"),
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: age1x\n",
        )
        .unwrap();
        let p = Policy::new(d.path());
        let f = p.check("secrets/db.yaml", b"password: hunter22\n");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule_id, UNENCRYPTED_FILE);
        assert!(p.check("other/db.yaml", b"password: x\n").is_empty());
        // A nearer .sops.yaml wins for files below it.
        std::fs::create_dir_all(d.path().join("team/secrets")).unwrap();
        std::fs::write(
            d.path().join("team/.sops.yaml"),
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: age1x\n",
        )
        .unwrap();
        assert!(p.check("team/secrets/db.yaml", b"password: x\n").is_empty());
        assert_eq!(p.check("team/db.enc.yaml", b"password: x\n").len(), 1);
        std::fs::create_dir_all(d.path().join("broken")).unwrap();
        std::fs::write(d.path().join("broken/.sops.yaml"), "creation_rules: {").unwrap();
        assert!(p.check("broken/x.yaml", b"a: b\n").is_empty());
        assert_eq!(p.take_errors().len(), 1);
    }
}
