//! `shroud groups add` / `shroud groups rm` (sops's `groups add` / `groups delete`): add or
//! remove one key group of an encrypted file, keeping its data key and values. The result goes
//! to stdout, or back to the file with `-i` (atomic, locked).

use std::path::PathBuf;

use shroud::error::{Error, Result};
use shroud::fsutil::Mode;
use shroud::keysource::KeySpec;
use shroud::rotate::{self, GroupChange};

use super::Global;
use super::common::{self, KeyFlags, Sink};

#[derive(clap::Args, Debug)]
pub struct GroupsArgs {
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum GroupsCommand {
    /// Append a key group (the keys given here) to FILE; with several groups, that many
    /// shares of the data key are needed to open it (see --shamir-secret-sharing-threshold).
    Add(AddArgs),
    /// Remove the key group at INDEX (counted from 0, as sops counts) from FILE.
    #[command(visible_alias = "delete")]
    Rm(RmArgs),
}

/// Where the file is and where the result goes.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The encrypted file (also accepted as the first positional argument).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Write the result back to the file, atomically.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Input format; default: by extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub force: common::ForceArg,
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub target: Target,
    /// age recipients of the new group (repeatable, or comma-separated).
    #[arg(long, short = 'a', value_name = "RECIPIENTS", action = clap::ArgAction::Append)]
    pub age: Vec<String>,
    /// PGP fingerprints of the new group (repeatable, or comma-separated).
    #[arg(long, short = 'p', value_name = "FINGERPRINTS", action = clap::ArgAction::Append)]
    pub pgp: Vec<String>,
    /// AWS KMS key ARNs of the new group (repeatable, or comma-separated; `arn+role_arn`).
    #[arg(long, short = 'k', value_name = "ARNS", action = clap::ArgAction::Append)]
    pub kms: Vec<String>,
    /// AWS profile for the KMS keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context, `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Number of key groups needed to decrypt afterwards (default: the file's, or every group).
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
    /// The encrypted file, when not given with --file.
    #[arg(value_name = "FILE")]
    pub path: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub target: Target,
    /// Number of key groups needed to decrypt afterwards.
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
    /// `[FILE] INDEX`: the file (unless given with --file) and the group's index.
    #[arg(value_name = "ARGS", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
}

pub fn run(a: GroupsArgs, g: &Global) -> Result<common::Outcome> {
    match a.command {
        GroupsCommand::Add(add) => {
            let g = &g.with(&add.file_opts);
            // No environment variables here (unlike encrypt): a recipient list exported for
            // encryption must not slip into a new key group unasked.
            let flags = KeyFlags {
                age: joined(&add.age),
                pgp: joined(&add.pgp),
                kms: joined(&add.kms),
                aws_profile: add.aws_profile.clone(),
                encryption_context: add.encryption_context.clone(),
                shamir_threshold: add.shamir_threshold,
            };
            let keys: Vec<KeySpec> = common::groups_from_flags(&flags)?
                .map(|mut gs| gs.remove(0))
                .unwrap_or_default();
            let file = pick_file(add.target.file.clone(), add.path)?;
            apply(
                &add.target,
                file,
                GroupChange::Add(keys),
                add.shamir_threshold,
                g,
            )
        }
        GroupsCommand::Rm(rm) => {
            let g = &g.with(&rm.file_opts);
            let mut args = rm.args.clone();
            let index = args.pop().unwrap_or_default();
            let index: usize = index.trim().parse().map_err(|_| {
                Error::Usage(format!(
                    "key group index {index:?} is not a number (groups are counted from 0)"
                ))
            })?;
            let file = pick_file(rm.target.file.clone(), args.pop().map(PathBuf::from))?;
            apply(
                &rm.target,
                file,
                GroupChange::Remove(index),
                rm.shamir_threshold,
                g,
            )
        }
    }
}

fn joined(values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| values.join(","))
}

fn pick_file(flag: Option<PathBuf>, positional: Option<PathBuf>) -> Result<PathBuf> {
    match (flag, positional) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "give the file once: either --file FILE or a FILE argument".into(),
        )),
        (Some(f), None) | (None, Some(f)) => Ok(f),
        (None, None) => Err(Error::Usage("no FILE given (use --file FILE)".into())),
    }
}

fn apply(
    t: &Target,
    path: PathBuf,
    change: GroupChange,
    threshold: Option<usize>,
    g: &Global,
) -> Result<common::Outcome> {
    let _lock = if t.in_place {
        Some(common::lock(&path)?)
    } else {
        None
    };
    let input = common::read_input(Some(&path))?;
    let format = match &t.input_type {
        Some(x) => common::parse_format(x)?,
        None => shroud::store::Format::from_path(&path),
    };
    let opts = rotate::Options {
        config: g.config.clone(),
        input_type: Some(format),
        shamir_threshold: threshold,
        emit: shroud::store::EmitOptions { indent: g.indent },
        ..Default::default()
    };
    let keyring = common::keyring(g)?;
    let (out, plan) = common::block_on(rotate::regroup_bytes(
        &input.label,
        format,
        input.bytes.expose(),
        &keyring,
        &change,
        &opts,
    ))?;
    let sink = match (&t.output, t.in_place) {
        (Some(p), _) => Sink::Output(p),
        (None, true) => Sink::File(&path),
        (None, false) => Sink::Stdout,
    };
    common::write_output(sink, &out, Mode::KeepOr(0o644))?;
    if g.verbose {
        super::messages::note(&format!("{}: {plan}", path.display()));
    }
    Ok(common::Outcome::Done)
}
