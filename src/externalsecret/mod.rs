//! ExternalSecret generation: turn (encrypted or plain) Secret manifests and values files into
//! `ExternalSecret` manifests (`external-secrets.io/v1`, or `v1beta1` for older operators) that
//! reference a secret store (AWS Secrets Manager, HashiCorp Vault, Azure Key Vault, GCP Secret
//! Manager: one file each in [`provider`]), the store's `SecretStore`/`ClusterSecretStore`
//! skeleton, and the values to push (AWS Secrets Manager, [`provider::aws::push`]).
//!
//! Owns: the naming rules (the Kubernetes name of a values file, the remote key template with
//! `{env}`, `{namespace}`, `{name}`, `{file}`, clashes between generated objects; each store's
//! own name rules are its provider's), the option values ESO accepts (policies and their
//! combinations, Go durations, API versions), the manifest layout (one `data[]` entry per key,
//! or one `dataFrom[].extract`), the store manifest around a provider's block, and the pushed
//! JSON object. Generated manifests hold keys only, never a value: keys of sops files are
//! plaintext, so generation needs no decryption at all.
//! Must not know: the CLI, terminals, the file system (callers name the file and its
//! directory).

pub mod provider;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::k8s::name;
use crate::k8s::secret::{self, Field, SecretDoc};
use crate::secret::SecretBytes;
use crate::tree::{Map, PathElem, Tree, Value};
pub use provider::aws::PushOutcome;
pub use provider::{Provider, StoreSettings};

#[derive(Debug, thiserror::Error)]
pub enum EsoError {
    #[error("{file}: {}: {message}", crate::text::document(*.doc))]
    Input {
        file: String,
        doc: usize,
        message: String,
    },
    #[error(
        "{file}: {}: remote key {key:?} is not a valid {store} name ({why}); change --key-template", crate::text::document(*.doc)
    )]
    BadRemoteKey {
        file: String,
        doc: usize,
        key: String,
        store: &'static str,
        why: String,
    },
    #[error(
        "{file}: cannot name the ExternalSecret after the file or its directory ({why}); pass --name NAME"
    )]
    NoName { file: String, why: String },
    #[error(
        "unknown placeholder {{{0}}} in the key template (use {{env}}, {{namespace}}, {{name}}, {{file}})"
    )]
    Placeholder(String),
    #[error("the key template uses {{env}} but no --env was given")]
    NoEnv,
    /// An option value ESO or the API server would refuse. `option` says where it was set
    /// (`--creation-policy`, or `.sops.yaml: external_secrets.creation_policy`).
    #[error("{option} {value:?}: {why}")]
    BadOption {
        option: String,
        value: String,
        why: String,
    },
    /// Options that are valid alone but not together, or not for this input.
    #[error("{0}")]
    Conflict(String),
    #[error("AWS Secrets Manager: {0}")]
    Push(String),
    /// `--push` with a store it cannot write.
    #[error("--push writes AWS Secrets Manager only; it is not available for {store}: {hint}")]
    NoPush {
        store: &'static str,
        hint: &'static str,
    },
}

impl From<EsoError> for crate::error::Error {
    fn from(e: EsoError) -> Self {
        crate::error::Error::Procedure {
            file: None,
            failure: Box::new(e),
        }
    }
}

impl crate::error::Failure for EsoError {
    fn exit_code(&self) -> crate::error::ExitCode {
        use crate::error::ExitCode as C;
        match self {
            EsoError::Input { .. } | EsoError::BadRemoteKey { .. } | EsoError::NoName { .. } => {
                C::InvalidInput
            }
            EsoError::Placeholder(_)
            | EsoError::NoEnv
            | EsoError::BadOption { .. }
            | EsoError::Conflict(_)
            | EsoError::NoPush { .. } => C::InvalidConfig,
            EsoError::Push(_) => C::CouldNotWriteOutput,
        }
    }
}

/// `SecretStore` or `ClusterSecretStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// Picks `value` from a table of the exact spellings ESO accepts; the error lists them and
/// points at a spelling that differs only in case.
fn choose<T: Copy>(value: &str, table: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, t)) = table.iter().find(|(n, _)| *n == value) {
        return Ok(*t);
    }
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    let hint = table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(value))
        .map(|(n, _)| format!(" (did you mean {n}?)"))
        .unwrap_or_default();
    Err(format!("expected one of {}{hint}", names.join(", ")))
}

/// The `apiVersion` of generated manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// `external-secrets.io/v1` (served since ESO 0.16, the only version since 0.17).
    #[default]
    V1,
    /// `external-secrets.io/v1beta1`, for operators before 0.16.
    V1beta1,
}

impl ApiVersion {
    /// `v1` or `v1beta1`, with or without the `external-secrets.io/` group.
    pub fn parse(s: &str) -> Result<Self, String> {
        choose(
            s.strip_prefix("external-secrets.io/").unwrap_or(s),
            &[("v1", ApiVersion::V1), ("v1beta1", ApiVersion::V1beta1)],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "external-secrets.io/v1",
            ApiVersion::V1beta1 => "external-secrets.io/v1beta1",
        }
    }
}

