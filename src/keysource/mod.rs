//! Key sources: the behaviour behind the master-key records of `metadata::envelope`, i.e.
//! wrapping a data key for recipients and unwrapping it from key groups, with Shamir
//! recombination when the key is split.
//!
//! Owns: the [`Keyring`] (loaded identities and clients), wrap/unwrap per key type (age, PGP
//! through GnuPG, AWS KMS; other vendors' keys reported clearly), checking every new envelope
//! before it is used (well formed, and opened and compared when the keyring holds its key), and
//! [`KeySpec`], what a new data key is wrapped for. The only asynchronous part of the library below the cluster code:
//! remote key services are awaited here.
//! Must not know: trees, stores, file formats, how records are laid out on disk.

pub mod age;
pub mod kms;
pub mod pgp;
pub mod plan;
pub mod shamir;

use crate::metadata::envelope::{MasterKey, kms_identity};
use crate::metadata::kind::{self, DEFAULT_ORDER, KeyKind};
use crate::metadata::{KeyGroup, Metadata};
use crate::secret::{DataKey, SecretBytes};

pub use kms::KmsSpec;

/// Parses `--decryption-order` / `SOPS_DECRYPTION_ORDER` (`age,pgp,kms`; sops's names).
pub fn parse_decryption_order(s: &str) -> Result<Vec<KeyKind>, String> {
    kind::parse_order(s)
}

/// One key source: wrapping a data key (or a Shamir share) for one of its keys, unwrapping it
/// from one of its envelopes, and checking a new envelope before anything is written. Each
/// source is one file of this module ([`age`], [`pgp`], [`kms`]); the [`Keyring`] holds one of
/// each and dispatches by key type in `wrap_unchecked`, `unwrap_one` and `check_envelope`, with
/// matches that have no catch-all arm, so a source that is added but not wired in does not
/// compile.
pub trait KeySource {
    /// What a new envelope is made for (a recipient, a fingerprint, a KMS key).
    type Spec: ?Sized;
    /// The stored envelope (a record of `metadata::envelope`).
    type Envelope;
    /// The source's row in the key-type table.
    const KIND: KeyKind;

    fn wrap(
        &self,
        spec: &Self::Spec,
        secret: &[u8],
    ) -> impl Future<Output = Result<Self::Envelope, KeyError>> + Send;

    fn unwrap(
        &self,
        envelope: &Self::Envelope,
    ) -> impl Future<Output = Result<SecretBytes, KeyError>> + Send;

    /// Checks a new envelope: `Err(why)` when it is malformed or does not open with the key it
    /// was made for; `Ok(Some(secret))` when it opened here (the caller compares it with what
    /// was wrapped); `Ok(None)` when it cannot be opened here (no key, no permission).
    fn check(
        &self,
        envelope: &Self::Envelope,
    ) -> impl Future<Output = Result<Option<SecretBytes>, String>> + Send;
}

/// Why a data key could not be wrapped or recovered. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid recipient {recipient:?}: {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error(
        "{origin}: a private key (AGE-SECRET-KEY-1…) was given where a recipient belongs; it was not used or printed. Give its public key instead: `age-keygen -y KEYFILE` prints it"
    )]
    PrivateKeyAsRecipient { origin: String },
    #[error("invalid identity in {origin}: {reason}")]
    BadIdentity { origin: String, reason: String },
    #[error(
        "no age identities found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, or put keys in ~/.config/sops/age/keys.txt)"
    )]
    NoIdentities,
    #[error("could not wrap the data key for {key}: {reason}")]
    Wrap { key: String, reason: String },
    #[error("{key}: {reason}")]
    Unwrap { key: String, reason: String },
    /// An envelope meant for a key we hold failed to open: it was altered or is corrupt.
    #[error("{key}: {reason}")]
    Envelope { key: String, reason: String },
    #[error("the data key's envelopes are damaged: {summary}; the file was altered or is corrupt")]
    Damaged { summary: String },
    #[error(
        "{kind} key {key} cannot be used by shroud: only {} keys can",
        kind::supported_names()
    )]
    Unsupported { kind: &'static str, key: String },
    #[error("could not decrypt the data key: {summary}")]
    NoKey { summary: String },
    #[error("the recovered data key has {0} bytes, expected 32")]
    BadLength(usize),
    #[error("Shamir recombination failed: {0}")]
    Shamir(#[from] shamir::ShamirError),
    #[error(
        "no recipients given: pass {}, or add a creation rule to .sops.yaml",
        recipient_options()
    )]
    NoRecipients,
}

