//! Running the `git` CLI: one hardened command (no prompts, no external diff, no optional
//! locks, paths unquoted), every call under the git timeout of [`crate::external`].
//!
//! Owns: how git is started and how its failures read, and a few generic calls (a blob at a
//! revision, git's own three-way text merge, where the global attributes file is); and the
//! work trees whose git answers come from inside the process ([`InProcess`]: the rotation job
//! runs where there is no git CLI), so that the walker, [`History`] and [`Blobs`] read them
//! the same way. Must not know: what is asked of git (the walker, the scanner's sources and
//! the audit's history each parse their own output), or which library answers in process.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::external::{self, ExternalError, Service};

/// Why git could not answer.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(transparent)]
    External(#[from] ExternalError),
    #[error("git {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

/// A work tree whose git answers come from inside the process instead of the `git` CLI: the
/// rotation job's clone (`shroud rotate --git`), made by an in-process git in an image that has
/// no git program. While it is [`serve`]d, the repository walk ([`crate::repo::walk`]),
/// [`History::read`], [`Blobs`] and [`toplevel`] ask it for everything under its top
/// directory, so that every repository-wide operation reads that tree exactly as it would read
/// one the CLI answers for.
pub trait InProcess: Send + Sync {
    /// What `git ls-files -z --cached --others --exclude-standard` lists at the top: every
    /// path the index tracks (`.gitignore` or not) and every untracked file that is not
    /// ignored, relative to the top.
    fn files(&self) -> Result<Vec<PathBuf>, GitError>;
    /// What [`History::read`] reads at the top (HEAD's history; every ref with
    /// [`Scope::all_refs`]), paths relative to the top.
    fn history(&self, scope: Scope) -> Result<History, GitError>;
    /// A blob's content; `Ok(None)` when the object is missing.
    fn blob(&self, id: &str) -> Result<Option<Vec<u8>>, GitError>;
    /// The commit checked out.
    fn head(&self) -> Option<String>;
    /// The branch checked out.
    fn branch(&self) -> Option<String>;
    /// The URL of the remote it was cloned from.
    fn remote(&self) -> Option<String>;
}

/// The work trees being [`serve`]d: canonical top directory and answerer.
type Served = Vec<(PathBuf, std::sync::Arc<dyn InProcess>)>;
static IN_PROCESS: std::sync::Mutex<Served> = std::sync::Mutex::new(Vec::new());

/// Makes `src` answer for the work tree at `top` until the returned guard is dropped.
pub fn serve(top: &Path, src: std::sync::Arc<dyn InProcess>) -> std::io::Result<Serving> {
    let top = std::fs::canonicalize(top)?;
    IN_PROCESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((top.clone(), src));
    Ok(Serving(top))
}

/// Stops [`serve`]'s answers for its work tree when dropped.
#[must_use = "the work tree is served only while this lives"]
pub struct Serving(PathBuf);

impl Drop for Serving {
    fn drop(&mut self) {
        IN_PROCESS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(top, _)| top != &self.0);
    }
}

/// The served work tree around `dir`: its top directory, `dir` relative to the top, and its
/// answerer. `None` (the CLI answers) when no served tree contains `dir`.
pub fn in_process(dir: &Path) -> Option<(PathBuf, PathBuf, std::sync::Arc<dyn InProcess>)> {
    let served = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    if served.is_empty() {
        return None;
    }
    let abs = std::fs::canonicalize(dir).ok()?;
    served.iter().find_map(|(top, src)| {
        let rel = abs.strip_prefix(top).ok()?;
        Some((top.clone(), rel.to_path_buf(), src.clone()))
    })
}

