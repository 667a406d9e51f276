//! `shroud keys backup|restore|verify`: key backups as commands with a proof. Nothing a backup
//! wrote is overwritten without `--force` (shares, bundles, restored key files: a restore adds
//! to an existing key file), directories it creates are private (0700), secret files are read
//! with a size cap, and names from files or the bundle are sanitised before they are printed.

use std::io::IsTerminal;
use std::path::PathBuf;

use age::secrecy::{ExposeSecret, SecretString};

use shroud::backup::{self, Protection, Source, Unlock};
use shroud::error::{Error, ExitCode, Result};
use shroud::fsutil::{self, Mode};
#[cfg(feature = "cluster")]
use shroud::k8s::cluster;
use shroud::keysource::age::Identities;
use shroud::secret::SecretBytes;

use super::common::{self, Outcome};

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Bundle age identities (and PGP secret keys) into an encrypted backup, with optional
    /// Shamir paper shares.
    Backup(BackupArgs),
    /// Restore identities from a backup (identity, passphrase, or K shares).
    Restore(RestoreArgs),
    /// Check that a backup still opens every encrypted file under DIR.
    Verify(VerifyArgs),
    /// Lock keys out of the repository for good: remove them from every creation rule, give every
    /// file they open a new data key without them, and report what they could ever read.
    #[command(
        after_help = "Examples:\n  shroud keys revoke --dry-run age1… || test $? = 1   # the plan and the exposure report; exit 1: work left\n  shroud keys revoke -y --report revoke.json age1…\n  shroud keys revoke -y arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )]
    Revoke(super::revoke::Args),
}

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Identity files to back up (default: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the sops key file).
    #[arg(long = "key-file", value_name = "FILE")]
    pub key_files: Vec<PathBuf>,
    /// Also back up the identities of a Kubernetes Secret (NAMESPACE/NAME, e.g. the controller's
    /// shroud-system/shroud-age-keys), read with the kube client (KUBECONFIG or in-cluster).
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub from_secret: Option<String>,
    /// Also back up this PGP secret key, exported with `gpg --export-secret-keys` from the
    /// GnuPG keyring (GNUPGHOME; repeatable or comma-separated fingerprints).
    #[arg(long, value_name = "FINGERPRINT", action = clap::ArgAction::Append)]
    pub pgp: Vec<String>,
    /// Recovery recipient that can open the backup (repeatable).
    #[arg(long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// Also protect the backup with a passphrase (SHROUD_PASSPHRASE, or asked twice).
    #[arg(long)]
    pub passphrase: bool,
    /// Split the backup's key into N paper shares.
    #[arg(long, value_name = "N", requires = "threshold")]
    pub shares: Option<u8>,
    /// Shares needed to restore.
    #[arg(long, value_name = "K", requires = "shares")]
    pub threshold: Option<u8>,
    /// Write each share to DIR/share-I.txt (mode 0600; DIR is created 0700) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub shares_dir: Option<PathBuf>,
    /// The bundle file to write (mode 0600).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing bundle and existing share files (the backup they belong to can then
    /// no longer be restored from them).
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct UnlockArgs {
    /// Identity file of a recovery recipient.
    #[arg(long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Open with the passphrase (SHROUD_PASSPHRASE, or asked).
    #[arg(long)]
    pub passphrase: bool,
    /// A share file (repeatable); `-` reads shares from stdin, separated by blank lines.
    #[arg(long = "share", value_name = "FILE")]
    pub shares: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup bundle written by `shroud keys backup -o`.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub unlock: UnlockArgs,
    /// Where to write the identities (default: the sops key file). Mode 0600; an existing key
    /// file keeps its identities and gets the restored ones added (as `keygen` does).
    #[cfg_attr(
        feature = "cluster",
        arg(short = 'o', long, value_name = "FILE", conflicts_with = "to_secret")
    )]
    #[cfg_attr(not(feature = "cluster"), arg(short = 'o', long, value_name = "FILE"))]
    pub output: Option<PathBuf>,
    #[cfg(feature = "cluster")]
    /// Recreate the controller's key Secret (NAMESPACE/NAME, key keys.txt) instead of a file.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub to_secret: Option<String>,
    /// Replace an existing key file (its identities are dropped) and an existing --pgp-output.
    #[arg(long)]
    pub force: bool,
    /// Write the bundle's PGP secret keys (armored, mode 0600) here instead of importing
    /// them into the GnuPG keyring (GNUPGHOME).
    #[arg(long, value_name = "FILE")]
    pub pgp_output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The backup bundle written by `shroud keys backup -o`.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Directory whose encrypted files must open (default: the current directory).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub unlock: UnlockArgs,
}

