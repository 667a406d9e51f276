//! Key maintenance for one file and for whole repositories: `updatekeys` (re-wrap the *same*
//! data key for the recipients `.sops.yaml` now asks for; no value ciphertext changes) and
//! `rotate` (a new data key, every value re-encrypted; recipients kept, added or removed).
//!
//! Owns: the per-file plan (recipient diff, threshold change), the candidate files under a
//! directory (every sops file, through `repo`), running files in parallel with
//! one data-key unwrap per file, and isolating failures: one bad file never stops or corrupts
//! the others, and every write is atomic.
//! Must not know: terminals, progress bars, prompts (the CLI owns those).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::document;
use crate::error::{Error, Result};
use crate::file;
use crate::fsutil::{self, Mode};
use crate::keysource::{self, KeySpec, Keyring};
use crate::metadata::Metadata;
use crate::repo::{self, Configs};
use crate::secret::DataKey;
use crate::store::{EmitOptions, Format};

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    /// The file was (or, in a dry run, would be) rewritten.
    Changed(Plan),
    Unchanged,
}

pub use crate::keysource::plan::{Plan, plan};

/// Options shared by both operations.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub dry_run: bool,
    /// `--config` override.
    pub config: Option<PathBuf>,
    pub input_type: Option<Format>,
    /// Override of the threshold from flags.
    pub shamir_threshold: Option<usize>,
    pub emit: EmitOptions,
    /// `updatekeys` that removes a key keeps the data key (sops's behaviour, and the drop-in
    /// mode's). Otherwise such an update gives the file a new data key in the same write: the
    /// removed key's envelopes in git history must not open values written afterwards.
    pub keep_data_key: bool,
}

/// Recipient changes for `rotate`.
#[derive(Clone, Debug, Default)]
pub struct KeyChanges {
    pub add: Vec<KeySpec>,
    /// Identities to remove (age recipients, KMS ARNs, PGP fingerprints).
    pub remove: Vec<String>,
}

fn label(p: &Path) -> String {
    p.display().to_string()
}

/// The file's read-modify-write lock (none for a dry run) and its bytes ([`file::read_locked`],
/// the one lock-and-read helper). A file another shroud process is changing fails with
/// [`Error::Busy`] rather than waiting inside a parallel run.
fn read_locked(path: &Path, opts: &Options) -> Result<(Option<fsutil::FileLock>, Vec<u8>)> {
    if opts.dry_run {
        return Ok((None, file::read(path)?.expose().to_vec()));
    }
    let locked = file::read_locked(path, file::Wait::No)?;
    Ok((Some(locked.lock), locked.bytes.expose().to_vec()))
}

fn format_of(path: &Path, opts: &Options) -> Format {
    opts.input_type.unwrap_or_else(|| Format::from_path(path))
}

/// Re-wraps the file's data key for the recipients its creation rule asks for now.
/// Value ciphertexts, the MAC and `lastmodified` stay as they are.
pub(crate) async fn updatekeys_file(
    path: &Path,
    cfg: Option<&Config>,
    keyring: &Keyring,
    opts: &Options,
) -> Result<Outcome> {
    let file = label(path);
    let (_lock, bytes) = read_locked(path, opts)?;
    let format = format_of(path, opts);
    let (tree, mut md) = document::load_encrypted(&file, format, &bytes)?;
    let Some(cfg) = cfg else {
        return Err(Error::Invalid(format!(
            "{file}: no .sops.yaml applies to this file, so updatekeys does not know which keys it should have (use --config, or rotate --add-*/--rm-*)"
        )));
    };
    let rule = cfg.rule_for(path)?;
    let threshold = opts.shamir_threshold.unwrap_or(rule.shamir_threshold);
    if rule.groups.iter().all(|g| g.is_empty()) {
        return Err(Error::Invalid(format!(
            "{file}: its creation rule in {} lists no age or KMS keys",
            cfg.path.display()
        )));
    }
    let mut p = plan(&md, &rule.groups, threshold);
    if p.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    if p.removes_access() && !opts.keep_data_key {
        p.new_data_key = true;
        if opts.dry_run {
            return Ok(Outcome::Changed(p));
        }
        let out = rekey_bytes(
            &file,
            format,
            &bytes,
            keyring,
            &rule.groups,
            threshold,
            opts,
        )
        .await?;
        file::write(path, &out, Mode::KeepOr(0o644))?;
        return Ok(Outcome::Changed(p));
    }
    if opts.dry_run {
        return Ok(Outcome::Changed(p));
    }
    let key = keyring
        .unwrap_data_key(&md)
        .await
        .map_err(|source| Error::Key {
            file: file.clone(),
            source,
        })?;
    let (groups, t) = keysource::rewrap_groups(keyring, &key, &rule.groups, threshold, &md)
        .await
        .map_err(|source| Error::Key {
            file: file.clone(),
            source,
        })?;
    md.key_groups = groups;
    md.shamir_threshold = t;
    let out = document::emit_encrypted(&file, format, tree, &md, opts.emit)?;
    file::write(path, &out, Mode::KeepOr(0o644))?;
    Ok(Outcome::Changed(p))
}

