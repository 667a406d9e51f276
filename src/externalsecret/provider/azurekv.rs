//! Azure Key Vault (`--provider azurekv`): a secret name is 1–127 characters of
//! `0-9a-zA-Z-`. A rendered key is mapped into that alphabet: `/` becomes `--` (so
//! `shop/db` and a namespace `shop-db` stay apart) and every other character outside it `-`,
//! with no `-` at either end; a longer name is refused, never cut. The secret holds the JSON
//! object of the Secret's keys, read with `remoteRef.property`. `--push` does not write Azure.
//!
//! Owns: the name rule and the store skeleton. Must not know: manifests, the CLI.

use super::{Provider, StoreSettings, check_len, comment, pair, text};
use crate::tree::Map;

#[derive(Debug)]
pub struct AzureKv;

const MAX: usize = 127;

impl Provider for AzureKv {
    fn name(&self) -> &'static str {
        "azurekv"
    }

    fn title(&self) -> &'static str {
        "Azure Key Vault"
    }

    fn default_store(&self) -> &'static str {
        "azure-key-vault"
    }

    fn remote_key(&self, rendered: &str) -> Result<String, String> {
        let mut out = String::with_capacity(rendered.len() + 8);
        for c in rendered.chars() {
            match c {
                c if c.is_ascii_alphanumeric() || c == '-' => out.push(c),
                '/' => out.push_str("--"),
                _ => out.push('-'),
            }
        }
        let out = out.trim_matches('-').to_owned();
        check_len(&out, MAX)?;
        Ok(out)
    }

    fn store_block(&self, _: &StoreSettings) -> Map {
        let mut m = Map::new();
        comment(&mut m, "Your vault's URL (fill in).");
        pair(&mut m, "vaultUrl", text("https://my-vault.vault.azure.net"));
        for line in [
            "Authentication: fill in, one of:",
            "Workload identity (a ServiceAccount federated with an Entra ID application):",
            "authType: WorkloadIdentity",
            "serviceAccountRef:",
            "  name: external-secrets",
            "  namespace: external-secrets   # ClusterSecretStore only",
            "A managed identity of the nodes:",
            "authType: ManagedIdentity",
            "identityId: CLIENT-ID",
            "A service principal whose credentials are kept in a Secret:",
            "authType: ServicePrincipal",
            "tenantId: TENANT-ID",
            "authSecretRef:",
            "  clientId: {name: azure-credentials, key: client-id}",
            "  clientSecret: {name: azure-credentials, key: client-secret}",
            "The identity needs the Key Vault Secrets User role (secrets: get).",
        ] {
            comment(&mut m, line);
        }
        m
    }

    fn push_unavailable(&self) -> Option<&'static str> {
        Some(
            "write each Secret's JSON object with `az keyvault secret set --vault-name VAULT --name NAME --file FILE` under the names the manifests use",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_mapped_into_the_alphabet_and_never_cut() {
        assert_eq!(AzureKv.remote_key("shop/db").unwrap(), "shop--db");
        assert_eq!(AzureKv.remote_key("shop-db").unwrap(), "shop-db");
        assert_eq!(
            AzureKv.remote_key("prod/shop/db.creds_1").unwrap(),
            "prod--shop--db-creds-1"
        );
        assert_eq!(AzureKv.remote_key("/x/").unwrap(), "x");
        let long = format!("{}/{}", "a".repeat(63), "b".repeat(62));
        assert_eq!(AzureKv.remote_key(&long).unwrap().len(), 127);
        let longer = format!("{}/{}", "a".repeat(63), "b".repeat(63));
        assert!(
            AzureKv
                .remote_key(&longer)
                .unwrap_err()
                .contains("128 characters")
        );
        assert!(AzureKv.remote_key("__").is_err());
        let re = regex::Regex::new("^[0-9a-zA-Z-]{1,127}$").unwrap();
        for k in ["a/b", "a.b/c_d", "x y", "ns/n.a.m.e"] {
            assert!(re.is_match(&AzureKv.remote_key(k).unwrap()), "{k}");
        }
    }
}