fn berr(file: &str, source: backup::BackupError) -> Error {
    source.about(file)
}

#[cfg(feature = "cluster")]
fn cluster_err(e: cluster::ClusterError) -> Error {
    Error::Reported {
        message: e.to_string(),
        code: ExitCode::Generic,
    }
}

/// Reads a passphrase: SHROUD_PASSPHRASE, else the terminal without echo.
fn passphrase(confirm: bool) -> Result<SecretString> {
    if let Ok(p) = std::env::var("SHROUD_PASSPHRASE") {
        return Ok(SecretString::from(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "--passphrase needs a terminal or SHROUD_PASSPHRASE".into(),
        ));
    }
    let ask = |prompt: &str| -> Result<SecretString> {
        // rpassword reads the terminal with echo off and restores it, even on error.
        let line =
            zeroize::Zeroizing::new(rpassword::prompt_password(prompt).map_err(|source| {
                Error::Read {
                    file: "the terminal".into(),
                    source,
                }
            })?);
        Ok(SecretString::from(
            line.trim_end_matches(['\n', '\r']).to_owned(),
        ))
    };
    let p = ask("Passphrase: ")?;
    if confirm && ask("Repeat passphrase: ")?.expose_secret() != p.expose_secret() {
        return Err(Error::Invalid("the passphrases differ".into()));
    }
    if p.expose_secret().is_empty() {
        return Err(Error::Invalid("empty passphrase".into()));
    }
    Ok(p)
}

/// Reads a key file, share or bundle, refusing anything larger than such a file can be.
fn read_secret(path: &std::path::Path) -> Result<SecretBytes> {
    let file = shroud::text::sanitize(&path.display().to_string());
    fsutil::read_secret_file(path, fsutil::MAX_SECRET_FILE)
        .map(SecretBytes::new)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::NoFile { file }
            } else {
                Error::Read { file, source }
            }
        })
}

fn sources(files: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    if !files.is_empty() {
        for f in files {
            out.push(Source {
                label: f.display().to_string(),
                text: read_secret(f)?,
            });
        }
        return Ok(out);
    }
    if let Ok(t) = std::env::var("SOPS_AGE_KEY") {
        out.push(Source {
            label: "SOPS_AGE_KEY".into(),
            text: SecretBytes::from(t),
        });
    }
    if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        let p = PathBuf::from(p);
        out.push(Source {
            label: format!("SOPS_AGE_KEY_FILE={}", p.display()),
            text: read_secret(&p)?,
        });
    }
    if let Some(p) = shroud::keysource::age::default_key_file().filter(|p| p.exists()) {
        out.push(Source {
            label: p.display().to_string(),
            text: read_secret(&p)?,
        });
    }
    Ok(out)
}

