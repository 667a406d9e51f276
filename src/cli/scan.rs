//! `shroud scan`: the pre-commit / CI secret check.
//!
//! Owns: the verb's flags, choosing the repository root and the source, the baseline file, and
//! the exit code (0 clean, 1 findings, 2 error). Must not know: rules or git plumbing (that is
//! `shroud::scan`).

use shroud::error::{Error, ExitCode, Result};
use shroud::scan::baseline::{self, Baseline};
use shroud::scan::report::{self, OutputFormat};
use shroud::scan::{self, Options, Source};
use shroud::text::sanitize;
use std::io::Write;
use std::path::PathBuf;

use super::common::Outcome;

/// Scan files, the index or git history for credentials and unencrypted secrets.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").args(["staged", "pre_commit", "commits", "since", "all_history"])))]
pub struct ScanArgs {
    /// Files or directories to scan (default: the repository, honouring .gitignore); `-` reads
    /// standard input. Findings are reported relative to the current directory when paths are
    /// given. With --staged: restrict to these paths.
    pub paths: Vec<PathBuf>,
    /// The file name standard input (`-`) is reported and parsed as (its extension picks the
    /// YAML/JSON checks).
    #[arg(long, value_name = "NAME", default_value = "-")]
    pub stdin_name: String,
    /// Scan exactly what will be committed: lines added in the index.
    #[arg(long)]
    pub staged: bool,
    /// What the pre-commit hooks run (.pre-commit-hooks.yaml): for the FILES pre-commit passes,
    /// the staged lines of each file with staged changes and the whole of each file without
    /// (so `pre-commit run --all-files` in CI scans every file); with no FILES, as --staged.
    #[arg(long)]
    pub pre_commit: bool,
    /// Scan lines added by the commits of a range, e.g. origin/main..HEAD.
    #[arg(long, value_name = "A..B")]
    pub commits: Option<String>,
    /// Scan lines added by commits after REV (REV..HEAD).
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,
    /// Scan every blob of every reachable commit (each blob once).
    #[arg(long)]
    pub all_history: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Baseline of accepted findings (default: .shroud-baseline.json at the repository root).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Ignore the baseline file.
    #[arg(long, conflicts_with = "update_baseline")]
    pub no_baseline: bool,
    /// Add the current findings to the baseline instead of failing.
    #[arg(long)]
    pub update_baseline: bool,
    /// Scan config with custom rules (default: .shroud/scan.yaml at the repository root).
    #[arg(long = "scan-config", value_name = "FILE")]
    pub scan_config: Option<PathBuf>,
    /// Skip files larger than this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Files scanned at once (default: one per core).
    #[arg(
        long = "jobs",
        short = 'j',
        visible_alias = "threads",
        value_name = "N",
        default_value_t = 0
    )]
    pub threads: usize,
    /// Report every generic candidate with its score and features (training data for
    /// scripts/train-scan-scorer.py).
    #[arg(long, hide = true)]
    pub all_candidates: bool,
}

enum SourceKind {
    Paths,
    Other,
}

/// A scan that could not be completed (exit 2), reported once at the CLI's edge.
fn fail(msg: impl std::fmt::Display) -> Error {
    Error::Reported {
        message: format!("scan: {msg}"),
        code: ExitCode::ScanFailed,
    }
}

