//! `shroud edit`: decrypt to a private temp dir, run `$SOPS_EDITOR`/`$EDITOR`, re-encrypt only if
//! the content changed. Unchanged values keep their exact ciphertext (IV reuse), so the git diff
//! shows only what was edited. Invalid results never touch the file. With `-s` the sops metadata
//! is shown below the values, as information: a change to it is refused (sops 3.11 drops every
//! edit made with `-s`; shroud keeps the value edits and never takes keys from the editor).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::Command;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::{self, Mode};
use shroud::store::Format;
use shroud::tree::{Entry, Tree, Value};

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
    /// Format of the text in the editor and of the file written; default: the input format.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Show the file's sops metadata (recipients, MAC, dates) below the values in the editor.
    /// It is shown for reference: the edited text must keep it unchanged (change keys with
    /// rotate, updatekeys or groups).
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    #[command(flatten)]
    pub force: common::ForceArg,
}

/// How the edited file is written: its mode kept (a new one 0644, as sops), owner kept.
const WRITE_MODE: Mode = Mode::KeepOr(0o644);

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

/// Takes the entries holding sops metadata out of every document of `tree`, in order.
fn take_metadata(fmt: Format, tree: &mut Tree) -> Vec<(usize, String, Value)> {
    let mut out = Vec::new();
    for (i, b) in tree.branches.iter_mut().enumerate() {
        b.entries.retain(|e| match e {
            Entry::Pair(k, v) if document::is_reserved_key(fmt, k) => {
                out.push((i, k.clone(), v.clone()));
                false
            }
            _ => true,
        });
    }
    out
}

/// Reads the text back from the editor. With `-s` (`shown` holds the metadata it showed) the
/// metadata must come back unchanged and is taken out; a binary file's text is then its JSON
/// container, whose `data` string is the new content.
fn read_back(
    label: &str,
    fmt: Format,
    edited: &[u8],
    shown: Option<&[(usize, String, Value)]>,
) -> Result<Tree> {
    let Some(shown) = shown else {
        let t = document::load_plain(label, fmt, edited)?;
        document::check_plain(label, fmt, &t)?;
        return Ok(t);
    };
    let text_fmt = if fmt == Format::Binary {
        Format::Json
    } else {
        fmt
    };
    let mut t = document::load_plain(label, text_fmt, edited)?;
    if take_metadata(text_fmt, &mut t) != shown {
        return Err(Error::Invalid(format!(
            "{label}: the sops metadata shown by --show-master-keys was changed; shroud takes values from the editor, never keys or metadata (change keys with rotate, updatekeys or groups)"
        )));
    }
    if fmt == Format::Binary {
        let data = t
            .branches
            .first()
            .and_then(|b| b.get("data"))
            .and_then(|v| match v {
                Value::Scalar(s) => Some(shroud::secret::SecretBytes::from_slice(s.bytes())),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{label}: the edited text must keep its \"data\" string (the file's content)"
                ))
            })?;
        t = document::load_plain(label, fmt, data.expose())?;
    }
    document::check_plain(label, fmt, &t)?;
    Ok(t)
}

/// Runs the editor on `tmp` until its text is unchanged (`None`) or reads back as a tree; on a
/// terminal a text that does not read back goes back to the editor.
fn edit_loop(
    editor: &str,
    tmp: &std::path::Path,
    label: &str,
    fmt: Format,
    original: &shroud::secret::SecretBytes,
    shown: Option<&[(usize, String, shroud::tree::Value)]>,
) -> Result<Option<shroud::tree::Tree>> {
    loop {
        run_editor(editor, tmp, label)?;
        let edited =
            shroud::secret::SecretBytes::new(std::fs::read(tmp).map_err(|source| Error::Read {
                file: tmp.display().to_string(),
                source,
            })?);
        if edited == *original {
            return Ok(None);
        }
        let parsed = read_back(label, fmt, edited.expose(), shown);
        match parsed {
            Ok(t) => return Ok(Some(t)),
            Err(e) if std::io::stdin().is_terminal() => {
                // The error is printed sanitised, through the reporting edge.
                super::messages::error(&e);
                super::messages::prompt(&format!(
                    "shroud: {label} is unchanged. Press Enter to return to the editor, or Ctrl-C to abandon your edits. "
                ));
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
                    file: label.to_owned(),
                    why,
                });
            }
        }
    }
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
    let in_fmt = common::input_format(a.input_type.as_deref(), Some(&a.file), probe.expose())?;
    // The text in the editor and the file written are in the output format.
    let fmt = match &a.output_type {
        Some(t) => common::parse_format(t)?,
        None => in_fmt,
    };
    let cfg = config::discover(g.config.as_deref(), Some(&a.file))?;
    let opts = common::emit_options(g, fmt, cfg.as_ref());
    if a.show_master_keys && !exists {
        common::warn(&format!(
            "--show-master-keys: {label} is new; its metadata is made when it is first saved"
        ));
    }

    let mut opened = None;
    let mut spec = None;
    let original: Vec<u8> = if exists {
        let keyring = common::keyring(g)?;
        let o = common::block_on(document::open_to_edit(
            &label,
            in_fmt,
            probe.expose(),
            &keyring,
            a.ignore_mac,
        ))?;
        if let Some(w) = &o.mac_warning {
            common::warn(&format!("{label}: {w}"));
        }
        let bytes = if a.show_master_keys {
            document::emit_encrypted(&label, fmt, o.tree.clone(), &o.metadata, opts)?
        } else {
            document::emit_plain(&label, fmt, &o.tree, opts)?
        };
        opened = Some(o);
        bytes
    } else {
        let given = common::given(&a.keys, &a.rules)?;
        let (s, note) = shroud::file::recipients(&label, Some(&a.file), &given, cfg.as_ref())?;
        common::report_notes(&note.into_iter().collect::<Vec<_>>());
        spec = Some(s);
        template(fmt).to_vec()
    };
    let original = shroud::secret::SecretBytes::new(original);
    // With -s: the metadata as shown, which must come back unchanged.
    let shown = if a.show_master_keys && exists {
        let text_fmt = if fmt == Format::Binary {
            Format::Json
        } else {
            fmt
        };
        let mut t = document::load_plain(&label, text_fmt, original.expose())?;
        Some(take_metadata(text_fmt, &mut t))
    } else {
        None
    };

    let editor = editor()?;
    // What the final write would refuse (other names, an owner that cannot be kept, a
    // directory that cannot take the new file) is refused now, before the user spends time in
    // the editor, with the error the write would give.
    fsutil::check_writable(&a.file, WRITE_MODE).map_err(|source| Error::Write {
        file: label.clone(),
        source,
    })?;
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

    let result = edit_loop(&editor, &tmp, &label, fmt, &original, shown.as_deref());
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
    // A failure only the write meets (a full disk): the edited plaintext is never kept, so
    // the error says the edit is lost.
    common::write_output(Sink::File(&a.file), &bytes, WRITE_MODE).map_err(|e| match e {
        Error::Write { file, source } => Error::Write {
            file,
            source: std::io::Error::new(
                source.kind(),
                format!(
                    "{source}; your edit was lost (shroud never keeps the plaintext on disk): fix this and edit again"
                ),
            ),
        },
        other => other,
    })?;
    Ok(Outcome::Done)
}
