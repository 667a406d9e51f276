//! `shroud encrypt`: encrypt a plaintext file for the recipients of the flags or `.sops.yaml`;
//! with several files or `--recursive DIR`, every file in place, in parallel, with the plan,
//! confirmation and summary `rotate` has.

use std::path::{Path, PathBuf};

use shroud::config;
use shroud::document;
use shroud::error::{Error, ExitCode, Result};
use shroud::fsutil::{self, Mode};

use super::Global;
use super::common::{self, KeyFlags, Outcome, RuleFlags};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    #[command(flatten)]
    pub io: common::IoArgs,
    /// Produce a Kubernetes object of this kind from a plain manifest. `EncryptedSecret`: read a
    /// Secret manifest, write a shroud.dev/v1alpha1 EncryptedSecret for shroud-controller.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// With --kind: the namespace the object is bound to (default: the manifest's).
    #[arg(long, value_name = "NAMESPACE", requires = "kind")]
    pub namespace: Option<String>,
    /// With --kind EncryptedSecret: also encrypt for the age recipients shroud-controller
    /// publishes in the cluster (ConfigMap NAMESPACE/NAME, default
    /// shroud-system/shroud-controller-recipients; KUBECONFIG or in-cluster credentials).
    #[cfg(feature = "cluster")]
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = super::recipients::DEFAULT,
        requires = "kind"
    )]
    pub fetch_recipients: Option<String>,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    /// More files to encrypt in place (with -i).
    #[arg(value_name = "FILE")]
    pub more: Vec<PathBuf>,
    /// Encrypt in place every plaintext file under DIR that a creation rule's path_regex
    /// selects (.gitignore respected; files already encrypted are left alone).
    #[arg(short = 'r', long, value_name = "DIR")]
    pub recursive: Option<PathBuf>,
    /// With several files: show the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With several files: do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// With several files: how many are encrypted at once (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// With several files: print only failures and the summary line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// With -i: a new data key even when the file's committed version (HEAD) is a sops file
    /// whose key and unchanged ciphertext would be reused (docs/git-diff.md).
    #[arg(long)]
    pub new_data_key: bool,
}

pub fn run(#[allow(unused_mut)] mut a: Args, g: &Global) -> Result<Outcome> {
    #[cfg(feature = "cluster")]
    if let Some(from) = &a.fetch_recipients {
        a.keys.age = Some(super::recipients::merge(a.keys.age.take(), from)?);
    }
    if !a.more.is_empty() || a.recursive.is_some() {
        return run_many(&a, g);
    }
    let common::ReadInput {
        input,
        name,
        in_fmt,
        out_fmt,
        lock: _lock,
    } = a.io.read()?;
    let cfg = config::discover(g.config.as_deref(), name.as_deref())?;
    let spec = common::encrypt_spec(
        &input.label,
        name.as_deref(),
        &a.keys,
        &a.rules,
        cfg.as_ref(),
    )?;
    if let Some(kind) = &a.kind {
        let bytes = encrypted_secret(
            &a,
            kind,
            &input.label,
            (in_fmt, out_fmt),
            input.bytes.expose(),
            &spec,
            g,
        )?;
        a.io.write(&input, &bytes, Mode::KeepOr(0o644))?;
        return Ok(Outcome::Done);
    }
    let tree = document::load_plain(&input.label, in_fmt, input.bytes.expose())?;
    let reuse = (a.io.in_place && in_fmt == out_fmt && !a.new_data_key)
        .then_some(input.path.as_deref())
        .flatten();
    let (tree, md) = seal(g, (&input.label, reuse), in_fmt, tree, &spec, false)?;
    let opts = common::emit_options(g, out_fmt, cfg.as_ref());
    let bytes = document::emit_encrypted(&input.label, out_fmt, tree, &md, opts)?;
    a.io.write(&input, &bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
}

/// Encrypts a plaintext tree for `spec`. With `-i` (`reuse` names the file) and a committed
/// version (HEAD) that is a sops file we can open, for the same recipients and rules: under its
/// data key, every unchanged value keeping its ciphertext, so `decrypt -i`, edit, `encrypt -i`
/// gives the small diff `shroud edit` gives.
fn seal(
    g: &Global,
    (label, reuse): (&str, Option<&Path>),
    format: shroud::store::Format,
    tree: shroud::tree::Tree,
    spec: &document::EncryptSpec,
    parallel: bool,
) -> Result<(shroud::tree::Tree, shroud::metadata::Metadata)> {
    use shroud::merge::{self, Reseal};
    let committed = reuse.and_then(|p| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let name = Path::new(p.file_name()?);
        shroud::git::blob_at(dir.unwrap_or(Path::new(".")), "HEAD", name).ok()?
    });
    if let Some(committed) = committed
        && let Ok(keyring) = common::keyring(g)
    {
        let reseal = merge::reseal(label, format, tree.clone(), &committed, spec, &keyring);
        let done = if parallel {
            common::block_on_parallel(reseal)
        } else {
            common::block_on(reseal)
        };
        match done? {
            Reseal::Sealed(sealed) => {
                eprintln!(
                    "encrypt: {label}: kept the data key and unchanged values' ciphertext of its committed version (HEAD) for a small diff; --new-data-key for a new key"
                );
                return Ok(*sealed);
            }
            Reseal::Declined(why) => {
                eprintln!("encrypt: {label}: new data key: the committed version (HEAD) {why}")
            }
            Reseal::NotSops => {}
        }
    }
    let wrap = common::keyring_for_encrypt();
    let fresh = document::encrypt(label, format, tree, spec, &wrap);
    let (tree, md, _key) = if parallel {
        common::block_on_parallel(fresh)
    } else {
        common::block_on(fresh)
    }?;
    Ok((tree, md))
}

