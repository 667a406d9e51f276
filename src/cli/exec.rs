//! `shroud exec-env` and `shroud exec-file`: hand decrypted values to a command without writing
//! plaintext anywhere but a private FIFO (or a 0600 file in a 0700 temp dir with --no-fifo).
//! sops's options: `--same-process` (exec-env: the command replaces shroud), `--user` (the
//! command runs as that user: supplementary groups, group and user set as sops 3.13.2 does,
//! HOME/USER/LOGNAME given), `--background` (start the command and return).
//!
//! `--user` changes the credentials of one thread made for it (rustix's per-thread calls; no
//! unsafe code), which then creates the plaintext's directory and starts the command: both get
//! the user's identity, and the rest of shroud keeps its own.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shroud::document;
use shroud::error::{Error, Result};
use shroud::secret::SecretBytes;
use shroud::store::Format;
use shroud::tree::{Kind, Value};

use super::Global;
use super::common::{self, Outcome};

/// A top-level key as a path, `["db"]`.
fn format_path(key: &str) -> String {
    shroud::tree::format_path(&[shroud::tree::PathElem::Key(key.to_owned())])
}

#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// The command, run by `sh -c`.
    pub command: String,
    /// Start the command with only the decrypted variables (no inherited environment).
    #[arg(long)]
    pub pristine: bool,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Run the command in this process (`exec`): shroud is replaced by it, so it receives
    /// signals directly and its exit status is the process's.
    #[arg(long, conflicts_with = "background")]
    pub same_process: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(clap::Args, Debug)]
pub struct FileArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// The command, run by `sh -c`; `{}` is replaced by the plaintext's path.
    pub command: String,
    /// Write a 0600 temp file instead of a FIFO (for programs that seek or read twice).
    #[arg(long, conflicts_with = "background")]
    pub no_fifo: bool,
    /// Name of the plaintext file.
    #[arg(long, default_value = "tmp-file")]
    pub filename: String,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Format of the plaintext handed to the command; default: the input format.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options both verbs share.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Run the command as this user (looked up in /etc/passwd and /etc/group, as sops does):
    /// its groups, group and user are set, and HOME, USER and LOGNAME are the user's. Needs
    /// root (CAP_SETUID and CAP_SETGID).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Start the command and return without waiting for it (deprecated in sops). Its stdin,
    /// stdout and stderr are /dev/null; exec-file returns once the command has read the
    /// plaintext from the FIFO.
    #[arg(long)]
    pub background: bool,
    /// Decrypt even if the MAC is missing or wrong. Integrity is then NOT verified.
    #[arg(long)]
    pub ignore_mac: bool,
}

fn exit_of(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        _ => 1,
    }
}

/// Reads, decrypts and verifies the file.
fn open(
    file: &Path,
    input_type: Option<&str>,
    ignore_mac: bool,
    g: &Global,
) -> Result<(common::Input, Format, document::Opened)> {
    let input = common::read_input(Some(file))?;
    let fmt = common::input_format(input_type, input.path.as_deref(), input.bytes.expose())?;
    let opened = common::block_on(document::open(
        &input.label,
        fmt,
        input.bytes.expose(),
        &common::keyring(g)?,
        ignore_mac,
    ))?;
    if let Some(w) = &opened.mac_warning {
        common::warn(&format!("{}: {w}", input.label));
    }
    Ok((input, fmt, opened))
}

/// A user to run the command as.
#[derive(Debug)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: OsString,
    /// The primary group, then every group of /etc/group that lists the user.
    groups: Vec<u32>,
}

