//! The audit report: what `shroud audit` found, as one value that every output format renders
//! and that `--format json` serialises as schema [`SCHEMA`] (documented in docs/audit.md).
//!
//! Owns: the report's types and field names (the JSON schema: renaming or removing a field
//! needs a new schema version; adding optional fields does not). Must not know: how the
//! findings were produced, or any output format but JSON's field names.
//!
//! Nothing here holds a value of a secret: recipients, key paths, file names, timestamps,
//! commit ids and the scanner's rule ids only. Text from the repository (paths, author names,
//! names from the names file) is stored as found; every text renderer escapes it.

use serde::Serialize;

use crate::metadata::KeyKind;

/// The JSON schema name and version of [`Report`].
pub const SCHEMA: &str = "shroud-audit/2";

/// Everything one audit found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    pub shroud_version: &'static str,
    /// When the audit ran (RFC 3339, UTC).
    pub generated_at: String,
    /// What was audited, where, and under which policy.
    pub header: Header,
    pub summary: Summary,
    /// Every sops file (damaged ones included), sorted by path.
    pub files: Vec<FileEntry>,
    /// Every recipient of any file, with what it can open; sorted by type, then recipient.
    pub recipients: Vec<Recipient>,
    /// Every recipient added to or removed from a file, oldest first.
    pub access_history: Vec<AccessChange>,
    pub drift: Vec<Drift>,
    pub stale: Vec<Stale>,
    pub revoked: Vec<Revoked>,
    pub plaintext: Vec<Plaintext>,
    pub integrity: Vec<Integrity>,
    /// Limits of this audit worth knowing (a key type whose rule recipients are not compared,
    /// no git repository, a shallow clone, …).
    pub notes: Vec<String>,
}

/// What was audited and how.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Header {
    /// The audited directory, as given.
    pub root: String,
    /// The git work tree's top directory; null outside a git repository.
    pub repository: Option<String>,
    /// The audited directory relative to `repository` (`""` at the top).
    pub path: Option<String>,
    /// The URL of the remote (`origin`, else the first one), credentials removed.
    pub remote: Option<String>,
    /// The branch checked out (null when detached or outside git).
    pub branch: Option<String>,
    /// The commit checked out (null before the first commit).
    pub head: Option<String>,
    pub scope: Scope,
    pub policy: Policy,
}

/// Which sources the audit read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Scope {
    /// Key ages and access history from git history (false outside git).
    pub key_history: bool,
    /// The scanner also read every blob of the git history (`--history`).
    pub history: bool,
    /// MACs were verified with the keys available (`--verify`).
    pub verify: bool,
}

/// The policy in force.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Policy {
    /// `--max-key-age`, in days (overrides every `audit.max_key_age`).
    pub max_key_age_days: Option<u64>,
    /// Each `.sops.yaml` with an `audit.max_key_age`, and its days.
    pub max_key_age: Vec<ConfigAge>,
    /// The recipient → name mapping file, when one was used.
    pub names_file: Option<String>,
    /// The `--fail-on` categories.
    pub fail_on: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConfigAge {
    pub config: String,
    pub days: u64,
}

/// Counts of everything below.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Files the walk saw (every tracked file, and untracked files `.gitignore` lets in).
    pub files_seen: usize,
    pub sops_files: usize,
    pub recipients: usize,
    pub access_changes: usize,
    pub drift: usize,
    pub stale: usize,
    pub revoked: usize,
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
    /// An envelope may also open for a party no entry names (an `envelope-unknown-reader`
    /// finding): the key groups below do not list everyone who can read the file.
    pub unknown_readers: bool,
    /// Other files under the same data key (a ciphertext byte-identical in both): whoever
    /// opens one of them reads this file too.
    pub shares_data_key_with: Vec<String>,
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
    /// The sops metadata field: age, pgp, kms, gcp_kms, azure_kv, hc_vault, hckms.
    #[serde(rename = "type")]
    pub kind: KeyKind,
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
    /// The commit that made today's data key (a `created` or `re-key` event).
    pub last_rekey: Option<Commit>,
    /// The last commit that changed the envelopes but kept the data key (`re-wrap`).
    pub last_rewrap: Option<Commit>,
    /// Every change of the file in history (renames followed), oldest first; the working
    /// copy's change, when it differs from the commit checked out, last (commit null).
    pub events: Vec<KeyEvent>,
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

