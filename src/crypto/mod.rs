//! Cryptography on values: the AES-256-GCM value cipher, the encryption rules, and the tree
//! walk that applies them and computes the MAC.
//!
//! Owns: everything between a plaintext tree plus a data key and an encrypted tree plus a MAC.
//! Pure and synchronous. Must not know: file formats, metadata layout, or where the data key
//! comes from (that is `keysource`).

pub mod cipher;
pub mod rules;
mod walk;

pub use cipher::{Cipher, CipherError, EncType, EncValue, is_enc};
pub use rules::{RuleError, RuleSpec, Rules};
pub use walk::{
    Decision, Decrypted, MAC_ONLY_ENCRYPTED_INIT, TreeError, decide, decrypt_mac, decrypt_tree,
    encrypt_mac, encrypt_tree, mac_of_plain, macs_equal,
};
