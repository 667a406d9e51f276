//! The sops command line: when the binary is invoked as `sops` (a symlink), it reads argv
//! exactly as sops 3.11 does (urfave/cli v1 over Go's `flag`: every flag of every verb and of
//! the legacy top-level form, `--help` anywhere printing sops's help and touching nothing) and
//! exits with sops's codes, so helm-secrets, editor plugins and CI scripts that call `sops`
//! work unchanged. shroud's own command line uses the same translation for the legacy forms
//! (`shroud -d f`, `shroud f`).
//!
//! Owns: the table of sops 3.11's flags, translating a sops argument list into shroud's, sops's
//! refusals that precede any work (conflicting flags, a file outside the creation rules), and
//! mapping a failure to the exit code sops returns for it. Must not know: how verbs work (they
//! run as shroud's verbs).

mod goflag;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::messages;
use goflag::{Def, Kind, Mode, Parsed, Val};
use shroud::config::ConfigError;
use shroud::error::Error;
use shroud::store::Format;

/// The sops version this mode answers for.
pub const SOPS_VERSION: &str = "3.11.0";

const fn def(
    names: &'static [&'static str],
    kind: Kind,
    env: Option<&'static str>,
    usage: &'static str,
) -> Def {
    Def {
        names,
        kind,
        env,
        usage,
    }
}

use Kind::{Bool, Int, Slice, Str};

const NOT_OFFERED: &str = "(not supported by shroud: it uses age, PGP and AWS KMS keys)";

// The flags, as sops 3.11 declares them (names, type, environment variable).
const HELP: Def = def(&["help", "h"], Bool, None, "show help");
const VERSION: Def = def(&["version", "v"], Bool, None, "print the version");
const DECRYPT: Def = def(
    &["decrypt", "d"],
    Bool,
    None,
    "decrypt a file and output the result to stdout",
);
const ENCRYPT: Def = def(
    &["encrypt", "e"],
    Bool,
    None,
    "encrypt a file and output the result to stdout",
);
const ROTATE: Def = def(
    &["rotate", "r"],
    Bool,
    None,
    "generate a new data key and re-encrypt every value with it",
);
const DISABLE_VERSION_CHECK: Def = def(
    &["disable-version-check"],
    Bool,
    Some("SOPS_DISABLE_VERSION_CHECK"),
    "accepted; shroud never checks for updates",
);
const CHECK_FOR_UPDATES: Def = def(
    &["check-for-updates"],
    Bool,
    None,
    "accepted; shroud never checks for updates",
);
const KMS: Def = def(
    &["kms", "k"],
    Str,
    Some("SOPS_KMS_ARN"),
    "comma-separated AWS KMS key ARNs",
);
const AWS_PROFILE: Def = def(
    &["aws-profile"],
    Str,
    None,
    "the AWS profile to use for AWS KMS",
);
const GCP_KMS: Def = def(&["gcp-kms"], Str, Some("SOPS_GCP_KMS_IDS"), NOT_OFFERED);
const HCKMS: Def = def(
    &["hckms"],
    Str,
    Some("SOPS_HUAWEICLOUD_KMS_IDS"),
    NOT_OFFERED,
);
const AZURE_KV: Def = def(
    &["azure-kv"],
    Str,
    Some("SOPS_AZURE_KEYVAULT_URLS"),
    NOT_OFFERED,
);
const VAULT: Def = def(
    &["hc-vault-transit"],
    Str,
    Some("SOPS_VAULT_URIS"),
    NOT_OFFERED,
);
const PGP: Def = def(
    &["pgp", "p"],
    Str,
    Some("SOPS_PGP_FP"),
    "comma-separated PGP fingerprints",
);
const AGE: Def = def(
    &["age", "a"],
    Str,
    Some("SOPS_AGE_RECIPIENTS"),
    "comma-separated age recipients",
);
const IN_PLACE: Def = def(
    &["in-place", "i"],
    Bool,
    None,
    "write the output back to the same file instead of stdout",
);
const EXTRACT: Def = def(
    &["extract"],
    Str,
    None,
    "extract one key or branch, e.g. --extract '[\"somekey\"][0]'",
);
const INPUT_TYPE: Def = def(
    &["input-type"],
    Str,
    None,
    "yaml, json, dotenv, ini or binary (default: by the file's extension)",
);
const OUTPUT_TYPE: Def = def(
    &["output-type"],
    Str,
    None,
    "yaml, json, dotenv, ini or binary (default: the input type)",
);
const SHOW_MASTER_KEYS: Def = def(
    &["show-master-keys", "s"],
    Bool,
    None,
    "show the sops metadata (master keys) in the editor",
);
const IGNORE_MAC: Def = def(
    &["ignore-mac"],
    Bool,
    None,
    "ignore the Message Authentication Code while decrypting",
);
const MAC_ONLY_ENCRYPTED: Def = def(
    &["mac-only-encrypted"],
    Bool,
    None,
    "compute the MAC over encrypted values only",
);
const UNENCRYPTED_SUFFIX: Def = def(
    &["unencrypted-suffix"],
    Str,
    None,
    "keys with this suffix stay plaintext",
);
const ENCRYPTED_SUFFIX: Def = def(
    &["encrypted-suffix"],
    Str,
    None,
    "only keys with this suffix are encrypted",
);
const UNENCRYPTED_REGEX: Def = def(
    &["unencrypted-regex"],
    Str,
    None,
    "keys matching this regex stay plaintext",
);
const ENCRYPTED_REGEX: Def = def(
    &["encrypted-regex"],
    Str,
    None,
    "only keys matching this regex are encrypted",
);
const UNENCRYPTED_COMMENT_REGEX: Def = def(
    &["unencrypted-comment-regex"],
    Str,
    None,
    "values after a comment matching this regex stay plaintext",
);
const ENCRYPTED_COMMENT_REGEX: Def = def(
    &["encrypted-comment-regex"],
    Str,
    None,
    "only values after a comment matching this regex are encrypted",
);
const CONFIG: Def = def(
    &["config"],
    Str,
    Some("SOPS_CONFIG"),
    "path to .sops.yaml (default: searched from the current directory upward)",
);
const ENCRYPTION_CONTEXT: Def = def(
    &["encryption-context"],
    Str,
    None,
    "comma-separated AWS KMS encryption context key:value pairs",
);
const SET: Def = def(
    &["set"],
    Str,
    None,
    "set one key or branch (edit mode only), e.g. --set '[\"somekey\"][0] {\"a\":true}'",
);
const SHAMIR: Def = def(
    &["shamir-secret-sharing-threshold"],
    Int,
    None,
    "the number of key groups needed to retrieve the data key (default: 0)",
);
const INDENT: Def = def(
    &["indent"],
    Int,
    None,
    "spaces to indent YAML or JSON output (default: 0)",
);
const VERBOSE: Def = def(&["verbose"], Bool, None, "log what happens (never values)");
const OUTPUT: Def = def(
    &["output"],
    Str,
    None,
    "write the output to this file instead of stdout",
);
const FILENAME_OVERRIDE: Def = def(
    &["filename-override"],
    Str,
    None,
    "use this file name for .sops.yaml rules and the file type (needed for stdin)",
);
const DECRYPTION_ORDER: Def = def(
    &["decryption-order"],
    Str,
    Some("SOPS_DECRYPTION_ORDER"),
    "comma-separated key types to try first",
);
const ENABLE_LOCAL_KEYSERVICE: Def = def(
    &["enable-local-keyservice"],
    Bool,
    Some("SOPS_ENABLE_LOCAL_KEYSERVICE"),
    "use the local key service (shroud always does)",
);
const KEYSERVICE: Def = def(
    &["keyservice"],
    Slice,
    Some("SOPS_KEYSERVICE"),
    "remote key services (not supported by shroud)",
);
const ADD_GCP_KMS: Def = def(&["add-gcp-kms"], Str, None, NOT_OFFERED);
const RM_GCP_KMS: Def = def(&["rm-gcp-kms"], Str, None, NOT_OFFERED);
const ADD_HCKMS: Def = def(&["add-hckms"], Str, None, NOT_OFFERED);
const RM_HCKMS: Def = def(&["rm-hckms"], Str, None, NOT_OFFERED);
const ADD_AZURE_KV: Def = def(&["add-azure-kv"], Str, None, NOT_OFFERED);
const RM_AZURE_KV: Def = def(&["rm-azure-kv"], Str, None, NOT_OFFERED);
const ADD_KMS: Def = def(&["add-kms"], Str, None, "add comma-separated AWS KMS ARNs");
const RM_KMS: Def = def(
    &["rm-kms"],
    Str,
    None,
    "remove comma-separated AWS KMS ARNs",
);
const ADD_VAULT: Def = def(&["add-hc-vault-transit"], Str, None, NOT_OFFERED);
const RM_VAULT: Def = def(&["rm-hc-vault-transit"], Str, None, NOT_OFFERED);
const ADD_AGE: Def = def(
    &["add-age"],
    Str,
    None,
    "add comma-separated age recipients",
);
const RM_AGE: Def = def(
    &["rm-age"],
    Str,
    None,
    "remove comma-separated age recipients",
);
const ADD_PGP: Def = def(
    &["add-pgp"],
    Str,
    None,
    "add comma-separated PGP fingerprints",
);
const RM_PGP: Def = def(
    &["rm-pgp"],
    Str,
    None,
    "remove comma-separated PGP fingerprints",
);
const YES: Def = def(
    &["yes", "y"],
    Bool,
    None,
    "pre-approve all changes and run non-interactively",
);
const BACKGROUND: Def = def(
    &["background"],
    Bool,
    None,
    "start the command and do not wait for it (DEPRECATED)",
);
const PRISTINE: Def = def(
    &["pristine"],
    Bool,
    None,
    "give the command only the decrypted values, no inherited environment",
);
const USER: Def = def(&["user"], Str, None, "the user to run the command as");
const SAME_PROCESS: Def = def(
    &["same-process"],
    Bool,
    None,
    "run the command in this process (exec) instead of a child",
);
const NO_FIFO: Def = def(
    &["no-fifo"],
    Bool,
    None,
    "use a regular file instead of a FIFO for the plaintext",
);
const FILENAME: Def = def(
    &["filename"],
    Str,
    None,
    "file name of the plaintext handed to the command (default: tmp-file)",
);
const VALUE_FILE: Def = def(
    &["value-file"],
    Bool,
    None,
    "VALUE is a file holding the JSON value",
);
const VALUE_STDIN: Def = def(
    &["value-stdin"],
    Bool,
    None,
    "read the JSON value from stdin (no VALUE argument)",
);
const IDEMPOTENT: Def = def(
    &["idempotent"],
    Bool,
    None,
    "do nothing when the change is already made",
);
const FILE: Def = def(&["file", "f"], Str, None, "the file to change");
const GROUP_PGP: Def = def(
    &["pgp"],
    Slice,
    None,
    "PGP fingerprints of the new group (repeatable)",
);
const GROUP_KMS: Def = def(
    &["kms"],
    Slice,
    None,
    "AWS KMS ARNs of the new group (repeatable)",
);
const GROUP_GCP_KMS: Def = def(&["gcp-kms"], Slice, None, NOT_OFFERED);
const GROUP_HCKMS: Def = def(&["hckms"], Slice, None, NOT_OFFERED);
const GROUP_AZURE_KV: Def = def(&["azure-kv"], Slice, None, NOT_OFFERED);
const GROUP_VAULT: Def = def(&["hc-vault-transit"], Slice, None, NOT_OFFERED);
const GROUP_AGE: Def = def(
    &["age"],
    Slice,
    None,
    "age recipients of the new group (repeatable)",
);
const OMIT_EXTENSIONS: Def = def(&["omit-extensions"], Bool, None, "publish only");
const RECURSIVE: Def = def(&["recursive"], Bool, None, "publish only");
const NETWORK: Def = def(&["network", "net"], Str, None, "key service only");
const ADDRESS: Def = def(&["address", "addr"], Str, None, "key service only");
const PROMPT: Def = def(&["prompt"], Bool, None, "key service only");

