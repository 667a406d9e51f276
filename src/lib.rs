//! # shroud
//!
//! A SOPS-compatible secrets toolchain for GitOps. Files written by `sops` open here and files
//! written here open in `sops`, Flux and helm-secrets.
//!
//! ## API map
//!
//! Data flows `bytes → store → tree → crypto → keysource → metadata → bytes`:
//!
//! | module | owns |
//! |---|---|
//! | [`secret`] | zeroizing containers: [`secret::DataKey`], [`secret::SecretBytes`] |
//! | [`tree`] | the ordered value tree with comments and typed scalars; tree paths |
//! | [`store`] | YAML / JSON / dotenv / INI / binary parsing and emitting |
//! | [`crypto`] | per-value AES-256-GCM (`ENC[...]`), encryption rules, the MAC |
//! | [`keysource`] | master keys (age, AWS KMS; PGP parsed only) that wrap the data key |
//! | [`metadata`] | the `sops` block: in-memory [`metadata::Metadata`] and its on-disk layouts |
//! | [`config`] | `.sops.yaml` creation rules |
//! | [`controller`] | the in-cluster decryptor: `EncryptedSecret` CRD, reconcile, leader election, metrics |
//! | [`document`] | whole-file operations: encrypt, decrypt, verify, re-encrypt |
//! | [`backup`] | key backup bundles, Shamir paper shares, restore and verification |
//! | [`externalsecret`] | ExternalSecret manifests from Secret files; push to AWS Secrets Manager |
//! | [`rotate`] | `updatekeys` and `rotate`, per file and across a repository, in parallel |
//! | [`error`] | the library error type and the documented exit codes |
//! | [`fsutil`] | atomic, private file writes |
//! | [`scan`] | the pre-commit secret scanner: rules, git sources, sops/Kubernetes checks, reports |
//!
//! Only key sources are asynchronous; tree encryption is pure and synchronous.

#![forbid(unsafe_code)]

pub mod backup;
pub mod config;
pub mod controller;
pub mod crypto;
pub mod document;
pub mod error;
pub mod externalsecret;
pub mod fsutil;
pub mod k8s;
pub mod keysource;
pub mod metadata;
pub mod repo;
pub mod rotate;
pub mod scan;
pub mod secret;
pub mod store;
pub mod text;
pub mod timestamp;
pub mod tree;

/// The version written into the metadata `version` field.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
