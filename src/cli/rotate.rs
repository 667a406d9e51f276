//! `shroud updatekeys` and `shroud rotate`, for files or whole directories (`--recursive DIR`,
//! `--all` for the enclosing git repository): a recipient diff, confirmation, parallel work with
//! one progress bar, a summary, and a non-zero exit if any file failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shroud::error::{Error, Result};
use shroud::fsutil::Mode;
use shroud::keysource::KeySpec;
use shroud::repo::Configs;
use shroud::rotate::{self, Job, KeyChanges, Outcome};

use super::Global;
use super::bulk::{Bulk, Tally};
use super::common::{self, Sink};
use super::messages;

#[derive(clap::Args, Debug)]
pub struct Scope {
    /// Files to process.
    pub files: Vec<PathBuf>,
    /// Every file under DIR that matches a creation rule (respects .gitignore).
    #[arg(short = 'r', long, value_name = "DIR", conflicts_with = "all")]
    pub recursive: Option<PathBuf>,
    /// Every matching file of the git repository around the current directory.
    #[arg(long)]
    pub all: bool,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Files processed at once (default: 4 per core, for network-bound KMS calls).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print only failures and the summary line (no per-file lines, no progress bar).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Override the Shamir threshold.
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
    #[command(flatten)]
    pub force: common::ForceArg,
}

#[derive(clap::Args, Debug)]
pub struct UpdateKeysArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub scope: Scope,
    /// When a key is removed, keep the file's data key (sops's behaviour). Without this, such a
    /// file gets a new data key in the same write: the removed key's old envelopes, still in git
    /// history, would otherwise open every value written from now on.
    #[arg(long)]
    pub keep_data_key: bool,
}

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub scope: Scope,
    /// Write rotated files back in place. Without -i a single FILE goes to stdout (as sops);
    /// several files, --recursive and --all need -i.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write a single rotated FILE here instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Add age recipients (comma-separated).
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Remove age recipients (comma-separated).
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Add AWS KMS keys (comma-separated ARNs, `arn+role` allowed).
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Remove AWS KMS keys (comma-separated ARNs).
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Add PGP keys (comma-separated fingerprints).
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    /// Remove PGP keys by fingerprint.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    /// KMS encryption context for --add-kms keys, `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// File name whose extension decides the format (for a file without one).
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
    /// With --rm-*: change only the files, not the creation rules (sops's behaviour; a later
    /// `updatekeys` then adds the removed keys back, so `shroud keys revoke` is the safer way).
    #[arg(long)]
    pub keep_rules: bool,
    /// Format of the rotated output (a single FILE to stdout or --output); default: the input's.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    #[command(flatten)]
    pub job: super::rotate_job::JobArgs,
}

fn split(list: &Option<String>) -> Result<Vec<String>> {
    shroud::file::key_list(list.as_deref())
}

fn options(scope: &Scope, g: &Global) -> Result<rotate::Options> {
    Ok(rotate::Options {
        dry_run: scope.dry_run,
        config: g.config.clone(),
        input_type: scope
            .input_type
            .as_deref()
            .map(common::parse_format)
            .transpose()?,
        shamir_threshold: scope.shamir_threshold,
        emit: shroud::store::EmitOptions { indent: g.indent },
        keep_data_key: false,
    })
}