/// The top-level flags (`sops [flags] FILE` and before a command).
static APP_FLAGS: &[&Def] = &[
    &DECRYPT,
    &ENCRYPT,
    &ROTATE,
    &DISABLE_VERSION_CHECK,
    &CHECK_FOR_UPDATES,
    &KMS,
    &AWS_PROFILE,
    &GCP_KMS,
    &HCKMS,
    &AZURE_KV,
    &VAULT,
    &PGP,
    &AGE,
    &IN_PLACE,
    &EXTRACT,
    &INPUT_TYPE,
    &OUTPUT_TYPE,
    &SHOW_MASTER_KEYS,
    &ADD_GCP_KMS,
    &RM_GCP_KMS,
    &ADD_HCKMS,
    &RM_HCKMS,
    &ADD_AZURE_KV,
    &RM_AZURE_KV,
    &ADD_KMS,
    &RM_KMS,
    &ADD_VAULT,
    &RM_VAULT,
    &ADD_AGE,
    &RM_AGE,
    &ADD_PGP,
    &RM_PGP,
    &IGNORE_MAC,
    &MAC_ONLY_ENCRYPTED,
    &UNENCRYPTED_SUFFIX,
    &ENCRYPTED_SUFFIX,
    &UNENCRYPTED_REGEX,
    &ENCRYPTED_REGEX,
    &UNENCRYPTED_COMMENT_REGEX,
    &ENCRYPTED_COMMENT_REGEX,
    &CONFIG,
    &ENCRYPTION_CONTEXT,
    &SET,
    &SHAMIR,
    &INDENT,
    &VERBOSE,
    &OUTPUT,
    &FILENAME_OVERRIDE,
    &DECRYPTION_ORDER,
    &ENABLE_LOCAL_KEYSERVICE,
    &KEYSERVICE,
    &HELP,
    &VERSION,
];

/// A sops command: names, help lines, flags (help last, as urfave appends it), subcommands.
struct Cmd {
    names: &'static [&'static str],
    usage: &'static str,
    args_usage: &'static str,
    flags: &'static [&'static Def],
    subs: &'static [Cmd],
}

