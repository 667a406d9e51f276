//! The audit report: what `shroud audit` found, as one value that every output format renders
//! and that `--format json` serialises as schema [`SCHEMA`] (documented in docs/audit.md).
//!
//! Owns: the report's types and field names (the JSON schema: renaming or removing a field
//! needs a new schema version; adding optional fields does not). Must not know: how the
//! findings were produced, or any output format but JSON's field names.
//!
//! Nothing here holds a value of a secret: recipients, key paths, file names, timestamps,
//! commit ids and the scanner's rule ids only.

use serde::Serialize;

/// The JSON schema name and version of [`Report`].
pub const SCHEMA: &str = "shroud-audit/1";

/// Everything one audit found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    pub shroud_version: &'static str,
    /// When the audit ran (RFC 3339, UTC).
    pub generated_at: String,
    /// The audited directory, as given.
    pub root: String,
    pub options: ReportOptions,
    /// The git repository around the audited directory, when there is one.
    pub git: Option<GitInfo>,
    pub summary: Summary,
    /// Every sops file (damaged ones included), sorted by path.
    pub files: Vec<FileEntry>,
    /// Every recipient of any file, with what it can open; sorted by type, then recipient.
    pub recipients: Vec<Recipient>,
    pub drift: Vec<Drift>,
    pub stale: Vec<Stale>,
    pub plaintext: Vec<Plaintext>,
    pub integrity: Vec<Integrity>,
    /// Limits of this audit worth knowing (a key type whose rule recipients are not compared,
    /// no git repository, …).
    pub notes: Vec<String>,
}

/// How the audit was run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportOptions {
    /// The scanner also read every blob of the git history.
    pub history: bool,
    /// MACs were verified with the keys available (`--verify`).
    pub verify: bool,
    /// `--max-key-age`, in days (overrides every `audit.max_key_age`).
    pub max_key_age_days: Option<u64>,
    /// The recipient → name mapping file, when one was used.
    pub names_file: Option<String>,
}

/// The git repository the audited directory is in.
#[derive(Clone, Debug, Serialize)]
pub struct GitInfo {
    /// The work tree's top directory.
    pub toplevel: String,
    /// The commit checked out, when there is one.
    pub head: Option<String>,
}

/// Counts of everything below.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Files the walk saw (`.gitignore` respected).
    pub files_seen: usize,
    pub sops_files: usize,
    pub recipients: usize,
    pub drift: usize,
    pub stale: usize,
    /// Plaintext entries (one per file and scanner rule).
    pub plaintext: usize,
    /// Scanner findings behind those entries.
    pub plaintext_findings: usize,
    pub integrity: usize,
    /// With `--verify`: files whose MAC verified, failed, or that no available key opens.
    pub verified: Option<VerifyCounts>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyCounts {
    pub ok: usize,
    pub failed: usize,
    pub no_key: usize,
}

/// One sops file.
#[derive(Clone, Debug, Serialize)]
pub struct FileEntry {
    /// Relative to the audited directory, `/`-separated.
    pub path: String,
    /// The store: yaml, json, dotenv, ini, binary.
    pub format: &'static str,
    /// Set when the file looks like a sops file but cannot be read as one.
    pub damaged: Option<String>,
    /// The `version` field (the sops version that wrote the layout).
    pub version: Option<String>,
    /// The `lastmodified` field, as stored.
    pub lastmodified: Option<String>,
    pub mac: bool,
    /// The encryption rule recorded in the file.
    pub encryption: Encryption,
    /// The stored `shamir_threshold` (0 when unset).
    pub shamir_threshold: usize,
    /// Key groups needed to recover the data key.
    pub threshold: usize,
    pub key_groups: Vec<Vec<Key>>,
    /// The smallest sets of recipients that together can open the file (recipient ids).
    pub combinations: Vec<Vec<String>>,
    /// More combinations exist than are listed.
    pub combinations_truncated: bool,
    /// The `.sops.yaml` that applies (relative to the audited directory when inside it).
    pub config: Option<String>,
    /// The index of the creation rule that matches the file in that config.
    pub rule: Option<usize>,
    pub git: Option<FileGit>,
    pub rotation: Rotation,
    /// With `--verify`.
    pub verify: Option<Verify>,
}

/// Which values a file encrypts (sops's rule options, as recorded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Encryption {
    /// `unencrypted_suffix`, `encrypted_regex`, … (the default `_unencrypted` suffix when the
    /// file records none).
    pub option: &'static str,
    pub value: String,
    pub mac_only_encrypted: bool,
}

/// One master key of a file.
#[derive(Clone, Debug, Serialize)]
pub struct Key {
    /// age, aws_kms, pgp, gcp_kms, azure_kv, hc_vault, hckms.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Who holds it: the age recipient, the KMS key ARN, the PGP fingerprint, the key's
    /// resource id for the other services. The access matrix is keyed by this.
    pub recipient: String,
    /// sops's identity string (for KMS: `arn[+role][|context][|profile]`), as `updatekeys`
    /// compares keys.
    pub identity: String,
    /// From the mapping file.
    pub name: Option<String>,
    pub role: Option<String>,
    /// The KMS encryption context.
    pub context: Option<std::collections::BTreeMap<String, String>>,
    pub aws_profile: Option<String>,
    pub created_at: Option<String>,
}