pub fn run(args: ScanArgs) -> Result<Outcome> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let git_root = scan::source::toplevel(&cwd);
    let root = git_root.clone().unwrap_or_else(|| cwd.clone());
    let relative = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                abs.strip_prefix(&root)
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| p.to_string_lossy().into_owned())
            })
            .collect()
    };
    let source = if args.staged {
        Source::Staged(relative(&args.paths))
    } else if args.pre_commit {
        Source::PreCommit(relative(&args.paths))
    } else if let Some(r) = &args.commits {
        Source::Commits(r.clone())
    } else if let Some(rev) = &args.since {
        Source::Commits(format!("{rev}..HEAD"))
    } else if args.all_history {
        Source::AllHistory
    } else if args.paths.iter().any(|p| p.as_os_str() == "-") {
        if args.paths.len() > 1 {
            return Err(fail(
                "`-` (standard input) cannot be combined with other paths",
            ));
        }
        let limit = args.max_file_size.unwrap_or(scan::DEFAULT_MAX_FILE_SIZE);
        let mut data = Vec::new();
        use std::io::Read;
        if let Err(e) = std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut data)
        {
            return Err(fail(format!("cannot read standard input: {e}")));
        }
        if data.len() as u64 > limit {
            return Err(fail(format!(
                "standard input is larger than {limit} bytes (--max-file-size)"
            )));
        }
        Source::Bytes {
            name: args.stdin_name.clone(),
            data,
        }
    } else {
        Source::Paths(args.paths.clone())
    };
    if !matches!(source, Source::Paths(_) | Source::Bytes { .. }) && git_root.is_none() {
        return Err(fail(
            "--staged, --pre-commit, --commits, --since and --all-history need a git repository",
        ));
    }
    let source_kind = match source {
        Source::Paths(_) => SourceKind::Paths,
        _ => SourceKind::Other,
    };
    let opts = Options {
        source,
        root: root.clone(),
        settings: args.scan_config.clone(),
        max_file_size: args.max_file_size,
        threads: args.threads,
        all_candidates: args.all_candidates,
        // Explicit paths are reported relative to where the user stands, as gitleaks does.
        display_base: (!args.paths.is_empty() && matches!(source_kind, SourceKind::Paths))
            .then(|| cwd.clone()),
    };
    let started = std::time::Instant::now();
    let baseline_path = args
        .baseline
        .clone()
        .unwrap_or_else(|| root.join(baseline::DEFAULT_PATH));
    let mut base = if baseline_path.is_file() && !args.no_baseline {
        match Baseline::load(&baseline_path) {
            Ok(b) => b,
            Err(e) => return Err(fail(e)),
        }
    } else {
        Baseline::default()
    };
    // The baseline is applied as findings are made: a history entry accepts one commit's blob,
    // not the secret's other occurrences.
    let extra = scan::Extra {
        baseline: (!args.update_baseline).then_some(&base),
        every_occurrence: args.update_baseline,
    };
    let outcome = match scan::scan_with(&opts, &extra) {
        Ok(o) => o,
        Err(e) => return Err(fail(e)),
    };
    if args.update_baseline {
        return match base.update(&outcome.occurrences, &baseline_path) {
            Ok(added) => {
                super::messages::note(&format!(
                    "shroud scan: baseline {} updated: {added} new entr{}",
                    sanitize(&baseline_path.display().to_string()),
                    if added == 1 { "y" } else { "ies" }
                ));
                Ok(errors_exit(&outcome.summary, Outcome::Done))
            }
            Err(e) => Err(fail(e)),
        };
    }
    let rendered = report::render(args.format, &outcome.findings, &outcome.summary);
    let written = match &args.output {
        Some(p) => std::fs::write(p, rendered.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(rendered.as_bytes())
                .and_then(|()| out.flush())
        }
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(fail(format!("cannot write the report: {e}")));
    }
    let s = &outcome.summary;
    if args.format == OutputFormat::Text || args.output.is_some() {
        let secs = started.elapsed().as_secs_f64();
        super::messages::note(&format!(
            "shroud scan: {} finding{} in {} file{} ({:.1} MB, {} skipped, {} baselined) in {:.2}s",
            outcome.findings.len(),
            if outcome.findings.len() == 1 { "" } else { "s" },
            s.files,
            if s.files == 1 { "" } else { "s" },
            s.bytes as f64 / 1e6,
            s.skipped,
            s.baselined,
            secs
        ));
    }
    let code = if outcome.findings.is_empty() {
        Outcome::Done
    } else {
        if args.format == OutputFormat::Text {
            super::messages::note(&what_to_do(&args));
        }
        Outcome::Code(ExitCode::Findings)
    };
    Ok(errors_exit(s, code))
}

/// Per-item warnings and errors, printed as they were collected; any error makes the scan
/// incomplete (exit 2), whatever was found.
/// What to do about findings. A history finding is accepted by the same history scan's
/// baseline, for its commit and blob only (docs/scanning.md).
fn what_to_do(args: &ScanArgs) -> String {
    let update = if args.all_history {
        "`shroud scan --all-history --update-baseline` (a leak in history: once the secret is rotated)"
    } else if args.commits.is_some() || args.since.is_some() {
        "the same scan with --update-baseline (a leak in history: once the secret is rotated)"
    } else {
        "`shroud scan --update-baseline`"
    };
    format!(
        "shroud scan: remove the secrets (and rotate them), or suppress a false positive with a `shroud:allow` comment, a .shroudignore entry, or {update}"
    )
}

fn errors_exit(summary: &scan::Summary, code: Outcome) -> Outcome {
    for w in &summary.warnings {
        super::messages::note(&format!("shroud scan: warning: {}", sanitize(w)));
    }
    let errors = &summary.errors;
    for e in errors {
        super::messages::note(&format!("shroud scan: error: {}", sanitize(e)));
    }
    if errors.is_empty() {
        code
    } else {
        Outcome::Code(ExitCode::ScanFailed)
    }
}
