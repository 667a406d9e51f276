//! What git knows about the audited files, through the `git` CLI in a fixed number of
//! processes whatever the number of files: one `log --raw` pass over the history of the
//! audited directory, one `status`, and one long-lived `cat-file --batch` for the few old
//! versions whose data-key envelopes must be compared.
//!
//! Owns: running git and parsing its output; per file, the last commit and its author, and the
//! last commit that changed the file's envelopes (following renames), given a function that
//! fingerprints the envelopes of one version. Must not know: sops metadata (the caller's
//! fingerprint function does), findings, or output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::model::{Commit, FileGit};
use crate::git::{Change, History, NO_BLOB};

/// Why git could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("unexpected output from git {0}")]
    Protocol(&'static str),
    #[error("reading from git: {0}")]
    Io(#[from] std::io::Error),
}

fn from_git(e: crate::git::GitError) -> GitError {
    match e {
        crate::git::GitError::Failed { args, stderr } => GitError::Failed { args, stderr },
        crate::git::GitError::External(crate::external::ExternalError::Spawn {
            source, ..
        }) => GitError::Spawn(source),
        crate::git::GitError::External(e) => {
            GitError::Spawn(std::io::Error::new(std::io::ErrorKind::TimedOut, e))
        }
    }
}

/// Runs git (under the git timeout); `Ok(None)` when git exits non-zero.
fn run(dir: &Path, args: &[&str]) -> Result<Option<Vec<u8>>, GitError> {
    crate::git::try_run(dir, args).map_err(from_git)
}

/// Runs git (under the git timeout) and fails on a non-zero exit.
fn run_ok(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    crate::git::run(dir, args).map_err(from_git)
}

/// How the working copy of a file differs from the commit checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkState {
    Untracked,
    Modified,
}

/// The repository around an audited directory, with its history read.
pub struct Repo {
    toplevel: PathBuf,
    /// The audited directory relative to the top, `/`-terminated (empty at the top).
    prefix: String,
    head: Option<String>,
    /// Newest first.
    commits: Vec<Commit>,
    /// By path relative to the top: changes newest first.
    changes: HashMap<String, Vec<Change>>,
    /// By path relative to the top: files that differ from HEAD.
    status: HashMap<String, WorkState>,
}

