//! Kubernetes: everything shroud knows about Kubernetes objects, in one place.
//!
//! | module | owns |
//! |---|---|
//! | [`secret`] | reading `Secret` manifests (`data`, `stringData`, type, labels) and payloads |
//! | [`name`] | object names: the DNS-1123 label and subdomain rules, names derived from text |
//! | [`manifest`] | `EncryptedSecret` ⇄ canonical sops document (strict scope) |
//! | `crd` | the `EncryptedSecret` custom resource types and the generated CRD (feature `cluster`) |
//! | `cluster` | Secret and ConfigMap I/O through the API client (feature `cluster`) |
//! | `wiped` | Secrets whose values are wiped, and the controller's Secret reads and writes that keep them so (feature `cluster`) |
//!
//! The CLI, the scanner, ExternalSecret generation and the controller use this module; it
//! uses none of them. Must not know: terminals, reconciliation, scanning rules.

#[cfg(feature = "cluster")]
pub mod cluster;
#[cfg(feature = "cluster")]
pub mod crd;
pub mod manifest;
pub mod name;
pub mod secret;
#[cfg(feature = "cluster")]
pub mod wiped;
