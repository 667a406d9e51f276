//! `shroud audit`: evidence for auditors — which sops files a repository holds, who can open
//! each (Shamir thresholds included), whether each follows the `.sops.yaml` written today, how
//! old its data-key envelopes are, what the scanner finds in plaintext, and whether each file
//! is structurally intact. Needs no private key; `--verify` adds MAC verification with the
//! keys at hand.
//!
//! Owns: running the checks over a directory in one walk (`repo`), one scanner run, and a fixed
//! number of git processes, and assembling the [`Report`]; the `--fail-on` categories. Sits
//! beside `rotate`, `backup` and `scan`: it uses `document`, `repo`, `config`, `metadata`,
//! `crypto::decide` and the scanner's public entry; nothing below it may use it. Must not know:
//! command-line parsing, terminals or exit codes (the CLI maps [`AuditError`] through
//! `error::Failure`).
//!
//! | module | owns |
//! |---|---|
//! | [`model`] | the report types: the versioned JSON schema |
//! | [`checks`] | per-file checks: inventory records, integrity, drift, must-encrypt |
//! | [`access`] | Shamir arithmetic: who opens a file alone, minimal combinations |
//! | [`git`] | the `git` CLI: last commits, authors, envelope-change commits |
//! | [`names`] | the recipient → name mapping file |
//! | [`policy`] | the `audit:` section of `.sops.yaml` and the key-age syntax |
//! | [`render`] | terminal, Markdown and HTML output |

pub mod access;
pub mod checks;
pub mod git;
pub mod model;
pub mod names;
pub mod policy;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Config, ConfigError};
use crate::error::{Error, ExitCode, Failure, Result};
use crate::keysource::Keyring;
use crate::metadata::Metadata;
use crate::repo::{self, Configs, FileKind, Inspected};
use crate::store::Format;
use crate::timestamp::Timestamp;

pub use model::{Report, SCHEMA};

/// Why an audit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error(transparent)]
    Names(#[from] names::NamesError),
    #[error(
        "{config}: audit.{field} {value:?} is invalid (max_key_age takes e.g. 90d, 12w or 1y; names a file path)"
    )]
    Policy {
        config: String,
        field: &'static str,
        value: String,
    },
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("--history needs a git repository")]
    HistoryNeedsGit,
    #[error("the secret scanner failed: {0}")]
    Scan(#[source] crate::scan::ScanError),
    #[error(
        "--fail-on stale needs a key-age policy: --max-key-age, or audit.max_key_age in .sops.yaml"
    )]
    NoAgePolicy,
}

impl Failure for AuditError {
    fn exit_code(&self) -> ExitCode {
        match self {
            AuditError::NotADirectory(_) => ExitCode::NoFile,
            AuditError::Names(names::NamesError::Read { .. }) => ExitCode::CouldNotReadInput,
            AuditError::Names(names::NamesError::Invalid { .. }) => ExitCode::InvalidInput,
            AuditError::Policy { .. } => ExitCode::InvalidConfig,
            AuditError::HistoryNeedsGit | AuditError::NoAgePolicy => ExitCode::Usage,
            AuditError::Git(_) | AuditError::Scan(_) => ExitCode::Generic,
        }
    }
}

impl From<AuditError> for Error {
    fn from(e: AuditError) -> Error {
        Error::Procedure {
            file: None,
            failure: Box::new(e),
        }
    }
}

/// What to audit and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The directory (a repository or part of one).
    pub root: PathBuf,
    /// `--config`: one `.sops.yaml` for every file instead of the nearest one.
    pub config: Option<PathBuf>,
    /// The recipient → name mapping file (default: `audit.names` of the root's `.sops.yaml`).
    pub names: Option<PathBuf>,
    /// `--max-key-age` in days: overrides every `audit.max_key_age`.
    pub max_key_age_days: Option<u64>,
    /// Also scan every blob of the git history for plaintext secrets.
    pub history: bool,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// "Now" as Unix seconds, for reproducible ages (default: the clock).
    pub now: Option<i64>,
}

/// The `--fail-on` categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Drift,
    Stale,
    Plaintext,
    Integrity,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Drift,
        Category::Stale,
        Category::Plaintext,
        Category::Integrity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Drift => "drift",
            Category::Stale => "stale",
            Category::Plaintext => "plaintext",
            Category::Integrity => "integrity",
        }
    }

    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s)
    }

    /// How many findings of this category `report` holds.
    pub fn count(self, report: &Report) -> usize {
        match self {
            Category::Drift => report.drift.len(),
            Category::Stale => report.stale.len(),
            Category::Plaintext => report.plaintext.len(),
            Category::Integrity => report.integrity.len(),
        }
    }
}