/// The file's current recipients as specs, with `changes` applied.
/// A removal that would leave a key group with no key is refused: its share (or the data key)
/// would be wrapped for nobody.
fn rotated_specs(file: &str, md: &Metadata, changes: &KeyChanges) -> Result<Vec<Vec<KeySpec>>> {
    let mut groups = current_specs(file, md, &changes.remove)?;
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    groups[0].extend(changes.add.iter().cloned());
    for (gi, (g, old)) in groups.iter().zip(&md.key_groups).enumerate() {
        if g.is_empty() && !old.keys.is_empty() {
            return Err(Error::Invalid(format!(
                "{file}: key group {gi} would have no key left after removing {}; add its replacement to the group first (`shroud groups add`, or the rule and `shroud updatekeys`)",
                changes.remove.join(", ")
            )));
        }
    }
    Ok(groups)
}

pub(crate) use crate::document::current_specs;

/// A key-group change (`groups add` / `groups rm`, sops's `groups add` / `groups delete`).
#[derive(Clone, Debug)]
pub enum GroupChange {
    /// Append a key group holding these keys.
    Add(Vec<KeySpec>),
    /// Remove the key group at this index (0-based, as sops counts).
    Remove(usize),
}

/// Adds or removes one key group. The data key stays (values, MAC and `lastmodified` are
/// untouched); with several groups it is split afresh, one share per group. The threshold is
/// `opts.shamir_threshold` when given, else the file's (a file without one needs every group).
pub async fn regroup_bytes(
    file: &str,
    format: Format,
    bytes: &[u8],
    keyring: &Keyring,
    change: &GroupChange,
    opts: &Options,
) -> Result<(Vec<u8>, Plan)> {
    let (tree, mut md) = document::load_encrypted(file, format, bytes)?;
    let mut groups = current_specs(file, &md, &[])?;
    match change {
        GroupChange::Add(keys) => {
            if keys.is_empty() {
                return Err(Error::Usage(format!(
                    "{file}: the new key group has no keys (give --age, --pgp or --kms)"
                )));
            }
            groups.push(keys.clone());
        }
        GroupChange::Remove(i) => {
            if *i >= groups.len() {
                return Err(Error::Invalid(format!(
                    "{file}: there is no key group {i} (the file has {} key group{}, counted from 0)",
                    groups.len(),
                    if groups.len() == 1 { "" } else { "s" }
                )));
            }
            if groups.len() == 1 {
                return Err(Error::Invalid(format!(
                    "{file}: key group {i} is the file's only key group; removing it would leave no key that opens the file"
                )));
            }
            groups.remove(*i);
        }
    }
    let threshold = opts.shamir_threshold.unwrap_or(md.shamir_threshold);
    if threshold > groups.len() {
        return Err(Error::Invalid(format!(
            "{file}: the Shamir threshold would be {threshold} with only {} key group{}, so nothing could open the file (lower it with --shamir-secret-sharing-threshold)",
            groups.len(),
            if groups.len() == 1 { "" } else { "s" }
        )));
    }
    let p = plan(&md, &groups, threshold);
    let key = keyring
        .unwrap_data_key(&md)
        .await
        .map_err(|source| Error::Key {
            file: file.to_owned(),
            source,
        })?;
    let (key_groups, t) = keysource::rewrap_groups(keyring, &key, &groups, threshold, &md)
        .await
        .map_err(|source| Error::Key {
            file: file.to_owned(),
            source,
        })?;
    md.key_groups = key_groups;
    md.shamir_threshold = t;
    let out = document::emit_encrypted(file, format, tree, &md, opts.emit)?;
    Ok((out, p))
}

