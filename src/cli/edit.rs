//! `shroud edit`: decrypt to a private temp dir, run `$SOPS_EDITOR`/`$EDITOR`, re-encrypt only if
//! the content changed. Unchanged values keep their exact ciphertext (IV reuse), so the git diff
//! shows only what was edited. Invalid results never touch the file.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::Command;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::{self, Mode};
use shroud::store::Format;

use super::Global;
use super::common::{self, KeyFlags, Outcome, RuleFlags, Sink};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    /// The encrypted file (created from a template if it does not exist).
    pub file: PathBuf,
    /// Open the file even if its MAC is missing or wrong.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    #[command(flatten)]
    pub force: common::ForceArg,
}

fn template(fmt: Format) -> &'static [u8] {
    match fmt {
        Format::Yaml => b"# Replace this example with your secrets. Comments are encrypted too.\nexample_key: example_value\nexample_list:\n    - item\n",
        Format::Json => b"{\n\t\"example_key\": \"example_value\"\n}\n",
        Format::Dotenv => b"# Replace this example with your secrets.\nEXAMPLE_KEY=example_value\n",
        Format::Ini => b"; Replace this example with your secrets.\n[example]\nkey = value\n",
        Format::Binary => b"replace this text with your secret\n",
    }
}

/// The editor command: `$SOPS_EDITOR`, `$EDITOR`, then vim, nano, vi.
fn editor() -> Result<String> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Ok(e) = std::env::var(var)
            && !e.trim().is_empty()
        {
            return Ok(e);
        }
    }
    for candidate in ["vim", "nano", "vi"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(candidate).is_file()))
            .unwrap_or(false);
        if found {
            return Ok(candidate.to_owned());
        }
    }
    Err(Error::NoEditor(
        "no editor found: set SOPS_EDITOR or EDITOR".into(),
    ))
}

fn run_editor(cmd: &str, path: &Path, label: &str) -> Result<()> {
    let status = super::signals::run_child(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} \"$1\""))
            .arg("shroud-editor")
            .arg(path),
    )
    .map_err(|e| Error::NoEditor(format!("cannot start editor {cmd:?}: {e}")))?;
    if !status.success() {
        return Err(Error::EditorFailed {
            file: label.to_owned(),
            status: status.to_string(),
        });
    }
    Ok(())
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    let label = a.file.display().to_string();
    // Held until the edited file is written: a concurrent set/rotate waits instead of being
    // overwritten by this edit.
    let _lock = common::lock(&a.file)?;
    let exists = a.file.exists();
    let probe = if exists {
        common::read_input(Some(&a.file))?.bytes
    } else {
        shroud::secret::SecretBytes::default()
    };
    let fmt = common::input_format(a.input_type.as_deref(), Some(&a.file), probe.expose())?;
    let cfg = config::discover(g.config.as_deref(), Some(&a.file))?;
    let opts = common::emit_options(g, fmt, cfg.as_ref());

    let mut opened = None;
    let mut spec = None;
    let original: Vec<u8> = if exists {
        let keyring = common::keyring(g)?;
        let o = common::block_on(document::open_to_edit(
            &label,
            fmt,
            probe.expose(),
            &keyring,
            a.ignore_mac,
        ))?;
        if let Some(w) = &o.mac_warning {
            common::warn(&format!("{label}: {w}"));
        }
        let bytes = document::emit_plain(&label, fmt, &o.tree, opts)?;
        opened = Some(o);
        bytes
    } else {
        spec = Some(common::encrypt_spec(
            &label,
            Some(&a.file),
            &a.keys,
            &a.rules,
            cfg.as_ref(),
        )?);
        template(fmt).to_vec()
    };
    let original = shroud::secret::SecretBytes::new(original);

    let editor = editor()?;
    let dir = common::private_tempdir("shroud-edit-")?;
    let name = a
        .file
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "secret".into());
    let tmp = dir.path().join(name);
    fsutil::create_private(&tmp, original.expose()).map_err(|source| Error::Write {
        file: tmp.display().to_string(),
        source,
    })?;

    let result = (|| -> Result<Option<shroud::tree::Tree>> {
        loop {
            run_editor(&editor, &tmp, &label)?;
            let edited =
                shroud::secret::SecretBytes::new(std::fs::read(&tmp).map_err(|source| {
                    Error::Read {
                        file: tmp.display().to_string(),
                        source,
                    }
                })?);
            if edited == original {
                return Ok(None);
            }
            let parsed = document::load_plain(&label, fmt, edited.expose()).and_then(|t| {
                document::check_plain(&label, fmt, &t)?;
                Ok(t)
            });
            match parsed {
                Ok(t) => return Ok(Some(t)),
                Err(e) if std::io::stdin().is_terminal() => {
                    eprintln!("shroud: {e}");
                    eprint!(
                        "shroud: {label} is unchanged. Press Enter to return to the editor, or Ctrl-C to abandon your edits. "
                    );
                    let mut line = String::new();
                    if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
                        return Err(e);
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let why = why
                        .strip_prefix(&format!("{label}: "))
                        .unwrap_or(&why)
                        .to_owned();
                    return Err(Error::EditRejected {
                        file: label.clone(),
                        why,
                    });
                }
            }
        }
    })();
    drop(dir);

    let Some(new_tree) = result? else {
        return Err(Error::NotModified { file: label });
    };
    let (tree, md) = match (opened, spec) {
        (Some(mut o), _) => {
            let mut tree = new_tree;
            document::seal(&label, &mut tree, &mut o.metadata, &mut o.cipher)?;
            (tree, o.metadata)
        }
        (None, Some(spec)) => {
            let (t, md, _) = common::block_on(document::encrypt(
                &label,
                fmt,
                new_tree,
                &spec,
                &common::keyring_for_encrypt(),
            ))?;
            (t, md)
        }
        (None, None) => unreachable!("either the file existed or a spec was built"),
    };
    let bytes = document::emit_encrypted(&label, fmt, tree, &md, opts)?;
    common::write_output(Sink::File(&a.file), &bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
}
