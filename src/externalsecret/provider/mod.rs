//! The secret stores an `ExternalSecret` can reference, one file each: what the store is
//! called, which remote names it accepts (and how a valid one is derived from a rendered key
//! template), the `spec.provider` block of a `SecretStore`/`ClusterSecretStore` skeleton, and
//! whether `--push` can write it.
//!
//! Every store here holds one remote object per Secret, read key by key with
//! `remoteRef.property` (a JSON object in AWS Secrets Manager, Azure Key Vault and GCP Secret
//! Manager; one KV path with one field per key in HashiCorp Vault), so the manifest layout
//! is decided once, in the parent module.
//!
//! Adding a store is one file here implementing [`Provider`], plus its line in [`ALL`].
//! Owns: the provider names and their rules. Must not know: the CLI, documents, manifests.

pub mod aws;
pub mod azurekv;
pub mod gcpsm;
pub mod vault;

use crate::tree::{Comment, Entry, Map, Value};

/// Settings of a store skeleton that some stores use (the others leave placeholders).
#[derive(Clone, Debug, Default)]
pub struct StoreSettings {
    /// AWS region (`--region`).
    pub region: Option<String>,
}

/// One secret store.
pub trait Provider: Sync + std::fmt::Debug {
    /// The `--provider` value, which is also the key of the store's `spec.provider` block.
    fn name(&self) -> &'static str;

    /// The store as messages name it ("Azure Key Vault").
    fn title(&self) -> &'static str;

    /// The name of the store the manifests reference when none is given.
    fn default_store(&self) -> &'static str;

    /// The remote name for a rendered key template: the store's own spelling of it (characters
    /// it does not allow mapped to ones it does), or why it cannot hold one.
    fn remote_key(&self, rendered: &str) -> Result<String, String>;

    /// The `spec.provider.<name>` block of a store skeleton, with the authentication left to
    /// fill in and explained in comments.
    fn store_block(&self, settings: &StoreSettings) -> Map;

    /// `None` when `--push` writes this store; otherwise how to write the values instead.
    fn push_unavailable(&self) -> Option<&'static str> {
        None
    }
}

/// Every store, in the order `--help` lists them. The first is the default.
pub const ALL: &[&dyn Provider] = &[&aws::Aws, &vault::Vault, &azurekv::AzureKv, &gcpsm::Gcpsm];

/// The store named `name` (`aws`, `vault`, `azurekv`, `gcpsm`).
pub fn by_name(name: &str) -> Result<&'static dyn Provider, String> {
    ALL.iter()
        .copied()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|p| p.name()).collect();
            format!("expected one of {}", names.join(", "))
        })
}

/// The default store: AWS Secrets Manager.
pub fn default() -> &'static dyn Provider {
    ALL[0]
}

/// Maps every character `keep` refuses to `-`, runs of `-` to one, and trims `-` at both
/// ends: the derivation the stores with a small alphabet share.
pub(crate) fn squash(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if keep(c) { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_owned()
}

/// Checks a derived name's length (in characters) against the store's limit.
pub(crate) fn check_len(name: &str, max: usize) -> Result<(), String> {
    match name.chars().count() {
        0 => Err("nothing usable is left of it".into()),
        n if n > max => Err(format!("{n} characters, more than the {max} allowed")),
        _ => Ok(()),
    }
}

/// Builders for the skeleton blocks: a pair, and a comment line.
pub(crate) fn pair(m: &mut Map, key: &str, value: Value) {
    m.insert(key, value);
}

pub(crate) fn comment(m: &mut Map, text: &str) {
    m.entries
        .push(Entry::Comment(Comment::new(format!(" {text}"), false)));
}

pub(crate) fn text(v: &str) -> Value {
    Value::str(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_is_found_by_its_name_once() {
        for p in ALL {
            assert_eq!(by_name(p.name()).unwrap().name(), p.name());
            assert_eq!(ALL.iter().filter(|q| q.name() == p.name()).count(), 1);
            assert!(!p.default_store().is_empty());
            assert!(crate::k8s::name::check_subdomain(p.default_store()).is_ok());
        }
        assert_eq!(default().name(), "aws");
        assert!(
            by_name("azure")
                .unwrap_err()
                .contains("aws, vault, azurekv, gcpsm")
        );
    }

    #[test]
    fn squash_keeps_what_the_store_allows() {
        let alnum = |c: char| c.is_ascii_alphanumeric();
        assert_eq!(squash("shop/db", alnum), "shop-db");
        assert_eq!(squash("/a//b./", alnum), "a-b");
        assert_eq!(squash("ü", alnum), "");
        assert!(check_len("", 5).is_err());
        assert!(check_len("abcdef", 5).unwrap_err().contains("6 characters"));
        assert!(check_len("ab", 5).is_ok());
    }
}
