//! The age key source: wrapping a data key for age recipients (X25519, SSH ed25519/RSA) as an
//! armored age file, and unwrapping it with identities found where sops users keep them.
//!
//! Owns: recipient parsing, identity discovery (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.config/sops/age/keys.txt` with XDG,
//! `~/.ssh/id_ed25519`/`id_rsa`), and `keygen`.
//! Must not know: trees, stores, how the `age` entries are laid out in metadata.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use age::secrecy::ExposeSecret;

use super::KeyError;
use crate::metadata::AgeKey;
use crate::secret::SecretBytes;

/// A parsed recipient.
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    pub fn parse(s: &str) -> Result<Recipient, KeyError> {
        let s = s.trim();
        let bad = |why: &str| KeyError::BadRecipient {
            recipient: s.to_owned(),
            reason: why.to_owned(),
        };
        if s.starts_with("age1pq1") {
            return Err(bad(
                "post-quantum (age1pq1) recipients are not supported by the Rust age implementation yet; use an X25519 recipient",
            ));
        }
        if s.starts_with("ssh-") {
            return age::ssh::Recipient::from_str(s)
                .map(Recipient::Ssh)
                .map_err(|_| bad("not a valid ssh-ed25519 or ssh-rsa public key"));
        }
        if let Ok(r) = age::x25519::Recipient::from_str(s) {
            return Ok(Recipient::X25519(r));
        }
        if s.starts_with("age1") {
            return Err(bad(
                "not an X25519 recipient; age plugin recipients are not supported (use an X25519 or SSH recipient)",
            ));
        }
        Err(bad("not a valid age recipient (expected age1… or ssh-…)"))
    }

    fn as_dyn(&self) -> &dyn age::Recipient {
        match self {
            Recipient::X25519(r) => r,
            Recipient::Ssh(r) => r,
        }
    }
}

/// Wraps `secret` for one recipient as an armored age file.
pub fn wrap(recipient: &str, secret: &[u8]) -> Result<AgeKey, KeyError> {
    let r = Recipient::parse(recipient)?;
    let fail = |e: &dyn std::fmt::Display| KeyError::Wrap {
        key: recipient.to_owned(),
        reason: e.to_string(),
    };
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_dyn())).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    {
        let armor =
            ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| fail(&e))?;
        let mut w = enc.wrap_output(armor).map_err(|e| fail(&e))?;
        w.write_all(secret).map_err(|e| fail(&e))?;
        w.finish().and_then(|a| a.finish()).map_err(|e| fail(&e))?;
    }
    let mut enc = String::from_utf8(out).map_err(|e| fail(&e))?;
    if !enc.ends_with('\n') {
        enc.push('\n');
    }
    Ok(AgeKey {
        recipient: recipient.trim().to_owned(),
        enc,
    })
}

/// Identities available to unwrap age envelopes, with a note of where they came from.
#[derive(Default)]
pub struct Identities {
    ids: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Human-readable sources ("SOPS_AGE_KEY_FILE=/path (2 keys)"), for error messages.
    pub sources: Vec<String>,
    /// Problems found while loading (unreadable files, encrypted SSH keys), reported on failure.
    pub problems: Vec<String>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Identities({} keys from {:?})",
            self.ids.len(),
            self.sources
        )
    }
}

impl Identities {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The loaded identities, for age decryptors.
    pub fn as_dyn(&self) -> Vec<&dyn age::Identity> {
        self.ids
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
            .collect()
    }

