//! Shared CLI plumbing: reading input, writing output safely, choosing formats, turning key and
//! rule flags into what the library decides recipients from (`shroud::file`), telling the user
//! the library's notes, confirmations, and the async runtimes.
//!
//! Must not know: format or crypto internals.

use std::io::Write;
use std::path::{Path, PathBuf};

use shroud::config::Config;
use shroud::crypto::RuleSpec;
use shroud::error::{Error, Result};
use shroud::file::{Given, Note};
use shroud::fsutil::{self, Mode};
use shroud::keysource::{KeySpec, Keyring};
use shroud::secret::SecretBytes;
use shroud::store::{EmitOptions, Format};

use super::Global;

/// What a verb wants the process to do on success (decided at the reporting edge).
pub use super::messages::Outcome;

/// Runs a future on a runtime created once per process.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::OnceLock;
    // One file at a time needs no worker threads: key-source calls run concurrently on this
    // thread, and starting no threads keeps a one-file command's start-up short.
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the async runtime starts")
    })
    .block_on(f)
}

/// [`block_on`] for work that spreads over many files (rotate, updatekeys, bulk encrypt):
/// a multi-thread runtime, so file tasks encrypt in parallel and several threads may block on
/// it at once. A command uses one of the two runtimes, never both (key-source clients hold
/// connections of the runtime they were first used on).
pub fn block_on_parallel<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::OnceLock;
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.max(2))
            .enable_all()
            .build()
            .expect("the async runtime starts")
    })
    .block_on(f)
}

/// Input: a named file or stdin. The bytes may be plaintext (encrypt, edit), so they are held
/// in a zeroizing buffer.
pub struct Input {
    pub label: String,
    pub path: Option<PathBuf>,
    pub bytes: SecretBytes,
}

/// Reads `file` (or stdin for `None` / `-`).
pub fn read_input(file: Option<&Path>) -> Result<Input> {
    match file {
        Some(p) if p != Path::new("-") => Ok(Input {
            label: p.display().to_string(),
            path: Some(p.to_path_buf()),
            bytes: shroud::file::read(p)?,
        }),
        _ => {
            let bytes = fsutil::read_bounded(std::io::stdin().lock(), None, fsutil::max_input())
                .map_err(|source| Error::Read {
                    file: "<stdin>".into(),
                    source,
                })?;
            Ok(Input {
                label: "<stdin>".into(),
                path: None,
                bytes: SecretBytes::new(bytes),
            })
        }
    }
}

/// The input format: `--input-type`, else the (override) file name's extension, else a guess
/// for stdin (JSON if it starts with `{`, YAML otherwise).
pub fn input_format(explicit: Option<&str>, name: Option<&Path>, bytes: &[u8]) -> Result<Format> {
    if let Some(t) = explicit {
        return parse_format(t);
    }
    match name {
        Some(p) => Ok(Format::from_path(p)),
        None => Ok(
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                Format::Json
            } else {
                Format::Yaml
            },
        ),
    }
}

pub fn parse_format(t: &str) -> Result<Format> {
    Format::from_name(t).ok_or_else(|| {
        Error::Usage(format!(
            "unknown format {t:?} (use yaml, json, dotenv, ini or binary)"
        ))
    })
}

/// `--force` of the verbs that rewrite a file in place: a file with other names (hard links)
/// is refused without it, because only the name given is replaced and the others keep the old
/// content (after `encrypt -i`, the plaintext). Read once, in `cli::run`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct ForceArg {
    /// Replace a file that has other names (hard links): only this name gets the new content,
    /// the other names keep the old one (for `encrypt -i`, the plaintext).
    #[arg(long)]
    pub force: bool,
}

/// Input and output flags shared by `encrypt` and `decrypt`.
#[derive(clap::Args, Debug)]
pub struct IoArgs {
    /// The input file (stdin when omitted or `-`).
    pub file: Option<PathBuf>,
    /// Write the result back to FILE, atomically (plaintext is written with mode 0600).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Input format (yaml, json, dotenv, ini, binary); default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Output format; default: the input format.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// File name to use for format detection and creation rules (for stdin).
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
    #[command(flatten)]
    pub force: ForceArg,
}

