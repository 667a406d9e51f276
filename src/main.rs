//! The `shroud` binary: parse arguments, run one verb, report an error once, exit with a
//! documented code (docs/exit-codes.md). Verbs return `Result`; the one reporting edge
//! (`cli::messages`) prints the error and decides the exit status, here and in the sops
//! drop-in alike.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::messages;
use shroud::error::ExitCode as Code;

fn main() -> ExitCode {
    cli::signals::install();
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
    let cli = match cli::Cli::try_parse_from(args) {
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
