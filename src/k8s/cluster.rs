//! Objects shroud reads and writes through the Kubernetes API client outside reconciliation:
//! the controller's key Secret (read for a backup, recreated by a restore) and the ConfigMap in
//! which the controller publishes the public recipients developers encrypt for.
//!
//! Owns: connecting with the standard configuration (KUBECONFIG or in-cluster), reading a
//! Secret's entries and creating or replacing one, reading and applying the recipients
//! ConfigMap. Must not know: backup bundles, age, the CLI, reconciliation. Errors name the
//! object, never a Secret's content.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ObjectMeta, Patch, PatchParams};

use super::secret::LAST_APPLIED;
use super::wiped::{self, WipedSecret};
use crate::secret::SecretBytes;

/// The entry of the controller's key Secret that holds its age identities (the same name as
/// sops's default key file, `keys.txt`). `keys restore --to-secret` writes it, the manifests
/// mount it, docs/controller.md creates it.
pub const KEY_ENTRY: &str = "keys.txt";

/// The ConfigMap in which shroud-controller publishes its age recipients (public keys), in the
/// controller's namespace, and its one entry (one `age1…` recipient a line).
pub const RECIPIENTS_CONFIGMAP: &str = "shroud-controller-recipients";
pub const RECIPIENTS_ENTRY: &str = "recipients.txt";
/// The namespace the manifests install the controller into (`deploy/`).
pub const CONTROLLER_NAMESPACE: &str = "shroud-system";

/// Why the cluster could not be used. Carries no Secret content.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach Kubernetes (KUBECONFIG or in-cluster config): {0}")]
    Connect(String),
    #[error("Secret {0}: {1}")]
    Api(String, String),
    #[error("Secret {0} exists; pass --force to replace its data (nothing was written)")]
    Exists(String),
    #[error("ConfigMap {0}: {1}")]
    ConfigMap(String, String),
    #[error(
        "ConfigMap {0} has no {RECIPIENTS_ENTRY} entry with an age1… recipient (is shroud-controller running with age identities?)"
    )]
    NoRecipients(String),
}

/// A client from KUBECONFIG or the in-cluster service account.
pub async fn client() -> Result<kube::Client, ClusterError> {
    kube::Client::try_default()
        .await
        .map_err(|e| ClusterError::Connect(one_line(&e)))
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

/// The entries of Secret `namespace/name`, each as (key, value).
pub async fn read_secret(
    client: kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<(String, SecretBytes)>, ClusterError> {
    let what = || format!("{namespace}/{name}");
    let mut secret = wiped::get(&client, namespace, name)
        .await
        .map_err(|e| ClusterError::Api(what(), one_line(&e)))?
        .ok_or_else(|| ClusterError::Api(what(), "not found".into()))?;
    // The values move into `SecretBytes` without a copy.
    Ok(secret
        .data
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, SecretBytes::new(v.0)))
        .collect())
}

/// Writes `value` as entry `key` of Secret `namespace/name`, creating it (labelled as managed
/// by `manager`), or replacing its data only when `force` is given. Returns whether the
/// Secret was created.
pub async fn write_secret(
    client: kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
    value: &SecretBytes,
    manager: &str,
    force: bool,
) -> Result<bool, ClusterError> {
    let what = format!("{namespace}/{name}");
    let mut data = BTreeMap::new();
    data.insert(key.to_owned(), ByteString(value.expose().to_vec()));
    let secret = WipedSecret::new(Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    manager.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    });
    match wiped::create(&client, namespace, &secret).await {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 && !force => Err(ClusterError::Exists(what)),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let mut current = wiped::get(&client, namespace, name)
                .await
                .map_err(|e| ClusterError::Api(what.clone(), one_line(&e)))?
                .ok_or_else(|| ClusterError::Api(what.clone(), "deleted meanwhile".into()))?;
            // The old values are wiped; so is kubectl's copy of them, which goes (as when the
            // controller replaces a Secret): an emptied annotation would break `kubectl apply`.
            current.wipe();
            if let Some(a) = current.metadata.annotations.as_mut() {
                a.remove(LAST_APPLIED);
            }
            current.data = secret.data.clone();
            wiped::replace(&client, namespace, name, None, &current)
                .await
                .map_err(|e| ClusterError::Api(what, one_line(&e)))?;
            Ok(false)
        }
        Err(e) => Err(ClusterError::Api(what, one_line(&e))),
    }
}

/// The recipients published in ConfigMap `namespace/name` (one `age1…` a line; `#` comments
/// and blank lines ignored).
pub async fn read_recipients(
    client: kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<String>, ClusterError> {
    let what = format!("{namespace}/{name}");
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, namespace);
    let cm = api
        .get(name)
        .await
        .map_err(|e| ClusterError::ConfigMap(what.clone(), one_line(&e)))?;
    let text = cm
        .data
        .unwrap_or_default()
        .remove(RECIPIENTS_ENTRY)
        .unwrap_or_default();
    let out = parse_recipients(&text);
    if out.is_empty() {
        return Err(ClusterError::NoRecipients(what));
    }
    Ok(out)
}

/// The recipients of a published list, in order, without comments or blank lines.
pub fn parse_recipients(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The ConfigMap publishing `recipients`, as `manager` server-side-applies it.
pub fn recipients_configmap(
    namespace: &str,
    name: &str,
    recipients: &[String],
    manager: &str,
) -> ConfigMap {
    let mut text = String::new();
    for r in recipients {
        text.push_str(r);
        text.push('\n');
    }
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    manager.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([(RECIPIENTS_ENTRY.to_owned(), text)].into()),
        ..Default::default()
    }
}

/// Publishes `recipients` in ConfigMap `namespace/name` unless it already holds exactly them.
/// Returns whether a write was issued.
pub async fn publish_recipients(
    client: kube::Client,
    namespace: &str,
    name: &str,
    recipients: &[String],
    manager: &str,
) -> Result<bool, ClusterError> {
    let what = format!("{namespace}/{name}");
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, namespace);
    let want = recipients_configmap(namespace, name, recipients, manager);
    let current = api
        .get_opt(name)
        .await
        .map_err(|e| ClusterError::ConfigMap(what.clone(), one_line(&e)))?;
    if current.is_some_and(|c| c.data == want.data) {
        return Ok(false);
    }
    api.patch(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&want),
    )
    .await
    .map_err(|e| ClusterError::ConfigMap(what, one_line(&e)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_round_trip_through_the_configmap() {
        let r = vec!["age1aaa".to_owned(), "age1bbb".to_owned()];
        let cm = recipients_configmap("shroud-system", RECIPIENTS_CONFIGMAP, &r, "m");
        let text = &cm.data.as_ref().unwrap()[RECIPIENTS_ENTRY];
        assert_eq!(text, "age1aaa\nage1bbb\n");
        assert_eq!(parse_recipients(text), r);
        assert_eq!(
            parse_recipients("# published by shroud-controller\n\n  age1aaa  \n"),
            vec!["age1aaa".to_owned()]
        );
        assert_eq!(
            cm.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
            "m"
        );
    }
}
