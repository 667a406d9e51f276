//! The audit's one walk over the audited directory ([`crate::repo::inspect_parallel`]): every
//! file read once and classified; sops files checked for integrity and drift against the
//! creation rule that covers them, and summarised for the key history; plaintext files checked
//! against the rules that say they must be encrypted.
//!
//! Owns: what the walk collects per file. Must not know: git, names, policies or output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{checks, history, model};
use crate::config::{Config, ConfigError, CreationRule};
use crate::metadata::Metadata;
use crate::repo::{self, Configs, FileKind, Inspected};
use crate::store::Format;

/// One sops file as the walk found it.
pub struct SopsFound {
    pub rel: String,
    pub format: Format,
    pub metadata: Option<Metadata>,
    pub damaged: Option<String>,
    /// The working copy's summary for the key history (None when damaged).
    pub version: Option<history::Version>,
    pub config: Option<Arc<Config>>,
    pub rule: Option<usize>,
}

/// What the walk collected.
#[derive(Default)]
pub struct Collected {
    pub files_seen: usize,
    pub sops: Vec<SopsFound>,
    pub drift: Vec<model::Drift>,
    pub integrity: Vec<model::Integrity>,
    pub notes: Vec<String>,
    /// The `.sops.yaml` files under the audited directory.
    pub configs: Vec<PathBuf>,
    pub config_error: Option<ConfigError>,
}

impl Collected {
    fn merge(&mut self, other: Collected) {
        self.sops.extend(other.sops);
        self.drift.extend(other.drift);
        self.integrity.extend(other.integrity);
        self.notes.extend(other.notes);
        self.configs.extend(other.configs);
        if self.config_error.is_none() {
            self.config_error = other.config_error;
        }
    }
}

/// What every file's visit needs.
pub struct Walk<'a> {
    pub root: &'a Path,
    pub root_abs: &'a Path,
    pub configs: &'a Configs,
    /// The names file, absolute (never required to be encrypted).
    pub names_abs: Option<PathBuf>,
    pub threads: usize,
}

/// `path` relative to `root`, `/`-separated.
pub fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// A config's path as the report shows it: relative to the audited directory when inside.
pub fn config_label(root_abs: &Path, c: &Config) -> String {
    let p = std::path::absolute(&c.path).unwrap_or_else(|_| c.path.clone());
    match p.strip_prefix(root_abs) {
        Ok(r) => r.to_string_lossy().replace('\\', "/"),
        Err(_) => p.display().to_string(),
    }
}

fn rule_index(c: &Config, r: &CreationRule) -> Option<usize> {
    c.creation_rules.iter().position(|x| std::ptr::eq(x, r))
}

/// Whether a plaintext file is shroud's or sops's own configuration (never required to be
/// encrypted, whatever a rule's regex says).
fn own_config(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == crate::config::CONFIG_FILE_NAME || name.starts_with(".shroud")
}

/// The config and creation rule (with its index) that cover a file.
type Covered = Option<(Arc<Config>, Option<(CreationRule, Option<usize>)>)>;