impl KeyError {
    /// The reason alone, without the key it concerns (for per-key reports).
    fn reason(&self) -> String {
        match self {
            KeyError::Unwrap { reason, .. } | KeyError::Envelope { reason, .. } => reason.clone(),
            // Where identities were looked for, and the remedy, follow the per-key report.
            KeyError::NoIdentities => "no age identity was found".into(),
            other => other.to_string(),
        }
    }
}

/// `--age (or SOPS_AGE_RECIPIENTS), --kms (or SOPS_KMS_ARN) or --pgp (or SOPS_PGP_FP)`, from
/// the key-type table.
fn recipient_options() -> String {
    let opts: Vec<String> = kind::KINDS
        .iter()
        .filter(|k| k.supported.is_some())
        .map(|k| format!("{} (or {})", k.flag, k.env))
        .collect();
    match opts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => opts.join(""),
    }
}

/// At most this many keys sharing one reason, and key groups, are named in a message.
const SHOWN_KEYS: usize = 3;
const SHOWN_GROUPS: usize = 4;

/// `a, b, c and 4 more`.
fn bounded_list(items: &[String], max: usize) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        out.push_str(&format!(" and {} more", items.len() - max));
    }
    out
}

/// Why each key of a group failed, keys with the same reason together:
/// `age age1a…, age age1b…: no loaded identity matches this recipient; PGP F00…: no secret key`.
fn describe_failures(failures: &[(String, KeyError)]) -> String {
    let mut by_reason: Vec<(String, Vec<String>)> = Vec::new();
    for (key, why) in failures {
        let reason = why.reason();
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, keys)) => keys.push(key.clone()),
            None => by_reason.push((reason, vec![key.clone()])),
        }
    }
    by_reason
        .iter()
        .map(|(reason, keys)| format!("{}: {reason}", bounded_list(keys, SHOWN_KEYS)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What to encrypt a new data key for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Age(String),
    /// A PGP fingerprint (encrypted through gpg).
    Pgp(String),
    Kms(KmsSpec),
}

/// Everything available to unwrap data keys: loaded identities and clients.
#[derive(Debug, Default)]
pub struct Keyring {
    pub age: age::Identities,
    /// AWS KMS clients, created on first use.
    pub kms: kms::Clients,
    /// GnuPG (the user's keyring, or a given directory).
    pub pgp: pgp::Gpg,
    /// Key types tried first, in this order (empty: sops's default, age, PGP, AWS KMS); types
    /// not listed follow in the default order.
    pub order: Vec<KeyKind>,
    /// Use only the key types in `order`: a backup check must not pass through ambient
    /// credentials (AWS, the user's own GnuPG keyring) that are not part of the backup.
    pub exclusive: bool,
    /// What each envelope held, when this keyring remembers ([`Keyring::remembering`]).
    opened: Opened,
}

/// Parts (data keys or Shamir shares) by envelope digest; wiped when the keyring is dropped.
#[derive(Debug, Default)]
struct Opened(Option<std::sync::Mutex<std::collections::HashMap<[u8; 32], SecretBytes>>>);

/// An envelope's digest: its key type, every field that decides how it is opened (the
/// recipient or fingerprint; for KMS the ARN, role, encryption context and profile, each on
/// its own, since the context is bound to the ciphertext) and the wrapped text. Key types
/// shroud does not open have none.
fn envelope_digest(key: &MasterKey) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |part: &str| {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    };
    match key {
        MasterKey::Age(a) => ["age", &a.recipient, &a.enc]
            .into_iter()
            .for_each(&mut field),
        MasterKey::Pgp(p) => ["pgp", &p.fp, &p.enc].into_iter().for_each(&mut field),
        MasterKey::Kms(k) => {
            field("kms");
            field(&k.arn);
            field(&k.role.as_ref().map_or("0".into(), |r| format!("1{r}")));
            field(&k.context.len().to_string());
            for (name, value) in &k.context {
                field(name);
                field(value);
            }
            field(
                &k.aws_profile
                    .as_ref()
                    .map_or("0".into(), |p| format!("1{p}")),
            );
            field(&k.enc);
        }
        MasterKey::Other(_) => return None,
    }
    Some(h.finalize().into())
}

