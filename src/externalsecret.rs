//! ExternalSecret generation: turn (encrypted or plain) Secret manifests and values files into
//! `external-secrets.io/v1` `ExternalSecret` manifests that reference a secret store, and push
//! the values to AWS Secrets Manager at exactly the referenced keys.
//!
//! Owns: the naming template (`{env}`, `{namespace}`, `{name}`, `{file}`), provider name rules,
//! the manifest layout, and the idempotent push. Generated manifests hold keys only, never a
//! value: keys of sops files are plaintext, so generation needs no decryption at all.
//! Must not know: the CLI, terminals, file writing.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client;

use crate::k8s::secret::{self, Field, SecretDoc};
use crate::secret::SecretBytes;
use crate::tree::{Map, Tree, Value};

#[derive(Debug, thiserror::Error)]
pub enum EsoError {
    #[error("{file}: document {doc}: {message}")]
    Input {
        file: String,
        doc: usize,
        message: String,
    },
    #[error(
        "{file}: document {doc}: remote key {key:?} is not a valid AWS Secrets Manager name ({why}); change --key-template"
    )]
    BadRemoteKey {
        file: String,
        doc: usize,
        key: String,
        why: String,
    },
    #[error(
        "unknown placeholder {{{0}}} in the key template (use {{env}}, {{namespace}}, {{name}}, {{file}})"
    )]
    Placeholder(String),
    #[error("the key template uses {{env}} but no --env was given")]
    NoEnv,
    #[error("AWS Secrets Manager: {0}")]
    Push(String),
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
            EsoError::Input { .. } | EsoError::BadRemoteKey { .. } => C::InvalidInput,
            EsoError::Placeholder(_) | EsoError::NoEnv => C::InvalidConfig,
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
    fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// Generation options (flags, or the `external_secrets:` section of `.sops.yaml`).
#[derive(Clone, Debug)]
pub struct Options {
    pub store_name: String,
    pub store_kind: StoreKind,
    pub refresh_interval: String,
    pub key_template: String,
    pub env: Option<String>,
    /// Namespace for documents that have none.
    pub namespace: Option<String>,
    pub creation_policy: String,
    pub deletion_policy: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            store_name: "aws-secrets-manager".into(),
            store_kind: StoreKind::ClusterSecretStore,
            refresh_interval: "1h".into(),
            key_template: "{namespace}/{name}".into(),
            env: None,
            namespace: None,
            creation_policy: "Owner".into(),
            deletion_policy: "Retain".into(),
        }
    }
}

/// Where each generated key's value comes from in the source document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A `data` entry: the value is base64; it is pushed as stored and decoded by ESO.
    Data(String),
    StringData(String),
    /// A leaf of a values file, by path.
    Leaf(Vec<String>),
}

/// One generated ExternalSecret.
#[derive(Clone, Debug)]
pub struct Generated {
    pub name: String,
    pub namespace: String,
    pub remote_key: String,
    /// (secretKey/property, origin)
    pub keys: Vec<(String, Origin)>,
    pub manifest: Map,
    pub doc: usize,
}

fn text(m: &Map, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_text).filter(|s| !s.is_empty())
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

/// AWS Secrets Manager: 1–512 characters of `A-Za-z0-9/_+=.@-`.
fn check_aws_name(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 512 {
        return Err("it must be 1 to 512 characters".into());
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Err(format!("{c:?} is not allowed"));
    }
    Ok(())
}

