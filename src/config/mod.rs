//! `.sops.yaml`: creation rules (recipients, key groups, Shamir threshold, encryption rules)
//! and store settings.
//!
//! Owns: finding the config, the one lookup every part of shroud uses ([`Configs`]: from the
//! *file's* directory upward, the fix sops issue #242 asks for; `--config`/`SOPS_CONFIG`
//! override; memoised for repository-wide runs, the scanner and the audit), parsing every field sops accepts (comma-separated
//! strings or lists, `+role` KMS suffixes, `key_groups` with `merge`), and rule matching
//! (`path_regex` against the path relative to the config's directory; first match wins).
//! Must not know: encryption or key wrapping.

pub mod edit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::crypto::RuleSpec;
use crate::keysource::KeySpec;
use crate::tree::{Map, Value};

pub(crate) const CONFIG_FILE_NAME: &str = ".sops.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "{config}: no creation rule matches {file} (add a rule whose path_regex matches it, or a catch-all rule without path_regex)"
    )]
    NoMatchingRule { config: String, file: String },
}

/// A copy of the error (a memoised lookup hands the same failure to every file under an
/// invalid config); an I/O error keeps its kind and its text.
impl Clone for ConfigError {
    fn clone(&self) -> Self {
        match self {
            ConfigError::Read { path, source } => ConfigError::Read {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            ConfigError::Invalid { path, message } => ConfigError::Invalid {
                path: path.clone(),
                message: message.clone(),
            },
            ConfigError::NoMatchingRule { config, file } => ConfigError::NoMatchingRule {
                config: config.clone(),
                file: file.clone(),
            },
        }
    }
}

/// One `creation_rules` entry.
#[derive(Clone, Debug)]
pub struct CreationRule {
    pub path_regex: Option<Regex>,
    /// Key groups; a rule with flat key fields has one group.
    pub groups: Vec<Vec<KeySpec>>,
    pub shamir_threshold: usize,
    pub rules: RuleSpec,
    /// Key types in the rule that shroud cannot wrap for (pgp, gcp_kms, …).
    pub unsupported: Vec<String>,
}

/// A parsed `.sops.yaml`.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub creation_rules: Vec<CreationRule>,
    pub yaml_indent: Option<usize>,
    pub json_indent: Option<usize>,
    /// The `external_secrets:` section (defaults for `shroud external-secret`), as written.
    pub external_secrets: Option<Map>,
    /// The `audit:` section (policy for `shroud audit`, read by `shroud::audit`), as written.
    pub audit: Option<Map>,
}

/// One step of the lookup every `.sops.yaml` search follows (sops's rule, from a file's
/// directory upward): `dir`'s own `.sops.yaml` when it is a file, else the parent directory,
/// stopping after `ceiling` (a scanned tree's root: configs above it are not consulted) or at
/// the filesystem root.
enum Step<'a> {
    Found(PathBuf),
    Up(&'a Path),
    Stop,
}

fn step<'a>(dir: &'a Path, ceiling: Option<&Path>) -> Step<'a> {
    let candidate = dir.join(CONFIG_FILE_NAME);
    if candidate.is_file() {
        return Step::Found(candidate);
    }
    if ceiling.is_some_and(|c| !dir.starts_with(c) || dir == c) {
        return Step::Stop;
    }
    match dir.parent() {
        Some(p) => Step::Up(p),
        None => Step::Stop,
    }
}

/// The nearest `.sops.yaml` from `start` (a directory) upward, without reading it.
pub fn find(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).ok()?;
    let mut dir: &Path = &start;
    loop {
        match step(dir, None) {
            Step::Found(p) => return Some(p),
            Step::Up(p) => dir = p,
            Step::Stop => return None,
        }
    }
}

/// The config that applies to `file`: `explicit` if given, else the first `.sops.yaml` found
/// from the file's directory upward (the current directory for stdin).
pub fn discover(
    explicit: Option<&Path>,
    file: Option<&Path>,
) -> Result<Option<Config>, ConfigError> {
    let found = Configs::new(explicit)?.for_file_or_cwd(file)?;
    Ok(found.map(|c| Arc::try_unwrap(c).unwrap_or_else(|c| (*c).clone())))
}

