//! The baseline: accepted findings, keyed by fingerprint (rule id + SHA-256 of the secret +
//! path), so entries survive edits that move lines, rebases and merges.
//!
//! Owns: the `.shroud-baseline.json` format, loading, filtering and updating. Must not know:
//! how findings are produced or printed. The file never holds a secret, only digests.

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
    /// Informational only: where it was when accepted.
    #[serde(default)]
    pub line: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
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
        self.findings.iter().any(|e| e.fingerprint == f.fingerprint)
    }

    /// Adds `findings` (deduplicated by fingerprint) and writes the file, sorted by path so
    /// diffs stay small.
    pub fn update(&mut self, findings: &[Finding], path: &Path) -> Result<usize, BaselineError> {
        let mut all: BTreeMap<(String, String), Entry> = self
            .findings
            .drain(..)
            .map(|e| ((e.path.clone(), e.fingerprint.clone()), e))
            .collect();
        let before = all.len();
        for f in findings {
            all.entry((f.path.clone(), f.fingerprint.clone()))
                .or_insert_with(|| Entry {
                    fingerprint: f.fingerprint.clone(),
                    rule: f.rule_id.clone(),
                    path: f.path.clone(),
                    line: f.line,
                });
        }
        let added = all.len() - before;
        self.version = 1;
        self.findings = all.into_values().collect();
        let mut text = serde_json::to_string_pretty(self).expect("baseline serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(|source| BaselineError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(added)
    }
}