/// A valid Kubernetes Secret key (`[-._a-zA-Z0-9]+`).
fn leaf_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>, only_encrypted: bool) {
    match v {
        Value::Map(m) => {
            for (k, v) in m.pairs() {
                path.push(k.clone());
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

/// Generates ExternalSecrets for every document of a file. `tree` may still be encrypted
/// (metadata split off) or plain; `encrypted` says which, so that only encrypted leaves of a
/// values file become secret keys.
pub fn generate(
    file: &str,
    tree: &Tree,
    encrypted: bool,
    opts: &Options,
) -> Result<Vec<Generated>, EsoError> {
    let stem = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().trim_end_matches(".enc").to_owned())
        .unwrap_or_else(|| "secret".into());
    let mut out = Vec::new();
    for (doc, branch) in tree.branches.iter().enumerate() {
        if branch.pairs().next().is_none() {
            continue;
        }
        let input = |message: String| EsoError::Input {
            file: file.to_owned(),
            doc,
            message,
        };
        let secret = SecretDoc::of(branch);
        let meta = branch
            .get("metadata")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default();
        let (name, keys, secret_type, labels, annotations) = if let Some(sd) = secret {
            let name = sd
                .name()
                .ok_or_else(|| input("the Secret has no metadata.name".into()))?;
            let keys: Vec<(String, Origin)> = sd
                .keys()
                .into_iter()
                .map(|e| {
                    let origin = match e.field {
                        Field::Data => Origin::Data(e.key.to_owned()),
                        Field::StringData => Origin::StringData(e.key.to_owned()),
                    };
                    (e.key.to_owned(), origin)
                })
                .collect();
            let labels = sd.labels().cloned();
            let mut annotations = sd.annotations().cloned();
            if let Some(a) = annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
            (name, keys, sd.type_(), labels, annotations)
        } else {
            let mut paths = Vec::new();
            leaf_paths(
                &Value::Map(branch.clone()),
                &mut Vec::new(),
                &mut paths,
                encrypted,
            );
            let keys = paths
                .into_iter()
                .map(|p| (p.join("."), Origin::Leaf(p)))
                .collect();
            (stem.clone(), keys, "Opaque".to_owned(), None, None)
        };
        if keys.is_empty() {
            continue;
        }
        for (k, _) in &keys {
            if !secret::valid_key(k) {
                return Err(input(format!(
                    "key {k:?} is not a valid Kubernetes Secret key ([-._a-zA-Z0-9]+)"
                )));
            }
        }
        let namespace = text(&meta, "namespace")
            .or_else(|| opts.namespace.clone())
            .ok_or_else(|| {
                input(format!(
                    "{name} has no metadata.namespace; pass --namespace"
                ))
            })?;
        let mut vars = BTreeMap::new();
        vars.insert("namespace", namespace.clone());
        vars.insert("name", name.clone());
        vars.insert("file", stem.clone());
        if let Some(e) = &opts.env {
            vars.insert("env", e.clone());
        }
        let remote_key = render(&opts.key_template, &vars)?;
        check_aws_name(&remote_key).map_err(|why| EsoError::BadRemoteKey {
            file: file.to_owned(),
            doc,
            key: remote_key.clone(),
            why,
        })?;

        let mut tmeta = Vec::new();
        if let Some(l) = labels.filter(|l| l.pairs().next().is_some()) {
            tmeta.push(("labels", Value::Map(l)));
        }
        if let Some(a) = annotations.filter(|a| a.pairs().next().is_some()) {
            tmeta.push(("annotations", Value::Map(a)));
        }
        let mut template = vec![("type", s(&secret_type))];
        if !tmeta.is_empty() {
            template.push(("metadata", map(tmeta)));
        }
        let data = keys
            .iter()
            .map(|(k, origin)| {
                let mut remote = vec![("key", s(&remote_key)), ("property", s(k))];
                if matches!(origin, Origin::Data(_)) {
                    remote.push(("decodingStrategy", s("Base64")));
                }
                map(vec![("secretKey", s(k)), ("remoteRef", map(remote))])
            })
            .collect();
        let manifest = match map(vec![
            ("apiVersion", s("external-secrets.io/v1")),
            ("kind", s("ExternalSecret")),
            (
                "metadata",
                map(vec![("name", s(&name)), ("namespace", s(&namespace))]),
            ),
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
                            ("name", s(&name)),
                            ("creationPolicy", s(&opts.creation_policy)),
                            ("deletionPolicy", s(&opts.deletion_policy)),
                            ("template", map(template)),
                        ]),
                    ),
                    ("data", Value::List(data)),
                ]),
            ),
        ]) {
            Value::Map(m) => m,
            _ => unreachable!(),
        };
        out.push(Generated {
            name,
            namespace,
            remote_key,
            keys,
            manifest,
            doc,
        });
    }
    Ok(out)
}