/// Looks `name` up as sops's static build does (Go's `os/user` without cgo): the first
/// /etc/passwd line with that name, and the /etc/group lines whose member list names it.
fn lookup_user(name: &str) -> Result<Account> {
    let read = |path: &str| {
        shroud::fsutil::read_file(Path::new(path)).map_err(|source| Error::Read {
            file: path.to_owned(),
            source,
        })
    };
    let unknown = || {
        Error::Invalid(format!(
            "--user: unknown user {name:?} (not in /etc/passwd)"
        ))
    };
    let passwd = read("/etc/passwd")?;
    let entry = passwd
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .map(|l| l.split(|&b| b == b':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == name.as_bytes())
        .ok_or_else(unknown)?;
    let num = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
    };
    let (Some(uid), Some(gid)) = (num(entry[2]), num(entry[3])) else {
        return Err(unknown());
    };
    let mut groups = vec![gid];
    if let Ok(group) = read("/etc/group") {
        for line in group.split(|&b| b == b'\n') {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            if f.len() != 4 || f[0].is_empty() {
                continue;
            }
            let member = f[3].split(|&b| b == b',').any(|m| m == name.as_bytes());
            if let (true, Some(g)) = (member, num(f[2]))
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok(Account {
        name: name.to_owned(),
        uid,
        gid,
        home: OsString::from_vec(entry[5].to_vec()),
        groups,
    })
}

impl Account {
    /// Gives the calling thread this account's groups, group and user (real, effective and
    /// saved), in that order.
    fn become_it(&self) -> Result<()> {
        use rustix::process::{Gid, Uid};
        use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
        let fail = |what: &str, e: rustix::io::Errno| Error::Command {
            command: format!("--user {}", self.name),
            source: std::io::Error::other(format!(
                "cannot set the {what}: {} (switching users needs root)",
                std::io::Error::from(e)
            )),
        };
        let groups: Vec<Gid> = self.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        set_thread_groups(&groups).map_err(|e| fail("supplementary groups", e))?;
        let gid = Gid::from_raw(self.gid);
        set_thread_res_gid(gid, gid, gid).map_err(|e| fail("group", e))?;
        let uid = Uid::from_raw(self.uid);
        set_thread_res_uid(uid, uid, uid).map_err(|e| fail("user", e))?;
        Ok(())
    }

    /// The variables a login as this user would have.
    fn env(&self) -> [(&'static str, OsString); 3] {
        [
            ("HOME", self.home.clone()),
            ("USER", self.name.clone().into()),
            ("LOGNAME", self.name.clone().into()),
        ]
    }
}

/// Runs `f` as `user` (on a thread of its own, whose credentials are changed) or, without a
/// user, as shroud.
fn as_user<T: Send>(user: Option<&Account>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let Some(user) = user else {
        return f();
    };
    std::thread::scope(|s| {
        s.spawn(move || {
            user.become_it()?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Internal {
                file: "the command".into(),
            })
        })
    })
}

/// The command's environment: inherited (unless pristine), the user's HOME/USER/LOGNAME with
/// --user, then the decrypted variables.
fn environment(cmd: &mut Command, pristine: bool, user: Option<&Account>) {
    if pristine {
        cmd.env_clear();
    }
    if let Some(u) = user {
        cmd.envs(u.env());
    }
}

/// Starts the command in the background: no waiting, stdio on /dev/null (as sops).
fn start_background(cmd: &mut Command, command: &str) -> Result<std::process::Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| Error::Command {
            command: command.to_owned(),
            source,
        })
}

fn deprecated(verb: &str) {
    common::warn(&format!(
        "{verb} --background is deprecated in sops and will be removed there; the command runs on after shroud returns"
    ));
}

pub fn run_env(a: EnvArgs, g: &Global) -> Result<Outcome> {
    let user = a.run.user.as_deref().map(lookup_user).transpose()?;
    let (input, _, opened) = open(&a.file, a.input_type.as_deref(), a.run.ignore_mac, g)?;
    // As sops, a mapping or list at the top level is refused before anything runs; all of
    // them are named at once, with the verb that does take nested documents.
    let nested: Vec<String> = opened
        .tree
        .branches
        .iter()
        .flat_map(|b| b.pairs())
        .filter_map(|(k, v)| match v {
            Value::Map(_) => Some(format!("{} is a mapping", format_path(k))),
            Value::List(_) => Some(format!("{} is a list", format_path(k))),
            _ => None,
        })
        .collect();
    if !nested.is_empty() {
        const SHOWN: usize = 5;
        let mut named: Vec<String> = nested.iter().take(SHOWN).cloned().collect();
        if nested.len() > SHOWN {
            named.push(format!("{} more are nested", nested.len() - SHOWN));
        }
        let last = named.pop().expect("not empty");
        let named = if named.is_empty() {
            last
        } else {
            format!("{} and {last}", named.join(", "))
        };
        return Err(Error::TreePath {
            file: input.label.clone(),
            message: format!(
                "exec-env makes an environment variable of each top-level value, but {named}; nothing was run (use exec-file, which hands the whole document to the command as a file: shroud exec-file {} 'COMMAND {{}}')",
                input.label
            ),
        });
    }
    // The values stay wiped until the command's environment is built from them.
    let mut vars: Vec<(String, SecretBytes)> = Vec::new();
    for branch in &opened.tree.branches {
        for (k, v) in branch.pairs() {
            if k.contains('=') || k.is_empty() {
                return Err(Error::TreePath {
                    file: input.label.clone(),
                    message: format!(
                        "{} cannot be an environment variable name; nothing was run",
                        format_path(k)
                    ),
                });
            }
            let value = match v {
                Value::Scalar(s) if s.kind == Kind::Bool => {
                    SecretBytes::from(if s.as_bool() == Some(true) {
                        "true"
                    } else {
                        "false"
                    })
                }
                Value::Scalar(s) => SecretBytes::from_slice(s.bytes()),
                _ => SecretBytes::default(),
            };
            vars.push((k.clone(), value));
        }
    }
    drop(opened);
    if a.run.background {
        deprecated("exec-env");
    }
    let command = &a.command;
    as_user(user.as_ref(), || {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command);
        environment(&mut cmd, a.pristine, user.as_ref());
        cmd.envs(vars.iter().map(|(k, v)| (k, OsStr::from_bytes(v.expose()))));
        let cerr = |source| Error::Command {
            command: command.clone(),
            source,
        };
        if a.same_process {
            // Only returns when the command could not be started.
            return Err(cerr(cmd.exec()));
        }
        if a.run.background {
            start_background(&mut cmd, command)?;
            return Ok(Outcome::Done);
        }
        let status = super::signals::run_child(&mut cmd).map_err(cerr)?;
        Ok(Outcome::Exit(exit_of(status)))
    })
}

