//! The clone's git answers from inside the process ([`crate::git::InProcess`]): the files the
//! index tracks, HEAD's history with each commit's changes (renames followed, as `git log
//! --raw -M` reports them), and blobs, read through libgit2.
//!
//! Owns: turning libgit2's answers into the shapes the `git` CLI's answers are parsed into.
//! Must not know: what the walker, the audit or the job do with them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::git::{Change, Commit, GitError, History, InProcess, NO_BLOB, Scope};

/// A cloned repository, answering for its work tree.
pub(super) struct Local {
    repo: Mutex<git2::Repository>,
    remote: String,
}

impl Local {
    pub(super) fn new(repo: git2::Repository, remote: String) -> Local {
        Local {
            repo: Mutex::new(repo),
            remote,
        }
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, git2::Repository> {
        self.repo.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn failed(what: &str, e: git2::Error) -> GitError {
    GitError::Failed {
        args: format!("{what} (in process)"),
        stderr: crate::text::sanitize(e.message().trim()),
    }
}

fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

impl InProcess for Local {
    fn files(&self) -> Result<Vec<PathBuf>, GitError> {
        let repo = self.repo();
        let index = repo.index().map_err(|e| failed("ls-files", e))?;
        let mut out: Vec<PathBuf> = index.iter().map(|e| path_of(&e.path)).collect();
        // Untracked files that are not ignored (`--others --exclude-standard`).
        let mut so = git2::StatusOptions::new();
        so.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .include_unmodified(false);
        let statuses = repo
            .statuses(Some(&mut so))
            .map_err(|e| failed("status", e))?;
        for s in statuses.iter() {
            if s.status().contains(git2::Status::WT_NEW) {
                out.push(path_of(s.path_bytes()));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn history(&self, scope: Scope) -> Result<History, GitError> {
        let repo = self.repo();
        let log = |e| failed("log --raw", e);
        let mut walk = repo.revwalk().map_err(log)?;
        walk.set_sorting(git2::Sort::TIME).map_err(log)?;
        if scope.all_refs {
            walk.push_glob("*").map_err(log)?;
        } else {
            walk.push_head().map_err(log)?;
        }
        let mut h = History::default();
        let mut changes: HashMap<String, Vec<Change>> = HashMap::new();
        for oid in walk {
            let c = repo.find_commit(oid.map_err(log)?).map_err(log)?;
            let author = c.author();
            h.commits.push(Commit {
                id: c.id().to_string(),
                unix: c.time().seconds(),
                author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
                email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
            });
            let index = h.commits.len() - 1;
            let tree = c.tree().map_err(log)?;
            if c.parent_count() > 1 {
                // As `git log --raw -c`: what the merge changed against every parent.
                let mut against: Vec<HashMap<String, (u8, String, String)>> = Vec::new();
                for p in c.parents() {
                    let ptree = p.tree().map_err(log)?;
                    let diff = repo
                        .diff_tree_to_tree(Some(&ptree), Some(&tree), None)
                        .map_err(log)?;
                    let mut m = HashMap::new();
                    for d in diff.deltas() {
                        if let Some(path) = delta_path(&d) {
                            m.insert(
                                path,
                                (
                                    delta_status(&d),
                                    blob_id(d.old_file()),
                                    blob_id(d.new_file()),
                                ),
                            );
                        }
                    }
                    against.push(m);
                }
                let (first, rest) = against.split_first().expect("a merge has parents");
                for (path, (status, old_blob, new_blob)) in first {
                    if rest.iter().all(|m| m.contains_key(path)) {
                        changes.entry(path.clone()).or_default().push(Change {
                            commit: index,
                            status: *status,
                            old_blob: old_blob.clone(),
                            new_blob: new_blob.clone(),
                            from: None,
                        });
                    }
                }
                continue;
            }
            let parent = match c.parent_count() {
                0 => None,
                _ => Some(c.parent(0).and_then(|p| p.tree()).map_err(log)?),
            };
            let mut diff = repo
                .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
                .map_err(log)?;
            if scope.renames {
                let mut find = git2::DiffFindOptions::new();
                find.renames(true);
                diff.find_similar(Some(&mut find)).map_err(log)?;
            }
            for d in diff.deltas() {
                let status = delta_status(&d);
                let Some(path) = delta_path(&d) else {
                    continue;
                };
                let from = matches!(status, b'R' | b'C')
                    .then(|| file_path(d.old_file()))
                    .flatten();
                changes.entry(path).or_default().push(Change {
                    commit: index,
                    status,
                    old_blob: blob_id(d.old_file()),
                    new_blob: blob_id(d.new_file()),
                    from,
                });
            }
        }
        h.changes = changes;
        Ok(h)
    }

    fn blob(&self, id: &str) -> Result<Option<Vec<u8>>, GitError> {
        let repo = self.repo();
        let Ok(oid) = git2::Oid::from_str(id) else {
            return Ok(None);
        };
        match repo.find_blob(oid) {
            Ok(b) => Ok(Some(b.content().to_vec())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(failed("cat-file --batch", e)),
        }
    }

    fn head(&self) -> Option<String> {
        let repo = self.repo();
        let head = repo.head().ok()?;
        head.target().map(|o| o.to_string())
    }

    fn branch(&self) -> Option<String> {
        let repo = self.repo();
        let head = repo.head().ok()?;
        head.is_branch()
            .then(|| head.shorthand().ok().map(str::to_owned))
            .flatten()
    }

    fn remote(&self) -> Option<String> {
        Some(self.remote.clone())
    }
}

/// `git log --raw`'s status letter for a delta.
fn delta_status(d: &git2::DiffDelta<'_>) -> u8 {
    match d.status() {
        git2::Delta::Added => b'A',
        git2::Delta::Deleted => b'D',
        git2::Delta::Renamed => b'R',
        git2::Delta::Copied => b'C',
        git2::Delta::Typechange => b'T',
        _ => b'M',
    }
}

fn file_path(f: git2::DiffFile<'_>) -> Option<String> {
    f.path_bytes()
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// The path a delta is listed under: the new side's, or the old one's for a deletion.
fn delta_path(d: &git2::DiffDelta<'_>) -> Option<String> {
    file_path(d.new_file()).or_else(|| file_path(d.old_file()))
}

/// A side's blob id, `git log --raw`'s zeros for none.
fn blob_id(f: git2::DiffFile<'_>) -> String {
    if f.id().is_zero() {
        NO_BLOB.to_owned()
    } else {
        f.id().to_string()
    }
}
