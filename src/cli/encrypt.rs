//! `shroud encrypt`: encrypt a plaintext file for the recipients of the flags or `.sops.yaml`.

use std::path::PathBuf;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::Mode;

use super::Global;
use super::common::{self, KeyFlags, Outcome, RuleFlags, Sink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plaintext file (stdin when omitted or `-`).
    pub file: Option<PathBuf>,
    /// Write the result back to FILE (atomically).
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
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
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
    let cfg = config::discover(g.config.as_deref(), name.as_deref())?;
    let spec = common::encrypt_spec(
        &input.label,
        name.as_deref(),
        &a.keys,
        &a.rules,
        cfg.as_ref(),
    )?;
    let tree = document::load_plain(&input.label, in_fmt, &input.bytes)?;
    let (tree, md, _key) = common::block_on(document::encrypt(
        &input.label,
        in_fmt,
        tree,
        &spec,
        &common::keyring_for_encrypt(),
    ))?;
    let opts = common::emit_options(g, out_fmt, cfg.as_ref());
    let bytes = document::emit_encrypted(&input.label, out_fmt, tree, &md, opts)?;
    let sink = match (&a.output, a.in_place) {
        (Some(p), _) => Sink::File(p),
        (None, true) => Sink::File(input.path.as_deref().expect("checked above")),
        (None, false) => Sink::Stdout,
    };
    common::write_output(sink, &bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
}