/// What one change did to a file's keys, judged from the two versions without any key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The file became a sops file: a new data key.
    Created,
    /// A new data key: the envelopes changed and so did every encrypted value and the MAC
    /// (`rotate`, `keys revoke`, `updatekeys` that removes a recipient).
    ReKey,
    /// The envelopes changed but some encrypted value did not: the same data key, wrapped
    /// again (`updatekeys` adding a recipient, `groups`).
    ReWrap,
    /// Values changed under the same envelopes (`set`, `edit`).
    Edit,
    /// The file's bytes did not change (a pure rename or copy, git's `R100`/`C100`, or a mode
    /// change): nothing about its keys or values changed.
    Unchanged,
    /// The version is not a readable sops file (damaged, or committed in plaintext).
    NotSops,
    /// The oldest version a shallow clone holds: what came before is not known.
    FirstSeen,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::ReKey => "re-key",
            EventKind::ReWrap => "re-wrap",
            EventKind::Edit => "edit",
            EventKind::Unchanged => "unchanged",
            EventKind::NotSops => "not-sops",
            EventKind::FirstSeen => "first-seen",
        }
    }

    /// Whether this change gave the file a new data key.
    pub fn new_data_key(self) -> bool {
        matches!(self, EventKind::Created | EventKind::ReKey)
    }
}

/// One change of a file.
#[derive(Clone, Debug, Serialize)]
pub struct KeyEvent {
    /// Null for the uncommitted working copy.
    pub commit: Option<Commit>,
    pub kind: EventKind,
    /// Recipients this change added and removed.
    pub added: Vec<KeyRef>,
    pub removed: Vec<KeyRef>,
}

/// A recipient, as events name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KeyRef {
    #[serde(rename = "type")]
    pub kind: KeyKind,
    pub recipient: String,
}

/// One recipient added to or removed from one file.
#[derive(Clone, Debug, Serialize)]
pub struct AccessChange {
    pub path: String,
    /// `added` or `removed`.
    pub change: &'static str,
    #[serde(rename = "type")]
    pub kind: KeyKind,
    pub recipient: String,
    pub name: Option<String>,
    /// The names file marks the recipient revoked on this date.
    pub revoked: Option<String>,
    /// Null for the uncommitted working copy.
    pub commit: Option<Commit>,
    /// The change it was part of.
    pub event: EventKind,
}

/// How old a file's data key is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rotation {
    /// When today's data key was made (RFC 3339, UTC).
    pub rotated_at: Option<String>,
    /// `git` (the commit of the last `created` or `re-key` event) or `lastmodified` (the
    /// file's own field, a fallback: it is also moved by edits and re-wraps, so it can make a
    /// key look younger than it is; used when git has no such commit: an untracked file, an
    /// uncommitted re-key, no repository, a shallow clone).
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
    pub kind: KeyKind,
    pub recipient: String,
    pub name: Option<String>,
    /// The mapping file's kind for it (person, team, cluster, …).
    pub holder: Option<String>,
    /// A names file is in use and does not name this recipient.
    pub unnamed: bool,
    /// The names file marks it revoked on this date.
    pub revoked: Option<String>,
    /// Files it can open on its own (those under a data key it opens included).
    pub opens_alone: Vec<String>,
    /// The part of `opens_alone` it opens only because those files share a data key with a
    /// file it opens (see [`FileEntry::shares_data_key_with`]).
    pub opens_via_shared_key: Vec<String>,
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

/// A file (or a `.sops.yaml`) that does not follow its `.sops.yaml` as written today.
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
    /// A creation rule that can never apply: an earlier rule matches every path it matches
    /// (first match wins). `path` is the `.sops.yaml`, `rule` the shadowed rule.
    Shadowed { by: usize },
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupDiff {
    pub group: usize,
    /// In the rule, not in the file (`type identity`).
    pub missing: Vec<String>,
    /// In the file, not in the rule.
    pub extra: Vec<String>,
}

/// A file whose data key is older than the policy allows.
#[derive(Clone, Debug, Serialize)]
pub struct Stale {
    pub path: String,
    /// Unknown (null) when neither git nor `lastmodified` dates the data key: such a file
    /// counts as stale, since its freshness cannot be shown.
    pub rotated_at: Option<String>,
    pub source: Option<&'static str>,
    pub age_days: Option<u64>,
    pub max_age_days: u64,
    pub policy: String,
}

/// How a revoked recipient still reaches a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokedVia {
    /// The file lists it today.
    Current,
    /// An envelope for it in an earlier version (from `git log`) wraps today's data key.
    History,
    /// A creation rule lists it: every file encrypted under that rule will be readable by it.
    Rule,
}

/// A recipient the names file marks revoked that can still read a file (or will).
#[derive(Clone, Debug, Serialize)]
pub struct Revoked {
    /// The file, or the `.sops.yaml` for `rule`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: KeyKind,
    pub recipient: String,
    pub name: Option<String>,
    /// The date the names file gives.
    pub revoked: String,
    pub via: RevokedVia,
    /// `history`: the commits whose version holds that envelope.
    pub commits: Vec<String>,
    /// `rule`: the creation rule's index.
    pub rule: Option<usize>,
    pub fix: String,
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
