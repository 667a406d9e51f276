//! `shroud git setup|merge-driver|textconv`: git that understands sops files. `setup` writes the
//! drivers into git's configuration and selects them for every file in `.gitattributes`;
//! git runs `merge-driver` (a three-way merge by key path, or git's own merge for any other
//! file) and `textconv` (a decrypted listing by key path, or the file as it is).
//!
//! Owns: the driver definitions, the attributes line and its idempotent editing, the advice a
//! stopped merge gives. Must not know: how versions are merged or decrypted (`shroud::merge`).

use std::path::{Path, PathBuf};

use shroud::error::{Error, ExitCode, Result};
use shroud::fsutil::{self, Mode};
use shroud::git;
use shroud::keysource::KeyError;
use shroud::merge::{self, Method};
use shroud::store::Format;

use super::Global;
use super::common::{self, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Configure git to merge and diff sops files value by value (idempotent).
    Setup(SetupArgs),
    /// Run by git (merge.shroud.driver): merge three versions of a file into OURS.
    MergeDriver(MergeDriverArgs),
    /// Run by git (diff.shroud.textconv): print a sops file decrypted, one line per key path.
    Textconv(TextconvArgs),
}

#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// For every repository of this user: ~/.gitconfig and git's global attributes file,
    /// instead of this repository's .git/config and .gitattributes.
    #[arg(long)]
    pub global: bool,
    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Undo: remove the drivers and the attributes line.
    #[arg(long)]
    pub remove: bool,
}

#[derive(clap::Args, Debug)]
pub struct MergeDriverArgs {
    /// Conflict marker size for a text merge (git's %L).
    #[arg(long, value_name = "N")]
    pub marker_size: Option<usize>,
    /// Conflict label of our side (git's %X).
    #[arg(long, value_name = "LABEL")]
    pub ours_label: Option<String>,
    /// Conflict label of the common ancestor (git's %S).
    #[arg(long, value_name = "LABEL")]
    pub base_label: Option<String>,
    /// Conflict label of their side (git's %Y).
    #[arg(long, value_name = "LABEL")]
    pub theirs_label: Option<String>,
    /// The common ancestor's version (git's %O).
    pub base: PathBuf,
    /// Our version, replaced by the result (git's %A).
    pub ours: PathBuf,
    /// Their version (git's %B).
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P): decides the format and names it.
    pub path: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct TextconvArgs {
    /// The version of the file git hands over (its name ends like the file's).
    pub file: PathBuf,
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    match a.action {
        Action::Setup(s) => setup(&s),
        Action::MergeDriver(m) => merge_driver(&m, g),
        Action::Textconv(t) => textconv(&t, g),
    }
}

/// The line that selects the drivers, and the comment written above it.
const ATTRIBUTES: &str = "* merge=shroud diff=shroud";
const ATTRIBUTES_COMMENT: &str = "# sops files merge and diff value by value, every other file as git does (shroud git setup; docs/git-diff.md)";

/// The git configuration `setup` writes.
const SETTINGS: [(&str, &str); 3] = [
    (
        "merge.shroud.name",
        "shroud: sops files merged by key path, other files by git merge-file",
    ),
    (
        "merge.shroud.driver",
        "shroud git merge-driver --marker-size=%L --ours-label=%X --base-label=%S --theirs-label=%Y %O %A %B %P",
    ),
    ("diff.shroud.textconv", "shroud git textconv"),
];

fn usage(message: String) -> Error {
    Error::Reported {
        message: format!("git setup: {message}"),
        code: ExitCode::Usage,
    }
}

fn git_failed(e: git::GitError) -> Error {
    Error::Reported {
        message: format!("git setup: {e}"),
        code: ExitCode::Generic,
    }
}

/// Whether an attributes line selects one of the drivers (`PATTERN … merge=shroud …`): the
/// catch-all, or patterns a person narrowed it to.
fn selects_drivers(line: &str) -> bool {
    let line = line.trim();
    !line.starts_with('#')
        && line
            .split_whitespace()
            .skip(1)
            .any(|a| a == "merge=shroud" || a == "diff=shroud")
}