static COMMANDS: &[Cmd] = &[
    Cmd {
        names: &["completion"],
        usage: "Generate shell completion scripts",
        args_usage: "[bash|zsh|fish]",
        flags: &[&HELP],
        subs: &[],
    },
    Cmd {
        names: &["exec-env"],
        usage: "execute a command with decrypted values inserted into the environment",
        args_usage: "[file to decrypt] [command to run]",
        flags: &[
            &BACKGROUND,
            &PRISTINE,
            &USER,
            &SAME_PROCESS,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["exec-file"],
        usage: "execute a command with the decrypted contents as a temporary file",
        args_usage: "[file to decrypt] [command to run]",
        flags: &[
            &BACKGROUND,
            &NO_FIFO,
            &USER,
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &FILENAME,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["publish"],
        usage: "Publish sops file or directory to a configured destination (not supported by shroud)",
        args_usage: "file",
        flags: &[
            &YES,
            &OMIT_EXTENSIONS,
            &RECURSIVE,
            &VERBOSE,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["keyservice"],
        usage: "start a SOPS key service server (not supported by shroud)",
        args_usage: "",
        flags: &[&NETWORK, &ADDRESS, &PROMPT, &VERBOSE, &HELP],
        subs: &[],
    },
    Cmd {
        names: &["filestatus"],
        usage: "check the status of the file, returning encryption status",
        args_usage: "file",
        flags: &[&INPUT_TYPE, &HELP],
        subs: &[],
    },
    Cmd {
        names: &["groups"],
        usage: "modify the groups on a SOPS file",
        args_usage: "",
        flags: &[&HELP],
        subs: &[
            Cmd {
                names: &["add"],
                usage: "add a new group to a SOPS file",
                args_usage: "",
                flags: &[
                    &FILE,
                    &GROUP_PGP,
                    &GROUP_KMS,
                    &AWS_PROFILE,
                    &GROUP_GCP_KMS,
                    &GROUP_HCKMS,
                    &GROUP_AZURE_KV,
                    &GROUP_VAULT,
                    &GROUP_AGE,
                    &IN_PLACE,
                    &SHAMIR,
                    &ENCRYPTION_CONTEXT,
                    &ENABLE_LOCAL_KEYSERVICE,
                    &KEYSERVICE,
                    &HELP,
                ],
                subs: &[],
            },
            Cmd {
                names: &["delete"],
                usage: "delete a key group from a SOPS file",
                args_usage: "[index]",
                flags: &[
                    &FILE,
                    &IN_PLACE,
                    &SHAMIR,
                    &ENABLE_LOCAL_KEYSERVICE,
                    &KEYSERVICE,
                    &HELP,
                ],
                subs: &[],
            },
        ],
    },
    Cmd {
        names: &["updatekeys"],
        usage: "update the keys of SOPS files using the config file",
        args_usage: "file",
        flags: &[
            &YES,
            &INPUT_TYPE,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["decrypt"],
        usage: "decrypt a file, and output the results to stdout. If no filename is provided, stdin will be used.",
        args_usage: "[file]",
        flags: &[
            &IN_PLACE,
            &EXTRACT,
            &OUTPUT,
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &IGNORE_MAC,
            &FILENAME_OVERRIDE,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["encrypt"],
        usage: "encrypt a file, and output the results to stdout. If no filename is provided, stdin will be used.",
        args_usage: "[file]",
        flags: &[
            &IN_PLACE,
            &OUTPUT,
            &KMS,
            &AWS_PROFILE,
            &GCP_KMS,
            &HCKMS,
            &AZURE_KV,
            &VAULT,
            &PGP,
            &AGE,
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &UNENCRYPTED_SUFFIX,
            &ENCRYPTED_SUFFIX,
            &UNENCRYPTED_REGEX,
            &ENCRYPTED_REGEX,
            &ENCRYPTION_CONTEXT,
            &SHAMIR,
            &FILENAME_OVERRIDE,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["rotate"],
        usage: "generate a new data encryption key and reencrypt all values with the new key",
        args_usage: "file",
        flags: &[
            &IN_PLACE,
            &OUTPUT,
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &ENCRYPTION_CONTEXT,
            &ADD_GCP_KMS,
            &RM_GCP_KMS,
            &ADD_HCKMS,
            &RM_HCKMS,
            &ADD_AZURE_KV,
            &RM_AZURE_KV,
            &ADD_KMS,
            &RM_KMS,
            &ADD_VAULT,
            &RM_VAULT,
            &ADD_AGE,
            &RM_AGE,
            &ADD_PGP,
            &RM_PGP,
            &FILENAME_OVERRIDE,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["edit"],
        usage: "edit an encrypted file",
        args_usage: "file",
        flags: &[
            &KMS,
            &AWS_PROFILE,
            &GCP_KMS,
            &HCKMS,
            &AZURE_KV,
            &VAULT,
            &PGP,
            &AGE,
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &UNENCRYPTED_SUFFIX,
            &ENCRYPTED_SUFFIX,
            &UNENCRYPTED_REGEX,
            &ENCRYPTED_REGEX,
            &ENCRYPTION_CONTEXT,
            &SHAMIR,
            &SHOW_MASTER_KEYS,
            &IGNORE_MAC,
            &DECRYPTION_ORDER,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["set"],
        usage: "set a specific key or branch in the input document. value must be a JSON encoded string, for example '/path/to/file [\"somekey\"][0] {\"somevalue\":true}', or a path if --value-file is used, or omitted if --value-stdin is used",
        args_usage: "file index [value]",
        flags: &[
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &VALUE_FILE,
            &VALUE_STDIN,
            &SHAMIR,
            &IGNORE_MAC,
            &DECRYPTION_ORDER,
            &IDEMPOTENT,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["unset"],
        usage: "unset a specific key or branch in the input document.",
        args_usage: "file index",
        flags: &[
            &INPUT_TYPE,
            &OUTPUT_TYPE,
            &SHAMIR,
            &IGNORE_MAC,
            &DECRYPTION_ORDER,
            &IDEMPOTENT,
            &ENABLE_LOCAL_KEYSERVICE,
            &KEYSERVICE,
            &HELP,
        ],
        subs: &[],
    },
    Cmd {
        names: &["help", "h"],
        usage: "Shows a list of commands or help for one command",
        args_usage: "[command]",
        flags: &[],
        subs: &[],
    },
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
    /// shroud's argument list (for help and version: shroud's own `--help`/`--version`).
    pub args: Vec<OsString>,
    pub verb: Verb,
    /// Warnings sops itself prints for the same command line.
    pub warnings: Vec<String>,
    /// sops's help text for what `--help`/`help` asked about: printed, and nothing else runs.
    pub help: Option<String>,
    /// The file sops loads a creation rule for (sops refuses when `.sops.yaml` has rules and
    /// none matches, even with keys on the command line).
    pub needs_rule: Option<PathBuf>,
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

/// sops's exit code for conflicting parameters.
const CONFLICT: u8 = 8;
/// sops's exit code for a missing file argument.
const NO_FILE: u8 = 100;

/// The flag contexts a command reads from, innermost first (urfave's lineage: a flag's value
/// comes from the innermost context that defines it, set or not).
struct Scope<'a> {
    chain: Vec<&'a Parsed>,
}

impl Scope<'_> {
    fn owner(&self, name: &str) -> Option<&Parsed> {
        self.chain.iter().copied().find(|p| p.defines(name))
    }

    fn given(&self, name: &str) -> Option<&Val> {
        self.owner(name).and_then(|p| p.given(name))
    }

    /// Given on the command line or through the flag's environment variable.
    fn value(&self, name: &str) -> Option<&Val> {
        self.owner(name).and_then(|p| p.value(name))
    }

    fn on(&self, name: &str) -> bool {
        matches!(self.given(name), Some(Val::Bool(true)))
    }

    /// A string flag's value; sops treats an empty string as not given.
    fn text(&self, name: &str) -> Option<OsString> {
        match self.given(name) {
            Some(Val::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    fn positionals(&self) -> &[OsString] {
        &self.chain[0].args
    }
}

/// shroud's argument list under construction.
struct Out {
    args: Vec<OsString>,
}

impl Out {
    fn new(words: &[&str]) -> Out {
        Out {
            args: std::iter::once("shroud")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect(),
        }
    }

    fn push(&mut self, a: impl Into<OsString>) {
        self.args.push(a.into());
    }

    /// `--name value`, or `--name=value` for a value that starts with a dash (Go's flag takes
    /// any next argument as the value; clap would read it as a flag).
    fn value(&mut self, name: &str, v: &OsString) {
        if v.as_encoded_bytes().starts_with(b"-") {
            let mut a = OsString::from(format!("--{name}="));
            a.push(v);
            self.push(a);
        } else {
            self.push(format!("--{name}"));
            self.push(v.clone());
        }
    }

    /// Passes sops flag `sops` as shroud flag `--shroud` (bool: when true; string: when not
    /// empty; int: when not 0; slice: every value).
    fn pass(&mut self, s: &Scope, sops: &str, shroud: &str) {
        if sops == "decryption-order" {
            return self.decryption_order(s);
        }
        if sops == "rm-pgp" || sops == "rm-kms" {
            return self.removals(s, sops);
        }
        match s.given(sops) {
            Some(Val::Bool(true)) => self.push(format!("--{shroud}")),
            Some(Val::Str(v)) if !v.is_empty() => self.value(shroud, v),
            Some(Val::Int(n)) if *n != 0 => self.value(shroud, &n.to_string().into()),
            Some(Val::Slice(vs)) => {
                for v in vs.iter().filter(|v| !v.is_empty()) {
                    self.value(shroud, v);
                }
            }
            _ => {}
        }
    }

    /// `rotate --rm-pgp`/`--rm-kms`: sops 3.11 lets an empty entry of the list (`F1,,F2`, `F1,`)
    /// through (it names no key, so nothing is removed for it), where shroud's own mode refuses
    /// one as a mistake; only the entries that name something are passed. (sops refuses an empty
    /// entry of `--rm-age` and of every list of keys to add, as shroud's own mode does.)
    fn removals(&mut self, s: &Scope, name: &str) {
        let Some(v) = s.text(name) else {
            return;
        };
        let kept: Vec<String> = v
            .to_string_lossy()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if !kept.is_empty() {
            self.value(name, &kept.join(",").into());
        }
    }

    /// `--decryption-order` (or `SOPS_DECRYPTION_ORDER`): sops skips a key type it does not
    /// know (shroud's own mode refuses it), so only the known ones are passed, and sops's
    /// default order when none is left (which also overrides the variable for shroud).
    fn decryption_order(&mut self, s: &Scope) {
        let Some(Val::Str(v)) = s.value("decryption-order") else {
            return;
        };
        let known: Vec<&str> = v
            .to_string_lossy()
            .split(',')
            .map(str::trim)
            .filter_map(|w| shroud::metadata::KeyKind::from_field(w).map(|k| k.field()))
            .collect();
        let order = if known.is_empty() {
            shroud::metadata::kind::DEFAULT_ORDER
                .iter()
                .map(|k| k.field())
                .collect::<Vec<_>>()
                .join(",")
        } else {
            known.join(",")
        };
        self.value("decryption-order", &order.into());
    }

    /// Passes each flag under its own name.
    fn same(&mut self, s: &Scope, names: &[&str]) {
        for n in names {
            self.pass(s, n, n);
        }
    }

    /// The positional arguments; the first is a file, and sops reads `-` as a file named `-`
    /// (shroud would read stdin).
    fn files(&mut self, files: &[OsString]) {
        if let Some((first, rest)) = files.split_first() {
            self.push("--");
            self.push(literal_file(first));
            self.args.extend(rest.iter().cloned());
        }
    }

    fn done(self, verb: Verb, warnings: Vec<String>, needs_rule: Option<PathBuf>) -> Translated {
        Translated {
            args: self.args,
            verb,
            warnings,
            help: None,
            needs_rule,
        }
    }
}

/// A flag sops accepts for a key service shroud does not offer, refused when it has a value
/// (from the command line, or from its environment variable when `env` is set).
fn refuse_unoffered(s: &Scope, names: &[&str], env: bool) -> Result<(), Refused> {
    for n in names {
        let v = if env { s.value(n) } else { s.given(n) };
        let set = match v {
            Some(Val::Str(x)) => !x.is_empty(),
            Some(Val::Slice(xs)) => xs.iter().any(|x| !x.is_empty()),
            _ => false,
        };
        if set {
            let what = if n.contains("keyservice") {
                "remote key services are not supported by shroud (keys are used locally: age identities, gpg-agent, AWS credentials)"
            } else {
                "this key service is not supported by shroud (it uses age, PGP and AWS KMS keys)"
            };
            return Err(refuse(format!("--{n}: {what}"), 1));
        }
    }
    Ok(())
}

/// sops with the local key service turned off (`--enable-local-keyservice=false` or
/// `SOPS_ENABLE_LOCAL_KEYSERVICE=false`) and no remote one cannot use any key: it fails with
/// `code` (128 where a data key is needed, 1 where one is made).
fn local_keys_off(s: &Scope, code: u8) -> Result<(), Refused> {
    if matches!(s.value("enable-local-keyservice"), Some(Val::Bool(false))) {
        return Err(refuse(
            "--enable-local-keyservice=false leaves no key service to use a key (shroud uses keys locally and has no remote key services)",
            code,
        ));
    }
    Ok(())
}

const UNOFFERED_KEYS: &[&str] = &["gcp-kms", "hckms", "azure-kv", "hc-vault-transit"];
const UNOFFERED_ROTATE: &[&str] = &[
    "add-gcp-kms",
    "rm-gcp-kms",
    "add-hckms",
    "rm-hckms",
    "add-azure-kv",
    "rm-azure-kv",
    "add-hc-vault-transit",
    "rm-hc-vault-transit",
];
const ADD_RM: &[&str] = &[
    "add-kms",
    "add-pgp",
    "add-gcp-kms",
    "add-hckms",
    "add-hc-vault-transit",
    "add-azure-kv",
    "add-age",
    "rm-kms",
    "rm-pgp",
    "rm-gcp-kms",
    "rm-hckms",
    "rm-hc-vault-transit",
    "rm-azure-kv",
    "rm-age",
];

/// sops's warning for extra positional arguments.
fn extra_positionals(args: &[OsString], warnings: &mut Vec<String>) {
    if args.len() > 1 {
        warnings.push(
            "More than one positional argument provided. Only the first one will be used!".into(),
        );
        if let Some(flag) = args[1..]
            .iter()
            .rev()
            .find(|a| a.to_string_lossy().starts_with('-'))
        {
            warnings.push(format!(
                "Note that one of the ignored positional argument is {:?}, which looks like a flag. Flags must always be provided before the first positional argument!",
                flag.to_string_lossy()
            ));
        }
    }
}

/// A file argument as a path shroud reads as a file (`-` is stdin to shroud, a name to sops).
fn literal_file(p: &OsString) -> OsString {
    if p == "-" {
        OsString::from("./-")
    } else {
        p.clone()
    }
}

fn absolute(p: &OsString) -> PathBuf {
    std::path::absolute(Path::new(p)).unwrap_or_else(|_| PathBuf::from(p))
}

fn exists(p: &OsString) -> bool {
    std::fs::symlink_metadata(Path::new(p)).is_ok()
}

fn in_place_and_output(s: &Scope) -> Result<(), Refused> {
    if s.on("in-place") && s.text("output").is_some() {
        return Err(refuse(
            "Error: cannot operate on both --output and --in-place",
            CONFLICT,
        ));
    }
    Ok(())
}

/// The rule flags encrypt and edit read (the comment regexes and --mac-only-encrypted come from
/// the top level: those commands do not define them).
const RULE_FLAGS: &[&str] = &[
    "unencrypted-suffix",
    "encrypted-suffix",
    "unencrypted-regex",
    "encrypted-regex",
    "unencrypted-comment-regex",
    "encrypted-comment-regex",
    "mac-only-encrypted",
];
const KEY_FLAGS: &[&str] = &[
    "kms",
    "aws-profile",
    "pgp",
    "age",
    "encryption-context",
    "shamir-secret-sharing-threshold",
];

/// sops picks the output store by `--output-type`, else by the file's name
/// (`--filename-override`'s first), never by `--input-type`, which shroud's own mode follows:
/// with `--input-type` alone, the name's format is passed on explicitly.
fn output_type_by_name(s: &Scope, o: &mut Out, file: Option<&OsString>) {
    if s.text("input-type").is_none() || s.text("output-type").is_some() || s.on("in-place") {
        return;
    }
    if let Some(name) = s.text("filename-override").or_else(|| file.cloned()) {
        o.push("--output-type");
        o.push(Format::from_path(Path::new(&name)).name());
    }
}

fn decrypt(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    let mut warnings = Vec::new();
    if pos.is_empty() && s.on("in-place") {
        return Err(refuse(
            "Error: cannot use --in-place when reading from stdin",
            CONFLICT,
        ));
    }
    extra_positionals(pos, &mut warnings);
    in_place_and_output(s)?;
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 128)?;
    let mut o = Out::new(&["decrypt"]);
    o.same(
        s,
        &[
            "in-place",
            "extract",
            "output",
            "input-type",
            "output-type",
            "ignore-mac",
            "filename-override",
            "decryption-order",
            "verbose",
        ],
    );
    if pos.is_empty() && s.text("filename-override").is_none() {
        // stdin without a name: sops's stores default to binary (a JSON container).
        for flag in ["input-type", "output-type"] {
            if s.text(flag).is_none() {
                o.push(format!("--{flag}"));
                o.push("binary");
            }
        }
    }
    output_type_by_name(s, &mut o, pos.first());
    o.files(&pos[..pos.len().min(1)]);
    Ok(o.done(Verb::Decrypt, warnings, None))
}

fn encrypt(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    let mut warnings = Vec::new();
    if pos.is_empty() {
        if s.on("in-place") {
            return Err(refuse(
                "Error: cannot use --in-place when reading from stdin",
                CONFLICT,
            ));
        }
        if s.text("filename-override").is_none() {
            return Err(refuse(
                "Error: must specify --filename-override when reading from stdin",
                CONFLICT,
            ));
        }
    }
    extra_positionals(pos, &mut warnings);
    in_place_and_output(s)?;
    refuse_unoffered(s, UNOFFERED_KEYS, true)?;
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 1)?;
    let mut o = Out::new(&["encrypt"]);
    o.same(s, &["in-place", "output", "input-type", "output-type"]);
    o.same(s, KEY_FLAGS);
    o.same(s, RULE_FLAGS);
    o.same(s, &["filename-override", "verbose"]);
    let file = pos.first();
    let needs_rule = match (s.text("filename-override"), file) {
        (_, Some(f)) if !exists(f) => None,
        (Some(name), _) => Some(absolute(&name)),
        (None, Some(f)) => Some(absolute(f)),
        (None, None) => None,
    };
    output_type_by_name(s, &mut o, file);
    o.files(&pos[..pos.len().min(1)]);
    Ok(o.done(Verb::Encrypt, warnings, needs_rule))
}

fn edit(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    let mut warnings = Vec::new();
    let Some(file) = pos.first() else {
        return Err(refuse("Error: no file specified", NO_FILE));
    };
    extra_positionals(pos, &mut warnings);
    let new = !exists(file);
    if new {
        refuse_unoffered(s, UNOFFERED_KEYS, true)?;
    }
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, if new { 1 } else { 128 })?;
    let mut o = Out::new(&["edit"]);
    o.same(s, KEY_FLAGS);
    o.same(s, RULE_FLAGS);
    o.same(
        s,
        &[
            "input-type",
            "output-type",
            "show-master-keys",
            "ignore-mac",
            "decryption-order",
            "verbose",
        ],
    );
    o.files(&pos[..1]);
    Ok(o.done(Verb::Edit, warnings, new.then(|| absolute(file))))
}

fn rotate(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    let mut warnings = Vec::new();
    let Some(file) = pos.first() else {
        return Err(refuse("Error: no file specified", NO_FILE));
    };
    extra_positionals(pos, &mut warnings);
    in_place_and_output(s)?;
    if !exists(file) && ADD_RM.iter().any(|n| s.text(n).is_some()) {
        return Err(refuse(
            format!(
                "Error: cannot add or remove keys on non-existent file {:?}, use the `edit` subcommand instead.",
                absolute(file).display().to_string()
            ),
            49,
        ));
    }
    refuse_unoffered(s, UNOFFERED_ROTATE, false)?;
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 128)?;
    // sops's rotate changes the file alone; shroud's own also takes removed keys out of the
    // creation rules.
    let mut o = Out::new(&["rotate", "--keep-rules"]);
    o.same(
        s,
        &[
            "in-place",
            "output",
            "input-type",
            "output-type",
            "encryption-context",
            "add-kms",
            "rm-kms",
            "add-age",
            "rm-age",
            "add-pgp",
            "rm-pgp",
            "filename-override",
            "decryption-order",
            "verbose",
        ],
    );
    output_type_by_name(s, &mut o, pos.first());
    o.files(&pos[..1]);
    Ok(o.done(Verb::Rotate, warnings, None))
}

fn set(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    if s.on("value-file") && s.on("value-stdin") {
        return Err(refuse(
            "Error: cannot use both --value-file and --value-stdin",
            1,
        ));
    }
    if s.on("value-stdin") && pos.len() != 2 {
        return Err(refuse(
            "Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used.",
            NO_FILE,
        ));
    }
    if !s.on("value-stdin") && pos.len() != 3 {
        return Err(refuse(
            "Error: no file specified, or index and value are missing. Need precisely 3 positional arguments.",
            NO_FILE,
        ));
    }
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 128)?;
    let mut o = Out::new(&["set"]);
    o.same(
        s,
        &[
            "input-type",
            "output-type",
            "value-file",
            "value-stdin",
            "ignore-mac",
            "decryption-order",
            "idempotent",
            "verbose",
        ],
    );
    o.files(pos);
    Ok(o.done(Verb::Set, Vec::new(), None))
}

fn unset(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    if pos.len() != 2 {
        return Err(refuse(
            "Error: no file specified, or index is missing",
            NO_FILE,
        ));
    }
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 128)?;
    let mut o = Out::new(&["unset"]);
    o.same(
        s,
        &[
            "input-type",
            "output-type",
            "ignore-mac",
            "decryption-order",
            "idempotent",
            "verbose",
        ],
    );
    o.files(pos);
    Ok(o.done(Verb::Unset, Vec::new(), None))
}

fn filestatus(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    if pos.is_empty() {
        return Err(refuse("Error: no file specified", NO_FILE));
    }
    let mut o = Out::new(&["filestatus"]);
    o.same(s, &["input-type"]);
    o.files(&pos[..1]);
    Ok(o.done(Verb::Filestatus, Vec::new(), None))
}

fn updatekeys(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    refuse_unoffered(s, &["keyservice"], false)?;
    // sops looks for the config first (from the working directory, or --config), with or
    // without files.
    let config = s.value("config").is_some()
        || std::env::current_dir()
            .ok()
            .and_then(|d| shroud::config::find(&d))
            .is_some();
    if !config {
        return Err(refuse("config file not found", 1));
    }
    if pos.is_empty() {
        return Err(refuse("Error: no file specified", NO_FILE));
    }
    local_keys_off(s, 128)?;
    // sops keeps the data key when a key is removed (shroud's own updatekeys re-keys).
    let mut o = Out::new(&["updatekeys", "--keep-data-key"]);
    o.same(
        s,
        &[
            "yes",
            "input-type",
            "shamir-secret-sharing-threshold",
            "verbose",
        ],
    );
    o.push("--");
    o.args.extend(pos.iter().map(literal_file));
    Ok(o.done(Verb::Updatekeys, Vec::new(), None))
}

fn exec(s: &Scope, verb: Verb) -> Result<Translated, Refused> {
    let pos = s.positionals();
    let mut warnings = Vec::new();
    if pos.len() != 2 {
        return Err(refuse("error: missing file to decrypt", 1));
    }
    if verb == Verb::ExecFile && s.on("background") && s.on("no-fifo") {
        return Err(refuse(
            "exec-file --background --no-fifo: shroud does not leave a plaintext file behind for a command it does not wait for (sops removes it at once, so the command cannot read it either); drop --no-fifo: the command then gets the plaintext through a FIFO before shroud returns",
            1,
        ));
    }
    if verb == Verb::ExecEnv && s.on("background") && s.on("same-process") {
        warnings.push(
            "exec-env's --background option is deprecated and will be removed in a future version of sops".into(),
        );
        return Err(refuse(
            "Error: The --same-process flag cannot be used with --background",
            CONFLICT,
        ));
    }
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 128)?;
    let mut o = Out::new(&[verb.word()]);
    let own: &[&str] = if verb == Verb::ExecEnv {
        &["background", "pristine", "user", "same-process"]
    } else {
        &["background", "no-fifo", "user", "output-type", "filename"]
    };
    o.same(s, own);
    o.same(
        s,
        &["input-type", "ignore-mac", "decryption-order", "verbose"],
    );
    o.files(pos);
    Ok(o.done(verb, warnings, None))
}

fn groups_add(s: &Scope) -> Result<Translated, Refused> {
    if !s.positionals().is_empty() {
        return Err(refuse("error: no positional arguments allowed", 1));
    }
    refuse_unoffered(s, UNOFFERED_KEYS, false)?;
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 1)?;
    let mut o = Out::new(&["groups", "add"]);
    o.same(
        s,
        &[
            "file",
            "pgp",
            "kms",
            "age",
            "aws-profile",
            "in-place",
            "shamir-secret-sharing-threshold",
            "encryption-context",
            "input-type",
        ],
    );
    Ok(o.done(Verb::Groups, Vec::new(), None))
}

fn groups_delete(s: &Scope) -> Result<Translated, Refused> {
    let pos = s.positionals();
    if pos.len() != 1 {
        return Err(refuse(
            "error: exactly one positional argument (index) required",
            1,
        ));
    }
    refuse_unoffered(s, &["keyservice"], false)?;
    local_keys_off(s, 1)?;
    let mut o = Out::new(&["groups", "rm"]);
    o.same(
        s,
        &[
            "file",
            "in-place",
            "shamir-secret-sharing-threshold",
            "input-type",
        ],
    );
    o.files(pos);
    Ok(o.done(Verb::Groups, Vec::new(), None))
}

/// `sops [flags] FILE`: the mode is --set, else --rotate, else --decrypt, else --encrypt (the
/// last one sops runs is the one whose output it writes), else edit.
fn legacy(app: &Parsed) -> Result<Translated, Refused> {
    let s = Scope { chain: vec![app] };
    let (dec, enc, rot) = (s.on("decrypt"), s.on("encrypt"), s.on("rotate"));
    let set_spec = s.text("set");
    let pos = s.positionals();
    let Some(file) = pos.first() else {
        return Err(refuse("Error: no file specified", NO_FILE));
    };
    let mut warnings = Vec::new();
    extra_positionals(pos, &mut warnings);
    in_place_and_output(&s)?;
    if !exists(file) {
        if ADD_RM.iter().any(|n| s.text(n).is_some()) {
            return Err(refuse(
                format!(
                    "Error: cannot add or remove keys on non-existent file {:?}, use `--kms` and `--pgp` instead.",
                    absolute(file).display().to_string()
                ),
                49,
            ));
        }
        if enc || dec || rot {
            return Err(refuse(
                format!(
                    "Error: cannot operate on non-existent file {:?}",
                    absolute(file).display().to_string()
                ),
                NO_FILE,
            ));
        }
    }
    let modes = [enc, dec, rot, set_spec.is_some()];
    if modes.iter().filter(|&&m| m).count() > 1 {
        warnings.push("More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually.".into());
    }
    let edit = !modes.iter().any(|&m| m);
    // sops loads the creation rule for every mode but plain decryption.
    let rule_name = s
        .text("filename-override")
        .map(|n| absolute(&n))
        .unwrap_or_else(|| absolute(file));
    let needs_rule = (enc || rot || set_spec.is_some() || edit).then_some(rule_name);
    refuse_unoffered(&s, &["keyservice"], false)?;
    let making = (enc && !dec && !rot && !edit && set_spec.is_none()) || (edit && !exists(file));
    local_keys_off(&s, if making { 1 } else { 128 })?;
    let common = |o: &mut Out| {
        o.same(&s, &["indent", "verbose"]);
    };
    let t = if let Some(spec) = set_spec {
        // --set 'INDEX VALUE': sops splits at the first "] ".
        let spec = spec.to_string_lossy().into_owned();
        let Some((index, value)) = spec.split_once("] ") else {
            return Err(refuse("Invalid --set format", 7));
        };
        let mut o = Out::new(&["set"]);
        o.same(
            &s,
            &[
                "input-type",
                "output-type",
                "ignore-mac",
                "decryption-order",
            ],
        );
        common(&mut o);
        o.files(&[file.clone(), format!("{index}]").into(), value.into()]);
        o.done(Verb::Set, warnings, needs_rule)
    } else if rot {
        refuse_unoffered(&s, UNOFFERED_ROTATE, false)?;
        // sops's rotate changes the file alone; shroud's own also takes removed keys out of the
        // creation rules.
        let mut o = Out::new(&["rotate", "--keep-rules"]);
        o.same(
            &s,
            &[
                "in-place",
                "output",
                "input-type",
                "output-type",
                "encryption-context",
                "add-kms",
                "rm-kms",
                "add-age",
                "rm-age",
                "add-pgp",
                "rm-pgp",
                "filename-override",
                "decryption-order",
            ],
        );
        common(&mut o);
        output_type_by_name(&s, &mut o, pos.first());
        o.files(&pos[..1]);
        o.done(Verb::Rotate, warnings, needs_rule)
    } else if dec {
        let mut o = Out::new(&["decrypt"]);
        o.same(
            &s,
            &[
                "in-place",
                "output",
                "extract",
                "input-type",
                "output-type",
                "ignore-mac",
                "filename-override",
                "decryption-order",
            ],
        );
        common(&mut o);
        output_type_by_name(&s, &mut o, pos.first());
        o.files(&pos[..1]);
        o.done(Verb::Decrypt, warnings, None)
    } else if enc {
        refuse_unoffered(&s, UNOFFERED_KEYS, true)?;
        let mut o = Out::new(&["encrypt"]);
        o.same(&s, &["in-place", "output", "input-type", "output-type"]);
        o.same(&s, KEY_FLAGS);
        o.same(&s, RULE_FLAGS);
        o.same(&s, &["filename-override"]);
        common(&mut o);
        output_type_by_name(&s, &mut o, pos.first());
        o.files(&pos[..1]);
        o.done(Verb::Encrypt, warnings, needs_rule)
    } else {
        if !exists(file) {
            refuse_unoffered(&s, UNOFFERED_KEYS, true)?;
        }
        let mut o = Out::new(&["edit"]);
        o.same(&s, KEY_FLAGS);
        o.same(&s, RULE_FLAGS);
        o.same(
            &s,
            &[
                "input-type",
                "output-type",
                "show-master-keys",
                "ignore-mac",
                "decryption-order",
            ],
        );
        common(&mut o);
        o.files(&pos[..1]);
        o.done(Verb::Edit, warnings, needs_rule)
    };
    Ok(t)
}

fn usage_text(name: &str, cmd: &Cmd) -> String {
    let mut h = format!("NAME:\n   {name} - {}\n\nUSAGE:\n", cmd.usage);
    if cmd.subs.is_empty() {
        h.push_str(&format!(
            "   {name} [command options] {}\n",
            if cmd.args_usage.is_empty() {
                "[arguments...]"
            } else {
                cmd.args_usage
            }
        ));
    } else {
        h.push_str(&format!(
            "   {name} command [command options] [arguments...]\n\nCOMMANDS:\n"
        ));
        h.push_str(&commands_text(cmd.subs));
    }
    h.push_str("\nOPTIONS:\n");
    h.push_str(&goflag::render_flags(cmd.flags));
    h
}

fn commands_text(cmds: &[Cmd]) -> String {
    let names: Vec<String> = cmds.iter().map(|c| c.names.join(", ")).collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    cmds.iter()
        .zip(&names)
        .map(|(c, n)| format!("   {n:width$}  {}\n", c.usage))
        .collect()
}

/// `sops --help`.
fn app_help() -> String {
    format!(
        "NAME:\n   sops - encrypted file editor (shroud {} answering as sops {SOPS_VERSION}: age, PGP and AWS KMS keys)\n\n\
USAGE:\n   sops [global options] file\n   sops [global options] command [command options] [arguments...]\n\n   \
Encrypt with age (-a or SOPS_AGE_RECIPIENTS), PGP (-p or SOPS_PGP_FP) or AWS KMS (-k or\n   \
SOPS_KMS_ARN), or with the creation rules of .sops.yaml. Editing and decrypting use the keys\n   \
listed in the file. Flags must be given before the file name. GCP KMS, HuaweiCloud KMS,\n   \
Azure Key Vault, Vault transit and remote key services are not supported by shroud.\n\n\
VERSION:\n   {SOPS_VERSION}\n\nCOMMANDS:\n{}\nGLOBAL OPTIONS:\n{}",
        shroud::VERSION,
        commands_text(COMMANDS),
        goflag::render_flags(APP_FLAGS)
    )
}

fn help(text: String) -> Translated {
    Translated {
        args: vec!["shroud".into(), "--help".into()],
        verb: Verb::Help,
        warnings: Vec::new(),
        help: Some(text),
        needs_rule: None,
    }
}

fn find<'c>(cmds: &'c [Cmd], word: &OsString) -> Option<&'c Cmd> {
    cmds.iter()
        .find(|c| c.names.iter().any(|n| word.as_os_str() == *n))
}

/// `help [topic]` (urfave's help command): the topic's help, or exit 3 for an unknown one.
fn help_topic(
    prefix: &str,
    top: String,
    cmds: &[Cmd],
    topic: Option<&OsString>,
) -> Result<Translated, Refused> {
    match topic {
        None => Ok(help(top)),
        Some(t) => match find(cmds, t) {
            Some(c) => Ok(help(usage_text(&format!("{prefix} {}", c.names[0]), c))),
            None => Err(refuse(
                format!("No help topic for '{}'", t.to_string_lossy()),
                3,
            )),
        },
    }
}

fn usage_error(e: String, app: bool) -> Refused {
    // urfave prints "Incorrect Usage." at the top level and "Incorrect Usage:" for commands;
    // the two-forms check prints its message alone.
    let text = if e.starts_with("Cannot use two forms") && app {
        e
    } else if app {
        format!("Incorrect Usage. {e}")
    } else {
        format!("Incorrect Usage: {e}")
    };
    refuse(text, 1)
}

/// Translates a sops 3.11 command line (`args[0]` is the program name).
pub fn translate(args: &[OsString]) -> Result<Translated, Refused> {
    translate_env(args, &|k| std::env::var_os(k))
}

fn translate_env(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Translated, Refused> {
    let rest = args.get(1..).unwrap_or_default();
    let app = goflag::parse(APP_FLAGS, rest, Mode::App, env).map_err(|e| usage_error(e, true))?;
    if app.is_true("help") {
        return Ok(help(app_help()));
    }
    if app.is_true("version") {
        return Ok(Translated {
            args: vec!["shroud".into(), "--version".into()],
            verb: Verb::Version,
            warnings: Vec::new(),
            help: None,
            needs_rule: None,
        });
    }
    let mut t = translate_parsed(&app, env)?;
    // `--config` is a top-level flag every command reads (urfave's GlobalString).
    if let Some(Val::Str(cfg)) = app.given("config")
        && !cfg.is_empty()
        && !matches!(t.verb, Verb::Help | Verb::Version | Verb::Completion)
    {
        t.args
            .splice(1..1, [OsString::from("--config"), cfg.clone()]);
    }
    Ok(t)
}

fn translate_parsed(
    app: &Parsed,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Translated, Refused> {
    let Some(cmd) = app.args.first().and_then(|w| find(COMMANDS, w)) else {
        return legacy(app);
    };
    let rest = &app.args[1..];
    let name = cmd.names[0];
    if name == "help" {
        return help_topic("sops", app_help(), COMMANDS, rest.first());
    }
    if !cmd.subs.is_empty() {
        // `sops groups [flags] add|delete …`: a sub-application.
        let g = goflag::parse(cmd.flags, rest, Mode::App, env).map_err(|e| usage_error(e, true))?;
        let top = usage_text(&format!("sops {name}"), cmd);
        if g.is_true("help") {
            return Ok(help(top));
        }
        let Some(word) = g.args.first() else {
            return Ok(help(top));
        };
        if word == "help" || word == "h" {
            return help_topic(&format!("sops {name}"), top, cmd.subs, g.args.get(1));
        }
        let Some(sub) = find(cmd.subs, word) else {
            return Err(refuse(
                format!("No help topic for '{}'", word.to_string_lossy()),
                3,
            ));
        };
        let p = goflag::parse(sub.flags, &g.args[1..], Mode::Command, env)
            .map_err(|e| usage_error(e, false))?;
        if p.is_true("help") {
            return Ok(help(usage_text(
                &format!("sops {name} {}", sub.names[0]),
                sub,
            )));
        }
        let s = Scope {
            chain: vec![&p, &g, app],
        };
        return if sub.names[0] == "add" {
            groups_add(&s)
        } else {
            groups_delete(&s)
        };
    }
    let p =
        goflag::parse(cmd.flags, rest, Mode::Command, env).map_err(|e| usage_error(e, false))?;
    if p.is_true("help") {
        return Ok(help(usage_text(&format!("sops {name}"), cmd)));
    }
    let s = Scope {
        chain: vec![&p, app],
    };
    match name {
        "decrypt" => decrypt(&s),
        "encrypt" => encrypt(&s),
        "edit" => edit(&s),
        "rotate" => rotate(&s),
        "set" => set(&s),
        "unset" => unset(&s),
        "filestatus" => filestatus(&s),
        "updatekeys" => updatekeys(&s),
        "exec-env" => exec(&s, Verb::ExecEnv),
        "exec-file" => exec(&s, Verb::ExecFile),
        "completion" => {
            let mut o = Out::new(&["completion"]);
            o.args.extend(s.positionals().iter().cloned());
            Ok(o.done(Verb::Completion, Vec::new(), None))
        }
        "publish" => Err(refuse(
            "shroud does not publish files: the destination_rules of .sops.yaml (S3, GCS, Vault) are not used; run the real sops publish for that",
            1,
        )),
        _ => Err(refuse(
            "shroud does not run a key service; keys are used locally (age identities, gpg-agent, AWS credentials)",
            1,
        )),
    }
}

/// Whether a shroud command line uses one of sops's legacy forms (`shroud -d f`, `shroud f`).
pub fn is_legacy(args: &[OsString]) -> bool {
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        return false;
    };
    if first.starts_with('-') {
        let body = first.trim_start_matches('-');
        let name = body.split_once('=').map_or(body, |(n, _)| n);
        return [&DECRYPT, &ENCRYPT, &ROTATE, &SHOW_MASTER_KEYS, &SET]
            .iter()
            .any(|d| d.names.contains(&name));
    }
    // A bare file: not a verb, and it looks like a path.
    !super::VERBS.contains(&first.as_str())
        && (Path::new(&first).extension().is_some() || first.contains('/'))
}

/// The exit code sops 3.11 returns for a failure of `verb`.
pub fn exit_code(e: &Error, verb: Verb) -> u8 {
    use shroud::crypto::TreeError;
    use shroud::store::StoreError;
    match e {
        Error::NoFile { .. } if matches!(verb, Verb::Set | Verb::Unset) => 2,
        Error::NoFile { .. } if matches!(verb, Verb::Rotate | Verb::ExecEnv | Verb::ExecFile) => 2,
        Error::NoFile { .. } if verb == Verb::Filestatus => 1,
        // sops's updatekeys returns every failure but the data key's as a plain error (exit
        // 1): a missing file ("stat …"), a directory, a device it cannot parse (`/dev/null`:
        // "Error unmarshalling input"), a file it cannot write.
        Error::NoFile { .. } | Error::Read { .. } | Error::Write { .. }
            if verb == Verb::Updatekeys =>
        {
            1
        }
        Error::NoFile { .. } => 100,
        Error::Read { .. } => 2,
        Error::Write { .. } => 3,
        // "Error dumping file": the tree has no binary data for the binary store.
        Error::Store {
            source: StoreError::BadBinaryContainer,
            ..
        } => 4,
        // "Error dumping file": the tree cannot be written in the output format.
        Error::Store {
            source:
                StoreError::NotFlat { .. }
                | StoreError::MultipleDocuments { .. }
                | StoreError::NotUtf8 { .. }
                | StoreError::NotANumber { .. }
                | StoreError::NotABool { .. }
                | StoreError::CommentAsValue { .. },
            ..
        } => 4,
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
        // A malformed key on the command line is a usage error in sops.
        Error::Key {
            source:
                shroud::keysource::KeyError::BadRecipient { .. }
                | shroud::keysource::KeyError::PrivateKeyAsRecipient { .. },
            ..
        } => 1,
        // Two rule options at once: sops's "conflicting parameters".
        Error::Rules {
            source: shroud::crypto::RuleError::Conflict(_),
            ..
        } => CONFLICT,
        Error::Key { .. } => 128,
        Error::PathSyntax { .. } if verb == Verb::Decrypt => 91,
        Error::PathSyntax { .. } => 7,
        Error::TreePath { .. } => 1,
        Error::NotModified { .. } => 200,
        Error::NoEditor(_) | Error::EditorFailed { .. } => 201,
        Error::NotJson(_) => 7,
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

/// The config the translated command line uses (`--config`, else `SOPS_CONFIG`).
fn config_of(t: &Translated) -> Option<PathBuf> {
    t.args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| t.args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("SOPS_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
}

/// sops loads the creation rule of the file for every mode that may encrypt, and refuses when
/// `.sops.yaml` has creation rules and none matches, even with keys on the command line.
fn policy_refusal(t: &Translated) -> Option<Refused> {
    let file = t.needs_rule.as_ref()?;
    let cfg = shroud::config::load(&config_of(t)?).ok()?;
    if cfg.creation_rules.is_empty() {
        return None;
    }
    match cfg.rule_for(file) {
        Err(e @ ConfigError::NoMatchingRule { .. }) => Some(refuse(
            format!(
                "{e}: sops refuses a file outside the creation rules even with keys on the command line (error loading config: no matching creation rules found)"
            ),
            1,
        )),
        _ => None,
    }
}

/// The drop-in entry point: run a sops command line and exit as sops would. Errors go
/// through the one reporting edge ([`messages`]), in sops's voice.
pub fn run(args: Vec<OsString>) -> std::process::ExitCode {
    use clap::Parser;
    use std::io::Write;
    use std::process::ExitCode;
    messages::speak_as_sops();
    let t = match translate(&args) {
        Ok(t) => t,
        Err(r) => {
            messages::error_line(&r.message);
            return ExitCode::from(r.code);
        }
    };
    for w in &t.warnings {
        messages::note(&format!("[WARNING] {w}"));
    }
    if let Some(text) = &t.help {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    if t.verb == Verb::Version {
        let _ = writeln!(
            std::io::stdout(),
            "sops {SOPS_VERSION} (shroud {} drop-in)",
            shroud::VERSION
        );
        return ExitCode::SUCCESS;
    }
    let t = with_sops_config(t);
    if let Some(r) = policy_refusal(&t) {
        messages::error_line(&r.message);
        return ExitCode::from(r.code);
    }
    let cli = match super::Cli::try_parse_from(&t.args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    super::init_logging(cli.always.verbose);
    let verb = t.verb;
    messages::exit_as_sops(move |e| exit_code(e, verb));
    match super::run(cli) {
        // sops: answering "n" leaves the file unchanged and succeeds.
        Err(Error::Declined(_)) if t.verb == Verb::Updatekeys => {
            messages::note("File left unchanged");
            ExitCode::SUCCESS
        }
        Err(e @ Error::Config(ConfigError::NoMatchingRule { .. })) => {
            // Editor integrations look for sops's wording.
            messages::error_line(&format!(
                "{e} (error loading config: no matching creation rules found)"
            ));
            ExitCode::from(exit_code(&e, t.verb))
        }
        result => messages::finish(result, |e| exit_code(e, t.verb)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An existing file the tests name `f.yaml` (sops checks that the file exists first).
    fn existing() -> &'static str {
        static F: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
        &F.get_or_init(|| {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("f.yaml");
            std::fs::write(&f, "a: 1\n").unwrap();
            let s = f.display().to_string();
            (d, s)
        })
        .1
    }

    fn tr(args: &[&str]) -> Result<Translated, Refused> {
        let args: Vec<OsString> = args
            .iter()
            .map(|a| OsString::from(if *a == "f.yaml" { existing() } else { a }))
            .collect();
        translate_env(&args, &|_| None)
    }

    fn t(args: &[&str]) -> Vec<String> {
        tr(args)
            .unwrap()
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .map(|a| if a == existing() { "f.yaml".into() } else { a })
            .collect()
    }

    fn code(args: &[&str]) -> u8 {
        tr(args).unwrap_err().code
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
        // Flags after the index move before it (urfave reorders command arguments).
        assert_eq!(
            t(&["sops", "groups", "delete", "1", "-f", "f.yaml", "-i"]),
            [
                "shroud",
                "groups",
                "rm",
                "--file",
                "f.yaml",
                "--in-place",
                "--",
                "1"
            ]
        );
        assert!(
            tr(&["sops", "groups", "add", "--help"])
                .unwrap()
                .help
                .is_some()
        );
        assert!(tr(&["sops", "groups"]).unwrap().help.is_some());
        assert_eq!(code(&["sops", "groups", "nope"]), 3);
        assert_eq!(
            code(&["sops", "groups", "add", "--gcp-kms", "x", "-f", "f"]),
            1
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
        // A boolean with a false value is off, as in Go.
        assert_eq!(
            t(&["sops", "-d", "-i=0", "f.yaml"]),
            ["shroud", "decrypt", "--", "f.yaml"]
        );
        assert_eq!(code(&["sops", "-d", "-i=yes", "f.yaml"]), 1);
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
            ["shroud", "edit", "--show-master-keys", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "-r", "-i", "--add-age", "age1x", "f.yaml"]),
            [
                "shroud",
                "rotate",
                "--keep-rules",
                "--in-place",
                "--add-age",
                "age1x",
                "--",
                "f.yaml"
            ]
        );
        assert_eq!(
            t(&["sops", "--set", r#"["a b"] "v""#, "f.yaml"]),
            ["shroud", "set", "--", "f.yaml", r#"["a b"]"#, r#""v""#]
        );
        assert_eq!(code(&["sops", "--set", "nospace", "f.yaml"]), 7);
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
        // Flags after the file are ignored by the legacy form (with sops's warning).
        assert_eq!(
            t(&["sops", "-d", "f.yaml", "-i"]),
            ["shroud", "decrypt", "--", "f.yaml"]
        );
        assert_eq!(
            tr(&["sops", "-d", "f.yaml", "-i"]).unwrap().warnings.len(),
            2
        );
        // -d and -e: the decryption is what sops writes.
        assert_eq!(t(&["sops", "-e", "-d", "f.yaml"])[1], "decrypt");
        assert_eq!(t(&["sops", "-d", "-e", "f.yaml"])[1], "decrypt");
        assert_eq!(code(&["sops", "-d", "--decrypt", "f.yaml"]), 1);
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
        // Flags after the file are moved before it; repeated scalars: the last wins.
        assert_eq!(
            t(&[
                "sops",
                "decrypt",
                "f.yaml",
                "--output-type",
                "json",
                "--output-type=yaml",
                "-i=f"
            ]),
            ["shroud", "decrypt", "--output-type", "yaml", "--", "f.yaml"]
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
        // A top-level flag reaches a command that does not define it (urfave's lineage) …
        assert_eq!(
            t(&["sops", "--ignore-mac", "exec-env", "f.env", "true"]),
            ["shroud", "exec-env", "--ignore-mac", "--", "f.env", "true"]
        );
        // … and is ignored by one that does.
        assert_eq!(
            t(&["sops", "--output-type", "json", "decrypt", "f.yaml"]),
            ["shroud", "decrypt", "--", "f.yaml"]
        );
        assert_eq!(
            t(&["sops", "--config", "c.yaml", "updatekeys", "-y", "f.yaml"]),
            [
                "shroud",
                "--config",
                "c.yaml",
                "updatekeys",
                "--keep-data-key",
                "--yes",
                "--",
                "f.yaml"
            ]
        );
        // --config (top level only) reaches every command.
        assert_eq!(
            t(&["sops", "--config=c.yaml", "updatekeys", "f.yaml"]),
            [
                "shroud",
                "--config",
                "c.yaml",
                "updatekeys",
                "--keep-data-key",
                "--",
                "f.yaml"
            ]
        );
        assert_eq!(code(&["sops", "--gcp-kms", "x", "-e", "f.yaml"]), 1);
        assert_eq!(code(&["sops", "--gcp-kms", "x", "-e", "nope.yaml"]), 100);
        assert_eq!(code(&["sops"]), 100);
        assert_eq!(code(&["sops", "decrypt", "--nope", "f"]), 1);
        assert_eq!(code(&["sops", "encrypt"]), 8);
        assert_eq!(code(&["sops", "decrypt", "-i"]), 8);
        assert_eq!(code(&["sops", "help", "nope"]), 3);
        assert_eq!(
            code(&[
                "sops",
                "exec-env",
                "--background",
                "--same-process",
                "f",
                "c"
            ]),
            8
        );
        assert_eq!(tr(&["sops", "-v"]).unwrap().verb, Verb::Version);
        // --help anywhere is help, and --help=false is not.
        for h in [
            &["sops", "decrypt", "--help", "f.yaml"][..],
            &["sops", "decrypt", "f.yaml", "-h"],
            &["sops", "edit", "f.yaml", "--help"],
            &["sops", "--help", "decrypt", "f.yaml"],
            &["sops", "-d", "-h", "f.yaml"],
            &["sops", "help", "decrypt"],
            &["sops", "h"],
        ] {
            let x = tr(h).unwrap();
            assert!(x.help.is_some(), "{h:?}");
            assert!(x.help.unwrap().contains("sops"), "{h:?}");
        }
        assert!(
            tr(&["sops", "decrypt", "--help=false", "f.yaml"])
                .unwrap()
                .help
                .is_none()
        );
        let h = tr(&["sops", "decrypt", "-h"]).unwrap().help.unwrap();
        assert!(h.starts_with("NAME:\n   sops decrypt - "), "{h}");
        assert!(!h.contains("shroud decrypt"), "{h}");
    }
}