/// The files to work on, each with its config.
fn targets(scope: &Scope, g: &Global) -> Result<(Vec<rotate::Target>, bool)> {
    let dir = match (&scope.recursive, scope.all) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => match shroud::git::toplevel(Path::new(".")) {
            Some(top) => Some(top),
            None => {
                return Err(Error::Usage(
                    "--all needs to run inside a git repository; use --recursive DIR".into(),
                ));
            }
        },
        (None, false) => None,
    };
    let configs = Configs::new(g.config.as_deref())?;
    let input_type = scope
        .input_type
        .as_deref()
        .map(common::parse_format)
        .transpose()?;
    if let Some(d) = dir {
        if !scope.files.is_empty() {
            return Err(Error::Usage(
                "give FILEs or --recursive/--all, not both".into(),
            ));
        }
        return Ok((rotate::candidates(&d, &configs, input_type)?, true));
    }
    if scope.files.is_empty() {
        return Err(Error::Usage(
            "no FILE given (or use --recursive DIR / --all)".into(),
        ));
    }
    let files = scope
        .files
        .iter()
        .map(|f| rotate::Target::file(f.clone(), &configs))
        .collect::<Result<Vec<_>>>()?;
    Ok((files, false))
}

fn run_job(
    scope: &Scope,
    g: &Global,
    job: Job,
    verb: &str,
    keep_data_key: bool,
    edit_rules: bool,
) -> Result<common::Outcome> {
    let (files, recursive) = targets(scope, g)?;
    let mut opts = options(scope, g)?;
    opts.keep_data_key = keep_data_key;
    let bulk = Bulk {
        verb,
        yes: scope.yes || scope.dry_run,
        quiet: scope.quiet,
        jobs: scope.jobs.unwrap_or_else(|| {
            4 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
    };
    // `rotate --rm-*` takes the keys out of the rules too, so no later `updatekeys` brings them
    // back; every edit is proved before anything is written.
    let edits = match &job {
        Job::Rotate(changes) if edit_rules && !changes.remove.is_empty() => {
            rotate::rule_edits(&files, &shroud::keysource::Named::new(&changes.remove))?
        }
        _ => Vec::new(),
    };
    for e in &edits {
        messages::note(&format!(
            "{}{}: {}",
            if scope.dry_run { "would change " } else { "" },
            common::shown(&e.path),
            e.summary()
        ));
    }
    let keyring = Arc::new(common::keyring(g)?);
    if files.is_empty() {
        messages::note("shroud: no sops files found");
        return Ok(common::Outcome::Done);
    }
    let run = |bulk: &Bulk<'_>, files: Vec<rotate::Target>, opts: rotate::Options, long_run| {
        let items = files.into_iter().map(|t| (t.path.clone(), t)).collect();
        bulk.run(items, long_run, |_, target| {
            let (job, keyring, opts) = (job.clone(), keyring.clone(), opts.clone());
            // Boxed: the per-file future is deep, and each file is a task of its own anyway.
            async move { Box::pin(rotate::run_one(target, &job, &keyring, &opts)).await }
        })
    };
    // Plan first (no writes, 64 files at once), show it, ask once.
    if !bulk.yes {
        let dry = rotate::Options {
            dry_run: true,
            ..opts.clone()
        };
        let planner = Bulk { jobs: 64, ..bulk };
        let planned = run(&planner, files.clone(), dry, false);
        let mut any = false;
        for (p, r) in &planned {
            if let Ok(Outcome::Changed(plan)) = r {
                any = true;
                bulk.plan(&format!("{}: {plan}", common::shown(p)));
            }
        }
        if !any {
            return Ok(report(&planned, &bulk, true));
        }
        bulk.confirm(&format!("{verb} these files?"))?;
    }
    if !scope.dry_run {
        for e in &edits {
            e.write().map_err(|source| Error::Write {
                file: e.path.display().to_string(),
                source,
            })?;
        }
    }
    let results = run(&bulk, files, opts, recursive);
    Ok(report(&results, &bulk, scope.dry_run))
}

/// Each file's change (`changed F: plan`, or `would change` in a dry run), each failure, the
/// summary, and the merged exit code.
fn report(results: &[(PathBuf, Result<Outcome>)], bulk: &Bulk<'_>, dry: bool) -> common::Outcome {
    let changed = if dry { "would be changed" } else { "changed" };
    let mut tally = Tally::new(&[(changed, 0), ("unchanged", 0)]);
    for (p, r) in results {
        match r {
            Ok(Outcome::Changed(plan)) => {
                tally.count(changed);
                bulk.say(&format!(
                    "{}{}: {plan}",
                    if dry { "would change " } else { "changed " },
                    common::shown(p)
                ));
            }
            Ok(Outcome::Unchanged) => tally.count("unchanged"),
            Err(e) => tally.failed(e),
        }
    }
    tally.summary(bulk.verb, None);
    tally.outcome()
}

pub fn run_updatekeys(a: UpdateKeysArgs, g: &Global) -> Result<common::Outcome> {
    if a.keep_data_key {
        common::warn(
            "the data key is kept (--keep-data-key, as sops's updatekeys does): a key removed here keeps opening every value written from now on through its envelopes in git history; `shroud keys revoke` locks a key out",
        );
    }
    run_job(
        &a.scope,
        g,
        Job::UpdateKeys,
        "updatekeys",
        a.keep_data_key,
        false,
    )
}

pub fn run_rotate(mut a: RotateArgs, g: &Global) -> Result<common::Outcome> {
    if a.job.git.is_some() {
        return super::rotate_job::run(a.job, a.scope.jobs, g);
    }
    if a.scope.input_type.is_none()
        && let Some(name) = &a.filename_override
    {
        a.scope.input_type = Some(shroud::store::Format::from_path(name).name().to_owned());
    }
    // The context applies to added KMS keys only (sops ignores it otherwise).
    let add: Vec<KeySpec> = shroud::file::key_lists(
        a.add_age.as_deref(),
        a.add_pgp.as_deref(),
        a.add_kms.as_deref(),
        None,
        a.encryption_context.as_deref(),
    )?
    .map(|mut groups| groups.remove(0))
    .unwrap_or_default();
    let mut remove = split(&a.rm_age)?;
    remove.extend(split(&a.rm_kms)?);
    remove.extend(split(&a.rm_pgp)?);
    let changes = KeyChanges { add, remove };
    let single = a.scope.recursive.is_none() && !a.scope.all && a.scope.files.len() == 1;
    if !single && !a.in_place && !a.scope.dry_run {
        return Err(Error::Usage(
            "rotate writes several files only in place: add -i (or --dry-run to see the plan first)"
                .into(),
        ));
    }
    let output_type = a
        .output_type
        .as_deref()
        .map(common::parse_format)
        .transpose()?;
    if output_type.is_some() && (a.in_place || !single) {
        return Err(Error::Usage(
            "--output-type applies to a single FILE written to stdout or --output".into(),
        ));
    }
    if single && !a.in_place && !a.scope.dry_run {
        // sops's behaviour: the rotated file goes to stdout.
        let path = &a.scope.files[0];
        let input = common::read_input(Some(path))?;
        let opts = options(&a.scope, g)?;
        let format = opts
            .input_type
            .unwrap_or_else(|| shroud::store::Format::from_path(path));
        let keyring = common::keyring(g)?;
        let (mut out, _) = common::block_on(rotate::rotate_bytes(
            &input.label,
            format,
            input.bytes.expose(),
            &keyring,
            &changes,
            &opts,
        ))?;
        if let Some(to) = output_type.filter(|&t| t != format) {
            let (tree, md) = shroud::document::load_encrypted(&input.label, format, &out)?;
            out = shroud::document::emit_encrypted(&input.label, to, tree, &md, opts.emit)?;
        }
        let sink = match &a.output {
            Some(p) => Sink::Output(p),
            None => Sink::Stdout,
        };
        common::write_output(sink, &out, Mode::KeepOr(0o644))?;
        return Ok(common::Outcome::Done);
    }
    let scope = Scope {
        yes: a.scope.yes || (single && a.in_place),
        ..a.scope
    };
    run_job(
        &scope,
        g,
        Job::Rotate(changes),
        "rotate",
        false,
        !a.keep_rules,
    )
}
