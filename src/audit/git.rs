//! What git knows about the audited files, through the `git` CLI in a fixed number of
//! processes whatever the number of files: one `rev-parse`, one `log --raw` pass over the
//! history of the audited directory ([`crate::git::History`]), one `status`, one `config` for
//! the remote, one `symbolic-ref` for the branch, and one long-lived `cat-file --batch`
//! ([`crate::git::Blobs`]) for the old versions whose keys must be compared.
//!
//! Owns: asking git and reading its answers: the repository's identity (top directory, remote
//! without credentials, branch, HEAD, shallow boundaries), per file the changes of every
//! version in history (renames and copies followed), and the bytes of old versions. Must not
//! know: sops metadata (the caller summarises versions), findings, or output. Text from git
//! (author names, paths) is returned as found; whoever prints it escapes it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::model::Commit;
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
}

fn from_git(e: crate::git::GitError) -> GitError {
    match e {
        crate::git::GitError::Failed { args, stderr } => GitError::Failed { args, stderr },
        crate::git::GitError::External(crate::external::ExternalError::Spawn {
            source, ..
        }) => GitError::Spawn(source),
        crate::git::GitError::External(e) => GitError::Failed {
            args: "(external)".into(),
            stderr: crate::text::one_line(&e),
        },
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
    branch: Option<String>,
    remote: Option<String>,
    /// The commits a shallow clone starts at (empty for a full clone).
    shallow: HashSet<String>,
    /// Newest first.
    commits: Vec<Commit>,
    /// By path relative to the top: changes newest first.
    changes: HashMap<String, Vec<Change>>,
    /// By path relative to the top: files that differ from HEAD.
    status: HashMap<String, WorkState>,
}

/// One change of one file as git records it: blob `old` (None: added) became blob `new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobChange {
    /// Index into the history ([`Repo::commit`]; higher is older).
    pub commit: usize,
    /// The path the file had after the change (relative to the top).
    pub path: String,
    pub old: Option<String>,
    pub new: String,
    /// Added in a shallow clone's first commit: what came before is not in the clone.
    pub first_seen: bool,
}

/// What git knows of one file.
#[derive(Clone, Debug, Default)]
pub struct FileChanges {
    /// The file is in the repository (committed or staged).
    pub tracked: bool,
    /// The working copy differs from the commit checked out.
    pub modified: bool,
    /// The last commit that changed it.
    pub last_commit: Option<usize>,
    /// Its blob in the commit checked out.
    pub head_blob: Option<String>,
    /// Every change of every version, renames and copies followed; newest first per path.
    pub changes: Vec<BlobChange>,
}

/// The most paths followed through renames and copies for one file.
const MAX_PATHS: usize = 256;