    /// Parses identity text (an age key file): `#` comments, `AGE-SECRET-KEY-1…` lines.
    /// Errors name the source and line, never the line's content.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<usize, KeyError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-1") {
                let id =
                    age::x25519::Identity::from_str(line).map_err(|_| KeyError::BadIdentity {
                        origin: source.to_owned(),
                        reason: format!("line {} is not a valid AGE-SECRET-KEY-1 identity", i + 1),
                    })?;
                self.ids.push(Box::new(id));
                n += 1;
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1") || line.starts_with("AGE-PLUGIN-") {
                self.problems.push(format!(
                    "{source} line {}: post-quantum and plugin identities are not supported; skipped",
                    i + 1
                ));
            } else if line.starts_with("-----BEGIN") {
                return self.add_ssh(text.as_bytes(), source);
            } else {
                return Err(KeyError::BadIdentity {
                    origin: source.to_owned(),
                    reason: format!("line {} is neither a comment nor an age identity", i + 1),
                });
            }
        }
        self.sources.push(format!(
            "{source} ({n} key{})",
            if n == 1 { "" } else { "s" }
        ));
        Ok(n)
    }

    /// Parses an SSH private key (ed25519 or RSA, unencrypted).
    pub fn add_ssh(&mut self, pem: &[u8], source: &str) -> Result<usize, KeyError> {
        let id = age::ssh::Identity::from_buffer(pem, Some(source.to_owned())).map_err(|_| {
            KeyError::BadIdentity {
                origin: source.to_owned(),
                reason: "not a readable SSH private key".into(),
            }
        })?;
        match id {
            age::ssh::Identity::Unencrypted(_) => {
                self.ids.push(Box::new(id));
                self.sources.push(format!("{source} (ssh key)"));
                Ok(1)
            }
            age::ssh::Identity::Encrypted(_) => {
                self.problems.push(format!(
                    "{source}: passphrase-protected SSH keys are not supported; skipped"
                ));
                Ok(0)
            }
            age::ssh::Identity::Unsupported(_) => {
                self.problems
                    .push(format!("{source}: unsupported SSH key type; skipped"));
                Ok(0)
            }
        }
    }

    fn add_file(&mut self, path: &Path, label: &str, required: bool) -> Result<(), KeyError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = SecretBytes::new(bytes);
                let source = format!("{label}={}", path.display());
                match bytes.as_str() {
                    Some(t) if !t.trim_start().starts_with("-----BEGIN") => {
                        self.add_text(t, &source)?;
                    }
                    _ => {
                        self.add_ssh(bytes.expose(), &source)?;
                    }
                }
                Ok(())
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                let msg = format!("{label}={}: {e}", path.display());
                if required {
                    Err(KeyError::BadIdentity {
                        origin: format!("{label}={}", path.display()),
                        reason: e.to_string(),
                    })
                } else {
                    self.problems.push(msg);
                    Ok(())
                }
            }
        }
    }

    /// Loads identities the way sops does, from the environment and default locations.
    pub fn from_env() -> Result<Identities, KeyError> {
        let mut ids = Identities::default();
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            let text = SecretBytes::from(text);
            ids.add_text(text.as_str().unwrap_or_default(), "SOPS_AGE_KEY")?;
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            ids.add_file(Path::new(&path), "SOPS_AGE_KEY_FILE", true)?;
        }
        if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| KeyError::BadIdentity {
                    origin: "SOPS_AGE_KEY_CMD".into(),
                    reason: e.to_string(),
                })?;
            if !out.status.success() {
                return Err(KeyError::BadIdentity {
                    origin: "SOPS_AGE_KEY_CMD".into(),
                    reason: format!("the command exited with {}", out.status),
                });
            }
            let text = SecretBytes::new(out.stdout);
            ids.add_text(text.as_str().unwrap_or_default(), "SOPS_AGE_KEY_CMD")?;
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let bytes = std::fs::read(&path).map_err(|e| KeyError::BadIdentity {
                origin: format!(
                    "SOPS_AGE_SSH_PRIVATE_KEY_FILE={}",
                    Path::new(&path).display()
                ),
                reason: e.to_string(),
            })?;
            let bytes = SecretBytes::new(bytes);
            ids.add_ssh(bytes.expose(), "SOPS_AGE_SSH_PRIVATE_KEY_FILE")?;
        }
        if let Some(default) = default_key_file() {
            ids.add_file(&default, "default key file", false)?;
        }
        if let Some(home) = std::env::var_os("HOME") {
            for name in ["id_ed25519", "id_rsa"] {
                let p = PathBuf::from(&home).join(".ssh").join(name);
                if p.exists() {
                    // A broken or exotic SSH key must not stop age keys from working.
                    if let Err(e) = ids.add_file(&p, "ssh key", false) {
                        ids.problems.push(e.to_string());
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Tries to open an armored age envelope.
    pub fn unwrap(&self, key: &AgeKey) -> Result<SecretBytes, KeyError> {
        if self.ids.is_empty() {
            return Err(KeyError::NoIdentities);
        }
        let fail = |reason: String| KeyError::Unwrap {
            key: key.recipient.clone(),
            reason,
        };
        let reader = ArmoredReader::new(key.enc.as_bytes());
        let dec = age::Decryptor::new(reader)
            .map_err(|e| fail(format!("malformed age envelope: {e}")))?;
        let mut r = dec
            .decrypt(self.ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => {
                    fail("no loaded identity matches this recipient".into())
                }
                other => fail(other.to_string()),
            })?;
        let mut out = Vec::with_capacity(33);
        r.read_to_end(&mut out)
            .map_err(|e| fail(format!("envelope payload unreadable: {e}")))?;
        Ok(SecretBytes::new(out))
    }
}

/// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/sops/age/keys.txt"))
}

/// A new X25519 identity: the key file text (with creation comment) and its recipient.
pub fn generate() -> (SecretBytes, String) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let created = crate::timestamp::Timestamp::now_utc().to_rfc3339();
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        id.to_string().expose_secret()
    );
    (SecretBytes::from(text), recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        let (text, recipient) = generate();
        let mut ids = Identities::default();
        assert_eq!(ids.add_text(text.as_str().unwrap(), "test").unwrap(), 1);
        let wrapped = wrap(&recipient, &[7u8; 32]).unwrap();
        assert!(
            wrapped
                .enc
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        assert!(wrapped.enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert_eq!(ids.unwrap(&wrapped).unwrap().expose(), &[7u8; 32]);
        let (_, other) = generate();
        let stranger = wrap(&other, &[1u8; 32]).unwrap();
        assert!(matches!(
            ids.unwrap(&stranger),
            Err(KeyError::Unwrap { .. })
        ));
    }

    #[test]
    fn bad_identity_text_names_line_not_content() {
        let mut ids = Identities::default();
        let err = ids
            .add_text("# c\nAGE-SECRET-KEY-1NOPE\n", "src")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"));
        assert!(!err.contains("NOPE"));
        assert!(Recipient::parse("age1pq1abc").is_err());
        assert!(Recipient::parse("nonsense").is_err());
    }
}