impl Keyring {
    /// Loads identities from the environment as sops does.
    pub fn from_env() -> Result<Keyring, KeyError> {
        Ok(Keyring {
            age: age::Identities::from_env()?,
            kms: kms::Clients::default(),
            pgp: pgp::Gpg::default(),
            order: Vec::new(),
            exclusive: false,
            opened: Opened::default(),
        })
    }

    /// This keyring keeps what each envelope it opens held, for as long as it lives, so a
    /// command that opens the same files more than once (`keys revoke`: the exposure check,
    /// the pre-flight check, the re-key) asks gpg, KMS or age once per envelope. For one
    /// command's keyring only: a long-lived process would keep every data key it ever saw.
    pub fn remembering(mut self) -> Self {
        self.opened = Opened(Some(Default::default()));
        self
    }

    /// Where a key type comes in the decryption order.
    fn rank(&self, t: KeyKind) -> usize {
        let chosen = self.order.iter().position(|o| *o == t);
        let default = DEFAULT_ORDER
            .iter()
            .position(|o| *o == t)
            .unwrap_or(DEFAULT_ORDER.len());
        match chosen {
            Some(i) => i,
            None => self.order.len() + default,
        }
    }

    async fn unwrap_one(&self, key: &MasterKey) -> Result<SecretBytes, KeyError> {
        let memo = self
            .opened
            .0
            .as_ref()
            .and_then(|m| Some((m, envelope_digest(key)?)));
        if let Some((m, d)) = &memo
            && let Some(part) = m.lock().unwrap_or_else(|e| e.into_inner()).get(d)
        {
            return Ok(SecretBytes::from_slice(part.expose()));
        }
        let part = self.unwrap_fresh(key).await?;
        if let Some((m, d)) = memo {
            m.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(d, SecretBytes::from_slice(part.expose()));
        }
        Ok(part)
    }

    async fn unwrap_fresh(&self, key: &MasterKey) -> Result<SecretBytes, KeyError> {
        match key {
            MasterKey::Age(a) => KeySource::unwrap(&self.age, a).await,
            MasterKey::Pgp(p) => KeySource::unwrap(&self.pgp, p).await,
            MasterKey::Kms(k) => KeySource::unwrap(&self.kms, k).await,
            MasterKey::Other(o) => Err(KeyError::Unsupported {
                kind: o.kind.label(),
                key: o.identity(),
            }),
        }
    }

    /// Recovers one group's part (the data key, or its Shamir share): keys are tried in
    /// decryption order and the first that opens its envelope wins.
    async fn unwrap_group(&self, group: &KeyGroup) -> Result<SecretBytes, Vec<(String, KeyError)>> {
        let mut keys: Vec<&MasterKey> = group.keys.iter().collect();
        keys.sort_by_key(|k| self.rank(k.kind()));
        let mut failures = Vec::new();
        for k in keys {
            if self.exclusive && !self.order.contains(&k.kind()) {
                failures.push((
                    k.shown(),
                    KeyError::Unwrap {
                        key: k.shown(),
                        reason: format!("not tried ({} keys are not used here)", k.type_name()),
                    },
                ));
                continue;
            }
            match self.unwrap_one(k).await {
                Ok(part) => return Ok(part),
                Err(e) => failures.push((k.shown(), e)),
            }
        }
        Err(failures)
    }

    /// Whether age keys of `md` were tried with our identities (they are, unless a backup
    /// check leaves age out).
    fn age_was_tried(&self, md: &Metadata) -> bool {
        md.all_keys().any(|k| matches!(k, MasterKey::Age(_)))
            && (!self.exclusive || self.order.contains(&KeyKind::Age))
    }

    /// Where age identities were looked for and what each held, and, when they were looked
    /// for as sops does, the remedy: ` [age identities tried: …] (set SOPS_AGE_KEY_FILE …)`.
    /// Names public keys (recipients) only, never key material.
    fn age_advice(&self) -> String {
        let mut out = format!(" [age identities tried: {}]", self.age.tried());
        if self.age.from_env {
            out.push_str(if self.age.is_empty() {
                " (set SOPS_AGE_KEY_FILE to your age key file, or put it at ~/.config/sops/age/keys.txt)"
            } else {
                " (set SOPS_AGE_KEY_FILE to the key file that holds the identity of one of the file's age recipients)"
            });
        }
        out
    }