/// The categories of `fail_on` that have findings, with their counts.
pub fn tripped(report: &Report, fail_on: &[Category]) -> Vec<(Category, usize)> {
    let mut cats: Vec<Category> = fail_on.to_vec();
    cats.sort();
    cats.dedup();
    cats.into_iter()
        .map(|c| (c, c.count(report)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// One sops file as the walk found it.
struct SopsFound {
    rel: String,
    format: Format,
    metadata: Option<Metadata>,
    damaged: Option<String>,
    config: Option<Arc<Config>>,
    rule: Option<usize>,
}

/// What the walk collected.
#[derive(Default)]
struct Collected {
    sops: Vec<SopsFound>,
    drift: Vec<model::Drift>,
    integrity: Vec<model::Integrity>,
    notes: Vec<String>,
    config_error: Option<ConfigError>,
}

/// `path` relative to `root`, `/`-separated.
fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// A config's path as the report shows it: relative to the audited directory when inside.
fn config_label(root_abs: &Path, c: &Config) -> String {
    let p = std::path::absolute(&c.path).unwrap_or_else(|_| c.path.clone());
    match p.strip_prefix(root_abs) {
        Ok(r) => r.to_string_lossy().replace('\\', "/"),
        Err(_) => p.display().to_string(),
    }
}

fn rule_index(c: &Config, r: &crate::config::CreationRule) -> Option<usize> {
    c.creation_rules.iter().position(|x| std::ptr::eq(x, r))
}

/// Whether a plaintext file is shroud's or sops's own configuration (never required to be
/// encrypted, whatever a rule's regex says).
fn own_config(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == crate::config::CONFIG_FILE_NAME || name.starts_with(".shroud")
}

fn now_unix(opts: &Options) -> i64 {
    opts.now
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// Audits `opts.root`. Reads files and git; needs no key; writes nothing.
pub fn audit(opts: &Options) -> Result<Report> {
    let root = &opts.root;
    if !root.is_dir() {
        return Err(AuditError::NotADirectory(root.display().to_string()).into());
    }
    let root_abs = std::path::absolute(root).unwrap_or_else(|_| root.clone());
    let now = now_unix(opts);
    let configs = Configs::new(opts.config.as_deref())?;

    // The policy of the directory itself: where the names file comes from.
    let root_config = configs.for_file(&root_abs.join(crate::config::CONFIG_FILE_NAME))?;
    let root_section = match &root_config {
        Some(c) => policy_section(&root_abs, c)?,
        None => policy::Section::default(),
    };
    let names_path = opts.names.clone().or(root_section.names.clone());
    let names = match &names_path {
        Some(p) => names::Names::load(p).map_err(AuditError::from)?,
        None => names::Names::default(),
    };
    let names_abs = names_path
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));

    // One walk: every file read once, classified, and checked.
    let seen = AtomicUsize::new(0);
    let collected = Mutex::new(Collected::default());
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let work = |f: Inspected| {
        seen.fetch_add(1, Ordering::Relaxed);
        let rel = rel_path(root, &f.path);
        let lookup = || -> std::result::Result<_, ConfigError> {
            let Some(config) = configs.for_file(&f.path)? else {
                return Ok(None);
            };
            let rule = match config.rule_for(&f.path) {
                Ok(r) => Some((r.clone(), rule_index(&config, r))),
                Err(ConfigError::NoMatchingRule { .. }) => None,
                Err(e) => return Err(e),
            };
            Ok(Some((config, rule)))
        };
        let mut out = Collected::default();
        match f.kind {
            FileKind::Config => {}
            FileKind::Unreadable(why) => out.notes.push(format!("{rel}: cannot read: {why}")),
            FileKind::Plain | FileKind::TooLarge => {
                let is_names = names_abs
                    .as_ref()
                    .is_some_and(|n| std::path::absolute(&f.path).is_ok_and(|p| &p == n));
                if !own_config(&rel) && !is_names {
                    match lookup() {
                        Err(e) => out.config_error = Some(e),
                        Ok(Some((config, Some((rule, index))))) if rule.path_regex.is_some() => {
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
                                    path: rel.clone(),
                                    config: Some(config_label(&root_abs, &config)),
                                    rule: index,
                                    kind,
                                    fix: format!("shroud encrypt -i {rel}"),
                                });
                            }
                        }
                        Ok(_) => {}
                    }
                }
            }
            FileKind::Damaged(why) => {
                out.integrity.push(model::Integrity {
                    path: rel.clone(),
                    check: "damaged",
                    at: None,
                    detail: why.clone(),
                });
                out.sops.push(SopsFound {
                    rel,
                    format: f.format,
                    metadata: None,
                    damaged: Some(why),
                    config: None,
                    rule: None,
                });
            }
            FileKind::Sops => match f.parsed.map(Ok).unwrap_or_else(|| {
                // The walk keeps every sops file's parse; this is its fallback.
                crate::document::load_encrypted(&rel, f.format, &f.bytes)
            }) {
                Err(e) => {
                    let why = crate::text::one_line(&e);
                    out.integrity.push(model::Integrity {
                        path: rel.clone(),
                        check: "damaged",
                        at: None,
                        detail: why.clone(),
                    });
                    out.sops.push(SopsFound {
                        rel,
                        format: f.format,
                        metadata: None,
                        damaged: Some(why),
                        config: None,
                        rule: None,
                    });
                }
                Ok((tree, md)) => {
                    out.integrity
                        .extend(checks::integrity(&rel, f.format, &tree, &md));
                    drop(tree);
                    let (config, rule) = match lookup() {
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
                            let label = config_label(&root_abs, &config);
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
                                f.format,
                                &md,
                                &rule,
                                Some(config_label(&root_abs, &config)),
                                index,
                            ));
                            (Some(config), index)
                        }
                    };
                    out.sops.push(SopsFound {
                        rel,
                        format: f.format,
                        metadata: Some(md),
                        damaged: None,
                        config,
                        rule,
                    });
                }
            },
        }
        let mut all = collected.lock().unwrap_or_else(|e| e.into_inner());
        all.sops.extend(out.sops);
        all.drift.extend(out.drift);
        all.integrity.extend(out.integrity);
        all.notes.extend(out.notes);
        if all.config_error.is_none() {
            all.config_error = out.config_error;
        }
    };
    repo::inspect_parallel(root, None, threads, &work)?;
    let mut c = collected.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = c.config_error.take() {
        return Err(e.into());
    }
    c.sops.sort_by(|a, b| a.rel.cmp(&b.rel));

    // Key-age policy per config (memoised by config path).
    let mut sections: HashMap<PathBuf, policy::Section> = HashMap::new();
    for s in &c.sops {
        if let Some(cfg) = &s.config
            && !sections.contains_key(&cfg.path)
        {
            sections.insert(cfg.path.clone(), policy_section(&root_abs, cfg)?);
        }
    }

    // Git: a fixed number of processes for all files.
    let mut notes = std::mem::take(&mut c.notes);
    let repo = match git::Repo::open(root) {
        Ok(r) => r,
        Err(git::GitError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(
                "git is not installed: no commit data; rotation age is taken from lastmodified"
                    .into(),
            );
            None
        }
        Err(e) => return Err(AuditError::from(e).into()),
    };
    if repo.is_none() && !notes.iter().any(|n| n.starts_with("git is not installed")) {
        notes.push(
            "not a git repository: no commit data; rotation age is taken from lastmodified".into(),
        );
    }

    let mut files = Vec::with_capacity(c.sops.len());
    let mut stale = Vec::new();
    let mut blobs = repo.as_ref().map(|r| r.blobs());
    let mut uncompared: BTreeSet<String> = BTreeSet::new();
    for s in &c.sops {
        let file_git = match (&repo, &mut blobs) {
            (Some(r), Some(b)) => {
                let format = s.format;
                let rel = s.rel.clone();
                let fp_of = move |bytes: &[u8]| {
                    crate::document::load_encrypted(&rel, format, bytes)
                        .ok()
                        .map(|(_, md)| checks::envelope_fingerprint(&md))
                };
                let wt = s.metadata.as_ref().map(checks::envelope_fingerprint);
                Some(
                    r.file(&s.rel, wt.as_deref(), b, &fp_of)
                        .map_err(AuditError::from)?,
                )
            }
            _ => None,
        };
        if let (Some(cfg), Some(i)) = (&s.config, s.rule) {
            let rule = &cfg.creation_rules[i];
            for t in checks::uncompared_types(rule) {
                uncompared.insert(format!(
                    "{} (rule {i} of {}): its {} recipients are not compared (shroud reads only age and AWS KMS recipients from .sops.yaml)",
                    config_label(&root_abs, cfg),
                    i,
                    key_type_name(t)
                ));
            }
        }
        let (max_days, policy_src) = match (opts.max_key_age_days, &s.config) {
            (Some(d), _) => (Some(d), Some("--max-key-age".to_owned())),
            (None, Some(cfg)) => match sections.get(&cfg.path).and_then(|p| p.max_key_age_days) {
                Some(d) => (Some(d), Some(config_label(&root_abs, cfg))),
                None => (None, None),
            },
            (None, None) => (None, None),
        };
        let rotation = rotation(s, file_git.as_ref(), now, max_days, policy_src);
        if rotation.stale {
            stale.push(model::Stale {
                path: s.rel.clone(),
                rotated_at: rotation.rotated_at.clone(),
                source: rotation.source,
                age_days: rotation.age_days,
                max_age_days: rotation.max_age_days.unwrap_or_default(),
                policy: rotation.policy.clone().unwrap_or_default(),
            });
        }
        files.push(file_entry(&root_abs, s, file_git, rotation, &names));
    }
    drop(blobs);
    notes.extend(uncompared);

    let recipients = recipients(&files, &names);

    // The scanner over the same tree (and, with --history, every blob of history).
    let plaintext = plaintext(opts, &root_abs, repo.as_ref(), &mut notes)?;

    let mut drift = c.drift;
    drift.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| drift_order(a).cmp(&drift_order(b)))
    });
    let mut integrity = c.integrity;
    integrity.sort_by(|a, b| (&a.path, a.check, &a.at).cmp(&(&b.path, b.check, &b.at)));
    notes.sort();
    notes.dedup();

    let summary = model::Summary {
        files_seen: seen.load(Ordering::Relaxed),
        sops_files: files.len(),
        recipients: recipients.len(),
        drift: drift.len(),
        stale: stale.len(),
        plaintext: plaintext.len(),
        plaintext_findings: plaintext.iter().map(|p| p.count).sum(),
        integrity: integrity.len(),
        verified: None,
    };
    Ok(Report {
        schema: SCHEMA,
        shroud_version: crate::VERSION,
        generated_at: git::rfc3339(now),
        root: root.display().to_string(),
        options: model::ReportOptions {
            history: opts.history,
            verify: false,
            max_key_age_days: opts.max_key_age_days,
            names_file: names_path.map(|p| p.display().to_string()),
        },
        git: repo.as_ref().map(|r| model::GitInfo {
            toplevel: r.toplevel().display().to_string(),
            head: r.head().map(str::to_owned),
        }),
        summary,
        files,
        recipients,
        drift,
        stale,
        plaintext,
        integrity,
        notes,
    })
}

