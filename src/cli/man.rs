//! `shroud man DIR`: man pages generated from the CLI definition, one per verb
//! (`shroud.1`, `shroud-encrypt.1`, `shroud-keys-backup.1`, …), for packagers and release
//! archives.
//!
//! Owns: walking the command tree and writing roff files. Must not know: what the verbs do.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use shroud::error::{Error, Result};
use shroud::fsutil::{self, Mode};

use super::common::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path, count: &mut usize) -> Result<()> {
    let page = cmd
        .clone()
        .name(name.to_owned())
        .bin_name(name.replace('-', " "));
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|source| Error::Write {
            file: format!("{name}.1"),
            source,
        })?;
    let path = dir.join(format!("{name}.1"));
    fsutil::write_atomic(&path, &roff, Mode::Exactly(0o644)).map_err(|source| Error::Write {
        file: path.display().to_string(),
        source,
    })?;
    *count += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, count)?;
    }
    Ok(())
}

pub fn run(a: Args) -> Result<Outcome> {
    std::fs::create_dir_all(&a.dir).map_err(|source| Error::Write {
        file: a.dir.display().to_string(),
        source,
    })?;
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut count = 0;
    write_pages(&cmd, "shroud", &a.dir, &mut count)?;
    super::messages::note(&format!(
        "shroud: wrote {count} man pages to {}",
        a.dir.display()
    ));
    Ok(Outcome::Done)
}
