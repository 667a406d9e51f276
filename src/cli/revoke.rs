//! `shroud keys revoke`: lock keys out of a repository for good, with the exposure report (what
//! they could read at any point in history, and which of those values are still live).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use shroud::error::{Error, Result};
use shroud::revoke::{self, Exposure, Status};
use shroud::rotate::Outcome;

use super::Global;
use super::bulk::{Bulk, Tally};
use super::common;
use super::messages;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keys to revoke: age recipients, PGP fingerprints, AWS KMS ARNs.
    #[arg(required = true, value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// The directory to revoke in (default: the git repository around the current directory).
    #[arg(short = 'r', long, value_name = "DIR")]
    pub recursive: Option<PathBuf>,
    /// Show the plan and the exposure report; change nothing. Exits 1 while anything is left to
    /// do (as a revocation that did not complete), 0 only when nothing is.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also write the plan, the result and the exposure report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Files processed at once (default: 4 per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print only failures, the exposure summary and the summary line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The JSON report (`--report`), schema `shroud-revoke/1`.
#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    revoked: &'a [String],
    root: String,
    dry_run: bool,
    configs: Vec<ConfigReport>,
    files: Vec<FileReport>,
    /// Files or configs that still list a revoked key after the run.
    remaining: Vec<String>,
    /// Other branches and remote-tracking refs whose tip still lists a revoked key (the run
    /// works on the checked-out tree; these it did not reach).
    refs: Vec<String>,
    /// Nothing remains, on this branch or any other ref.
    complete: bool,
    exposure: &'a Exposure,
}

#[derive(Serialize)]
struct ConfigReport {
    path: String,
    removed: Vec<String>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    /// `rekeyed`, `would_rekey` or `failed`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn root_of(a: &Args) -> Result<PathBuf> {
    match &a.recursive {
        Some(d) => Ok(d.clone()),
        None => shroud::git::toplevel(Path::new(".")).ok_or_else(|| {
            Error::Usage(
                "keys revoke works on a git repository: run it inside one, or give -r DIR".into(),
            )
        }),
    }
}

fn print_exposure(e: &Exposure, quiet: bool) {
    if e.files.is_empty() {
        super::messages::note(
            "exposure: no version of any file was encrypted for the revoked keys",
        );
        return;
    }
    let counts = if e.compared {
        format!(
            " (compared with today: {} live, {} changed since, {} removed, {} not compared)",
            e.live(),
            e.values_with(Status::Changed),
            e.values_with(Status::Removed),
            e.values_with(Status::Unknown)
        )
    } else {
        " (not compared with today: no key at hand opens these files)".to_owned()
    };
    super::messages::note(&format!(
        "exposure{}: {} value(s) in {} file(s) could be read with the revoked keys{counts}",
        if e.history {
            " (git history of every ref, and the working tree)"
        } else {
            " (working tree only: not a git repository)"
        },
        e.values(),
        e.files.len(),
    ));
    for f in &e.files {
        let live: Vec<&revoke::ExposedValue> = f
            .values
            .iter()
            .filter(|v| v.status == Status::Live)
            .collect();
        if quiet && live.is_empty() {
            continue;
        }
        if f.versions == 0 {
            super::messages::note(&format!(
                "  {}: today's data key is one a revoked key could unwrap from {}",
                shroud::text::sanitize(&f.path),
                if f.data_key_from.is_empty() {
                    "history (or that cannot be ruled out)".to_owned()
                } else {
                    shroud::text::sanitize(&f.data_key_from.join(", "))
                }
            ));
            continue;
        }
        super::messages::note(&format!(
            "  {} ({} version(s))",
            shroud::text::sanitize(&f.path),
            f.versions
        ));
        for v in &f.values {
            if quiet && v.status != Status::Live {
                continue;
            }
            let elsewhere: Vec<String> = v
                .live_in
                .iter()
                .filter(|p| **p != f.path)
                .map(|p| shroud::text::sanitize(p))
                .collect();
            let live_elsewhere = format!(
                "LIVE: still in use today (in {}); change it at its source",
                elsewhere.join(", ")
            );
            let what = match v.status {
                Status::Live if !elsewhere.is_empty() => live_elsewhere.as_str(),
                Status::Live => "LIVE: still the same today; change it at its source",
                Status::Changed => "changed since",
                Status::Removed => "no longer in the file",
                Status::Unknown => "not compared; treat as live until checked",
            };
            let since = v
                .first
                .as_ref()
                .map(|c| {
                    format!(
                        " (exposed since {} {})",
                        &c.time[..c.time.len().min(10)],
                        &c.id[..c.id.len().min(12)]
                    )
                })
                .unwrap_or_else(|| " (uncommitted)".into());
            super::messages::note(&format!(
                "    {}  {what}{since}",
                shroud::text::sanitize(&v.key_path)
            ));
        }
    }
}