/// What git says of a file.
#[derive(Clone, Debug, Serialize)]
pub struct FileGit {
    /// The file is in the repository (committed or staged).
    pub tracked: bool,
    /// The file differs from the commit checked out.
    pub modified: bool,
    /// The last commit that changed the file.
    pub last_commit: Option<Commit>,
    /// The last commit that changed its data-key envelopes (`sops.*.enc`): the last
    /// encrypt, rotate or updatekeys that was committed.
    pub envelopes_changed: Option<Commit>,
    /// The working copy's envelopes differ from the committed ones (an uncommitted rotation).
    pub envelopes_uncommitted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Commit {
    pub id: String,
    /// Commit time (RFC 3339, UTC).
    pub time: String,
    #[serde(skip)]
    pub unix: i64,
    pub author: String,
    pub email: String,
}

/// How old a file's data-key envelopes are.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rotation {
    /// When the envelopes last changed (RFC 3339, UTC).
    pub rotated_at: Option<String>,
    /// `git` (the commit that last changed them) or `lastmodified` (the file's own field,
    /// when git has no committed change of them).
    pub source: Option<&'static str>,
    pub age_days: Option<u64>,
    /// The policy that applies, in days.
    pub max_age_days: Option<u64>,
    /// Where that policy comes from: `--max-key-age` or a `.sops.yaml`.
    pub policy: Option<String>,
    pub stale: bool,
}

/// `--verify`'s result for one file.
#[derive(Clone, Debug, Serialize)]
pub struct Verify {
    /// ok, failed (an integrity failure), no-key (no available key opens the data key).
    pub status: &'static str,
    pub detail: Option<String>,
}

/// One recipient and what it can open.
#[derive(Clone, Debug, Serialize)]
pub struct Recipient {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub recipient: String,
    pub name: Option<String>,
    /// The mapping file's kind for it (person, team, cluster, …).
    pub holder: Option<String>,
    /// Files it can open on its own.
    pub opens_alone: Vec<String>,
    /// Files where it holds a share but needs other recipients.
    pub shares: Vec<Share>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Share {
    pub path: String,
    /// Key groups this recipient is in.
    pub groups_held: usize,
    /// Key groups needed.
    pub threshold: usize,
}

/// A file that does not follow its `.sops.yaml` as written today.
#[derive(Clone, Debug, Serialize)]
pub struct Drift {
    pub path: String,
    pub config: Option<String>,
    pub rule: Option<usize>,
    #[serde(flatten)]
    pub kind: DriftKind,
    /// What fixes it.
    pub fix: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DriftKind {
    /// Recipients differ from the rule's (per key group): `updatekeys` is due.
    Recipients { groups: Vec<GroupDiff> },
    /// The number of key groups needed differs from the rule's.
    Threshold { file: usize, rule: usize },
    /// The file's encryption rule differs from the creation rule's.
    Rules { file: Encryption, rule: Encryption },
    /// A sops file that no creation rule covers.
    Uncovered { reason: String },
    /// A plaintext file that a creation rule says must be encrypted: the key paths of the
    /// values the rule would encrypt (paths only; at most 20 listed).
    MustEncrypt {
        values: usize,
        paths: Vec<String>,
        /// Set when the file could not be parsed as its format (the whole file counts).
        unparsed: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupDiff {
    pub group: usize,
    /// In the rule, not in the file (`type identity`).
    pub missing: Vec<String>,
    /// In the file, not in the rule.
    pub extra: Vec<String>,
}

/// A file whose data-key envelopes are older than the policy allows.
#[derive(Clone, Debug, Serialize)]
pub struct Stale {
    pub path: String,
    /// Unknown (null) when neither git nor `lastmodified` dates the envelopes: such a file
    /// counts as stale, since its freshness cannot be shown.
    pub rotated_at: Option<String>,
    pub source: Option<&'static str>,
    pub age_days: Option<u64>,
    pub max_age_days: u64,
    pub policy: String,
}

/// The scanner's findings in one file for one rule.
#[derive(Clone, Debug, Serialize)]
pub struct Plaintext {
    pub path: String,
    pub rule_id: String,
    pub count: usize,
    /// Lines in the working tree.
    pub lines: Vec<usize>,
    /// Commits that introduced it (`--history`).
    pub commits: Vec<String>,
}

/// A structural or cryptographic problem of one sops file.
#[derive(Clone, Debug, Serialize)]
pub struct Integrity {
    pub path: String,
    /// damaged, mac-missing, mac-malformed, value-malformed, plaintext-value,
    /// metadata-incomplete, envelope-malformed, verify-failed.
    pub check: &'static str,
    /// The key path concerned, when there is one.
    pub at: Option<String>,
    pub detail: String,
}
