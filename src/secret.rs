//! Zeroizing containers for secret material: data keys and decrypted values.
//!
//! Owns: the only types in the crate that hold plaintext secrets. They wipe their memory on drop
//! and print as `<redacted>` in `Debug`, so a secret cannot leak through an error, a log line or
//! a `dbg!`. The bytes are reachable only through an explicit `expose()` call.
//! Must not know: where the secrets come from or what format they are in.

use std::fmt;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::{Zeroize, Zeroizing};

/// Bytes that may be secret (a decrypted value, a comment, a share). Wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when this value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new zeroizing buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes::new(bytes.to_vec())
    }

    /// The secret bytes. Call sites are the places where a secret is used on purpose.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as text, without a copy; given back (still wiped on drop) with the UTF-8 error
    /// when they are not text.
    pub fn into_text(mut self) -> Result<SecretText, (std::str::Utf8Error, SecretBytes)> {
        match String::from_utf8(std::mem::take(&mut *self.0)) {
            Ok(text) => Ok(SecretText::new(text)),
            Err(e) => Err((e.utf8_error(), SecretBytes::new(e.into_bytes()))),
        }
    }
}

impl std::hash::Hash for SecretBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expose().hash(state);
    }
}

impl From<String> for SecretBytes {
    fn from(s: String) -> Self {
        SecretBytes::new(s.into_bytes())
    }
}

impl From<&str> for SecretBytes {
    fn from(s: &str) -> Self {
        SecretBytes::from_slice(s.as_bytes())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret text (a key file, a share, a passphrase, a decrypted file as it is written): a
/// zeroizing `String` that serialises as a plain JSON string and prints as `<redacted>`.
///
/// It grows by copying into a larger buffer and wiping the old one, never by a reallocation,
/// which may copy and free the old buffer without wiping it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        SecretText(Zeroizing::new(text))
    }

    pub fn with_capacity(capacity: usize) -> Self {
        SecretText::new(String::with_capacity(capacity))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Room for `additional` more bytes: a larger buffer (at least twice the size), the text
    /// copied into it and the old buffer wiped as it drops.
    pub fn reserve(&mut self, additional: usize) {
        let need = self.0.len().saturating_add(additional);
        if need <= self.0.capacity() {
            return;
        }
        let mut bigger = String::with_capacity(need.max(self.0.capacity().saturating_mul(2)));
        bigger.push_str(&self.0);
        drop(std::mem::replace(&mut self.0, Zeroizing::new(bigger)));
    }

    pub fn push_str(&mut self, s: &str) {
        self.reserve(s.len());
        self.0.push_str(s);
    }

    pub fn push(&mut self, c: char) {
        self.reserve(c.len_utf8());
        self.0.push(c);
    }

    pub fn insert_str(&mut self, at: usize, s: &str) {
        self.reserve(s.len());
        self.0.insert_str(at, s);
    }

    pub fn replace_range(&mut self, range: std::ops::Range<usize>, s: &str) {
        self.reserve(s.len());
        self.0.replace_range(range, s);
    }

    /// Removes the last character (its bytes are wiped with the rest of the buffer on drop).
    pub fn pop(&mut self) -> Option<char> {
        self.0.pop()
    }

    /// Shortens the text (the bytes cut are wiped with the rest of the buffer on drop).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// The text from `at` on, moved into a new value (the bytes moved are wiped in both).
    pub fn split_off(&mut self, at: usize) -> SecretText {
        let mut tail = SecretText::with_capacity(self.0.len() - at);
        tail.push_str(&self.0[at..]);
        self.0.truncate(at);
        tail
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, for a caller that keeps them wiped (in [`SecretBytes`]) or that holds no
    /// secret (ciphertext).
    pub fn into_bytes(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0).into_bytes()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for SecretText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretText::new)
    }
}

/// Length of a sops data key in bytes (AES-256).
pub(crate) const DATA_KEY_LEN: usize = 32;

/// The per-file AES-256 data key. Built in place in a heap box, wiped on drop, never printed.
pub struct DataKey(SecretBox<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = SecretBox::new(Box::new([0u8; DATA_KEY_LEN]));
        rand::rngs::OsRng.fill_bytes(secrecy::ExposeSecretMut::expose_secret_mut(&mut key));
        DataKey(key)
    }

    /// A key from exactly 32 bytes (an unwrapped envelope). Returns `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        let mut key = SecretBox::new(Box::new([0u8; DATA_KEY_LEN]));
        secrecy::ExposeSecretMut::expose_secret_mut(&mut key).copy_from_slice(bytes);
        Some(DataKey(key))
    }

    /// The raw key bytes, for the cipher and for wrapping by a master key.
    pub fn expose(&self) -> &[u8; DATA_KEY_LEN] {
        self.0.expose_secret()
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        DataKey::from_slice(self.expose()).expect("data key has the right length")
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Wipes a temporary buffer that held secret bytes.
pub fn wipe(buf: &mut Vec<u8>) {
    buf.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let s = SecretBytes::from("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let k = DataKey::generate();
        assert_eq!(format!("{k:?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn data_key_length_is_checked() {
        assert!(DataKey::from_slice(&[0u8; 31]).is_none());
        assert!(DataKey::from_slice(&[7u8; 32]).is_some());
        assert_ne!(DataKey::generate().expose(), DataKey::generate().expose());
    }
}