fn unlock_of(u: &UnlockArgs, ids: &mut Identities) -> Result<Option<Unlock<'static>>> {
    if u.passphrase {
        return Ok(Some(Unlock::Passphrase(passphrase(false)?)));
    }
    if !u.shares.is_empty() {
        let mut texts = Vec::new();
        for f in &u.shares {
            if f.as_os_str() == "-" {
                let bytes = SecretBytes::new(
                    fsutil::read_bounded(std::io::stdin().lock(), None, fsutil::MAX_SECRET_FILE)
                        .map_err(|source| Error::Read {
                            file: "<stdin>".into(),
                            source,
                        })?,
                );
                let all =
                    zeroize::Zeroizing::new(String::from_utf8_lossy(bytes.expose()).into_owned());
                for (i, chunk) in all
                    .split("\n\n")
                    .filter(|c| c.contains("shroudshare1"))
                    .enumerate()
                {
                    texts.push((
                        SecretString::from(chunk.to_owned()),
                        format!("#{} from stdin", i + 1),
                    ));
                }
            } else {
                let t = read_secret(f)?;
                texts.push((
                    SecretString::from(t.as_str().unwrap_or_default().to_owned()),
                    f.display().to_string(),
                ));
            }
        }
        return Ok(Some(Unlock::Shares(texts)));
    }
    if u.identities.is_empty() {
        return Err(Error::Usage(
            "open the backup with --identity FILE, --passphrase or --share FILE…".into(),
        ));
    }
    for f in &u.identities {
        let t = read_secret(f)?;
        ids.add_text(t.as_str().unwrap_or_default(), &f.display().to_string())
            .map_err(|source| Error::Key {
                file: f.display().to_string(),
                source,
            })?;
    }
    Ok(None)
}

fn open_bundle(path: &std::path::Path, u: &UnlockArgs) -> Result<backup::Opened> {
    let label = path.display().to_string();
    let bytes = read_secret(path)?;
    let mut ids = Identities::default();
    let unlock = match unlock_of(u, &mut ids)? {
        Some(x) => x,
        None => Unlock::Identities(&ids),
    };
    backup::open(bytes.expose(), unlock).map_err(|e| berr(&label, e))
}

pub fn run(a: KeysArgs, g: &super::Global) -> Result<Outcome> {
    match a.command {
        KeysCommand::Revoke(r) => super::revoke::run(r, g),
        KeysCommand::Backup(b) => run_backup(b),
        KeysCommand::Restore(r) => run_restore(r),
        KeysCommand::Verify(v) => run_verify(v),
    }
}

#[cfg(feature = "cluster")]
fn split_ref(r: &str) -> Result<(String, String)> {
    r.split_once('/')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
        .ok_or_else(|| Error::Invalid(format!("{r:?} must be NAMESPACE/NAME")))
}

#[cfg(feature = "cluster")]
fn kube_client() -> Result<kube::Client> {
    common::block_on(cluster::client()).map_err(cluster_err)
}

/// The PGP secret keys `--pgp` names (comma-separated lists, repeatable), exported from the
/// GnuPG keyring.
fn pgp_sources(lists: &[String], label: &str) -> Result<Vec<backup::PgpSource>> {
    let gpg = shroud::keysource::pgp::Gpg::default();
    let mut pgp = Vec::new();
    for list in lists {
        for fp in shroud::file::key_list(Some(list))? {
            let fp = shroud::keysource::pgp::normalize(&fp);
            let armored =
                common::block_on(gpg.export_secret_key(&fp)).map_err(|source| Error::Key {
                    file: label.to_owned(),
                    source,
                })?;
            pgp.push(backup::PgpSource {
                label: "the GnuPG keyring".into(),
                fingerprint: fp,
                armored,
            });
        }
    }
    Ok(pgp)
}