/// What [`IoArgs::read`] found: the input, the name that decides format and rules, formats,
/// and for `-i` the file's lock (held until this is dropped, after the write).
pub struct ReadInput {
    pub input: Input,
    pub name: Option<PathBuf>,
    pub in_fmt: Format,
    pub out_fmt: Format,
    pub lock: Option<fsutil::FileLock>,
}

impl IoArgs {
    /// Reads the input and settles the formats.
    pub fn read(&self) -> Result<ReadInput> {
        if self.in_place && self.file.is_none() {
            return Err(Error::Usage("--in-place needs a FILE".into()));
        }
        let lock = match (&self.file, self.in_place) {
            (Some(f), true) => Some(lock(f)?),
            _ => None,
        };
        let input = read_input(self.file.as_deref())?;
        let name = self.filename_override.clone().or(input.path.clone());
        let in_fmt = input_format(
            self.input_type.as_deref(),
            name.as_deref(),
            input.bytes.expose(),
        )?;
        let out_fmt = match &self.output_type {
            Some(t) => parse_format(t)?,
            None => in_fmt,
        };
        Ok(ReadInput {
            input,
            name,
            in_fmt,
            out_fmt,
            lock,
        })
    }

    /// Writes the result where the flags say: `--output`, back in place, or stdout.
    pub fn write(&self, input: &Input, bytes: &[u8], mode: Mode) -> Result<()> {
        let sink = match (&self.output, self.in_place, input.path.as_deref()) {
            (Some(p), _, _) => Sink::Output(p),
            (None, true, Some(p)) => Sink::File(p),
            (None, true, None) => return Err(Error::Usage("--in-place needs a FILE".into())),
            (None, false, _) => Sink::Stdout,
        };
        write_output(sink, bytes, mode)
    }
}

/// A private temporary directory for plaintext handed to other programs
/// ([`fsutil::PrivateDir`]).
pub fn private_tempdir(prefix: &str) -> Result<fsutil::PrivateDir> {
    fsutil::PrivateDir::new(prefix).map_err(|source| Error::Write {
        file: format!(
            "a temporary directory in {}",
            fsutil::private_parent().display()
        ),
        source,
    })
}

/// Where output goes.
pub enum Sink<'a> {
    Stdout,
    /// Replace this regular file atomically (`-i`, and files shroud manages).
    File(&'a Path),
    /// `--output PATH`: a regular (or new) file is replaced atomically; an existing device,
    /// FIFO or terminal (`/dev/stderr`, as editor plugins use) is written to directly.
    Output(&'a Path),
}

/// Writes output: stdout, or a file atomically with `mode`.
pub fn write_output(sink: Sink<'_>, bytes: &[u8], mode: Mode) -> Result<()> {
    match sink {
        Sink::Stdout => {
            // Straight to the descriptor (a duplicate of it), not through stdout's buffer: a
            // decrypted value that does not end a line (`--extract`) would stay there, never
            // wiped, until the process exits. A stdout that cannot be duplicated (closed) is
            // written as before.
            let mut out = std::io::stdout().lock();
            let direct = std::os::fd::AsFd::as_fd(&out).try_clone_to_owned();
            let written = match direct {
                Ok(fd) => out
                    .flush()
                    .and_then(|()| std::fs::File::from(fd).write_all(bytes)),
                Err(_) => out.write_all(bytes).and_then(|()| out.flush()),
            };
            written.map_err(|source| Error::Write {
                file: "<stdout>".into(),
                source,
            })
        }
        Sink::Output(p) if std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir()) => {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
                .map_err(|source| Error::Write {
                    file: p.display().to_string(),
                    source,
                })
        }
        Sink::File(p) | Sink::Output(p) => {
            fsutil::write_atomic(p, bytes, mode).map_err(|source| Error::Write {
                file: p.display().to_string(),
                source,
            })
        }
    }
}

