//! Minimal dispatcher for the scanner branch: only `scan` and `hook`. The real CLI
//! (`src/cli/mod.rs`) adds these two verbs as `Scan(scan::ScanArgs)` / `Hook(hook::HookArgs)`.

#[path = "cli/hook.rs"]
mod hook;
#[path = "cli/scan.rs"]
mod scan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "shroud", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan files, the index or git history for credentials and unencrypted secrets.
    Scan(scan::ScanArgs),
    /// Manage the git pre-commit hook.
    Hook(hook::HookArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Scan(a) => scan::run(a),
        Command::Hook(a) => hook::run(a),
    }
}
