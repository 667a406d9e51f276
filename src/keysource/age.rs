//! The age key source: wrapping a data key for age recipients as an armored age file, and
//! unwrapping it with identities found where sops users keep them. Recipients: X25519
//! (`age1…`), SSH ed25519/RSA, hybrid post-quantum (`age1pq1…`, ML-KEM-768 + X25519, stanza
//! `mlkem768x25519`) and age plugins (`age1NAME1…`, run as `age-plugin-NAME`); identities:
//! `AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`, `AGE-PLUGIN-NAME-1…` and SSH private keys.
//!
//! Owns: recipient parsing, identity discovery (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD` and `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, both run per recipient with
//! `SOPS_AGE_RECIPIENT` set as sops 3.12 does, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! `~/.config/sops/age/keys.txt` with XDG, `~/.ssh/id_ed25519`/`id_rsa`), running age plugins
//! under the `SHROUD_AGE_PLUGIN_TIMEOUT` deadline, and `keygen`.
//! Must not know: trees, stores, how the `age` entries are laid out in metadata.

// sops files are made for classic X25519 and SSH recipients, which age 0.13 deprecates for new
// encryption in favour of post-quantum ones: shroud must keep writing them (sops reads them).
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use age::secrecy::{ExposeSecret, SecretString};

use super::KeyError;
use crate::metadata::AgeKey;
use crate::secret::SecretBytes;

/// A parsed recipient.
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
    /// Hybrid post-quantum (`age1pq1…`).
    PostQuantum(age::pq::Recipient),
    /// An age plugin's recipient (`age1NAME1…`), wrapped for by running `age-plugin-NAME`.
    Plugin(age::plugin::Recipient),
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
            recipient: crate::text::shorten_keys(s),
            reason: why.to_owned(),
        };
        if s.starts_with("ssh-") {
            return age::ssh::Recipient::from_str(s)
                .map(Recipient::Ssh)
                .map_err(|_| bad("not a valid ssh-ed25519 or ssh-rsa public key"));
        }
        if s.starts_with("age1pq1") {
            return age::pq::Recipient::from_str(s)
                .map(Recipient::PostQuantum)
                .map_err(|e| {
                    bad(&format!(
                        "not a valid post-quantum (age1pq1…) recipient: {e}"
                    ))
                });
        }
        // The Bech32 data alphabet has no `1`: a second one ends a plugin's name (`age1NAME1…`).
        if s.starts_with("age1") && s[4..].contains('1') {
            return age::plugin::Recipient::from_str(s)
                .map(Recipient::Plugin)
                .map_err(|e| {
                    bad(&format!(
                        "not a valid age plugin (age1NAME1…) recipient: {e}"
                    ))
                });
        }
        if s.starts_with("age1") {
            return age::x25519::Recipient::from_str(s)
                .map(Recipient::X25519)
                .map_err(|_| bad("not a valid X25519 (age1…) recipient"));
        }
        Err(bad(
            "not a valid age recipient (expected age1…, age1pq1…, age1NAME1… for a plugin, or ssh-…)",
        ))
    }

    /// Whether age keeps this recipient apart from classic ones (a file is encrypted either for
    /// post-quantum recipients only, or for classic ones).
    pub fn is_post_quantum(&self) -> bool {
        matches!(self, Recipient::PostQuantum(_))
    }

    /// The recipient as an age encryption target (a plugin one runs its plugin when used:
    /// inside [`with_plugins`]).
    pub fn boxed(&self) -> Result<Box<dyn age::Recipient + Send>, KeyError> {
        Ok(match self {
            Recipient::X25519(r) => Box::new(r.clone()),
            Recipient::Ssh(r) => Box::new(r.clone()),
            Recipient::PostQuantum(r) => Box::new(r.clone()),
            Recipient::Plugin(p) => Box::new(
                age::plugin::RecipientPluginV1::new(
                    p.plugin(),
                    std::slice::from_ref(p),
                    &[],
                    PluginUi,
                )
                .map_err(|e| KeyError::Wrap {
                    key: crate::text::shorten_keys(&p.to_string()),
                    reason: plugin_missing(&e),
                })?,
            ),
        })
    }

    /// The plugin this recipient needs, if any.
    fn plugin(&self) -> Option<&str> {
        match self {
            Recipient::Plugin(p) => Some(p.plugin()),
            _ => None,
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

/// An error on one line, long keys in it shortened (age's plugin errors span lines and name the
/// ~2,000-character recipient).
fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    crate::text::shorten_keys(&joined.join(" "))
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
        age::DecryptError::Plugin(_) => ("the age plugin could not open the envelope", false),
        _ => ("age could not decrypt the envelope", false),
    }
}