/// The `.sops.yaml` that applies to each file: the nearest one from the file's directory
/// upward ([`find`]'s rule), or one fixed config for all (`--config`). Memoised per directory
/// (one stat each) and per config (each read and parsed once, an invalid one reported with the
/// same error every time); safe to share across threads. Every lookup of shroud goes through
/// this: single files, repository-wide runs, the scanner and the audit.
pub struct Configs {
    fixed: Option<Arc<Config>>,
    /// Directories above this one are not searched (the scanned tree's root), when set.
    ceiling: Option<PathBuf>,
    /// Directory → the config path that applies there.
    dirs: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
    /// Config path → the parsed config, or why it cannot be used.
    loaded: Mutex<HashMap<PathBuf, Result<Arc<Config>, ConfigError>>>,
}

impl Configs {
    /// Nearest-config lookup, or `fixed` (`--config`) for every file.
    pub fn new(fixed: Option<&Path>) -> Result<Configs, ConfigError> {
        Ok(Configs {
            fixed: fixed.map(load).transpose()?.map(Arc::new),
            ceiling: None,
            dirs: Mutex::default(),
            loaded: Mutex::default(),
        })
    }

    /// Lookups stop at `root` (configs above the scanned tree are not consulted).
    pub fn within(root: &Path) -> Configs {
        Configs {
            fixed: None,
            ceiling: Some(std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())),
            dirs: Mutex::default(),
            loaded: Mutex::default(),
        }
    }

    /// The config that applies to `file`.
    pub fn for_file(&self, file: &Path) -> Result<Option<Arc<Config>>, ConfigError> {
        if let Some(c) = &self.fixed {
            return Ok(Some(c.clone()));
        }
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        match abs.parent() {
            Some(dir) => self.for_dir(dir),
            None => Ok(None),
        }
    }

    /// [`Configs::for_file`], or for stdin (`None`) the config of the current directory.
    pub fn for_file_or_cwd(&self, file: Option<&Path>) -> Result<Option<Arc<Config>>, ConfigError> {
        match file {
            Some(f) => self.for_file(f),
            None if self.fixed.is_some() => Ok(self.fixed.clone()),
            None => self.for_dir(&std::path::absolute(".").unwrap_or_else(|_| ".".into())),
        }
    }

    /// The config that applies in directory `dir` (absolute).
    fn for_dir(&self, dir: &Path) -> Result<Option<Arc<Config>>, ConfigError> {
        match self.path_for(dir) {
            Some(p) => self.load(&p).map(Some),
            None => Ok(None),
        }
    }

    fn path_for(&self, dir: &Path) -> Option<PathBuf> {
        if let Some(p) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(dir) {
            return p.clone();
        }
        let found = match step(dir, self.ceiling.as_deref()) {
            Step::Found(p) => Some(p),
            Step::Up(parent) => self.path_for(parent),
            Step::Stop => None,
        };
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_path_buf(), found.clone());
        found
    }

    fn load(&self, path: &Path) -> Result<Arc<Config>, ConfigError> {
        if let Some(r) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return r.clone();
        }
        let r = load(path).map(Arc::new);
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf(), r.clone());
        r
    }
}

