//! `shroud keygen`: a new age identity (X25519, or hybrid post-quantum with `--pq`), written
//! with mode 0600 where sops looks for it, recipient on stdout.

use std::path::PathBuf;

use shroud::error::{Error, Result};
use shroud::fsutil;
use shroud::keysource::age;

use super::common::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the identity. Default: the sops key file
    /// ($XDG_CONFIG_HOME/sops/age/keys.txt), appended to if it exists. `-` prints it instead.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A hybrid post-quantum identity (ML-KEM-768 + X25519, as `age-keygen -pq`):
    /// `AGE-SECRET-KEY-PQ-1…`, recipient `age1pq1…`. sops 3.12 and later open files made for it.
    #[arg(long)]
    pub pq: bool,
}

pub fn run(a: Args) -> Result<Outcome> {
    let (identity, recipient) = age::generate_kind(a.pq);
    let path = match a.output {
        Some(p) if p.as_os_str() == "-" => {
            super::common::print(identity.expose())?;
            super::messages::note(&format!("Public key: {recipient}"));
            return Ok(Outcome::Done);
        }
        Some(p) => p,
        None => age::default_key_file()
            .ok_or_else(|| Error::Usage("cannot find the home directory; pass -o FILE".into()))?,
    };
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fsutil::create_private_dir(dir).map_err(|source| Error::Write {
            file: dir.display().to_string(),
            source,
        })?;
    }
    let _lock = super::common::lock(&path)?;
    let existed = path.exists();
    let was_open =
        existed && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    fsutil::append_private(&path, identity.expose()).map_err(|source| Error::Write {
        file: path.display().to_string(),
        source,
    })?;
    // Said once the private file is in place: a refused write leaves the old mode.
    if was_open {
        super::common::warn(&format!(
            "{} was readable by other users; it is now 0600",
            path.display()
        ));
    }
    super::messages::note(&format!(
        "shroud: {} identity {} {}",
        if existed { "appended" } else { "wrote" },
        if existed { "to" } else { "to new file" },
        path.display()
    ));
    super::common::print(format!("{recipient}\n").as_bytes())?;
    Ok(Outcome::Done)
}
