//! GCP Secret Manager (`--provider gcpsm`): a secret ID is 1–255 characters of
//! `A-Za-z0-9_-`. A rendered key is mapped into that alphabet: `/` becomes `_` (Kubernetes
//! names never hold one, so `{namespace}/{name}` stays unambiguous) and every other character
//! outside it `-`; a longer name is refused, never cut. The secret holds the JSON object of the
//! Secret's keys, read with `remoteRef.property`. `--push` does not write GCP.
//!
//! Owns: the name rule and the store skeleton. Must not know: manifests, the CLI.

use super::{Provider, StoreSettings, check_len, comment, pair, text};
use crate::tree::Map;

#[derive(Debug)]
pub struct Gcpsm;

const MAX: usize = 255;

impl Provider for Gcpsm {
    fn name(&self) -> &'static str {
        "gcpsm"
    }

    fn title(&self) -> &'static str {
        "GCP Secret Manager"
    }

    fn default_store(&self) -> &'static str {
        "gcp-secret-manager"
    }

    fn remote_key(&self, rendered: &str) -> Result<String, String> {
        let out: String = rendered
            .chars()
            .map(|c| match c {
                c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c,
                '/' => '_',
                _ => '-',
            })
            .collect();
        check_len(&out, MAX)?;
        Ok(out)
    }

    fn store_block(&self, _: &StoreSettings) -> Map {
        let mut m = Map::new();
        comment(&mut m, "Your project (fill in).");
        pair(&mut m, "projectID", text("my-project"));
        for line in [
            "Authentication: fill in. Without `auth`, ESO uses the credentials of its own pod",
            "(GKE Workload Identity of the external-secrets ServiceAccount). Or:",
            "auth:",
            "  workloadIdentity:",
            "    clusterLocation: europe-west1",
            "    clusterName: my-cluster",
            "    serviceAccountRef:",
            "      name: external-secrets",
            "      namespace: external-secrets   # ClusterSecretStore only",
            "Or a service-account key kept in a Secret:",
            "auth:",
            "  secretRef:",
            "    secretAccessKeySecretRef: {name: gcp-credentials, key: credentials.json}",
            "The identity needs roles/secretmanager.secretAccessor.",
        ] {
            comment(&mut m, line);
        }
        m
    }

    fn push_unavailable(&self) -> Option<&'static str> {
        Some(
            "write each Secret's JSON object with `gcloud secrets versions add NAME --data-file FILE` under the names the manifests use",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_mapped_into_the_alphabet_and_never_cut() {
        assert_eq!(Gcpsm.remote_key("shop/db").unwrap(), "shop_db");
        assert_eq!(
            Gcpsm.remote_key("prod/shop/db.creds").unwrap(),
            "prod_shop_db-creds"
        );
        assert_ne!(
            Gcpsm.remote_key("a-b/c").unwrap(),
            Gcpsm.remote_key("a/b-c").unwrap()
        );
        assert!(Gcpsm.remote_key("").is_err());
        assert!(Gcpsm.remote_key(&"a".repeat(256)).is_err());
        assert_eq!(Gcpsm.remote_key(&"a".repeat(255)).unwrap().len(), 255);
        let re = regex::Regex::new("^[A-Za-z0-9_-]{1,255}$").unwrap();
        for k in ["a/b", "a.b/c_d", "x y", "ns/n.a.m.e"] {
            assert!(re.is_match(&Gcpsm.remote_key(k).unwrap()), "{k}");
        }
    }
}
