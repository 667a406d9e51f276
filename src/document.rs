//! Whole-file operations: encrypt a plaintext file, open (decrypt and verify) an encrypted one,
//! and seal a changed tree again, reusing IVs of unchanged values.
//!
//! Owns: the order of steps and the fail-closed checks between them (metadata present, MAC
//! present before any key is unwrapped, every value authenticated, MAC recomputed and compared
//! in constant time before anything is returned).
//! Must not know: the CLI, terminals, or where bytes come from and go to.

use crate::crypto::{self, Cipher, RuleSpec};
use crate::error::{Error, Result};
use crate::keysource::{self, KeySpec, Keyring};
use crate::metadata::{self, Metadata, layout};
use crate::secret::DataKey;
use crate::store::{self, EmitOptions, Format, Source};
use crate::timestamp::Timestamp;
use crate::tree::{Entry, Tree};

/// What a new file is encrypted for, and how.
#[derive(Clone, Debug, Default)]
pub struct EncryptSpec {
    /// One list of recipients per key group.
    pub groups: Vec<Vec<KeySpec>>,
    pub shamir_threshold: usize,
    pub rules: RuleSpec,
}

/// A decrypted file, ready to be shown, edited and sealed again.
pub struct Opened {
    pub tree: Tree,
    pub metadata: Metadata,
    /// Holds the data key and the IVs of every value decrypted, for minimal-diff re-encryption.
    pub cipher: Cipher,
    /// Encrypted comments no AAD could open (left as they were).
    pub undecryptable_comments: usize,
    /// Set when `ignore_mac` let a missing or wrong MAC through.
    pub mac_warning: Option<String>,
}

/// Parses an encrypted file into its tree (still encrypted) and metadata. A file that holds
/// encrypted values but does not parse, or has no metadata, is [`Error::Damaged`].
pub fn load_encrypted(file: &str, format: Format, input: &[u8]) -> Result<(Tree, Metadata)> {
    load_encrypted_from(file, format, Source::Borrowed(input))
}

/// [`load_encrypted`] of bytes that may be handed over (a YAML file is then held once, as its
/// layout's source, instead of copied).
pub fn load_encrypted_from(
    file: &str,
    format: Format,
    input: Source<'_>,
) -> Result<(Tree, Metadata)> {
    // Decides how a failure is reported; asked before the bytes go to the store.
    let enc = has_enc(input.bytes());
    let tree = match store::load_encrypted_from(format, input) {
        Ok(t) => t,
        Err(e) if enc => {
            return Err(Error::Damaged {
                file: file.to_owned(),
                why: e.to_string(),
            });
        }
        Err(source) => {
            return Err(Error::Store {
                file: file.to_owned(),
                source,
            });
        }
    };
    split_encrypted(file, format, tree).map_err(|e| match e {
        Error::NotEncrypted { file } if enc => Error::Damaged {
            file,
            why: "it holds encrypted values but no sops metadata".into(),
        },
        other => other,
    })
}

/// Takes the metadata off a parsed encrypted tree.
pub(crate) fn split_encrypted(
    file: &str,
    format: Format,
    mut tree: Tree,
) -> Result<(Tree, Metadata)> {
    let meta = layout::split(format, &mut tree)
        .map_err(|source| Error::Metadata {
            file: file.to_owned(),
            source,
        })?
        .ok_or_else(|| Error::NotEncrypted {
            file: file.to_owned(),
        })?;
    let md = layout::parse(&meta).map_err(|source| Error::Metadata {
        file: file.to_owned(),
        source,
    })?;
    Ok((tree, md))
}

/// What a file is, judged from its bytes alone (no key needed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// No sops metadata and no encrypted values.
    Plain,
    /// It carries sops metadata.
    Sops,
    /// It looks like a sops file (encrypted values) but cannot be read as one: why.
    Damaged(String),
}

fn has_enc(input: &[u8]) -> bool {
    memchr::memmem::find(input, b"ENC[AES256_GCM,").is_some()
}

/// Classifies a file without any key: the one decision of "is this a sops file" (bulk
/// operations, the scanner, the merge driver, `filestatus`, `external-secret`). Bulk operations
/// (rotate, updatekeys, verify, audit) must process every sops file and report damaged ones,
/// never skip them as plaintext.
pub fn sniff(format: Format, input: &[u8]) -> Sniff {
    sniff_parsed(format, input).0
}

