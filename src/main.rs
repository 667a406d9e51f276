//! The `shroud` binary: parse arguments, run one verb, report an error once, exit with a
//! documented code (docs/exit-codes.md). Verbs return `Result`; the one reporting edge
//! (`cli::messages`) prints the error and decides the exit status, here and in the sops
//! drop-in alike.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use cli::messages;
use shroud::error::ExitCode as Code;

fn main() -> ExitCode {
    shroud::fsutil::on_first_cleanup(cli::signals::install);
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if invoked_as.as_deref() == Some("sops") {
        return cli::sops_mode::run(argv);
    }
    let code_of = |e: &shroud::error::Error| e.exit_code().code();
    if let Err(e) = cli::check_cluster_flags(&argv) {
        return messages::finish(Err(e), code_of);
    }
    let args = cli::legacy_args(argv);
    let cli = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout and succeed; usage errors go to stderr.
            let code = if e.use_stderr() {
                Code::Usage
            } else {
                Code::Success
            };
            let _ = e.print();
            return code.into();
        }
    };
    cli::init_logging(cli.always.verbose);
    messages::finish(cli::run(cli), code_of)
}

/// `Cli::try_parse_from`, without tearing down clap's command tree afterwards: building and
/// then freeing the tree of every verb's arguments is a third of a small command's start-up,
/// and the process ends soon after (the tree holds no secret: argument definitions only).
fn parse(args: Vec<std::ffi::OsString>) -> Result<cli::Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = cli::Cli::command();
    let parsed = match cmd.try_get_matches_from_mut(args) {
        Ok(mut matches) => {
            let cli = cli::Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd));
            std::mem::forget(matches);
            cli
        }
        Err(e) => Err(e),
    };
    std::mem::forget(cmd);
    parsed
}