/// The user interface age plugins talk to: messages go to stderr; PINs, confirmations and
/// other questions are asked on the terminal (`/dev/tty`), and refused when there is none.
#[derive(Clone, Copy, Debug)]
struct PluginUi;

impl age::Callbacks for PluginUi {
    fn display_message(&self, message: &str) {
        eprintln!("shroud: age plugin: {}", crate::text::sanitize(message));
    }

    fn confirm(&self, message: &str, yes: &str, no: Option<&str>) -> Option<bool> {
        let no = no.unwrap_or("no");
        let prompt = crate::text::sanitize(&format!("shroud: age plugin: {message} [{yes}/{no}] "));
        let answer = rpassword::prompt_password(prompt).ok()?;
        Some(answer.trim().eq_ignore_ascii_case(yes) || answer.trim().eq_ignore_ascii_case("y"))
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        let prompt = crate::text::sanitize(&format!("shroud: age plugin: {description} "));
        rpassword::prompt_password(prompt).ok()
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let prompt = crate::text::sanitize(&format!("shroud: age plugin: {description} "));
        rpassword::prompt_password(prompt)
            .ok()
            .map(SecretString::from)
    }
}

/// Runs `call`, which may start age plugins (`age-plugin-NAME`), under the
/// `SHROUD_AGE_PLUGIN_TIMEOUT` deadline: a plugin still running then (a hardware key waiting for
/// a touch that never comes) is killed, as it is when a signal ends shroud.
pub fn with_plugins<T>(what: &str, call: impl FnOnce() -> T) -> Result<T, KeyError> {
    use crate::external::{self, Service};
    external::supervise(Service::AgePlugin, what, "age-plugin-", call).map_err(|e| {
        KeyError::Unwrap {
            key: what.to_owned(),
            reason: e.to_string(),
        }
    })
}

/// Encrypts `plain` for `recipients` as an armored age file.
fn encrypt_armored(recipients: &[&dyn age::Recipient], plain: &[u8]) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| one_line(e);
    let enc = age::Encryptor::with_recipients(recipients.iter().copied()).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    {
        let armor =
            ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| fail(&e))?;
        let mut w = enc.wrap_output(armor).map_err(|e| fail(&e))?;
        w.write_all(plain).map_err(|e| fail(&e))?;
        w.finish().and_then(|a| a.finish()).map_err(|e| fail(&e))?;
    }
    let mut enc = String::from_utf8(out).map_err(|e| fail(&e))?;
    if !enc.ends_with('\n') {
        enc.push('\n');
    }
    Ok(enc)
}

/// Encrypts `plain` for several recipients at once as one armored age file (key backups),
/// plugins running under [`with_plugins`]. age refuses to mix post-quantum and classic
/// recipients in one file.
pub fn encrypt_for(
    recipients: &[Box<dyn age::Recipient + Send>],
    plain: &[u8],
    runs_plugins: bool,
) -> Result<String, String> {
    let list: Vec<&dyn age::Recipient> = recipients
        .iter()
        .map(|r| r.as_ref() as &dyn age::Recipient)
        .collect();
    if runs_plugins {
        with_plugins("encrypting", || encrypt_armored(&list, plain)).map_err(|e| e.to_string())?
    } else {
        encrypt_armored(&list, plain)
    }
}

/// Wraps `secret` for one recipient as an armored age file.
pub fn wrap(recipient: &str, secret: &[u8]) -> Result<AgeKey, KeyError> {
    let r = Recipient::parse(recipient)?;
    let shown = crate::text::shorten_keys(recipient.trim());
    let fail = |reason: String| KeyError::Wrap {
        key: shown.clone(),
        reason,
    };
    let target = r.boxed()?;
    let list = [target.as_ref() as &dyn age::Recipient];
    let enc = match r.plugin() {
        Some(name) => {
            let what = format!("age-plugin-{name} wrapping for {shown}");
            with_plugins(&what, || encrypt_armored(&list, secret))
                .map_err(|e| fail(e.to_string()))?
                .map_err(fail)?
        }
        None => encrypt_armored(&list, secret).map_err(fail)?,
    };
    Ok(AgeKey {
        recipient: recipient.trim().to_owned(),
        enc,
    })
}

