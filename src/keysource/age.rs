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
        if looks_private(s) {
            return Err(KeyError::PrivateKeyAsRecipient {
                origin: "a recipient".into(),
            });
        }
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

/// Whether a string given as a recipient is in fact private key material, which must never be
/// echoed back.
pub(crate) fn looks_private(s: &str) -> bool {
    let upper = s
        .trim_start()
        .get(..20)
        .unwrap_or(s.trim_start())
        .to_ascii_uppercase();
    upper.starts_with("AGE-SECRET-KEY-")
        || upper.starts_with("AGE-PLUGIN-")
        || upper.starts_with("-----BEGIN") && s.contains("PRIVATE KEY")
}

/// One line for an age decryption failure (age's own messages span two lines and suggest
/// upgrading), and whether it means the envelope itself is damaged.
pub(crate) fn explain(e: &age::DecryptError) -> (&'static str, bool) {
    match e {
        age::DecryptError::NoMatchingKeys => ("no loaded identity matches this recipient", false),
        age::DecryptError::InvalidMac => {
            ("the envelope's header MAC is wrong: it was altered", true)
        }
        age::DecryptError::DecryptionFailed => (
            "the envelope's payload failed authentication: it was altered",
            true,
        ),
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => (
            "the envelope is not a readable age file: it is damaged",
            true,
        ),
        age::DecryptError::Io(_) => ("the envelope's armor is damaged", true),
        age::DecryptError::ExcessiveWork { .. } => {
            ("the passphrase work factor is too high to try", false)
        }
        age::DecryptError::KeyDecryptionFailed => {
            ("an encrypted identity could not be decrypted", false)
        }
        _ => ("age could not decrypt the envelope", false),
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
    /// Every place identities were looked for, in order, with what each held, for error
    /// messages.
    pub sources: Vec<Source>,
    /// The X25519 recipients of the loaded identities.
    pub recipients: Vec<String>,
    /// Whether these identities were looked for where sops looks ([`Identities::from_env`]),
    /// so that pointing `SOPS_AGE_KEY_FILE` elsewhere is the remedy when none of them fits.
    pub from_env: bool,
}

/// One place identities were looked for: an environment variable or a key file, the public
/// keys (recipients) of what it held, and anything that went wrong. Never holds key material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// `SOPS_AGE_KEY_FILE=/x/keys.txt`, `SOPS_AGE_KEY`, `~/.config/sops/age/keys.txt`, …
    pub origin: String,
    /// The recipients of the identities loaded from it (`age1…`, `ssh-ed25519 …`).
    pub recipients: Vec<String>,
    /// Problems: `not found`, an unreadable file, skipped identities.
    pub notes: Vec<String>,
}

/// At most this many sources, and recipients per source, are named in a message.
const SHOWN_SOURCES: usize = 4;
const SHOWN_RECIPIENTS: usize = 2;

/// A recipient shortened for a one-line message: `age1nefd6cry…htt7a`, `ssh-ed25519 …a1b2c3d4`.
pub fn abbreviate(recipient: &str) -> String {
    let r = recipient.trim();
    if let Some((kind, blob)) = r.split_once(' ') {
        let tail: String = blob
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return format!("{kind} …{tail}");
    }
    let n = r.chars().count();
    if n <= 20 {
        return r.to_owned();
    }
    let head: String = r.chars().take(12).collect();
    let tail: String = r.chars().skip(n - 5).collect();
    format!("{head}…{tail}")
}

/// A path for a message, under `~` when it is in the home directory, and at most 80
/// characters (the end kept: it names the file).
fn display_path(path: &Path) -> String {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| !h.as_os_str().is_empty() && h != Path::new("/"));
    let shown = match home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    };
    bound_chars(&shown, 80)
}

