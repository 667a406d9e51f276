//! Which leaves are encrypted: the six sops rule options and `mac_only_encrypted`.
//!
//! Owns: validating the options (at most one may be set; the default is the `_unencrypted`
//! suffix) and compiling them. The per-leaf decision lives in the walker, which keeps the
//! running state (path hits, comment stack) the decision needs.
//! Must not know: stores, key sources, how rules are written in metadata or `.sops.yaml`.

use regex::Regex;

/// The suffix sops applies when a file records no rule at all.
pub(crate) const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The rule options as written in metadata, flags or `.sops.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_regex: Option<String>,
    pub unencrypted_comment_regex: Option<String>,
    pub encrypted_comment_regex: Option<String>,
    pub mac_only_encrypted: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error(
        "only one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex and encrypted_comment_regex may be set (found {0})"
    )]
    Conflict(String),
    #[error("invalid {field}: {message}")]
    Regex {
        field: &'static str,
        message: String,
    },
}

/// A rule over path components.
#[derive(Clone, Debug)]
pub enum PathRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

/// A rule over the comments that precede a leaf.
#[derive(Clone, Debug)]
pub enum CommentRule {
    Unencrypted(Regex),
    Encrypted(Regex),
}

/// Compiled rules.
#[derive(Clone, Debug)]
pub struct Rules {
    pub path: Option<PathRule>,
    pub comment: Option<CommentRule>,
    pub mac_only_encrypted: bool,
}

impl RuleSpec {
    /// The names of the options that are set.
    fn set_fields(&self) -> Vec<&'static str> {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|s| !s.is_empty()))
        .map(|(n, _)| n)
        .collect()
    }

    /// Fills in sops's default (`unencrypted_suffix: _unencrypted`) when no rule is set.
    pub fn with_default(mut self) -> Self {
        if self.set_fields().is_empty() {
            self.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.to_owned());
        }
        self
    }

    pub(crate) fn compile(&self) -> Result<Rules, RuleError> {
        let set = self.set_fields();
        if set.len() > 1 {
            return Err(RuleError::Conflict(set.join(", ")));
        }
        let re = |field: &'static str, s: &str| {
            Regex::new(s).map_err(|e| RuleError::Regex {
                field,
                message: e.to_string().lines().last().unwrap_or_default().to_owned(),
            })
        };
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        let mut rules = Rules {
            path: None,
            comment: None,
            mac_only_encrypted: self.mac_only_encrypted,
        };
        if let Some(s) = nonempty(&self.unencrypted_suffix) {
            rules.path = Some(PathRule::UnencryptedSuffix(s));
        } else if let Some(s) = nonempty(&self.encrypted_suffix) {
            rules.path = Some(PathRule::EncryptedSuffix(s));
        } else if let Some(s) = nonempty(&self.unencrypted_regex) {
            rules.path = Some(PathRule::UnencryptedRegex(re("unencrypted_regex", &s)?));
        } else if let Some(s) = nonempty(&self.encrypted_regex) {
            rules.path = Some(PathRule::EncryptedRegex(re("encrypted_regex", &s)?));
        } else if let Some(s) = nonempty(&self.unencrypted_comment_regex) {
            rules.comment = Some(CommentRule::Unencrypted(re(
                "unencrypted_comment_regex",
                &s,
            )?));
        } else if let Some(s) = nonempty(&self.encrypted_comment_regex) {
            rules.comment = Some(CommentRule::Encrypted(re("encrypted_comment_regex", &s)?));
        } else {
            rules.path = Some(PathRule::UnencryptedSuffix(
                DEFAULT_UNENCRYPTED_SUFFIX.to_owned(),
            ));
        }
        Ok(rules)
    }
}

impl PathRule {
    /// Whether one path component matches this rule's pattern.
    pub(crate) fn component_hits(&self, key: &str) -> bool {
        match self {
            PathRule::UnencryptedSuffix(s) | PathRule::EncryptedSuffix(s) => key.ends_with(s),
            PathRule::UnencryptedRegex(r) | PathRule::EncryptedRegex(r) => r.is_match(key),
        }
    }

    /// The decision given how many components of the current path hit.
    pub fn encrypts(&self, hits: usize) -> bool {
        match self {
            PathRule::UnencryptedSuffix(_) | PathRule::UnencryptedRegex(_) => hits == 0,
            PathRule::EncryptedSuffix(_) | PathRule::EncryptedRegex(_) => hits > 0,
        }
    }
}

impl Rules {
    /// The rules with default options (`_unencrypted` suffix).
    pub fn default_rules() -> Rules {
        RuleSpec::default()
            .compile()
            .expect("default rules compile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_conflicts() {
        let r = RuleSpec::default().compile().unwrap();
        assert!(matches!(r.path, Some(PathRule::UnencryptedSuffix(ref s)) if s == "_unencrypted"));
        let both = RuleSpec {
            encrypted_regex: Some("^data$".into()),
            unencrypted_suffix: Some("_x".into()),
            ..Default::default()
        };
        assert!(matches!(both.compile(), Err(RuleError::Conflict(_))));
        let bad = RuleSpec {
            encrypted_regex: Some("(".into()),
            ..Default::default()
        };
        assert!(matches!(bad.compile(), Err(RuleError::Regex { .. })));
    }

    #[test]
    fn unanchored_regex_like_go() {
        let r = PathRule::EncryptedRegex(Regex::new("data").unwrap());
        assert!(
            !r.component_hits("stringData"),
            "regexes are case-sensitive"
        );
        assert!(r.component_hits("mydata"));
        assert!(!r.component_hits("other"));
    }
}