fn shell_quote(p: &Path) -> String {
    shroud::text::shell_quote(&p.to_string_lossy())
}

/// How long `exec-file --background` waits for the command to read the plaintext.
const BACKGROUND_READ_WAIT: Duration = Duration::from_secs(60);

pub fn run_file(a: FileArgs, g: &Global) -> Result<Outcome> {
    if a.filename.contains('/') || a.filename == ".." || a.filename.is_empty() {
        return Err(Error::Invalid(
            "--filename must be a plain file name".into(),
        ));
    }
    let user = a.run.user.as_deref().map(lookup_user).transpose()?;
    let (input, fmt, opened) = open(&a.file, a.input_type.as_deref(), a.run.ignore_mac, g)?;
    let out_fmt = match &a.output_type {
        Some(t) => common::parse_format(t)?,
        None => fmt,
    };
    let plain = shroud::secret::SecretBytes::new(document::emit_plain(
        &input.label,
        out_fmt,
        &opened.tree,
        common::emit_options(g, out_fmt, None),
    )?);
    drop(opened);
    if a.run.background {
        deprecated("exec-file");
    }
    as_user(user.as_ref(), || {
        // Made by the thread that runs the command: with --user, the user owns it.
        let dir = common::private_tempdir("shroud-exec-")?;
        let path = dir.path().join(&a.filename);
        let command = a.command.replace("{}", &shell_quote(&path));
        let werr = |source| Error::Write {
            file: path.display().to_string(),
            source,
        };
        let cerr = |source| Error::Command {
            command: a.command.clone(),
            source,
        };
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&command);
        environment(&mut cmd, false, user.as_ref());
        if a.no_fifo {
            shroud::fsutil::create_private(&path, plain.expose()).map_err(werr)?;
            let status = super::signals::run_child(&mut cmd).map_err(cerr)?;
            drop(dir);
            return Ok(Outcome::Exit(exit_of(status)));
        }
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .map_err(|e| werr(e.into()))?;
        let fifo = path.clone();
        let data = plain.clone();
        let writer = std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(data.expose());
            }
        });
        let result = if a.run.background {
            // Return once the command has the plaintext (or has ended); never wait forever.
            let mut child = start_background(&mut cmd, &a.command)?;
            let start = Instant::now();
            let delivered = loop {
                if writer.is_finished() {
                    break true;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break false;
                }
                if start.elapsed() > BACKGROUND_READ_WAIT {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if delivered || child.try_wait().ok().flatten().is_some() {
                Ok(Outcome::Done)
            } else {
                Err(Error::Command {
                    command: a.command.clone(),
                    source: std::io::Error::other(format!(
                        "it did not read the plaintext within {} s; the plaintext was withdrawn (the command keeps running)",
                        BACKGROUND_READ_WAIT.as_secs()
                    )),
                })
            }
        } else {
            super::signals::run_child(&mut cmd)
                .map(|s| Outcome::Exit(exit_of(s)))
                .map_err(cerr)
        };
        drain_until_done(&path, &writer);
        let _ = writer.join();
        drop(dir);
        result
    })
}

/// The command ended without reading all of the FIFO: read the rest ourselves so the writer
/// thread ends. The read side is opened without blocking (a blocking open would wait forever
/// for a writer that has just finished), and drained until the writer is done.
fn drain_until_done(path: &std::path::Path, writer: &std::thread::JoinHandle<()>) {
    use std::os::unix::fs::OpenOptionsExt;
    if writer.is_finished() {
        return;
    }
    let Ok(mut r) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    else {
        return;
    };
    let mut buf = zeroize::Zeroizing::new([0u8; 8192]);
    while !writer.is_finished() {
        match r.read(&mut buf[..]) {
            Ok(n) if n > 0 => continue,
            _ => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_as_sops_reads_them() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.groups.first(), Some(&0));
        assert!(lookup_user("no-such-user-here").is_err());
        assert!(lookup_user("").is_err());
    }
}