/// [`sniff`], also returning what was parsed for a sops file: its tree (metadata removed) and
/// metadata, exactly as [`load_encrypted`] returns them, so a caller need not parse it twice.
pub fn sniff_parsed(format: Format, input: &[u8]) -> (Sniff, Option<(Tree, Metadata)>) {
    let mut tree = match store::load_encrypted(format, input) {
        Ok(t) => t,
        Err(e) if has_enc(input) => return (Sniff::Damaged(e.to_string()), None),
        Err(_) => return (Sniff::Plain, None),
    };
    let split = match layout::split(format, &mut tree) {
        Ok(m) => m,
        Err(e) => return (Sniff::Damaged(e.to_string()), None),
    };
    match split {
        Some(meta) if has_enc(input) || layout::looks_like_metadata(&meta) => {
            match layout::parse(&meta) {
                Ok(md) => (Sniff::Sops, Some((tree, md))),
                Err(e) => (Sniff::Damaged(e.to_string()), None),
            }
        }
        Some(_) => (Sniff::Plain, None),
        None if has_enc(input) => (
            Sniff::Damaged("it holds encrypted values but no sops metadata".into()),
            None,
        ),
        None => (Sniff::Plain, None),
    }
}

/// [`sniff_parsed`] for bytes whose name may not say their format (a version in history under
/// `.conf`, a copy named `.bak`): `format` first, then every text format, the first that reads
/// them as a sops file, with its format.
pub fn sniff_any(format: Format, input: &[u8]) -> Option<(Format, Tree, Metadata)> {
    if let (Sniff::Sops, Some((tree, md))) = sniff_parsed(format, input) {
        return Some((format, tree, md));
    }
    if !has_enc(input) {
        return None;
    }
    [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini]
        .into_iter()
        .filter(|&f| f != format)
        .find_map(|f| match sniff_parsed(f, input) {
            (Sniff::Sops, Some((tree, md))) => Some((f, tree, md)),
            _ => None,
        })
}

/// Whether a file is encrypted as sops's `filestatus` defines it: a sops file ([`sniff`])
/// whose metadata has a MAC and a version.
pub fn is_encrypted(format: Format, input: &[u8]) -> bool {
    matches!(
        sniff_parsed(format, input),
        (Sniff::Sops, Some((_, md))) if md.mac.is_some() && md.version.is_some()
    )
}

/// Whether encrypting a plaintext file under `rules` would encrypt any value: `Some(false)` for
/// a file whose rule selects nothing in it (a Deployment under `encrypted_regex:
/// ^(data|stringData)$`), which is left as it is; `None` when it does not parse.
pub fn needs_encryption(format: Format, input: &[u8], rules: &RuleSpec) -> Option<bool> {
    if format == Format::Binary {
        return Some(true);
    }
    let tree = store::load_plain(format, input).ok()?;
    let compiled = rules.clone().with_default().compile().ok()?;
    Some(
        crypto::decide(&tree, &compiled)
            .iter()
            .any(|d| !d.comment && d.is_plaintext_violation()),
    )
}

/// Decrypts an encrypted file and verifies its MAC. Nothing is returned unless every value
/// authenticated and the MAC matched (or `ignore_mac` was given for the MAC alone). Bytes the
/// caller is done with can be handed over (`SecretBytes`): a YAML file is then held once, as
/// its layout's source, instead of copied.
pub async fn open<'a>(
    file: &str,
    format: Format,
    input: impl Into<Source<'a>>,
    keyring: &Keyring,
    ignore_mac: bool,
) -> Result<Opened> {
    open_impl(file, format, input.into(), keyring, ignore_mac, false).await
}

/// [`open`] for a file that will be changed and sealed again (edit, set, unset): the returned
/// cipher remembers every IV, so unchanged values keep their exact ciphertext.
pub async fn open_to_edit<'a>(
    file: &str,
    format: Format,
    input: impl Into<Source<'a>>,
    keyring: &Keyring,
    ignore_mac: bool,
) -> Result<Opened> {
    open_impl(file, format, input.into(), keyring, ignore_mac, true).await
}