/// `spec.target.creationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CreationPolicy {
    #[default]
    Owner,
    Orphan,
    Merge,
    None,
    /// `v1` only.
    CreateOrMerge,
}

impl CreationPolicy {
    pub fn parse(s: &str) -> Result<Self, String> {
        use CreationPolicy as P;
        choose(
            s,
            &[
                ("Owner", P::Owner),
                ("Orphan", P::Orphan),
                ("Merge", P::Merge),
                ("None", P::None),
                ("CreateOrMerge", P::CreateOrMerge),
            ],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CreationPolicy::Owner => "Owner",
            CreationPolicy::Orphan => "Orphan",
            CreationPolicy::Merge => "Merge",
            CreationPolicy::None => "None",
            CreationPolicy::CreateOrMerge => "CreateOrMerge",
        }
    }
}

/// `spec.target.deletionPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
    Merge,
}

impl DeletionPolicy {
    pub fn parse(s: &str) -> Result<Self, String> {
        use DeletionPolicy as P;
        choose(
            s,
            &[
                ("Retain", P::Retain),
                ("Delete", P::Delete),
                ("Merge", P::Merge),
            ],
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeletionPolicy::Retain => "Retain",
            DeletionPolicy::Delete => "Delete",
            DeletionPolicy::Merge => "Merge",
        }
    }
}

/// How the ExternalSecret names its remote values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Form {
    /// One `spec.data[]` entry per key (`remoteRef.key` + `property`): the Secret gets exactly
    /// the keys listed.
    #[default]
    Data,
    /// One `spec.dataFrom[].extract` of the remote JSON object: every property becomes a key.
    Extract,
}

/// Nanoseconds in a Go duration unit.
fn go_unit(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a duration as Go's `time.ParseDuration` does (`1h`, `30m`, `1h30m`, `1.5h`,
/// `500ms`, `0`), which is how ESO reads `spec.refreshInterval`, into nanoseconds. Negative
/// durations are refused: a refresh interval cannot be one.
pub fn parse_go_duration(s: &str) -> Result<u64, String> {
    const EXAMPLES: &str = "a Go duration such as 1h, 30m, 1h30m or 0 (no refresh)";
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(format!("expected {EXAMPLES}"));
    }
    let max = i64::MAX as u128;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let int_len = digits(rest);
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(digits(a)),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(format!("expected {EXAMPLES}"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "a number without a unit (units: h, m, s, ms, us, ns); expected {EXAMPLES}"
            ));
        }
        let Some(scale) = go_unit(unit) else {
            let hint = if unit == "d" { "; 1d is 24h" } else { "" };
            return Err(format!(
                "unknown unit {unit:?} (Go durations use h, m, s, ms, us, ns{hint})"
            ));
        };
        let overflow = || "longer than Go's largest duration (about 2562047h)".to_owned();
        let whole = int
            .parse::<u128>()
            .ok()
            .or(int.is_empty().then_some(0))
            .filter(|w| *w <= max)
            .ok_or_else(overflow)?;
        // The first 18 fractional digits are exact in u128 arithmetic; Go rounds beyond them.
        let frac = &frac[..frac.len().min(18)];
        let part = if frac.is_empty() {
            0
        } else {
            let f: u128 = frac.parse().unwrap_or(0);
            f * scale / 10u128.pow(frac.len() as u32)
        };
        total = whole
            .checked_mul(scale)
            .and_then(|v| v.checked_add(part))
            .and_then(|v| v.checked_add(total))
            .filter(|v| *v <= max)
            .ok_or_else(overflow)?;
        rest = after;
    }
    if neg && total > 0 {
        return Err(format!("a negative interval; expected {EXAMPLES}"));
    }
    Ok(total as u64)
}

/// Generation options (flags, or the `external_secrets:` section of `.sops.yaml`).
#[derive(Clone, Debug)]
pub struct Options {
    /// The store the manifests reference.
    pub provider: &'static dyn Provider,
    pub api_version: ApiVersion,
    pub form: Form,
    pub store_name: String,
    pub store_kind: StoreKind,
    /// A Go duration (checked with [`parse_go_duration`]), written as given.
    pub refresh_interval: String,
    pub key_template: String,
    pub env: Option<String>,
    /// Namespace for documents that have none; without it such documents stay namespace-less.
    pub namespace: Option<String>,
    /// Name of what a values file generates (Secret manifests keep their own).
    pub name: Option<String>,
    pub creation_policy: CreationPolicy,
    pub deletion_policy: DeletionPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            provider: provider::default(),
            api_version: ApiVersion::default(),
            form: Form::default(),
            store_name: provider::default().default_store().into(),
            store_kind: StoreKind::ClusterSecretStore,
            refresh_interval: "1h".into(),
            key_template: "{namespace}/{name}".into(),
            env: None,
            namespace: None,
            name: None,
            creation_policy: CreationPolicy::default(),
            deletion_policy: DeletionPolicy::default(),
        }
    }
}