/// The plan as it is shown before anything changes: the configs and files that change, the
/// damaged files that cannot be checked, and the exposure report.
fn show_plan(a: &Args, plan: &revoke::Plan, exposure: &Exposure) {
    if !a.quiet {
        // A dry run says "would" on every line, not only in its summary.
        let would = if a.dry_run {
            "would get a "
        } else {
            "to get a "
        };
        for e in &plan.edits {
            let change = if a.dry_run { "would change: " } else { "" };
            messages::note(&format!(
                "{}: {change}{}",
                common::shown(&e.path),
                e.summary()
            ));
        }
        for t in &plan.files {
            let why = if plan.unnamed_readers.contains(&t.path) {
                "new data key: an envelope opens for a party it does not name (more than one recipient in one age or PGP envelope, a hidden recipient or a passphrase), who may hold a revoked key"
            } else if plan.history_only.contains(&t.path) {
                "new data key: a revoked key's envelope in history opens the current one (or that cannot be ruled out with the keys at hand)"
            } else {
                "new data key, without the revoked keys"
            };
            messages::note(&format!("{}: {would}{why}", common::shown(&t.path)));
        }
    }
    for p in &plan.outside {
        messages::note(&format!(
            "shroud: {}: lists a revoked key but is outside the repository: not changed (remove the key from it by hand); the revocation cannot be complete until then",
            common::shown(p)
        ));
    }
    for (p, why) in &plan.damaged {
        messages::note(&format!(
            "shroud: {}: damaged sops file, cannot be checked: {why}",
            common::shown(p)
        ));
    }
    print_exposure(exposure, a.quiet);
}

/// `--report FILE`: the plan, the result and the exposure report as JSON.
fn write_report(
    a: &Args,
    named: &shroud::keysource::Named,
    (root, plan, exposure): (&Path, &revoke::Plan, &Exposure),
    files: Vec<FileReport>,
    (remaining, refs): (Vec<String>, Vec<String>),
) -> Result<()> {
    let Some(path) = &a.report else {
        return Ok(());
    };
    let r = Report {
        schema: "shroud-revoke/1",
        revoked: named.given(),
        root: root.display().to_string(),
        dry_run: a.dry_run,
        configs: plan
            .edits
            .iter()
            .map(|e| ConfigReport {
                path: e.path.display().to_string(),
                removed: e
                    .removed
                    .iter()
                    .map(|r| {
                        format!(
                            "creation_rules[{}] key group {}: {}",
                            r.rule, r.group, r.key
                        )
                    })
                    .collect(),
            })
            .collect(),
        files,
        complete: remaining.is_empty() && refs.is_empty() && (!a.dry_run || plan.is_empty()),
        remaining,
        refs,
        exposure,
    };
    let mut json = serde_json::to_vec_pretty(&r).expect("serialisable");
    json.push(b'\n');
    common::write_output(
        common::Sink::Output(path),
        &json,
        shroud::fsutil::Mode::KeepOr(0o644),
    )
}