fn run_backup(a: BackupArgs) -> Result<Outcome> {
    let label = a.output.display().to_string();
    if a.output.exists() && !a.force {
        return Err(Error::Usage(format!(
            "{label} exists; pass --force to replace it (nothing was written)"
        )));
    }
    if let (Some(dir), Some(n), false) = (&a.shares_dir, a.shares, a.force) {
        let taken: Vec<String> = (1..=n)
            .map(|i| dir.join(format!("share-{i}.txt")))
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
            .map(|p| common::shown(&p))
            .collect();
        if !taken.is_empty() {
            return Err(Error::Usage(format!(
                "{} already hold{} shares of an earlier backup, which could no longer be restored if they were replaced: choose another --shares-dir, or pass --force to replace them (nothing was written)",
                taken.join(", "),
                if taken.len() == 1 { "s" } else { "" }
            )));
        }
    }
    let protection = Protection {
        recipients: a.recipients.clone(),
        passphrase: if a.passphrase {
            Some(passphrase(true)?)
        } else {
            None
        },
        shares: a.shares.zip(a.threshold),
        work_factor: std::env::var("SHROUD_SCRYPT_WORK_FACTOR")
            .ok()
            .and_then(|w| w.parse().ok()),
    };
    if let Some((n, k)) = protection.shares
        && (k < 2 || k > n)
    {
        return Err(Error::Usage(format!(
            "--threshold must be between 2 and --shares ({n})"
        )));
    }
    #[cfg(feature = "cluster")]
    let from_secret = a.from_secret.as_deref();
    #[cfg(not(feature = "cluster"))]
    let from_secret: Option<&str> = None;
    #[allow(unused_mut)]
    let mut srcs = if from_secret.is_some() && a.key_files.is_empty() {
        Vec::new()
    } else {
        sources(&a.key_files)?
    };
    #[cfg(feature = "cluster")]
    if let Some(r) = from_secret {
        let (ns, name) = split_ref(r)?;
        let entries = common::block_on(cluster::read_secret(kube_client()?, &ns, &name))
            .map_err(cluster_err)?;
        srcs.extend(entries.into_iter().map(|(key, text)| Source {
            label: format!("Secret {ns}/{name} key {key}"),
            text,
        }));
    }
    let pgp = pgp_sources(&a.pgp, &label)?;
    let created = backup::create(&srcs, &pgp, &protection).map_err(|e| berr(&label, e))?;
    let blocks: Vec<String> = created
        .shares
        .iter()
        .enumerate()
        .map(|(i, s)| backup::share_block(&created.manifest, i, s))
        .collect();
    // Without --force nothing is replaced, even if a file appeared since the check above.
    let write_new = |p: &std::path::Path, bytes: &[u8]| -> Result<()> {
        if a.force {
            fsutil::write_atomic(p, bytes, Mode::Exactly(0o600))
        } else {
            fsutil::create_private(p, bytes)
        }
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!(
                    "{} exists; pass --force to replace it",
                    common::shown(p)
                ))
            } else {
                Error::Write {
                    file: common::shown(p),
                    source,
                }
            }
        })
    };
    if let Some(dir) = &a.shares_dir {
        fsutil::create_private_dir(dir).map_err(|source| Error::Write {
            file: common::shown(dir),
            source,
        })?;
        for (i, b) in blocks.iter().enumerate() {
            write_new(&dir.join(format!("share-{}.txt", i + 1)), b.as_bytes())?;
        }
    }
    write_new(&a.output, &created.bundle)?;
    super::messages::note(&format!(
        "shroud: wrote backup {} of {} identities{} to {}",
        created.manifest.backup_id,
        created.manifest.identities.len(),
        if created.manifest.pgp.is_empty() {
            String::new()
        } else {
            format!(" and {} PGP secret keys", created.manifest.pgp.len())
        },
        common::shown(&a.output)
    ));
    let clean = shroud::text::sanitize;
    for e in &created.manifest.identities {
        super::messages::note(&format!(
            "  {} ({}) from {}",
            clean(&shroud::text::shorten_keys(&e.recipient)),
            e.fingerprint,
            clean(&e.source)
        ));
    }
    for e in &created.manifest.pgp {
        super::messages::note(&format!(
            "  PGP {} from {}",
            clean(&e.fingerprint),
            clean(&e.source)
        ));
    }
    if a.shares_dir.is_none() {
        for b in &blocks {
            common::print(format!("{b}\n").as_bytes())?;
        }
    }
    Ok(Outcome::Done)
}

