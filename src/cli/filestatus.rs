//! `shroud filestatus`: `{"encrypted":true}` when a file carries sops metadata with a MAC and a
//! version (sops's definition).

use std::path::PathBuf;

use shroud::document;
use shroud::error::Result;

use super::Global;
use super::common::{self, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
}

pub fn run(a: Args, _g: &Global) -> Result<Outcome> {
    let input = common::read_input(Some(&a.file))?;
    let fmt = common::input_format(
        a.input_type.as_deref(),
        input.path.as_deref(),
        input.bytes.expose(),
    )?;
    let encrypted = document::is_encrypted(fmt, input.bytes.expose());
    common::print(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(Outcome::Done)
}