impl Options {
    /// Refuses combinations ESO's admission webhook or the CRD schema rejects, and unknown
    /// placeholders in the key template.
    pub fn check(&self) -> Result<(), EsoError> {
        use CreationPolicy as C;
        use DeletionPolicy as D;
        if self.creation_policy == C::CreateOrMerge && self.api_version == ApiVersion::V1beta1 {
            return Err(EsoError::Conflict(
                "creationPolicy CreateOrMerge exists only in external-secrets.io/v1; use --api-version v1 or another --creation-policy".into(),
            ));
        }
        match (self.creation_policy, self.deletion_policy) {
            (c @ (C::Merge | C::None), D::Delete) => {
                return Err(EsoError::Conflict(format!(
                    "deletionPolicy Delete with creationPolicy {}: ESO deletes only Secrets it owns; use --creation-policy Owner or another --deletion-policy",
                    c.as_str()
                )));
            }
            (C::None, D::Merge) => {
                return Err(EsoError::Conflict(
                    "deletionPolicy Merge with creationPolicy None: there is no Secret to merge into; use another --deletion-policy".into(),
                ));
            }
            _ => {}
        }
        let mut vars = BTreeMap::new();
        for v in ["env", "namespace", "name", "file"] {
            vars.insert(v, String::new());
        }
        render(&self.key_template, &vars)?;
        if self.env.is_some() && !self.key_template.contains("{env}") {
            return Err(EsoError::Conflict(format!(
                "--env has no effect: the key template {:?} has no {{env}} (use e.g. --key-template '{{env}}/{{namespace}}/{{name}}', or drop --env)",
                self.key_template
            )));
        }
        Ok(())
    }
}

/// Where a file's documents came from, for names derived from the file.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file as the user named it, for messages.
    pub label: &'a str,
    /// Its file name (`values.enc.yaml`); `None` for stdin.
    pub file_name: Option<&'a str>,
    /// The name of the directory that holds it (of its absolute path), when there is one.
    pub dir_name: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// A source whose names come from `path` as given (no directory lookup).
    pub fn path(label: &'a str) -> Source<'a> {
        let p = std::path::Path::new(label);
        Source {
            label,
            file_name: p.file_name().and_then(|n| n.to_str()),
            dir_name: p
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str()),
        }
    }
}

/// File stems that name a kind of file rather than its content (as a DNS label): a values
/// file so named takes its directory's name instead.
pub const GENERIC_STEMS: &[&str] = &["env", "values", "secret", "secrets"];

/// A file name without leading dots, format extension and `.enc`/`.sops` marker:
/// `values.enc.yaml` → `values`, `.env` → `env`, `prod.env` → `prod`.
fn stem(file_name: &str) -> &str {
    let mut s = file_name.trim_start_matches('.');
    for ext in [".yaml", ".yml", ".json", ".env", ".ini"] {
        if let Some(t) = strip_suffix_ci(s, ext) {
            s = t;
            break;
        }
    }
    for marker in [".enc", ".sops"] {
        if let Some(t) = strip_suffix_ci(s, marker) {
            s = t;
            break;
        }
    }
    s
}

fn strip_suffix_ci<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let cut = s.len().checked_sub(suffix.len())?;
    (cut > 0 && s.is_char_boundary(cut) && s[cut..].eq_ignore_ascii_case(suffix)).then(|| &s[..cut])
}

/// The name of what a values file generates: `--name`, else the file's stem as a DNS label,
/// else (for a generic stem such as `values` or `.env`) its directory's name.
fn values_name(src: &Source, opts: &Options) -> Result<String, EsoError> {
    if let Some(n) = &opts.name {
        return Ok(n.clone());
    }
    let no_name = |why: String| EsoError::NoName {
        file: src.label.to_owned(),
        why,
    };
    let file_name = src
        .file_name
        .ok_or_else(|| no_name("it was read from stdin".into()))?;
    let from_file = name::to_label(stem(file_name));
    if !from_file.is_empty() && !GENERIC_STEMS.contains(&from_file.as_str()) {
        return Ok(from_file);
    }
    let dir = src.dir_name.map(name::to_label).unwrap_or_default();
    if !dir.is_empty() && !GENERIC_STEMS.contains(&dir.as_str()) {
        return Ok(dir);
    }
    Err(no_name(format!(
        "{file_name:?} names no secret, and {}",
        match src.dir_name {
            Some(d) => format!("neither does its directory {d:?}"),
            None => "it has no directory".into(),
        }
    )))
}

/// Where each generated key's value comes from in the source document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A `data` entry: the value is base64; it is pushed as stored and decoded by ESO.
    Data(String),
    StringData(String),
    /// A leaf of a values file, by path (list elements by index).
    Leaf(Vec<PathElem>),
}

/// One generated ExternalSecret.
#[derive(Clone, Debug)]
pub struct Generated {
    pub name: String,
    /// `None`: the manifest has no `metadata.namespace` (kustomize or `kubectl -n` sets it).
    pub namespace: Option<String>,
    /// The store's name for the remote object ([`Provider::remote_key`] of `rendered_key`).
    pub remote_key: String,
    /// The key template as rendered, before the store's rules (for messages).
    pub rendered_key: String,
    /// (secretKey/property, origin)
    pub keys: Vec<(String, Origin)>,
    /// Every property of the remote object is base64 (the extract form, which has one
    /// `decodingStrategy` for all, when some value is not UTF-8 text).
    pub remote_base64: bool,
    /// Keys whose values are not UTF-8 text: stored base64 in the remote store, and decoded by
    /// ESO (`decodingStrategy: Base64`). Known only once the values are read (`--push`);
    /// until then every value is taken for text.
    pub binary: BTreeSet<String>,
    pub manifest: Map,
    pub doc: usize,
    /// What the manifest is made from, to make it again once binary keys are known.
    described: Described,
    opts: Options,
}