/// `s` cut to at most `max` characters, keeping its end.
fn bound_chars(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

impl std::fmt::Display for Source {
    /// `SOPS_AGE_KEY_FILE=/x/keys.txt → age1abc…, age1def… +3 more`, `~/.config/sops/age/keys.txt: not found`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)?;
        if !self.recipients.is_empty() {
            let shown: Vec<String> = self
                .recipients
                .iter()
                .take(SHOWN_RECIPIENTS)
                .map(|r| abbreviate(r))
                .collect();
            write!(f, " → {}", shown.join(", "))?;
            if self.recipients.len() > SHOWN_RECIPIENTS {
                write!(f, " +{} more", self.recipients.len() - SHOWN_RECIPIENTS)?;
            }
            if !self.notes.is_empty() {
                write!(f, " ({})", self.notes.join(", "))?;
            }
        } else if self.notes.is_empty() {
            f.write_str(": no identities")?;
        } else {
            write!(f, ": {}", self.notes.join(", "))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Identities({} keys from {:?})",
            self.ids.len(),
            self.sources.iter().map(|s| &s.origin).collect::<Vec<_>>()
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
    pub(crate) fn as_dyn(&self) -> Vec<&dyn age::Identity> {
        self.ids
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
            .collect()
    }

    /// Parses identity text (an age key file): `#` comments, `AGE-SECRET-KEY-1…` lines.
    /// Errors name the source and line, never the line's content. The source is recorded in
    /// [`Identities::sources`] either way, with what it held.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<usize, KeyError> {
        let mut found = Source {
            origin: source.to_owned(),
            ..Source::default()
        };
        let r = self.parse_text(text, &mut found);
        if let Err(KeyError::BadIdentity { reason, .. }) = &r {
            found.notes.push(reason.clone());
        }
        self.sources.push(found);
        r
    }

    fn parse_text(&mut self, text: &str, found: &mut Source) -> Result<usize, KeyError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-1") {
                let id =
                    age::x25519::Identity::from_str(line).map_err(|_| KeyError::BadIdentity {
                        origin: found.origin.clone(),
                        reason: format!("line {} is not a valid AGE-SECRET-KEY-1 identity", i + 1),
                    })?;
                let recipient = id.to_public().to_string();
                found.recipients.push(recipient.clone());
                self.recipients.push(recipient);
                self.ids.push(Box::new(id));
                n += 1;
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1") || line.starts_with("AGE-PLUGIN-") {
                found.notes.push(format!(
                    "line {}: post-quantum and plugin identities are not supported; skipped",
                    i + 1
                ));
            } else if line.starts_with("-----BEGIN") {
                return self.parse_ssh(text.as_bytes(), found);
            } else {
                return Err(KeyError::BadIdentity {
                    origin: found.origin.clone(),
                    reason: format!("line {} is neither a comment nor an age identity", i + 1),
                });
            }
        }
        Ok(n)
    }

    /// Parses an SSH private key (ed25519 or RSA, unencrypted).
    pub(crate) fn add_ssh(&mut self, pem: &[u8], source: &str) -> Result<usize, KeyError> {
        let mut found = Source {
            origin: source.to_owned(),
            ..Source::default()
        };
        let r = self.parse_ssh(pem, &mut found);
        if let Err(KeyError::BadIdentity { reason, .. }) = &r {
            found.notes.push(reason.clone());
        }
        self.sources.push(found);
        r
    }

    fn parse_ssh(&mut self, pem: &[u8], found: &mut Source) -> Result<usize, KeyError> {
        let id =
            age::ssh::Identity::from_buffer(pem, Some(found.origin.clone())).map_err(|_| {
                KeyError::BadIdentity {
                    origin: found.origin.clone(),
                    reason: "not a readable SSH private key".into(),
                }
            })?;
        // The public half, for messages (an SSH recipient is its `ssh-ed25519 AAAA…` line).
        let public = age::ssh::Recipient::try_from(id.clone())
            .ok()
            .map(|r| r.to_string());
        match id {
            age::ssh::Identity::Unencrypted(_) => {
                found.recipients.extend(public);
                self.ids.push(Box::new(id));
                Ok(1)
            }
            age::ssh::Identity::Encrypted(_) => {
                found
                    .notes
                    .push("passphrase-protected SSH keys are not supported; skipped".into());
                Ok(0)
            }
            age::ssh::Identity::Unsupported(_) => {
                found.notes.push("unsupported SSH key type; skipped".into());
                Ok(0)
            }
        }
    }

    /// Loads a key file (age identities or one SSH key). `origin` names it in messages.
    fn add_file(&mut self, path: &Path, origin: &str, required: bool) -> Result<(), KeyError> {
        match crate::fsutil::read_secret_file(path, crate::fsutil::MAX_SECRET_FILE) {
            Ok(bytes) => {
                let bytes = SecretBytes::new(bytes);
                match bytes.as_str() {
                    Some(t) if !t.trim_start().starts_with("-----BEGIN") => {
                        self.add_text(t, origin)?;
                    }
                    _ => {
                        self.add_ssh(bytes.expose(), origin)?;
                    }
                }
                Ok(())
            }
            Err(e) => {
                let note = if e.kind() == std::io::ErrorKind::NotFound {
                    "not found".to_owned()
                } else {
                    e.to_string()
                };
                self.sources.push(Source {
                    origin: origin.to_owned(),
                    recipients: Vec::new(),
                    notes: vec![note.clone()],
                });
                if required {
                    Err(KeyError::BadIdentity {
                        origin: origin.to_owned(),
                        reason: note,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Loads identities the way sops does, from the environment and default locations. A
    /// source that fails (a missing `SOPS_AGE_KEY_FILE`, a hung `SOPS_AGE_KEY_CMD`) does not stop
    /// the others, nor other key types: it is recorded in [`Identities::sources`] and reported
    /// if no key opens the file.
    pub fn from_env() -> Result<Identities, KeyError> {
        let mut ids = Identities {
            from_env: true,
            ..Identities::default()
        };
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            let text = SecretBytes::from(text);
            let _ = ids.add_text(text.as_str().unwrap_or_default(), "SOPS_AGE_KEY");
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            let origin = format!("SOPS_AGE_KEY_FILE={}", display_path(Path::new(&path)));
            let _ = ids.add_file(Path::new(&path), &origin, true);
        }
        if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
            match run_key_cmd(&cmd) {
                Ok(text) => {
                    let _ = ids.add_text(text.as_str().unwrap_or_default(), "SOPS_AGE_KEY_CMD");
                }
                Err(e) => ids.failed("SOPS_AGE_KEY_CMD", e),
            }
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let origin = format!(
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE={}",
                display_path(Path::new(&path))
            );
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let bytes = SecretBytes::new(bytes);
                    let _ = ids.add_ssh(bytes.expose(), &origin);
                }
                Err(e) => ids.sources.push(Source {
                    origin,
                    recipients: Vec::new(),
                    notes: vec![if e.kind() == std::io::ErrorKind::NotFound {
                        "not found".to_owned()
                    } else {
                        e.to_string()
                    }],
                }),
            }
        }
        if let Some(default) = default_key_file() {
            let _ = ids.add_file(&default, &display_path(&default), false);
        }
        if let Some(home) = std::env::var_os("HOME") {
            for name in ["id_ed25519", "id_rsa"] {
                let p = PathBuf::from(&home).join(".ssh").join(name);
                if p.exists() {
                    let _ = ids.add_file(&p, &display_path(&p), false);
                }
            }
        }
        Ok(ids)
    }

    /// Records a source that could not be read at all.
    fn failed(&mut self, origin: &str, e: KeyError) {
        let note = match e {
            KeyError::BadIdentity { reason, .. } => reason,
            other => other.to_string(),
        };
        self.sources.push(Source {
            origin: origin.to_owned(),
            recipients: Vec::new(),
            notes: vec![note],
        });
    }

    /// Every source tried, on one bounded line: `A → age1…; B: not found; 3 more sources`.
    pub fn tried(&self) -> String {
        if self.sources.is_empty() {
            return "none".into();
        }
        let mut parts: Vec<String> = self
            .sources
            .iter()
            .take(SHOWN_SOURCES)
            .map(|s| bound_chars(&s.to_string(), 200))
            .collect();
        if self.sources.len() > SHOWN_SOURCES {
            let more = self.sources.len() - SHOWN_SOURCES;
            let keys: usize = self.sources[SHOWN_SOURCES..]
                .iter()
                .map(|s| s.recipients.len())
                .sum();
            parts.push(format!(
                "{more} more source{} ({keys} identit{})",
                if more == 1 { "" } else { "s" },
                if keys == 1 { "y" } else { "ies" }
            ));
        }
        parts.join("; ")
    }

    /// Whether any source reported a problem (a missing file, a skipped identity).
    pub fn has_problems(&self) -> bool {
        self.sources.iter().any(|s| !s.notes.is_empty())
    }

    /// Tries to open an armored age envelope.
    pub fn unwrap(&self, key: &AgeKey) -> Result<SecretBytes, KeyError> {
        if self.ids.is_empty() {
            return Err(KeyError::NoIdentities);
        }
        // An envelope labelled for a recipient we hold that does not open was altered.
        let ours = self.recipients.iter().any(|r| r == key.recipient.trim());
        let fail = |e: &age::DecryptError| {
            let (reason, damaged) = explain(e);
            if damaged || ours {
                KeyError::Envelope {
                    key: key.recipient.clone(),
                    reason: if damaged {
                        reason.to_owned()
                    } else {
                        "the envelope for this identity does not open with it: it was altered"
                            .to_owned()
                    },
                }
            } else {
                KeyError::Unwrap {
                    key: key.recipient.clone(),
                    reason: reason.to_owned(),
                }
            }
        };
        let reader = ArmoredReader::new(key.enc.as_bytes());
        let dec = age::Decryptor::new(reader).map_err(|e| fail(&e))?;
        let mut r = dec
            .decrypt(self.ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| fail(&e))?;
        let mut out = Vec::with_capacity(33);
        if r.read_to_end(&mut out).is_err() {
            crate::secret::wipe(&mut out);
            return Err(fail(&age::DecryptError::DecryptionFailed));
        }
        Ok(SecretBytes::new(out))
    }
}

/// The most a key command may print (a key file is a few hundred bytes).
const MAX_KEY_CMD_OUTPUT: usize = 1 << 20;

/// Runs `SOPS_AGE_KEY_CMD` and returns its stdout (the key file text), through
/// `external::run_showing_stderr`: its prompts reach the person, and a command that does not
/// finish within `SHROUD_KEY_CMD_TIMEOUT` (a hung password manager) is killed, as it is when a
/// signal ends shroud.
fn run_key_cmd(cmd: &str) -> Result<SecretBytes, KeyError> {
    use crate::external::{self, Service};
    let fail = |reason: String| KeyError::BadIdentity {
        origin: "SOPS_AGE_KEY_CMD".into(),
        reason,
    };
    let out = external::run_showing_stderr(
        std::process::Command::new("sh").arg("-c").arg(cmd),
        Service::KeyCommand,
        "SOPS_AGE_KEY_CMD",
        None,
    )
    .map_err(|e| match e {
        external::ExternalError::Spawn { source, .. } => {
            fail(format!("cannot start the command: {source}"))
        }
        other => fail(other.to_string()),
    })?;
    let text = SecretBytes::new(out.stdout);
    if !out.status.success() {
        return Err(fail(format!("the command exited with {}", out.status)));
    }
    if text.len() > MAX_KEY_CMD_OUTPUT {
        return Err(fail(format!(
            "the command printed more than {} KiB, more than any key file holds",
            MAX_KEY_CMD_OUTPUT / 1024
        )));
    }
    Ok(text)
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
    fn sources_name_recipients_never_keys_and_stay_bounded() {
        let mut ids = Identities::default();
        let mut texts = Vec::new();
        for i in 0..7 {
            let (text, _) = generate();
            ids.add_text(text.as_str().unwrap(), &format!("file{i}"))
                .unwrap();
            texts.push(text);
        }
        let (one, recipient) = generate();
        let mut many = String::new();
        for t in &texts {
            many.push_str(t.as_str().unwrap());
        }
        many.push_str(one.as_str().unwrap());
        ids.add_text(&many, "keys.txt").unwrap();
        let mut bad = Identities::default();
        assert!(bad.add_text("AGE-SECRET-KEY-1NOPE\n", "broken").is_err());
        assert_eq!(
            bad.tried(),
            "broken: line 1 is not a valid AGE-SECRET-KEY-1 identity"
        );
        let line = ids.tried();
        assert!(!line.contains("AGE-SECRET-KEY"), "{line}");
        assert!(line.starts_with("file0 → age1"), "{line}");
        assert!(line.ends_with("4 more sources (11 identities)"), "{line}");
        assert!(line.len() < 300, "{line}");
        let src = ids.sources.last().unwrap().to_string();
        assert!(
            src.starts_with("keys.txt → age1") && src.ends_with(" +6 more"),
            "{src}"
        );
        let short = abbreviate(&recipient);
        let (head, tail) = short.split_once('…').unwrap();
        assert!(recipient.starts_with(head) && recipient.ends_with(tail) && head.len() == 12);
        assert_eq!(
            abbreviate("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabcdefgh"),
            "ssh-ed25519 …abcdefgh"
        );
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
