//! The `shroud` command line: argument parsing, one module per verb, shared plumbing
//! (input/output, formats, key discovery, the async runtime, the bulk runs' plan/confirm/
//! summary in `bulk`), and the one reporting edge (`messages`).
//!
//! Owns: turning flags, environment variables and `.sops.yaml` into calls of the library, and
//! where bytes come from and go to. Must not know: format or crypto internals.

pub mod audit;
pub mod bulk;
pub mod common;
pub mod completion;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod externalsecret;
pub mod filestatus;
pub mod git;
pub mod groups;
pub mod hook;
pub mod keygen;
pub mod keys;
pub mod man;
pub mod messages;
#[cfg(feature = "cluster")]
pub mod recipients;
pub mod revoke;
pub mod rotate;
pub mod rotate_job;
pub mod scan;
pub mod set;
pub mod signals;
pub mod sops_mode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use shroud::error::Result;

/// A SOPS-compatible secrets toolchain: encrypt values of YAML, JSON, dotenv, INI and binary
/// files with age, PGP and AWS KMS keys, keeping keys, structure and comments reviewable.
#[derive(Parser, Debug)]
#[command(
    name = "shroud",
    version = version_line(),
    about,
    long_about = None,
    propagate_version = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// File options given before the verb (`shroud --config X decrypt f`, sops's placement).
    #[command(flatten)]
    pub file_opts: FileOptions,
    #[command(flatten)]
    pub always: Always,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of the verbs that read or write sops files. Accepted before the verb or after it;
/// verbs that do not use them (keygen, keys, scan, hook, completion, man) do not offer them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FileOptions {
    /// Path to a .sops.yaml (default: searched from the file's directory upward; env
    /// SOPS_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Indentation for YAML/JSON output, 1 to 32 (default: the source's, else sops's).
    #[arg(long, value_name = "N", value_parser = parse_indent)]
    pub indent: Option<usize>,
    /// Key types to try first when decrypting, e.g. `age,pgp,kms` (default: age, then PGP,
    /// then AWS KMS; env SOPS_DECRYPTION_ORDER).
    #[arg(long, value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

/// Options every verb accepts.
#[derive(clap::Args, Debug, Clone)]
pub struct Always {
    /// Log what happens (never values) to stderr.
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Print the version (`-v` as in sops).
    #[arg(short = 'v', short_alias = 'V', long, action = clap::ArgAction::Version, global = true)]
    pub version: Option<bool>,
}

/// The options a verb runs with: its own [`FileOptions`], else those before the verb, else
/// the environment (so an explicit flag always beats `SOPS_CONFIG`/`SOPS_DECRYPTION_ORDER`).
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub config: Option<PathBuf>,
    pub indent: Option<usize>,
    pub decryption_order: Option<String>,
    pub verbose: bool,
}

impl Global {
    fn merge(top: &FileOptions, verb: &FileOptions, verbose: bool) -> Global {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Global {
            config: verb
                .config
                .clone()
                .or_else(|| top.config.clone())
                .or_else(|| env("SOPS_CONFIG").map(PathBuf::from)),
            indent: verb.indent.or(top.indent),
            decryption_order: verb
                .decryption_order
                .clone()
                .or_else(|| top.decryption_order.clone())
                .or_else(|| env("SOPS_DECRYPTION_ORDER").map(|v| v.to_string_lossy().into_owned())),
            verbose,
        }
    }