impl Repo {
    /// The repository around `dir` with the history of everything under it, or `Ok(None)` when
    /// `dir` is not in a git work tree. A missing `git` is [`GitError::Spawn`].
    pub fn open(dir: &Path) -> Result<Option<Repo>, GitError> {
        if let Some((top, rel, src)) = crate::git::in_process(dir) {
            return Repo::in_process(top, &rel, src.as_ref()).map(Some);
        }
        let Some(out) = run(
            dir,
            &[
                "rev-parse",
                "--show-toplevel",
                "--show-prefix",
                "--is-shallow-repository",
                "--git-path",
                "shallow",
            ],
        )?
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        let [toplevel, prefix, shallow, shallow_file] = lines[..] else {
            return Err(GitError::Protocol("rev-parse"));
        };
        let head = run(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])?
            .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
            .filter(|h| !h.is_empty());
        let mut repo = Repo {
            toplevel: PathBuf::from(toplevel),
            prefix: prefix.to_owned(),
            head,
            branch: run(dir, &["symbolic-ref", "-q", "--short", "HEAD"])?
                .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
                .filter(|b| !b.is_empty()),
            remote: run(dir, &["config", "-z", "--get-regexp", r"^remote\..*\.url$"])?
                .and_then(|o| pick_remote(&o)),
            shallow: if shallow == "true" {
                std::fs::read_to_string(dir.join(shallow_file))
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            } else {
                HashSet::new()
            },
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

    /// A work tree whose git answers come from inside the process ([`crate::git::InProcess`]:
    /// the rotation job's fresh clone, so nothing in it differs from HEAD and it is not
    /// shallow).
    fn in_process(
        toplevel: PathBuf,
        rel: &Path,
        src: &dyn crate::git::InProcess,
    ) -> Result<Repo, GitError> {
        let prefix = rel.to_string_lossy();
        let mut repo = Repo {
            toplevel,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            head: src.head(),
            branch: src.branch(),
            remote: src.remote().map(|u| strip_credentials(&u)),
            shallow: HashSet::new(),
            commits: Vec::new(),
            changes: HashMap::new(),
            status: HashMap::new(),
        };
        if repo.head.is_some() {
            let h = History::read(
                &repo.toplevel.join(rel),
                crate::git::Scope {
                    all_refs: false,
                    renames: true,
                },
            )
            .map_err(from_git)?;
            repo.take_history(h);
        }
        Ok(repo)
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

    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref()
    }

    /// The remote's URL without credentials.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }

    /// Whether this is a shallow clone.
    pub fn is_shallow(&self) -> bool {
        !self.shallow.is_empty()
    }

    /// A commit of the history.
    pub fn commit(&self, i: usize) -> &Commit {
        &self.commits[i]
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

    /// What git knows of the file at `rel` (relative to the audited directory).
    pub fn file(&self, rel: &str) -> FileChanges {
        let top = self.top_path(rel);
        let state = self.status.get(&top).copied();
        let newest = self.changes.get(&top).and_then(|e| e.first());
        let current = newest.filter(|c| c.status != b'D');
        let mut out = FileChanges {
            tracked: state != Some(WorkState::Untracked),
            modified: state.is_some(),
            last_commit: current.map(|c| c.commit),
            head_blob: current.map(|c| c.new_blob.clone()),
            changes: Vec::new(),
        };
        if current.is_none() {
            return out;
        }
        // Every path the file had, each with the oldest commit that still belongs to it.
        let mut queue: Vec<(String, usize)> = vec![(top, 0)];
        let mut seen: HashSet<(String, usize)> = HashSet::new();
        while let Some((path, from_commit)) = queue.pop() {
            if seen.len() >= MAX_PATHS || !seen.insert((path.clone(), from_commit)) {
                continue;
            }
            let Some(entries) = self.changes.get(&path) else {
                continue;
            };
            for c in entries.iter().filter(|c| c.commit >= from_commit) {
                if c.status == b'D' {
                    continue;
                }
                let added = c.status == b'A' || c.old_blob == NO_BLOB;
                out.changes.push(BlobChange {
                    commit: c.commit,
                    path: path.clone(),
                    old: (!added).then(|| c.old_blob.clone()),
                    new: c.new_blob.clone(),
                    first_seen: added && self.shallow.contains(&self.commits[c.commit].id),
                });
                if let Some(from) = &c.from {
                    queue.push((from.clone(), c.commit + 1));
                }
            }
        }
        out
    }

    /// A reader of old versions.
    pub fn blobs(&self) -> crate::git::Blobs {
        crate::git::Blobs::new(&self.toplevel)
    }
}

/// The URL of `origin`, else of the first remote, from `git config -z --get-regexp`, without
/// credentials.
fn pick_remote(out: &[u8]) -> Option<String> {
    let entries: Vec<(String, String)> = out
        .split(|&b| b == 0)
        .filter_map(|e| {
            let e = String::from_utf8_lossy(e);
            let (key, url) = e.split_once('\n')?;
            Some((key.to_owned(), url.to_owned()))
        })
        .collect();
    entries
        .iter()
        .find(|(k, _)| k == "remote.origin.url")
        .or(entries.first())
        .map(|(_, url)| strip_credentials(url))
}

/// A remote URL without what may be a credential: the user and password of an `http(s)://` or
/// `ftp(s)://` URL (a token is often given as either), its query and fragment; the password of
/// any other `scheme://user:password@` URL. `user@host:path` (scp form) and local paths are
/// kept.
pub fn strip_credentials(url: &str) -> String {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let web = matches!(
        scheme.to_ascii_lowercase().as_str(),
        "http" | "https" | "ftp" | "ftps"
    );
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (user_info, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let user = match user_info {
        Some(u) if !web => match u.split_once(':') {
            Some((user, _password)) => format!("{user}@"),
            None => format!("{u}@"),
        },
        _ => String::new(),
    };
    let path = if web {
        path.split(['?', '#']).next().unwrap_or_default()
    } else {
        path
    };
    format!("{scheme}://{user}{host}{path}")
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
            branch: None,
            remote: None,
            shallow: HashSet::new(),
            commits: Vec::new(),
            changes: HashMap::new(),
            status: HashMap::new(),
        };
        r.take_history(History::parse(log).unwrap());
        assert_eq!(r.commits.len(), 2);
        assert_eq!(r.commits[0].time, "2023-11-14T22:15:00Z");
        // A pure rename is followed to the commit that added the file.
        let f = r.file("d/z.yaml");
        assert_eq!(f.head_blob.as_deref(), Some("1111"));
        let changes: Vec<(usize, &str, Option<&str>, &str)> = f
            .changes
            .iter()
            .map(|c| (c.commit, c.path.as_str(), c.old.as_deref(), c.new.as_str()))
            .collect();
        assert_eq!(
            changes,
            [
                (0, "d/z.yaml", Some("1111"), "1111"),
                (1, "d/x.yaml", None, "1111")
            ]
        );
        r.shallow.insert("c1".into());
        assert!(r.file("y").changes[1].first_seen);
        r.parse_status(b" M y\x00?? n.yaml\x00");
        assert_eq!(r.status["y"], WorkState::Modified);
        assert_eq!(r.status["n.yaml"], WorkState::Untracked);
    }

    #[test]
    fn remotes_lose_their_credentials() {
        for (given, shown) in [
            (
                "https://user:ghp_token@github.com/org/repo.git",
                "https://github.com/org/repo.git",
            ),
            (
                "https://ghp_token@github.com/org/repo",
                "https://github.com/org/repo",
            ),
            (
                "https://gitlab.example/r.git?private_token=abc#x",
                "https://gitlab.example/r.git",
            ),
            ("ssh://git:secret@host:22/r.git", "ssh://git@host:22/r.git"),
            ("ssh://git@host/r.git", "ssh://git@host/r.git"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            ("/srv/git/r.git", "/srv/git/r.git"),
        ] {
            assert_eq!(strip_credentials(given), shown, "{given}");
        }
        let cfg = b"remote.backup.url\nhttps://a:b@backup/r\x00remote.origin.url\nhttps://tok@origin/r\x00";
        assert_eq!(pick_remote(cfg).as_deref(), Some("https://origin/r"));
        assert_eq!(
            pick_remote(b"remote.x.url\nhttps://a:b@x/r\x00").as_deref(),
            Some("https://x/r")
        );
        assert_eq!(pick_remote(b""), None);
    }
}
