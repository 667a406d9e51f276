//! Files of a directory tree as a repository sees them: every file git tracks (`.gitignore`
//! or not) and every untracked file `.gitignore` does not exclude, `.git` skipped, hidden files
//! included; and which files are sops files (by [`document::sniff`], the one decision).
//!
//! Owns: the one walker every repository-wide operation uses (rotate, updatekeys, key-backup
//! verification, the scanner, the audit). The `.sops.yaml` lookup is [`config::Configs`].
//! Must not know: what the callers do with the files.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config;
use crate::document::{self, Sniff};
use crate::error::{Error, Result};
use crate::store::Format;

/// The ignore-aware walker for directories outside any git work tree: `.gitignore` files
/// are honoured as git would, `.git` is skipped, hidden files are included. Inside a work tree
/// git itself lists the files ([`git_files`]).
fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut b = ignore::WalkBuilder::new(root);
    b.hidden(false)
        .ignore(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git");
    b
}

fn walk_error(root: &Path, e: impl std::fmt::Display) -> Error {
    Error::Walk {
        path: root.display().to_string(),
        message: e.to_string(),
    }
}

/// Whether `dir` is inside a git work tree (a `.git` directory or file in it or above it).
fn in_work_tree(dir: &Path) -> bool {
    let Ok(abs) = std::fs::canonicalize(dir) else {
        return false;
    };
    abs.ancestors().any(|d| d.join(".git").exists())
}

/// The files git knows under `dir`: every tracked file, `.gitignore` or not, and every
/// untracked file that is not ignored (`git ls-files --cached --others --exclude-standard`).
/// Untracked ignored files are left out. Directories git reports (submodules, nested
/// repositories) are listed by their own repository.
/// A work tree served in process (`git::InProcess`: the rotation job's clone, where there is
/// no git CLI) lists the same files through its in-process git.
fn git_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    let listed: Vec<PathBuf> = match crate::git::in_process(dir) {
        Some((_, rel, src)) => src
            .files()
            .map_err(|e| walk_error(dir, e))?
            .into_iter()
            .filter_map(|p| p.strip_prefix(&rel).ok().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => crate::git::nul_paths(
            &crate::git::run(
                dir,
                &[
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                    "--",
                    ".",
                ],
            )
            .map_err(|e| walk_error(dir, e))?,
        )
        .collect(),
    };
    for rel in listed {
        let path = dir.join(&rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => out.push(path),
            Ok(m) if m.is_dir() && depth < 8 => list_dir(&path, out, depth + 1)?,
            // Deleted from the work tree, a symlink, a device: nothing to read.
            _ => {}
        }
    }
    Ok(())
}

