//! One file as a whole: lock and read it, decide what a new file is encrypted for, and
//! encrypt, decrypt or change it under those rules, with `document`'s fail-closed steps in the
//! one order every verb uses; write it back atomically.
//!
//! Owns: the lock-and-read step (another shroud process changing the file is waited for or
//! reported busy; a missing file is `NoFile`, an unreadable one `Read`); the recipient decision
//! (keys and rules given on the command line win over the file's `.sops.yaml` creation rule; a
//! rule that lists only key sources shroud cannot encrypt for is refused; keys given for a file
//! outside the creation rules are noted); the "already encrypted" refusal, made before any key
//! is chosen; the minimal-diff re-encryption against the committed version (HEAD) of a file
//! encrypted in place; the output indentation (`--indent`, else the config's `stores`).
//! Must not know: flags, terminals, what is printed: what the user should be told comes back
//! as [`Note`]s.

use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigError};
use crate::crypto::RuleSpec;
use crate::document::{self, EncryptSpec};
use crate::error::{Error, Result};
use crate::fsutil::{self, FileLock, Mode};
use crate::keysource::{self, KeySpec, Keyring};
use crate::merge::{self, Reseal};
use crate::secret::SecretBytes;
use crate::store::{EmitOptions, Format, Source};
use crate::tree::{Map, Tree};

fn label(p: &Path) -> String {
    p.display().to_string()
}

/// What to do when another shroud process holds a file's lock.
#[derive(Clone, Copy)]
pub enum Wait<'a> {
    /// Wait for it (`set`, `edit`, `-i`), calling this once first (to say who is waited for).
    Block(&'a dyn Fn()),
    /// Fail with [`Error::Busy`] (files of a run over many files, which must not stall it).
    No,
}

/// Takes `path`'s read-modify-write lock (`fsutil::lock`), held until the lock is dropped. A
/// lock file that cannot be used (a planted link) is [`Error::Write`].
pub fn lock(path: &Path, wait: Wait<'_>) -> Result<FileLock> {
    let taken = match wait {
        Wait::Block(waiting) => fsutil::lock(path, waiting).map(Some),
        Wait::No => fsutil::try_lock(path),
    };
    match taken {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(Error::Busy { file: label(path) }),
        Err(source) => Err(Error::Write {
            file: label(path),
            source,
        }),
    }
}

/// Reads a file (bounded by the input limit) into a zeroizing buffer: it may be plaintext.
pub fn read(path: &Path) -> Result<SecretBytes> {
    fsutil::read_file(path)
        .map(SecretBytes::new)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::NoFile { file: label(path) }
            } else {
                Error::Read {
                    file: label(path),
                    source,
                }
            }
        })
}

/// A file read under its lock (held until this is dropped, after the write).
pub struct Locked {
    pub bytes: SecretBytes,
    pub lock: FileLock,
}

/// The one lock-and-read helper: [`lock`], then [`read`].
pub fn read_locked(path: &Path, wait: Wait<'_>) -> Result<Locked> {
    let lock = lock(path, wait)?;
    Ok(Locked {
        bytes: read(path)?,
        lock,
    })
}

/// Replaces a file atomically (`fsutil::write_atomic`).
pub fn write(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    fsutil::write_atomic(path, bytes, mode).map_err(|source| Error::Write {
        file: label(path),
        source,
    })
}

/// What the user should be told about an operation that went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A lock file left by a process that is gone was taken over.
    StaleLock { file: String, stale: String },
    /// Keys were given for a file that no creation rule of `config` matches: it is encrypted
    /// for those keys only (the drop-in refuses such a file before this, as sops).
    OutsidePolicy { file: String, config: PathBuf },
    /// Sealed under the data key of the file's committed version (HEAD), unchanged values
    /// keeping their ciphertext.
    KeptDataKey { file: String },
    /// A new data key although the committed version (HEAD) is a sops file: why.
    NewDataKey { file: String, why: String },
    /// The MAC was missing or wrong and `ignore_mac` let it through.
    MacIgnored { file: String, why: String },
    /// Encrypted comments that no AAD opens were left as they are.
    CommentsUndecryptable { file: String, count: usize },
    /// The `kubectl.kubernetes.io/last-applied-configuration` annotation of this Secret held a
    /// plaintext copy of its data and was removed (`kubectl apply` writes it again).
    LastAppliedRemoved { file: String, secret: String },
}