impl Repo {
    /// The repository around `dir` with the history of everything under it, or `Ok(None)` when
    /// `dir` is not in a git work tree. A missing `git` is [`GitError::Spawn`].
    pub fn open(dir: &Path) -> Result<Option<Repo>, GitError> {
        let Some(out) = run(dir, &["rev-parse", "--show-toplevel", "--show-prefix"])? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        let toplevel = PathBuf::from(lines.next().ok_or(GitError::Protocol("rev-parse"))?);
        let prefix = lines.next().unwrap_or_default().to_owned();
        let head = run(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])?
            .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
            .filter(|h| !h.is_empty());
        let mut repo = Repo {
            toplevel,
            prefix,
            head,
            commits: Vec::new(),
            changes: HashMap::new(),
            status: HashMap::new(),
        };
        if repo.head.is_some() {
            let h = History::read(
                dir,
                crate::git::Scope {
                    all_refs: false,
                    renames: true,
                },
            )
            .map_err(from_git)?;
            repo.take_history(h);
        }
        let status = run_ok(
            dir,
            &[
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
                "--",
                ".",
            ],
        )?;
        repo.parse_status(&status);
        Ok(Some(repo))
    }

    pub fn toplevel(&self) -> &Path {
        &self.toplevel
    }

    /// The audited directory relative to the top, `/`-terminated (empty at the top), as git
    /// spells it (symbolic links resolved).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    fn take_history(&mut self, h: History) {
        self.commits = h
            .commits
            .into_iter()
            .map(|c| Commit {
                time: rfc3339(c.unix),
                id: c.id,
                unix: c.unix,
                author: c.author,
                email: c.email,
            })
            .collect();
        self.changes = h.changes;
    }

    fn parse_status(&mut self, out: &[u8]) {
        for entry in out.split(|&b| b == 0).filter(|e| e.len() > 3) {
            let state = if entry.starts_with(b"??") {
                WorkState::Untracked
            } else {
                WorkState::Modified
            };
            let path = String::from_utf8_lossy(&entry[3..]).into_owned();
            self.status.insert(path, state);
        }
    }

    fn top_path(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    /// What git knows of the file at `rel` (relative to the audited directory). `worktree` is
    /// the fingerprint of the working copy's envelopes; `fingerprint` computes one for an old
    /// version's bytes (`None` when it has no readable envelopes).
    pub fn file(
        &self,
        rel: &str,
        worktree: Option<&[String]>,
        blobs: &mut Blobs,
        fingerprint: &dyn Fn(&[u8]) -> Option<Vec<String>>,
    ) -> Result<FileGit, GitError> {
        let top = self.top_path(rel);
        let state = self.status.get(&top).copied();
        let entries = self.changes.get(&top).map(Vec::as_slice).unwrap_or(&[]);
        let last = entries
            .first()
            .filter(|c| c.status != b'D')
            .map(|c| self.commits[c.commit].clone());
        let mut out = FileGit {
            tracked: state != Some(WorkState::Untracked),
            modified: state.is_some(),
            last_commit: last.clone(),
            envelopes_changed: None,
            envelopes_uncommitted: false,
        };
        if last.is_none() {
            return Ok(out);
        }
        if state == Some(WorkState::Modified) {
            let committed = blobs.fingerprint(&entries[0].new_blob, fingerprint)?;
            out.envelopes_uncommitted = committed.as_deref() != worktree;
        }
        out.envelopes_changed = self
            .envelope_commit(&top, blobs, fingerprint)?
            .map(|i| self.commits[i].clone());
        Ok(out)
    }

    /// The newest commit that changed the envelopes of `top` (following renames and copies).
    fn envelope_commit(
        &self,
        top: &str,
        blobs: &mut Blobs,
        fingerprint: &dyn Fn(&[u8]) -> Option<Vec<String>>,
    ) -> Result<Option<usize>, GitError> {
        let mut path = top.to_owned();
        let mut older_than = 0;
        // Each step moves to an older commit, so this ends; the bound guards a rename cycle.
        for _ in 0..=self.commits.len() {
            let Some(entries) = self.changes.get(&path) else {
                return Ok(None);
            };
            let mut next = None;
            for c in entries.iter().filter(|c| c.commit >= older_than) {
                if c.status == b'A' || c.old_blob == NO_BLOB {
                    return Ok(Some(c.commit));
                }
                if c.status == b'D' {
                    return Ok(None);
                }
                let same = c.old_blob == c.new_blob
                    || blobs.fingerprint(&c.old_blob, fingerprint)?
                        == blobs.fingerprint(&c.new_blob, fingerprint)?;
                if !same {
                    return Ok(Some(c.commit));
                }
                if let Some(from) = &c.from {
                    next = Some((from.clone(), c.commit + 1));
                    break;
                }
            }
            match next {
                Some((p, o)) => {
                    path = p;
                    older_than = o;
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// A reader of old versions for [`Repo::file`].
    pub fn blobs(&self) -> Blobs {
        Blobs {
            reader: crate::git::Blobs::new(&self.toplevel),
            cache: HashMap::new(),
        }
    }
}

/// Old versions for [`Repo::file`], read through one `git cat-file --batch`; envelope
/// fingerprints are remembered per blob.
pub struct Blobs {
    reader: crate::git::Blobs,
    cache: HashMap<String, Option<Vec<String>>>,
}

impl Blobs {
    fn fingerprint(
        &mut self,
        id: &str,
        f: &dyn Fn(&[u8]) -> Option<Vec<String>>,
    ) -> Result<Option<Vec<String>>, GitError> {
        if let Some(fp) = self.cache.get(id) {
            return Ok(fp.clone());
        }
        let fp = self.reader.read(id).map_err(from_git)?.and_then(|b| f(&b));
        self.cache.insert(id.to_owned(), fp.clone());
        Ok(fp)
    }
}

/// Unix seconds as RFC 3339 UTC.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_renames_to_the_commit_that_added_the_file() {
        let log = b"\x01shroud-commit\x00c2\x001700000100\x00A B\x00a@b\x00\n\n:100644 100644 1111 1111 R100\x00d/x.yaml\x00d/z.yaml\x00:100644 100644 2222 3333 M\x00y\x00\x01shroud-commit\x00c1\x001700000000\x00A B\x00a@b\x00\n\n:000000 100644 0000000000000000000000000000000000000000 1111 A\x00d/x.yaml\x00:000000 100644 0000000000000000000000000000000000000000 2222 A\x00y\x00";
        let mut r = Repo {
            toplevel: PathBuf::from("/r"),
            prefix: String::new(),
            head: Some("c2".into()),
            commits: Vec::new(),
            changes: HashMap::new(),
            status: HashMap::new(),
        };
        r.take_history(History::parse(log).unwrap());
        assert_eq!(r.commits.len(), 2);
        assert_eq!(r.commits[0].time, "2023-11-14T22:15:00Z");
        let mut blobs = r.blobs();
        // A pure rename (same blob) is followed to the commit that added the file.
        let at = r
            .envelope_commit("d/z.yaml", &mut blobs, &|_| None)
            .unwrap();
        assert_eq!(at, Some(1));
        r.parse_status(b" M y\x00?? n.yaml\x00");
        assert_eq!(r.status["y"], WorkState::Modified);
        assert_eq!(r.status["n.yaml"], WorkState::Untracked);
    }
}
