//! `shroud set` / `shroud unset`: change one value of an encrypted file in place. Every other
//! value keeps its exact ciphertext.

use std::path::PathBuf;

use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::Mode;
use shroud::secret::SecretBytes;
use shroud::store::json;
use shroud::tree;

use super::Global;
use super::common::{self, Outcome, Sink};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  shroud set secrets.enc.yaml '[\"db\"][\"password\"]' '\"s3cret\"'\n  shroud set --value-file secrets.enc.yaml '[\"tls\"][\"key\"]' key.json\n  printf '%s' '\"s3cret\"' | shroud set --value-stdin secrets.enc.yaml '[\"db\"][\"password\"]'"
)]
pub struct SetArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// Where to set, e.g. '["data"]["password"]'.
    pub index: String,
    /// The new value as JSON (e.g. '"text"', '42', '{"a":1}'); with --value-file, a path to a
    /// file holding the JSON value.
    pub value: Option<String>,
    /// Treat VALUE as a file to read the JSON value from (keeps secrets out of process lists).
    #[arg(long, conflicts_with = "value_stdin")]
    pub value_file: bool,
    /// Read the JSON value from stdin (no VALUE argument).
    #[arg(long)]
    pub value_stdin: bool,
    /// Do not rewrite the file when the value is already set.
    #[arg(long)]
    pub idempotent: bool,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Format the file is written back in; default: the input format (as sops, the file
    /// keeps its name).
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Open the file even if its MAC is missing or wrong.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub force: common::ForceArg,
}

#[derive(clap::Args, Debug)]
pub struct UnsetArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    pub file: PathBuf,
    /// What to remove, e.g. '["data"]["password"]'.
    pub index: String,
    /// Succeed without rewriting when the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Format the file is written back in; default: the input format (as sops, the file
    /// keeps its name).
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Open the file even if its MAC is missing or wrong.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub force: common::ForceArg,
}

fn change<F>(
    file: &std::path::Path,
    (input_type, output_type): (Option<&str>, Option<&str>),
    ignore_mac: bool,
    path: &[tree::PathElem],
    g: &Global,
    f: F,
) -> Result<Outcome>
where
    F: FnOnce(&str, &mut tree::Map) -> Result<bool>,
{
    let _lock = common::lock(file)?;
    let input = common::read_input(Some(file))?;
    let fmt = common::input_format(input_type, input.path.as_deref(), input.bytes.expose())?;
    let out_fmt = output_type
        .map(common::parse_format)
        .transpose()?
        .unwrap_or(fmt);
    if let Some(tree::PathElem::Key(k)) = path.first()
        && document::is_reserved_key(fmt, k)
    {
        return Err(Error::ReservedKey {
            file: input.label.clone(),
            key: k.clone(),
        });
    }
    let keyring = common::keyring(g)?;
    // The config only sets the indentation here: one that cannot be read is not an error.
    let cfg = shroud::config::discover(g.config.as_deref(), input.path.as_deref())
        .ok()
        .flatten();
    let c = shroud::file::Change {
        label: &input.label,
        in_format: fmt,
        out_format: out_fmt,
        ignore_mac,
        config: cfg.as_ref(),
        indent: g.indent,
    };
    let changed = common::block_on(shroud::file::change(&c, input.bytes.expose(), &keyring, f))?;
    if let Some(bytes) = changed {
        common::write_output(Sink::File(file), &bytes, Mode::KeepOr(0o644))?;
    }
    Ok(Outcome::Done)
}

/// The first key that appears twice in one mapping of `v`, at any depth.
fn first_duplicate(v: &tree::Value) -> Option<String> {
    match v {
        tree::Value::Map(m) => {
            let mut seen = std::collections::HashSet::new();
            for (k, child) in m.pairs() {
                if !seen.insert(k) {
                    return Some(k.clone());
                }
                if let Some(d) = first_duplicate(child) {
                    return Some(d);
                }
            }
            None
        }
        tree::Value::List(items) => items.iter().find_map(first_duplicate),
        _ => None,
    }
}

pub fn run_set(a: SetArgs, g: &Global) -> Result<Outcome> {
    let label = a.file.display().to_string();
    let path = tree::parse_path(&a.index).map_err(|m| Error::PathSyntax {
        file: label.clone(),
        message: format!("invalid index: {m} ({})", tree::syntax_hint(&a.index)),
    })?;
    let raw = SecretBytes::new(match (&a.value, a.value_file, a.value_stdin) {
        (Some(_), _, true) => {
            return Err(Error::Usage(
                "--value-stdin reads the value from stdin: give FILE and INDEX only".into(),
            ));
        }
        (Some(f), true, false) => {
            shroud::fsutil::read_file(std::path::Path::new(f)).map_err(|source| Error::Read {
                file: f.clone(),
                source,
            })?
        }
        (Some(v), false, false) => v.clone().into_bytes(),
        (None, _, true) => {
            shroud::fsutil::read_bounded(std::io::stdin().lock(), None, shroud::fsutil::max_input())
                .map_err(|source| Error::Read {
                    file: "<stdin>".into(),
                    source,
                })?
        }
        (None, _, false) => {
            return Err(Error::Usage(
                "set needs FILE INDEX VALUE (or --value-file FILE INDEX VALUEFILE, or --value-stdin FILE INDEX)"
                    .into(),
            ));
        }
    });
    let value = json::parse_value(raw.expose()).map_err(|e| Error::NotJson(e.to_string()))?;
    if let Some(key) = first_duplicate(&value) {
        return Err(Error::Invalid(format!(
            "the value has key {key:?} twice; a mapping's keys must be unique"
        )));
    }
    let idempotent = a.idempotent;
    change(
        &a.file,
        (a.input_type.as_deref(), a.output_type.as_deref()),
        a.ignore_mac,
        &path.clone(),
        g,
        move |label, root| {
            let changed = tree::set_path(root, &path, value).map_err(|m| Error::TreePath {
                file: label.to_owned(),
                message: format!(
                    "cannot set {}: {m} ({})",
                    tree::format_path(&path),
                    tree::PATH_SYNTAX
                ),
            })?;
            Ok(changed || !idempotent)
        },
    )
}

pub fn run_unset(a: UnsetArgs, g: &Global) -> Result<Outcome> {
    let label = a.file.display().to_string();
    let path = tree::parse_path(&a.index).map_err(|m| Error::PathSyntax {
        file: label.clone(),
        message: format!("invalid index: {m} ({})", tree::syntax_hint(&a.index)),
    })?;
    let idempotent = a.idempotent;
    change(
        &a.file,
        (a.input_type.as_deref(), a.output_type.as_deref()),
        a.ignore_mac,
        &path.clone(),
        g,
        move |label, root| {
            let removed = tree::unset_path(root, &path).map_err(|m| Error::TreePath {
                file: label.to_owned(),
                message: format!(
                    "cannot unset {}: {m} ({})",
                    tree::format_path(&path),
                    tree::PATH_SYNTAX
                ),
            })?;
            if !removed && !idempotent {
                return Err(Error::TreePath {
                    file: label.to_owned(),
                    message: tree::not_found_message(
                        root,
                        &path,
                        Some("--idempotent succeeds when the path is absent"),
                    ),
                });
            }
            Ok(removed)
        },
    )
}