fn policy_section(root_abs: &Path, c: &Config) -> Result<policy::Section> {
    policy::section(c).map_err(|b| {
        AuditError::Policy {
            config: config_label(root_abs, c),
            field: b.field,
            value: b.value,
        }
        .into()
    })
}

fn key_type_name(t: crate::metadata::KeyKind) -> &'static str {
    t.label()
}

fn drift_order(d: &model::Drift) -> u8 {
    match d.kind {
        model::DriftKind::Uncovered { .. } => 0,
        model::DriftKind::MustEncrypt { .. } => 1,
        model::DriftKind::Recipients { .. } => 2,
        model::DriftKind::Threshold { .. } => 3,
        model::DriftKind::Rules { .. } => 4,
    }
}

/// When a file's envelopes last changed, and whether that is older than its policy allows. A
/// file with a policy and no known rotation time is stale (its freshness cannot be shown).
fn rotation(
    s: &SopsFound,
    git: Option<&model::FileGit>,
    now: i64,
    max_days: Option<u64>,
    policy: Option<String>,
) -> model::Rotation {
    if s.metadata.is_none() {
        // A damaged file has no envelopes to date: it is an integrity finding, not a stale one.
        return model::Rotation {
            max_age_days: max_days,
            policy,
            ..Default::default()
        };
    }
    let from_git = git
        .filter(|g| !g.envelopes_uncommitted)
        .and_then(|g| g.envelopes_changed.as_ref())
        .map(|c| (c.unix, "git"));
    let from_lastmodified = s
        .metadata
        .as_ref()
        .and_then(|m| Timestamp::parse_rfc3339(&m.lastmodified))
        .map(|t| (t.unix_seconds(), "lastmodified"));
    let at = from_git.or(from_lastmodified);
    let age_secs = at.map(|(t, _)| (now - t).max(0));
    let stale = match (max_days, age_secs) {
        (Some(d), Some(a)) => a > (d as i64).saturating_mul(policy::DAY),
        (Some(_), None) => true,
        (None, _) => false,
    };
    model::Rotation {
        rotated_at: at.map(|(t, _)| git::rfc3339(t)),
        source: at.map(|(_, s)| s),
        age_days: age_secs.map(|a| (a / policy::DAY) as u64),
        max_age_days: max_days,
        policy,
        stale,
    }
}

