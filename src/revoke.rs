//! Revocation: locking keys out of a repository for good (`shroud keys revoke`), and the
//! exposure report that says what they could read.
//!
//! A revoked key must open nothing written after the revocation, even for someone holding the
//! key and a full clone of the history. So, in one operation: the key leaves every creation rule
//! of every `.sops.yaml` (so no later `updatekeys` brings it back), and every sops file that
//! lists it (every file git tracks, `.gitignore` or not) gets a new data key in the same write
//! that drops the key's envelope: no state, on disk or in a commit, has a new data key wrapped
//! for it. Afterwards every file is read again; any that still lists the key fails the run.
//!
//! The exposure report needs no private key: every version of every file in the history of
//! every ref (of the repository and of every repository nested in it, such as a submodule)
//! whose envelopes include a revoked key exposed the encrypted values of that version.
//! With a key that opens those versions, each exposed value is compared with today's by a keyed
//! digest (never printed, the digest key never stored): values still the same are live
//! exposures, credentials to change at their source.
//!
//! Owns: the plan (config edits, files to re-key, refusals), its application through the bulk
//! runner of [`crate::rotate`], the verification, and the exposure report. Must not know:
//! terminals, prompts, output formats.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::edit::{self, Edit, EditError};
use crate::document;
use crate::error::{ExitCode, Failure};
use crate::fsutil;
use crate::git;
use crate::keysource::{Keyring, Named};
use crate::metadata::{MasterKey, Metadata};
use crate::repo::{self, Configs};
use crate::rotate::{self, Job, KeyChanges, Outcome, Target};
use crate::store::Format;
use crate::tree::Tree;

/// Why a revocation cannot go ahead or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(
        "{file}: key group {group} would have no key left after removing {removed}; add its replacement to that group first (`shroud groups add`, or the rule and `shroud updatekeys`), then revoke"
    )]
    GroupEmptied {
        file: String,
        group: usize,
        removed: String,
    },
    #[error(
        "{}: no creation rule, no sops file and no version in the git history under {root} lists it; nothing was changed (check the spelling: `shroud audit` lists every recipient)",
        crate::text::shorten_keys(&.keys.join(", "))
    )]
    NotFound { keys: Vec<String>, root: String },
    #[error(
        "{given}: a private key was given where a recipient belongs; it was not used or printed. Give its public key (age-keygen -y KEYFILE prints it)"
    )]
    PrivateKey { given: String },
    #[error(
        "the revocation is NOT complete: {} still list a revoked key or could not be checked ({}); run `shroud keys revoke` again once they can be opened",
        plural(.files.len(), "file"), .files.join(", ")
    )]
    Incomplete { files: Vec<String> },
    #[error(
        "{} cannot be opened with the keys at hand ({}; {why}); nothing was changed. Each gets a new data key, which needs a key that opens it: point SOPS_AGE_KEY_FILE (or the file's other key sources) at a remaining recipient's key and run it again",
        plural(.files.len(), "file"), .files.join(", ")
    )]
    Unopenable { files: Vec<String>, why: String },
    #[error(
        "the revocation is NOT complete: this branch is clean, but these refs still list a revoked key or hold a data key it unwraps: {}; run `shroud keys revoke` on each (git switch REF) and push, or delete them",
        crate::text::sanitize(&.refs.join("; "))
    )]
    OtherRefs { refs: Vec<String> },
    #[error(
        "{}: its MAC does not verify (changed without re-encrypting, or corrupt), so it got no new data key and still lists the revoked key: restore it from git (or check it with `shroud decrypt --ignore-mac` and encrypt it again), then run `shroud keys revoke` again",
        crate::text::sanitize(.file)
    )]
    Unverified { file: String, code: ExitCode },
    #[error("{0}")]
    Walk(String),
}

impl Failure for RevokeError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RevokeError::Edit(EditError::Config(_)) => ExitCode::InvalidConfig,
            RevokeError::Edit(_) | RevokeError::GroupEmptied { .. } => ExitCode::InvalidConfig,
            RevokeError::NotFound { .. } | RevokeError::PrivateKey { .. } => ExitCode::Usage,
            RevokeError::Incomplete { .. } | RevokeError::OtherRefs { .. } => ExitCode::Generic,
            RevokeError::Unopenable { .. } => ExitCode::CouldNotRetrieveKey,
            RevokeError::Walk(_) => ExitCode::CouldNotReadInput,
            RevokeError::Unverified { code, .. } => *code,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn procedure(e: RevokeError) -> crate::error::Error {
    crate::error::Error::Procedure {
        file: None,
        failure: Box::new(e),
    }
}

/// The keys to revoke, checked: a private key is refused without being echoed.
pub fn named(given: &[String]) -> Result<Named, crate::error::Error> {
    for g in given {
        if g.trim().to_ascii_uppercase().starts_with("AGE-SECRET-KEY-")
            || g.trim().starts_with("AGE-PLUGIN-")
        {
            return Err(procedure(RevokeError::PrivateKey {
                given: "the argument".into(),
            }));
        }
        // A mistyped age or SSH recipient is refused as malformed, not searched for.
        let t = g.trim();
        if (t.starts_with("age1") || t.starts_with("ssh-"))
            && let Err(source) = crate::keysource::age::Recipient::parse(t)
        {
            return Err(crate::error::Error::Key {
                file: "keys revoke".into(),
                source,
            });
        }
    }
    Ok(Named::new(given))
}

/// What a revocation will do.
#[derive(Debug)]
pub struct Plan {
    pub named: Named,
    pub root: PathBuf,
    /// The config given with `--config`/`SOPS_CONFIG`, if any.
    pub config: Option<PathBuf>,
    /// Proved edits of every config inside the repository whose rules list a revoked key (a
    /// symlinked `.sops.yaml` is edited at its target).
    pub edits: Vec<Edit>,
    /// Configs whose rules list a revoked key but that are outside the repository: not
    /// changed, so the run cannot be complete.
    pub outside: Vec<PathBuf>,
    /// Every sops file that lists a revoked key: each gets a new data key without it.
    pub files: Vec<Target>,
    /// Sops files that look damaged: they cannot be checked, so the run cannot be complete.
    pub damaged: Vec<(PathBuf, String)>,
    /// Revoked keys found in no rule and no file.
    pub unmatched: Vec<String>,
    /// Files of `files` that no longer list a revoked key, but whose data key a revoked key
    /// could unwrap from a version in history (or that cannot be proven not to be).
    pub history_only: Vec<PathBuf>,
    /// Files of `files` that list no revoked key but have an envelope that may open for a
    /// party it does not name ([`may_open`]).
    pub unnamed_readers: Vec<PathBuf>,
}

