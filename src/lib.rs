//! # shroud
//!
//! A SOPS-compatible secrets toolchain for GitOps. Files written by `sops` open here and files
//! written here open in `sops`, Flux and helm-secrets (checked against the real sops 3.11 in
//! `tests/it/differential.rs`).
//!
//! ## Data flow
//!
//! `bytes → store → tree → crypto → keysource → metadata → bytes`: a [`store`] parses a file
//! into an ordered [`tree`] whose leaves know their key paths; [`crypto`] encrypts each value
//! with AES-256-GCM under the file's data key (the path is the AAD) and computes the MAC;
//! [`keysource`] wraps the data key for age, AWS KMS or PGP recipients in key groups; the
//! [`metadata`] records of those envelopes go back into the file. [`document`] runs these
//! steps in order with the fail-closed checks between them. Only key sources and cluster code
//! are asynchronous; tree encryption is pure and synchronous.
//!
//! ## API map
//!
//! Layers, bottom up (a module uses only modules above it in this table):
//!
//! | module | owns |
//! |---|---|
//! | [`secret`] | zeroizing containers: [`secret::DataKey`], [`secret::SecretBytes`], [`secret::SecretText`] |
//! | [`text`], [`timestamp`], [`fsutil`] | one-line error text; sops's RFC 3339 times; atomic, locked, private file writes |
//! | [`external`], [`git`] | every call that leaves the process, under a timeout and killed on signals; the git CLI |
//! | [`tree`] | the ordered value tree with comments, typed scalars and key paths |
//! | [`store`] | YAML / JSON / dotenv / INI / binary parsing and emitting, as sops reads and writes them |
//! | [`crypto`] | the `ENC[…]` value cipher, the encryption rules and their per-leaf decision, the MAC |
//! | [`metadata`] | the `sops` block: [`metadata::Metadata`], its envelope records and on-disk layouts |
//! | [`keysource`] | wrapping and unwrapping the data key: age, AWS KMS, key groups with Shamir |
//! | [`config`] | `.sops.yaml` creation rules |
//! | [`document`] | whole files: encrypt, open (decrypt and verify), seal again |
//! | [`repo`] | files of a repository: the one walk (every tracked file, ignored or not), nearest configs, sops files |
//! | [`rotate`], [`revoke`], [`merge`], [`backup`], [`externalsecret`], [`scan`], [`k8s`] | procedures: key rotation, revocation with its exposure report, three-way merge and by-path view of versions of a sops file, key backups, ExternalSecret generation, the secret scanner, Kubernetes objects |
//! | [`audit`] | the repository audit: inventory, access matrix, policy drift, key age, plaintext and integrity findings (uses the scanner's public entry) |
//! | [`controller`] | the in-cluster decryptor built on [`k8s`] |
//! | [`error`] | the library error type and the documented exit codes |
//!
//! ## Encrypting and decrypting a document
//!
//! ```
//! use shroud::document::{self, EncryptSpec};
//! use shroud::keysource::{KeySpec, Keyring};
//! use shroud::store::{EmitOptions, Format};
//!
//! // A fresh age identity and its recipient (`shroud keygen` writes such a key file).
//! let (identity, recipient) = shroud::keysource::age::generate();
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//!
//! // Encrypt: parse, encrypt every value for the recipient, write the sops file.
//! let plain = document::load_plain("app.yaml", Format::Yaml, b"db:\n  password: hunter2\n")?;
//! let spec = EncryptSpec {
//!     groups: vec![vec![KeySpec::Age(recipient)]],
//!     ..Default::default()
//! };
//! let (tree, md, _data_key) = rt.block_on(document::encrypt(
//!     "app.yaml", Format::Yaml, plain, &spec, &Keyring::default(),
//! ))?;
//! let sealed = document::emit_encrypted("app.yaml", Format::Yaml, tree, &md, EmitOptions::default())?;
//! let text = String::from_utf8(sealed.clone())?;
//! assert!(text.contains("password: ENC[AES256_GCM,"));
//! assert!(!text.contains("hunter2"));
//!
//! // Decrypt: the MAC and every value are verified before anything is returned.
//! let mut keyring = Keyring::default();
//! keyring.age.add_text(identity.as_str().unwrap_or_default(), "example key")?;
//! let opened = rt.block_on(document::open("app.yaml", Format::Yaml, &sealed, &keyring, false))?;
//! let out = document::emit_plain("app.yaml", Format::Yaml, &opened.tree, EmitOptions::default())?;
//! assert_eq!(out, b"db:\n  password: hunter2\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A tampered file fails closed, with an error that names the path and never the value:
//!
//! ```
//! # use shroud::document::{self, EncryptSpec};
//! # use shroud::keysource::{KeySpec, Keyring};
//! # use shroud::store::{EmitOptions, Format};
//! # let (identity, recipient) = shroud::keysource::age::generate();
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # let plain = document::load_plain("a.yaml", Format::Yaml, b"a: one\nb: two\n")?;
//! # let spec = EncryptSpec { groups: vec![vec![KeySpec::Age(recipient)]], ..Default::default() };
//! # let (tree, md, _) = rt.block_on(document::encrypt("a.yaml", Format::Yaml, plain, &spec, &Keyring::default()))?;
//! # let sealed = String::from_utf8(document::emit_encrypted("a.yaml", Format::Yaml, tree, &md, EmitOptions::default())?)?;
//! # let mut keyring = Keyring::default();
//! # keyring.age.add_text(identity.as_str().unwrap_or_default(), "example key")?;
//! // Swap the two ciphertexts: each is bound to its own key path.
//! let a = sealed.lines().find(|l| l.starts_with("a: ")).unwrap();
//! let b = sealed.lines().find(|l| l.starts_with("b: ")).unwrap();
//! let swapped = sealed
//!     .replace(a, &format!("a: {}", &b[3..]))
//!     .replace(b, &format!("b: {}", &a[3..]));
//! let err = rt
//!     .block_on(document::open("a.yaml", Format::Yaml, swapped.as_bytes(), &keyring, false))
//!     .err()
//!     .unwrap();
//! assert!(err.is_integrity());
//! assert!(err.to_string().contains(r#"["a"]"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod audit;
pub mod backup;
pub mod config;
#[cfg(feature = "cluster")]
pub mod controller;
pub mod crypto;
pub mod document;
pub mod error;
pub mod external;
pub mod externalsecret;
pub mod fsutil;
pub mod git;
#[cfg(feature = "job")]
pub mod job;
pub mod k8s;
pub mod keysource;
pub mod merge;
pub mod metadata;
pub mod repo;
pub mod revoke;
pub mod rotate;
pub mod scan;
pub mod secret;
pub mod store;
pub mod text;
pub mod timestamp;
pub mod tree;

/// shroud's own version (the metadata `version` field holds the sops layout version instead:
/// see `metadata::SOPS_LAYOUT_VERSION`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binaries were built from (`unknown` outside a checkout; `-dirty` with
/// uncommitted changes).
pub const COMMIT: &str = env!("SHROUD_COMMIT");

/// The cargo features this build has (`cluster`: the Kubernetes stack).
pub const FEATURES: &[&str] = &[
    #[cfg(feature = "cluster")]
    "cluster",
    #[cfg(feature = "job")]
    "job",
];

/// `VERSION (commit COMMIT; features: …)`, as `--version` prints it after the program name.
pub fn long_version() -> String {
    format!(
        "{VERSION} (commit {COMMIT}; features: {})",
        if FEATURES.is_empty() {
            "none, CLI only".to_owned()
        } else {
            FEATURES.join(", ")
        }
    )
}
