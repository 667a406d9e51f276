//! gitleaks compatibility: `.gitleaks.toml` custom rules and allowlists, so a team can move to
//! shroud without rewriting its rules.
//!
//! Owns: reading that file (`[[rules]]` with `id`, `description`, `regex`, `secretGroup`,
//! `entropy`, `keywords`, `path` and per-rule `[rules.allowlist]`/`[[rules.allowlists]]`;
//! global `[allowlist]`/`[[allowlists]]` with `paths`, `regexes`, `regexTarget`, `stopwords`,
//! `commits`) into shroud rules and [`Allowlist`](super::rules::Allowlist)s. Must not know: how rules run, files
//! beyond the one config, git or output. `[extend]` is accepted and ignored (shroud's
//! built-in rules always run; disable them in `.shroud/scan.yaml`).

use std::path::Path;

use serde::Deserialize;

use super::rules::{self, Allowlist, LazyRegex, Rule, Scope, Target};

pub const DEFAULT_PATH: &str = ".gitleaks.toml";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAllow {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    commits: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<RawAllow>,
    #[serde(default)]
    allowlists: Vec<RawAllow>,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    allowlist: Option<RawAllow>,
    #[serde(default)]
    allowlists: Vec<RawAllow>,
}

/// The rules and global allowlists of one `.gitleaks.toml`.
#[derive(Default)]
pub struct Config {
    pub rules: Vec<Rule>,
    pub allowlists: Vec<Allowlist>,
}

fn allowlist(raw: RawAllow, what: &str) -> Result<Allowlist, String> {
    let target = match raw.regex_target.as_deref() {
        None | Some("secret") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(t) => return Err(format!("{what}: unknown regexTarget {t:?}")),
    };
    Ok(Allowlist {
        paths: raw
            .paths
            .iter()
            .map(|p| regex::Regex::new(p).map_err(|e| format!("{what}: invalid path regex: {e}")))
            .collect::<Result<_, _>>()?,
        regexes: raw
            .regexes
            .iter()
            .map(|p| regex::bytes::Regex::new(p).map_err(|e| format!("{what}: invalid regex: {e}")))
            .collect::<Result<_, _>>()?,
        target,
        stopwords: raw
            .stopwords
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        commits: raw.commits,
    })
}

/// Parses a `.gitleaks.toml`.
pub fn parse(text: &str) -> Result<Config, String> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Config::default();
    for a in raw.allowlist.into_iter().chain(raw.allowlists) {
        out.allowlists.push(allowlist(a, "allowlist")?);
    }
    for r in raw.rules {
        let id = r.id.clone();
        // A rule with only a path (no regex) flags files by name; shroud needs content.
        let Some(re) = r.regex.filter(|s| !s.is_empty()) else {
            continue;
        };
        let mut allow = Vec::new();
        for a in r.allowlist.into_iter().chain(r.allowlists) {
            allow.push(allowlist(a, &format!("rule {id}: allowlist"))?);
        }
        let paths = match r.path {
            Some(p) => Some(
                regex::Regex::new(&p).map_err(|e| format!("rule {id}: invalid path regex: {e}"))?,
            ),
            None => None,
        };
        out.rules.push(Rule {
            description: r.description.unwrap_or_else(|| id.clone()),
            // gitleaks keywords are case-insensitive.
            keywords: r
                .keywords
                .iter()
                .flat_map(|k| rules::keyword_variants(&k.to_ascii_lowercase()))
                .collect(),
            regex: LazyRegex::eager(&id, &re).map_err(|e| e.to_string())?,
            scope: Scope::Buffer,
            entropy: r.entropy,
            placeholders: false,
            validator: None,
            paths,
            priority: 10,
            secret_group: r.secret_group.filter(|&g| g > 0),
            allowlists: allow,
            message: None,
            id,
        });
    }
    Ok(out)
}

/// The largest `.gitleaks.toml` read (its whole text is parsed in memory).
const MAX_CONFIG: u64 = 4 << 20;

/// Loads `path` if it exists.
pub fn load(path: &Path) -> Result<Option<Config>, String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_CONFIG) {
        return Err(format!("larger than {MAX_CONFIG} bytes"));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_allowlists() {
        let c = parse(
            r#"
title = "team rules"
[extend]
useDefault = true

[[rules]]
id = "acme-key"
description = "ACME key"
regex = '''acme_(?:live|test)_([a-z0-9]{16})'''
secretGroup = 1
entropy = 2.0
keywords = ["Acme_"]
path = '''\.conf$'''
  [[rules.allowlists]]
  stopwords = ["Sample"]

[[rules]]
id = "only-path"
path = '''\.p12$'''

[allowlist]
paths = ['''^vendor/''']
regexes = ['''^dummy''']
commits = ["abc123"]
"#,
        )
        .unwrap();
        assert_eq!(c.rules.len(), 1);
        let r = &c.rules[0];
        assert_eq!(r.secret_group, Some(1));
        assert!(r.keywords.contains(&"acme_".to_owned()));
        assert!(r.keywords.contains(&"ACME_".to_owned()));
        assert!(r.allowlists[0].allows(b"xxsamplexx", b"", "a.conf", None));
        let g = &c.allowlists[0];
        assert!(g.allows_path("vendor/x.go"));
        assert!(g.allows(b"dummy1", b"", "a", None));
        assert!(g.allows(b"zz", b"", "a", Some("abc1234567")));
        assert!(!g.allows(b"zz", b"", "a", Some("def")));
        assert!(parse("[[rules]]\nid = 'x'\nregex = '('\n").is_err());
        assert!(parse("[allowlist]\nregexTarget = 'nope'\n").is_err());
    }
}