/// Keys and encryption rules given explicitly (command-line flags, environment variables):
/// they win over the creation rule.
#[derive(Clone, Debug, Default)]
pub struct Given {
    /// Recipients, when any were given (one key group).
    pub groups: Option<Vec<Vec<KeySpec>>>,
    pub shamir_threshold: Option<usize>,
    /// Encryption rules, when any were given: they replace the rule's.
    pub rules: Option<RuleSpec>,
    /// `mac_only_encrypted` alone, added to the rule's.
    pub mac_only_encrypted: bool,
}

/// The comma-separated recipient lists of the command line (`--age`, `--pgp`, `--kms` with
/// `--aws-profile` and `--encryption-context`) as one key group; `None` when none was given.
pub fn key_lists(
    age: Option<&str>,
    pgp: Option<&str>,
    kms: Option<&str>,
    aws_profile: Option<&str>,
    context: Option<&str>,
) -> Result<Option<Vec<Vec<KeySpec>>>> {
    let mut keys: Vec<KeySpec> = key_list(age)?.into_iter().map(KeySpec::Age).collect();
    keys.extend(
        key_list(pgp)?
            .iter()
            .map(|s| KeySpec::Pgp(keysource::pgp::normalize(s))),
    );
    if kms.is_some() {
        let ctx = context.map(parse_context).transpose()?.unwrap_or_default();
        for arn in key_list(kms)? {
            keys.push(config::kms_from_str(&arn, aws_profile, &ctx));
        }
    }
    Ok((!keys.is_empty()).then(|| vec![keys]))
}

/// The keys of a comma-separated list given on the command line or in the environment
/// (`--age`/`SOPS_AGE_RECIPIENTS`, `--pgp`, `--kms`, `rotate --add-*`/`--rm-*`), blanks around
/// them dropped. An empty entry (`K1,,K2`, `K1,`, `,K1`) is refused, as sops 3.11 refuses it
/// (`failed to parse input, unknown recipient type: ""`, exit 1), rather than dropped without a
/// word: it is a key left out by mistake more often than a stray comma. An empty value is no
/// list. (A `.sops.yaml` string list drops empty entries, as sops's does: see `config`.)
pub fn key_list(s: Option<&str>) -> Result<Vec<String>> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let keys: Vec<String> = s.split(',').map(|k| k.trim().to_owned()).collect();
    if keys.iter().any(String::is_empty) {
        return Err(Error::Invalid(format!(
            "key list \"{}\" has an empty entry (a doubled, leading or trailing comma): remove the comma, or add the key that was meant to stand there",
            crate::text::sanitize(&crate::text::shorten_keys(s))
        )));
    }
    Ok(keys)
}

/// A KMS encryption context, `key:value,key2:value2`.
pub fn parse_context(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid --encryption-context entry {p:?}: expected key:value"
                    ))
                })
        })
        .collect()
}

/// What a new file is encrypted for: the keys given, else those of the creation rule of `cfg`
/// that matches `name` (the file, or the name stdin is encrypted as; `stdin` when none); the
/// rules given, else the rule's. Keys given for a file outside the creation rules of a config
/// that has some come back with a [`Note::OutsidePolicy`].
pub fn recipients(
    file: &str,
    name: Option<&Path>,
    given: &Given,
    cfg: Option<&Config>,
) -> Result<(EncryptSpec, Option<Note>)> {
    let rule = cfg.map(|c| c.rule_for(name.unwrap_or(Path::new("stdin"))));
    let mut note = None;
    let (groups, threshold, rule_spec) = match (&given.groups, rule) {
        (Some(g), rule) => {
            if let (Some(Err(ConfigError::NoMatchingRule { config, .. })), Some(c)) = (&rule, cfg)
                && !c.creation_rules.is_empty()
            {
                note = Some(Note::OutsidePolicy {
                    file: file.to_owned(),
                    config: PathBuf::from(config),
                });
            }
            (
                g.clone(),
                given.shamir_threshold.unwrap_or(0),
                rule.and_then(|r| r.ok()).map(|r| r.rules.clone()),
            )
        }
        (None, Some(Ok(r))) => {
            if r.groups.iter().all(|g| g.is_empty()) {
                let types = if r.unsupported.is_empty() {
                    "no keys".to_owned()
                } else {
                    r.unsupported.join(", ")
                };
                return Err(Error::Invalid(format!(
                    "{file}: the matching .sops.yaml rule lists only {types}: this key source is not supported by shroud (it encrypts for {} keys)",
                    crate::metadata::kind::supported_names()
                )));
            }
            (
                r.groups.clone(),
                given.shamir_threshold.unwrap_or(r.shamir_threshold),
                Some(r.rules.clone()),
            )
        }
        (None, Some(Err(e))) => return Err(e.into()),
        (None, None) => (Vec::new(), 0, None),
    };
    let rules = match &given.rules {
        Some(s) => s.clone(),
        None => {
            let mut s = rule_spec.unwrap_or_default();
            s.mac_only_encrypted |= given.mac_only_encrypted;
            s
        }
    };
    Ok((
        EncryptSpec {
            groups,
            shamir_threshold: threshold,
            rules,
        },
        note,
    ))
}