fn file_entry(
    root_abs: &Path,
    s: &SopsFound,
    git: Option<model::FileGit>,
    rotation: model::Rotation,
    names: &names::Names,
) -> model::FileEntry {
    let empty = Metadata::default();
    let md = s.metadata.as_ref().unwrap_or(&empty);
    let key_groups: Vec<Vec<model::Key>> = md
        .key_groups
        .iter()
        .map(|g| {
            g.keys
                .iter()
                .map(|k| {
                    let mut e = checks::key_entry(k);
                    e.name = names.get(&e.recipient).map(|h| h.name.clone());
                    e
                })
                .collect()
        })
        .collect();
    let sets = group_sets(md);
    let (combinations, combinations_truncated) = if s.metadata.is_some() {
        access::combinations(&sets, md.threshold())
    } else {
        (Vec::new(), false)
    };
    model::FileEntry {
        path: s.rel.clone(),
        format: s.format.name(),
        damaged: s.damaged.clone(),
        version: md.version.clone(),
        lastmodified: Some(md.lastmodified.clone()).filter(|l| !l.is_empty()),
        mac: md.mac.is_some(),
        encryption: if s.format == Format::Binary {
            checks::encryption(&crate::crypto::RuleSpec::default())
        } else {
            checks::encryption(&md.rules)
        },
        shamir_threshold: md.shamir_threshold,
        threshold: if s.metadata.is_some() {
            md.threshold()
        } else {
            0
        },
        key_groups,
        combinations,
        combinations_truncated,
        config: s.config.as_ref().map(|c| config_label(root_abs, c)),
        rule: s.rule,
        git,
        rotation,
        verify: None,
    }
}