/// Every file a repository walk covers under one root (see [`files`]).
fn list_dir(root: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    if in_work_tree(root) && !root.components().any(|c| c.as_os_str() == ".git") {
        return git_files(root, out, depth);
    }
    for entry in walker(root).build() {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

/// Every regular file a repository walk covers under `paths`, sorted, without duplicates.
/// This is the one decision of what a walk includes (rotate, updatekeys, encrypt -r, backup
/// verification, the scanner, the audit): inside a git work tree, every file git tracks
/// (whether or not `.gitignore` matches it) and every untracked file that is not ignored;
/// outside one, every file `.gitignore` files do not exclude. A path that names a file is
/// taken as it is, and so is one that names a FIFO, a pipe or a device (read by the caller,
/// never silently left out).
pub fn walk(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut first_error = None;
    let out = walk_each(paths, &mut |e| {
        first_error.get_or_insert(e);
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// [`walk`], going on past a path that cannot be walked (each error is handed to `err`).
fn walk_each(paths: &[PathBuf], err: &mut dyn FnMut(Error)) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let listed = match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => list_dir(p, &mut out, 0),
            // A named file is taken as it is; so is a named FIFO, pipe (`/dev/stdin`,
            // `<(…)`) or device: the caller reads it (or fails to, and says so) rather than
            // the walk dropping it unread.
            Ok(_) => {
                out.push(p.clone());
                Ok(())
            }
            Err(e) => Err(walk_error(p, e)),
        };
        if let Err(e) = listed {
            err(e);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every regular file under `dir` (see [`walk`]), sorted by path.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    walk(&[dir.to_path_buf()])
}

/// Every file of [`walk`]`(paths)`, handed to `found` on `threads` threads (in no particular
/// order); a path that cannot be walked goes to `err`, and the others are still walked.
pub fn files_parallel(
    paths: &[PathBuf],
    threads: usize,
    found: &(dyn Fn(PathBuf) + Sync),
    err: &(dyn Fn(String) + Sync),
) {
    let list = walk_each(paths, &mut |e| err(e.to_string()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = threads.clamp(1, list.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = list.get(i) else { break };
                    found(p.clone());
                }
            });
        }
    });
}

/// The `.sops.yaml` lookup (it lives in [`crate::config`], the one place that decides which
/// config applies to a file).
pub use crate::config::Configs;

/// A file under a directory that carries sops metadata (or looks like a damaged sops file).
#[derive(Debug)]
pub struct SopsFile {
    pub path: PathBuf,
    pub format: Format,
    /// Why, when the file looks like a sops file but cannot be read as one.
    pub damage: Option<String>,
}

/// Files bigger than this are not considered sops files by the walk (sops files are small;
/// a huge binary is not read whole just to be skipped).
pub(crate) const MAX_SOPS_FILE: u64 = 64 * 1024 * 1024;

/// What one file of a walk is, judged as [`sops_files`] judges it.
#[derive(Debug)]
pub(crate) enum FileKind {
    /// A `.sops.yaml` (never a sops file).
    Config,
    /// Larger than [`MAX_SOPS_FILE`]: not read.
    TooLarge,
    /// It could not be read: why.
    Unreadable(String),
    /// No sops metadata and no encrypted values.
    Plain,
    /// It carries sops metadata.
    Sops,
    /// It looks like a sops file but cannot be read as one: why.
    Damaged(String),
}

/// One file of a walk, read once and classified.
#[derive(Debug)]
pub(crate) struct Inspected {
    pub path: PathBuf,
    pub format: Format,
    pub kind: FileKind,
    /// The file's bytes, when it was read (every kind but `Config`, `TooLarge`, `Unreadable`).
    pub bytes: Vec<u8>,
    /// For `Sops`, when asked for: the parsed tree (metadata removed) and metadata, as
    /// `document::load_encrypted` returns them.
    pub parsed: Option<(crate::tree::Tree, crate::metadata::Metadata)>,
}

/// Reads and classifies one file (the decision [`sops_files`] makes for every file).
pub(crate) fn inspect(path: PathBuf, input_type: Option<Format>) -> Inspected {
    inspect_with(path, input_type, false)
}

/// [`inspect`]; with `keep_parsed`, a sops file's parse is kept in [`Inspected::parsed`].
fn inspect_with(path: PathBuf, input_type: Option<Format>, keep_parsed: bool) -> Inspected {
    let format = input_type.unwrap_or_else(|| Format::from_path(&path));
    let done = |path, kind| Inspected {
        path,
        format,
        kind,
        bytes: Vec::new(),
        parsed: None,
    };
    if path
        .file_name()
        .is_some_and(|n| n == config::CONFIG_FILE_NAME)
    {
        return done(path, FileKind::Config);
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_SOPS_FILE) {
        return done(path, FileKind::TooLarge);
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return done(path, FileKind::Unreadable(e.to_string())),
    };
    let (sniff, parsed) = if keep_parsed {
        document::sniff_parsed(format, &bytes)
    } else {
        (document::sniff(format, &bytes), None)
    };
    let kind = match sniff {
        Sniff::Plain => FileKind::Plain,
        Sniff::Sops => FileKind::Sops,
        Sniff::Damaged(e) => FileKind::Damaged(e),
    };
    Inspected {
        path,
        format,
        kind,
        bytes,
        parsed,
    }
}

/// Every file under `dir`, read and classified by [`inspect`] on `threads` walker threads and
/// handed to `found` as it is done (in no particular order), each sops file with its parse
/// ([`Inspected::parsed`]). A walk error ends with [`Error::Walk`] after the walk.
pub(crate) fn inspect_parallel(
    dir: &Path,
    input_type: Option<Format>,
    threads: usize,
    found: &(dyn Fn(Inspected) + Sync),
) -> Result<()> {
    let errors = Mutex::new(Vec::new());
    files_parallel(
        &[dir.to_path_buf()],
        threads,
        &|p| found(inspect_with(p, input_type, true)),
        &|e| errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
    );
    match errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .first()
    {
        Some(message) => Err(Error::Walk {
            path: dir.display().to_string(),
            message: message.clone(),
        }),
        None => Ok(()),
    }
}

/// Every sops file under `dir` (all stores; `.gitignore` respected), sorted by path: files
/// with sops metadata, and files that look like sops files but are damaged (so that bulk
/// operations report them instead of skipping them). `.sops.yaml` itself is never one.
pub(crate) fn sops_files(dir: &Path, input_type: Option<Format>) -> Result<Vec<SopsFile>> {
    let mut out = Vec::new();
    for path in files(dir)? {
        let f = inspect(path, input_type);
        match f.kind {
            FileKind::Sops => out.push(SopsFile {
                path: f.path,
                format: f.format,
                damage: None,
            }),
            FileKind::Damaged(e) => out.push(SopsFile {
                path: f.path,
                format: f.format,
                damage: Some(e),
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// What `encrypt --recursive` found under a directory.
#[derive(Debug, Default)]
pub struct ToEncrypt {
    /// Plaintext files a creation rule selects by its `path_regex`, sorted.
    pub plain: Vec<PathBuf>,
    /// Selected files that are sops files already.
    pub encrypted: Vec<PathBuf>,
    /// Selected plaintext files in which the rule selects no value (a Deployment next to
    /// Secrets under `encrypted_regex: ^(data|stringData)$`): encrypting them would only add a
    /// `sops:` block, which breaks a plain `kubectl apply`.
    pub nothing_to_encrypt: Vec<PathBuf>,
}

/// The files under `dir` a creation rule of the nearest `.sops.yaml` selects by `path_regex`
/// (a catch-all rule selects nothing here: it would take every file of the repository), split
/// into plaintext and already encrypted. `.sops.yaml` itself is never selected.
pub fn files_to_encrypt(dir: &Path, configs: &Configs) -> Result<ToEncrypt> {
    let mut out = ToEncrypt::default();
    for path in files(dir)? {
        if path
            .file_name()
            .is_some_and(|n| n == config::CONFIG_FILE_NAME)
        {
            continue;
        }
        let Some(cfg) = configs.for_file(&path)? else {
            continue;
        };
        let Some(rule) = cfg.rule_for(&path).ok().filter(|r| r.path_regex.is_some()) else {
            continue;
        };
        let bytes = if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_SOPS_FILE) {
            Vec::new()
        } else {
            std::fs::read(&path).unwrap_or_default()
        };
        let format = Format::from_path(&path);
        match document::sniff(format, &bytes) {
            Sniff::Plain
                if document::needs_encryption(format, &bytes, &rule.rules) == Some(false) =>
            {
                out.nothing_to_encrypt.push(path)
            }
            Sniff::Plain => out.plain.push(path),
            Sniff::Sops | Sniff::Damaged(_) => out.encrypted.push(path),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_config_and_ignored_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join(".gitignore"), "ignored.yaml\n").unwrap();
        std::fs::write(root.join("a/.sops.yaml"), "creation_rules: []\n").unwrap();
        std::fs::write(root.join("a/b/x.yaml"), "k: v\n").unwrap();
        std::fs::write(root.join("ignored.yaml"), "k: v\n").unwrap();
        let all = files(root).unwrap();
        assert!(all.iter().any(|p| p.ends_with("a/b/x.yaml")));
        assert!(!all.iter().any(|p| p.ends_with("ignored.yaml")));
        let c = Configs::new(None).unwrap();
        let cfg = c.for_file(&root.join("a/b/x.yaml")).unwrap().unwrap();
        assert!(cfg.path.ends_with("a/.sops.yaml"));
        let within = Configs::within(&root.join("a/b"));
        assert!(within.for_file(&root.join("a/b/x.yaml")).unwrap().is_none());
    }

    /// A file committed before a `.gitignore` rule matched it is still tracked, so every walk
    /// must see it (a revocation that skipped it would leave the revoked key able to open a
    /// committed file); untracked ignored files stay out.
    #[test]
    fn tracked_files_are_walked_even_when_ignored() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let git = |args: &[&str]| {
            let ok = crate::git::command(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/tracked.yaml"), "k: v\n").unwrap();
        std::fs::write(root.join("kept.yaml"), "k: v\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "x"]);
        std::fs::write(root.join(".gitignore"), "*.yaml\n").unwrap();
        std::fs::write(root.join("untracked-ignored.yaml"), "k: v\n").unwrap();
        std::fs::write(root.join("new.txt"), "x\n").unwrap();
        let all = files(root).unwrap();
        let names: Vec<String> = all
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [".gitignore", "kept.yaml", "new.txt", "sub/tracked.yaml"],
            "{names:?}"
        );
        // From a subdirectory, only what is under it.
        let sub = files(&root.join("sub")).unwrap();
        assert_eq!(sub, [root.join("sub/tracked.yaml")]);
        // The parallel walk sees the same files.
        let seen = Mutex::new(Vec::new());
        files_parallel(
            &[root.to_path_buf()],
            3,
            &|p| seen.lock().unwrap().push(p),
            &|e| panic!("{e}"),
        );
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, all);
    }
}
