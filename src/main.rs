//! The `shroud` binary: parse arguments, run one verb, report an error once, exit with a
//! documented code (docs/exit-codes.md). This is the one reporting edge: verbs return
//! `Result`, nothing below prints an error, and a closed stdout is a quiet exit.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use shroud::error::{Error, ExitCode as Code};

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
    if let Err(e) = cli::check_cluster_flags(&argv) {
        report(&e);
        return e.exit_code().into();
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
    if cli.always.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("shroud=debug"))
            .init();
    }
    match cli::run(cli) {
        Ok(cli::common::Outcome::Done) => ExitCode::SUCCESS,
        Ok(cli::common::Outcome::Code(code)) => code.into(),
        Ok(cli::common::Outcome::Exit(code)) => ExitCode::from(code),
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e);
            e.exit_code().into()
        }
    }
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

/// Prints an error once, on one line, with control characters from file names or other
/// untrusted text made visible.
fn report(e: &Error) {
    use std::io::Write;
    let line = shroud::text::sanitize(&e.to_string().replace('\n', " "));
    let _ = writeln!(std::io::stderr().lock(), "shroud: {line}");
}
