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
    let mut tree = document::load_plain(&input.label, in_fmt, input.bytes.expose())?;
    strip_last_applied(&input.label, &mut tree);
    let (tree, md, _key) = common::block_on(document::encrypt(
        &input.label,
        in_fmt,
        tree,
        &spec,
        &common::keyring_for_encrypt(),
    ))?;
    let opts = common::emit_options(g, out_fmt, cfg.as_ref());
    let bytes = document::emit_encrypted(&input.label, out_fmt, tree, &md, opts)?;
    a.io.write(&input, &bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
}

/// A Secret's `kubectl.kubernetes.io/last-applied-configuration` annotation is a plaintext copy
/// of its data: it is removed before encryption (docs/format.md), and the user is told.
fn strip_last_applied(label: &str, tree: &mut shroud::tree::Tree) {
    for name in shroud::k8s::secret::strip_last_applied(tree) {
        eprintln!(
            "encrypt: {}: removed the {} annotation of Secret {} (a plaintext copy of its data; kubectl apply writes it again)",
            shroud::text::sanitize(&common::shown(std::path::Path::new(label))),
            shroud::k8s::secret::LAST_APPLIED,
            shroud::text::sanitize(&name)
        );
    }
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
    let tree = document::load_plain(label, in_fmt, bytes)?;
    let secret = match tree.branches.as_slice() {
        [one] => one,
        _ => {
            return Err(Error::Usage(format!(
                "{label}: --kind EncryptedSecret takes exactly one Secret document"
            )));
        }
    };
    let opts = EmitOptions {
        indent: g.indent.or(Some(2)),
    };
    common::block_on(manifest::encrypt_secret(
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
        other => Error::Usage(format!("{label}: {other}")),
    })
}

/// Encrypts one file in place: locked, read, refused when already encrypted, written back
/// atomically with its mode kept.
fn encrypt_in_place(a: &Args, g: &Global, path: &Path) -> Result<()> {
    let label = path.display().to_string();
    let _lock = match fsutil::try_lock(path) {
        Ok(Some(l)) => l,
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
    let mut tree = document::load_plain(&label, in_fmt, input.bytes.expose())?;
    strip_last_applied(&label, &mut tree);
    let (tree, md, _key) = common::block_on_parallel(document::encrypt(
        &label,
        in_fmt,
        tree,
        &spec,
        &common::keyring_for_encrypt(),
    ))?;
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
    let (files, already) = match &a.recursive {
        Some(dir) => {
            if a.io.file.is_some() || !a.more.is_empty() {
                return Err(Error::Usage(
                    "give FILEs or --recursive DIR, not both".into(),
                ));
            }
            let configs = shroud::repo::Configs::new(g.config.as_deref())?;
            let found = shroud::repo::files_to_encrypt(dir, &configs)?;
            (found.plain, found.encrypted)
        }
        None => {
            let mut files: Vec<PathBuf> = a.io.file.iter().cloned().collect();
            files.extend(a.more.iter().cloned());
            (files, Vec::new())
        }
    };
    if files.is_empty() {
        eprintln!(
            "encrypt: nothing to encrypt ({} selected files are encrypted already; --recursive takes files a creation rule's path_regex selects)",
            already.len()
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
            "encrypt: {} would be encrypted, {} already are",
            files.len(),
            already.len()
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
    eprintln!(
        "encrypt: {done} encrypted, {skipped} encrypted already, {} failed",
        codes.len()
    );
    Ok(match codes.first() {
        None => Outcome::Done,
        Some(&c) if codes.iter().all(|&x| x == c) => Outcome::Code(c),
        Some(_) => Outcome::Code(ExitCode::Generic),
    })
}