/// Restores the bundle's PGP secret keys: to `--pgp-output`, else into the GnuPG keyring.
fn restore_pgp(a: &RestoreArgs, opened: &backup::Opened) -> Result<()> {
    let n = opened.manifest.pgp.len();
    if n == 0 {
        if let Some(p) = &a.pgp_output {
            super::messages::note(&format!(
                "shroud: the backup holds no PGP keys: nothing was written to {} (skip its gpg --import)",
                common::shown(p)
            ));
        }
        return Ok(());
    }
    match &a.pgp_output {
        Some(p) => {
            let label = common::shown(p);
            if a.force {
                fsutil::write_atomic(p, opened.pgp_keys.expose(), Mode::Exactly(0o600))
            } else {
                fsutil::create_private(p, opened.pgp_keys.expose())
            }
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Usage(format!(
                        "{label} exists; pass --force to replace it (no PGP key was written)"
                    ))
                } else {
                    Error::Write {
                        file: label.clone(),
                        source,
                    }
                }
            })?;
            super::messages::note(&format!(
                "shroud: wrote {n} PGP secret keys to {label} (gpg --import {label})"
            ));
        }
        None => {
            common::block_on(
                shroud::keysource::pgp::Gpg::default().import(opened.pgp_keys.expose()),
            )
            .map_err(|source| Error::Key {
                file: a.bundle.display().to_string(),
                source,
            })?;
            super::messages::note(&format!(
                "shroud: imported {n} PGP secret keys into the GnuPG keyring"
            ));
        }
    }
    Ok(())
}

fn run_restore(a: RestoreArgs) -> Result<Outcome> {
    let opened = open_bundle(&a.bundle, &a.unlock)?;
    #[cfg(feature = "cluster")]
    let to_secret = a.to_secret.as_deref();
    #[cfg(not(feature = "cluster"))]
    let to_secret: Option<&str> = None;
    if opened.manifest.identities.is_empty() && to_secret.is_none() {
        restore_pgp(&a, &opened)?;
        return Ok(Outcome::Done);
    }
    #[cfg(feature = "cluster")]
    if let Some(r) = to_secret {
        if !opened.manifest.pgp.is_empty() && a.pgp_output.is_none() {
            return Err(Error::Usage(format!(
                "the backup also holds {} PGP secret keys, which a Secret restore does not write: pass --pgp-output FILE to restore them too (nothing was written)",
                opened.manifest.pgp.len()
            )));
        }
        let (ns, name) = split_ref(r)?;
        let created = common::block_on(cluster::write_secret(
            kube_client()?,
            &ns,
            &name,
            cluster::KEY_ENTRY,
            &opened.identities,
            "shroud-keys-restore",
            a.force,
        ))
        .map_err(cluster_err)?;
        super::messages::note(&format!(
            "shroud: {} Secret {ns}/{name} with {} identities (key {})",
            if created {
                "created"
            } else {
                "replaced the data of"
            },
            opened.manifest.identities.len(),
            cluster::KEY_ENTRY
        ));
        restore_pgp(&a, &opened)?;
        return Ok(Outcome::Done);
    }
    let out = match a.output.clone() {
        Some(p) => p,
        None => shroud::keysource::age::default_key_file()
            .ok_or_else(|| Error::Usage("pass -o FILE".into()))?,
    };
    let label = common::shown(&out);
    let header = shroud::text::sanitize(&format!(
        "# restored by shroud from backup {} (created {})",
        opened.manifest.backup_id, opened.manifest.created
    ));
    if let Some(dir) = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fsutil::create_private_dir(dir).map_err(|source| Error::Write {
            file: common::shown(dir),
            source,
        })?;
    }
    let werr = |source: std::io::Error| Error::Write {
        file: label.clone(),
        source,
    };
    let total = opened.manifest.identities.len();
    let existing = match fsutil::read_secret_file(&out, fsutil::MAX_SECRET_FILE) {
        Ok(b) => Some(SecretBytes::new(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                file: label.clone(),
                source,
            });
        }
    };
    match existing {
        // A key file is there: keep what it holds and add the restored identities it lacks
        // (as keygen adds a new one), unless --force asks to replace it.
        Some(old) if !a.force => {
            let have = old.as_str().unwrap_or_default();
            let mut addition = zeroize::Zeroizing::new(format!("{header}\n"));
            let mut added = 0;
            for line in opened.identities.as_str().unwrap_or_default().lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if have.lines().any(|l| l.trim() == line) {
                    continue;
                }
                addition.push_str(line);
                addition.push('\n');
                added += 1;
            }
            if added == 0 {
                super::messages::note(&format!(
                    "shroud: {label} already holds the {total} identities of the backup; it was not changed"
                ));
            } else {
                fsutil::append_private(&out, addition.as_bytes()).map_err(werr)?;
                super::messages::note(&format!(
                    "shroud: added {added} restored identities to {label}, next to the {} it held{}",
                    have.lines()
                        .filter(|l| l.trim().starts_with("AGE-SECRET-KEY-"))
                        .count(),
                    if added < total {
                        format!(" ({} were there already)", total - added)
                    } else {
                        String::new()
                    }
                ));
            }
        }
        _ => {
            let mut text = format!("{header}\n").into_bytes();
            text.extend_from_slice(opened.identities.expose());
            let text = SecretBytes::new(text);
            if a.force {
                fsutil::write_atomic(&out, text.expose(), Mode::Exactly(0o600))
            } else {
                fsutil::create_private(&out, text.expose())
            }
            .map_err(werr)?;
            super::messages::note(&format!("shroud: restored {total} identities to {label}"));
        }
    }
    restore_pgp(&a, &opened)?;
    Ok(Outcome::Done)
}