/// How output is indented: `indent` (`--indent`), else the config's `stores` setting for the
/// format, else the store's default.
pub fn emit_options(indent: Option<usize>, format: Format, cfg: Option<&Config>) -> EmitOptions {
    let from_cfg = cfg.and_then(|c| match format {
        Format::Yaml => c.yaml_indent,
        Format::Json | Format::Binary => c.json_indent,
        _ => None,
    });
    EmitOptions {
        indent: indent.or(from_cfg),
    }
}

/// A plaintext file to encrypt, and how.
#[derive(Clone, Copy)]
pub struct Encrypt<'a> {
    /// The name errors and notes use.
    pub label: &'a str,
    /// The path whose creation rule applies (the file, or the name given for stdin).
    pub name: Option<&'a Path>,
    pub in_format: Format,
    pub out_format: Format,
    pub given: &'a Given,
    pub config: Option<&'a Config>,
    /// `--indent`.
    pub indent: Option<usize>,
    /// The file is encrypted in place at this path: when its committed version (HEAD) is a
    /// sops file that `identities` open, for the same recipients and rules, it is sealed under
    /// that data key with every unchanged value keeping its ciphertext (the small diff `shroud
    /// edit` gives). Ignored when the output format differs.
    pub reuse_head: Option<&'a Path>,
}

/// Sealed bytes, and what to tell the user.
pub struct Encrypted {
    pub bytes: Vec<u8>,
    pub notes: Vec<Note>,
}

/// The committed version (HEAD) of `path`, when git has one.
fn committed(path: &Path) -> Option<Vec<u8>> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = Path::new(path.file_name()?);
    crate::git::blob_at(dir.unwrap_or(Path::new(".")), "HEAD", name).ok()?
}

/// Encrypts a plaintext file: parse it, refuse a file that is a sops file already (sops's
/// rule: a top-level `sops` key), decide its recipients, seal it (reusing its committed
/// version's data key where [`Encrypt::reuse_head`] allows), emit it. `identities` loads the
/// keys that may open the committed version; it is called only when there is one.
pub async fn encrypt(
    f: &Encrypt<'_>,
    plain: SecretBytes,
    identities: &(dyn Fn() -> Option<Keyring> + Sync),
) -> Result<Encrypted> {
    let mut tree = document::load_plain_from(f.label, f.in_format, Source::Owned(plain))?;
    document::check_plain(f.label, f.in_format, &tree)?;
    let (spec, note) = recipients(f.label, f.name, f.given, f.config)?;
    let mut notes: Vec<Note> = note.into_iter().collect();
    // A Secret's last-applied annotation is a plaintext copy of its data: it goes.
    for secret in crate::k8s::secret::strip_last_applied(&mut tree) {
        notes.push(Note::LastAppliedRemoved {
            file: f.label.to_owned(),
            secret,
        });
    }
    let reuse = f.reuse_head.filter(|_| f.in_format == f.out_format);
    let (tree, md) = seal(
        f.label,
        f.in_format,
        tree,
        &spec,
        reuse,
        identities,
        &mut notes,
    )
    .await?;
    let opts = emit_options(f.indent, f.out_format, f.config);
    let bytes = document::emit_encrypted(f.label, f.out_format, tree, &md, opts)?;
    Ok(Encrypted { bytes, notes })
}

