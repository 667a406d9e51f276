//! HashiCorp Vault KV (`--provider vault`): one path per Secret under the store's KV mount,
//! one field per key (`remoteRef.property`). A path is `/`-separated segments of
//! `A-Za-z0-9._-`; other characters become `-`, empty segments are dropped, and a `.` or `..`
//! segment is refused (Vault would resolve it). `--push` does not write Vault.
//!
//! Owns: the path rule and the store skeleton. Must not know: manifests, the CLI.

use super::{Provider, StoreSettings, comment, pair, squash, text};
use crate::tree::Map;

#[derive(Debug)]
pub struct Vault;

impl Provider for Vault {
    fn name(&self) -> &'static str {
        "vault"
    }

    fn title(&self) -> &'static str {
        "HashiCorp Vault"
    }

    fn default_store(&self) -> &'static str {
        "vault"
    }

    fn remote_key(&self, rendered: &str) -> Result<String, String> {
        let keep = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        let mut segments = Vec::new();
        for part in rendered.split('/') {
            let seg = squash(part, keep);
            if seg.is_empty() {
                continue;
            }
            if seg == "." || seg == ".." {
                return Err(format!("the path segment {seg:?} is not allowed"));
            }
            segments.push(seg);
        }
        if segments.is_empty() {
            return Err("nothing usable is left of it".into());
        }
        Ok(segments.join("/"))
    }

    fn store_block(&self, _: &StoreSettings) -> Map {
        let mut m = Map::new();
        comment(&mut m, "Your Vault server (fill in).");
        pair(&mut m, "server", text("https://vault.example.com:8200"));
        comment(
            &mut m,
            "The KV mount; remoteRef.key is the path below it (one path per Secret).",
        );
        pair(&mut m, "path", text("secret"));
        pair(&mut m, "version", text("v2"));
        for line in [
            "Authentication: fill in. With Vault's Kubernetes auth method, a role bound to the",
            "ServiceAccount below, allowed to read secret/data/* (KV v2):",
            "auth:",
            "  kubernetes:",
            "    mountPath: kubernetes",
            "    role: external-secrets",
            "    serviceAccountRef:",
            "      name: external-secrets",
            "      namespace: external-secrets   # ClusterSecretStore only",
            "Or a token kept in a Secret:",
            "auth:",
            "  tokenSecretRef: {name: vault-token, key: token}",
        ] {
            comment(&mut m, line);
        }
        m
    }

    fn push_unavailable(&self) -> Option<&'static str> {
        Some(
            "write the values with `vault kv put` at the paths the manifests name (one field per key)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_hierarchy_and_only_allowed_characters() {
        assert_eq!(Vault.remote_key("shop/db").unwrap(), "shop/db");
        assert_eq!(
            Vault.remote_key("prod/shop/db.creds").unwrap(),
            "prod/shop/db.creds"
        );
        assert_eq!(Vault.remote_key("/a//b c/").unwrap(), "a/b-c");
        assert!(Vault.remote_key("a/../b").unwrap_err().contains("\"..\""));
        assert!(Vault.remote_key("//").is_err());
        assert!(Vault.push_unavailable().unwrap().contains("vault kv put"));
    }
}