/// `git -C dir` with settings that make its output stable and its behaviour non-interactive.
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(["-c", "core.quotePath=false", "-c", "diff.noprefix=false"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_EXTERNAL_DIFF");
    c
}

/// Runs git in `dir` under the git timeout; `Ok(None)` when git exits non-zero.
pub fn try_run(dir: &Path, args: &[&str]) -> Result<Option<Vec<u8>>, GitError> {
    let out = external::run(command(dir).args(args), Service::Git, &what(args), None)?;
    Ok(out.status.success().then_some(out.stdout))
}

/// Runs git in `dir` under the git timeout and fails on a non-zero exit, with git's message.
pub fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = external::run(command(dir).args(args), Service::Git, &what(args), None)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: crate::text::sanitize_bytes(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

/// `git ARGS` as messages name a call (the verb and its first arguments).
fn what(args: &[&str]) -> String {
    let shown: Vec<&str> = args.iter().take(3).copied().collect();
    format!("git {}", shown.join(" "))
}

/// The top directory of the git work tree containing `dir`, if any (and if git runs).
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    if let Some((top, _, _)) = in_process(dir) {
        return Some(top);
    }
    let out = try_run(dir, &["rev-parse", "--show-toplevel"]).ok()??;
    let s = String::from_utf8(out).ok()?;
    let s = s.trim_end_matches(['\n', '\r']);
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// The content of `name` (a file in `dir`) as commit `rev` holds it (`git cat-file blob
/// REV:./NAME`: no textconv, no filters); `Ok(None)` when `dir` is not in a work tree or `rev`
/// has no such file.
pub fn blob_at(dir: &Path, rev: &str, name: &Path) -> Result<Option<Vec<u8>>, GitError> {
    let spec = format!("{rev}:./{}", name.display());
    try_run(dir, &["cat-file", "blob", &spec])
}

/// `git merge-file`: git's own line-based three-way merge, the result written into `ours`
/// (conflict markers labelled with `labels`: ours, base, theirs). `Ok(true)` when it merged
/// cleanly, `Ok(false)` when it left conflicts; an error when git refused (a binary file).
pub fn merge_file(
    dir: &Path,
    (ours, base, theirs): (&Path, &Path, &Path),
    labels: [&str; 3],
    marker_size: Option<usize>,
) -> Result<bool, GitError> {
    let mut c = command(dir);
    c.arg("merge-file");
    for l in labels {
        c.arg("-L").arg(l);
    }
    if let Some(n) = marker_size {
        c.arg(format!("--marker-size={n}"));
    }
    c.arg("--").arg(ours).arg(base).arg(theirs);
    let out = external::run(&mut c, Service::Git, "git merge-file", None)?;
    match out.status.code() {
        Some(0) => Ok(true),
        // The number of conflicts (git caps it at 127); a refusal is -1 (255).
        Some(1..=127) => Ok(false),
        _ => Err(GitError::Failed {
            args: "merge-file".into(),
            stderr: crate::text::sanitize_bytes(&out.stderr).trim().to_owned(),
        }),
    }
}

/// The attributes file git reads for every repository of this user: `core.attributesFile`,
/// else `$XDG_CONFIG_HOME/git/attributes`, else `~/.config/git/attributes`.
pub fn global_attributes_file(dir: &Path) -> Option<PathBuf> {
    let set = try_run(dir, &["config", "--path", "--get", "core.attributesFile"])
        .ok()
        .flatten()
        .map(|o| {
            String::from_utf8_lossy(&o)
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        })
        .filter(|s| !s.is_empty());
    if let Some(p) = set {
        return Some(PathBuf::from(p));
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CONFIG_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("git").join("attributes"))
}

/// Splits NUL-separated git output (`-z`) into paths (bytes as the file system has them).
pub fn nul_paths(out: &[u8]) -> impl Iterator<Item = PathBuf> + '_ {
    use std::os::unix::ffi::OsStrExt;
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
}

/// A commit as [`History`] reads it. Author names and e-mails are repository-controlled text:
/// they may hold any byte but NUL, so whoever prints them sanitises them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    /// Commit time, Unix seconds.
    pub unix: i64,
    pub author: String,
    pub email: String,
}

/// One path's change in one commit (`git log --raw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Index into [`History::commits`] (higher is older).
    pub commit: usize,
    /// git's status letter: A, M, D, R, C, T.
    pub status: u8,
    pub old_blob: String,
    pub new_blob: String,
    /// The source path of a rename or copy.
    pub from: Option<String>,
}

