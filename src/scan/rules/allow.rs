//! Allowlists: what a rule (or the whole scan) lets pass: paths, regexes over the secret or
//! its line, stopwords and commits. Owns the matching only. Must not know: where allowlists
//! come from (`.gitleaks.toml`, scan settings), files, git or output.

/// What an allowlist matches its regexes against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    #[default]
    Secret,
    /// The whole match (shroud: the secret; its rules match little around it).
    Match,
    Line,
}

/// One gitleaks allowlist: a finding is allowed when any of its lists matches.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    pub paths: Vec<regex::Regex>,
    pub regexes: Vec<regex::bytes::Regex>,
    pub target: Target,
    /// Lowercase; a secret containing one is allowed.
    pub stopwords: Vec<String>,
    pub commits: Vec<String>,
}

impl Allowlist {
    /// Whether the path alone is allowed.
    pub fn allows_path(&self, path: &str) -> bool {
        self.paths.iter().any(|p| p.is_match(path))
    }

    /// Whether a finding with this secret, line text, path and commit is allowed.
    pub fn allows(&self, secret: &[u8], line: &[u8], path: &str, commit: Option<&str>) -> bool {
        if self.allows_path(path) {
            return true;
        }
        if let Some(c) = commit
            && self.commits.iter().any(|a| c.starts_with(a.as_str()))
        {
            return true;
        }
        let target = if self.target == Target::Line {
            line
        } else {
            secret
        };
        if self.regexes.iter().any(|r| r.is_match(target)) {
            return true;
        }
        let lower = secret.to_ascii_lowercase();
        self.stopwords
            .iter()
            .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    }
}