impl Plan {
    /// Whether nothing lists a revoked key any more (it was revoked already, or never used).
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
            && self.outside.is_empty()
            && self.files.is_empty()
            && self.damaged.is_empty()
    }
}

/// Fails when the keys are found nowhere: in no rule, no file, and no version in history (a
/// typo, most likely).
pub fn check_found(plan: &Plan, exposure: &Exposure) -> crate::error::Result<()> {
    if plan.is_empty() && exposure.files.is_empty() {
        return Err(procedure(RevokeError::NotFound {
            keys: plan.named.given().to_vec(),
            root: plan.root.display().to_string(),
        }));
    }
    Ok(())
}

/// Whether `md` lists one of the named keys.
pub fn lists(md: &Metadata, named: &Named) -> bool {
    md.all_keys().any(|k| named.matches_key(k))
}

/// Whether a named key may open the file `md` belongs to: it lists one, or one of its
/// envelopes may open for a party it does not name (an age envelope with a second recipient
/// stanza: [`MasterKey::unnamed_reader`]), who may be the revoked key. Such a file gets a new
/// data key, wrapped afresh for the keys it names.
pub fn may_open(md: &Metadata, named: &Named) -> bool {
    lists(md, named) || md.all_keys().any(|k| k.unnamed_reader().is_some())
}

/// Plans the revocation of `named` under `root` (a repository, or any directory): reads every
/// config whose rules apply there (see [`config_paths`]) and every sops file of the walk, and
/// refuses, before anything is written, a change that would leave a rule or a key group without
/// keys. `explicit` is `--config`/`SOPS_CONFIG`, as for every other verb.
pub fn plan(root: &Path, named: &Named, explicit: Option<&Path>) -> crate::error::Result<Plan> {
    let all = repo::files(root)?;
    let mut edits = Vec::new();
    let mut outside = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let top = repository_top(root);
    for (shown, real) in config_paths(explicit, &all) {
        let text = std::fs::read_to_string(&real).map_err(|source| crate::error::Error::Read {
            file: shown.display().to_string(),
            source,
        })?;
        if let Some(e) = edit::remove_keys(&real, &text, named)
            .map_err(RevokeError::from)
            .map_err(procedure)?
        {
            seen.extend(e.removed.iter().map(|r| r.identity.clone()));
            if real.starts_with(&top) {
                edits.push(e);
            } else {
                outside.push(shown);
            }
        }
    }
    let configs = Configs::new(explicit)?;
    let mut files = Vec::new();
    let mut damaged = Vec::new();
    let mut unnamed_readers = Vec::new();
    for f in sops_files(root)? {
        if let Some(why) = f.damage {
            damaged.push((f.path, why));
            continue;
        }
        let bytes = fsutil::read_file(&f.path).map_err(|source| crate::error::Error::Read {
            file: f.path.display().to_string(),
            source,
        })?;
        let (_, md) = document::load_encrypted(&f.path.display().to_string(), f.format, &bytes)?;
        if !may_open(&md, named) {
            continue;
        }
        if !lists(&md, named) {
            unnamed_readers.push(f.path.clone());
        }
        for (gi, g) in md.key_groups.iter().enumerate() {
            let hits: Vec<&MasterKey> = g.keys.iter().filter(|k| named.matches_key(k)).collect();
            seen.extend(hits.iter().map(|k| k.identity()));
            if !hits.is_empty() && hits.len() == g.keys.len() {
                return Err(procedure(RevokeError::GroupEmptied {
                    file: f.path.display().to_string(),
                    group: gi,
                    removed: hits
                        .iter()
                        .map(|k| k.shown())
                        .collect::<Vec<_>>()
                        .join(", "),
                }));
            }
        }
        files.push(Target {
            config: configs.for_file(&f.path)?,
            path: f.path,
            damage: None,
        });
    }
    let unmatched: Vec<String> = named
        .unmatched(&seen)
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(Plan {
        named: named.clone(),
        root: root.to_path_buf(),
        config: explicit.map(Path::to_path_buf),
        edits,
        outside,
        files,
        damaged,
        unmatched,
        history_only: Vec::new(),
        unnamed_readers,
    })
}

/// The repository's top (the directory itself outside git), its real path: configs inside it
/// are edited, configs outside it are not.
fn repository_top(root: &Path) -> PathBuf {
    let top = git::toplevel(root).unwrap_or_else(|| root.to_path_buf());
    std::fs::canonicalize(&top).unwrap_or(top)
}