impl Generated {
    /// `namespace/name`, or `name` for a namespace-less manifest.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn render(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, EsoError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or_else(|| EsoError::Placeholder(rest[start + 1..].to_owned()))?;
        let name = &rest[start + 1..end];
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None if name == "env" => return Err(EsoError::NoEnv),
            None => return Err(EsoError::Placeholder(name.to_owned())),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The paths of a values document's scalar leaves (only encrypted ones when `only_encrypted`),
/// through mappings and lists alike: nothing below the top level is skipped.
fn leaf_paths(
    v: &Value,
    path: &mut Vec<PathElem>,
    out: &mut Vec<Vec<PathElem>>,
    only_encrypted: bool,
) {
    match v {
        Value::Map(m) => {
            for (k, v) in m.pairs() {
                path.push(PathElem::Key(k.clone()));
                leaf_paths(v, path, out, only_encrypted);
                path.pop();
            }
        }
        Value::List(items) => {
            let values = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
            for (i, v) in values.enumerate() {
                path.push(PathElem::Index(i));
                leaf_paths(v, path, out, only_encrypted);
                path.pop();
            }
        }
        Value::Scalar(s) if !only_encrypted || crate::crypto::is_enc(s.bytes()) => {
            out.push(path.clone())
        }
        _ => {}
    }
}

/// The Secret key of a values-file leaf: its path joined with dots (`db.password`,
/// `db.replicas.0.password` for a list element).
fn key_of(path: &[PathElem]) -> String {
    path.iter()
        .map(|p| match p {
            PathElem::Key(k) => k.clone(),
            PathElem::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "mapping",
        Value::List(_) => "list",
        _ => "value",
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    Value::Map(m)
}

fn into_map(v: Value) -> Map {
    match v {
        Value::Map(m) => m,
        _ => Map::new(),
    }
}

/// Generates ExternalSecrets for every document of a file. `tree` may still be encrypted
/// (metadata split off) or plain; `encrypted` says which, so that only encrypted leaves of a
/// values file become secret keys.
pub fn generate(
    src: &Source,
    tree: &Tree,
    encrypted: bool,
    opts: &Options,
) -> Result<Vec<Generated>, EsoError> {
    let mut out = Vec::new();
    for (doc, branch) in tree.branches.iter().enumerate() {
        if branch.pairs().next().is_none() {
            continue;
        }
        if let Some(g) = generate_one(src, doc, branch, encrypted, opts)? {
            out.push(g);
        }
    }
    Ok(out)
}

/// What one document is: a Secret manifest or a values file.
#[derive(Clone, Debug)]
struct Described {
    keys: Vec<(String, Origin)>,
    name: String,
    namespace: Option<String>,
    secret_type: String,
    labels: Option<Map>,
    annotations: Option<Map>,
}

/// The ExternalSecret of one document, `None` when it holds no secret key.
fn generate_one(
    src: &Source,
    doc: usize,
    branch: &Map,
    encrypted: bool,
    opts: &Options,
) -> Result<Option<Generated>, EsoError> {
    let file = src.label;
    let input = |message: String| EsoError::Input {
        file: file.to_owned(),
        doc,
        message,
    };
    let encrypted_kind = branch
        .get("kind")
        .and_then(Value::as_scalar)
        .is_some_and(|k| crate::crypto::is_enc(k.bytes()));
    if encrypted_kind && branch.get("apiVersion").is_some() {
        return Err(input(
            "kind is encrypted, so whether this is a Secret cannot be read without decrypting; encrypt manifests with --encrypted-regex '^(data|stringData)$'".into(),
        ));
    }
    let Some(d) = describe(src, doc, branch, encrypted, opts)? else {
        return Ok(None);
    };
    let (rendered_key, remote_key) = remote_key_of(src, doc, &d, opts)?;
    let binary = BTreeSet::new();
    let manifest = manifest(&d, &remote_key, &binary, opts);
    Ok(Some(Generated {
        name: d.name.clone(),
        namespace: d.namespace.clone(),
        remote_key,
        rendered_key,
        keys: d.keys.clone(),
        remote_base64: false,
        binary,
        manifest,
        doc,
        described: d,
        opts: opts.clone(),
    }))
}

/// Whether a document is a Kubernetes object: it has `apiVersion` and `kind`.
fn is_object(branch: &Map) -> bool {
    let scalar = |k: &str| branch.get(k).and_then(Value::as_scalar).is_some();
    scalar("apiVersion") && scalar("kind")
}

/// The secret keys of a Secret manifest (`data` and `stringData` entries, in order).
fn secret_keys(
    sd: &SecretDoc,
    input: impl Fn(String) -> EsoError,
) -> Result<Vec<(String, Origin)>, EsoError> {
    let mut keys = Vec::new();
    for e in sd.keys() {
        if matches!(e.value, Value::Map(_) | Value::List(_)) {
            return Err(input(format!(
                "{}.{} is a {}, but a Secret value must be a string",
                e.field.name(),
                e.key,
                kind_of(e.value)
            )));
        }
        let origin = match e.field {
            Field::Data => Origin::Data(e.key.to_owned()),
            Field::StringData => Origin::StringData(e.key.to_owned()),
        };
        keys.push((e.key.to_owned(), origin));
    }
    Ok(keys)
}

/// The secret keys of a values file: its (encrypted) leaves, by dotted path.
fn values_keys(
    branch: &Map,
    encrypted: bool,
    input: impl Fn(String) -> EsoError,
) -> Result<Vec<(String, Origin)>, EsoError> {
    let mut paths = Vec::new();
    leaf_paths(
        &Value::Map(branch.clone()),
        &mut Vec::new(),
        &mut paths,
        encrypted,
    );
    let mut seen: BTreeMap<String, &[PathElem]> = BTreeMap::new();
    for p in &paths {
        if let Some(first) = seen.insert(key_of(p), p) {
            return Err(input(format!(
                "{} and {} both become the Secret key {:?}; rename one",
                crate::tree::format_path(first),
                crate::tree::format_path(p),
                key_of(p)
            )));
        }
    }
    Ok(paths
        .iter()
        .map(|p| (key_of(p), Origin::Leaf(p.clone())))
        .collect())
}

/// Reads one document as a Secret manifest or a values file: its keys, name, namespace and
/// what the target Secret keeps (type, labels, annotations). `None` without secret keys.
fn describe(
    src: &Source,
    doc: usize,
    branch: &Map,
    encrypted: bool,
    opts: &Options,
) -> Result<Option<Described>, EsoError> {
    let file = src.label;
    let input = |message: String| EsoError::Input {
        file: file.to_owned(),
        doc,
        message,
    };
    let secret = SecretDoc::of(branch);
    // Another Kubernetes object (a Deployment, a ConfigMap) is not a values file: skipped.
    if secret.is_none() && is_object(branch) {
        return Ok(None);
    }
    let keys = match &secret {
        Some(_) if opts.name.is_some() => {
            return Err(EsoError::Conflict(format!(
                "{file}: {} is a Secret manifest, named by its metadata.name; --name names values files only",
                crate::text::document(doc)
            )));
        }
        Some(sd) => secret_keys(sd, input)?,
        None => values_keys(branch, encrypted, input)?,
    };
    if keys.is_empty() {
        return Ok(None);
    }
    for (k, _) in &keys {
        if !secret::valid_key(k) {
            return Err(input(format!(
                "key {k:?} is not a valid Kubernetes Secret key ([-._a-zA-Z0-9]+, at most 253 characters)"
            )));
        }
    }
    let Some(sd) = secret else {
        return Ok(Some(Described {
            keys,
            name: values_name(src, opts)?,
            namespace: opts.namespace.clone(),
            secret_type: "Opaque".to_owned(),
            labels: None,
            annotations: None,
        }));
    };
    let name = sd
        .name()
        .ok_or_else(|| input("the Secret has no metadata.name".into()))?;
    name::check_subdomain(&name).map_err(|why| {
        input(format!(
            "metadata.name {name:?} is not a valid Kubernetes name: {why}"
        ))
    })?;
    let manifest_ns = sd.namespace();
    if let Some(ns) = &manifest_ns {
        name::check_label(ns).map_err(|why| {
            input(format!(
                "metadata.namespace {ns:?} is not a valid namespace: {why}"
            ))
        })?;
    }
    let mut annotations = sd.annotations().cloned();
    if let Some(a) = annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    Ok(Some(Described {
        keys,
        name,
        namespace: manifest_ns.or_else(|| opts.namespace.clone()),
        secret_type: sd.type_(),
        labels: sd.labels().cloned(),
        annotations,
    }))
}

/// The rendered key template and the store's name for it.
fn remote_key_of(
    src: &Source,
    doc: usize,
    d: &Described,
    opts: &Options,
) -> Result<(String, String), EsoError> {
    let file_var = src
        .file_name
        .map(|f| name::to_label(stem(f)))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| d.name.clone());
    let mut vars = BTreeMap::new();
    vars.insert("name", d.name.clone());
    vars.insert("file", file_var);
    if let Some(e) = &opts.env {
        vars.insert("env", e.clone());
    }
    match &d.namespace {
        Some(ns) => {
            vars.insert("namespace", ns.clone());
        }
        None if opts.key_template.contains("{namespace}") => {
            return Err(EsoError::Input {
                file: src.label.to_owned(),
                doc,
                message: format!(
                    "{} has no namespace (none in the manifest, no --namespace), but the key template {:?} uses {{namespace}}; pass --namespace, or a --key-template without it such as \"{{env}}/{{name}}\"",
                    d.name, opts.key_template
                ),
            });
        }
        None => {}
    }
    let rendered = render(&opts.key_template, &vars)?;
    let remote = opts
        .provider
        .remote_key(&rendered)
        .map_err(|why| EsoError::BadRemoteKey {
            file: src.label.to_owned(),
            doc,
            key: rendered.clone(),
            store: opts.provider.title(),
            why,
        })?;
    Ok((rendered, remote))
}

/// The ExternalSecret manifest of a described document.
fn manifest(d: &Described, remote_key: &str, binary: &BTreeSet<String>, opts: &Options) -> Map {
    let mut tmeta = Vec::new();
    if let Some(l) = d.labels.clone().filter(|l| l.pairs().next().is_some()) {
        tmeta.push(("labels", Value::Map(l)));
    }
    if let Some(a) = d.annotations.clone().filter(|a| a.pairs().next().is_some()) {
        tmeta.push(("annotations", Value::Map(a)));
    }
    let mut template = vec![("type", s(&d.secret_type))];
    if !tmeta.is_empty() {
        template.push(("metadata", map(tmeta)));
    }
    let source = match opts.form {
        Form::Data => (
            "data",
            Value::List(
                d.keys
                    .iter()
                    .map(|(k, _)| {
                        let mut remote = vec![("key", s(remote_key)), ("property", s(k))];
                        if binary.contains(k) {
                            remote.push(("decodingStrategy", s("Base64")));
                        }
                        map(vec![("secretKey", s(k)), ("remoteRef", map(remote))])
                    })
                    .collect(),
            ),
        ),
        Form::Extract => {
            let mut extract = vec![("key", s(remote_key))];
            if !binary.is_empty() {
                extract.push(("decodingStrategy", s("Base64")));
            }
            (
                "dataFrom",
                Value::List(vec![map(vec![("extract", map(extract))])]),
            )
        }
    };
    let mut metadata = vec![("name", s(&d.name))];
    if let Some(ns) = &d.namespace {
        metadata.push(("namespace", s(ns)));
    }
    into_map(map(vec![
        ("apiVersion", s(opts.api_version.as_str())),
        ("kind", s("ExternalSecret")),
        ("metadata", map(metadata)),
        (
            "spec",
            map(vec![
                ("refreshInterval", s(&opts.refresh_interval)),
                (
                    "secretStoreRef",
                    map(vec![
                        ("name", s(&opts.store_name)),
                        ("kind", s(opts.store_kind.as_str())),
                    ]),
                ),
                (
                    "target",
                    map(vec![
                        ("name", s(&d.name)),
                        ("creationPolicy", s(opts.creation_policy.as_str())),
                        ("deletionPolicy", s(opts.deletion_policy.as_str())),
                        ("template", map(template)),
                    ]),
                ),
                source,
            ]),
        ),
    ]))
}

/// The `SecretStore` (namespaced, in `opts.namespace` when given) or `ClusterSecretStore`
/// the manifests reference, named `opts.store_name`, with the provider's block: a skeleton
/// whose authentication is left to fill in and explained in comments.
pub fn store_manifest(opts: &Options, settings: &StoreSettings) -> Map {
    let mut metadata = vec![("name", s(&opts.store_name))];
    if opts.store_kind == StoreKind::SecretStore
        && let Some(ns) = &opts.namespace
    {
        metadata.push(("namespace", s(ns)));
    }
    let mut provider = Map::new();
    provider.insert(
        opts.provider.name(),
        Value::Map(opts.provider.store_block(settings)),
    );
    into_map(map(vec![
        ("apiVersion", s(opts.api_version.as_str())),
        ("kind", s(opts.store_kind.as_str())),
        ("metadata", map(metadata)),
        ("spec", map(vec![("provider", Value::Map(provider))])),
    ]))
}

/// Refuses generated ExternalSecrets that cannot coexist: two with the same namespace and
/// name (the second would fight the first for its Secret), or two sharing a remote key (their
/// pushed values would overwrite each other). `items` are (file, generated) in input order.
pub fn check_unique(items: &[(&str, &Generated)]) -> Result<(), EsoError> {
    let mut ids: BTreeMap<String, (&str, usize)> = BTreeMap::new();
    let mut remotes: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for (file, g) in items {
        let clash = |message: String| EsoError::Input {
            file: (*file).to_owned(),
            doc: g.doc,
            message,
        };
        if let Some((f, d)) = ids.insert(g.id(), (file, g.doc)) {
            return Err(clash(format!(
                "ExternalSecret {} is also generated from {f} ({}); rename one (a values file: run it alone with --name)",
                g.id(),
                crate::text::document(d)
            )));
        }
        if let Some((f, d)) = remotes.insert(&g.remote_key, (file, g.doc)) {
            let derived = if g.rendered_key == g.remote_key {
                String::new()
            } else {
                format!(" (derived from {})", g.rendered_key)
            };
            return Err(clash(format!(
                "remote key {}{derived} is also used for {f} ({}), so their values would overwrite each other; use a --key-template that tells them apart (e.g. with {{namespace}} or {{file}})",
                g.remote_key,
                crate::text::document(d)
            )));
        }
    }
    Ok(())
}

/// A decrypted value as pushed: borrowed from the decrypted tree, or a wiped buffer.
enum Text<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

/// A JSON object of string properties, in the given order.
struct Object<'a>(&'a [(&'a str, Text<'a>)]);

impl serde::Serialize for Object<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_map(self.0.iter().map(|(k, v)| (*k, v.as_str())))
    }
}

