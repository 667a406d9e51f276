//! `shroud encrypt`: encrypt a plaintext file for the recipients of the flags or `.sops.yaml`
//! (`shroud::file::encrypt` decides and orders the steps); with several files or
//! `--recursive DIR`, every file in place on the bulk runner, with the plan, confirmation and
//! summary every bulk verb has (`cli::bulk`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shroud::config::{self, Configs};
use shroud::document;
use shroud::error::{Error, Result};
use shroud::file;
use shroud::fsutil::Mode;

use super::Global;
use super::bulk::{Bulk, Tally};
use super::common::{self, KeyFlags, Outcome, RuleFlags};
use super::messages;

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
        mut input,
        name,
        in_fmt,
        out_fmt,
        lock: _lock,
    } = a.io.read()?;
    let given = common::given(&a.keys, &a.rules)?;
    let cfg = config::discover(g.config.as_deref(), name.as_deref())?;
    if let Some(kind) = &a.kind {
        let (spec, note) = file::recipients(&input.label, name.as_deref(), &given, cfg.as_ref())?;
        common::report_notes(&note.into_iter().collect::<Vec<_>>());
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
    let f = file::Encrypt {
        label: &input.label,
        name: name.as_deref(),
        in_format: in_fmt,
        out_format: out_fmt,
        given: &given,
        config: cfg.as_ref(),
        indent: g.indent,
        reuse_head: input
            .path
            .as_deref()
            .filter(|_| a.io.in_place && !a.new_data_key),
    };
    let identities = || common::keyring(g).ok();
    let plain = std::mem::take(&mut input.bytes);
    let done = common::block_on(file::encrypt(&f, plain, &identities))?;
    common::report_notes(&done.notes);
    a.io.write(&input, &done.bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
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
                Error::Invalid(format!("{label}: {}: {other}", shroud::text::document(i)))
            }
            other => Error::Invalid(format!("{label}: {other}")),
        })?;
        if i > 0 {
            out.extend_from_slice(b"---\n");
        }
        out.extend_from_slice(&one);
    }
    Ok(out)
}

/// The files of `encrypt -i F1 F2 …` or `--recursive DIR` (with, for `--recursive`, the
/// selected files that are encrypted already and those with nothing to encrypt).
struct Selected {
    files: Vec<PathBuf>,
    already: Vec<PathBuf>,
    nothing: Vec<PathBuf>,
}

fn select(a: &Args, configs: &Configs) -> Result<Selected> {
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
    match &a.recursive {
        Some(dir) => {
            if a.io.file.is_some() || !a.more.is_empty() {
                return Err(Error::Usage(
                    "give FILEs or --recursive DIR, not both".into(),
                ));
            }
            let found = shroud::repo::files_to_encrypt(dir, configs)?;
            Ok(Selected {
                files: found.plain,
                already: found.encrypted,
                nothing: found.nothing_to_encrypt,
            })
        }
        None => Ok(Selected {
            files: a.io.file.iter().chain(&a.more).cloned().collect(),
            already: Vec::new(),
            nothing: Vec::new(),
        }),
    }
}

/// `encrypt -i F1 F2 …` and `encrypt -i --recursive DIR`: the plan, one confirmation, every
/// file in place on the bulk runner (`shroud::file::encrypt_in_place`), the summary.
fn run_many(a: &Args, g: &Global) -> Result<Outcome> {
    let configs = Configs::new(g.config.as_deref())?;
    let Selected {
        files,
        already,
        nothing,
    } = select(a, &configs)?;
    let bulk = Bulk {
        verb: "encrypt",
        yes: a.yes,
        quiet: a.quiet,
        jobs: a
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 64),
    };
    for f in &nothing {
        bulk.say(&format!(
            "skipped {}: its creation rule selects no value in it (left as it is)",
            common::shown(f)
        ));
    }
    if files.is_empty() {
        messages::note(&format!(
            "encrypt: nothing to encrypt ({} selected files are encrypted already, {} hold no value their rule encrypts; --recursive takes files a creation rule's path_regex selects)",
            already.len(),
            nothing.len()
        ));
        return Ok(Outcome::Done);
    }
    for f in &files {
        if a.dry_run {
            messages::note(&format!("would encrypt {}", common::shown(f)));
        } else {
            bulk.say(&common::shown(f));
        }
    }
    if a.dry_run {
        messages::note(&format!(
            "encrypt: {} would be encrypted, {} already are, {} hold no value to encrypt",
            files.len(),
            already.len(),
            nothing.len()
        ));
        return Ok(Outcome::Done);
    }
    bulk.confirm(&format!("encrypt these {} files in place?", files.len()))?;
    let input_type = a.io.input_type.as_deref().map(common::parse_format);
    let output_type = a.io.output_type.as_deref().map(common::parse_format);
    let how = Arc::new(Job {
        given: common::given(&a.keys, &a.rules)?,
        configs,
        in_format: input_type.transpose()?,
        out_format: output_type.transpose()?,
        indent: g.indent,
        new_data_key: a.new_data_key,
        global: g.clone(),
    });
    let items = files.into_iter().map(|p| (p, ())).collect();
    let results = bulk.run(items, a.recursive.is_some(), |path, ()| {
        let job = how.clone();
        async move { job.encrypt(&path).await }
    });
    let mut tally = Tally::new(&[("encrypted", 0), ("encrypted already", already.len())]);
    if a.recursive.is_some() {
        tally = Tally::new(&[
            ("encrypted", 0),
            ("encrypted already", already.len()),
            ("with nothing to encrypt", nothing.len()),
        ]);
    }
    for (p, r) in &results {
        match r {
            Ok(notes) => {
                common::report_notes(notes);
                tally.count("encrypted");
            }
            Err(Error::AlreadyEncrypted { .. }) => {
                tally.count("encrypted already");
                bulk.say(&format!("skipped {}: encrypted already", common::shown(p)));
            }
            Err(e) => tally.failed(e),
        }
    }
    tally.summary("encrypt", None);
    Ok(tally.outcome())
}

/// What every file of a bulk encryption shares (owned: each file is a task of its own).
struct Job {
    given: file::Given,
    configs: Configs,
    in_format: Option<shroud::store::Format>,
    out_format: Option<shroud::store::Format>,
    indent: Option<usize>,
    new_data_key: bool,
    global: Global,
}

impl Job {
    async fn encrypt(&self, path: &Path) -> Result<Vec<file::Note>> {
        let how = file::InPlace {
            given: &self.given,
            configs: &self.configs,
            in_format: self.in_format,
            out_format: self.out_format,
            indent: self.indent,
            new_data_key: self.new_data_key,
        };
        let identities = || common::keyring(&self.global).ok();
        // Boxed: the whole-file future is deep, and each file is a task of its own anyway.
        Box::pin(file::encrypt_in_place(path, &how, &identities)).await
    }
}
