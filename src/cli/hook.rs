//! `shroud hook install|uninstall`: a plain git pre-commit hook that runs `shroud scan --staged`.
//!
//! Owns: writing and removing the hook file, and refusing to replace a hook shroud did not
//! write unless `--force`. Must not know: scanning.

use std::path::PathBuf;
use std::process::ExitCode;

use shroud::scan::sanitize::sanitize;
use shroud::scan::source;

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

fn hook_path() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let out = source::git(&cwd, &["rev-parse", "--git-path", "hooks"])
        .map_err(|_| "not inside a git repository".to_owned())?;
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

pub fn run(args: HookArgs) -> ExitCode {
    let path = match hook_path() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("shroud hook: {e}");
            return ExitCode::from(2);
        }
    };
    let shown = sanitize(&path.display().to_string());
    let existing = std::fs::read_to_string(&path).ok();
    let ours = existing.as_deref().is_some_and(|s| s.contains(MARKER));
    match args.action {
        HookAction::Install { force } => {
            if existing.is_some() && !ours && !force {
                eprintln!(
                    "shroud hook: {shown} exists and was not written by shroud; refusing to overwrite (use --force, or add `shroud scan --staged` to it yourself)"
                );
                return ExitCode::from(2);
            }
            if let Some(parent) = path.parent()
                && let Err(e) = std::fs::create_dir_all(parent)
            {
                eprintln!(
                    "shroud hook: cannot create {}: {e}",
                    sanitize(&parent.display().to_string())
                );
                return ExitCode::from(2);
            }
            if let Err(e) = std::fs::write(&path, script()) {
                eprintln!("shroud hook: cannot write {shown}: {e}");
                return ExitCode::from(2);
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
            }
            eprintln!("shroud hook: installed {shown}");
            ExitCode::SUCCESS
        }
        HookAction::Uninstall => {
            if !ours {
                eprintln!("shroud hook: no shroud hook at {shown}");
                return ExitCode::from(if existing.is_some() { 2 } else { 0 });
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    eprintln!("shroud hook: removed {shown}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("shroud hook: cannot remove {shown}: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
