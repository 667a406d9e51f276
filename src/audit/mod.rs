//! `shroud audit`: evidence for auditors — which sops files a repository holds, who can open
//! each (Shamir thresholds included) and who could at any point of its history, whether each
//! follows the `.sops.yaml` written today, how old its data key is (from the git history:
//! re-keys told apart from re-wraps and edits), whether a revoked recipient can still read
//! it, what the scanner finds in plaintext, and whether each file is structurally intact.
//! Needs no private key; `--verify` adds MAC verification with the keys at hand.
//!
//! Owns: running the checks over a directory in one walk (`repo`), one scanner run, and a fixed
//! number of git processes, and assembling the [`Report`]; the `--fail-on` categories. Sits
//! beside `rotate`, `backup` and `scan`: it uses `document`, `repo`, `config`, `metadata`,
//! `keysource::Named`, `crypto::decide` and the scanner's public entry; nothing below it may
//! use it. Must not know: command-line parsing, terminals or exit codes (the CLI maps
//! [`AuditError`] through `error::Failure`).
//!
//! | module | owns |
//! |---|---|
//! | [`model`] | the report types: the versioned JSON schema |
//! | [`walk`] | the one walk: what is collected per file |
//! | [`checks`] | per-file checks: inventory records, integrity, drift, must-encrypt |
//! | [`rules`] | creation rules an earlier rule shadows |
//! | [`access`] | Shamir arithmetic: who opens a file alone, minimal combinations |
//! | [`git`] | the `git` CLI: the repository's identity, every file's changes, old versions |
//! | [`history`] | re-key, re-wrap or edit: a change judged from two versions without keys |
//! | [`timeline`] | one file's key history: git's changes joined with version summaries |
//! | [`revoked`] | revoked recipients that can still read, and fixes that cannot re-add them |
//! | [`names`] | the recipient → name mapping file (and `revoked:` dates) |
//! | [`policy`] | the `audit:` section of `.sops.yaml` and the key-age syntax |
//! | [`render`] | terminal, Markdown, HTML and JSON output from one section model, with a digest |

pub mod access;
pub mod checks;
pub mod git;
pub mod history;
pub mod model;
pub mod names;
pub mod policy;
pub mod render;
pub mod revoked;
pub mod rules;
pub mod timeline;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, ExitCode, Failure, Result};
use crate::keysource::Keyring;
use crate::metadata::Metadata;
use crate::repo::Configs;
use crate::store::Format;
use crate::timestamp::Timestamp;