/// `text` with the attributes line added at the top (so that later, more specific lines of
/// the file still override it), or `None` when a line selects the drivers already.
fn add_attributes(text: &str) -> Option<String> {
    if text.lines().any(selects_drivers) {
        return None;
    }
    Some(format!("{ATTRIBUTES_COMMENT}\n{ATTRIBUTES}\n{text}"))
}

/// `text` without the lines that select the drivers (and setup's comment), or `None` when
/// there are none.
fn remove_attributes(text: &str) -> Option<String> {
    if !text.lines().any(selects_drivers) {
        return None;
    }
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| !selects_drivers(l) && l.trim() != ATTRIBUTES_COMMENT)
        .collect();
    Some(kept.concat())
}

fn setup(a: &SetupArgs) -> Result<Outcome> {
    let cwd = std::env::current_dir().map_err(|e| usage(e.to_string()))?;
    let (dir, scope, attributes) = if a.global {
        let file = git::global_attributes_file(&cwd).ok_or_else(|| {
            usage("cannot tell where git's global attributes file is (HOME is not set)".into())
        })?;
        (cwd, "--global", file)
    } else {
        let top = git::toplevel(&cwd).ok_or_else(|| {
            usage(
                "not inside a git work tree (run it in the repository, or use --global for every repository)"
                    .into(),
            )
        })?;
        let file = top.join(".gitattributes");
        (top, "--local", file)
    };
    let would = if a.dry_run { "would " } else { "" };
    let say = |what: String| super::messages::note(&format!("shroud git: {would}{what}"));
    let get = |key: &str| -> Result<Option<String>> {
        Ok(git::try_run(&dir, &["config", scope, "--get", key])
            .map_err(git_failed)?
            .map(|o| String::from_utf8_lossy(&o).trim_end().to_owned()))
    };
    let shown_attrs = common::shown(&attributes);
    let existing = match std::fs::read_to_string(&attributes) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                file: shown_attrs,
                source,
            });
        }
    };
    let mut changed = false;
    if a.remove {
        for section in ["merge.shroud", "diff.shroud"] {
            let pattern = format!("^{}\\.", section.replace('.', "\\."));
            let present = git::try_run(&dir, &["config", scope, "--get-regexp", &pattern])
                .map_err(git_failed)?
                .is_some();
            if present {
                if !a.dry_run {
                    git::run(&dir, &["config", scope, "--remove-section", section])
                        .map_err(git_failed)?;
                }
                say(format!(
                    "remove [{section}] from the {} git config",
                    &scope[2..]
                ));
                changed = true;
            }
        }
        if let Some(text) = existing.as_deref().and_then(remove_attributes) {
            if !a.dry_run {
                if text.trim().is_empty() {
                    std::fs::remove_file(&attributes).map_err(|source| Error::Write {
                        file: shown_attrs.clone(),
                        source,
                    })?;
                } else {
                    fsutil::write_atomic(&attributes, text.as_bytes(), Mode::KeepOr(0o644))
                        .map_err(|source| Error::Write {
                            file: shown_attrs.clone(),
                            source,
                        })?;
                }
            }
            say(format!(
                "remove the lines selecting the drivers from {shown_attrs}"
            ));
            changed = true;
        }
        if !changed {
            super::messages::note("shroud git: nothing to remove");
        }
        return Ok(Outcome::Done);
    }
    for (key, value) in SETTINGS {
        if get(key)?.as_deref() != Some(value) {
            if !a.dry_run {
                git::run(&dir, &["config", scope, key, value]).map_err(git_failed)?;
            }
            say(format!("set {key} = {value}"));
            changed = true;
        }
    }
    // A cached textconv would keep decrypted text in .git (refs/notes/textconv/shroud).
    if get("diff.shroud.cachetextconv")?.is_some() {
        if !a.dry_run {
            git::run(
                &dir,
                &["config", scope, "--unset-all", "diff.shroud.cachetextconv"],
            )
            .map_err(git_failed)?;
        }
        say(
            "unset diff.shroud.cachetextconv (it stores decrypted text in .git; delete refs/notes/textconv/shroud too)"
                .into(),
        );
        changed = true;
    }
    if let Some(text) = add_attributes(existing.as_deref().unwrap_or("")) {
        if !a.dry_run {
            if let Some(parent) = attributes.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                    file: parent.display().to_string(),
                    source,
                })?;
            }
            fsutil::write_atomic(&attributes, text.as_bytes(), Mode::KeepOr(0o644)).map_err(
                |source| Error::Write {
                    file: shown_attrs.clone(),
                    source,
                },
            )?;
        }
        say(format!("add `{ATTRIBUTES}` to {shown_attrs}"));
        changed = true;
    }
    if !changed {
        super::messages::note(&format!(
            "shroud git: set up already ({} scope)",
            &scope[2..]
        ));
    } else if !a.dry_run && !a.global {
        super::messages::note(&format!(
            "shroud git: commit {shown_attrs} so that every clone selects the drivers; each clone runs `shroud git setup` once (or `--global` once per machine)"
        ));
    }
    if !on_path("shroud") {
        common::warn(
            "`shroud` is not on PATH: git runs the drivers as `shroud`, and every merge would stop until it is",
        );
    }
    Ok(Outcome::Done)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// A label git left unexpanded (a git older than 2.44 has no %S/%X/%Y).