fn run_verify(a: VerifyArgs) -> Result<Outcome> {
    let opened = open_bundle(&a.bundle, &a.unlock)?;
    let dir = a.dir.unwrap_or_else(|| PathBuf::from("."));
    let results = common::block_on_parallel(backup::verify_dir(&dir, &opened))
        .map_err(|e| berr(&a.bundle.display().to_string(), e))?;
    let lost: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    // Findings, not a failure of verify itself: its own exit code (41) follows the summary.
    for (_, r) in &lost {
        if let Err(e) = r {
            super::messages::note(&format!(
                "verify: a restore would lose {}",
                shroud::text::sanitize(&e.to_string())
            ));
        }
    }
    let kms: Vec<_> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(backup::Coverage::KmsOnly)))
        .map(|(p, _)| common::shown(p))
        .collect();
    let opens = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(backup::Coverage::Opens { .. })))
        .count();
    let pgp_only = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(backup::Coverage::Opens { pgp_only: true })))
        .count();
    if !kms.is_empty() {
        super::messages::note(&format!(
            "verify: {} files open only through AWS KMS (not part of a key backup): {}",
            kms.len(),
            kms.join(", ")
        ));
    }
    super::messages::note(&format!(
        "verify: backup {} opens {opens} of {} encrypted files{}{}",
        opened.manifest.backup_id,
        results.len(),
        if pgp_only > 0 {
            format!(" ({pgp_only} only through its PGP keys)")
        } else {
            String::new()
        },
        if lost.is_empty() {
            "".to_owned()
        } else {
            format!(
                "; a restore would LOSE {}",
                lost.iter()
                    .map(|(p, _)| common::shown(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    Ok(if lost.is_empty() {
        Outcome::Done
    } else {
        Outcome::Code(ExitCode::RestoreWouldLose)
    })
}