/// `--kind EncryptedSecret`: a plain Secret manifest becomes an EncryptedSecret whose payload
/// is encrypted and whose name and namespace are MAC-covered (see docs/controller.md).
fn encrypted_secret(
    a: &Args,
    kind: &str,
    label: &str,
    (in_fmt, out_fmt): (shroud::store::Format, shroud::store::Format),
    bytes: &[u8],
    spec: &document::EncryptSpec,
    g: &Global,
) -> Result<Vec<u8>> {
    use shroud::k8s::manifest::{self, ManifestError};
    use shroud::store::{EmitOptions, Format};
    if kind != "EncryptedSecret" {
        return Err(Error::Usage(format!(
            "--kind {kind:?} is not supported (supported: EncryptedSecret)"
        )));
    }
    if !matches!(in_fmt, Format::Yaml | Format::Json)
        || !matches!(out_fmt, Format::Yaml | Format::Json)
    {
        return Err(Error::Usage(
            "--kind EncryptedSecret reads and writes YAML or JSON manifests".into(),
        ));
    }
    // A sops-encrypted Secret is opened in memory (MAC verified) with the caller's keys: its
    // plaintext never reaches the disk.
    let tree = if document::is_encrypted(in_fmt, bytes) {
        let keyring = common::keyring(g)?;
        common::block_on(document::open(label, in_fmt, bytes, &keyring, false))?.tree
    } else {
        document::load_plain(label, in_fmt, bytes)?
    };
    if tree.branches.len() > 1 && out_fmt != Format::Yaml {
        return Err(Error::Usage(format!(
            "{label}: {} documents make {} EncryptedSecrets, which only a YAML stream holds: use --output-type yaml",
            tree.branches.len(),
            tree.branches.len()
        )));
    }
    let opts = EmitOptions {
        indent: g.indent.or(Some(2)),
    };
    let mut out = Vec::new();
    for (i, secret) in tree.branches.iter().enumerate() {
        let one = common::block_on(manifest::encrypt_secret(
            label,
            secret,
            a.namespace.as_deref(),
            spec,
            &common::keyring_for_encrypt(),
            out_fmt,
            opts,
        ))
        .map_err(|e| match e {
            ManifestError::Document(d) => d,
            other if tree.branches.len() > 1 => {
                Error::Usage(format!("{label}: document {i}: {other}"))
            }
            other => Error::Usage(format!("{label}: {other}")),
        })?;
        if i > 0 {
            out.extend_from_slice(b"---\n");
        }
        out.extend_from_slice(&one);
    }
    Ok(out)
}