    /// Recovers the data key of a file. With several groups, any `threshold` of them suffice;
    /// on failure the error lists every group and why each of its keys failed.
    pub(crate) async fn unwrap_data_key(&self, md: &Metadata) -> Result<DataKey, KeyError> {
        let threshold = md.threshold();
        let mut parts: Vec<SecretBytes> = Vec::new();
        let mut report: Vec<String> = Vec::new();
        let mut damaged = false;
        for (i, group) in md.key_groups.iter().enumerate() {
            if parts.len() >= threshold {
                break;
            }
            match self.unwrap_group(group).await {
                Ok(p) => parts.push(p),
                Err(failures) => {
                    damaged |= failures
                        .iter()
                        .any(|(_, e)| matches!(e, KeyError::Envelope { .. }));
                    let detail = if failures.is_empty() {
                        "the group has no keys".to_owned()
                    } else {
                        describe_failures(&failures)
                    };
                    report.push(if md.key_groups.len() > 1 {
                        format!("group {i}: {detail}")
                    } else {
                        detail
                    });
                }
            }
        }
        if parts.len() < threshold {
            if report.len() > SHOWN_GROUPS {
                let more = report.len() - SHOWN_GROUPS;
                report.truncate(SHOWN_GROUPS);
                report.push(format!("{more} more groups failed"));
            }
            let mut summary = if md.key_groups.len() > 1 {
                format!(
                    "{} of {} key groups opened, {} needed ({})",
                    parts.len(),
                    md.key_groups.len(),
                    threshold,
                    report.join(" | ")
                )
            } else {
                report.join(" | ")
            };
            let usable = md.all_keys().any(|k| k.kind().is_supported());
            if !usable {
                let mut kinds: Vec<&str> = md.all_keys().map(|k| k.type_name()).collect();
                kinds.dedup();
                let ids: Vec<String> = md.all_keys().map(|k| k.identity()).collect();
                summary = format!(
                    "this file's data key is wrapped only for {} keys ({}): this key source is not supported by shroud; open it with sops and re-encrypt it for {}",
                    kinds.join("/"),
                    ids.join(", "),
                    kind::supported_names()
                );
            } else if self.age_was_tried(md) {
                summary.push_str(&self.age_advice());
            }
            if md.all_keys().next().is_none() {
                summary = "the file lists no master keys".into();
                damaged = true;
            }
            if damaged {
                return Err(KeyError::Damaged { summary });
            }
            return Err(KeyError::NoKey { summary });
        }
        let key = if threshold > 1 {
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.expose()).collect();
            shamir::combine(&refs)?
        } else {
            parts.swap_remove(0)
        };
        DataKey::from_slice(key.expose()).ok_or(KeyError::BadLength(key.len()))
    }
}

/// Wraps a data key for key groups built from `specs` (one spec list per group). With several
/// groups the key is split and each group wraps its own share.
pub(crate) async fn wrap_data_key(
    keyring: &Keyring,
    key: &DataKey,
    groups: &[Vec<KeySpec>],
    threshold: usize,
) -> Result<(Vec<KeyGroup>, usize), KeyError> {
    if groups.iter().all(|g| g.is_empty()) {
        return Err(KeyError::NoRecipients);
    }
    let (parts, threshold) = if groups.len() > 1 {
        let t = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        (shamir::split(key.expose(), groups.len(), t)?, t)
    } else {
        // One group is not split; a threshold given for it is kept, as sops records it.
        (vec![SecretBytes::from_slice(key.expose())], threshold)
    };
    let mut out = Vec::new();
    for (specs, part) in groups.iter().zip(parts.iter()) {
        let mut g = KeyGroup::default();
        for spec in specs {
            g.keys.push(wrap_one(keyring, spec, part.expose()).await?);
        }
        out.push(g);
    }
    Ok((out, threshold))
}

/// Wraps `secret` for one key and checks the envelope before anyone writes it: a key source
/// that "succeeds" with garbage (a gpg that exits 0 with nothing, a proxy answering for KMS)
/// must fail here, naming the key, while the file is still untouched.
async fn wrap_one(keyring: &Keyring, spec: &KeySpec, secret: &[u8]) -> Result<MasterKey, KeyError> {
    let key = wrap_unchecked(keyring, spec, secret).await?;
    check_envelope(keyring, &key, secret).await?;
    Ok(key)
}

