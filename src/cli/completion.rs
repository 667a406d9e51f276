//! `shroud completion SHELL`: shell completion scripts generated from the CLI definition.

use clap::CommandFactory;
use clap_complete::Shell;

use shroud::error::Result;

use super::common::{self, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

pub fn run(a: Args) -> Result<Outcome> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "shroud", &mut script);
    common::print(&script)?;
    Ok(Outcome::Done)
}
