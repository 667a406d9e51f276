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
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::model::{Commit, FileGit};

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

fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(["-c", "core.quotePath=false"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_EXTERNAL_DIFF");
    c
}

/// Runs git; `Ok(None)` when git exits non-zero.
fn run(dir: &Path, args: &[&str]) -> Result<Option<Vec<u8>>, GitError> {
    let out = git_cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    Ok(out.status.success().then_some(out.stdout))
}

/// Runs git and fails on a non-zero exit.
fn run_ok(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = git_cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

/// One path's change in one commit.
#[derive(Clone, Debug)]
struct Change {
    /// Index into [`Repo::commits`] (higher is older).
    commit: usize,
    /// git's status letter: A, M, D, R, C, T.
    status: u8,
    old_blob: String,
    new_blob: String,
    /// The source path of a rename or copy.
    from: Option<String>,
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

const NO_BLOB: &str = "0000000000000000000000000000000000000000";

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
            let log = run_ok(
                dir,
                &[
                    "log",
                    "-M",
                    "--raw",
                    "--no-abbrev",
                    "-z",
                    "--no-color",
                    "--format=%x01%H%x00%ct%x00%an%x00%ae",
                    "--",
                    ".",
                ],
            )?;
            repo.parse_log(&log)?;
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

    fn parse_log(&mut self, out: &[u8]) -> Result<(), GitError> {
        for chunk in out.split(|&b| b == 1).filter(|c| !c.is_empty()) {
            let mut tokens = chunk.split(|&b| b == 0);
            let mut header = || {
                tokens
                    .next()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .ok_or(GitError::Protocol("log"))
            };
            let id = header()?;
            let unix: i64 = header()?
                .trim()
                .parse()
                .map_err(|_| GitError::Protocol("log"))?;
            let author = header()?;
            let email = header()?;
            let index = self.commits.len();
            self.commits.push(Commit {
                id,
                time: rfc3339(unix),
                unix,
                author,
                email,
            });
            let rest: Vec<&[u8]> = tokens.collect();
            let mut i = 0;
            while i < rest.len() {
                let t = String::from_utf8_lossy(rest[i]);
                let t = t.trim_start_matches('\n');
                i += 1;
                let Some(meta) = t.strip_prefix(':') else {
                    continue;
                };
                let f: Vec<&str> = meta.split(' ').collect();
                if f.len() < 5 {
                    return Err(GitError::Protocol("log --raw"));
                }
                let status = f[4].bytes().next().unwrap_or(b'M');
                let path_at = |i: usize| {
                    rest.get(i)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .ok_or(GitError::Protocol("log --raw"))
                };
                let (from, path) = if matches!(status, b'R' | b'C') {
                    let from = path_at(i)?;
                    let to = path_at(i + 1)?;
                    i += 2;
                    (Some(from), to)
                } else {
                    let p = path_at(i)?;
                    i += 1;
                    (None, p)
                };
                self.changes.entry(path).or_default().push(Change {
                    commit: index,
                    status,
                    old_blob: f[2].to_owned(),
                    new_blob: f[3].to_owned(),
                    from,
                });
            }
        }
        Ok(())
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
            dir: self.toplevel.clone(),
            proc: None,
            cache: HashMap::new(),
        }
    }
}

/// One `git cat-file --batch`, started on first use, answering one object at a time; envelope
/// fingerprints are remembered per blob.
pub struct Blobs {
    dir: PathBuf,
    proc: Option<(Child, ChildStdin, BufReader<ChildStdout>)>,
    cache: HashMap<String, Option<Vec<String>>>,
}

impl Blobs {
    fn read(&mut self, id: &str) -> Result<Option<Vec<u8>>, GitError> {
        if self.proc.is_none() {
            let mut child = git_cmd(&self.dir)
                .args(["cat-file", "--batch"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(GitError::Spawn)?;
            let stdin = child.stdin.take().ok_or(GitError::Protocol("cat-file"))?;
            let stdout = child.stdout.take().ok_or(GitError::Protocol("cat-file"))?;
            self.proc = Some((child, stdin, BufReader::new(stdout)));
        }
        let Some((_, stdin, out)) = self.proc.as_mut() else {
            return Err(GitError::Protocol("cat-file"));
        };
        stdin.write_all(id.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let mut header = String::new();
        if out.read_line(&mut header)? == 0 {
            return Err(GitError::Protocol("cat-file"));
        }
        let parts: Vec<&str> = header.trim_end().split(' ').collect();
        if parts.len() != 3 {
            return Ok(None);
        }
        let size: usize = parts[2]
            .parse()
            .map_err(|_| GitError::Protocol("cat-file"))?;
        let mut buf = vec![0; size + 1];
        out.read_exact(&mut buf)?;
        buf.pop();
        Ok(Some(buf))
    }

    fn fingerprint(
        &mut self,
        id: &str,
        f: &dyn Fn(&[u8]) -> Option<Vec<String>>,
    ) -> Result<Option<Vec<String>>, GitError> {
        if let Some(fp) = self.cache.get(id) {
            return Ok(fp.clone());
        }
        let fp = self.read(id)?.and_then(|b| f(&b));
        self.cache.insert(id.to_owned(), fp.clone());
        Ok(fp)
    }
}

impl Drop for Blobs {
    fn drop(&mut self) {
        if let Some((mut child, stdin, _)) = self.proc.take() {
            drop(stdin);
            let _ = child.wait();
        }
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
    fn parses_raw_log_with_renames() {
        let log = b"\x01c2\x001700000100\x00A B\x00a@b\x00\n:100644 100644 1111 1111 R100\x00d/x.yaml\x00d/z.yaml\x00:100644 100644 2222 3333 M\x00y\x00\x01c1\x001700000000\x00A B\x00a@b\x00\n:000000 100644 0000000000000000000000000000000000000000 1111 A\x00d/x.yaml\x00:000000 100644 0000000000000000000000000000000000000000 2222 A\x00y\x00";
        let mut r = Repo {
            toplevel: PathBuf::from("/r"),
            prefix: String::new(),
            head: Some("c2".into()),
            commits: Vec::new(),
            changes: HashMap::new(),
            status: HashMap::new(),
        };
        r.parse_log(log).unwrap();
        assert_eq!(r.commits.len(), 2);
        assert_eq!(r.commits[0].time, "2023-11-14T22:15:00Z");
        let z = &r.changes["d/z.yaml"];
        assert_eq!(z[0].status, b'R');
        assert_eq!(z[0].from.as_deref(), Some("d/x.yaml"));
        assert_eq!(r.changes["y"].len(), 2);
        assert_eq!(r.changes["d/x.yaml"][0].commit, 1);
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