/// Emit options from `--indent`, then `.sops.yaml` `stores` ([`shroud::file::emit_options`]).
pub fn emit_options(g: &Global, format: Format, cfg: Option<&Config>) -> EmitOptions {
    shroud::file::emit_options(g.indent, format, cfg)
}

/// Loads identities for decryption, trying key types in `--decryption-order`.
pub fn keyring(g: &Global) -> Result<Keyring> {
    let mut ring = Keyring::from_env().map_err(|source| Error::Key {
        file: "identities".into(),
        source,
    })?;
    if let Some(order) = &g.decryption_order {
        ring.order = shroud::keysource::parse_decryption_order(order)
            .map_err(|m| Error::Usage(format!("--decryption-order: {m}")))?;
    }
    Ok(ring)
}

/// A keyring for wrapping only: no identities are needed (nor loaded) to encrypt.
pub fn keyring_for_encrypt() -> Keyring {
    Keyring::default()
}

/// Flags that choose recipients (shared by encrypt, edit, rotate).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyFlags {
    /// age recipients, comma-separated (age1… or ssh-ed25519/ssh-rsa public keys).
    #[arg(
        long,
        short = 'a',
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// PGP fingerprints, comma-separated (encrypted through gpg; `SOPS_GPG_EXEC`).
    #[arg(long, short = 'p', env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, comma-separated; `arn+role_arn` assumes a role.
    #[arg(long, short = 'k', env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// AWS profile for the KMS keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context, `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Number of key groups needed to decrypt (with several key groups).
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
}

/// Flags that choose which values are encrypted.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RuleFlags {
    /// Keys ending with this suffix stay plaintext (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this suffix are encrypted.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Keys matching this regex stay plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this regex are encrypted (e.g. `^(data|stringData)$`).
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this regex stay plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this regex are encrypted.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only, so plaintext values can be edited by hand.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

impl RuleFlags {
    fn spec(&self) -> Option<RuleSpec> {
        let any = [
            &self.unencrypted_suffix,
            &self.encrypted_suffix,
            &self.unencrypted_regex,
            &self.encrypted_regex,
            &self.unencrypted_comment_regex,
            &self.encrypted_comment_regex,
        ]
        .iter()
        .any(|o| o.is_some());
        any.then(|| RuleSpec {
            unencrypted_suffix: self.unencrypted_suffix.clone(),
            encrypted_suffix: self.encrypted_suffix.clone(),
            unencrypted_regex: self.unencrypted_regex.clone(),
            encrypted_regex: self.encrypted_regex.clone(),
            unencrypted_comment_regex: self.unencrypted_comment_regex.clone(),
            encrypted_comment_regex: self.encrypted_comment_regex.clone(),
            mac_only_encrypted: self.mac_only_encrypted,
        })
    }
}

/// Recipients from flags, if any were given (one key group).
pub fn groups_from_flags(k: &KeyFlags) -> Result<Option<Vec<Vec<KeySpec>>>> {
    shroud::file::key_lists(
        k.age.as_deref(),
        k.pgp.as_deref(),
        k.kms.as_deref(),
        k.aws_profile.as_deref(),
        k.encryption_context.as_deref(),
    )
}

/// The keys and rules the flags give; the library decides with the creation rule
/// ([`shroud::file::recipients`]).
pub fn given(keys: &KeyFlags, rules: &RuleFlags) -> Result<Given> {
    Ok(Given {
        groups: groups_from_flags(keys)?,
        shamir_threshold: keys.shamir_threshold,
        rules: rules.spec(),
        mac_only_encrypted: rules.mac_only_encrypted,
    })
}

