//! `shroud decrypt`: decrypt and verify a file, print it (or one value with `--extract`).

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::Mode;
use shroud::store;
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
        input,
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
    let opened = common::block_on(document::open(
        &input.label,
        in_fmt,
        input.bytes.expose(),
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
                message: tree::not_found_message(&root, path, None),
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
    a.io.write(&input, bytes.expose(), Mode::Exactly(0o600))?;
    Ok(Outcome::Done)
}