    /// A nested verb's own options over these (`groups add --config X`).
    pub fn with(&self, verb: &FileOptions) -> Global {
        Global {
            config: verb.config.clone().or_else(|| self.config.clone()),
            indent: verb.indent.or(self.indent),
            decryption_order: verb
                .decryption_order
                .clone()
                .or_else(|| self.decryption_order.clone()),
            verbose: self.verbose,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encrypt a plaintext file.
    #[command(
        after_help = "Examples:\n  shroud encrypt --age age1… secrets.yaml > secrets.enc.yaml\n  shroud encrypt -i secrets.yaml          # recipients from .sops.yaml\n  shroud encrypt -i -y --recursive k8s/   # every file a creation rule matches"
    )]
    Encrypt(Box<encrypt::Args>),
    /// Decrypt an encrypted file (verifying its MAC).
    #[command(
        after_help = "Examples:\n  shroud decrypt secrets.enc.yaml\n  shroud decrypt --extract '[\"db\"][\"password\"]' secrets.enc.yaml"
    )]
    Decrypt(decrypt::Args),
    /// Edit an encrypted file in $EDITOR; unchanged values keep their exact ciphertext.
    #[command(
        after_help = "Examples:\n  shroud edit secrets.enc.yaml            # in $SOPS_EDITOR, else $EDITOR (vim, nano or vi when unset)\n  shroud edit --age age1… new.enc.yaml    # a new file from a template"
    )]
    Edit(edit::Args),
    /// Set one value of an encrypted file (the value is JSON).
    Set(set::SetArgs),
    /// Remove one value of an encrypted file.
    #[command(
        after_help = "Examples:\n  shroud unset secrets.enc.yaml '[\"db\"][\"password\"]'\n  shroud unset --idempotent secrets.enc.yaml '[\"old\"]'"
    )]
    Unset(set::UnsetArgs),
    /// Print {"encrypted":true|false} for a file.
    #[command(
        after_help = "Examples:\n  shroud filestatus secrets.enc.yaml     # {\"encrypted\":true}"
    )]
    Filestatus(filestatus::Args),
    /// Run a command with the decrypted top-level keys as environment variables.
    #[command(
        after_help = "Examples:\n  shroud exec-env secrets.enc.env './deploy.sh \"$DATABASE_URL\"'   # a command line, run by sh\n  shroud exec-env --pristine prod.enc.env ./deploy.sh   # the file's variables only"
    )]
    ExecEnv(exec::EnvArgs),
    /// Run a command with the decrypted file at a private path ({} in the command).
    #[command(
        after_help = "Examples:\n  shroud exec-file secrets.enc.yaml './deploy.sh --values {}'\n  shroud exec-file --no-fifo --output-type json config.enc.yaml './deploy.sh --config {}'"
    )]
    ExecFile(exec::FileArgs),
    /// Re-wrap files' data keys for the recipients .sops.yaml asks for now (values untouched).
    #[command(
        after_help = "Examples:\n  shroud updatekeys -y secrets.enc.yaml\n  shroud updatekeys --dry-run --all      # every sops file under the repository"
    )]
    Updatekeys(rotate::UpdateKeysArgs),
    /// Give files a new data key and re-encrypt every value (--add-*/--rm-* change recipients).
    #[command(
        after_help = "Examples:\n  shroud rotate -i secrets.enc.yaml\n  shroud rotate -i -y --rm-age age1… --recursive k8s/   # revoke a key everywhere"
    )]
    Rotate(rotate::RotateArgs),
    /// Add or remove a key group (Shamir secret sharing across groups), keeping the data key.
    #[command(
        after_help = "Examples:\n  shroud groups add -i --file secrets.enc.yaml --age age1…\n  shroud groups rm -i --file secrets.enc.yaml --shamir-secret-sharing-threshold 1 1   # back to one group"
    )]
    Groups(groups::GroupsArgs),
    /// Generate ExternalSecret manifests (keys only) and optionally push values to AWS Secrets Manager.
    ExternalSecret(externalsecret::Args),
    /// Generate a new age identity (written 0600) and print its recipient.
    #[command(
        after_help = "Examples:\n  shroud keygen                          # into the sops key file\n  shroud keygen --pq                     # post-quantum (age1pq1…)\n  shroud keygen -o ci.key"
    )]
    Keygen(keygen::Args),
    /// Back up, restore and verify age identities and PGP secret keys.
    #[command(
        after_help = "Examples:\n  shroud keys backup --recipient age1… --shares 5 --threshold 3 --shares-dir /media/usb -o backup.json\n  shroud keys verify --share /media/usb/share-1.txt --share /media/usb/share-2.txt --share /media/usb/share-3.txt backup.json .\n  shroud keys restore --identity recovery.key backup.json   # adds to the sops key file"
    )]
    Keys(keys::KeysArgs),
    /// Scan files, staged changes or git history for plaintext secrets.
    #[command(
        after_help = "Examples:\n  shroud scan                            # the working tree\n  shroud scan --staged                   # what the next commit adds\n  shroud scan --all-history --format sarif -o scan.sarif"
    )]
    Scan(scan::ScanArgs),
    /// Merge and diff sops files value by value in git: `setup` once, then git runs the drivers.
    #[command(
        after_help = "Examples:\n  shroud git setup                       # this repository: .git/config and .gitattributes\n  shroud git setup --global --dry-run\n  shroud git setup --remove"
    )]
    Git(git::Args),
    /// Install or remove the git pre-commit hook that runs `shroud scan --staged`.
    #[command(after_help = "Examples:\n  shroud hook install\n  shroud hook uninstall")]
    Hook(hook::HookArgs),
    /// Audit a repository: inventory, who can open what, policy drift, key age, plaintext, integrity.
    #[command(
        after_help = "Examples:\n  shroud audit\n  shroud audit --format html -o audit.html --history\n  shroud audit --max-key-age 90d --fail-on drift,stale,plaintext,integrity"
    )]
    Audit(audit::Args),
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  mkdir -p ~/.local/share/bash-completion/completions\n  shroud completion bash > ~/.local/share/bash-completion/completions/shroud\n  mkdir -p ~/.zfunc && shroud completion zsh > ~/.zfunc/_shroud   # with fpath+=(~/.zfunc) in ~/.zshrc"
    )]
    Completion(completion::Args),
    /// Write man pages for every verb into a directory.
    #[command(after_help = "Examples:\n  shroud man ~/.local/share/man/man1 && man shroud-encrypt")]
    Man(man::Args),
}

