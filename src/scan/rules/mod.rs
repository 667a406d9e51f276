//! Detection rules: the rule type, custom-rule keywords, and the two halves below.
//!
//! Owns: each rule's id, keywords (the literal prefilter), byte regex, which capture holds the
//! secret, and its validator; lazy regex compilation. Must not know: files, git, suppression,
//! baselines or output.
//!
//! | module | owns |
//! |---|---|
//! | [`builtin`] | the built-in detector table |
//! | [`validate`] | validators, Shannon entropy, placeholders, checksums |
//! | [`allow`] | allowlists (paths, regexes, stopwords, commits) |
//! | [`providers`] | credentials known by their shape alone, for values the generic detector reads |

pub mod allow;
pub mod builtin;
pub mod providers;
pub mod validate;

pub use allow::{Allowlist, Target};
pub use builtin::{builtin, builtin_ids};
pub use validate::{entropy, is_placeholder, names_itself};

use std::ops::Range;

use regex::bytes::{Regex, RegexBuilder};

/// Checks a candidate: the whole buffer, the secret's byte range in it, and the file's path.
pub type Validator = fn(&[u8], Range<usize>, &str) -> bool;

/// Where a rule's regex runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Over the whole buffer, once, when any keyword occurs.
    Buffer,
    /// Only over the lines that contain a keyword (for the generic assignment rule).
    Line,
}

/// One detector.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    /// Literals (see [`keyword_variants`]); the rule runs only when one occurs. Empty: the rule
    /// always runs.
    pub keywords: Vec<String>,
    pub regex: LazyRegex,
    pub scope: Scope,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    pub entropy: Option<f64>,
    /// Reject secrets that look like placeholders (`changeme`, `${VAR}`, `xxxx`, …).
    pub placeholders: bool,
    pub validator: Option<Validator>,
    /// Only files whose path matches.
    pub paths: Option<regex::Regex>,
    /// Higher wins when two findings overlap.
    pub priority: u8,
    /// The capture group holding the secret (gitleaks `secretGroup`); default: the last
    /// group that took part, else the whole match.
    pub secret_group: Option<usize>,
    /// Findings any of these allow are dropped (gitleaks per-rule allowlists).
    pub allowlists: Vec<Allowlist>,
    /// What to do about a finding, when the rule has something specific to say (shown under
    /// it and carried in JSON/SARIF).
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule {id}: invalid regex: {message}")]
    Regex { id: String, message: String },
}

/// A regex compiled on first use: a one-file staged scan only pays for the rules whose keywords
/// occur.
#[derive(Clone, Debug)]
pub struct LazyRegex {
    id: String,
    pattern: String,
    cell: std::sync::OnceLock<Regex>,
}

impl LazyRegex {
    /// A built-in pattern (known to compile; a unit test compiles them all).
    pub fn lazy(id: &str, pattern: &str) -> LazyRegex {
        LazyRegex {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
            cell: std::sync::OnceLock::new(),
        }
    }

    /// A user pattern, compiled now so errors surface at load time.
    pub fn eager(id: &str, pattern: &str) -> Result<LazyRegex, RuleError> {
        let re = compile(id, pattern)?;
        Ok(LazyRegex {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
            cell: std::sync::OnceLock::from(re),
        })
    }

    /// The pattern text.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn get(&self) -> &Regex {
        self.cell
            .get_or_init(|| compile(&self.id, &self.pattern).expect("built-in rules compile"))
    }
}

pub(crate) fn compile(id: &str, pattern: &str) -> Result<Regex, RuleError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(32 << 20)
        .build()
        .map_err(|e| RuleError::Regex {
            id: id.to_owned(),
            message: e.to_string().lines().last().unwrap_or_default().to_owned(),
        })
}

/// The spellings a custom rule's keyword is searched for. Keywords are case-sensitive (so the
/// prefilter can use a packed SIMD searcher); a keyword that is all lowercase letters (and `_`,
/// `-`) also matches its UPPER and Capitalized forms: `acme_` → `ACME_`, `Acme_`.
pub fn keyword_variants(k: &str) -> Vec<String> {
    let wordy = k.bytes().any(|b| b.is_ascii_lowercase())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b"_-".contains(&b));
    if !wordy {
        return vec![k.to_owned()];
    }
    let mut c = k.chars();
    let cap = c
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default();
    let mut v = vec![k.to_owned(), k.to_ascii_uppercase(), cap];
    v.sort();
    v.dedup();
    v
}