/// A command that prints identities (`SOPS_AGE_KEY_CMD`) or an SSH private key
/// (`SOPS_AGE_SSH_PRIVATE_KEY_CMD`), run once for each recipient whose envelope is opened.
struct KeyCommand {
    var: &'static str,
    cmd: String,
    ssh: bool,
    /// It timed out once: it is not run again (each try would wait as long).
    dead: AtomicBool,
}

/// Identities available to unwrap age envelopes, with a note of where they came from.
#[derive(Default)]
pub struct Identities {
    /// Native identities (X25519, post-quantum, SSH).
    ids: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Plugin identities, used through their plugin.
    plugins: Vec<age::plugin::Identity>,
    /// Every place identities were looked for, in order, with what each held, for error
    /// messages.
    pub sources: Vec<Source>,
    /// The recipients of the loaded native identities.
    pub recipients: Vec<String>,
    /// Whether these identities were looked for where sops looks ([`Identities::from_env`]),
    /// so that pointing `SOPS_AGE_KEY_FILE` elsewhere is the remedy when none of them fits.
    pub from_env: bool,
    /// Key commands, run when an envelope is opened, for its recipient.
    commands: Vec<KeyCommand>,
    /// What the key commands gave, per recipient.
    per_recipient: Mutex<BTreeMap<String, Arc<Identities>>>,
    /// Where the key commands' runs are recorded, for messages.
    ran: Mutex<Vec<Source>>,
}

/// One place identities were looked for: an environment variable or a key file, the public
/// keys (recipients) of what it held, and anything that went wrong. Never holds key material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// `SOPS_AGE_KEY_FILE=/x/keys.txt`, `SOPS_AGE_KEY`, `~/.config/sops/age/keys.txt`, …
    pub origin: String,
    /// The recipients of the identities loaded from it (`age1…`, `age1pq1…`, `ssh-ed25519 …`).
    pub recipients: Vec<String>,
    /// The plugins of the plugin identities loaded from it, one entry per identity (a plugin
    /// identity's recipient is known only to its plugin).
    pub plugins: Vec<String>,
    /// Problems: `not found`, an unreadable file, skipped identities.
    pub notes: Vec<String>,
}

/// At most this many sources, and recipients per source, are named in a message.
const SHOWN_SOURCES: usize = 4;
const SHOWN_RECIPIENTS: usize = 2;

/// A recipient shortened for a one-line message: `age1nefd6cry…htt7a`, `ssh-ed25519 …a1b2c3d4`,
/// `age1pq1ehusfwsv…9ng5dgqq` (see [`crate::text::abbreviate_key`]).
pub fn abbreviate(recipient: &str) -> String {
    crate::text::abbreviate_key(recipient)
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
    /// `SOPS_AGE_KEY_FILE=/x/keys.txt → age1abc…, age1def… +3 more`,
    /// `keys.txt → 1 simplepq plugin identity`, `~/.config/sops/age/keys.txt: not found`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)?;
        let mut held: Vec<String> = self
            .recipients
            .iter()
            .take(SHOWN_RECIPIENTS)
            .map(|r| abbreviate(r))
            .collect();
        if self.recipients.len() > SHOWN_RECIPIENTS {
            let more = format!("+{} more", self.recipients.len() - SHOWN_RECIPIENTS);
            match held.last_mut() {
                Some(last) => {
                    last.push(' ');
                    last.push_str(&more);
                }
                None => held.push(more),
            }
        }
        let mut names: Vec<&String> = self.plugins.iter().collect();
        names.sort();
        names.dedup();
        for name in names {
            let n = self.plugins.iter().filter(|p| *p == name).count();
            held.push(format!(
                "{n} {name} plugin identit{}",
                if n == 1 { "y" } else { "ies" }
            ));
        }
        if !held.is_empty() {
            write!(f, " → {}", held.join(", "))?;
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
            "Identities({} keys, {} plugin identities from {:?})",
            self.ids.len(),
            self.plugins.len(),
            self.sources.iter().map(|s| &s.origin).collect::<Vec<_>>()
        )
    }
}