fn strings(v: &Value, field: &str, path: &str) -> Result<Vec<String>, ConfigError> {
    let bad = || ConfigError::Invalid {
        path: path.to_owned(),
        message: format!("{field} must be a string or a list of strings"),
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Scalar(_) => Ok(v
            .as_text()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()),
        Value::List(items) => items
            .iter()
            .filter(|i| !matches!(i, Value::Comment(_)))
            .map(|i| i.as_text().map(|s| s.trim().to_owned()).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Parses `arn[+role]` strings as sops does.
pub fn kms_from_str(s: &str, aws_profile: Option<&str>, context: &[(String, String)]) -> KeySpec {
    let (arn, role) = match s.split_once('+') {
        Some((a, r)) => (a.trim().to_owned(), Some(r.trim().to_owned())),
        None => (s.trim().to_owned(), None),
    };
    KeySpec::Kms(crate::keysource::KmsSpec {
        arn,
        role,
        context: context.to_vec(),
        aws_profile: aws_profile.map(str::to_owned).filter(|p| !p.is_empty()),
    })
}

fn text(m: &Map, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_text()).filter(|s| !s.is_empty())
}

fn group_keys(
    m: &Map,
    path: &str,
    unsupported: &mut Vec<String>,
    flat_profile: Option<&str>,
) -> Result<Vec<KeySpec>, ConfigError> {
    let mut keys = Vec::new();
    if let Some(v) = m.get("age") {
        keys.extend(strings(v, "age", path)?.into_iter().map(KeySpec::Age));
    }
    match m.get("kms") {
        None | Some(Value::Null) => {}
        Some(Value::List(items)) if items.iter().any(|i| matches!(i, Value::Map(_))) => {
            for item in items {
                let Value::Map(e) = item else {
                    if let Some(s) = item.as_text() {
                        keys.push(kms_from_str(&s, flat_profile, &[]));
                    }
                    continue;
                };
                let arn = text(e, "arn").ok_or_else(|| ConfigError::Invalid {
                    path: path.to_owned(),
                    message: "a kms entry has no arn".into(),
                })?;
                let context = match e.get("context") {
                    Some(Value::Map(c)) => c
                        .pairs()
                        .map(|(k, v)| (k.clone(), v.as_text().unwrap_or_default()))
                        .collect(),
                    _ => Vec::new(),
                };
                keys.push(KeySpec::Kms(crate::keysource::KmsSpec {
                    arn,
                    role: text(e, "role"),
                    context,
                    aws_profile: text(e, "aws_profile").or(flat_profile.map(str::to_owned)),
                }));
            }
        }
        Some(v) => {
            for s in strings(v, "kms", path)? {
                keys.push(kms_from_str(&s, flat_profile, &[]));
            }
        }
    }
    if let Some(v) = m.get("pgp") {
        keys.extend(
            strings(v, "pgp", path)?
                .into_iter()
                .map(|fp| KeySpec::Pgp(crate::keysource::pgp::normalize(&fp))),
        );
    }
    let unused = crate::metadata::kind::KINDS
        .iter()
        .filter(|k| k.supported.is_none())
        .flat_map(|k| k.rule_fields.iter());
    for field in unused {
        if m.get(field).is_some_and(|v| !matches!(v, Value::Null)) {
            unsupported.push((*field).to_owned());
        }
    }
    if let Some(Value::List(merges)) = m.get("merge") {
        for item in merges {
            if let Value::Map(inner) = item {
                keys.extend(group_keys(inner, path, unsupported, flat_profile)?);
            }
        }
    }
    Ok(keys)
}

fn parse_rule(m: &Map, path: &str) -> Result<CreationRule, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let path_regex = text(m, "path_regex")
        .map(|r| {
            Regex::new(&r).map_err(|e| {
                invalid(format!(
                    "path_regex {r:?} is not a valid regex: {}",
                    e.to_string().lines().last().unwrap_or_default()
                ))
            })
        })
        .transpose()?;
    let mut unsupported = Vec::new();
    let profile = text(m, "aws_profile");
    let groups = match m.get("key_groups") {
        Some(Value::List(gs)) if !gs.is_empty() => {
            let mut out = Vec::new();
            for g in gs {
                match g {
                    Value::Map(gm) => out.push(group_keys(gm, path, &mut unsupported, None)?),
                    Value::Comment(_) => {}
                    _ => return Err(invalid("key_groups entries must be mappings".into())),
                }
            }
            out
        }
        _ => vec![group_keys(m, path, &mut unsupported, profile.as_deref())?],
    };
    let shamir_threshold = match text(m, "shamir_threshold") {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| invalid("shamir_threshold must be a whole number".into()))?,
    };
    let rules = RuleSpec {
        unencrypted_suffix: text(m, "unencrypted_suffix"),
        encrypted_suffix: text(m, "encrypted_suffix"),
        unencrypted_regex: text(m, "unencrypted_regex"),
        encrypted_regex: text(m, "encrypted_regex"),
        unencrypted_comment_regex: text(m, "unencrypted_comment_regex"),
        encrypted_comment_regex: text(m, "encrypted_comment_regex"),
        mac_only_encrypted: matches!(
            text(m, "mac_only_encrypted").as_deref(),
            Some("true" | "True")
        ),
    };
    rules.compile().map_err(|e| invalid(e.to_string()))?;
    Ok(CreationRule {
        path_regex,
        groups,
        shamir_threshold,
        rules,
        unsupported,
    })
}

/// Reads and validates a `.sops.yaml`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(path, &bytes)
}