async fn open_impl(
    file: &str,
    format: Format,
    input: Source<'_>,
    keyring: &Keyring,
    ignore_mac: bool,
    keep_ivs: bool,
) -> Result<Opened> {
    let (tree, md) = load_encrypted_from(file, format, input)?;
    if md.mac.is_none() && !ignore_mac {
        return Err(Error::MacMissing {
            file: file.to_owned(),
        });
    }
    let key = keyring
        .unwrap_data_key(&md)
        .await
        .map_err(|source| Error::Key {
            file: file.to_owned(),
            source,
        })?;
    open_with_key_impl(file, tree, md, &key, ignore_mac, keep_ivs)
}

/// The synchronous half of [`open`]: decrypt and verify with a known data key.
pub(crate) fn open_with_key(
    file: &str,
    tree: Tree,
    md: Metadata,
    key: &DataKey,
    ignore_mac: bool,
) -> Result<Opened> {
    open_with_key_impl(file, tree, md, key, ignore_mac, false)
}

/// [`open_to_edit`] with a known data key (another version of the file with the same
/// envelopes was opened already): IVs are kept for minimal-diff re-encryption.
pub(crate) fn open_to_edit_with_key(
    file: &str,
    tree: Tree,
    md: Metadata,
    key: &DataKey,
) -> Result<Opened> {
    open_with_key_impl(file, tree, md, key, false, true)
}

fn open_with_key_impl(
    file: &str,
    mut tree: Tree,
    md: Metadata,
    key: &DataKey,
    ignore_mac: bool,
    keep_ivs: bool,
) -> Result<Opened> {
    let rules = md.rules.compile().map_err(|source| Error::Rules {
        file: file.to_owned(),
        source,
    })?;
    let mut cipher = Cipher::new(key);
    if keep_ivs {
        cipher.keep_ivs();
    }
    let dec =
        crypto::decrypt_tree(&mut tree, &mut cipher, &rules).map_err(|source| Error::Tree {
            file: file.to_owned(),
            source,
        })?;
    let mut mac_warning = None;
    match &md.mac {
        None => {
            mac_warning =
                Some("the file has no MAC; its integrity was NOT checked (--ignore-mac)".to_owned())
        }
        Some(enc) => match crypto::decrypt_mac(&mut cipher, enc, &md.mac_aad()) {
            Ok(stored) if crypto::macs_equal(&stored, &dec.mac) => {}
            Ok(_) if ignore_mac => {
                mac_warning = Some(
                    "MAC mismatch ignored (--ignore-mac): the file may have been tampered with"
                        .to_owned(),
                )
            }
            Ok(_) => {
                return Err(Error::MacMismatch {
                    file: file.to_owned(),
                });
            }
            Err(_) if ignore_mac => {
                mac_warning =
                    Some("the stored MAC could not be decrypted; ignored (--ignore-mac)".to_owned())
            }
            Err(_) => {
                return Err(Error::MacUnreadable {
                    file: file.to_owned(),
                });
            }
        },
    }
    Ok(Opened {
        tree,
        metadata: md,
        cipher,
        undecryptable_comments: dec.undecryptable_comments,
        mac_warning,
    })
}

/// Re-encrypts a (possibly changed) tree in place: unchanged values keep their ciphertext, the
/// MAC and `lastmodified` are renewed.
pub fn seal(file: &str, tree: &mut Tree, md: &mut Metadata, cipher: &mut Cipher) -> Result<()> {
    let rules = compile(file, &md.rules)?;
    seal_compiled(file, tree, md, cipher, &rules)
}

fn compile(file: &str, rules: &RuleSpec) -> Result<crypto::Rules> {
    rules.compile().map_err(|source| Error::Rules {
        file: file.to_owned(),
        source,
    })
}

/// [`seal`] with the metadata's rules compiled already.
fn seal_compiled(
    file: &str,
    tree: &mut Tree,
    md: &mut Metadata,
    cipher: &mut Cipher,
    rules: &crypto::Rules,
) -> Result<()> {
    let mac = crypto::encrypt_tree(tree, cipher, rules).map_err(|source| Error::Tree {
        file: file.to_owned(),
        source,
    })?;
    md.lastmodified = Timestamp::now_utc().to_rfc3339();
    md.mac = Some(crypto::encrypt_mac(cipher, &mac, &md.mac_aad()));
    md.version = Some(metadata::SOPS_LAYOUT_VERSION.to_owned());
    Ok(())
}