/// Which plugin identities may open an envelope for `recipient`: those of its plugin, and for a
/// recipient that is no native one and names no loaded plugin, every plugin identity (a plugin
/// may open stanzas of a recipient type it does not name). Never for a native recipient: a
/// plugin (a hardware key) is not started for an envelope it cannot be meant for.
fn plugin_candidates<'a>(
    recipient: &str,
    plugins: &[&'a age::plugin::Identity],
) -> Vec<&'a age::plugin::Identity> {
    if plugins.is_empty() {
        return Vec::new();
    }
    match Recipient::parse(recipient) {
        Ok(Recipient::Plugin(p)) => {
            let same: Vec<_> = plugins
                .iter()
                .copied()
                .filter(|i| i.plugin() == p.plugin())
                .collect();
            if same.is_empty() {
                plugins.to_vec()
            } else {
                same
            }
        }
        Ok(_) => Vec::new(),
        Err(_) => plugins.to_vec(),
    }
}

/// Why a plugin cannot be used, on one line: `age-plugin-NAME is not on PATH`.
fn plugin_missing(e: &age::plugin::ResolveError) -> String {
    match e {
        age::plugin::ResolveError::MissingPlugin { binary_name } => {
            format!("{binary_name} is not on PATH")
        }
        other => one_line(other),
    }
}

/// Opens an armored age file with `identities` (no plugin among them).
fn decrypt_armored(
    armored: &str,
    identities: &[&dyn age::Identity],
) -> Result<SecretBytes, age::DecryptError> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))?;
    let mut r = dec.decrypt(identities.iter().copied())?;
    let mut out = Vec::with_capacity(33);
    if let Err(e) = r.read_to_end(&mut out) {
        crate::secret::wipe(&mut out);
        return Err(age::DecryptError::Io(e));
    }
    Ok(SecretBytes::new(out))
}

/// Why opening an envelope with plugins failed.
enum PluginFailure {
    /// age's own error (the last plugin's, or no match).
    Age(age::DecryptError),
    /// The plugin could not be started or did not answer in time.
    Plugin(String),
}

/// Opens an armored age file with plugin identities, one plugin at a time, each under the
/// plugin deadline.
fn decrypt_with_plugins(
    armored: &str,
    plugins: &[&age::plugin::Identity],
) -> Result<SecretBytes, PluginFailure> {
    let mut names: Vec<&str> = plugins.iter().map(|p| p.plugin()).collect();
    names.sort_unstable();
    names.dedup();
    let mut last = PluginFailure::Age(age::DecryptError::NoMatchingKeys);
    for name in names {
        let ids: Vec<age::plugin::Identity> = plugins
            .iter()
            .filter(|p| p.plugin() == name)
            .map(|p| (*p).clone())
            .collect();
        let plugin = match age::plugin::IdentityPluginV1::new(name, &ids, PluginUi) {
            Ok(p) => p,
            Err(e) => {
                last = PluginFailure::Plugin(plugin_missing(&e));
                continue;
            }
        };
        let what = format!("age-plugin-{name} opening an envelope");
        match with_plugins(&what, || decrypt_armored(armored, &[&plugin])) {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(age::DecryptError::Plugin(errors))) => {
                let text: Vec<String> = errors.iter().map(|e| one_line(e)).collect();
                last = PluginFailure::Plugin(format!("age-plugin-{name}: {}", text.join("; ")));
            }
            Ok(Err(e)) => last = PluginFailure::Age(e),
            Err(e) => {
                return Err(PluginFailure::Plugin(match e {
                    KeyError::Unwrap { reason, .. } => reason,
                    other => other.to_string(),
                }));
            }
        }
    }
    Err(last)
}