async fn seal(
    label: &str,
    format: Format,
    tree: Tree,
    spec: &EncryptSpec,
    reuse: Option<&Path>,
    identities: &(dyn Fn() -> Option<Keyring> + Sync),
    notes: &mut Vec<Note>,
) -> Result<(Tree, crate::metadata::Metadata)> {
    if let Some(previous) = reuse.and_then(committed)
        && let Some(keyring) = identities()
    {
        match merge::reseal(label, format, tree.clone(), &previous, spec, &keyring).await? {
            Reseal::Sealed(sealed) => {
                notes.push(Note::KeptDataKey {
                    file: label.to_owned(),
                });
                return Ok(*sealed);
            }
            Reseal::Declined(why) => notes.push(Note::NewDataKey {
                file: label.to_owned(),
                why,
            }),
            Reseal::NotSops => {}
        }
    }
    // Wrapping needs no identities.
    let (tree, md, _key) =
        document::encrypt(label, format, tree, spec, &Keyring::default()).await?;
    Ok((tree, md))
}

/// One file of `encrypt -i F1 F2 …` / `--recursive`: encrypted in place, its config looked up
/// in `configs`; a file another shroud process is changing fails busy.
pub struct InPlace<'a> {
    pub given: &'a Given,
    pub configs: &'a config::Configs,
    pub in_format: Option<Format>,
    pub out_format: Option<Format>,
    pub indent: Option<usize>,
    /// `--new-data-key`: never reuse the committed version's data key.
    pub new_data_key: bool,
}

/// Encrypts `path` in place: locked (never waiting), read, encrypted as [`encrypt`] does
/// (the committed version's key reused unless `new_data_key`), written back atomically with
/// its mode kept.
pub async fn encrypt_in_place(
    path: &Path,
    how: &InPlace<'_>,
    identities: &(dyn Fn() -> Option<Keyring> + Sync),
) -> Result<Vec<Note>> {
    let file = label(path);
    let mut locked = read_locked(path, Wait::No)?;
    let mut notes: Vec<Note> = locked
        .lock
        .stale()
        .map(|s| Note::StaleLock {
            file: file.clone(),
            stale: s.to_string(),
        })
        .into_iter()
        .collect();
    let in_format = how.in_format.unwrap_or_else(|| Format::from_path(path));
    let cfg = how.configs.for_file(path)?;
    let f = Encrypt {
        label: &file,
        name: Some(path),
        in_format,
        out_format: how.out_format.unwrap_or(in_format),
        given: how.given,
        config: cfg.as_deref(),
        indent: how.indent,
        reuse_head: (!how.new_data_key).then_some(path),
    };
    let done = encrypt(&f, std::mem::take(&mut locked.bytes), identities).await?;
    write(path, &done.bytes, Mode::KeepOr(0o644))?;
    notes.extend(done.notes);
    Ok(notes)
}

/// A decrypted file, ready to be written (zeroized when dropped), and what to tell the user.
pub struct Decrypted {
    pub bytes: SecretBytes,
    pub notes: Vec<Note>,
}

/// An encrypted file to decrypt, and how.
#[derive(Clone, Copy)]
pub struct Decrypt<'a> {
    pub label: &'a str,
    pub in_format: Format,
    pub out_format: Format,
    /// `--ignore-mac`: a missing or wrong MAC is noted instead of refused.
    pub ignore_mac: bool,
    /// Only the value at this path (`--extract`).
    pub extract: Option<&'a [crate::tree::PathElem]>,
    pub config: Option<&'a Config>,
    pub indent: Option<usize>,
}

/// Decrypts and verifies a file (every value and the MAC before anything is returned), then
/// emits it, or the one value `extract` names.
///
/// The input is handed over: a YAML file is kept once, as the source its output is spliced into.
pub async fn decrypt(f: &Decrypt<'_>, input: SecretBytes, keyring: &Keyring) -> Result<Decrypted> {
    let opened = document::open(f.label, f.in_format, input, keyring, f.ignore_mac).await?;
    let mut notes = Vec::new();
    if let Some(why) = &opened.mac_warning {
        notes.push(Note::MacIgnored {
            file: f.label.to_owned(),
            why: why.clone(),
        });
    }
    if opened.undecryptable_comments > 0 {
        notes.push(Note::CommentsUndecryptable {
            file: f.label.to_owned(),
            count: opened.undecryptable_comments,
        });
    }
    let bytes = SecretBytes::new(match f.extract {
        Some(path) => {
            let root = opened.tree.branches.first().cloned().unwrap_or_default();
            let v = crate::tree::lookup(&root, path).ok_or_else(|| Error::TreePath {
                file: f.label.to_owned(),
                message: crate::tree::not_found_message(&root, path, None),
            })?;
            crate::store::emit_value(f.out_format, v).map_err(|source| Error::Store {
                file: f.label.to_owned(),
                source,
            })?
        }
        None => {
            let opts = emit_options(f.indent, f.out_format, f.config);
            document::emit_plain(f.label, f.out_format, &opened.tree, opts)?
        }
    });
    Ok(Decrypted { bytes, notes })
}