pub fn run(a: Args, g: &Global) -> Result<common::Outcome> {
    let named = revoke::named(&a.recipients)?;
    let root = root_of(&a)?;
    let mut plan = revoke::plan(&root, &named, g.config.as_deref())?;
    for k in &plan.unmatched {
        common::warn(&format!(
            "{}: no rule and no file lists it",
            shroud::text::shorten_keys(k)
        ));
    }
    // The keys at hand: for comparing exposed values with today's (no key: not compared), the
    // pre-flight check and the re-key. One keyring that remembers, so each envelope is opened
    // once (one gpg or KMS call per file, not one per step).
    let ring = common::keyring(g).map(|k| Arc::new(k.remembering()));
    let exposure = common::block_on_parallel(revoke::exposure(
        &root,
        &named,
        ring.as_ref().ok().map(|k| k.as_ref()),
    ))?;
    revoke::check_found(&plan, &exposure)?;
    plan.add_exposed(&exposure)?;
    show_plan(&a, &plan, &exposure);
    let report =
        |files, remaining| write_report(&a, &named, (&root, &plan, &exposure), files, remaining);
    if plan.is_empty() {
        let refs = revoke::refs_listing(&root, &named, plan.config.as_deref(), &exposure)?;
        report(Vec::new(), (Vec::new(), refs.clone()))?;
        messages::note(
            "keys revoke: no rule and no file of this branch lists the key any more (revoked already); the exposure above is what it could read in history",
        );
        revoke::check_complete(&[], &refs)?;
        return Ok(common::Outcome::Done);
    }
    // A revocation the keys at hand cannot carry out is refused before anything is written
    // (the dry run says so too, when keys are at hand).
    if let Ok(r) = &ring {
        common::block_on_parallel(revoke::check_openable(&plan, r))?;
    }
    if a.dry_run {
        let files = plan
            .files
            .iter()
            .map(|t| FileReport {
                path: t.path.display().to_string(),
                result: "would_rekey",
                error: None,
            })
            .collect();
        let refs = revoke::refs_listing(&root, &named, plan.config.as_deref(), &exposure)?;
        for r in &refs {
            messages::note(&format!(
                "shroud: another ref still lists a revoked key: {}",
                shroud::text::sanitize(r)
            ));
        }
        report(files, (Vec::new(), refs))?;
        messages::note(&format!(
            "keys revoke: {} config(s) and {} file(s) would change (dry run); the key is NOT revoked yet: {}",
            plan.edits.len(),
            plan.files.len(),
            if plan.outside.is_empty() && plan.damaged.is_empty() {
                "run it without --dry-run"
            } else {
                "run it without --dry-run, and see to the configs and files named above by hand"
            }
        ));
        // A plan with work left is not a clean bill: the same code as a revocation that did
        // not complete (docs/exit-codes.md), so `--dry-run && echo nothing left` tells the truth.
        return Ok(common::Outcome::Code(shroud::error::ExitCode::Generic));
    }
    let bulk = Bulk {
        verb: "keys revoke",
        yes: a.yes,
        quiet: a.quiet,
        jobs: a.jobs.unwrap_or_else(|| {
            4 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
    };
    bulk.confirm("revoke these keys?")?;
    let opts = shroud::rotate::Options {
        emit: shroud::store::EmitOptions { indent: g.indent },
        ..Default::default()
    };
    let keyring = ring?;
    let (bar, progress) = bulk.progress(plan.files.len(), true);
    let applied = common::block_on_parallel(revoke::apply(
        &plan, &exposure, keyring, opts, bulk.jobs, progress,
    ));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let applied = applied?;
    let mut tally = Tally::new(&[
        ("config(s) changed", plan.edits.len()),
        ("file(s) re-keyed", 0),
    ]);
    let mut files = Vec::new();
    for (p, r) in &applied.files {
        let (result, error) = match r {
            Ok(Outcome::Changed(_) | Outcome::Unchanged) => {
                tally.count("file(s) re-keyed");
                ("rekeyed", None)
            }
            Err(e) => {
                let explained = revoke::explain_failure(e);
                let e = explained.as_ref().unwrap_or(e);
                tally.failed(e);
                ("failed", Some(e.to_string()))
            }
        };
        files.push(FileReport {
            path: p.display().to_string(),
            result,
            error,
        });
    }
    report(files, (applied.remaining.clone(), applied.refs.clone()))?;
    let verified = if !applied.remaining.is_empty() {
        format!("{} still list one", applied.remaining.len())
    } else if !applied.refs.is_empty() {
        format!(
            "this branch is clean; these refs still list the key: {}",
            shroud::text::sanitize(&applied.refs.join("; "))
        )
    } else {
        "verified: no rule and no file lists a revoked key, on this branch or any other".to_owned()
    };
    tally.summary("keys revoke", Some(&verified));
    revoke::check_complete(&applied.remaining, &applied.refs)?;
    if exposure.live() > 0 || exposure.values_with(Status::Unknown) > 0 {
        messages::note(
            "keys revoke: the revoked keys can no longer open anything new, but values they could read are still in use: change them at their source (listed above)",
        );
    }
    Ok(common::Outcome::Done)
}