/// Encrypts one file in place: locked, read, refused when already encrypted, written back
/// atomically with its mode kept.
fn encrypt_in_place(a: &Args, g: &Global, path: &Path) -> Result<()> {
    let label = path.display().to_string();
    let _lock = match fsutil::try_lock(path) {
        Ok(Some(l)) => {
            common::warn_stale(path, &l);
            l
        }
        Ok(None) => return Err(Error::Busy { file: label }),
        Err(source) => {
            return Err(Error::Write {
                file: label,
                source,
            });
        }
    };
    let input = common::read_input(Some(path))?;
    let in_fmt =
        common::input_format(a.io.input_type.as_deref(), Some(path), input.bytes.expose())?;
    let out_fmt = match &a.io.output_type {
        Some(t) => common::parse_format(t)?,
        None => in_fmt,
    };
    if document::is_encrypted(in_fmt, input.bytes.expose()) {
        return Err(Error::AlreadyEncrypted { file: label });
    }
    let cfg = config::discover(g.config.as_deref(), Some(path))?;
    let spec = common::encrypt_spec(&label, Some(path), &a.keys, &a.rules, cfg.as_ref())?;
    let tree = document::load_plain(&label, in_fmt, input.bytes.expose())?;
    let reuse = (in_fmt == out_fmt && !a.new_data_key).then_some(path);
    let (tree, md) = seal(g, (&label, reuse), in_fmt, tree, &spec, true)?;
    let opts = common::emit_options(g, out_fmt, cfg.as_ref());
    let bytes = document::emit_encrypted(&label, out_fmt, tree, &md, opts)?;
    fsutil::write_atomic(path, &bytes, Mode::KeepOr(0o644)).map_err(|source| Error::Write {
        file: label,
        source,
    })
}

/// `encrypt -i F1 F2 …` and `encrypt -i --recursive DIR`.
fn run_many(a: &Args, g: &Global) -> Result<Outcome> {
    if !a.io.in_place {
        return Err(Error::Usage(
            "encrypt writes several files (or --recursive) only in place: add -i".into(),
        ));
    }
    if a.io.output.is_some() || a.io.filename_override.is_some() || a.kind.is_some() {
        return Err(Error::Usage(
            "--output, --filename-override and --kind take a single file".into(),
        ));
    }
    let mut nothing = Vec::new();
    let (files, already) = match &a.recursive {
        Some(dir) => {
            if a.io.file.is_some() || !a.more.is_empty() {
                return Err(Error::Usage(
                    "give FILEs or --recursive DIR, not both".into(),
                ));
            }
            let configs = shroud::repo::Configs::new(g.config.as_deref())?;
            let found = shroud::repo::files_to_encrypt(dir, &configs)?;
            nothing = found.nothing_to_encrypt;
            (found.plain, found.encrypted)
        }
        None => {
            let mut files: Vec<PathBuf> = a.io.file.iter().cloned().collect();
            files.extend(a.more.iter().cloned());
            (files, Vec::new())
        }
    };
    if !a.quiet {
        for f in &nothing {
            eprintln!(
                "skipped {}: its creation rule selects no value in it (left as it is)",
                common::shown(f)
            );
        }
    }
    if files.is_empty() {
        eprintln!(
            "encrypt: nothing to encrypt ({} selected files are encrypted already, {} hold no value their rule encrypts; --recursive takes files a creation rule's path_regex selects)",
            already.len(),
            nothing.len()
        );
        return Ok(Outcome::Done);
    }
    if !a.quiet || a.dry_run {
        for f in &files {
            eprintln!(
                "{}{}",
                if a.dry_run { "would encrypt " } else { "" },
                common::shown(f)
            );
        }
    }
    if a.dry_run {
        eprintln!(
            "encrypt: {} would be encrypted, {} already are, {} hold no value to encrypt",
            files.len(),
            already.len(),
            nothing.len()
        );
        return Ok(Outcome::Done);
    }
    if !a.yes && !common::confirm(&format!("encrypt these {} files in place?", files.len()))? {
        return Err(Error::Declined("encrypt was not confirmed".into()));
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 64);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<(PathBuf, Result<()>)>> = Default::default();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(files.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let r = encrypt_in_place(a, g, f);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((f.clone(), r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by(|x, y| x.0.cmp(&y.0));
    let (mut done, mut skipped, mut codes) = (0, already.len(), Vec::new());
    for (p, r) in &results {
        match r {
            Ok(()) => done += 1,
            Err(Error::AlreadyEncrypted { .. }) => {
                skipped += 1;
                if !a.quiet {
                    eprintln!("skipped {}: encrypted already", common::shown(p));
                }
            }
            Err(e) => {
                codes.push(e.exit_code());
                eprintln!("shroud: {}", shroud::text::sanitize(&e.to_string()));
            }
        }
    }
    let nothing_part = if a.recursive.is_some() {
        format!(", {} with nothing to encrypt", nothing.len())
    } else {
        String::new()
    };
    eprintln!(
        "encrypt: {done} encrypted, {skipped} encrypted already{nothing_part}, {} failed",
        codes.len()
    );
    Ok(match codes.first() {
        None => Outcome::Done,
        Some(&c) if codes.iter().all(|&x| x == c) => Outcome::Code(c),
        Some(_) => Outcome::Code(ExitCode::Generic),
    })
}