/// Gives a file a new data key wrapped for `groups` and re-encrypts every value under it, in
/// memory. Returns the new bytes.
async fn rekey_bytes(
    file: &str,
    format: Format,
    bytes: &[u8],
    keyring: &Keyring,
    groups: &[Vec<KeySpec>],
    threshold: usize,
    opts: &Options,
) -> Result<Vec<u8>> {
    let opened = document::open(file, format, bytes, keyring, false).await?;
    rekey_opened(file, format, opened, keyring, groups, threshold, opts).await
}

/// [`rekey_bytes`] for a file already opened.
async fn rekey_opened(
    file: &str,
    format: Format,
    mut opened: document::Opened,
    keyring: &Keyring,
    groups: &[Vec<KeySpec>],
    threshold: usize,
    opts: &Options,
) -> Result<Vec<u8>> {
    let new_key = DataKey::generate();
    let (key_groups, t) = keysource::wrap_data_key(keyring, &new_key, groups, threshold)
        .await
        .map_err(|source| Error::Key {
            file: file.to_owned(),
            source,
        })?;
    opened.metadata.key_groups = key_groups;
    opened.metadata.shamir_threshold = t;
    let mut cipher = crate::crypto::Cipher::new(&new_key);
    document::seal(file, &mut opened.tree, &mut opened.metadata, &mut cipher)?;
    document::emit_encrypted(file, format, opened.tree, &opened.metadata, opts.emit)
}

/// Rotates one file: a new data key, every value re-encrypted, recipients kept (plus `add`,
/// minus `remove`). Returns the new bytes, the plan, and the key groups the file now has.
pub async fn rotate_bytes(
    file: &str,
    format: Format,
    bytes: &[u8],
    keyring: &Keyring,
    changes: &KeyChanges,
    opts: &Options,
) -> Result<(Vec<u8>, Plan)> {
    let opened = document::open(file, format, bytes, keyring, false).await?;
    let groups = rotated_specs(file, &opened.metadata, changes)?;
    let mut p = plan(&opened.metadata, &groups, opened.metadata.shamir_threshold);
    p.new_data_key = true;
    let threshold = opts
        .shamir_threshold
        .unwrap_or(opened.metadata.shamir_threshold);
    let out = rekey_opened(file, format, opened, keyring, &groups, threshold, opts).await?;
    Ok((out, p))
}

/// How `groups` (a file's keys after a rotation) differ from what its creation rule asks for:
/// `+wanted -extra`, or `None` when they match (or no rule applies). Keys the rotation removes
/// (`removed`) are not wanted, whatever the rule said when it was loaded: the rotation takes
/// them out of the rules too (`-r`), and advising to add them back would undo it.
pub fn drift(
    path: &Path,
    cfg: Option<&Config>,
    groups: &[Vec<KeySpec>],
    removed: &[String],
) -> Option<String> {
    let rule = cfg?.rule_for(path).ok()?;
    if rule.groups.iter().all(|g| g.is_empty()) {
        return None;
    }
    let removed = crate::keysource::Named::new(removed);
    let wanted: Vec<Vec<KeySpec>> = rule
        .groups
        .iter()
        .map(|g| {
            g.iter()
                .filter(|k| !removed.matches_spec(k))
                .cloned()
                .collect()
        })
        .filter(|g: &Vec<KeySpec>| !g.is_empty())
        .collect();
    let ids = |gs: &[Vec<KeySpec>]| -> Vec<BTreeSet<String>> {
        gs.iter()
            .map(|g| g.iter().map(KeySpec::label).collect())
            .collect()
    };
    let (have, want) = (ids(groups), ids(&wanted));
    if have == want {
        return None;
    }
    let all_have: BTreeSet<&String> = have.iter().flatten().collect();
    let all_want: BTreeSet<&String> = want.iter().flatten().collect();
    let mut parts: Vec<String> = all_want
        .difference(&all_have)
        .map(|k| format!("+{}", crate::text::shorten_keys(k)))
        .collect();
    parts.extend(
        all_have
            .difference(&all_want)
            .map(|k| format!("-{}", crate::text::shorten_keys(k))),
    );
    if parts.is_empty() {
        parts.push(format!(
            "key groups differ: {} in the file, {} in the rule",
            have.len(),
            want.len()
        ));
    }
    Some(parts.join(" "))
}

