//! The `shroud` binary: parse arguments, run one verb, report an error once, exit with a
//! documented code (docs/exit-codes.md). This is the one reporting edge: verbs return
//! `Result`, nothing below prints an error, and a closed stdout is a quiet exit.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
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

/// Prints an error once, on one line, with control characters from file names or other
/// untrusted text made visible.
fn report(e: &Error) {
    use std::io::Write;
    let line = shroud::text::sanitize(&e.to_string().replace('\n', " "));
    let _ = writeln!(std::io::stderr().lock(), "shroud: {line}");
}
