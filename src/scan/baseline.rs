//! The baseline: accepted findings, keyed by fingerprint (rule id + SHA-256 of the secret +
//! path, no line number), so entries survive edits that move lines, rebases and merges.
//!
//! An entry made from a working-tree or staged scan accepts that secret at that path wherever
//! it is found. An entry made from a history or commit-range scan is scoped to where the
//! finding was made: it accepts that secret only in that commit's blob, so the same secret
//! committed again (a new commit, the index, the working tree) is a new finding.
//!
//! Owns: the `.shroud-baseline.json` format, loading, matching, updating. Must not know: how
//! findings are produced or printed. The file never holds a secret, only digests.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Finding;

pub const DEFAULT_PATH: &str = ".shroud-baseline.json";

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a shroud baseline: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub fingerprint: String,
    pub rule: String,
    pub path: String,
    /// A history finding's commit: the entry accepts the secret only in this commit and blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The blob (file version) the history finding was made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Read from older files and ignored; never written (a line number makes the file churn).
    #[serde(default, skip_serializing)]
    pub line: usize,
}

impl Entry {
    /// Whether this entry accepts `f`: the same fingerprint, and for a history entry the same
    /// commit and blob.
    pub fn accepts(&self, f: &Finding) -> bool {
        self.fingerprint == f.fingerprint
            && match &self.commit {
                None => true,
                Some(c) => f.commit.as_ref() == Some(c) && f.blob == self.blob,
            }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<Entry>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| BaselineError::Read {
            path: display.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| BaselineError::Invalid {
            path: display,
            message: e.to_string(),
        })
    }

    pub fn contains(&self, f: &Finding) -> bool {
        self.findings.iter().any(|e| e.accepts(f))
    }

    /// Adds `findings` (deduplicated) and writes the file atomically, sorted by path so diffs
    /// stay small. A finding with a commit (history, commit range) becomes an entry scoped to
    /// that commit and blob.
    pub fn update(&mut self, findings: &[Finding], path: &Path) -> Result<usize, BaselineError> {
        type Key = (String, String, Option<String>, Option<String>);
        let key = |e: &Entry| -> Key {
            (
                e.path.clone(),
                e.fingerprint.clone(),
                e.commit.clone(),
                e.blob.clone(),
            )
        };
        let mut all: BTreeMap<Key, Entry> = self.findings.drain(..).map(|e| (key(&e), e)).collect();
        let before = all.len();
        for f in findings {
            let scoped = f.commit.is_some();
            let e = Entry {
                fingerprint: f.fingerprint.clone(),
                rule: f.rule_id.clone(),
                path: f.path.clone(),
                commit: f.commit.clone().filter(|_| scoped),
                blob: f.blob.clone().filter(|_| scoped),
                line: 0,
            };
            all.entry(key(&e)).or_insert(e);
        }
        let added = all.len() - before;
        self.version = 1;
        self.findings = all.into_values().collect();
        let mut text = serde_json::to_string_pretty(self).expect("baseline serializes");
        text.push('\n');
        crate::fsutil::write_atomic(path, text.as_bytes(), crate::fsutil::Mode::KeepOr(0o644))
            .map_err(|source| BaselineError::Write {
                path: path.display().to_string(),
                source,
            })?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(commit: Option<&str>, blob: Option<&str>) -> Finding {
        let mut f = Finding::new("github-token", "d", "app.py", 3, 1, b"tok", None);
        f.commit = commit.map(str::to_owned);
        f.blob = blob.map(str::to_owned);
        f
    }

    #[test]
    fn history_entries_accept_only_their_commit_and_blob() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.json");
        let mut b = Baseline::default();
        b.update(&[finding(Some("c1"), Some("b1"))], &file).unwrap();
        let b = Baseline::load(&file).unwrap();
        assert!(b.contains(&finding(Some("c1"), Some("b1"))));
        assert!(
            !b.contains(&finding(Some("c2"), Some("b1"))),
            "another commit"
        );
        assert!(
            !b.contains(&finding(Some("c1"), Some("b2"))),
            "another blob"
        );
        assert!(!b.contains(&finding(None, None)), "staged or working tree");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("\"line\""), "{text}");

        // A working-tree entry accepts the secret at that path in every kind of scan.
        let mut w = Baseline::default();
        w.update(&[finding(None, None)], &file).unwrap();
        assert!(w.contains(&finding(None, None)));
        assert!(w.contains(&finding(Some("c9"), Some("b9"))));
        // Updating again adds nothing and keeps the file byte for byte.
        let before = std::fs::read(&file).unwrap();
        assert_eq!(w.update(&[finding(None, None)], &file).unwrap(), 0);
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
}
