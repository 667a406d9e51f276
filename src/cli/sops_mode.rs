//! The sops command line: when the binary is invoked as `sops` (a symlink), it accepts sops
//! 3.11's command line (verbs, flags in Go's `flag` syntax, the legacy `-d`/`-e`/`-r`/`--set`
//! forms, a bare file for edit) and exits with sops's codes, so helm-secrets, editor plugins
//! and CI scripts that call `sops` work unchanged. shroud's own command line uses the same
//! translation for the legacy forms.
//!
//! Owns: translating a sops argument list into shroud's, and mapping a failure to the exit
//! code sops returns for it. Must not know: how verbs work (they run as shroud's verbs).

use std::ffi::OsString;

use shroud::config::ConfigError;
use shroud::error::Error;

/// The sops version this mode answers for.
pub const SOPS_VERSION: &str = "3.11.0";

/// How a sops flag is handled.
#[derive(Clone, Copy)]
enum Action {
    /// Passed to shroud under this long name (with its value when it takes one).
    Pass(&'static str),
    /// A legacy-mode command selector (`-d`, `-e`, `-r`, `-s`).
    Select(Verb),
    /// Accepted and ignored (it changes nothing shroud does).
    Ignore,
    /// Accepted in legacy mode only; sops's subcommands ignore it (`--indent`,
    /// `--mac-only-encrypted`).
    LegacyOnly(&'static str),
    /// Refused with a clear message: a key service shroud does not offer.
    Unsupported(&'static str),
}

struct Flag {
    names: &'static [&'static str],
    value: bool,
    action: Action,
}

const fn flag(names: &'static [&'static str], value: bool, action: Action) -> Flag {
    Flag {
        names,
        value,
        action,
    }
}

const NOT_A_KEY_SERVICE: &str = "shroud uses age, PGP and AWS KMS keys only";

/// Every flag of sops 3.11 (global and per verb; Go's `flag` takes `-x` and `--x` alike).
const FLAGS: &[Flag] = &[
    flag(&["decrypt", "d"], false, Action::Select(Verb::Decrypt)),
    flag(&["encrypt", "e"], false, Action::Select(Verb::Encrypt)),
    flag(&["rotate", "r"], false, Action::Select(Verb::Rotate)),
    flag(
        &["show-master-keys", "s"],
        false,
        Action::Select(Verb::Edit),
    ),
    flag(&["set"], true, Action::Pass("set")),
    flag(&["in-place", "i"], false, Action::Pass("in-place")),
    // `groups add` / `groups delete`.
    flag(&["file", "f"], true, Action::Pass("file")),
    flag(&["extract"], true, Action::Pass("extract")),
    flag(&["output"], true, Action::Pass("output")),
    flag(&["input-type"], true, Action::Pass("input-type")),
    flag(&["output-type"], true, Action::Pass("output-type")),
    flag(
        &["filename-override"],
        true,
        Action::Pass("filename-override"),
    ),
    flag(&["ignore-mac"], false, Action::Pass("ignore-mac")),
    flag(&["kms", "k"], true, Action::Pass("kms")),
    flag(&["aws-profile"], true, Action::Pass("aws-profile")),
    flag(&["pgp", "p"], true, Action::Pass("pgp")),
    flag(&["age", "a"], true, Action::Pass("age")),
    flag(
        &["encryption-context"],
        true,
        Action::Pass("encryption-context"),
    ),
    flag(
        &["shamir-secret-sharing-threshold"],
        true,
        Action::Pass("shamir-secret-sharing-threshold"),
    ),
    flag(
        &["unencrypted-suffix"],
        true,
        Action::Pass("unencrypted-suffix"),
    ),
    flag(
        &["encrypted-suffix"],
        true,
        Action::Pass("encrypted-suffix"),
    ),
    flag(
        &["unencrypted-regex"],
        true,
        Action::Pass("unencrypted-regex"),
    ),
    flag(&["encrypted-regex"], true, Action::Pass("encrypted-regex")),
    flag(
        &["unencrypted-comment-regex"],
        true,
        Action::Pass("unencrypted-comment-regex"),
    ),
    flag(
        &["encrypted-comment-regex"],
        true,
        Action::Pass("encrypted-comment-regex"),
    ),
    flag(
        &["mac-only-encrypted"],
        false,
        Action::LegacyOnly("mac-only-encrypted"),
    ),
    flag(&["indent"], true, Action::LegacyOnly("indent")),
    flag(&["config"], true, Action::Pass("config")),
    flag(
        &["decryption-order"],
        true,
        Action::Pass("decryption-order"),
    ),
    flag(&["add-age"], true, Action::Pass("add-age")),
    flag(&["rm-age"], true, Action::Pass("rm-age")),
    flag(&["add-kms"], true, Action::Pass("add-kms")),
    flag(&["rm-kms"], true, Action::Pass("rm-kms")),
    flag(&["add-pgp"], true, Action::Pass("add-pgp")),
    flag(&["rm-pgp"], true, Action::Pass("rm-pgp")),
    flag(&["value-file"], false, Action::Pass("value-file")),
    flag(&["value-stdin"], false, Action::Pass("value-stdin")),
    flag(&["idempotent"], false, Action::Pass("idempotent")),
    flag(&["yes", "y"], false, Action::Pass("yes")),
    flag(&["pristine"], false, Action::Pass("pristine")),
    flag(&["no-fifo"], false, Action::Pass("no-fifo")),
    flag(&["filename"], true, Action::Pass("filename")),
    flag(&["same-process"], false, Action::Ignore),
    flag(&["background"], false, Action::Ignore),
    flag(&["verbose"], false, Action::Pass("verbose")),
    flag(&["disable-version-check"], false, Action::Ignore),
    flag(&["check-for-updates"], false, Action::Ignore),
    flag(&["enable-local-keyservice"], false, Action::Ignore),
    flag(
        &["keyservice"],
        true,
        Action::Unsupported("remote key services are not supported by shroud"),
    ),
    flag(&["gcp-kms"], true, Action::Unsupported(NOT_A_KEY_SERVICE)),
    flag(&["hckms"], true, Action::Unsupported(NOT_A_KEY_SERVICE)),
    flag(&["azure-kv"], true, Action::Unsupported(NOT_A_KEY_SERVICE)),
    flag(
        &["hc-vault-transit"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["add-gcp-kms"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["rm-gcp-kms"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(&["add-hckms"], true, Action::Unsupported(NOT_A_KEY_SERVICE)),
    flag(&["rm-hckms"], true, Action::Unsupported(NOT_A_KEY_SERVICE)),
    flag(
        &["add-azure-kv"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["rm-azure-kv"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["add-hc-vault-transit"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["rm-hc-vault-transit"],
        true,
        Action::Unsupported(NOT_A_KEY_SERVICE),
    ),
    flag(
        &["user"],
        true,
        Action::Unsupported("exec --user is not supported by shroud"),
    ),
];

/// The sops verb a command line runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Encrypt,
    Decrypt,
    Edit,
    Rotate,
    Set,
    Unset,
    Updatekeys,
    Filestatus,
    ExecEnv,
    ExecFile,
    Groups,
    Completion,
    Version,
    Help,
}

impl Verb {
    fn from_word(w: &str) -> Option<Verb> {
        Some(match w {
            "encrypt" => Verb::Encrypt,
            "decrypt" => Verb::Decrypt,
            "edit" => Verb::Edit,
            "rotate" => Verb::Rotate,
            "set" => Verb::Set,
            "unset" => Verb::Unset,
            "updatekeys" => Verb::Updatekeys,
            "filestatus" => Verb::Filestatus,
            "exec-env" => Verb::ExecEnv,
            "exec-file" => Verb::ExecFile,
            "groups" => Verb::Groups,
            "completion" => Verb::Completion,
            "help" | "h" => Verb::Help,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Verb::Encrypt => "encrypt",
            Verb::Decrypt => "decrypt",
            Verb::Edit => "edit",
            Verb::Rotate => "rotate",
            Verb::Set => "set",
            Verb::Unset => "unset",
            Verb::Updatekeys => "updatekeys",
            Verb::Filestatus => "filestatus",
            Verb::ExecEnv => "exec-env",
            Verb::ExecFile => "exec-file",
            Verb::Groups => "groups",
            Verb::Completion => "completion",
            Verb::Version => "version",
            Verb::Help => "help",
        }
    }
}

/// A sops command line translated into shroud's.
#[derive(Debug)]
pub struct Translated {
    pub args: Vec<OsString>,
    pub verb: Verb,
    /// Warnings sops itself prints for the same command line.
    pub warnings: Vec<String>,
}

/// Why a sops command line could not be translated, with sops's exit code.
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub code: u8,
}

fn refuse(message: impl Into<String>, code: u8) -> Refused {
    Refused {
        message: message.into(),
        code,
    }
}

/// One parsed flag: its action and its value.
type Parsed = (Action, Option<OsString>);

/// Parses Go-`flag`-style options from `args[i..]` until the first argument that is not a
/// flag (or after `--`). Returns the flags and the index of the first positional argument.
fn parse_flags(args: &[OsString], mut i: usize) -> Result<(Vec<Parsed>, usize), Refused> {
    let mut out = Vec::new();
    while i < args.len() {
        let a = args[i].to_string_lossy().into_owned();
        if a == "--" {
            return Ok((out, i + 1));
        }
        if a == "-" || !a.starts_with('-') {
            break;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(OsString::from(v))),
            None => (body, None),
        };
        if matches!(name, "help" | "h") {
            out.push((Action::Select(Verb::Help), None));
            i += 1;
            continue;
        }
        if matches!(name, "version" | "v") {
            out.push((Action::Select(Verb::Version), None));
            i += 1;
            continue;
        }
        let Some(f) = FLAGS.iter().find(|f| f.names.contains(&name)) else {
            return Err(refuse(
                format!("Incorrect Usage: flag provided but not defined: -{name}"),
                1,
            ));
        };
        let value = if f.value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(args.get(i).cloned().ok_or_else(|| {
                        refuse(
                            format!("Incorrect Usage: flag needs an argument: -{name}"),
                            1,
                        )
                    })?)
                }
            }
        } else {
            // A boolean flag may be written `-flag=false`.
            if inline.as_deref().is_some_and(|v| v == "false") {
                i += 1;
                continue;
            }
            None
        };
        out.push((f.action, value));
        i += 1;
    }
    Ok((out, i))
}

fn long(name: &str) -> OsString {
    OsString::from(format!("--{name}"))
}

/// Appends shroud flags for parsed sops flags; `legacy` says whether legacy-only flags apply.
fn push_flags(
    out: &mut Vec<OsString>,
    flags: &[Parsed],
    legacy: bool,
    skip: &[&str],
) -> Result<(), Refused> {
    for (action, value) in flags {
        let name = match action {
            Action::Pass(n) => *n,
            Action::LegacyOnly(n) if legacy => n,
            Action::LegacyOnly(_) | Action::Ignore | Action::Select(_) => continue,
            Action::Unsupported(why) => return Err(refuse(why.to_string(), 1)),
        };
        if skip.contains(&name) {
            continue;
        }
        out.push(long(name));
        if let Some(v) = value {
            out.push(v.clone());
        }
    }
    Ok(())
}

/// Translates a sops 3.11 command line (`args[0]` is the program name).
pub fn translate(args: &[OsString]) -> Result<Translated, Refused> {
    let mut warnings = Vec::new();
    let (globals, first) = parse_flags(args, 1)?;
    let selected: Vec<Verb> = globals
        .iter()
        .filter_map(|(a, _)| match a {
            Action::Select(v) => Some(*v),
            _ => None,
        })
        .collect();
    if selected.contains(&Verb::Version) {
        return Ok(Translated {
            args: vec!["shroud".into(), "--version".into()],
            verb: Verb::Version,
            warnings,
        });
    }
    if selected.contains(&Verb::Help) {
        return Ok(Translated {
            args: vec!["shroud".into(), "--help".into()],
            verb: Verb::Help,
            warnings,
        });
    }
    let word = args.get(first).map(|a| a.to_string_lossy().into_owned());
    match word.as_deref() {
        Some("publish") => {
            return Err(refuse(
                "shroud does not publish files: the destination_rules of .sops.yaml (S3, GCS, Vault) are not used; run the real sops publish for that",
                1,
            ));
        }
        Some("keyservice") => {
            return Err(refuse(
                "shroud does not run a key service; keys are used locally (age identities, gpg-agent, AWS credentials)",
                1,
            ));
        }
        _ => {}
    }
    let verb_word = word.as_deref().and_then(Verb::from_word);
    let mut out: Vec<OsString> = vec!["shroud".into()];
    let global_has = |n: &str| {
        globals
            .iter()
            .any(|(a, _)| matches!(a, Action::Pass(x) if *x == n))
    };
    if let Some(verb) = verb_word {
        // sops VERB [verb flags] [args]: global flags before the verb apply too.
        let (local, pos) = parse_flags(args, first + 1)?;
        let positionals = &args[pos..];
        match verb {
            Verb::Help => {
                out.push("--help".into());
            }
            Verb::Completion => {
                out.push("completion".into());
                out.extend(positionals.iter().cloned());
            }
            Verb::Groups => {
                // `sops groups add|delete [flags] [index]`: Go flag syntax after the word.
                let sub = args
                    .get(first + 1)
                    .map(|a| a.to_string_lossy().into_owned());
                out.push("groups".into());
                match sub.as_deref() {
                    Some(w @ ("add" | "delete")) => {
                        let (flags, pos) = parse_flags(args, first + 2)?;
                        out.push(if w == "add" { "add" } else { "rm" }.into());
                        push_flags(&mut out, &globals, false, &[])?;
                        push_flags(&mut out, &flags, false, &[])?;
                        if pos < args.len() {
                            out.push("--".into());
                            out.extend(args[pos..].iter().cloned());
                        }
                    }
                    _ => out.extend(args[first + 1..].iter().cloned()),
                }
            }
            _ => {
                let has = |n: &str| {
                    local
                        .iter()
                        .chain(&globals)
                        .any(|(a, _)| matches!(a, Action::Pass(x) if *x == n))
                };
                if verb == Verb::Encrypt && positionals.is_empty() && !has("filename-override") {
                    return Err(refuse(
                        "Error: must specify --filename-override when reading from stdin",
                        8,
                    ));
                }
                out.push(verb.word().into());
                push_flags(&mut out, &globals, false, &[])?;
                push_flags(&mut out, &local, false, &[])?;
                if !positionals.is_empty() {
                    out.push("--".into());
                    out.extend(positionals.iter().cloned());
                }
            }
        }
        return Ok(Translated {
            args: out,
            verb,
            warnings,
        });
    }
    // Legacy mode: sops [flags] FILE.
    let Some(file) = args.get(first) else {
        return Err(refuse("Error: no file specified", 100));
    };
    if args.len() > first + 1 {
        warnings.push(
            "More than one positional argument provided. Only the first one will be used!".into(),
        );
    }
    if selected.len() + usize::from(global_has("set")) > 1 {
        warnings.push("More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually.".into());
    }
    let verb = if global_has("set") {
        Verb::Set
    } else {
        selected.last().copied().unwrap_or(Verb::Edit)
    };
    out.push(verb.word().into());
    match verb {
        Verb::Set => {
            // --set 'INDEX VALUE' changes the file in place.
            let spec = globals
                .iter()
                .rev()
                .find_map(|(a, v)| matches!(a, Action::Pass("set")).then(|| v.clone()))
                .flatten()
                .unwrap_or_default();
            let spec = spec.to_string_lossy().into_owned();
            let Some((index, value)) = spec.split_once(' ') else {
                return Err(refuse("Invalid --set format", 7));
            };
            push_flags(
                &mut out,
                &globals,
                true,
                &["set", "in-place", "extract", "output", "output-type"],
            )?;
            out.push("--".into());
            out.push(file.clone());
            out.push(index.into());
            out.push(value.trim_start().into());
        }
        Verb::Edit => {
            push_flags(
                &mut out,
                &globals,
                true,
                &[
                    "in-place",
                    "extract",
                    "output",
                    "output-type",
                    "filename-override",
                ],
            )?;
            out.push("--".into());
            out.push(file.clone());
        }
        _ => {
            let skip: &[&str] = if verb == Verb::Decrypt {
                &[]
            } else {
                &["extract"]
            };
            push_flags(&mut out, &globals, true, skip)?;
            out.push("--".into());
            out.push(file.clone());
        }
    }
    Ok(Translated {
        args: out,
        verb,
        warnings,
    })
}

/// Whether a shroud command line uses one of sops's legacy forms (`shroud -d f`, `shroud f`).
pub fn is_legacy(args: &[OsString]) -> bool {
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        return false;
    };
    if first.starts_with('-') {
        let body = first.trim_start_matches('-');
        let name = body.split_once('=').map_or(body, |(n, _)| n);
        return FLAGS.iter().any(|f| {
            f.names.contains(&name) && matches!(f.action, Action::Select(_))
                || f.names.contains(&name) && name == "set"
        });
    }
    // A bare file: not a verb, and it looks like a path.
    !super::VERBS.contains(&first.as_str())
        && (std::path::Path::new(&first).extension().is_some() || first.contains('/'))
}

/// The exit code sops 3.11 returns for a failure of `verb`.
pub fn exit_code(e: &Error, verb: Verb) -> u8 {
    use shroud::crypto::TreeError;
    match e {
        Error::NoFile { .. } if matches!(verb, Verb::Set | Verb::Unset) => 2,
        Error::NoFile { .. } => 100,
        Error::Read { .. } => 2,
        Error::Write { .. } => 3,
        Error::Store { .. } if verb == Verb::Encrypt => 2,
        Error::Store { .. } => 1,
        Error::NotEncrypted { .. } | Error::Damaged { .. } | Error::Metadata { .. } => 1,
        Error::AlreadyEncrypted { .. } => 203,
        Error::MacMismatch { .. } | Error::MacMissing { .. } | Error::MacUnreadable { .. } => 51,
        Error::Tree {
            source: TreeError::IntOutOfRange { .. },
            ..
        } => 23,
        Error::Tree { source, .. } if source.is_integrity() => 25,
        Error::Tree { .. } => 1,
        // sops's groups subcommands log the data-key failure as fatal (exit 1).
        Error::Key { .. } if verb == Verb::Groups => 1,
        Error::Key { .. } => 128,
        Error::TreePath { message, .. } if message.starts_with("invalid") => {
            if verb == Verb::Decrypt { 91 } else { 7 }
        }
        Error::TreePath { .. } => 1,
        Error::NotModified { .. } => 200,
        Error::NoEditor(_) | Error::EditorFailed { .. } => 201,
        Error::Usage(m) if m.contains("not valid JSON") => 7,
        Error::Config(ConfigError::NoMatchingRule { .. }) => 1,
        _ => 1,
    }
}

/// sops finds `.sops.yaml` from the *current directory* upward (shroud starts at the file's
/// directory): the drop-in mode passes that config explicitly, unless one was given.
fn with_sops_config(mut t: Translated) -> Translated {
    let given = t.args.iter().any(|a| a == "--config") || std::env::var_os("SOPS_CONFIG").is_some();
    if given || matches!(t.verb, Verb::Version | Verb::Help | Verb::Completion) {
        return t;
    }
    if let Some(cfg) = std::env::current_dir()
        .ok()
        .and_then(|d| shroud::config::find(&d))
    {
        // After the verb (`groups add|rm`: after the subcommand), where verbs take it.
        let at = if t.verb == Verb::Groups { 3 } else { 2 }.min(t.args.len());
        t.args.insert(at, "--config".into());
        t.args.insert(at + 1, cfg.into_os_string());
    }
    t
}

/// The drop-in entry point: run a sops command line and exit as sops would.
pub fn run(args: Vec<OsString>) -> std::process::ExitCode {
    use clap::Parser;
    use std::io::Write;
    let t = match translate(&args).map(with_sops_config) {
        Ok(t) => t,
        Err(r) => {
            let _ = writeln!(std::io::stderr(), "{}", r.message);
            return std::process::ExitCode::from(r.code);
        }
    };
    for w in &t.warnings {
        let _ = writeln!(std::io::stderr(), "[WARNING] {w}");
    }
    if t.verb == Verb::Version {
        let _ = writeln!(
            std::io::stdout(),
            "sops {SOPS_VERSION} (shroud {} drop-in)",
            shroud::VERSION
        );
        return std::process::ExitCode::SUCCESS;
    }
    let cli = match super::Cli::try_parse_from(&t.args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match super::run(cli) {
        Ok(super::common::Outcome::Done) => std::process::ExitCode::SUCCESS,
        Ok(super::common::Outcome::Code(c)) => std::process::ExitCode::from(c.code()),
        Ok(super::common::Outcome::Exit(c)) => std::process::ExitCode::from(c),
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            let mut line = shroud::text::sanitize(&e.to_string().replace('\n', " "));
            if let Error::Config(ConfigError::NoMatchingRule { .. }) = &e {
                // Editor integrations look for sops's wording.
                line.push_str(" (error loading config: no matching creation rules found)");
            }
            let _ = writeln!(std::io::stderr(), "{line}");
            std::process::ExitCode::from(exit_code(&e, t.verb))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(args: &[&str]) -> Vec<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        translate(&args)
            .unwrap()
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn groups_subcommands_take_go_flags() {
        assert_eq!(
            t(&[
                "sops",
                "groups",
                "add",
                "-file=f.yaml",
                "-age",
                "age1x",
                "--age",
                "age1y",
                "-i"
            ]),
            [
                "shroud",
                "groups",
                "add",
                "--file",
                "f.yaml",
                "--age",
                "age1x",
                "--age",
                "age1y",
                "--in-place"
            ]
        );
        assert_eq!(
            t(&["sops", "groups", "delete", "--file", "f.yaml", "1"]),
            ["shroud", "groups", "rm", "--file", "f.yaml", "--", "1"]
        );
    }

    #[test]
    fn legacy_forms_become_verbs() {
        assert_eq!(
            t(&["sops", "-d", "f.yaml"]),
            ["shroud", "decrypt", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "--decrypt", "--in-place", "f.yaml"]),
            ["shroud", "decrypt", "--in-place", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "-e", "-i", "--age", "age1x", "f.yaml"]),
            [
                "shroud",
                "encrypt",
                "--in-place",
                "--age",
                "age1x",
                "--",
                "f.yaml"
            ]
        );
        assert_eq!(t(&["sops", "f.yaml"]), ["shroud", "edit", "--", "f.yaml"]);
        assert_eq!(
            t(&["sops", "-s", "f.yaml"]),
            ["shroud", "edit", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "-r", "-i", "--add-age", "age1x", "f.yaml"]),
            [
                "shroud",
                "rotate",
                "--in-place",
                "--add-age",
                "age1x",
                "--",
                "f.yaml"
            ]
        );
        assert_eq!(
            t(&["sops", "--set", r#"["a"] "v""#, "f.yaml"]),
            ["shroud", "set", "--", "f.yaml", r#"["a"]"#, r#""v""#]
        );
        // --extract without -d opens the editor, as in sops.
        assert_eq!(
            t(&["sops", "--extract", r#"["a"]"#, "f.yaml"]),
            ["shroud", "edit", "--", "f.yaml"]
        );
        // Legacy --indent applies; for subcommands sops ignores it.
        assert_eq!(
            t(&["sops", "--indent", "2", "-d", "f.yaml"]),
            ["shroud", "decrypt", "--indent", "2", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "--indent=2", "decrypt", "f.yaml"]),
            ["shroud", "decrypt", "--", "f.yaml"]
        );
    }

    #[test]
    fn subcommands_and_go_flag_syntax() {
        assert_eq!(
            t(&[
                "sops",
                "decrypt",
                "-extract",
                r#"["a"]"#,
                "-output-type=json",
                "f.yaml"
            ]),
            [
                "shroud",
                "decrypt",
                "--extract",
                r#"["a"]"#,
                "--output-type",
                "json",
                "--",
                "f.yaml"
            ]
        );
        assert_eq!(
            t(&[
                "sops",
                "set",
                "--value-file",
                "f.yaml",
                r#"["a"]"#,
                "v.json"
            ]),
            [
                "shroud",
                "set",
                "--value-file",
                "--",
                "f.yaml",
                r#"["a"]"#,
                "v.json"
            ]
        );
        assert_eq!(
            t(&["sops", "--disable-version-check", "filestatus", "f.yaml"]),
            ["shroud", "filestatus", "--", "f.yaml"]
        );
        let refused = translate(&["sops", "--gcp-kms", "x", "-e", "f"].map(OsString::from));
        assert!(refused.is_err());
        let none = translate(&["sops"].map(OsString::from)).unwrap_err();
        assert_eq!(none.code, 100);
        assert_eq!(
            translate(&["sops", "-v"].map(OsString::from)).unwrap().verb,
            Verb::Version
        );
    }
}
