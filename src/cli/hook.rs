//! `shroud hook install|uninstall`: a plain git pre-commit hook that runs `shroud scan --staged`.
//!
//! Owns: writing and removing the hook file, and refusing to replace a hook shroud did not
//! write unless `--force`. Must not know: scanning.

use std::path::PathBuf;

use shroud::error::{Error, ExitCode, Result};
use shroud::scan::source;
use shroud::text::sanitize;

use super::common::Outcome;

/// The marker that identifies a hook written by shroud.
pub const MARKER: &str = "# installed by `shroud hook install`";

/// Manage the git pre-commit hook.
#[derive(clap::Args, Debug)]
pub struct HookArgs {
    #[command(subcommand)]
    pub action: HookAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum HookAction {
    /// Write .git/hooks/pre-commit running `shroud scan --staged`.
    Install {
        /// Replace an existing hook that shroud did not write.
        #[arg(long)]
        force: bool,
    },
    /// Remove the hook if shroud wrote it.
    Uninstall,
}

fn refused(message: String) -> Error {
    Error::Reported {
        message: format!("hook: {message}"),
        code: ExitCode::Usage,
    }
}

fn hook_path() -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| refused(e.to_string()))?;
    let out = source::git(&cwd, &["rev-parse", "--git-path", "hooks"])
        .map_err(|_| refused("not inside a git repository".to_owned()))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out).trim_end());
    let dir = if dir.is_absolute() {
        dir
    } else {
        cwd.join(dir)
    };
    Ok(dir.join("pre-commit"))
}

fn script() -> String {
    format!(
        "#!/bin/sh\n{MARKER}\n# Blocks commits that add credentials or unencrypted secrets.\n# Bypass once (not recommended): git commit --no-verify\nif ! command -v shroud >/dev/null 2>&1; then\n    echo 'pre-commit: shroud is not on PATH; install it or remove .git/hooks/pre-commit' >&2\n    exit 1\nfi\nexec shroud scan --staged\n"
    )
}

pub fn run(args: HookArgs) -> Result<Outcome> {
    let path = hook_path()?;
    let shown = sanitize(&path.display().to_string());
    let existing = std::fs::read_to_string(&path).ok();
    let ours = existing.as_deref().is_some_and(|s| s.contains(MARKER));
    let write_err = |file: String| move |source| Error::Write { file, source };
    match args.action {
        HookAction::Install { force } => {
            if existing.is_some() && !ours && !force {
                return Err(refused(format!(
                    "{shown} exists and was not written by shroud; refusing to overwrite (use --force, or add `shroud scan --staged` to it yourself)"
                )));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_err(parent.display().to_string()))?;
            }
            std::fs::write(&path, script()).map_err(write_err(path.display().to_string()))?;
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(write_err(path.display().to_string()))?;
            }
            super::messages::note(&format!("shroud hook: installed {shown}"));
            Ok(Outcome::Done)
        }
        HookAction::Uninstall => {
            if !ours {
                if existing.is_some() {
                    return Err(refused(format!(
                        "{shown} was not written by shroud; left as it is"
                    )));
                }
                super::messages::note(&format!("shroud hook: no shroud hook at {shown}"));
                return Ok(Outcome::Done);
            }
            std::fs::remove_file(&path).map_err(write_err(path.display().to_string()))?;
            super::messages::note(&format!("shroud hook: removed {shown}"));
            Ok(Outcome::Done)
        }
    }
}
