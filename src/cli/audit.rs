//! `shroud audit [DIR]`: the repository audit for auditors and CI gates.
//!
//! Owns: the verb's flags, where the report goes, and the exit status: 1 when a `--fail-on`
//! category has findings (as `scan`), 2 when the audit could not be made (never 1, so a broken
//! audit is not read as findings). Must not know: how checks work (that is `shroud::audit`).

use std::io::IsTerminal;
use std::path::PathBuf;

use shroud::audit::render::{self, OutputFormat};
use shroud::audit::{self, AuditError, Category};
use shroud::error::{Error, ExitCode, Result};
use shroud::fsutil::Mode;

use super::Global;
use super::common::{self, Outcome, Sink};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A terminal summary.
    Text,
    /// The full report, schema shroud-audit/2 (docs/audit.md).
    Json,
    /// Tables to paste into an audit ticket.
    Markdown,
    /// One self-contained HTML file (no network, no external assets).
    Html,
}

/// One `--fail-on` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Every category; `stale` only where a key-age policy exists.
    All,
    One(Category),
}

/// Inventory, access matrix and history, policy drift, key age, revoked recipients, plaintext
/// and integrity findings for every sops file under DIR. Needs no private key (except
/// --verify).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    /// The directory to audit (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Recipient → name mapping (YAML: `age1…: alice`, `revoked:` dates); default: audit.names
    /// in .sops.yaml.
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// Data keys older than this are stale, e.g. 90d, 12w, 1y (overrides audit.max_key_age).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub max_key_age: Option<u64>,
    /// Also scan every blob of the git history for plaintext secrets.
    #[arg(long)]
    pub history: bool,
    /// Verify every file's MAC with the keys available (SOPS_AGE_KEY_FILE, AWS, …).
    #[arg(long)]
    pub verify: bool,
    /// Exit 1 when any of these has findings: drift, stale, revoked, plaintext, integrity, or
    /// all (comma-separated; `all` checks stale only where a key-age policy exists).
    #[arg(long, value_name = "CATEGORIES", value_delimiter = ',', value_parser = parse_fail_on)]
    pub fail_on: Vec<FailOn>,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, default_value_t = 0)]
    pub threads: usize,
}

fn parse_age(s: &str) -> std::result::Result<u64, String> {
    audit::policy::parse_max_age(s)
        .ok_or_else(|| format!("{s:?} is not a key age (use e.g. 90d, 12w or 1y)"))
}

fn parse_fail_on(s: &str) -> std::result::Result<FailOn, String> {
    let s = s.trim();
    if s == "all" {
        return Ok(FailOn::All);
    }
    Category::from_name(s).map(FailOn::One).ok_or_else(|| {
        format!("{s:?} is not one of drift, stale, revoked, plaintext, integrity, all")
    })
}

/// An error of a run that could not complete, with the exit status for "could not audit"
/// wherever it would otherwise read as "findings".
fn could_not_audit(e: Error) -> Error {
    if e.exit_code() == ExitCode::Generic {
        Error::Reported {
            message: format!("the audit could not be completed: {e}"),
            code: ExitCode::AuditFailed,
        }
    } else {
        e
    }
}

pub fn run(args: Args, g: &Global) -> Result<Outcome> {
    run_audit(args, g).map_err(could_not_audit)
}

fn run_audit(args: Args, g: &Global) -> Result<Outcome> {
    let mut fail_on: Vec<Category> = Vec::new();
    for f in &args.fail_on {
        match f {
            FailOn::All => fail_on.extend(Category::ALL),
            FailOn::One(c) => fail_on.push(*c),
        }
    }
    let opts = audit::Options {
        root: args.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        config: g.config.clone(),
        names: args.names.clone(),
        max_key_age_days: args.max_key_age,
        history: args.history,
        fail_on: fail_on.clone(),
        threads: args.threads,
        now: None,
    };
    let mut report = audit::audit(&opts)?;
    let stale_asked = args.fail_on.contains(&FailOn::One(Category::Stale));
    if stale_asked && !audit::has_age_policy(&report) && !report.files.is_empty() {
        return Err(AuditError::NoAgePolicy.into());
    }
    if args.verify {
        let keyring = common::keyring(g)?;
        common::block_on_parallel(audit::verify(&mut report, &keyring));
    }
    let format = match args.format {
        Format::Text => OutputFormat::Text,
        Format::Json => OutputFormat::Json,
        Format::Markdown => OutputFormat::Markdown,
        Format::Html => OutputFormat::Html,
    };
    let color = args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = render::render(&report, format, color);
    let sink = match &args.output {
        Some(p) => Sink::Output(p),
        None => Sink::Stdout,
    };
    common::write_output(sink, text.as_bytes(), Mode::KeepOr(0o644))?;
    let tripped = audit::tripped(&report, &fail_on);
    if tripped.is_empty() {
        return Ok(Outcome::Done);
    }
    super::messages::note(&format!(
        "shroud audit: failing on {}",
        tripped
            .iter()
            .map(|(c, n)| format!("{} ({n})", c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(Outcome::Code(ExitCode::Findings))
}
