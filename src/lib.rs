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
//! Layers, bottom up (a module uses only modules above it in this table; there is no import
//! cycle). `docs/architecture.md` says where a new key source, ExternalSecret store, scanner
//! rule or verb goes, and which module decides each concept.
//!
//! | module | owns |
//! |---|---|
//! | [`secret`] | zeroizing containers: [`secret::DataKey`], [`secret::SecretBytes`], [`secret::SecretText`] |
//! | [`text`], [`timestamp`], [`fsutil`] | one-line error text; sops's RFC 3339 times; atomic, locked, private file writes and private directories |
//! | [`external`], [`git`] | every call that leaves the process, under a timeout and killed on signals; the git CLI |
//! | [`tree`] | the ordered value tree with comments, typed scalars and key paths |
//! | [`store`] | YAML / JSON / dotenv / INI / binary parsing and emitting, as sops reads and writes them |
//! | [`crypto`] | the `ENC[…]` value cipher, the encryption rules and their per-leaf decision, the MAC |
//! | [`metadata`] | the `sops` block: [`metadata::Metadata`], its envelope records, on-disk layouts, the key-type table ([`metadata::kind`]) |
//! | [`keysource`] | wrapping and unwrapping the data key: one [`keysource::KeySource`] per source (age, PGP, AWS KMS), key groups with Shamir, a file's recipient difference ([`keysource::plan`]) |
//! | [`config`] | `.sops.yaml` creation rules and the one lookup of the config that applies to a file ([`config::Configs`]) |
//! | [`error`] | the library error type and the documented exit codes ([`error::ExitCode::merge`] for many files) |
//! | [`document`] | one document in memory: encrypt, open (decrypt and verify), seal again; whether bytes are a sops file ([`document::sniff`]) |
//! | [`bulk`] | running one operation over many files: N in flight, failures isolated, results in order |
//! | [`repo`] | files of a repository: the one walk (every tracked file, ignored or not), the sops files among them |
//! | [`merge`] | versions of one sops file compared by key path: three-way merge, by-path listing, minimal-diff re-encryption |
//! | [`file`](mod@file) | one file as a whole: lock and read it, what a new file is encrypted for (keys given over its creation rule), encrypt / decrypt / change it in one order of steps |
//! | [`rotate`], [`revoke`], [`backup`], [`externalsecret`], [`scan`], [`k8s`] | procedures: key rotation, revocation with its exposure report, key backups, ExternalSecret generation, the secret scanner, Kubernetes objects |
//! | [`audit`] | the repository audit: inventory, access matrix, policy drift, key age, plaintext and integrity findings (uses the scanner's public entry) |
//! | [`controller`] | the in-cluster decryptor built on [`k8s`] (feature `cluster`) |
//!
//! The `shroud` binary's `cli` modules only parse, call these and report: one file per verb,
//! and one reporting edge that prints every error and decides the exit status.
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
pub mod bulk;
pub mod config;
#[cfg(feature = "cluster")]
pub mod controller;
pub mod crypto;
pub mod document;
pub mod error;
pub mod external;
pub mod externalsecret;
pub mod file;
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