/// The all-zero object id git prints for "no blob" (an added or deleted side).
pub const NO_BLOB: &str = "0000000000000000000000000000000000000000";

/// Which history [`History::read`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope {
    /// Every ref (`--all`: every branch and tag a clone receives), not only HEAD's history.
    pub all_refs: bool,
    /// Follow renames and copies (`-M`).
    pub renames: bool,
}

/// The commits that touched the paths under a directory, newest first, and per path (relative
/// to the repository's top) its changes, newest first. Read in one `git log --raw -z` pass.
#[derive(Debug, Default)]
pub struct History {
    pub commits: Vec<Commit>,
    pub changes: std::collections::HashMap<String, Vec<Change>>,
}

/// The token that opens each commit's header in [`History::read`]'s format. Headers are read
/// by position after it, so author names may hold any byte git allows (controls included).
const COMMIT_MARK: &[u8] = b"\x01shroud-commit";

impl History {
    /// The history of everything under `dir` (which must be in a work tree with a commit).
    pub fn read(dir: &Path, scope: Scope) -> Result<History, GitError> {
        if let Some((_, rel, src)) = in_process(dir) {
            let mut h = src.history(scope)?;
            if !rel.as_os_str().is_empty() {
                // `-- .` in a subdirectory: only the paths under it.
                h.changes
                    .retain(|path, _| Path::new(path).starts_with(&rel));
            }
            return Ok(h);
        }
        let mut args = vec![
            "log",
            "--raw",
            "--no-abbrev",
            "-z",
            "--no-color",
            "--no-show-signature",
            "--format=%x01shroud-commit%x00%H%x00%ct%x00%an%x00%ae%x00",
        ];
        args.push(if scope.renames { "-M" } else { "--no-renames" });
        if scope.all_refs {
            args.push("--all");
        }
        args.extend(["--", "."]);
        let out = run(dir, &args)?;
        History::parse(&out).ok_or_else(|| GitError::Failed {
            args: "log --raw".into(),
            stderr: "unexpected output".into(),
        })
    }

    /// Parses the output of [`History::read`]'s `git log`; `None` when it is not of that form.
    pub fn parse(out: &[u8]) -> Option<History> {
        let mut h = History::default();
        let mut tokens = out.split(|&b| b == 0).peekable();
        let trim = |t: &[u8]| -> Vec<u8> {
            let start = t.iter().position(|&b| b != b'\n').unwrap_or(t.len());
            t[start..].to_vec()
        };
        let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
        while let Some(tok) = tokens.next() {
            let tok = trim(tok);
            if tok.is_empty() {
                continue;
            }
            if tok == COMMIT_MARK {
                let id = text(tokens.next()?);
                let unix: i64 = text(tokens.next()?).trim().parse().ok()?;
                let author = text(tokens.next()?);
                let email = text(tokens.next()?);
                h.commits.push(Commit {
                    id,
                    unix,
                    author,
                    email,
                });
                continue;
            }
            let meta = tok.strip_prefix(b":")?;
            let meta = String::from_utf8_lossy(meta);
            let f: Vec<&str> = meta.split(' ').collect();
            if f.len() < 5 || h.commits.is_empty() {
                return None;
            }
            let status = f[4].bytes().next().unwrap_or(b'M');
            let (from, path) = if matches!(status, b'R' | b'C') {
                (Some(text(tokens.next()?)), text(tokens.next()?))
            } else {
                (None, text(tokens.next()?))
            };
            h.changes.entry(path).or_default().push(Change {
                commit: h.commits.len() - 1,
                status,
                old_blob: f[2].to_owned(),
                new_blob: f[3].to_owned(),
                from,
            });
        }
        Some(h)
    }
}

/// One `git cat-file --batch`, started on first use, answering one object at a time. The
/// process is registered for killing on signals; a read that waits longer than the git timeout
/// fails ([`external::stream`]).
pub struct Blobs {
    dir: PathBuf,
    proc: Option<BatchProc>,
}

struct BatchProc {
    child: external::Streamed,
    stdin: std::process::ChildStdin,
    out: std::io::BufReader<external::StreamOut>,
}