impl Generated {
    /// The value of each key from the decrypted document, as bytes (`data` entries decoded from
    /// base64), in a wiped buffer.
    fn values(&self, plain: &Tree) -> Result<Vec<(&str, SecretBytes)>, EsoError> {
        let branch = plain
            .branches
            .get(self.doc)
            .ok_or_else(|| EsoError::Push("document vanished".into()))?;
        let mut out = Vec::with_capacity(self.keys.len());
        for (k, origin) in &self.keys {
            let v = match origin {
                Origin::Data(k) => branch
                    .get("data")
                    .and_then(Value::as_map)
                    .and_then(|m| m.get(k)),
                Origin::StringData(k) => branch
                    .get("stringData")
                    .and_then(Value::as_map)
                    .and_then(|m| m.get(k)),
                Origin::Leaf(path) => crate::tree::lookup(branch, path),
            };
            let bytes: &[u8] = match v {
                Some(Value::Scalar(sc)) => match sc.kind {
                    crate::tree::Kind::Bool if sc.as_bool() == Some(true) => b"true",
                    crate::tree::Kind::Bool => b"false",
                    _ => sc.bytes(),
                },
                Some(Value::Null) | None => b"",
                Some(_) => return Err(EsoError::Push(format!("value of {k} is not a scalar"))),
            };
            let value = match origin {
                Origin::Data(_) => {
                    let trimmed: Vec<u8> = bytes
                        .iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect();
                    let trimmed = Zeroizing::new(trimmed);
                    SecretBytes::new(B64.decode(&*trimmed).map_err(|_| {
                        EsoError::Push(format!("data value of {k} is not valid base64"))
                    })?)
                }
                _ => SecretBytes::from_slice(bytes),
            };
            out.push((k.as_str(), value));
        }
        Ok(out)
    }

