//! The `shroud` binary: parse arguments, run one verb, report an error once, exit with a
//! documented code (docs/exit-codes.md).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::legacy_args(std::env::args_os().collect());
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                shroud::error::ExitCode::InvalidConfig as u8
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.global.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("shroud=debug"))
            .init();
    }
    match cli::run(cli) {
        Ok(cli::common::Outcome::Done) => ExitCode::SUCCESS,
        Ok(cli::common::Outcome::Exit(code)) => ExitCode::from(code),
        Ok(cli::common::Outcome::Process(code)) => code,
        Err(e) => {
            eprintln!("shroud: {e}");
            e.exit_code().into()
        }
    }
}