/// Validates the text of a `.sops.yaml` that lives (or will live) at `path`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let display = path.display().to_string();
    let tree = crate::store::yaml::parse(bytes).map_err(|e| ConfigError::Invalid {
        path: display.clone(),
        message: e.to_string(),
    })?;
    let root = tree.branches.into_iter().next().unwrap_or_default();
    let mut rules = Vec::new();
    match root.get("creation_rules") {
        None | Some(Value::Null) => {}
        Some(Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Map(m) => {
                        rules.push(parse_rule(m, &format!("{display}: creation_rules[{i}]"))?)
                    }
                    Value::Comment(_) => {}
                    _ => {
                        return Err(ConfigError::Invalid {
                            path: display,
                            message: format!("creation_rules[{i}] must be a mapping"),
                        });
                    }
                }
            }
        }
        Some(_) => {
            return Err(ConfigError::Invalid {
                path: display,
                message: "creation_rules must be a list".into(),
            });
        }
    }
    let indent = |store: &str| {
        root.get("stores")
            .and_then(Value::as_map)
            .and_then(|s| s.get(store))
            .and_then(Value::as_map)
            .and_then(|s| text(s, "indent"))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| (1..=crate::store::MAX_INDENT).contains(i))
    };
    Ok(Config {
        path: path.to_path_buf(),
        creation_rules: rules,
        yaml_indent: indent("yaml"),
        json_indent: indent("json"),
        external_secrets: root
            .get("external_secrets")
            .and_then(Value::as_map)
            .cloned(),
        audit: root.get("audit").and_then(Value::as_map).cloned(),
    })
}

impl Config {
    /// The directory rule paths are relative to.
    pub fn dir(&self) -> PathBuf {
        std::path::absolute(&self.path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    }

    /// The first creation rule whose `path_regex` matches `file` (relative to the config's
    /// directory when inside it).
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, ConfigError> {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let rel = abs
            .strip_prefix(self.dir())
            .map(Path::to_path_buf)
            .unwrap_or(abs);
        let rel = rel.to_string_lossy();
        self.creation_rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&rel)))
            .ok_or_else(|| ConfigError::NoMatchingRule {
                config: self.path.display().to_string(),
                file: file.display().to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_and_matches_first() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join(CONFIG_FILE_NAME);
        std::fs::write(
            &cfg,
            "creation_rules:\n  - path_regex: \\.dev\\.yaml$\n    age: age1a, age1b\n    encrypted_regex: ^(data|stringData)$\n  - path_regex: critical/.*\n    shamir_threshold: 2\n    key_groups:\n      - age: [age1c]\n        kms:\n          - arn: arn:aws:kms:us-east-1:111122223333:key/k\n            context: {Env: prod}\n      - age: [age1d]\n  - kms: arn:aws:kms:eu-west-1:1:key/x+arn:aws:iam::1:role/r\n    aws_profile: p\nstores:\n  yaml:\n    indent: 2\n",
        )
        .unwrap();
        let c = load(&cfg).unwrap();
        assert_eq!(c.yaml_indent, Some(2));
        let r = c.rule_for(&d.path().join("a.dev.yaml")).unwrap();
        assert_eq!(
            r.groups,
            vec![vec![
                KeySpec::Age("age1a".into()),
                KeySpec::Age("age1b".into())
            ]]
        );
        assert_eq!(
            r.rules.encrypted_regex.as_deref(),
            Some("^(data|stringData)$")
        );
        let r = c.rule_for(&d.path().join("critical/x.yaml")).unwrap();
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.shamir_threshold, 2);
        assert!(
            matches!(&r.groups[0][1], KeySpec::Kms(k) if k.context == vec![("Env".to_string(), "prod".to_string())])
        );
        let r = c.rule_for(&d.path().join("other.yaml")).unwrap();
        assert!(
            matches!(&r.groups[0][0], KeySpec::Kms(k) if k.role.as_deref() == Some("arn:aws:iam::1:role/r") && k.aws_profile.as_deref() == Some("p"))
        );
    }

    #[test]
    fn discovery_starts_at_the_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(
            d.path().join("a").join(CONFIG_FILE_NAME),
            "creation_rules: []\n",
        )
        .unwrap();
        let found = discover(None, Some(&d.path().join("a/b/secret.yaml")))
            .unwrap()
            .unwrap();
        assert!(found.path.ends_with("a/.sops.yaml"));
        std::fs::write(d.path().join("bad.yaml"), "creation_rules: {").unwrap();
        assert!(load(&d.path().join("bad.yaml")).is_err());
    }
}
