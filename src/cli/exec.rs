//! `shroud exec-env` and `shroud exec-file`: hand decrypted values to a command without writing
//! plaintext anywhere but a private FIFO (or a 0600 file in a 0700 temp dir with --no-fifo).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

use shroud::document;
use shroud::error::{Error, Result};
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
}

#[derive(clap::Args, Debug)]
pub struct FileArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// The command, run by `sh -c`; `{}` is replaced by the plaintext's path.
    pub command: String,
    /// Write a 0600 temp file instead of a FIFO (for programs that seek or read twice).
    #[arg(long)]
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
}

fn exit_of(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        _ => 1,
    }
}

pub fn run_env(a: EnvArgs, g: &Global) -> Result<Outcome> {
    let (input, _, opened) = common::open_file(&a.file, a.input_type.as_deref(), g)?;
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
    let mut vars: Vec<(String, OsString)> = Vec::new();
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
                    OsString::from(if s.as_bool() == Some(true) {
                        "true"
                    } else {
                        "false"
                    })
                }
                Value::Scalar(s) => OsString::from_vec(s.bytes().to_vec()),
                _ => OsString::new(),
            };
            vars.push((k.clone(), value));
        }
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&a.command);
    if a.pristine {
        cmd.env_clear();
    }
    cmd.envs(vars);
    let status = super::signals::run_child(&mut cmd).map_err(|source| Error::Command {
        command: a.command.clone(),
        source,
    })?;
    Ok(Outcome::Exit(exit_of(status)))
}

fn shell_quote(p: &std::path::Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', "'\\''"))
}

pub fn run_file(a: FileArgs, g: &Global) -> Result<Outcome> {
    if a.filename.contains('/') || a.filename == ".." || a.filename.is_empty() {
        return Err(Error::Usage("--filename must be a plain file name".into()));
    }
    let (input, fmt, opened) = common::open_file(&a.file, a.input_type.as_deref(), g)?;
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
    let dir = common::private_tempdir("shroud-exec-")?;
    let path = dir.path().join(&a.filename);
    let command = a.command.replace("{}", &shell_quote(&path));
    let werr = |source| Error::Write {
        file: path.display().to_string(),
        source,
    };
    let status = if a.no_fifo {
        shroud::fsutil::create_private(&path, plain.expose()).map_err(werr)?;
        super::signals::run_child(Command::new("sh").arg("-c").arg(&command))
    } else {
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
        let s = super::signals::run_child(Command::new("sh").arg("-c").arg(&command));
        drain_until_done(&path, &writer);
        let _ = writer.join();
        s
    };
    let status = status.map_err(|source| Error::Command {
        command: a.command.clone(),
        source,
    })?;
    drop(dir);
    Ok(Outcome::Exit(exit_of(status)))
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