/// An envelope that cannot be trusted to open to what it was made for.
fn bad_envelope(key: &MasterKey, reason: impl Into<String>) -> KeyError {
    KeyError::Wrap {
        key: key.shown(),
        reason: reason.into(),
    }
}

/// The checks of [`wrap_one`], by the envelope's source (see [`KeySource::check`]): the
/// envelope is well formed for its type, and when the keyring holds a key that opens it, it is
/// opened once and must give back exactly `secret`.
async fn check_envelope(keyring: &Keyring, key: &MasterKey, secret: &[u8]) -> Result<(), KeyError> {
    use subtle::ConstantTimeEq;
    let opened = match key {
        MasterKey::Age(a) => keyring.age.check(a).await,
        MasterKey::Pgp(p) => keyring.pgp.check(p).await,
        MasterKey::Kms(k) => keyring.kms.check(k).await,
        MasterKey::Other(_) => Ok(None),
    }
    .map_err(|why| bad_envelope(key, format!("{why}; nothing was written")))?;
    match opened {
        Some(s) if !bool::from(s.expose().ct_eq(secret)) => Err(bad_envelope(
            key,
            format!(
                "the new envelope opens to something else than the data key it was made for (the {} key source returned a wrong result); nothing was written",
                key.type_name()
            ),
        )),
        _ => Ok(()),
    }
}

async fn wrap_unchecked(
    keyring: &Keyring,
    spec: &KeySpec,
    secret: &[u8],
) -> Result<MasterKey, KeyError> {
    Ok(match spec {
        KeySpec::Age(r) => MasterKey::Age(keyring.age.wrap(r.as_str(), secret).await?),
        KeySpec::Pgp(fp) => {
            MasterKey::Pgp(KeySource::wrap(&keyring.pgp, fp.as_str(), secret).await?)
        }
        KeySpec::Kms(k) => MasterKey::Kms(keyring.kms.wrap(k, secret).await?),
    })
}

impl KeySpec {
    /// The key type (its row in the key-type table).
    pub fn kind(&self) -> KeyKind {
        match self {
            KeySpec::Age(_) => KeyKind::Age,
            KeySpec::Pgp(_) => KeyKind::Pgp,
            KeySpec::Kms(_) => KeyKind::Kms,
        }
    }

    /// The identity the key will have once wrapped, as [`MasterKey::identity`] spells it, so a
    /// wanted key and a stored envelope compare as equal strings.
    pub fn identity(&self) -> String {
        match self {
            KeySpec::Age(r) => r.trim().to_owned(),
            KeySpec::Pgp(fp) => pgp::normalize(fp),
            KeySpec::Kms(k) => kms_identity(
                &k.arn,
                k.role.as_deref(),
                &k.context,
                k.aws_profile.as_deref(),
            ),
        }
    }

    /// `type identity`, as [`MasterKey::label`] prints a stored key.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind().label(), self.identity())
    }

    /// [`KeySpec::label`] for a message, a long key shortened (as [`MasterKey::shown`]).
    pub fn shown(&self) -> String {
        crate::text::shorten_keys(&self.label())
    }

    /// What a stored envelope was made for, so it can be wrapped again (`None` for a type
    /// shroud cannot wrap for).
    pub fn of(key: &MasterKey) -> Option<KeySpec> {
        match key {
            MasterKey::Age(a) => Some(KeySpec::Age(a.recipient.clone())),
            MasterKey::Pgp(p) => Some(KeySpec::Pgp(p.fp.clone())),
            MasterKey::Kms(k) => Some(KeySpec::Kms(KmsSpec {
                arn: k.arn.clone(),
                role: k.role.clone(),
                context: k.context.clone(),
                aws_profile: k.aws_profile.clone(),
            })),
            MasterKey::Other(_) => None,
        }
    }
}

/// Keys a person names on the command line (`keys revoke`, `rotate --rm-*`): age recipients,
/// PGP fingerprints (any case or spacing), AWS KMS ARNs (which name every entry of that key,
/// whatever its role or context) or full identity strings. The one place that decides whether a
/// stored envelope or a rule's key is one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    given: Vec<String>,
}