/// Each key group as the set of its recipients.
fn group_sets(md: &Metadata) -> Vec<BTreeSet<String>> {
    md.key_groups
        .iter()
        .map(|g| g.keys.iter().map(checks::recipient).collect())
        .collect()
}

/// The per-recipient view of every file's access.
fn recipients(files: &[model::FileEntry], names: &names::Names) -> Vec<model::Recipient> {
    let mut by: BTreeMap<(&'static str, String), model::Recipient> = BTreeMap::new();
    for f in files {
        let sets: Vec<BTreeSet<String>> = f
            .key_groups
            .iter()
            .map(|g| g.iter().map(|k| k.recipient.clone()).collect())
            .collect();
        let mut done: BTreeSet<(&'static str, String)> = BTreeSet::new();
        for k in f.key_groups.iter().flatten() {
            let id = (k.kind, k.recipient.clone());
            if !done.insert(id.clone()) {
                continue;
            }
            let r = by.entry(id).or_insert_with(|| {
                let holder = names.get(&k.recipient);
                model::Recipient {
                    kind: k.kind,
                    recipient: k.recipient.clone(),
                    name: holder.map(|h| h.name.clone()),
                    holder: holder.and_then(|h| h.kind.clone()),
                    opens_alone: Vec::new(),
                    shares: Vec::new(),
                }
            });
            if access::opens_alone(&sets, f.threshold, &k.recipient) {
                r.opens_alone.push(f.path.clone());
            } else {
                r.shares.push(model::Share {
                    path: f.path.clone(),
                    groups_held: access::groups_held(&sets, &k.recipient),
                    threshold: f.threshold,
                });
            }
        }
    }
    by.into_values().collect()
}

/// The scanner's rule (docs/scanning.md) for "a creation rule's path_regex matches a plaintext
/// file". The audit's own must-encrypt drift check replaces it: that check asks the cipher's
/// per-leaf decision whether the rule would encrypt anything in the file (a Deployment under a
/// `data|stringData` rule holds nothing to encrypt), so the scanner's coarser verdict is left
/// out rather than reported twice.
const SUPERSEDED_SCANNER_RULE: &str = "sops-unencrypted-file";

/// Scanner findings, one entry per file and rule.
fn plaintext(
    opts: &Options,
    root_abs: &Path,
    repo: Option<&git::Repo>,
    notes: &mut Vec<String>,
) -> Result<Vec<model::Plaintext>> {
    use crate::scan::{self, Source};
    let mut runs = vec![(
        scan::Options {
            source: Source::Paths(vec![root_abs.to_path_buf()]),
            root: root_abs.to_path_buf(),
            settings: None,
            max_file_size: None,
            threads: opts.threads,
            all_candidates: false,
            display_base: None,
        },
        None,
    )];
    if opts.history {
        let repo = repo.ok_or(AuditError::HistoryNeedsGit)?;
        let top = repo.toplevel().to_path_buf();
        let prefix = repo.prefix().to_owned();
        runs.push((
            scan::Options {
                source: Source::AllHistory,
                root: top,
                settings: None,
                max_file_size: None,
                threads: opts.threads,
                all_candidates: false,
                display_base: None,
            },
            Some(prefix),
        ));
    }
    let mut by: BTreeMap<(String, String), model::Plaintext> = BTreeMap::new();
    let mut seen: BTreeSet<(String, String, usize, Option<String>)> = BTreeSet::new();
    for (o, prefix) in runs {
        let outcome = scan::scan(&o).map_err(AuditError::Scan)?;
        notes.extend(
            outcome
                .summary
                .errors
                .iter()
                .map(|e| format!("scanner: {e}")),
        );
        for f in outcome.findings {
            if f.rule_id == SUPERSEDED_SCANNER_RULE {
                continue;
            }
            let path = match &prefix {
                None => f.path.clone(),
                Some(p) => match f.path.strip_prefix(p.as_str()) {
                    Some(rest) => rest.to_owned(),
                    None => continue,
                },
            };
            if !seen.insert((path.clone(), f.rule_id.clone(), f.line, f.commit.clone())) {
                continue;
            }
            let e = by
                .entry((path.clone(), f.rule_id.clone()))
                .or_insert_with(|| model::Plaintext {
                    path,
                    rule_id: f.rule_id.clone(),
                    count: 0,
                    lines: Vec::new(),
                    commits: Vec::new(),
                });
            e.count += 1;
            match f.commit {
                Some(c) => e.commits.push(c),
                None if prefix.is_none() => e.lines.push(f.line),
                None => {}
            }
        }
    }
    let mut out: Vec<model::Plaintext> = by.into_values().collect();
    for p in &mut out {
        p.lines.sort_unstable();
        p.lines.dedup();
        p.commits.sort();
        p.commits.dedup();
    }
    Ok(out)
}

/// `--verify`: opens every sops file with the keys in `keyring` and checks its MAC. Values are
/// decrypted in memory and dropped at once. Files no key opens are `no-key`, not failures.
pub async fn verify(report: &mut Report, keyring: &Keyring) {
    use futures::StreamExt;
    let root = PathBuf::from(&report.root);
    let jobs: Vec<(usize, String, Format)> = report
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.damaged.is_none())
        .map(|(i, f)| {
            (
                i,
                f.path.clone(),
                Format::from_name(f.format).unwrap_or(Format::Binary),
            )
        })
        .collect();
    let results: Vec<(usize, std::result::Result<(), Error>)> = futures::stream::iter(jobs)
        .map(|(i, rel, format)| {
            let path = root.join(&rel);
            async move {
                let r = match std::fs::read(&path) {
                    Ok(bytes) => crate::document::open(&rel, format, &bytes, keyring, false)
                        .await
                        .map(drop),
                    Err(source) => Err(Error::Read { file: rel, source }),
                };
                (i, r)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut counts = model::VerifyCounts::default();
    for (i, r) in results {
        let f = &mut report.files[i];
        f.verify = Some(match r {
            Ok(()) => {
                counts.ok += 1;
                model::Verify {
                    status: "ok",
                    detail: None,
                }
            }
            Err(e) if e.is_integrity() => {
                counts.failed += 1;
                let detail = crate::text::one_line(&e);
                report.integrity.push(model::Integrity {
                    path: f.path.clone(),
                    check: "verify-failed",
                    at: None,
                    detail: detail.clone(),
                });
                model::Verify {
                    status: "failed",
                    detail: Some(detail),
                }
            }
            Err(e) => {
                counts.no_key += 1;
                model::Verify {
                    status: "no-key",
                    detail: Some(crate::text::one_line(&e)),
                }
            }
        });
    }
    report
        .integrity
        .sort_by(|a, b| (&a.path, a.check, &a.at).cmp(&(&b.path, b.check, &b.at)));
    report.options.verify = true;
    report.summary.integrity = report.integrity.len();
    report.summary.verified = Some(counts);
}