impl Blobs {
    /// A reader of objects of the repository around `dir`.
    pub fn new(dir: &Path) -> Blobs {
        Blobs {
            dir: dir.to_path_buf(),
            proc: None,
        }
    }

    /// The content of a blob; `Ok(None)` when the object is missing.
    pub fn read(&mut self, id: &str) -> Result<Option<Vec<u8>>, GitError> {
        use std::io::{BufRead, Read, Write};
        let io = |e: std::io::Error| {
            // A read that waited past the git timeout carries the timeout itself.
            if e.kind() == std::io::ErrorKind::TimedOut
                && e.get_ref().is_some_and(|i| i.is::<ExternalError>())
            {
                return GitError::External(ExternalError::Timeout {
                    service: Service::Git,
                    what: "git cat-file --batch".into(),
                    secs: Service::Git.timeout().as_secs(),
                });
            }
            GitError::External(ExternalError::Io {
                program: "git cat-file".into(),
                source: e,
            })
        };
        if self.proc.is_none()
            && let Some((_, _, src)) = in_process(&self.dir)
        {
            return src.blob(id);
        }
        if self.proc.is_none() {
            let (mut child, stdout) = external::stream(
                command(&self.dir)
                    .args(["cat-file", "--batch"])
                    .stdin(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null()),
                Service::Git,
                "git cat-file --batch",
            )?;
            let stdin = child.child.stdin.take().expect("stdin is piped");
            self.proc = Some(BatchProc {
                child,
                stdin,
                out: std::io::BufReader::new(stdout),
            });
        }
        let p = self.proc.as_mut().expect("started above");
        p.stdin.write_all(id.as_bytes()).map_err(io)?;
        p.stdin.write_all(b"\n").map_err(io)?;
        p.stdin.flush().map_err(io)?;
        let mut header = String::new();
        if p.out.read_line(&mut header).map_err(io)? == 0 {
            return Err(GitError::Failed {
                args: "cat-file --batch".into(),
                stderr: "git ended early".into(),
            });
        }
        let parts: Vec<&str> = header.trim_end().split(' ').collect();
        if parts.len() != 3 {
            return Ok(None);
        }
        let size: usize = parts[2].parse().map_err(|_| GitError::Failed {
            args: "cat-file --batch".into(),
            stderr: "unexpected output".into(),
        })?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(size + 1).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "object too large",
            ))
        })?;
        buf.resize(size + 1, 0);
        p.out.read_exact(&mut buf).map_err(io)?;
        buf.pop();
        Ok(Some(buf))
    }
}

impl Drop for Blobs {
    fn drop(&mut self) {
        if let Some(p) = self.proc.take() {
            // No more requests and no more reading: a git stopped half-way through an object
            // (after a read failed) ends on the closed pipe instead of waiting to write it.
            drop(p.stdin);
            drop(p.out);
            let _ = p.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_log_with_renames_and_hostile_authors() {
        let log = b"\x01shroud-commit\x00c2\x001700000100\x00A \x01B\x1b]0;x\x07\x00a@b\x00\n\n:100644 100644 1111 1111 R100\x00d/x.yaml\x00d/z.yaml\x00:100644 100644 2222 3333 M\x00y\x00\x01shroud-commit\x00c1\x001700000000\x00commit\x00a@b\x00\n\n:000000 100644 0000000000000000000000000000000000000000 1111 A\x00d/x.yaml\x00:000000 100644 0000000000000000000000000000000000000000 2222 A\x00y\x00";
        let h = History::parse(log).unwrap();
        assert_eq!(h.commits.len(), 2);
        assert_eq!(h.commits[0].author, "A \x01B\x1b]0;x\x07");
        assert_eq!(h.commits[1].author, "commit");
        let z = &h.changes["d/z.yaml"];
        assert_eq!(z[0].status, b'R');
        assert_eq!(z[0].from.as_deref(), Some("d/x.yaml"));
        assert_eq!(h.changes["y"].len(), 2);
        assert_eq!(h.changes["d/x.yaml"][0].commit, 1);
    }
}