impl Identities {
    /// Whether no identity is loaded and none can be asked for.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.plugins.is_empty() && self.commands.is_empty()
    }

    /// The number of identities loaded (key commands not counted: they are run per recipient).
    pub fn len(&self) -> usize {
        self.ids.len() + self.plugins.len()
    }

    /// Parses identity text (an age key file): `#` comments, `AGE-SECRET-KEY-1…`,
    /// `AGE-SECRET-KEY-PQ-1…` and `AGE-PLUGIN-NAME-1…` lines, or one SSH private key.
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
        let origin = found.origin.clone();
        let bad = |line: usize, what: &str| KeyError::BadIdentity {
            origin: origin.clone(),
            reason: format!("line {line} is not a valid {what} identity"),
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-1") {
                let id = age::x25519::Identity::from_str(line)
                    .map_err(|_| bad(i + 1, "AGE-SECRET-KEY-1"))?;
                let recipient = id.to_public().to_string();
                self.add_native(Box::new(id), recipient, found);
                n += 1;
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                let id = age::pq::Identity::from_str(line)
                    .map_err(|_| bad(i + 1, "post-quantum AGE-SECRET-KEY-PQ-1"))?;
                let recipient = id.to_public().to_string();
                self.add_native(Box::new(id), recipient, found);
                n += 1;
            } else if line.starts_with("AGE-PLUGIN-") {
                let id = age::plugin::Identity::from_str(line)
                    .map_err(|_| bad(i + 1, "AGE-PLUGIN-…"))?;
                let name = id.plugin().to_owned();
                if !found.plugins.contains(&name)
                    && let Err(e) = age::plugin::IdentityPluginV1::new(&name, &[], PluginUi)
                {
                    found.notes.push(plugin_missing(&e));
                }
                found.plugins.push(name);
                self.plugins.push(id);
                n += 1;
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

    fn add_native(
        &mut self,
        id: Box<dyn age::Identity + Send + Sync>,
        recipient: String,
        found: &mut Source,
    ) {
        found.recipients.push(recipient.clone());
        self.recipients.push(recipient);
        self.ids.push(id);
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
                    notes: vec![note.clone()],
                    ..Source::default()
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
    /// source that fails (a missing `SOPS_AGE_KEY_FILE`) does not stop the others, nor other
    /// key types: it is recorded in [`Identities::sources`] and reported if no key opens the
    /// file. `SOPS_AGE_KEY_CMD` and `SOPS_AGE_SSH_PRIVATE_KEY_CMD` are not run here: as in sops
    /// 3.12, they run when an envelope is opened, with `SOPS_AGE_RECIPIENT` set to its
    /// recipient (once per recipient).
    pub fn from_env() -> Result<Identities, KeyError> {
        let mut ids = Identities {
            from_env: true,
            ..Identities::default()
        };
        for (var, ssh) in [
            ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", true),
            ("SOPS_AGE_KEY_CMD", false),
        ] {
            if let Ok(cmd) = std::env::var(var) {
                ids.commands.push(KeyCommand {
                    var,
                    cmd,
                    ssh,
                    dead: AtomicBool::new(false),
                });
            }
        }
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            let text = SecretBytes::from(text);
            let _ = ids.add_text(text.as_str().unwrap_or_default(), "SOPS_AGE_KEY");
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            let origin = format!("SOPS_AGE_KEY_FILE={}", display_path(Path::new(&path)));
            let _ = ids.add_file(Path::new(&path), &origin, true);
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
                    notes: vec![if e.kind() == std::io::ErrorKind::NotFound {
                        "not found".to_owned()
                    } else {
                        e.to_string()
                    }],
                    ..Source::default()
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
            notes: vec![note],
            ..Source::default()
        });
    }

    /// What the key commands give for `recipient`: run once per recipient (with
    /// `SOPS_AGE_RECIPIENT` set to it), then remembered. `None` without key commands, or when
    /// `run` is false and they have not run for it yet.
    fn for_recipient(&self, recipient: &str, run: bool) -> Option<Arc<Identities>> {
        if self.commands.is_empty() {
            return None;
        }
        // Held while the commands run: a second thread waits rather than prompting twice.
        let mut cache = self.per_recipient.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(recipient) {
            return Some(found.clone());
        }
        if !run {
            return None;
        }
        let mut got = Identities::default();
        for c in &self.commands {
            if c.dead.load(Ordering::Relaxed) {
                continue;
            }
            match run_key_cmd(c, recipient) {
                Ok(out) if c.ssh => {
                    let _ = got.add_ssh(out.expose(), c.var);
                }
                Ok(out) => {
                    let _ = got.add_text(out.as_str().unwrap_or_default(), c.var);
                }
                Err((e, timed_out)) => {
                    if timed_out {
                        c.dead.store(true, Ordering::Relaxed);
                    }
                    got.failed(c.var, e);
                }
            }
        }
        let mut ran = self.ran.lock().unwrap_or_else(|e| e.into_inner());
        for s in &got.sources {
            if !ran.contains(s) {
                ran.push(s.clone());
            }
        }
        let got = Arc::new(got);
        cache.insert(recipient.to_owned(), got.clone());
        Some(got)
    }

    /// Every place identities were looked for, key command runs included.
    fn all_sources(&self) -> Vec<Source> {
        let mut all = self.sources.clone();
        all.extend(
            self.ran
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// Every source tried, on one bounded line: `A → age1…; B: not found; 3 more sources`.
    pub fn tried(&self) -> String {
        let sources = self.all_sources();
        if sources.is_empty() {
            return "none".into();
        }
        let mut parts: Vec<String> = sources
            .iter()
            .take(SHOWN_SOURCES)
            .map(|s| bound_chars(&s.to_string(), 200))
            .collect();
        if sources.len() > SHOWN_SOURCES {
            let more = sources.len() - SHOWN_SOURCES;
            let keys: usize = sources[SHOWN_SOURCES..]
                .iter()
                .map(|s| s.recipients.len() + s.plugins.len())
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
        self.all_sources().iter().any(|s| !s.notes.is_empty())
    }

    /// Opens an armored age file (a key backup's payload) with every loaded identity, plugins
    /// included (under the plugin deadline).
    pub fn open_armored(&self, armored: &str) -> Result<SecretBytes, age::DecryptError> {
        let natives: Vec<&dyn age::Identity> = self
            .ids
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
            .collect();
        match decrypt_armored(armored, &natives) {
            Err(age::DecryptError::NoMatchingKeys) if !self.plugins.is_empty() => {
                let plugins: Vec<&age::plugin::Identity> = self.plugins.iter().collect();
                decrypt_with_plugins(armored, &plugins).map_err(|e| match e {
                    PluginFailure::Age(e) => e,
                    PluginFailure::Plugin(_) => age::DecryptError::NoMatchingKeys,
                })
            }
            other => other,
        }
    }

    /// Tries to open an armored age envelope.
    pub fn unwrap(&self, key: &AgeKey) -> Result<SecretBytes, KeyError> {
        self.open(key, true)
    }

    /// Opens an envelope with the loaded identities and, when `ask` is set, with what the key
    /// commands give for its recipient and with the plugin identities that may be meant for it.
    fn open(&self, key: &AgeKey, ask: bool) -> Result<SecretBytes, KeyError> {
        let recipient = key.recipient.trim();
        let extra = self.for_recipient(recipient, ask);
        let extra = extra.as_deref();
        let natives: Vec<&dyn age::Identity> = self
            .ids
            .iter()
            .chain(extra.into_iter().flat_map(|e| e.ids.iter()))
            .map(|i| i.as_ref() as &dyn age::Identity)
            .collect();
        let plugins: Vec<&age::plugin::Identity> = if ask {
            let all: Vec<&age::plugin::Identity> = self
                .plugins
                .iter()
                .chain(extra.into_iter().flat_map(|e| e.plugins.iter()))
                .collect();
            plugin_candidates(recipient, &all)
        } else {
            Vec::new()
        };
        let loaded = !self.ids.is_empty()
            || !self.plugins.is_empty()
            || extra.is_some_and(|e| !e.ids.is_empty() || !e.plugins.is_empty());
        if !loaded {
            return Err(KeyError::NoIdentities);
        }
        let shown = crate::text::shorten_keys(&key.recipient);
        // An envelope labelled for a recipient we hold that does not open was altered.
        let ours = self
            .recipients
            .iter()
            .chain(extra.into_iter().flat_map(|e| e.recipients.iter()))
            .any(|r| r == recipient);
        let fail = |e: &age::DecryptError| {
            let (reason, damaged) = explain(e);
            if damaged || ours {
                KeyError::Envelope {
                    key: shown.clone(),
                    reason: if damaged {
                        reason.to_owned()
                    } else {
                        "the envelope for this identity does not open with it: it was altered"
                            .to_owned()
                    },
                }
            } else {
                KeyError::Unwrap {
                    key: shown.clone(),
                    reason: reason.to_owned(),
                }
            }
        };
        match decrypt_armored(&key.enc, &natives) {
            Ok(s) => return Ok(s),
            Err(age::DecryptError::NoMatchingKeys) if !plugins.is_empty() => {}
            Err(e) => return Err(fail(&e)),
        }
        decrypt_with_plugins(&key.enc, &plugins).map_err(|e| match e {
            PluginFailure::Age(e) => fail(&e),
            PluginFailure::Plugin(reason) => KeyError::Unwrap {
                key: shown.clone(),
                reason,
            },
        })
    }
}

/// The most a key command may print (a key file is a few hundred bytes).
const MAX_KEY_CMD_OUTPUT: usize = 1 << 20;

/// Runs a key command for `recipient` (`SOPS_AGE_RECIPIENT`) and returns its stdout (the key
/// file text, or an SSH private key), through `external::run_showing_stderr`: its prompts reach
/// the person, and a command that does not finish within `SHROUD_KEY_CMD_TIMEOUT` (a hung
/// password manager) is killed, as it is when a signal ends shroud. The error says whether it
/// timed out.
fn run_key_cmd(c: &KeyCommand, recipient: &str) -> Result<SecretBytes, (KeyError, bool)> {
    use crate::external::{self, Service};
    let fail = |reason: String| KeyError::BadIdentity {
        origin: c.var.into(),
        reason,
    };
    let out = external::run_showing_stderr(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&c.cmd)
            .env("SOPS_AGE_RECIPIENT", recipient),
        Service::KeyCommand,
        c.var,
        None,
    )
    .map_err(|e| {
        let timed_out = e.is_timeout();
        let err = match e {
            external::ExternalError::Spawn { source, .. } => {
                fail(format!("cannot start the command: {source}"))
            }
            other => fail(other.to_string()),
        };
        (err, timed_out)
    })?;
    let text = SecretBytes::new(out.stdout);
    if !out.status.success() {
        return Err((
            fail(format!("the command exited with {}", out.status)),
            false,
        ));
    }
    if text.len() > MAX_KEY_CMD_OUTPUT {
        return Err((
            fail(format!(
                "the command printed more than {} KiB, more than any key file holds",
                MAX_KEY_CMD_OUTPUT / 1024
            )),
            false,
        ));
    }
    Ok(text)
}

/// The age key source: new envelopes for recipients, opened with the loaded identities.
impl super::KeySource for Identities {
    type Spec = str;
    type Envelope = AgeKey;
    const KIND: crate::metadata::KeyKind = crate::metadata::KeyKind::Age;

    async fn wrap(&self, recipient: &str, secret: &[u8]) -> Result<AgeKey, KeyError> {
        wrap(recipient, secret)
    }

    async fn unwrap(&self, key: &AgeKey) -> Result<SecretBytes, KeyError> {
        Identities::unwrap(self, key)
    }

    /// A new envelope is opened with the identities already loaded: checking it never runs a
    /// key command or a plugin (which may prompt, or wait for a hardware key's touch).
    async fn check(&self, key: &AgeKey) -> Result<Option<SecretBytes>, String> {
        let reader = ArmoredReader::new(key.enc.as_bytes());
        if let Err(e) = age::Decryptor::new(reader) {
            return Err(format!("the age envelope is malformed ({})", one_line(&e)));
        }
        match self.open(key, false) {
            Ok(s) => Ok(Some(s)),
            Err(KeyError::Envelope { .. }) => {
                Err("the new age envelope does not open with the identity it was made for".into())
            }
            Err(_) => Ok(None),
        }
    }
}

/// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/sops/age/keys.txt"))
}