/// Every config whose rules apply to a file of the walk `all`, as (the path it is known by, its
/// real path): `explicit` (`--config`/`SOPS_CONFIG`), every `.sops.yaml` of the walk, and the one
/// [`crate::config::find`] (the lookup every verb uses) finds for each walked file's directory,
/// so a symlinked `.sops.yaml` and one above the walked directory count. Without `explicit`,
/// other runs would still use the `.sops.yaml` files, so they count with it too. One entry per
/// real path.
fn config_paths(explicit: Option<&Path>, all: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut found: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
    let mut dirs = BTreeSet::new();
    for p in all {
        if p.file_name().is_some_and(|n| n == ".sops.yaml") {
            found.push(p.clone());
        }
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    found.extend(dirs.iter().filter_map(|d| crate::config::find(d)));
    let mut out: Vec<(PathBuf, PathBuf)> = Vec::new();
    for shown in found {
        let real = std::fs::canonicalize(&shown).unwrap_or_else(|_| shown.clone());
        if !out.iter().any(|(_, r)| *r == real) {
            out.push((shown, real));
        }
    }
    out
}

/// Every sops file under `root`, as [`repo::sops_files`] finds them, and also those larger than
/// the walk's cap for sniffing ([`repo::MAX_SOPS_FILE`]) whose first or last bytes look like a
/// sops file: a revocation handles them (read up to the input limit); one that cannot be read
/// is reported as damaged, so the run cannot be complete.
fn sops_files(root: &Path) -> crate::error::Result<Vec<repo::SopsFile>> {
    let mut out = repo::sops_files(root, None)?;
    for path in repo::files(root)? {
        if path.file_name().is_some_and(|n| n == ".sops.yaml")
            || !std::fs::metadata(&path).is_ok_and(|m| m.len() > repo::MAX_SOPS_FILE)
            || !may_be_sops(&path)
        {
            continue;
        }
        let format = Format::from_path(&path);
        let damage = match fsutil::read_file(&path) {
            Ok(bytes) => match document::sniff(format, &bytes) {
                document::Sniff::Plain => continue,
                document::Sniff::Sops => None,
                document::Sniff::Damaged(e) => Some(e),
            },
            Err(e) => Some(format!(
                "a large file that may be a sops file cannot be read: {e}"
            )),
        };
        out.push(repo::SopsFile {
            path,
            format,
            damage,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Whether a large file may be a sops file: its first or last 64 KiB hold an encrypted value or
/// the `sops` metadata key (every store writes one of them at the start or the end).
fn may_be_sops(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    const EDGE: u64 = 64 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return true;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut look = |from: u64| -> bool {
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(from)).is_err()
            || f.by_ref().take(EDGE).read_to_end(&mut buf).is_err()
        {
            return true;
        }
        let has = |needle: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
        has(b"ENC[AES256_GCM,") || has(b"sops")
    };
    look(0) || look(len.saturating_sub(EDGE))
}

impl Plan {
    /// Adds the files whose current data key a revoked key could unwrap from history (see
    /// [`DataKeyState`]): they get a new data key too, or the revoked key would still read them
    /// with an envelope from an older commit.
    pub fn add_exposed(&mut self, exposure: &Exposure) -> crate::error::Result<()> {
        let configs = Configs::new(self.config.as_deref())?;
        for f in &exposure.files {
            if f.data_key == DataKeyState::Listed || !f.data_key.needs_rekey() {
                continue;
            }
            let path = exposure.base.join(&f.path);
            if self.files.iter().any(|t| same_file(&t.path, &path)) {
                continue;
            }
            self.files.push(Target {
                config: configs.for_file(&path)?,
                path: path.clone(),
                damage: None,
            });
            self.history_only.push(path);
        }
        Ok(())
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Applied {
    /// Per re-keyed file: its outcome.
    pub files: Vec<(PathBuf, crate::error::Result<Outcome>)>,
    /// Files that still list a revoked key (or could not be read) after the run.
    pub remaining: Vec<String>,
    /// Other refs whose tip still lists a revoked key (see [`refs_listing`]).
    pub refs: Vec<String>,
}

/// Applies a plan: the configs first (so a later `updatekeys` cannot bring a key back even if
/// the run stops half-way), then every file gets a new data key without the revoked envelopes,
/// in parallel, each write atomic. Then everything under the root is read again.
pub async fn apply(
    plan: &Plan,
    exposure: &Exposure,
    keyring: Arc<Keyring>,
    opts: rotate::Options,
    parallel: usize,
    progress: Arc<dyn Fn(&Path) + Send + Sync>,
) -> crate::error::Result<Applied> {
    check_openable(plan, &keyring).await?;
    for e in &plan.edits {
        e.write().map_err(|source| crate::error::Error::Write {
            file: e.path.display().to_string(),
            source,
        })?;
    }
    let changes = KeyChanges {
        add: Vec::new(),
        remove: plan.named.given().to_vec(),
    };
    let files = rotate::run_many(
        plan.files.clone(),
        Job::Rotate(changes),
        keyring,
        opts,
        parallel,
        progress,
    )
    .await;
    let remaining = verify(&plan.root, &plan.named, plan.config.as_deref())?;
    let refs = refs_listing(&plan.root, &plan.named, plan.config.as_deref(), exposure)?;
    Ok(Applied {
        files,
        remaining,
        refs,
    })
}

/// Refuses, before anything is written, a revocation whose files the keys at hand cannot
/// open: each needs a new data key, so changing the rules and then failing on the files would
/// leave the repository half revoked. Damaged files are the plan's own report, not this one.
pub async fn check_openable(plan: &Plan, keyring: &Keyring) -> crate::error::Result<()> {
    let mut files = Vec::new();
    let mut why = None;
    for t in plan.files.iter().filter(|t| t.damage.is_none()) {
        let label = t.path.display().to_string();
        // The data key alone: whether it unwraps is the question, not the values.
        let format = Format::from_path(&t.path);
        let opened = match crate::file::read(&t.path)
            .and_then(|bytes| document::load_encrypted(&label, format, bytes.expose()))
        {
            Ok((_, md)) => keyring
                .unwrap_data_key(&md)
                .await
                .map(|_| ())
                .map_err(|source| crate::error::Error::Key {
                    file: label.clone(),
                    source,
                }),
            Err(e) => Err(e),
        };
        if let Err(e) = opened
            && e.exit_code() == ExitCode::CouldNotRetrieveKey
        {
            why.get_or_insert_with(|| e.to_string());
            files.push(label);
        }
    }
    match why {
        None => Ok(()),
        Some(why) => Err(procedure(RevokeError::Unopenable { files, why })),
    }
}

/// Every sops file or config under `root` (see [`config_paths`]) that still lists a named key,
/// or that cannot be read to tell.
pub fn verify(
    root: &Path,
    named: &Named,
    explicit: Option<&Path>,
) -> crate::error::Result<Vec<String>> {
    let mut out = Vec::new();
    let all = repo::files(root)?;
    for (shown, real) in config_paths(explicit, &all) {
        let still = std::fs::read(&real)
            .ok()
            .and_then(|t| crate::config::parse(&real, &t).ok())
            .map(|c| config_lists(&c, named));
        if still != Some(false) {
            out.push(shown.display().to_string());
        }
    }
    for f in sops_files(root)? {
        let shown = f.path.display().to_string();
        if f.damage.is_some() {
            out.push(shown);
            continue;
        }
        match fsutil::read_file(&f.path) {
            Ok(bytes) => match document::load_encrypted(&shown, f.format, &bytes) {
                Ok((_, md)) if !may_open(&md, named) => {}
                _ => out.push(shown),
            },
            Err(_) => out.push(shown),
        }
    }
    Ok(out)
}

fn config_lists(c: &crate::config::Config, named: &Named) -> bool {
    c.creation_rules
        .iter()
        .flat_map(|r| r.groups.iter().flatten())
        .any(|k| named.matches_spec(k))
}

/// Every local branch and remote-tracking ref whose tip still has a config or a sops file that
/// lists a named key (or a config that cannot be read to tell), or a sops file whose data key a
/// named key could unwrap from some version in history (found by [`exposure`]: see
/// [`Exposure::refs`]), as `REF (path, path: why)`. The checked-out branch is left out: its
/// state is the working tree's, which [`verify`] reads. A revocation works on the working tree;
/// these are what it did not reach.
pub fn refs_listing(
    root: &Path,
    named: &Named,
    explicit: Option<&Path>,
    exposure: &Exposure,
) -> crate::error::Result<Vec<String>> {
    let top = git::toplevel(root);
    let base = top.clone().unwrap_or_else(|| root.to_path_buf());
    let nested = nested_repositories(&base, &repo::files(root)?);
    let mut out = Vec::new();
    let repos = top.iter().map(|t| (t.clone(), String::new()));
    for (dir, rel) in repos.chain(nested) {
        out.extend(refs_listing_in(&dir, &rel, named, explicit, exposure)?);
    }
    Ok(out)
}

/// [`refs_listing`] of one repository, at `rel` under the base (empty: the base's own).
fn refs_listing_in(
    top: &Path,
    rel: &str,
    named: &Named,
    explicit: Option<&Path>,
    exposure: &Exposure,
) -> crate::error::Result<Vec<String>> {
    let top = top.to_path_buf();
    let git_err = |e: git::GitError| procedure(RevokeError::Walk(e.to_string()));
    let real_top = std::fs::canonicalize(&top).unwrap_or_else(|_| top.clone());
    let explicit_rel = explicit
        .and_then(|e| std::fs::canonicalize(e).ok())
        .and_then(|e| e.strip_prefix(&real_top).ok().map(Path::to_path_buf))
        .map(|p| p.to_string_lossy().into_owned());
    let mut blobs = git::Blobs::new(&top);
    let mut judged: HashMap<(String, bool), bool> = HashMap::new();
    let mut out = Vec::new();
    for (name, tip) in other_ref_tips(&top).map_err(git_err)? {
        let entries = tip_entries(&top, &tip).map_err(git_err)?;
        let mut hits = Vec::new();
        for (path, (mode, oid)) in &entries {
            let is_config = path.rsplit('/').next() == Some(".sops.yaml")
                || explicit_rel.as_deref() == Some(path.as_str());
            let oid = if mode == "120000" {
                if !is_config {
                    continue;
                }
                // A symlinked config: its target in the same tree.
                let Some(target) = blobs.read(oid).map_err(git_err)? else {
                    continue;
                };
                let Some(resolved) = resolve_link(path, &String::from_utf8_lossy(&target)) else {
                    continue;
                };
                match entries.get(&resolved) {
                    Some((_, o)) => o.clone(),
                    None => continue,
                }
            } else {
                oid.clone()
            };
            let key = (oid, is_config);
            let listed = match judged.get(&key) {
                Some(l) => *l,
                None => {
                    let l = match blobs.read(&key.0).map_err(git_err)? {
                        None => false,
                        Some(bytes) if is_config => crate::config::parse(Path::new(path), &bytes)
                            .map(|c| config_lists(&c, named))
                            .unwrap_or(true),
                        Some(bytes) => {
                            match document::sniff_parsed(Format::from_path(Path::new(path)), &bytes)
                            {
                                (_, Some((_, md))) => may_open(&md, named),
                                _ => false,
                            }
                        }
                    };
                    judged.insert(key, l);
                    l
                }
            };
            if listed {
                hits.push(under(rel, path));
            }
        }
        let label = ref_label(rel, &name);
        for path in exposure.refs.get(&label).into_iter().flatten() {
            if !hits.contains(path) {
                hits.push(format!(
                    "{path}: its data key is one a revoked key unwraps from history, or that cannot be ruled out"
                ));
            }
        }
        if !hits.is_empty() {
            out.push(format!("{label} ({})", hits.join(", ")));
        }
    }
    Ok(out)
}

/// Every local branch and remote-tracking ref of the repository at `top` but the checked-out
/// one, as (full name, tip commit).
fn other_ref_tips(top: &Path) -> Result<Vec<(String, String)>, git::GitError> {
    let current = git::try_run(top, &["symbolic-ref", "-q", "HEAD"])
        .ok()
        .flatten()
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned());
    let refs = git::run(
        top,
        &[
            "for-each-ref",
            "--format=%(objectname) %(objecttype) %(refname)",
            "refs/heads",
            "refs/remotes",
        ],
    )?;
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(&refs).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(tip), Some("commit"), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if current.as_deref() == Some(name) || name.ends_with("/HEAD") {
            continue;
        }
        out.push((name.to_owned(), tip.to_owned()));
    }
    Ok(out)
}

/// A ref as the verdict names it (`staging`, `remotes/origin/main`).
fn short_ref(name: &str) -> &str {
    name.strip_prefix("refs/heads/")
        .or_else(|| name.strip_prefix("refs/"))
        .unwrap_or(name)
}

/// The blobs of a commit's tree: path → (mode, blob id).
fn tip_entries(top: &Path, tip: &str) -> Result<BTreeMap<String, (String, String)>, git::GitError> {
    let tree = git::run(top, &["ls-tree", "-r", "-z", "--full-tree", tip])?;
    let mut entries = BTreeMap::new();
    for e in tree.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let e = String::from_utf8_lossy(e);
        let Some((meta, path)) = e.split_once('\t') else {
            continue;
        };
        let mut m = meta.split(' ');
        if let (Some(mode), Some("blob"), Some(oid)) = (m.next(), m.next(), m.next()) {
            entries.insert(path.to_owned(), (mode.to_owned(), oid.to_owned()));
        }
    }
    Ok(entries)
}

/// A symlink's target, relative to the repository top, when it stays inside the tree.
fn resolve_link(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Fails with [`RevokeError::Incomplete`] when files remain, or with
/// [`RevokeError::OtherRefs`] when only other refs still list a revoked key.
pub fn check_complete(remaining: &[String], refs: &[String]) -> crate::error::Result<()> {
    if !remaining.is_empty() {
        Err(procedure(RevokeError::Incomplete {
            files: remaining.to_vec(),
        }))
    } else if !refs.is_empty() {
        Err(procedure(RevokeError::OtherRefs {
            refs: refs.to_vec(),
        }))
    } else {
        Ok(())
    }
}

/// A file that failed to be re-keyed, with advice a revocation can follow: a file whose MAC
/// does not verify gets no new data key (`keys revoke` has no `--ignore-mac`). `None`: the
/// error's own words fit.
pub fn explain_failure(e: &crate::error::Error) -> Option<crate::error::Error> {
    use crate::error::Error as E;
    match e {
        E::MacMismatch { file } | E::MacMissing { file } | E::MacUnreadable { file } => {
            Some(procedure(RevokeError::Unverified {
                file: file.clone(),
                code: e.exit_code(),
            }))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The exposure report.

/// A commit, as the report names it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CommitRef {
    pub id: String,
    /// Commit time, RFC 3339 UTC.
    pub time: String,
}

/// How an exposed value stands today.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Today's value equals a value the revoked key could read: change it at its source.
    Live,
    /// Every exposed value of this key path was read, and today's differs from all of them.
    Changed,
    /// The key path is not in today's file (or the file is gone).
    Removed,
    /// Not compared: no key at hand opens an exposed version or today's file.
    Unknown,
}

/// One key path a revoked key could read.
#[derive(Clone, Debug, Serialize)]
pub struct ExposedValue {
    /// As sops prints it (`["db"]["password"]`).
    pub key_path: String,
    /// The first and last commit in which a version exposing it existed (`None`: only in the
    /// working tree).
    pub first: Option<CommitRef>,
    pub last: Option<CommitRef>,
    pub status: Status,
    /// Current files (relative paths) in which the same value is in use today, under any key
    /// path: a value copied or renamed elsewhere is still live.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live_in: Vec<String>,
}

/// One file whose versions a revoked key could open.
#[derive(Clone, Debug, Serialize)]
pub struct ExposedFile {
    /// Relative to the repository top.
    pub path: String,
    /// Which revoked keys could open it.
    pub keys: Vec<String>,
    /// Versions (distinct blobs, plus the working copy) that exposed values.
    pub versions: usize,
    pub values: Vec<ExposedValue>,
    /// Whether today's data key is one a revoked key could unwrap.
    pub data_key: DataKeyState,
    /// Other paths (in any ref's history or the working tree) whose envelopes for a revoked key
    /// unwrap today's data key of this file: a copy or a rename keeps its data key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_key_from: Vec<String>,
}

/// Whether a file's current data key is one that a revoked key could unwrap from some version
/// (an envelope in history opens today's ciphertext when the key was removed without a new data
/// key, as sops's `updatekeys` does).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataKeyState {
    /// The file lists a revoked key today.
    Listed,
    /// Proven: an exposed version was encrypted under today's data key.
    Exposed,
    /// Proven: today's data key differs from every exposed version's.
    Fresh,
    /// Not proven either way (no key at hand opens today's file or an exposed version).
    Unknown,
    /// The file is not in the work tree any more.
    Gone,
}

impl DataKeyState {
    /// Whether the file must get a new data key for the revocation to hold.
    pub fn needs_rekey(self) -> bool {
        matches!(
            self,
            DataKeyState::Listed | DataKeyState::Exposed | DataKeyState::Unknown
        )
    }
}

/// Everything the revoked keys could read at any point in history.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Exposure {
    /// What file paths are relative to (the repository top, or the walked directory).
    #[serde(skip)]
    pub base: PathBuf,
    /// Whether git history was read (false outside a git repository).
    pub history: bool,
    /// Whether values were compared with today's (a key that opens them was at hand).
    pub compared: bool,
    pub files: Vec<ExposedFile>,
    /// Other refs (local branches and remote-tracking refs but the checked-out one, as
    /// [`refs_listing`] names them) → their tip's sops files that list no revoked key but whose
    /// data key a revoked key could unwrap from some version (or that cannot be ruled out):
    /// a value set on that branch would open for it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refs: BTreeMap<String, Vec<String>>,
}

impl Exposure {
    pub fn live(&self) -> usize {
        self.values_with(Status::Live)
    }

    pub fn values_with(&self, s: Status) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.values)
            .filter(|v| v.status == s)
            .count()
    }

    pub fn values(&self) -> usize {
        self.files.iter().map(|f| f.values.len()).sum()
    }
}

/// A version of a file that exposed values: its bytes and where it was seen.
struct Version {
    format: Format,
    bytes: Vec<u8>,
    /// Commit indexes (into the history) in which this blob was the file's content.
    commits: Vec<usize>,
    keys: BTreeSet<String>,
}

/// The encrypted key paths of an encrypted tree.
fn encrypted_paths(tree: &Tree, md: &Metadata) -> Vec<String> {
    let Ok(rules) = md.rules.compile() else {
        return Vec::new();
    };
    crate::crypto::decide(tree, &rules)
        .into_iter()
        .filter(|d| !d.comment && d.bytes.expose().starts_with(b"ENC[AES256_GCM,"))
        .map(|d| d.path)
        .collect()
}

/// A keyed digest (HMAC-SHA-256 under a key that lives only for this run).
fn keyed(key: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key size");
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

/// What an opened version's values are compared by: keyed digests of its encrypted values
/// (by key path). No value is kept.
struct Digests {
    values: HashMap<String, [u8; 32]>,
}

fn digests(opened: &document::Opened, key: &[u8; 32]) -> Digests {
    let values = match opened.metadata.rules.compile() {
        Ok(rules) => crate::crypto::decide(&opened.tree, &rules)
            .into_iter()
            .filter(|d| !d.comment && d.encrypt)
            .map(|d| (d.path, keyed(key, d.bytes.expose())))
            .collect(),
        Err(_) => HashMap::new(),
    };
    Digests { values }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Versions by path (relative to the repository's top), each with the named keys it lists.
type Versions = BTreeMap<String, Vec<Version>>;

/// The named keys a version's envelopes list (empty: the version exposes nothing to them).
fn named_keys(md: &Metadata, named: &Named) -> BTreeSet<String> {
    md.all_keys()
        .filter(|k| named.matches_key(k))
        .map(MasterKey::label)
        .collect()
}

/// Every version in the history of every ref of the repository at `top` whose envelopes list
/// a named key, with the history they were read from.
fn history_versions(top: &Path, named: &Named) -> crate::error::Result<(git::History, Versions)> {
    let git_err = |e: git::GitError| procedure(RevokeError::Walk(e.to_string()));
    let mut by_path = Versions::new();
    let has_head = git::try_run(top, &["rev-parse", "--verify", "--quiet", "HEAD"])
        .map_err(git_err)?
        .is_some();
    if !has_head {
        return Ok((git::History::default(), by_path));
    }
    let history = git::History::read(
        top,
        git::Scope {
            all_refs: true,
            renames: false,
        },
    )
    .map_err(git_err)?;
    let mut blobs = git::Blobs::new(top);
    for (path, changes) in &history.changes {
        let by_name = Format::from_path(Path::new(path));
        let mut versions: HashMap<&str, Version> = HashMap::new();
        for c in changes.iter().filter(|c| c.new_blob != git::NO_BLOB) {
            if let Some(v) = versions.get_mut(c.new_blob.as_str()) {
                v.commits.push(c.commit);
                continue;
            }
            let Some(bytes) = blobs.read(&c.new_blob).map_err(git_err)? else {
                continue;
            };
            // A name need not say the format (`--input-type yaml` on `app.conf`).
            let Some((format, _, md)) = document::sniff_any(by_name, &bytes) else {
                continue;
            };
            let keys = named_keys(&md, named);
            if keys.is_empty() {
                continue;
            }
            versions.insert(
                &c.new_blob,
                Version {
                    format,
                    bytes,
                    commits: vec![c.commit],
                    keys,
                },
            );
        }
        if !versions.is_empty() {
            by_path
                .entry(path.clone())
                .or_default()
                .extend(versions.into_values());
        }
    }
    Ok((history, by_path))
}

/// Adds the working tree's versions under `root` (uncommitted versions expose too) to
/// `by_path`, and returns today's bytes of every sops file, by path relative to `base`.
fn working_tree_versions(
    root: &Path,
    base: &Path,
    named: &Named,
    by_path: &mut Versions,
) -> crate::error::Result<HashMap<String, (Format, Vec<u8>)>> {
    let mut today = HashMap::new();
    for f in sops_files(root)? {
        let Ok(bytes) = fsutil::read_file(&f.path) else {
            continue;
        };
        let rel = std::path::absolute(&f.path)
            .ok()
            .and_then(|a| a.strip_prefix(base).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| f.path.clone())
            .to_string_lossy()
            .into_owned();
        if let (_, Some((_, md))) = document::sniff_parsed(f.format, &bytes) {
            let keys = named_keys(&md, named);
            let versions = by_path.entry(rel.clone()).or_default();
            if !keys.is_empty() && !versions.iter().any(|v| v.bytes == bytes) {
                versions.push(Version {
                    format: f.format,
                    bytes: bytes.clone(),
                    commits: Vec::new(),
                    keys,
                });
            }
            if versions.is_empty() {
                by_path.remove(&rel);
            }
        }
        today.insert(rel, (f.format, bytes));
    }
    Ok(today)
}

/// Everything `named` could read at any point: every version, in the history of every ref and
/// in the working tree under `root`, whose envelopes list a named key. With `keyring`, exposed
/// values are compared with today's (see [`Status`]), and today's data key of every current file
/// with the data key of every exposing version of every path (see [`DataKeyState`]): a file
/// copied or renamed keeps its data key, so an envelope under the old path opens the new one.
pub async fn exposure(
    root: &Path,
    named: &Named,
    keyring: Option<&Keyring>,
) -> crate::error::Result<Exposure> {
    let top = git::toplevel(root);
    let (mut history, mut by_path) = match &top {
        Some(top) => history_versions(top, named)?,
        None => (git::History::default(), Versions::new()),
    };
    let base = top.clone().unwrap_or_else(|| root.to_path_buf());
    // Submodules and nested clones the walk enters: their own history, under their path.
    let nested = nested_repositories(&base, &repo::files(root)?);
    for (dir, rel) in &nested {
        let (h, versions) = history_versions(dir, named)?;
        let offset = history.commits.len();
        history.commits.extend(h.commits);
        for (path, mut vs) in versions {
            for v in &mut vs {
                v.commits.iter_mut().for_each(|c| *c += offset);
            }
            by_path
                .entry(format!("{rel}/{path}"))
                .or_default()
                .extend(vs);
        }
    }
    let today = working_tree_versions(root, &base, named, &mut by_path)?;
    let digest_key: [u8; 32] = rand::random();
    let mut now = BTreeMap::new();
    for (path, (format, bytes)) in &today {
        let n = Read::of(path, *format, bytes, keyring, &digest_key, false, named).await;
        now.insert(path.clone(), n);
    }
    let mut then = BTreeMap::new();
    for (path, versions) in &by_path {
        let mut read = Vec::with_capacity(versions.len());
        for v in versions {
            read.push(Read::of(path, v.format, &v.bytes, keyring, &digest_key, true, named).await);
        }
        then.insert(path.clone(), read);
    }
    let mut in_use: HashMap<[u8; 32], BTreeSet<String>> = HashMap::new();
    for (path, n) in &now {
        for d in n.digests.iter().flat_map(|d| d.values.values()) {
            in_use.entry(*d).or_default().insert(path.clone());
        }
    }
    let compare = Compare {
        history: &history,
        now: &now,
        all_now_opened: now.values().all(|n| n.digests.is_some()),
        in_use,
        versions: &by_path,
        then: &then,
    };
    let mut refs = BTreeMap::new();
    if !by_path.is_empty() {
        let repos = top.iter().map(|t| (t.clone(), String::new()));
        for (dir, rel) in repos.chain(nested.iter().cloned()) {
            refs.extend(other_refs_data_keys(&dir, &rel, named, keyring, &compare).await?);
        }
    }
    let mut out = Exposure {
        base: base.clone(),
        history: top.is_some(),
        compared: keyring.is_some(),
        files: Vec::new(),
        refs,
    };
    for path in by_path.keys() {
        out.files.push(compare.file(path));
    }
    // Current files with no exposing version under their own path whose data key one under
    // another path unwraps (or that cannot be ruled out): they need a new data key too.
    for path in now.keys().filter(|p| !by_path.contains_key(*p)) {
        let (data_key, data_key_from, keys) = compare.data_key(path);
        if data_key.needs_rekey() {
            out.files.push(ExposedFile {
                path: path.clone(),
                keys: keys.into_iter().collect(),
                versions: 0,
                values: Vec::new(),
                data_key,
                data_key_from,
            });
        }
    }
    Ok(out)
}

/// The sops files of other refs' tips (see [`Exposure::refs`]) that list no named key but
/// whose data key is one a named key could unwrap from an exposing version, judged as the
/// working tree's files are ([`Compare::data_key_of`]: by key or by MAC; a file that cannot be
/// ruled out counts). Files that list a named key are [`refs_listing`]'s own finding.
async fn other_refs_data_keys(
    top: &Path,
    rel: &str,
    named: &Named,
    keyring: Option<&Keyring>,
    compare: &Compare<'_>,
) -> crate::error::Result<BTreeMap<String, Vec<String>>> {
    let git_err = |e: git::GitError| procedure(RevokeError::Walk(e.to_string()));
    let mut blobs = git::Blobs::new(top);
    // blob → whether its data key is exposed
    let mut judged: HashMap<String, bool> = HashMap::new();
    let mut out = BTreeMap::new();
    for (name, tip) in other_ref_tips(top).map_err(git_err)? {
        let mut hits = Vec::new();
        for (path, (mode, oid)) in tip_entries(top, &tip).map_err(git_err)? {
            if mode == "120000" || mode == "160000" {
                continue;
            }
            let path = under(rel, &path);
            let exposed = match judged.get(&oid) {
                Some(e) => *e,
                None => {
                    let format = Format::from_path(Path::new(&path));
                    let e = match blobs.read(&oid).map_err(git_err)? {
                        Some(bytes) => match document::sniff_parsed(format, &bytes) {
                            (_, Some((_, md))) if !lists(&md, named) => {
                                let r = Read::data_key_only(md, keyring).await;
                                compare.data_key_of(&r, &path).0.needs_rekey()
                            }
                            _ => false,
                        },
                        None => false,
                    };
                    judged.insert(oid, e);
                    e
                }
            };
            if exposed {
                hits.push(path);
            }
        }
        if !hits.is_empty() {
            out.insert(ref_label(rel, &name), hits);
        }
    }
    Ok(out)
}

/// `path` of the repository at `rel` (relative to the base; empty: the base's own).
fn under(rel: &str, path: &str) -> String {
    if rel.is_empty() {
        path.to_owned()
    } else {
        format!("{rel}/{path}")
    }
}

/// A ref as the verdict names it: `staging`, `remotes/origin/main`, and for a submodule or
/// nested repository, `vault/: staging`.
fn ref_label(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        short_ref(name).to_owned()
    } else {
        format!("{rel}/: {}", short_ref(name))
    }
}

/// The git repositories nested under `base` (submodules, nested clones) in which a walked file
/// of `files` lies, as (directory, path relative to `base`): a revocation reads their history
/// and refs too, which the base's history does not hold.
fn nested_repositories(base: &Path, files: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let Ok(base) = std::path::absolute(base) else {
        return Vec::new();
    };
    let mut checked = std::collections::HashSet::new();
    let mut found = BTreeSet::new();
    for f in files {
        let Some(rel) = std::path::absolute(f)
            .ok()
            .and_then(|a| a.strip_prefix(&base).ok().map(Path::to_path_buf))
        else {
            continue;
        };
        let mut dir = base.clone();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(c);
            if checked.insert(dir.clone()) && dir.join(".git").exists() {
                found.insert(dir.clone());
            }
        }
    }
    found
        .into_iter()
        .filter_map(|d| {
            let rel = d.strip_prefix(&base).ok()?.to_string_lossy().into_owned();
            Some((d, rel))
        })
        .collect()
}

/// One version (or today's file) as read for the comparison: its metadata and encrypted key
/// paths, and with a key that opens it, its data key and keyed digests of its values.
struct Read {
    md: Option<Metadata>,
    paths: Option<BTreeSet<String>>,
    listed: bool,
    key: Option<crate::secret::DataKey>,
    digests: Option<Digests>,
}

impl Read {
    /// The metadata and, with a key that opens it, the data key: enough to compare data keys.
    async fn data_key_only(md: Metadata, keyring: Option<&Keyring>) -> Read {
        let key = match keyring {
            Some(k) => k.unwrap_data_key(&md).await.ok(),
            None => None,
        };
        Read {
            md: Some(md),
            paths: None,
            listed: false,
            key,
            digests: None,
        }
    }

    async fn of(
        path: &str,
        format: Format,
        bytes: &[u8],
        keyring: Option<&Keyring>,
        digest_key: &[u8; 32],
        ignore_mac: bool,
        named: &Named,
    ) -> Read {
        let Ok((tree, md)) = document::load_encrypted(path, format, bytes) else {
            return Read {
                md: None,
                paths: None,
                listed: false,
                key: None,
                digests: None,
            };
        };
        let paths = encrypted_paths(&tree, &md).into_iter().collect();
        let listed = lists(&md, named);
        let key = match keyring {
            Some(k) => k.unwrap_data_key(&md).await.ok(),
            None => None,
        };
        let digests = key.as_ref().and_then(|key| {
            document::open_with_key(path, tree, md.clone(), key, ignore_mac)
                .ok()
                .map(|o| digests(&o, digest_key))
        });
        Read {
            md: Some(md),
            paths: Some(paths),
            listed,
            key,
            digests,
        }
    }
}

/// Whether two files were encrypted under the same data key: compared directly when both
/// keys are at hand, else by whether the one key at hand authenticates the other file's MAC
/// (encrypted under that file's data key, as an attacker holding the other key would test).
/// `None`: neither key at hand, or nothing to test it with.
fn same_data_key(a: &Read, b: &Read) -> Option<bool> {
    use subtle::ConstantTimeEq;
    let (Some(amd), Some(bmd)) = (&a.md, &b.md) else {
        return None;
    };
    if let (Some(x), Some(y)) = (&a.key, &b.key) {
        return Some(bool::from(x.expose().ct_eq(y.expose())));
    }
    for (key, other) in [(&a.key, bmd), (&b.key, amd)] {
        if let (Some(k), Some(mac)) = (key, &other.mac) {
            let mut cipher = crate::crypto::Cipher::new(k);
            return match crate::crypto::decrypt_mac(&mut cipher, mac, &other.lastmodified) {
                Ok(_) => Some(true),
                Err(crate::crypto::CipherError::Authentication) => Some(false),
                Err(_) => None,
            };
        }
    }
    None
}

/// How exposed values and data keys are compared with today's: keyed digests of both under
/// one random key, never the values or keys themselves.
struct Compare<'a> {
    history: &'a git::History,
    /// Today's sops files, by path relative to the base.
    now: &'a BTreeMap<String, Read>,
    /// Whether a key at hand opened every current file (else a value missing from its old
    /// path may be in use in one that could not be read).
    all_now_opened: bool,
    /// Digest of every value in use today → the current files holding it.
    in_use: HashMap<[u8; 32], BTreeSet<String>>,
    versions: &'a Versions,
    then: &'a BTreeMap<String, Vec<Read>>,
}

/// What one key path's versions showed (see [`Compare::file`]).
#[derive(Default)]
struct Seen {
    newest: Option<usize>,
    oldest: Option<usize>,
    any_unread: bool,
    any_same: bool,
    live_in: BTreeSet<String>,
}

impl Compare<'_> {
    fn commit_ref(&self, i: usize) -> Option<CommitRef> {
        self.history.commits.get(i).map(|c| CommitRef {
            id: c.id.clone(),
            time: rfc3339(c.unix),
        })
    }

    /// Whether today's file at `path` has a data key a revoked key could unwrap: from the
    /// exposing versions of every path, not only its own. With the other paths that prove it
    /// and the revoked keys of the versions that do (or cannot be ruled out).
    fn data_key(&self, path: &str) -> (DataKeyState, Vec<String>, BTreeSet<String>) {
        let Some(n) = self.now.get(path).filter(|n| n.md.is_some()) else {
            return (DataKeyState::Gone, Vec::new(), BTreeSet::new());
        };
        self.data_key_of(n, path)
    }

    /// [`Compare::data_key`] of one file `n` (today's at `path`, or another ref's).
    fn data_key_of(&self, n: &Read, path: &str) -> (DataKeyState, Vec<String>, BTreeSet<String>) {
        if n.listed {
            return (DataKeyState::Listed, Vec::new(), BTreeSet::new());
        }
        let (mut exposed, mut unproven) = (false, false);
        let mut from = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (vpath, versions) in self.versions {
            for (v, r) in versions.iter().zip(&self.then[vpath]) {
                if r.md.is_none() {
                    continue;
                }
                match same_data_key(r, n) {
                    Some(true) => {
                        exposed = true;
                        keys.extend(v.keys.iter().cloned());
                        if vpath != path {
                            from.insert(vpath.clone());
                        }
                    }
                    Some(false) => {}
                    None => {
                        unproven = true;
                        keys.extend(v.keys.iter().cloned());
                    }
                }
            }
        }
        let state = if exposed {
            DataKeyState::Exposed
        } else if unproven {
            DataKeyState::Unknown
        } else {
            DataKeyState::Fresh
        };
        (state, from.into_iter().collect(), keys)
    }

    /// One path's exposure: every encrypted key path of its exposing versions, with when it
    /// was first and last exposed and whether the value is in use today (in this file or any
    /// other).
    fn file(&self, path: &str) -> ExposedFile {
        let versions = &self.versions[path];
        let read = &self.then[path];
        let now = self.now.get(path);
        let now_digests = now.and_then(|n| n.digests.as_ref());
        let today_paths = now.and_then(|n| n.paths.as_ref());
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        let mut keys = BTreeSet::new();
        for (v, r) in versions.iter().zip(read) {
            keys.extend(v.keys.iter().cloned());
            let Some(paths) = &r.paths else { continue };
            for kp in paths {
                let e = seen.entry(kp.clone()).or_default();
                for &c in &v.commits {
                    e.newest = Some(e.newest.map_or(c, |n| n.min(c)));
                    e.oldest = Some(e.oldest.map_or(c, |o| o.max(c)));
                }
                let Some(d) = r.digests.as_ref().and_then(|t| t.values.get(kp)) else {
                    e.any_unread = true;
                    continue;
                };
                match now_digests {
                    Some(n) if n.values.get(kp) == Some(d) => e.any_same = true,
                    Some(_) => {}
                    None if today_paths.is_some_and(|p| p.contains(kp)) => e.any_unread = true,
                    None => {}
                }
                if let Some(files) = self.in_use.get(d) {
                    e.live_in.extend(files.iter().cloned());
                }
            }
        }
        let values = seen
            .into_iter()
            .map(|(kp, s)| {
                let gone = today_paths.is_none_or(|p| !p.contains(&kp));
                let status = if s.any_same || !s.live_in.is_empty() {
                    Status::Live
                } else if s.any_unread || (gone && !self.all_now_opened) {
                    // Not read, or gone from here while a current file could not be read to
                    // tell whether the value lives on there.
                    Status::Unknown
                } else if gone {
                    Status::Removed
                } else {
                    Status::Changed
                };
                ExposedValue {
                    key_path: kp,
                    first: s.oldest.and_then(|i| self.commit_ref(i)),
                    last: s.newest.and_then(|i| self.commit_ref(i)),
                    status,
                    live_in: s.live_in.into_iter().collect(),
                }
            })
            .collect();
        let (data_key, data_key_from, _) = self.data_key(path);
        ExposedFile {
            path: path.to_owned(),
            keys: keys.into_iter().collect(),
            versions: versions.len(),
            values,
            data_key,
            data_key_from,
        }
    }
}