/// `0.1.0 (commit …; features: …)`, for `--version`.
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(shroud::long_version)
}

fn parse_indent(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (1..=shroud::store::MAX_INDENT).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "must be between 1 and {}",
            shroud::store::MAX_INDENT
        ))
    }
}

/// Every verb word (a first argument that is none of these and looks like a path is a file
/// to edit, sops's legacy form).
pub const VERBS: &[&str] = &[
    "encrypt",
    "decrypt",
    "edit",
    "set",
    "unset",
    "filestatus",
    "exec-env",
    "exec-file",
    "keygen",
    "updatekeys",
    "rotate",
    "groups",
    "keys",
    "external-secret",
    "scan",
    "git",
    "hook",
    "audit",
    "completion",
    "man",
    "help",
];

/// Options that exist only in a build with the Kubernetes stack (`--features cluster`).
pub const CLUSTER_FLAGS: &[&str] = &["--fetch-recipients", "--from-secret", "--to-secret"];

/// On a CLI-only build, a cluster-only option is named as such (clap would otherwise suggest
/// passing it after `--`, as if it were a file name).
pub fn check_cluster_flags(args: &[std::ffi::OsString]) -> Result<()> {
    if cfg!(feature = "cluster") {
        return Ok(());
    }
    let used = args.iter().take_while(|a| *a != "--").find_map(|a| {
        let a = a.to_str()?;
        CLUSTER_FLAGS
            .iter()
            .find(|f| a == **f || a.strip_prefix(**f).is_some_and(|r| r.starts_with('=')))
    });
    match used {
        Some(flag) => Err(shroud::error::Error::Reported {
            message: format!(
                "{flag} needs cluster support, which this build of shroud does not have: install it with `cargo install --locked --features cluster ...` (the release archive's shroud has it when built with --features cluster)"
            ),
            code: shroud::error::ExitCode::Usage,
        }),
        None => Ok(()),
    }
}

/// Rewrites sops's legacy forms (`shroud -d f`, `shroud -e -i f`, `shroud -r f`,
/// `shroud --set '["k"] "v"' f`, `shroud f`) into verbs, as the sops drop-in mode does.
pub fn legacy_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if !sops_mode::is_legacy(&args) {
        return args;
    }
    match sops_mode::translate(&args) {
        Ok(t) => {
            for w in &t.warnings {
                messages::warn(w);
            }
            t.args
        }
        // Let the normal parser report the problem.
        Err(_) => args,
    }
}