/// The recipients of the native identities (X25519, post-quantum) in key file text; other
/// lines are ignored. For publishing what a key file opens (the controller's recipients).
pub fn recipients_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| {
            if l.starts_with("AGE-SECRET-KEY-1") {
                age::x25519::Identity::from_str(l)
                    .ok()
                    .map(|id| id.to_public().to_string())
            } else if l.starts_with("AGE-SECRET-KEY-PQ-1") {
                age::pq::Identity::from_str(l)
                    .ok()
                    .map(|id| id.to_public().to_string())
            } else {
                None
            }
        })
        .collect()
}

/// What names an identity in a listing, without its key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityPublic {
    /// The recipient of a native identity (`age1…`, `age1pq1…`).
    Recipient(String),
    /// The plugin of a plugin identity (only the plugin knows its recipient).
    Plugin(String),
}

/// The public side of one identity line (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`,
/// `AGE-PLUGIN-NAME-1…`); `None` when the line is not a valid identity. For key backups,
/// which list what they hold.
pub fn identity_public(line: &str) -> Option<IdentityPublic> {
    let line = line.trim();
    if line.starts_with("AGE-PLUGIN-") {
        return age::plugin::Identity::from_str(line)
            .ok()
            .map(|i| IdentityPublic::Plugin(i.plugin().to_owned()));
    }
    recipients_of(line).pop().map(IdentityPublic::Recipient)
}