/// Tells the user what the library noted about a file.
pub fn report_notes(notes: &[Note]) {
    for n in notes {
        match n {
            Note::StaleLock { file, stale } => {
                warn(&format!("{}: {stale}", shown(Path::new(file))))
            }
            Note::OutsidePolicy { file, config } => warn(&format!(
                "{file} is outside the policy: no creation rule of {} matches it, so it is encrypted for the keys on the command line only, and `shroud audit` will report it as uncovered",
                shown(config)
            )),
            Note::KeptDataKey { file } => super::messages::note(&format!(
                "encrypt: {file}: kept the data key and unchanged values' ciphertext of its committed version (HEAD) for a small diff; --new-data-key for a new key"
            )),
            Note::NewDataKey { file, why } => super::messages::note(&format!(
                "encrypt: {file}: new data key: the committed version (HEAD) {why}"
            )),
            Note::MacIgnored { file, why } => warn(&format!("{file}: {why}")),
            Note::CommentsUndecryptable { file, count } => warn(&format!(
                "{file}: {count} encrypted comment(s) could not be decrypted and were left as they are"
            )),
            Note::LastAppliedRemoved { file, secret } => super::messages::note(&format!(
                "encrypt: {}: removed the {} annotation of Secret {secret} (a plaintext copy of its data; kubectl apply writes it again)",
                shown(Path::new(file)),
                shroud::k8s::secret::LAST_APPLIED
            )),
        }
    }
}

/// Takes the read-modify-write lock of `path` ([`shroud::file::lock`]), waiting for another
/// shroud process that holds it and saying so.
pub fn lock(path: &Path) -> Result<fsutil::FileLock> {
    let waiting = || {
        let who = match fsutil::lock_holder(path) {
            Some(pid) => format!("shroud process {pid}"),
            None => "another shroud process".to_owned(),
        };
        super::messages::note(&format!(
            "shroud: waiting for {who} to finish with {}",
            shown(path)
        ))
    };
    let l = shroud::file::lock(path, shroud::file::Wait::Block(&waiting))?;
    warn_stale(path, &l);
    Ok(l)
}

/// Says that a lock file left by a process that is gone was taken over.
pub fn warn_stale(path: &Path, l: &fsutil::FileLock) {
    if let Some(s) = l.stale() {
        warn(&format!("{}: {s}", shown(path)));
    }
}

/// Writes bytes to stdout; a closed pipe or a full disk is an [`Error::Write`] (the reporting
/// edge makes a closed pipe a quiet exit).
pub fn print(bytes: &[u8]) -> Result<()> {
    write_output(Sink::Stdout, bytes, Mode::KeepOr(0o644))
}

/// Asks a yes/no question. On a terminal, `y`/`yes` confirms and anything else declines. When
/// stdin is not a terminal it is read as sops reads it (`yes | sops updatekeys f` works): a line
/// holding the single word `y` or `n` answers, another single word asks again, and an empty
/// line, several words or the end of input are no answer (an error that changes nothing).
pub fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Read};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let no_answer = || Error::NoAnswer {
        question: question.to_owned(),
    };
    loop {
        super::messages::prompt(&format!("{question} [y/n] "));
        let mut line = Vec::new();
        let n = (&mut input)
            .take(4096)
            .read_until(b'\n', &mut line)
            .map_err(|source| Error::Read {
                file: "<stdin>".into(),
                source,
            })?;
        if !terminal || n == 0 {
            super::messages::note("");
        }
        if n == 0 {
            return Err(no_answer());
        }
        let line = String::from_utf8_lossy(&line);
        let words: Vec<&str> = line.split_whitespace().collect();
        if terminal {
            return Ok(matches!(
                words.as_slice(),
                ["y" | "Y" | "yes" | "Yes" | "YES"]
            ));
        }
        match words.as_slice() {
            ["y"] => return Ok(true),
            ["n"] => return Ok(false),
            [_] => continue,
            _ => return Err(no_answer()),
        }
    }
}

/// A path as summaries print it: relative to the current directory when it is inside it.
pub fn shown(p: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            let abs = std::path::absolute(p).ok()?;
            abs.strip_prefix(&cwd).ok().map(Path::to_path_buf)
        })
        .filter(|r| !r.as_os_str().is_empty());
    shroud::text::sanitize(&rel.unwrap_or_else(|| p.to_path_buf()).display().to_string())
}

/// A warning line (through the reporting edge, [`super::messages::warn`]).
pub fn warn(msg: &str) {
    super::messages::warn(msg);
}