/// `--verbose`: what happens (never values) is logged to stderr.
pub fn init_logging(verbose: bool) {
    if verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("shroud=debug"))
            .init();
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<common::Outcome> {
    use shroud::fsutil::HardLinks;
    // sops has no `--force`: the drop-in never offers it.
    shroud::fsutil::hard_links(match force_of(&cli.command) {
        Some(f) if f.force => HardLinks::Replace,
        Some(_) if !messages::as_sops() => HardLinks::RefuseUnlessForced,
        _ => HardLinks::Refuse,
    });
    let top = cli.file_opts;
    let verbose = cli.always.verbose;
    let g = |f: &FileOptions| Global::merge(&top, f, verbose);
    let none = Global::merge(&top, &FileOptions::default(), verbose);
    match cli.command {
        Command::Encrypt(a) => {
            let g = g(&a.file_opts);
            encrypt::run(*a, &g)
        }
        Command::Decrypt(a) => {
            let g = g(&a.file_opts);
            decrypt::run(a, &g)
        }
        Command::Edit(a) => {
            let g = g(&a.file_opts);
            edit::run(a, &g)
        }
        Command::Set(a) => {
            let g = g(&a.file_opts);
            set::run_set(a, &g)
        }
        Command::Unset(a) => {
            let g = g(&a.file_opts);
            set::run_unset(a, &g)
        }
        Command::Filestatus(a) => {
            let g = g(&a.file_opts);
            filestatus::run(a, &g)
        }
        Command::ExecEnv(a) => {
            let g = g(&a.file_opts);
            exec::run_env(a, &g)
        }
        Command::ExecFile(a) => {
            let g = g(&a.file_opts);
            exec::run_file(a, &g)
        }
        Command::Updatekeys(a) => {
            let g = g(&a.file_opts);
            rotate::run_updatekeys(a, &g)
        }
        Command::Rotate(a) => {
            let g = g(&a.file_opts);
            rotate::run_rotate(a, &g)
        }
        Command::Groups(a) => groups::run(a, &none),
        Command::ExternalSecret(a) => {
            let g = g(&a.file_opts);
            externalsecret::run(a, &g)
        }
        Command::Keygen(a) => keygen::run(a),
        Command::Keys(a) => keys::run(a, &none),
        Command::Scan(a) => scan::run(a),
        Command::Git(a) => git::run(a, &none),
        Command::Hook(a) => hook::run(a),
        Command::Audit(a) => {
            let g = g(&a.file_opts);
            audit::run(a, &g)
        }
        Command::Completion(a) => completion::run(a),
        Command::Man(a) => man::run(a),
    }
}

/// The `--force` of a verb that rewrites files in place (see [`common::ForceArg`]).
fn force_of(c: &Command) -> Option<common::ForceArg> {
    Some(match c {
        Command::Encrypt(a) => a.io.force,
        Command::Decrypt(a) => a.io.force,
        Command::Edit(a) => a.force,
        Command::Set(a) => a.force,
        Command::Unset(a) => a.force,
        Command::Updatekeys(a) => a.scope.force,
        Command::Rotate(a) => a.scope.force,
        Command::Groups(a) => match &a.command {
            groups::GroupsCommand::Add(x) => x.target.force,
            groups::GroupsCommand::Rm(x) => x.target.force,
        },
        // No `--force` for a file with other names: the refusal names what the verb has.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Splits an example line as a shell would for the parts examples use: words, single and
    /// double quotes; stops at a redirection, `&&` or a comment.
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    any = true;
                }
                (None, ' ') => {
                    if any || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                (None, c) => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            out.push(cur);
        }
        let stop = out
            .iter()
            .position(|w| matches!(w.as_str(), ">" | "&&" | "|") || w.starts_with('#'));
        out.truncate(stop.unwrap_or(out.len()));
        out
    }

    /// Every verb's --help carries examples, and every example parses as a command line.
    #[test]
    fn help_examples_parse() {
        let cmd = Cli::command();
        let mut checked = 0;
        for sub in cmd.get_subcommands() {
            let Some(help) = sub.get_after_help() else {
                panic!("`shroud {}` has no examples in --help", sub.get_name());
            };
            let help = help.to_string();
            for line in help
                .lines()
                .filter(|l| l.trim_start().starts_with("shroud "))
            {
                let line = line.trim();
                let argv = words(line);
                Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} examples");
    }
}