/// Whether a key file line is an age identity (native or plugin).
pub fn is_identity_line(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("AGE-SECRET-KEY-") || l.starts_with("AGE-PLUGIN-")
}

/// A new identity: the key file text (with creation comment, as `age-keygen` writes it) and
/// its recipient. `post_quantum`: a hybrid ML-KEM-768 + X25519 identity (`AGE-SECRET-KEY-PQ-1…`,
/// recipient `age1pq1…`), as `age-keygen -pq` makes; else a classic X25519 one.
pub fn generate_kind(post_quantum: bool) -> (SecretBytes, String) {
    let (secret, recipient) = if post_quantum {
        let id = age::pq::Identity::generate();
        (id.to_string(), id.to_public().to_string())
    } else {
        let id = age::x25519::Identity::generate();
        (id.to_string(), id.to_public().to_string())
    };
    let created = crate::timestamp::Timestamp::now_utc().to_rfc3339();
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.expose_secret()
    );
    (SecretBytes::from(text), recipient)
}

/// A new X25519 identity: the key file text (with creation comment) and its recipient.
pub fn generate() -> (SecretBytes, String) {
    generate_kind(false)
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
        let mut ids = Identities::default();
        let err = ids
            .add_text("AGE-SECRET-KEY-PQ-1NOPE\n", "src")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1 is not a valid post-quantum"), "{err}");
        assert!(!err.contains("NOPE"));
    }

    #[test]
    fn post_quantum_round_trip_and_recipient_of_identity() {
        let (text, recipient) = generate_kind(true);
        assert!(recipient.starts_with("age1pq1") && recipient.len() > 1900);
        let t = text.as_str().unwrap();
        assert!(t.contains("\nAGE-SECRET-KEY-PQ-1"));
        assert_eq!(recipients_of(t), vec![recipient.clone()]);
        let mut ids = Identities::default();
        assert_eq!(ids.add_text(t, "pq").unwrap(), 1);
        let wrapped = wrap(&recipient, &[9u8; 32]).unwrap();
        assert!(
            wrapped
                .enc
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        assert_eq!(ids.unwrap(&wrapped).unwrap().expose(), &[9u8; 32]);
        // The recipient is named shortened, still telling it apart.
        let line = ids.tried();
        assert!(line.len() < 60 && line.contains(&recipient[..15]), "{line}");
        // An X25519 identity does not open it, and says so.
        let (x, _) = generate();
        let mut other = Identities::default();
        other.add_text(x.as_str().unwrap(), "x").unwrap();
        assert!(
            matches!(other.unwrap(&wrapped), Err(KeyError::Unwrap { key, .. }) if key.len() < 40)
        );
    }

    #[test]
    fn plugin_identities_are_tried_only_for_envelopes_they_may_be_meant_for() {
        let a = age::plugin::Identity::default_for_plugin("alpha").unwrap();
        let b = age::plugin::Identity::default_for_plugin("beta").unwrap();
        let both = [&a, &b];
        let names = |v: Vec<&age::plugin::Identity>| -> Vec<String> {
            v.iter().map(|i| i.plugin().to_owned()).collect()
        };
        let (_, x25519) = generate();
        let (_, pq) = generate_kind(true);
        assert!(plugin_candidates(&x25519, &both).is_empty());
        assert!(plugin_candidates(&pq, &both).is_empty());
        let beta =
            bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("age1beta").unwrap(), &[1, 2, 3])
                .unwrap();
        assert_eq!(names(plugin_candidates(&beta, &both)), ["beta"]);
        let gamma =
            bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("age1gamma").unwrap(), &[1, 2, 3])
                .unwrap();
        assert_eq!(names(plugin_candidates(&gamma, &both)), ["alpha", "beta"]);
        assert!(
            matches!(Recipient::parse(&beta), Ok(Recipient::Plugin(p)) if p.plugin() == "beta")
        );
        // A plugin identity is listed by plugin, never printed.
        let mut ids = Identities::default();
        let line = a.to_string();
        assert_eq!(ids.add_text(&format!("{line}\n"), "k").unwrap(), 1);
        assert_eq!(
            identity_public(&line),
            Some(IdentityPublic::Plugin("alpha".into()))
        );
        let shown = ids.tried();
        assert!(shown.starts_with("k → 1 alpha plugin identity"), "{shown}");
        assert!(shown.contains("age-plugin-alpha"), "{shown}");
        assert!(!shown.contains("AGE-PLUGIN"), "{shown}");
    }
}