    /// Learns which values are not UTF-8 text (they will be stored base64, and ESO told to
    /// decode them) and makes the manifest again accordingly. In the extract form one
    /// `decodingStrategy` covers every key, so one binary value makes all of them base64.
    pub fn mark_binary(&mut self, plain: &Tree) -> Result<(), EsoError> {
        self.binary = self
            .values(plain)?
            .into_iter()
            .filter(|(_, v)| std::str::from_utf8(v.expose()).is_err())
            .map(|(k, _)| k.to_owned())
            .collect();
        self.remote_base64 = self.opts.form == Form::Extract && !self.binary.is_empty();
        self.manifest = manifest(&self.described, &self.remote_key, &self.binary, &self.opts);
        Ok(())
    }
}

/// The values to push for one generated ExternalSecret, from the decrypted document: a JSON
/// object with one property per key. Text values are stored as the text they are (so anyone
/// reading the remote secret, or fixing it in the console, sees the real value); values that
/// are not UTF-8 are stored base64 (see [`Generated::mark_binary`], which must run first). The
/// plaintext is never copied outside wiped buffers.
pub fn payload(g: &Generated, plain: &Tree) -> Result<SecretBytes, EsoError> {
    let values = g.values(plain)?;
    let mut props: Vec<(&str, Text)> = Vec::with_capacity(values.len());
    for (k, bytes) in &values {
        let as_base64 = g.remote_base64 || g.binary.contains(*k);
        let text = if as_base64 {
            let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
            let mut buf = Zeroizing::new(String::with_capacity(len));
            B64.encode_string(bytes.expose(), &mut buf);
            Text::Owned(buf)
        } else {
            Text::Borrowed(std::str::from_utf8(bytes.expose()).map_err(|_| {
                EsoError::Push(format!(
                    "value of {k} is not UTF-8 text (run mark_binary first)"
                ))
            })?)
        };
        props.push((k, text));
    }
    // JSON escapes take at most 6 bytes per input byte: reserve once, so the buffer never
    // reallocates and leaves an unwiped copy behind.
    let bound = 2 + props
        .iter()
        .map(|(k, v)| 6 * (k.len() + v.as_str().len()) + 6)
        .sum::<usize>();
    let mut buf = Zeroizing::new(Vec::with_capacity(bound));
    serde_json::to_writer(&mut *buf, &Object(&props))
        .map_err(|e| EsoError::Push(format!("encoding the values: {e}")))?;
    Ok(SecretBytes::new(std::mem::take(&mut *buf)))
}

