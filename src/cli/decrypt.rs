//! `shroud decrypt`: decrypt and verify a file, print it (or one value with `--extract`).

use std::path::PathBuf;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::Mode;
use shroud::store;
use shroud::tree;

use super::Global;
use super::common::{self, Outcome, Sink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The encrypted file (stdin when omitted or `-`).
    pub file: Option<PathBuf>,
    /// Write the plaintext back to FILE (atomically, mode 0600).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the plaintext to this file (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Print only the value at this path, e.g. '["data"]["password"]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Output format; default: the input format.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Decrypt even if the MAC is missing or wrong. Integrity is then NOT verified.
    #[arg(long)]
    pub ignore_mac: bool,
    /// File name to use for format detection (for stdin).
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    if a.in_place && a.file.is_none() {
        return Err(Error::Usage("--in-place needs a FILE".into()));
    }
    let input = common::read_input(a.file.as_deref())?;
    let name = a.filename_override.clone().or(input.path.clone());
    let in_fmt = common::input_format(a.input_type.as_deref(), name.as_deref(), &input.bytes)?;
    let out_fmt = match &a.output_type {
        Some(t) => common::parse_format(t)?,
        None => in_fmt,
    };
    let extract = a
        .extract
        .as_deref()
        .map(|p| {
            tree::parse_path(p).map_err(|m| Error::TreePath {
                file: input.label.clone(),
                message: format!("invalid --extract path: {m}"),
            })
        })
        .transpose()?;
    let keyring = common::keyring()?;
    let opened = common::block_on(document::open(
        &input.label,
        in_fmt,
        &input.bytes,
        &keyring,
        a.ignore_mac,
    ))?;
    if let Some(w) = &opened.mac_warning {
        common::warn(&format!("{}: {w}", input.label));
    }
    if opened.undecryptable_comments > 0 {
        common::warn(&format!(
            "{}: {} encrypted comment(s) could not be decrypted and were left as they are",
            input.label, opened.undecryptable_comments
        ));
    }
    // Plaintext output is held in a zeroizing buffer until written.
    let bytes = shroud::secret::SecretBytes::new(match &extract {
        Some(path) => {
            let root = opened.tree.branches.first().cloned().unwrap_or_default();
            let v = tree::lookup(&root, path).ok_or_else(|| Error::TreePath {
                file: input.label.clone(),
                message: format!("{} not found", tree::format_path(path)),
            })?;
            store::emit_value(out_fmt, v).map_err(|source| Error::Store {
                file: input.label.clone(),
                source,
            })?
        }
        None => {
            let cfg = config::discover(g.config.as_deref(), name.as_deref())
                .ok()
                .flatten();
            let opts = common::emit_options(g, out_fmt, cfg.as_ref());
            document::emit_plain(&input.label, out_fmt, &opened.tree, opts)?
        }
    });
    let sink = match (&a.output, a.in_place) {
        (Some(p), _) => Sink::File(p),
        (None, true) => Sink::File(input.path.as_deref().expect("checked above")),
        (None, false) => Sink::Stdout,
    };
    common::write_output(sink, bytes.expose(), Mode::Exactly(0o600))?;
    Ok(Outcome::Done)
}