fn label<'a>(given: &'a Option<String>, default: &'a str) -> &'a str {
    match given.as_deref() {
        Some(l) if !(l.len() == 2 && l.starts_with('%')) => l,
        _ => default,
    }
}

fn merge_driver(a: &MergeDriverArgs, g: &Global) -> Result<Outcome> {
    let file = a.path.display().to_string();
    let read = |p: &Path| {
        fsutil::read_file(p).map_err(|source| Error::Read {
            file: p.display().to_string(),
            source,
        })
    };
    let (base, ours, theirs) = (read(&a.base)?, read(&a.ours)?, read(&a.theirs)?);
    let format = Format::from_path(&a.path);
    match merge::method(&file, format, &ours, &theirs).map_err(|e| stopped(&file, e))? {
        Method::Text => {
            let cwd = std::env::current_dir().map_err(|source| Error::Read {
                file: ".".into(),
                source,
            })?;
            let labels = [
                label(&a.ours_label, "ours"),
                label(&a.base_label, "base"),
                label(&a.theirs_label, "theirs"),
            ];
            match git::merge_file(&cwd, (&a.ours, &a.base, &a.theirs), labels, a.marker_size) {
                Ok(true) => Ok(Outcome::Done),
                // git reports the conflict (CONFLICT (content): …) itself.
                Ok(false) => Ok(Outcome::Code(ExitCode::Generic)),
                Err(e) => Err(Error::Reported {
                    message: format!("{file}: {e}; our version is left in place, conflicted"),
                    code: ExitCode::Generic,
                }),
            }
        }
        Method::Values => {
            let cfg = shroud::config::discover(g.config.as_deref(), Some(&a.path))
                .ok()
                .flatten();
            let opts = common::emit_options(g, format, cfg.as_ref());
            let keyring = common::keyring(g).map_err(|e| stopped(&file, e))?;
            let merged = common::block_on(merge::merge(
                &file,
                format,
                (&base, &ours, &theirs),
                &keyring,
                opts,
            ))
            .map_err(|e| stopped(&file, e))?;
            fsutil::write_atomic(&a.ours, &merged.bytes, Mode::KeepOr(0o644)).map_err(
                |source| Error::Write {
                    file: a.ours.display().to_string(),
                    source,
                },
            )?;
            for n in &merged.notes {
                super::messages::note(&format!(
                    "shroud git: {}: {}",
                    shroud::text::sanitize(&file),
                    n
                ));
            }
            if merged.conflicts.is_empty() {
                Ok(Outcome::Done)
            } else {
                Err(conflict(&file, &merged.conflicts))
            }
        }
    }
}