/// Writes generated manifests as one YAML stream.
pub fn to_yaml(items: &[&Generated]) -> Vec<u8> {
    let manifests: Vec<&Map> = items.iter().map(|g| &g.manifest).collect();
    manifests_yaml(&manifests)
}

/// Writes manifests (a store, ExternalSecrets) as one YAML stream, comments kept.
pub fn manifests_yaml(items: &[&Map]) -> Vec<u8> {
    let tree = Tree {
        branches: items.iter().map(|m| (*m).clone()).collect(),
        hints: crate::tree::Hints {
            explicit_start: items.len() > 1,
            seq_indent: Some(false),
            ..Default::default()
        },
    };
    crate::store::emit(
        crate::store::Format::Yaml,
        &tree,
        crate::store::EmitOptions { indent: Some(2) },
    )
    .expect("manifests are plain text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_names() {
        let mut vars = BTreeMap::new();
        vars.insert("namespace", "demo".to_owned());
        vars.insert("name", "db".to_owned());
        assert_eq!(render("{namespace}/{name}", &vars).unwrap(), "demo/db");
        assert!(matches!(
            render("{env}/{name}", &vars),
            Err(EsoError::NoEnv)
        ));
        assert!(matches!(
            render("{nope}", &vars),
            Err(EsoError::Placeholder(_))
        ));
    }

    #[test]
    fn go_durations() {
        let ns = |s: &str| parse_go_duration(s);
        assert_eq!(ns("0"), Ok(0));
        assert_eq!(ns("0s"), Ok(0));
        assert_eq!(ns("-0"), Ok(0));
        assert_eq!(ns("1h"), Ok(3_600_000_000_000));
        assert_eq!(ns("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(ns("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(ns("1h0m0s"), Ok(3_600_000_000_000));
        assert_eq!(ns("+30m"), Ok(1_800_000_000_000));
        assert_eq!(ns(".5s"), Ok(500_000_000));
        assert_eq!(ns("1.s"), Ok(1_000_000_000));
        assert_eq!(ns("300ms"), Ok(300_000_000));
        assert_eq!(ns("2us"), Ok(2_000));
        assert_eq!(ns("2\u{b5}s"), Ok(2_000));
        assert_eq!(ns("2\u{3bc}s"), Ok(2_000));
        assert_eq!(ns("10ns"), Ok(10));
        assert_eq!(ns("2562047h"), Ok(2_562_047 * 3_600_000_000_000));
        for bad in [
            "",
            "1",
            "30",
            "h",
            "1d",
            "1 h",
            "1H",
            "-1h",
            "1h-",
            ".",
            ".s",
            "1..5s",
            "1h30",
            "2562048h",
            "99999999999999999999999h",
            "1e3s",
        ] {
            assert!(ns(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(ns("1d").unwrap_err().contains("24h"));
        assert!(ns("-1h").unwrap_err().contains("negative"));
    }

    #[test]
    fn policies_and_versions() {
        assert_eq!(CreationPolicy::parse("Merge"), Ok(CreationPolicy::Merge));
        assert!(
            CreationPolicy::parse("owner")
                .unwrap_err()
                .contains("did you mean Owner?")
        );
        assert!(DeletionPolicy::parse("Orphan").is_err());
        assert_eq!(ApiVersion::parse("v1beta1"), Ok(ApiVersion::V1beta1));
        assert_eq!(
            ApiVersion::parse("external-secrets.io/v1"),
            Ok(ApiVersion::V1)
        );
        assert!(ApiVersion::parse("v1alpha1").is_err());
        let with = |c, d, v| Options {
            creation_policy: c,
            deletion_policy: d,
            api_version: v,
            ..Options::default()
        };
        use CreationPolicy as C;
        use DeletionPolicy as D;
        assert!(with(C::Owner, D::Delete, ApiVersion::V1).check().is_ok());
        assert!(with(C::Merge, D::Delete, ApiVersion::V1).check().is_err());
        assert!(with(C::None, D::Delete, ApiVersion::V1).check().is_err());
        assert!(with(C::None, D::Merge, ApiVersion::V1).check().is_err());
        assert!(
            with(C::CreateOrMerge, D::Retain, ApiVersion::V1)
                .check()
                .is_ok()
        );
        assert!(
            with(C::CreateOrMerge, D::Retain, ApiVersion::V1beta1)
                .check()
                .is_err()
        );
        let bad_template = Options {
            key_template: "{nmespace}/{name}".into(),
            ..Options::default()
        };
        assert!(matches!(
            bad_template.check(),
            Err(EsoError::Placeholder(p)) if p == "nmespace"
        ));
    }

    #[test]
    fn names_of_values_files() {
        let opts = Options::default();
        let name = |path: &str| values_name(&Source::path(path), &opts);
        assert_eq!(name("shop/.env").unwrap(), "shop");
        assert_eq!(name("charts/payments/values.yaml").unwrap(), "payments");
        assert_eq!(name("x/secrets.enc.yaml").unwrap(), "x");
        assert_eq!(name("k8s/DB_Creds.enc.yaml").unwrap(), "db-creds");
        assert_eq!(name("prod.env").unwrap(), "prod");
        assert_eq!(name("My App/.env").unwrap(), "my-app");
        for p in ["secrets/values.yaml", ".env", "__/.env", "-"] {
            let e = name(p).unwrap_err().to_string();
            assert!(e.contains("pass --name"), "{p}: {e}");
        }
        let named = Options {
            name: Some("custom".into()),
            ..Options::default()
        };
        assert_eq!(
            values_name(&Source::path("shop/.env"), &named).unwrap(),
            "custom"
        );
        assert_eq!(stem("values.enc.yaml"), "values");
        assert_eq!(stem(".env"), "env");
        assert_eq!(stem("a.sops.JSON"), "a");
        assert_eq!(stem(".yaml"), "yaml");
    }
}
