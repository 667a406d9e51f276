//! Secrets through the Kubernetes API client: the controller's key Secret, read for a backup
//! and recreated by a restore.
//!
//! Owns: connecting with the standard configuration (KUBECONFIG or in-cluster), reading a
//! Secret's entries and creating or replacing one. Must not know: backup bundles, age, the
//! CLI. Errors name the Secret, never its content.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};

use crate::secret::SecretBytes;

/// The entry of the controller's key Secret that holds its age identities (the same name as
/// sops's default key file, `keys.txt`). `keys restore --to-secret` writes it, the manifests
/// mount it, docs/controller.md creates it.
pub const KEY_ENTRY: &str = "keys.txt";

/// Why the cluster could not be used. Carries no Secret content.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach Kubernetes (KUBECONFIG or in-cluster config): {0}")]
    Connect(String),
    #[error("Secret {0}: {1}")]
    Api(String, String),
    #[error("Secret {0} exists; pass --force to replace its data (nothing was written)")]
    Exists(String),
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
    let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
    let secret = api
        .get(name)
        .await
        .map_err(|e| ClusterError::Api(format!("{namespace}/{name}"), one_line(&e)))?;
    Ok(secret
        .data
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
    let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
    let mut data = BTreeMap::new();
    data.insert(key.to_owned(), ByteString(value.expose().to_vec()));
    let secret = Secret {
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
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 && !force => Err(ClusterError::Exists(what)),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let mut current = api
                .get(name)
                .await
                .map_err(|e| ClusterError::Api(what.clone(), one_line(&e)))?;
            current.data = secret.data;
            api.replace(name, &PostParams::default(), &current)
                .await
                .map_err(|e| ClusterError::Api(what, one_line(&e)))?;
            Ok(false)
        }
        Err(e) => Err(ClusterError::Api(what, one_line(&e))),
    }
}