impl Walk<'_> {
    /// Walks the directory.
    pub fn run(&self) -> crate::error::Result<Collected> {
        let seen = AtomicUsize::new(0);
        let collected = Mutex::new(Collected::default());
        let work = |f: Inspected| {
            seen.fetch_add(1, Ordering::Relaxed);
            let out = self.visit(f);
            collected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .merge(out);
        };
        repo::inspect_parallel(self.root, None, self.threads, &work)?;
        let mut c = collected.into_inner().unwrap_or_else(|e| e.into_inner());
        c.files_seen = seen.load(Ordering::Relaxed);
        c.sops.sort_by(|a, b| a.rel.cmp(&b.rel));
        c.configs.sort();
        Ok(c)
    }

    fn covered(&self, path: &Path) -> Result<Covered, ConfigError> {
        let Some(config) = self.configs.for_file(path)? else {
            return Ok(None);
        };
        let rule = match config.rule_for(path) {
            Ok(r) => Some((r.clone(), rule_index(&config, r))),
            Err(ConfigError::NoMatchingRule { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Some((config, rule)))
    }

    fn visit(&self, f: Inspected) -> Collected {
        let rel = rel_path(self.root, &f.path);
        let mut out = Collected::default();
        match f.kind {
            FileKind::Config => out.configs.push(f.path.clone()),
            FileKind::Unreadable(ref why) => out.notes.push(format!("{rel}: cannot read: {why}")),
            FileKind::Plain | FileKind::TooLarge => self.plain(&f, rel, &mut out),
            FileKind::Damaged(ref why) => damaged(rel, f.format, why.clone(), &mut out),
            FileKind::Sops => {
                let parsed = match f.parsed {
                    Some(p) => Ok(p),
                    // The walk keeps every sops file's parse; this is its fallback.
                    None => crate::document::load_encrypted(&rel, f.format, &f.bytes),
                };
                match parsed {
                    Err(e) => damaged(rel, f.format, crate::text::one_line(&e), &mut out),
                    Ok((tree, md)) => {
                        out.integrity
                            .extend(checks::integrity(&rel, f.format, &tree, &md));
                        let version = history::Version::of(&tree, &md);
                        drop(tree);
                        self.sops(&f.path, rel, f.format, md, version, &mut out);
                    }
                }
            }
        }
        out
    }

    /// A plaintext file: a `must-encrypt` finding when a rule's `path_regex` covers it and
    /// the rule would encrypt some of its values.
    fn plain(&self, f: &Inspected, rel: String, out: &mut Collected) {
        let is_names = self
            .names_abs
            .as_ref()
            .is_some_and(|n| std::path::absolute(&f.path).is_ok_and(|p| &p == n));
        if own_config(&rel) || is_names {
            return;
        }
        let (config, rule, index) = match self.covered(&f.path) {
            Err(e) => {
                out.config_error = Some(e);
                return;
            }
            Ok(Some((config, Some((rule, index))))) if rule.path_regex.is_some() => {
                (config, rule, index)
            }
            Ok(_) => return,
        };
        let kind = if matches!(f.kind, FileKind::TooLarge) {
            Some(model::DriftKind::MustEncrypt {
                values: 0,
                paths: Vec::new(),
                unparsed: Some("larger than 64 MiB: not read".into()),
            })
        } else {
            checks::must_encrypt(&rel, f.format, &f.bytes, &rule)
        };
        if let Some(kind) = kind {
            out.drift.push(model::Drift {
                config: Some(config_label(self.root_abs, &config)),
                rule: index,
                kind,
                fix: format!("shroud encrypt -i {}", checks::shell_word(&rel)),
                path: rel,
            });
        }
    }

    /// A readable sops file: drift against the rule that covers it.
    fn sops(
        &self,
        path: &Path,
        rel: String,
        format: Format,
        md: Metadata,
        version: history::Version,
        out: &mut Collected,
    ) {
        let (config, rule) = match self.covered(path) {
            Err(e) => {
                out.config_error = Some(e);
                (None, None)
            }
            Ok(None) => {
                out.drift.push(model::Drift {
                    path: rel.clone(),
                    config: None,
                    rule: None,
                    kind: model::DriftKind::Uncovered {
                        reason: "no .sops.yaml applies to it".into(),
                    },
                    fix: format!(
                        "add a .sops.yaml creation rule whose path_regex matches {rel}, or remove the file"
                    ),
                });
                (None, None)
            }
            Ok(Some((config, None))) => {
                let label = config_label(self.root_abs, &config);
                out.drift.push(model::Drift {
                    path: rel.clone(),
                    config: Some(label.clone()),
                    rule: None,
                    kind: model::DriftKind::Uncovered {
                        reason: format!("no creation rule of {label} matches it"),
                    },
                    fix: format!(
                        "add a creation rule to {label} whose path_regex matches {rel}, or remove the file"
                    ),
                });
                (Some(config), None)
            }
            Ok(Some((config, Some((rule, index))))) => {
                out.drift.extend(checks::drift(
                    &rel,
                    format,
                    &md,
                    &rule,
                    Some(config_label(self.root_abs, &config)),
                    index,
                ));
                (Some(config), index)
            }
        };
        out.sops.push(SopsFound {
            rel,
            format,
            metadata: Some(md),
            damaged: None,
            version: Some(version),
            config,
            rule,
        });
    }
}

/// A file that looks like a sops file but cannot be read as one.
fn damaged(rel: String, format: Format, why: String, out: &mut Collected) {
    out.integrity.push(model::Integrity {
        path: rel.clone(),
        check: "damaged",
        at: None,
        detail: why.clone(),
    });
    out.sops.push(SopsFound {
        rel,
        format,
        metadata: None,
        damaged: Some(why),
        version: None,
        config: None,
        rule: None,
    });
}