/// The values to push for one generated ExternalSecret, from the decrypted document: a JSON
/// object with one property per key (`data` values stay base64, as referenced).
pub fn payload(g: &Generated, plain: &Tree) -> Result<SecretBytes, EsoError> {
    let branch = plain
        .branches
        .get(g.doc)
        .ok_or_else(|| EsoError::Push("document vanished".into()))?;
    let mut obj = serde_json::Map::new();
    for (k, origin) in &g.keys {
        let v = match origin {
            Origin::Data(k) => branch
                .get("data")
                .and_then(Value::as_map)
                .and_then(|m| m.get(k)),
            Origin::StringData(k) => branch
                .get("stringData")
                .and_then(Value::as_map)
                .and_then(|m| m.get(k)),
            Origin::Leaf(path) => {
                let p: Vec<crate::tree::PathElem> = path
                    .iter()
                    .map(|s| crate::tree::PathElem::Key(s.clone()))
                    .collect();
                crate::tree::lookup(branch, &p)
            }
        };
        let text = match v {
            Some(Value::Scalar(sc)) => match sc.kind {
                crate::tree::Kind::Bool => if sc.as_bool() == Some(true) {
                    "true"
                } else {
                    "false"
                }
                .to_owned(),
                _ => String::from_utf8(sc.bytes().to_vec()).map_err(|_| {
                    EsoError::Push(format!(
                        "value of {k} is not UTF-8; store it under data (base64) instead"
                    ))
                })?,
            },
            Some(Value::Null) | None => String::new(),
            Some(_) => return Err(EsoError::Push(format!("value of {k} is not a scalar"))),
        };
        obj.insert(k.clone(), serde_json::Value::String(text));
    }
    Ok(SecretBytes::from(
        serde_json::Value::Object(obj).to_string(),
    ))
}

/// What a push did (or would do) for one remote key.
#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Created,
    Updated,
    Unchanged,
}

fn sm_err<E: std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    e: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    let chain = crate::text::one_line(e);
    if chain.contains("credentials") || chain.contains("Credentials") {
        format!(
            "{chain}; configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role)"
        )
    } else {
        chain
    }
}

/// Creates or updates one secret, idempotently.
pub async fn push(
    client: &Client,
    key: &str,
    value: &SecretBytes,
    dry_run: bool,
) -> Result<PushOutcome, EsoError> {
    let wanted = value.as_str().unwrap_or_default();
    let current = client.get_secret_value().secret_id(key).send().await;
    let outcome = match current {
        Ok(cur) => {
            if cur.secret_string() == Some(wanted) {
                PushOutcome::Unchanged
            } else {
                PushOutcome::Updated
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            PushOutcome::Created
        }
        Err(e) => return Err(EsoError::Push(format!("reading {key}: {}", sm_err(&e)))),
    };
    if dry_run {
        return Ok(outcome);
    }
    match outcome {
        PushOutcome::Created => {
            client
                .create_secret()
                .name(key)
                .secret_string(wanted)
                .send()
                .await
                .map_err(|e| EsoError::Push(format!("creating {key}: {}", sm_err(&e))))?;
        }
        PushOutcome::Updated => {
            client
                .put_secret_value()
                .secret_id(key)
                .secret_string(wanted)
                .send()
                .await
                .map_err(|e| EsoError::Push(format!("updating {key}: {}", sm_err(&e))))?;
        }
        PushOutcome::Unchanged => {}
    }
    Ok(outcome)
}

/// A Secrets Manager client from the standard AWS chain (`AWS_ENDPOINT_URL`, profiles, IRSA).
pub async fn client(region: Option<String>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    Client::new(&loader.load().await)
}

/// Writes generated manifests as one YAML stream.
pub fn to_yaml(items: &[&Generated]) -> Vec<u8> {
    let tree = Tree {
        branches: items.iter().map(|g| g.manifest.clone()).collect(),
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
        assert!(check_aws_name("prod/demo/db").is_ok());
        assert!(check_aws_name("prod demo").is_err());
    }
}