impl Named {
    pub fn new<S: AsRef<str>>(given: impl IntoIterator<Item = S>) -> Named {
        Named {
            given: given
                .into_iter()
                .map(|s| s.as_ref().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    /// The keys as given.
    pub fn given(&self) -> &[String] {
        &self.given
    }

    /// Whether `identity` (an age recipient, a PGP fingerprint, a KMS identity string or a bare
    /// ARN, possibly `arn+role`) is one of the named keys.
    pub fn matches_identity(&self, identity: &str) -> bool {
        let identity = identity.trim();
        let arn = identity.split(['+', '|']).next().unwrap_or(identity).trim();
        let fp = pgp::normalize(identity).to_ascii_uppercase();
        self.given.iter().any(|g| {
            g == identity
                || (g.starts_with("arn:") && g == arn)
                || (fp.len() >= 16
                    && fp.bytes().all(|b| b.is_ascii_hexdigit())
                    && pgp::normalize(g).to_ascii_uppercase() == fp)
        })
    }

    /// Whether a stored envelope belongs to one of the named keys.
    pub fn matches_key(&self, key: &MasterKey) -> bool {
        match key {
            MasterKey::Other(_) => false,
            k => self.matches_identity(&k.identity()),
        }
    }

    /// Whether a key a rule asks for is one of the named keys.
    pub fn matches_spec(&self, spec: &KeySpec) -> bool {
        self.matches_identity(&spec.identity())
    }

    /// The named keys none of `seen` matched (a typo, or a key nothing uses).
    pub fn unmatched<'a>(&'a self, seen: &[String]) -> Vec<&'a str> {
        self.given
            .iter()
            .filter(|g| {
                !seen
                    .iter()
                    .any(|s| Named::new([g.as_str()]).matches_identity(s))
            })
            .map(String::as_str)
            .collect()
    }
}

/// Re-wraps an existing data key for new key groups (`updatekeys`). With a single group before
/// and after, envelopes of recipients that stay are kept byte for byte; anything else is
/// wrapped afresh (a Shamir split always is, so that all shares come from one polynomial).
pub(crate) async fn rewrap_groups(
    keyring: &Keyring,
    key: &DataKey,
    groups: &[Vec<KeySpec>],
    threshold: usize,
    old: &Metadata,
) -> Result<(Vec<KeyGroup>, usize), KeyError> {
    if groups.len() == 1 && old.key_groups.len() == 1 {
        let mut g = KeyGroup::default();
        for spec in &groups[0] {
            let id = spec.identity();
            match old.key_groups[0].keys.iter().find(|k| k.identity() == id) {
                Some(k) => g.keys.push(k.clone()),
                None => g.keys.push(wrap_one(keyring, spec, key.expose()).await?),
            }
        }
        if g.keys.is_empty() {
            return Err(KeyError::NoRecipients);
        }
        return Ok((vec![g], 0));
    }
    wrap_data_key(keyring, key, groups, threshold).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::KmsKey;

    fn kms(
        arn: &str,
        role: Option<&str>,
        context: &[(&str, &str)],
        profile: Option<&str>,
    ) -> MasterKey {
        MasterKey::Kms(KmsKey {
            arn: arn.into(),
            role: role.map(Into::into),
            context: context
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            aws_profile: profile.map(Into::into),
            created_at: String::new(),
            enc: "blob".into(),
        })
    }

    /// Envelopes that differ in any field that decides how they are opened never share a
    /// remembered data key, even where their display identities read the same (an encryption
    /// context is bound to the ciphertext: KMS refuses the other one).
    #[test]
    fn envelope_digests_tell_every_field_apart() {
        let keys = [
            kms("arn:k", None, &[("a", "1")], None),
            kms("arn:k", None, &[], Some("a:1")),
            kms("arn:k", None, &[("a", "1,b:2")], None),
            kms("arn:k", None, &[("a", "1"), ("b", "2")], None),
            kms("arn:k+R", None, &[], None),
            kms("arn:k", Some("R"), &[], None),
            kms("arn:k", Some("0"), &[], None),
            kms("arn:k", None, &[], Some("0")),
        ];
        let digests: std::collections::HashSet<[u8; 32]> =
            keys.iter().filter_map(envelope_digest).collect();
        assert_eq!(digests.len(), keys.len());
        let age = |r: &str, enc: &str| {
            MasterKey::Age(crate::metadata::AgeKey {
                recipient: r.into(),
                enc: enc.into(),
            })
        };
        assert_ne!(
            envelope_digest(&age("ab", "c")),
            envelope_digest(&age("a", "bc"))
        );
    }
}