/// The file's key groups as specs, without the keys `remove` names (what it is re-wrapped for
/// by rotate, updatekeys, groups and the merge driver); keys of a source shroud cannot wrap for
/// are refused (they could not be re-wrapped).
pub fn current_specs(file: &str, md: &Metadata, remove: &[String]) -> Result<Vec<Vec<KeySpec>>> {
    let named = keysource::Named::new(remove);
    let mut groups = Vec::new();
    for g in &md.key_groups {
        let mut specs = Vec::new();
        for k in g.keys.iter().filter(|k| !named.matches_key(k)) {
            specs.push(KeySpec::of(k).ok_or_else(|| {
                Error::Invalid(format!(
                    "{file}: the {} key {} cannot be re-wrapped by shroud (this key source is not supported); rotate with sops, or remove the entry",
                    k.type_name(),
                    k.identity()
                ))
            })?);
        }
        groups.push(specs);
    }
    Ok(groups)
}

/// Whether a top-level key belongs to sops metadata in `format` (`sops`, or `sops_*` in
/// dotenv files, where the metadata is flattened).
pub fn is_reserved_key(format: Format, key: &str) -> bool {
    match format {
        Format::Dotenv => key.starts_with("sops_"),
        _ => key == "sops",
    }
}

/// Rejects plaintext that already carries metadata (a top-level reserved key): sops reports
/// such a file as already encrypted.
pub fn check_plain(file: &str, format: Format, tree: &Tree) -> Result<()> {
    let reserved = tree.branches.iter().any(|b| {
        b.entries
            .iter()
            .any(|e| matches!(e, Entry::Pair(k, _) if is_reserved_key(format, k)))
    });
    if reserved {
        return Err(Error::AlreadyEncrypted {
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// Encrypts a plaintext tree under a fresh data key. Returns the sealed tree and its metadata.
pub async fn encrypt(
    file: &str,
    format: Format,
    mut tree: Tree,
    spec: &EncryptSpec,
    keyring: &Keyring,
) -> Result<(Tree, Metadata, DataKey)> {
    check_plain(file, format, &tree)?;
    let rules = if format == Format::Binary {
        RuleSpec::default().with_default()
    } else {
        spec.rules.clone().with_default()
    };
    // Compiled once: refused before any key is wrapped, then used to seal.
    let compiled = compile(file, &rules)?;
    let key = DataKey::generate();
    let (key_groups, threshold) =
        keysource::wrap_data_key(keyring, &key, &spec.groups, spec.shamir_threshold)
            .await
            .map_err(|source| match source {
                keysource::KeyError::NoRecipients => Error::NoRecipients {
                    file: file.to_owned(),
                    source,
                },
                other => Error::Key {
                    file: file.to_owned(),
                    source: other,
                },
            })?;
    let mut md = Metadata {
        key_groups,
        shamir_threshold: threshold,
        rules,
        ..Default::default()
    };
    let mut cipher = Cipher::new(&key);
    seal_compiled(file, &mut tree, &mut md, &mut cipher, &compiled)?;
    Ok((tree, md, key))
}

/// Writes an encrypted tree with its metadata.
pub fn emit_encrypted(
    file: &str,
    format: Format,
    mut tree: Tree,
    md: &Metadata,
    opts: EmitOptions,
) -> Result<Vec<u8>> {
    layout::join(format, &mut tree, layout::to_map(md));
    store::emit(format, &tree, opts).map_err(|source| Error::Store {
        file: file.to_owned(),
        source,
    })
}

/// Writes a decrypted tree.
pub fn emit_plain(file: &str, format: Format, tree: &Tree, opts: EmitOptions) -> Result<Vec<u8>> {
    store::emit_plain(format, tree, opts).map_err(|source| Error::Store {
        file: file.to_owned(),
        source,
    })
}

/// Parses plaintext input.
pub fn load_plain(file: &str, format: Format, input: &[u8]) -> Result<Tree> {
    load_plain_from(file, format, Source::Borrowed(input))
}

/// [`load_plain`] of bytes that may be handed over (a YAML file is then held once, as its
/// layout's source, instead of copied).
pub fn load_plain_from(file: &str, format: Format, input: Source<'_>) -> Result<Tree> {
    store::load_plain_from(format, input).map_err(|source| Error::Store {
        file: file.to_owned(),
        source,
    })
}