/// An encrypted file whose values are changed in place (`set`, `unset`).
#[derive(Clone, Copy)]
pub struct Change<'a> {
    pub label: &'a str,
    pub in_format: Format,
    pub out_format: Format,
    pub ignore_mac: bool,
    pub config: Option<&'a Config>,
    pub indent: Option<usize>,
}

/// Opens an encrypted file, lets `f` change its first document (it says whether anything
/// changed), and seals it again: unchanged values keep their exact ciphertext, the MAC and
/// `lastmodified` are renewed. `None` when nothing is to be written.
pub async fn change(
    c: &Change<'_>,
    input: &[u8],
    keyring: &Keyring,
    f: impl FnOnce(&str, &mut Map) -> Result<bool>,
) -> Result<Option<Vec<u8>>> {
    let mut opened =
        document::open_to_edit(c.label, c.in_format, input, keyring, c.ignore_mac).await?;
    if opened.tree.branches.is_empty() {
        opened.tree.branches.push(Map::new());
    }
    if !f(c.label, &mut opened.tree.branches[0])? {
        return Ok(None);
    }
    document::seal(
        c.label,
        &mut opened.tree,
        &mut opened.metadata,
        &mut opened.cipher,
    )?;
    let opts = emit_options(c.indent, c.out_format, c.config);
    document::emit_encrypted(c.label, c.out_format, opened.tree, &opened.metadata, opts).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".sops.yaml");
        std::fs::write(&p, text).unwrap();
        let c = config::load(&p).unwrap();
        (d, c)
    }

    /// Keys given win over the rule, and a file outside a config's rules is noted; the rule's
    /// encryption rules still apply when keys are given for a file the rule matches.
    #[test]
    fn recipients_from_given_keys_and_rules() {
        let (d, c) = cfg(
            "creation_rules:\n  - path_regex: secrets/.*\n    age: age1rule\n    encrypted_regex: ^data$\n",
        );
        let given = Given {
            groups: Some(vec![vec![KeySpec::Age("age1flag".into())]]),
            ..Default::default()
        };
        let inside = d.path().join("secrets/a.yaml");
        let (spec, note) = recipients("a", Some(&inside), &given, Some(&c)).unwrap();
        assert_eq!(spec.groups, vec![vec![KeySpec::Age("age1flag".into())]]);
        assert_eq!(spec.rules.encrypted_regex.as_deref(), Some("^data$"));
        assert_eq!(note, None);
        let outside = d.path().join("other.yaml");
        let (_, note) = recipients("o", Some(&outside), &given, Some(&c)).unwrap();
        assert!(matches!(note, Some(Note::OutsidePolicy { .. })), "{note:?}");
        // No keys given: the rule's, or its error.
        let (spec, _) = recipients("a", Some(&inside), &Given::default(), Some(&c)).unwrap();
        assert_eq!(spec.groups, vec![vec![KeySpec::Age("age1rule".into())]]);
        let e = recipients("o", Some(&outside), &Given::default(), Some(&c)).unwrap_err();
        assert!(
            matches!(e, Error::Config(ConfigError::NoMatchingRule { .. })),
            "{e}"
        );
    }

    /// A rule that lists only keys of a source shroud cannot encrypt for is refused, naming it.
    #[test]
    fn unsupported_rule_is_refused() {
        let (d, c) =
            cfg("creation_rules:\n  - gcp_kms: projects/p/locations/l/keyRings/r/cryptoKeys/k\n");
        let e = recipients(
            "f",
            Some(&d.path().join("f.yaml")),
            &Given::default(),
            Some(&c),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidConfig);
        assert!(e.to_string().contains("gcp_kms"), "{e}");
    }

    #[test]
    fn key_lists_and_context() {
        let g = key_lists(
            Some("age1a, age1b"),
            None,
            Some("arn:aws:kms:x:1:key/k"),
            None,
            Some("A:b"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(g[0].len(), 3);
        assert!(key_lists(None, None, None, None, None).unwrap().is_none());
        let e = parse_context("nocolon").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidConfig);
    }
}
