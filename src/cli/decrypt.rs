//! `shroud decrypt`: decrypt and verify a file, print it (or one value with `--extract`).

use shroud::config;
use shroud::error::{Error, Result};
use shroud::file;
use shroud::fsutil::Mode;
use shroud::tree;

use super::Global;
use super::common::{self, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub io: common::IoArgs,
    /// Print only the value at this path, e.g. '["data"]["password"]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Decrypt even if the MAC is missing or wrong. Integrity is then NOT verified.
    #[arg(long)]
    pub ignore_mac: bool,
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    let common::ReadInput {
        mut input,
        name,
        in_fmt,
        out_fmt,
        lock: _lock,
    } = a.io.read()?;
    let extract = a
        .extract
        .as_deref()
        .map(|p| {
            tree::parse_path(p).map_err(|m| Error::PathSyntax {
                file: input.label.clone(),
                message: format!("invalid --extract path: {m} ({})", tree::syntax_hint(p)),
            })
        })
        .transpose()?;
    let keyring = common::keyring(g)?;
    // The config only sets the indentation here: one that cannot be read is not an error.
    let cfg = config::discover(g.config.as_deref(), name.as_deref())
        .ok()
        .flatten();
    let f = file::Decrypt {
        label: &input.label,
        in_format: in_fmt,
        out_format: out_fmt,
        ignore_mac: a.ignore_mac,
        extract: extract.as_deref(),
        config: cfg.as_ref(),
        indent: g.indent,
    };
    let bytes = std::mem::take(&mut input.bytes);
    let done = common::block_on(file::decrypt(&f, bytes, &keyring))?;
    common::report_notes(&done.notes);
    // `--output` writes plaintext where the user asked: never into (or through a planted
    // link to) a file another user owns, which the in-place "keep the owner" rule would hand
    // to that user. `-i` rewrites the file it read and keeps its owner as every in-place write.
    let mode = match &a.io.output {
        Some(p) => {
            shroud::fsutil::check_own_output(p).map_err(|source| Error::Write {
                file: p.display().to_string(),
                source,
            })?;
            Mode::Own(0o600)
        }
        None => Mode::Exactly(0o600),
    };
    a.io.write(&input, done.bytes.expose(), mode)?;
    Ok(Outcome::Done)
}