/// Rotates a file in place.
pub(crate) async fn rotate_file(
    path: &Path,
    cfg: Option<&Config>,
    keyring: &Keyring,
    changes: &KeyChanges,
    opts: &Options,
) -> Result<Outcome> {
    let file = label(path);
    let (_lock, bytes) = read_locked(path, opts)?;
    let format = format_of(path, opts);
    let (_, md) = document::load_encrypted(&file, format, &bytes)?;
    let groups = rotated_specs(&file, &md, changes)?;
    if opts.dry_run {
        let mut p = plan(&md, &groups, md.shamir_threshold);
        p.new_data_key = true;
        p.drift = drift(path, cfg, &groups, &changes.remove);
        return Ok(Outcome::Changed(p));
    }
    let (out, mut p) = rotate_bytes(&file, format, &bytes, keyring, changes, opts).await?;
    p.drift = drift(path, cfg, &groups, &changes.remove);
    file::write(path, &out, Mode::KeepOr(0o644))?;
    Ok(Outcome::Changed(p))
}

/// A file to process: its path, the config that applies to it (if any), and, for a file that
/// looks like a sops file but cannot be read as one, why.
#[derive(Clone, Debug)]
pub struct Target {
    pub path: PathBuf,
    pub config: Option<Arc<Config>>,
    pub damage: Option<String>,
}

impl Target {
    /// A file named on the command line, with the config that applies to it.
    pub fn file(path: PathBuf, configs: &Configs) -> Result<Target> {
        Ok(Target {
            config: configs.for_file(&path)?,
            path,
            damage: None,
        })
    }
}

/// Every sops file under `dir` (the repository walk: every tracked file, `.gitignore` or not),
/// with the config that applies to each. Damaged sops files are included (they fail loudly instead of being skipped), and so
/// are sops files no creation rule matches.
pub fn candidates(
    dir: &Path,
    configs: &Configs,
    input_type: Option<Format>,
) -> Result<Vec<Target>> {
    let found = repo::sops_files(dir, input_type)?;
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        out.push(Target {
            config: configs.for_file(&f.path)?,
            path: f.path,
            damage: f.damage,
        });
    }
    Ok(out)
}

/// The proved edits that take `named` keys out of the creation rules of every config that
/// applies to `targets` (`rotate --rm-*`). Refuses, before anything is written, an edit that
/// would leave a rule or key group without keys.
pub fn rule_edits(
    targets: &[Target],
    named: &keysource::Named,
) -> Result<Vec<crate::config::edit::Edit>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for t in targets {
        let Some(cfg) = &t.config else { continue };
        if !seen.insert(cfg.path.clone()) {
            continue;
        }
        let text = std::fs::read_to_string(&cfg.path).map_err(|source| Error::Read {
            file: cfg.path.display().to_string(),
            source,
        })?;
        match crate::config::edit::remove_keys(&cfg.path, &text, named) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(crate::config::edit::EditError::Config(c)) => return Err(c.into()),
            Err(e) => {
                return Err(Error::Invalid(format!(
                    "{e}; nothing was changed (to keep the key in the rule and only rotate, remove it later with `shroud keys revoke`)"
                )));
            }
        }
    }
    Ok(out)
}

/// Which operation a repository-wide run performs.
#[derive(Clone, Debug)]
pub enum Job {
    UpdateKeys,
    Rotate(KeyChanges),
}

/// Runs `job` over `files` with at most `parallel` files in flight (the one bulk runner,
/// [`crate::bulk::run`]). `progress` is called after each file. Results come back in input
/// order.
pub async fn run_many(
    files: Vec<Target>,
    job: Job,
    keyring: Arc<Keyring>,
    opts: Options,
    parallel: usize,
    progress: crate::bulk::Progress,
) -> Vec<(PathBuf, Result<Outcome>)> {
    let items = files.into_iter().map(|t| (t.path.clone(), t)).collect();
    crate::bulk::run(items, parallel, progress, |_, target| {
        let (job, keyring, opts) = (job.clone(), keyring.clone(), opts.clone());
        async move { Box::pin(run_one(target, &job, &keyring, &opts)).await }
    })
    .await
}

/// One file of [`run_many`] (a task of the bulk runner).
pub async fn run_one(
    target: Target,
    job: &Job,
    keyring: &Keyring,
    opts: &Options,
) -> Result<Outcome> {
    let Target {
        path,
        config,
        damage,
    } = target;
    match (damage, job) {
        (Some(why), _) => Err(Error::Damaged {
            file: label(&path),
            why,
        }),
        (None, Job::UpdateKeys) => updatekeys_file(&path, config.as_deref(), keyring, opts).await,
        (None, Job::Rotate(changes)) => {
            rotate_file(&path, config.as_deref(), keyring, changes, opts).await
        }
    }
}