/// How to finish a merge by hand, in one line.
fn take_a_side(file: &str) -> String {
    format!(
        "take one side whole with `git checkout --ours -- {file}` or `git checkout --theirs -- {file}` and re-apply the other side's change with `shroud edit {file}`"
    )
}

/// A merge that could not run: the reason, and what to do. git marks the file conflicted with
/// our version in place (an exit above 128 would abort the whole merge instead).
fn stopped(file: &str, e: Error) -> Error {
    let code = match e.exit_code() {
        c if c.code() == 0 || c.code() > 128 => ExitCode::Generic,
        c => c,
    };
    Error::Reported {
        message: format!(
            "{e}; the merge of {file} stopped with our version in place, marked as a conflict: fix the cause and merge again, or {}",
            take_a_side(file)
        ),
        code,
    }
}

/// The most conflicting paths a message lists.
const SHOWN_PATHS: usize = 10;

fn conflict(file: &str, paths: &[String]) -> Error {
    let mut list = paths
        .iter()
        .take(SHOWN_PATHS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN_PATHS {
        list.push_str(&format!(" and {} more", paths.len() - SHOWN_PATHS));
    }
    Error::Reported {
        message: format!(
            "{file}: merge conflict at {list}: both sides changed {} differently; {file} holds every other change, encrypted, with our value there: set {} with `shroud edit {file}` (their version: `git show :3:{file} | shroud decrypt --filename-override {file}`), then `git add {file}`; or {}",
            if paths.len() == 1 { "it" } else { "them" },
            if paths.len() == 1 { "it" } else { "them" },
            take_a_side(file)
        ),
        code: ExitCode::Generic,
    }
}

/// git's test for binary content: a NUL byte in the first 8000 bytes.
fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|&b| b == 0)
}

fn textconv(a: &TextconvArgs, g: &Global) -> Result<Outcome> {
    let input = common::read_input(Some(&a.file))?;
    let bytes = input.bytes.expose();
    let format = Format::from_path(&a.file);
    if !merge::is_sops(format, bytes) {
        if looks_binary(bytes) {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(bytes);
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            common::print(
                format!("binary file, {} bytes, sha256 {hex}…\n", bytes.len()).as_bytes(),
            )?;
        } else {
            common::print(bytes)?;
        }
        return Ok(Outcome::Done);
    }
    let keyring = common::keyring(g)?;
    match common::block_on(shroud::document::open(
        &input.label,
        format,
        bytes,
        &keyring,
        false,
    )) {
        Ok(opened) => common::print(merge::listing(&opened).expose().as_bytes())?,
        Err(Error::Key {
            source: KeyError::NoKey { .. },
            ..
        }) => {
            common::warn(&format!(
                "{}: no key opens this version; it is shown encrypted",
                shroud::text::sanitize(&input.label)
            ));
            common::print(bytes)?;
        }
        Err(e) => return Err(e),
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_line_is_added_once_at_the_top_and_removed_cleanly() {
        let user = "*.png binary\n";
        let added = add_attributes(user).unwrap();
        assert!(added.starts_with(ATTRIBUTES_COMMENT));
        assert!(added.ends_with(user), "later lines keep overriding it");
        assert_eq!(add_attributes(&added), None);
        assert_eq!(remove_attributes(&added).as_deref(), Some(user));
        assert_eq!(remove_attributes(user), None);
        assert_eq!(
            remove_attributes(&add_attributes("").unwrap()).as_deref(),
            Some("")
        );
        // A line narrowed to the sops files counts, and goes on --remove.
        let narrowed = "*.enc.yaml merge=shroud diff=shroud\n# merge=shroud\n";
        assert_eq!(add_attributes(narrowed), None);
        assert_eq!(
            remove_attributes(narrowed).as_deref(),
            Some("# merge=shroud\n")
        );
    }

    #[test]
    fn unexpanded_labels_fall_back() {
        assert_eq!(label(&Some("%X".into()), "ours"), "ours");
        assert_eq!(label(&Some("HEAD".into()), "ours"), "HEAD");
        assert_eq!(label(&None, "base"), "base");
    }
}
