//! `shroud rotate --git URL`: the scheduled rotation job (docs/rotation.md, "The rotation
//! job"). Parses its flags, runs `shroud::job`, reports: the files rotated and why, the branch
//! pushed and where to open the pull request, or why nothing was pushed.

use std::path::PathBuf;

use shroud::error::Result;

use super::Global;
use super::common;

/// The job's flags (on `shroud rotate`; `--git` turns the job on).
#[derive(clap::Args, Debug, Default)]
pub struct JobArgs {
    /// Rotation job: clone this repository (ssh://, user@host:path or https://), give the files
    /// due under the key-age policy new data keys, push them on a new branch for review.
    #[arg(long = "git", value_name = "URL", conflicts_with_all = ["files", "recursive", "all", "in_place", "output", "add_age", "rm_age", "add_kms", "rm_kms", "add_pgp", "rm_pgp", "dry_run"])]
    pub git: Option<String>,
    /// With --git: the branch to start from (default: the remote's default branch).
    #[arg(long, value_name = "BRANCH", requires = "git")]
    pub branch: Option<String>,
    /// With --git: the branch to push (default: rotate/data-keys-YYYY-MM-DD, UTC).
    #[arg(long, value_name = "BRANCH", requires = "git")]
    pub push_branch: Option<String>,
    /// With --git: data keys older than this are due, e.g. 90d, 12w, 1y (default: each
    /// file's .sops.yaml audit.max_key_age; a file no policy covers is due on every run).
    #[arg(long, value_name = "AGE", value_parser = parse_age, requires = "git")]
    pub max_key_age: Option<u64>,
    /// With --git over SSH: the deploy key (OpenSSH private key file, no passphrase).
    #[arg(long, value_name = "FILE", requires = "git")]
    pub ssh_key: Option<PathBuf>,
    /// With --git over SSH: the pinned host keys (known_hosts format); an unknown host key is
    /// refused, never added.
    #[arg(long, value_name = "FILE", requires = "git")]
    pub known_hosts: Option<PathBuf>,
    /// With --git over HTTPS: a file whose first line is the access token.
    #[arg(long, value_name = "FILE", requires = "git")]
    pub token_file: Option<PathBuf>,
}

fn parse_age(s: &str) -> std::result::Result<u64, String> {
    shroud::audit::policy::parse_max_age(s)
        .ok_or_else(|| format!("{s:?} is not a key age (use e.g. 90d, 12w or 1y)"))
}

#[cfg(not(feature = "job"))]
pub fn run(_a: JobArgs, _jobs: Option<usize>, _g: &Global) -> Result<common::Outcome> {
    Err(shroud::error::Error::Usage(
        "this shroud was built without the rotation job (cargo feature `job`); use the shroud-controller image, which has it".into(),
    ))
}

#[cfg(feature = "job")]
pub fn run(a: JobArgs, jobs: Option<usize>, g: &Global) -> Result<common::Outcome> {
    use shroud::job::{self, Outcome};
    let keyring = std::sync::Arc::new(common::keyring(g)?);
    let author = match (
        std::env::var("GIT_AUTHOR_NAME"),
        std::env::var("GIT_AUTHOR_EMAIL"),
    ) {
        (Ok(n), Ok(e)) if !n.is_empty() && !e.is_empty() => Some((n, e)),
        _ => None,
    };
    let opts = job::Options {
        url: a.git.unwrap_or_default(),
        branch: a.branch,
        push_branch: a.push_branch,
        max_key_age_days: a.max_key_age,
        ssh_key: a.ssh_key,
        known_hosts: a.known_hosts,
        token_file: a.token_file,
        parallel: jobs.unwrap_or_else(|| {
            4 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
        author,
        emit: shroud::store::EmitOptions { indent: g.indent },
    };
    let report = common::block_on_parallel(job::run(&opts, keyring))?;
    let s = shroud::text::sanitize;
    for d in &report.due {
        match &d.error {
            None => super::messages::note(&format!("rotated {}: {}", s(&d.path), d.why)),
            Some(e) => super::messages::file_error(e),
        }
    }
    for p in &report.skipped {
        super::messages::note(&format!("skipped {}: damaged (see `shroud audit`)", s(p)));
    }
    let rotated = report.due.iter().filter(|d| d.error.is_none()).count();
    let failed = report.due.len() - rotated;
    match &report.outcome {
        Outcome::NothingDue => println!(
            "rotate: nothing is due in {} ({} sops files on {}); nothing was pushed",
            s(&report.remote),
            report.sops_files,
            s(&report.base)
        ),
        Outcome::AlreadyPushed { commit } => println!(
            "rotate: {} is already on {} (commit {}); nothing was pushed (it is pushed once a day: merge or delete it)",
            s(&report.branch),
            s(&report.remote),
            &commit[..commit.len().min(12)]
        ),
        Outcome::NothingRotated => println!(
            "rotate: {failed} files were due and none could be rotated; nothing was pushed"
        ),
        Outcome::Pushed { commit } => {
            println!(
                "rotate: pushed {} (commit {}) to {}: {rotated} files with new data keys{}",
                s(&report.branch),
                &commit[..commit.len().min(12)],
                s(&report.remote),
                if failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                }
            );
            match &report.review {
                Some(link) => println!("rotate: open the pull request: {}", s(link)),
                None => println!(
                    "rotate: open a pull request from {} into {}",
                    s(&report.branch),
                    s(&report.base)
                ),
            }
        }
    }
    Ok(match report.exit_code() {
        shroud::error::ExitCode::Success => common::Outcome::Done,
        c => common::Outcome::Code(c),
    })
}