pub use model::{Report, SCHEMA};
use timeline::FileKeys;
use walk::{Collected, SopsFound, config_label};

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
    #[error("the audit could not read the git history: {0}")]
    Git(#[from] git::GitError),
    #[error("--history needs a git repository")]
    HistoryNeedsGit,
    #[error("the audit could not run the secret scanner: {0}")]
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
            AuditError::Git(_) | AuditError::Scan(_) => ExitCode::AuditFailed,
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
    /// The `--fail-on` categories (the report states them).
    pub fail_on: Vec<Category>,
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
    Revoked,
    Plaintext,
    Integrity,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Drift,
        Category::Stale,
        Category::Revoked,
        Category::Plaintext,
        Category::Integrity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Drift => "drift",
            Category::Stale => "stale",
            Category::Revoked => "revoked",
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
            Category::Revoked => report.revoked.len(),
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

/// Whether the report has a key-age policy for any file (else `stale` is not checked).
pub fn has_age_policy(report: &Report) -> bool {
    report.header.policy.max_key_age_days.is_some() || !report.header.policy.max_key_age.is_empty()
}

fn now_unix(opts: &Options) -> i64 {
    opts.now
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// The names file, and the recipients it names.
struct NamesIn {
    path: Option<PathBuf>,
    names: names::Names,
}

fn load_names(opts: &Options, root_abs: &Path, configs: &Configs) -> Result<NamesIn> {
    let root_config = configs.for_file(&root_abs.join(crate::config::CONFIG_FILE_NAME))?;
    let from_config = match &root_config {
        Some(c) => policy_section(root_abs, c)?.names,
        None => None,
    };
    let path = opts.names.clone().or(from_config);
    let names = match &path {
        Some(p) => names::Names::load(p).map_err(AuditError::from)?,
        None => names::Names::default(),
    };
    Ok(NamesIn { path, names })
}

/// Every `.sops.yaml` in force: the walk's, the audited directory's, and those that cover a
/// file; each once.
fn configs_in_force(configs: &Configs, root_abs: &Path, c: &Collected) -> Result<Vec<Arc<Config>>> {
    let mut out: Vec<Arc<Config>> = Vec::new();
    let mut add = |cfg: Option<Arc<Config>>| {
        if let Some(cfg) = cfg
            && !out.iter().any(|o| o.path == cfg.path)
        {
            out.push(cfg);
        }
    };
    add(configs.for_file(&root_abs.join(crate::config::CONFIG_FILE_NAME))?);
    for p in &c.configs {
        add(configs.for_file(p)?);
    }
    for s in &c.sops {
        add(s.config.clone());
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Audits `opts.root`. Reads files and git; needs no key; writes nothing.
pub fn audit(opts: &Options) -> Result<Report> {
    let root = &opts.root;
    if !root.is_dir() {
        return Err(AuditError::NotADirectory(root.display().to_string()).into());
    }
    let root_abs = std::path::absolute(root).unwrap_or_else(|_| root.clone());
    let configs = Configs::new(opts.config.as_deref())?;
    let names = load_names(opts, &root_abs, &configs)?;
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let mut c = walk::Walk {
        root,
        root_abs: &root_abs,
        configs: &configs,
        names_abs: names
            .path
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        threads,
    }
    .run()?;
    if let Some(e) = c.config_error.take() {
        return Err(e.into());
    }
    let in_force = configs_in_force(&configs, &root_abs, &c)?;
    let mut sections: HashMap<PathBuf, policy::Section> = HashMap::new();
    for cfg in &in_force {
        sections.insert(cfg.path.clone(), policy_section(&root_abs, cfg)?);
    }
    let mut notes = std::mem::take(&mut c.notes);
    let repo = open_repo(root, &mut notes)?;
    let keys = file_keys(repo.as_ref(), &c.sops, &mut notes)?;
    let mut assessed = assess(opts, &root_abs, &c.sops, &keys, &sections, &names);
    notes.append(&mut assessed.notes);
    notes.extend(shared_keys(&c.sops, &mut assessed.files));

    let pairs: Vec<(&SopsFound, &FileKeys)> = c.sops.iter().zip(&keys).collect();
    let found = revoked::find(&names.names, &pairs, &in_force, &root_abs);
    notes.extend(found.notes);
    let mut drift = std::mem::take(&mut c.drift);
    for cfg in &in_force {
        let label = config_label(&root_abs, cfg);
        for (rule, by) in rules::shadowed(cfg) {
            drift.push(model::Drift {
                path: label.clone(),
                config: Some(label.clone()),
                rule: Some(rule),
                kind: model::DriftKind::Shadowed { by },
                fix: format!(
                    "move rule {rule} of {label} before rule {by}, or remove it (the first matching rule wins)"
                ),
            });
        }
    }
    revoked::guard_fixes(&mut drift, &found.in_rules);
    drift.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| drift_order(a).cmp(&drift_order(b)))
    });
    let recipients = recipients(&assessed.files, &names);
    notes.extend(unnamed_note(&root_abs, &recipients, &names));
    let access_history = access_history(&assessed.files, &names.names);
    let plaintext = plaintext(opts, &root_abs, repo.as_ref(), &mut notes)?;
    let mut integrity = c.integrity;
    integrity.sort_by(|a, b| (&a.path, a.check, &a.at).cmp(&(&b.path, b.check, &b.at)));
    let header = header(opts, repo.as_ref(), &root_abs, &in_force, &sections, &names);
    if opts.fail_on.contains(&Category::Stale)
        && header.policy.max_key_age_days.is_none()
        && header.policy.max_key_age.is_empty()
    {
        notes.push(
            "no key-age policy: stale data keys are not checked (set audit.max_key_age in .sops.yaml, or pass --max-key-age)".into(),
        );
    }
    notes.sort();
    notes.dedup();
    let summary = model::Summary {
        files_seen: c.files_seen,
        sops_files: assessed.files.len(),
        recipients: recipients.len(),
        access_changes: access_history.len(),
        drift: drift.len(),
        stale: assessed.stale.len(),
        revoked: found.findings.len(),
        plaintext: plaintext.len(),
        plaintext_findings: plaintext.iter().map(|p| p.count).sum(),
        integrity: integrity.len(),
        verified: None,
    };
    Ok(Report {
        schema: SCHEMA,
        shroud_version: crate::VERSION,
        generated_at: git::rfc3339(now_unix(opts)),
        header,
        summary,
        files: assessed.files,
        recipients,
        access_history,
        drift,
        stale: assessed.stale,
        revoked: found.findings,
        plaintext,
        integrity,
        notes,
    })
}

/// The repository around the audited directory (None outside git, with a note).
fn open_repo(root: &Path, notes: &mut Vec<String>) -> Result<Option<git::Repo>> {
    match git::Repo::open(root) {
        Ok(Some(r)) => {
            if r.is_shallow() {
                notes.push("shallow clone: changes older than its first commit are not known; a data key made before it is dated by lastmodified".into());
            }
            Ok(Some(r))
        }
        Ok(None) => {
            notes.push(
                "not a git repository: no key history; data-key ages are taken from lastmodified"
                    .into(),
            );
            Ok(None)
        }
        Err(git::GitError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(
                "git is not installed: no key history; data-key ages are taken from lastmodified"
                    .into(),
            );
            Ok(None)
        }
        Err(e) => Err(AuditError::from(e).into()),
    }
}

/// Every file's key history (one `cat-file --batch` for all of them).
fn file_keys(
    repo: Option<&git::Repo>,
    sops: &[SopsFound],
    notes: &mut Vec<String>,
) -> Result<Vec<FileKeys>> {
    let Some(repo) = repo else {
        return Ok(sops.iter().map(|_| FileKeys::default()).collect());
    };
    let mut t = timeline::Timeline::new(repo);
    let mut out = Vec::with_capacity(sops.len());
    for s in sops {
        let k = t.file(s).map_err(AuditError::from)?;
        if k.first_seen && k.made.is_none() {
            notes.push(format!(
                "{}: its history starts at the shallow clone's first commit, after its data key was made: the age shown is lastmodified's, a lower bound, and under a key-age policy the file counts as stale (fetch the whole history: git fetch --unshallow)",
                s.rel
            ));
        }
        out.push(k);
    }
    Ok(out)
}

/// What [`assess`] found per file.
struct Assessed {
    files: Vec<model::FileEntry>,
    stale: Vec<model::Stale>,
    notes: Vec<String>,
}

/// Inventory entries, key ages and stale findings.
fn assess(
    opts: &Options,
    root_abs: &Path,
    sops: &[SopsFound],
    keys: &[FileKeys],
    sections: &HashMap<PathBuf, policy::Section>,
    names: &NamesIn,
) -> Assessed {
    let now = now_unix(opts);
    let mut out = Assessed {
        files: Vec::with_capacity(sops.len()),
        stale: Vec::new(),
        notes: Vec::new(),
    };
    let mut uncompared: BTreeSet<String> = BTreeSet::new();
    for (s, k) in sops.iter().zip(keys) {
        if let (Some(cfg), Some(i)) = (&s.config, s.rule) {
            for t in checks::uncompared_types(&cfg.creation_rules[i]) {
                uncompared.insert(format!(
                    "{} (rule {i} of {}): its {} recipients are not compared (shroud cannot wrap for {} keys)",
                    config_label(root_abs, cfg),
                    i,
                    t.label(),
                    t.label()
                ));
            }
        }
        let (max_days, policy_src) = match (opts.max_key_age_days, &s.config) {
            (Some(d), _) => (Some(d), Some("--max-key-age".to_owned())),
            (None, Some(cfg)) => match sections.get(&cfg.path).and_then(|p| p.max_key_age_days) {
                Some(d) => (Some(d), Some(config_label(root_abs, cfg))),
                None => (None, None),
            },
            (None, None) => (None, None),
        };
        let (rotation, future) = rotation(s, k, now, max_days, policy_src);
        if let Some(t) = future {
            out.notes.push(format!(
                "{}: the date its data key was made ({}, from {}) is in the future: its age cannot be shown, so it never counts as fresh (a forged or skewed date)",
                s.rel,
                git::rfc3339(t),
                if rotation.source == Some("git") { "the commit" } else { "lastmodified" },
            ));
        }
        if rotation.stale {
            out.stale.push(model::Stale {
                path: s.rel.clone(),
                rotated_at: rotation.rotated_at.clone(),
                source: rotation.source,
                age_days: rotation.age_days,
                max_age_days: rotation.max_age_days.unwrap_or_default(),
                policy: rotation.policy.clone().unwrap_or_default(),
            });
        }
        out.files.push(file_entry(
            root_abs,
            s,
            k.git.clone(),
            rotation,
            &names.names,
        ));
    }
    out.notes.extend(uncompared);
    out
}

/// The report's header: where, what and under which policy.
fn header(
    opts: &Options,
    repo: Option<&git::Repo>,
    root_abs: &Path,
    in_force: &[Arc<Config>],
    sections: &HashMap<PathBuf, policy::Section>,
    names: &NamesIn,
) -> model::Header {
    model::Header {
        root: opts.root.display().to_string(),
        repository: repo.map(|r| r.toplevel().display().to_string()),
        path: repo.map(|r| r.prefix().trim_end_matches('/').to_owned()),
        remote: repo.and_then(|r| r.remote().map(str::to_owned)),
        branch: repo.and_then(|r| r.branch().map(str::to_owned)),
        head: repo.and_then(|r| r.head().map(str::to_owned)),
        scope: model::Scope {
            key_history: repo.is_some(),
            history: opts.history,
            verify: false,
        },
        policy: model::Policy {
            max_key_age_days: opts.max_key_age_days,
            max_key_age: in_force
                .iter()
                .filter_map(|c| {
                    let days = sections.get(&c.path)?.max_key_age_days?;
                    Some(model::ConfigAge {
                        config: config_label(root_abs, c),
                        days,
                    })
                })
                .collect(),
            names_file: names.path.as_ref().map(|p| shown_path(root_abs, p)),
            fail_on: {
                let mut f: Vec<Category> = opts.fail_on.clone();
                f.sort();
                f.dedup();
                f.into_iter().map(Category::name).collect()
            },
        },
    }
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

fn drift_order(d: &model::Drift) -> (u8, Option<usize>) {
    let kind = match d.kind {
        model::DriftKind::Uncovered { .. } => 0,
        model::DriftKind::MustEncrypt { .. } => 1,
        model::DriftKind::Recipients { .. } => 2,
        model::DriftKind::Threshold { .. } => 3,
        model::DriftKind::Rules { .. } => 4,
        model::DriftKind::Shadowed { .. } => 5,
    };
    (kind, d.rule)
}

/// How old a file's data key is, and whether that is older than its policy allows. A file
/// with a policy and no known key date is stale (its freshness cannot be shown), and so is one
/// whose key date is in the future (a forged or skewed date proves nothing): the second value
/// is that date, for a note.
fn rotation(
    s: &SopsFound,
    keys: &FileKeys,
    now: i64,
    max_days: Option<u64>,
    policy: Option<String>,
) -> (model::Rotation, Option<i64>) {
    if s.metadata.is_none() {
        // A damaged file has no data key to date: it is an integrity finding, not a stale one.
        let r = model::Rotation {
            max_age_days: max_days,
            policy,
            ..Default::default()
        };
        return (r, None);
    }
    let from_git = keys.made.as_ref().map(|c| (c.unix, "git"));
    let from_lastmodified = s
        .metadata
        .as_ref()
        .and_then(|m| Timestamp::parse_rfc3339(&m.lastmodified))
        .map(|t| (t.unix_seconds(), "lastmodified"));
    let at = from_git.or(from_lastmodified);
    let future = at.map(|(t, _)| t).filter(|t| *t > now);
    let age_secs = at.filter(|_| future.is_none()).map(|(t, _)| now - t);
    // A shallow clone that starts after the key was made: `lastmodified` is only a lower bound
    // of its age (edits move it too), so freshness cannot be shown: stale under a policy. A
    // date in the future shows nothing either.
    let unprovable = (keys.first_seen && keys.made.is_none()) || future.is_some();
    let stale = match (max_days, age_secs) {
        (Some(_), _) if unprovable => true,
        (Some(d), Some(a)) => a > (d as i64).saturating_mul(policy::DAY),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let r = model::Rotation {
        rotated_at: at.map(|(t, _)| git::rfc3339(t)),
        source: at.map(|(_, s)| s),
        age_days: age_secs.map(|a| (a / policy::DAY) as u64),
        max_age_days: max_days,
        policy,
        stale,
    };
    (r, future)
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
        unknown_readers: md.all_keys().any(|k| k.unnamed_reader().is_some()),
        shares_data_key_with: Vec::new(),
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

/// Files that share a data key (a ciphertext byte-identical across paths, e.g. a file copied and
/// re-wrapped for another rule): each lists the others, and a note names each group.
fn shared_keys(sops: &[SopsFound], files: &mut [model::FileEntry]) -> Vec<String> {
    let versions: Vec<Option<&history::Version>> =
        sops.iter().map(|s| s.version.as_ref()).collect();
    let mut notes = Vec::new();
    for group in history::shared_keys(&versions) {
        let paths: Vec<String> = group.iter().map(|&i| sops[i].rel.clone()).collect();
        for f in files.iter_mut() {
            if paths.contains(&f.path) {
                f.shares_data_key_with = paths.iter().filter(|p| **p != f.path).cloned().collect();
            }
        }
        notes.push(format!(
            "{} share one data key (a ciphertext is byte-identical in each: one was copied from another): whoever opens one of them reads them all; give each its own data key (`shroud rotate -i FILE`)",
            paths.join(", ")
        ));
    }
    notes
}

/// Each key group as the set of its recipients.
fn group_sets(md: &Metadata) -> Vec<BTreeSet<String>> {
    md.key_groups
        .iter()
        .map(|g| g.keys.iter().map(checks::recipient).collect())
        .collect()
}

/// The per-recipient view of every file's access.
fn recipients(files: &[model::FileEntry], names: &NamesIn) -> Vec<model::Recipient> {
    let mut by: BTreeMap<(crate::metadata::KeyKind, String), model::Recipient> = BTreeMap::new();
    for f in files {
        let sets: Vec<BTreeSet<String>> = f
            .key_groups
            .iter()
            .map(|g| g.iter().map(|k| k.recipient.clone()).collect())
            .collect();
        let mut done: BTreeSet<(crate::metadata::KeyKind, String)> = BTreeSet::new();
        for k in f.key_groups.iter().flatten() {
            let id = (k.kind, k.recipient.clone());
            if !done.insert(id.clone()) {
                continue;
            }
            let r = by.entry(id).or_insert_with(|| {
                let holder = names.names.get(&k.recipient);
                model::Recipient {
                    kind: k.kind,
                    recipient: k.recipient.clone(),
                    name: holder.map(|h| h.name.clone()),
                    holder: holder.and_then(|h| h.kind.clone()),
                    unnamed: names.path.is_some() && holder.is_none(),
                    revoked: holder.and_then(|h| h.revoked.clone()),
                    opens_alone: Vec::new(),
                    opens_via_shared_key: Vec::new(),
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
    // Files under one data key share their readers.
    let shared: BTreeMap<&str, &[String]> = files
        .iter()
        .map(|f| (f.path.as_str(), f.shares_data_key_with.as_slice()))
        .collect();
    for r in by.values_mut() {
        let own: Vec<String> = r.opens_alone.clone();
        for p in &own {
            for q in shared.get(p.as_str()).copied().unwrap_or_default() {
                if !r.opens_alone.contains(q) {
                    r.opens_alone.push(q.clone());
                    r.opens_via_shared_key.push(q.clone());
                }
            }
        }
        r.opens_alone.sort();
        r.opens_via_shared_key.sort();
    }
    by.into_values().collect()
}

/// A path as the report shows it: relative to the audited directory when inside it.
fn shown_path(root_abs: &Path, p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match abs.strip_prefix(root_abs) {
        Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
        Err(_) => p.display().to_string(),
    }
}

/// The note naming how many recipients the names file leaves unnamed.
fn unnamed_note(
    root_abs: &Path,
    recipients: &[model::Recipient],
    names: &NamesIn,
) -> Option<String> {
    let n = recipients.iter().filter(|r| r.unnamed).count();
    let path = names.path.as_ref()?;
    (n > 0).then(|| {
        format!(
            "{} does not name {n} recipient(s): they are shown by key and marked unnamed",
            shown_path(root_abs, path)
        )
    })
}

/// Every recipient added or removed, over every file, oldest first (the working copy last).
fn access_history(files: &[model::FileEntry], names: &names::Names) -> Vec<model::AccessChange> {
    let mut out = Vec::new();
    for f in files {
        let Some(g) = &f.git else { continue };
        for e in &g.events {
            let changes = e
                .added
                .iter()
                .map(|k| ("added", k))
                .chain(e.removed.iter().map(|k| ("removed", k)));
            for (change, k) in changes {
                out.push(model::AccessChange {
                    path: f.path.clone(),
                    change,
                    kind: k.kind,
                    recipient: k.recipient.clone(),
                    name: names.get(&k.recipient).map(|h| h.name.clone()),
                    revoked: names.get(&k.recipient).and_then(|h| h.revoked.clone()),
                    commit: e.commit.clone(),
                    event: e.kind,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        let key = |x: &model::AccessChange| {
            (
                x.commit.is_none(),
                x.commit.as_ref().map(|c| c.unix),
                x.path.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
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
    let root = PathBuf::from(&report.header.root);
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
            // The MAC holds, but the data key is also wrapped for someone no entry names (the
            // `envelope-unknown-reader` finding says which envelope): not a file to trust.
            Ok(()) if f.unknown_readers => {
                counts.failed += 1;
                model::Verify {
                    status: "failed",
                    detail: Some(
                        "the MAC verifies, but an envelope also opens for a party the file does not name"
                            .into(),
                    ),
                }
            }
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
    report.header.scope.verify = true;
    report.summary.integrity = report.integrity.len();
    report.summary.verified = Some(counts);
}
