//! `shroud external-secret`: ExternalSecret manifests (keys only) from Secret manifests and
//! values files for a store (`--provider`), its store skeleton (`--store-manifest`), and with
//! `--push` the values in AWS Secrets Manager at the referenced keys.
//!
//! Owns: the flags and the `.sops.yaml` `external_secrets:` defaults, read into
//! [`Options`] with where each value was set (for one-line errors), the file and directory
//! names handed to naming, the `--output-dir` file names, and the order of the steps (nothing
//! is pushed or written when any input fails).
//! Must not know: the manifest layout, naming rules, which option values ESO accepts.

use std::path::PathBuf;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::externalsecret::{
    self as eso, ApiVersion, CreationPolicy, DeletionPolicy, EsoError, Form, Options, PushOutcome,
    StoreKind, StoreSettings, provider,
};
use shroud::fsutil::Mode;
use shroud::k8s::name;
use shroud::store::{self, Format};

use super::Global;
use super::common::{self, Outcome, Sink};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  shroud external-secret --env prod --key-template '{env}/{namespace}/{name}' k8s/*.yaml
  shroud external-secret --name shop --namespace shop --data-from-extract shop/.env
  shroud external-secret --push --dry-run k8s/secrets.yaml
  shroud external-secret --provider vault --store-manifest -n shop shop/.env")]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    /// Secret manifests or values files (YAML, JSON, dotenv, INI), encrypted or plain.
    #[arg(required_unless_present = "store_manifest")]
    pub files: Vec<PathBuf>,
    /// The store: aws (AWS Secrets Manager), vault (HashiCorp Vault KV), azurekv (Azure Key Vault), gcpsm (GCP Secret Manager) (default: .sops.yaml external_secrets.provider, else aws).
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Also write the SecretStore/ClusterSecretStore skeleton for the provider (first in the stream; the authentication is left to fill in, explained in comments). Alone without files.
    #[arg(long)]
    pub store_manifest: bool,
    /// Name of the SecretStore/ClusterSecretStore (default: .sops.yaml external_secrets.store, else the provider's: aws-secrets-manager, vault, azure-key-vault, gcp-secret-manager).
    #[arg(long, value_name = "NAME")]
    pub store: Option<String>,
    /// Reference a namespaced SecretStore instead of a ClusterSecretStore.
    #[arg(long)]
    pub namespaced_store: bool,
    /// Remote key template: {env}, {namespace}, {name}, {file} (default: {namespace}/{name}).
    #[arg(long, value_name = "TEMPLATE")]
    pub key_template: Option<String>,
    /// Value of {env}.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Namespace for documents without one (default: none; the manifests stay namespace-less, as kustomize's `namespace:` expects).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// Name of the ExternalSecret and Secret made from a values file (default: the file name, or its directory's for values.yaml, .env, secrets.yaml).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// apiVersion of the manifests: v1 (external-secrets.io/v1, ESO 0.16 and later) or v1beta1 (ESO before 0.16) (default v1).
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
    /// One spec.dataFrom[].extract of the whole remote JSON object instead of one spec.data[] entry per key.
    #[arg(long)]
    pub data_from_extract: bool,
    /// spec.refreshInterval, a Go duration such as 1h, 30m, 1h30m, or 0 to fetch once (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub refresh_interval: Option<String>,
    /// target.creationPolicy: Owner, Orphan, Merge, None, or CreateOrMerge with v1 (default Owner).
    #[arg(long, value_name = "POLICY")]
    pub creation_policy: Option<String>,
    /// target.deletionPolicy: Retain, Delete, Merge (default Retain).
    #[arg(long, value_name = "POLICY")]
    pub deletion_policy: Option<String>,
    /// Write one file per ExternalSecret into DIR instead of one stream on stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Also write the decrypted values to AWS Secrets Manager (create or update).
    #[arg(long)]
    pub push: bool,
    /// With --push: list what would be written (names and keys, never values).
    #[arg(long, requires = "push")]
    pub dry_run: bool,
    /// AWS region for --push and the AWS store skeleton (default: the AWS chain).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// A setting's value and where it was set (a flag, or a key of `.sops.yaml`), for messages.
type Setting = (String, String);

fn parsed<T>(
    setting: Option<Setting>,
    parse: impl Fn(&str) -> std::result::Result<T, String>,
    default: T,
) -> std::result::Result<T, EsoError> {
    match setting {
        None => Ok(default),
        Some((value, option)) => {
            parse(&value).map_err(|why| EsoError::BadOption { option, value, why })
        }
    }
}

fn checked(
    setting: Option<Setting>,
    check: impl Fn(&str) -> std::result::Result<(), String>,
) -> std::result::Result<Option<String>, EsoError> {
    parsed(setting, |v| check(v).map(|()| Some(v.to_owned())), None)
}

fn options(a: &Args, cfg: Option<&config::Config>) -> Result<Options> {
    let section = cfg
        .and_then(|c| c.external_secrets.clone())
        .unwrap_or_default();
    let cfg_name = cfg
        .map(|c| c.path.display().to_string())
        .unwrap_or_else(|| ".sops.yaml".into());
    let from_cfg = |key: &str, v: Option<String>| {
        v.filter(|s| !s.is_empty())
            .map(|v| (v, format!("{cfg_name}: external_secrets.{key}")))
    };
    let get = |k: &str| from_cfg(k, section.get(k).and_then(|v| v.as_text()));
    let pick = |flag: &Option<String>, flag_name: &str, key: &str| -> Option<Setting> {
        flag.clone()
            .map(|v| (v, flag_name.to_owned()))
            .or_else(|| get(key))
    };
    let store = section.get("store").and_then(|v| v.as_map());
    let store_name = a
        .store
        .clone()
        .map(|v| (v, "--store".to_owned()))
        .or_else(|| {
            from_cfg(
                "store.name",
                store.and_then(|m| m.get("name")).and_then(|v| v.as_text()),
            )
        })
        .or_else(|| get("store"));
    let kind_cfg = from_cfg(
        "store.kind",
        store.and_then(|m| m.get("kind")).and_then(|v| v.as_text()),
    );
    let d = Options::default();
    let provider = parsed(
        pick(&a.provider, "--provider", "provider"),
        provider::by_name,
        d.provider,
    )?;
    let opts = Options {
        provider,
        api_version: parsed(
            pick(&a.api_version, "--api-version", "api_version"),
            ApiVersion::parse,
            d.api_version,
        )?,
        form: if a.data_from_extract {
            Form::Extract
        } else {
            parsed(
                get("data_from_extract"),
                |v| match v {
                    "true" => Ok(Form::Extract),
                    "false" => Ok(Form::Data),
                    _ => Err("expected true or false".into()),
                },
                d.form,
            )?
        },
        store_name: checked(store_name, name::check_subdomain)?
            .unwrap_or_else(|| provider.default_store().to_owned()),
        store_kind: if a.namespaced_store {
            StoreKind::SecretStore
        } else {
            parsed(
                kind_cfg,
                |v| match v {
                    "SecretStore" => Ok(StoreKind::SecretStore),
                    "ClusterSecretStore" => Ok(StoreKind::ClusterSecretStore),
                    _ => Err("expected SecretStore or ClusterSecretStore".into()),
                },
                d.store_kind,
            )?
        },
        refresh_interval: checked(
            pick(
                &a.refresh_interval,
                "--refresh-interval",
                "refresh_interval",
            ),
            |v| eso::parse_go_duration(v).map(|_| ()),
        )?
        .unwrap_or(d.refresh_interval),
        key_template: pick(&a.key_template, "--key-template", "key_template")
            .map(|(v, _)| v)
            .unwrap_or(d.key_template),
        env: pick(&a.env, "--env", "env").map(|(v, _)| v),
        namespace: checked(
            a.namespace.clone().map(|v| (v, "--namespace".to_owned())),
            name::check_label,
        )?,
        name: checked(
            a.name.clone().map(|v| (v, "--name".to_owned())),
            name::check_subdomain,
        )?,
        creation_policy: parsed(
            pick(&a.creation_policy, "--creation-policy", "creation_policy"),
            CreationPolicy::parse,
            d.creation_policy,
        )?,
        deletion_policy: parsed(
            pick(&a.deletion_policy, "--deletion-policy", "deletion_policy"),
            DeletionPolicy::parse,
            d.deletion_policy,
        )?,
    };
    opts.check()?;
    Ok(opts)
}

/// The file `--output-dir` writes a generated ExternalSecret to.
fn output_name(g: &eso::Generated) -> String {
    match &g.namespace {
        Some(ns) => format!("{ns}.{}.externalsecret.yaml", g.name),
        None => format!("{}.externalsecret.yaml", g.name),
    }
}

/// The file `--output-dir` writes the store skeleton to.
fn store_output_name(opts: &Options) -> String {
    let kind = opts.store_kind.as_str().to_ascii_lowercase();
    match (&opts.namespace, opts.store_kind) {
        (Some(ns), StoreKind::SecretStore) => format!("{ns}.{}.{kind}.yaml", opts.store_name),
        _ => format!("{}.{kind}.yaml", opts.store_name),
    }
}

/// The store skeleton and its `--output-dir` file name, with the options of the current
/// directory's `.sops.yaml`.
fn store_manifest(a: &Args, g: &Global) -> Result<(String, shroud::tree::Map)> {
    let cfg = config::discover(g.config.as_deref(), None)?;
    let opts = options(a, cfg.as_ref())?;
    let region = a.region.clone().or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
    });
    let m = eso::store_manifest(&opts, &StoreSettings { region });
    Ok((store_output_name(&opts), m))
}

/// Refuses `--push` to a store it cannot write.
fn check_push(a: &Args, opts: &Options) -> Result<()> {
    match opts.provider.push_unavailable() {
        Some(hint) if a.push => Err(EsoError::NoPush {
            store: opts.provider.title(),
            hint,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Remote keys and the payloads `--push` writes to them.
type Payloads = Vec<(String, shroud::secret::SecretBytes)>;

/// The ExternalSecrets of one input file, and (with a keyring, for `--push`) the payload of
/// each remote key.
fn generate_file(
    a: &Args,
    g: &Global,
    f: &std::path::Path,
    keyring: Option<&shroud::keysource::Keyring>,
) -> Result<(Vec<eso::Generated>, Payloads)> {
    let input = common::read_input(Some(f))?;
    let fmt = Format::from_path(f);
    let cfg = config::discover(g.config.as_deref(), Some(f))?;
    let opts = options(a, cfg.as_ref())?;
    let (tree, encrypted) = match document::sniff_parsed(fmt, input.bytes.expose()) {
        (document::Sniff::Sops, Some((tree, _))) => (tree, true),
        (document::Sniff::Damaged(why), _) => {
            return Err(Error::Damaged {
                file: input.label.clone(),
                why,
            });
        }
        _ => (
            store::load_encrypted(fmt, input.bytes.expose()).map_err(|source| Error::Store {
                file: input.label.clone(),
                source,
            })?,
            false,
        ),
    };
    let absolute = input
        .path
        .as_deref()
        .and_then(|p| std::path::absolute(p).ok());
    let file_name = input
        .path
        .as_deref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy());
    let dir_name = absolute
        .as_deref()
        .and_then(|p| p.parent())
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy());
    let source = eso::Source {
        label: &input.label,
        file_name: file_name.as_deref(),
        dir_name: dir_name.as_deref(),
    };
    let mut generated = eso::generate(&source, &tree, encrypted, &opts)?;
    if generated.is_empty() {
        common::warn(&format!("{}: no Secret keys found", input.label));
    }
    let mut plains = Vec::new();
    if let Some(ring) = keyring {
        let plain = if encrypted {
            common::block_on(document::open(
                &input.label,
                fmt,
                input.bytes.expose(),
                ring,
                false,
            ))?
            .tree
        } else {
            tree.clone()
        };
        for gen_ in &mut generated {
            gen_.mark_binary(&plain)?;
            plains.push((gen_.remote_key.clone(), eso::payload(gen_, &plain)?));
        }
    }
    Ok((generated, plains))
}

/// `--output-dir` must not write two manifests to one file.
fn check_output_names(pairs: &[(&str, &eso::Generated)]) -> Result<()> {
    let mut seen = std::collections::BTreeMap::new();
    for (file, gen_) in pairs {
        if let Some((f, d)) = seen.insert(output_name(gen_), (*file, gen_.doc)) {
            return Err(EsoError::Input {
                file: (*file).to_owned(),
                doc: gen_.doc,
                message: format!(
                    "--output-dir would write {} for this and for {f} ({}); rename one",
                    output_name(gen_),
                    shroud::text::document(d)
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// `--push`: each remote key's payload to AWS Secrets Manager (`--dry-run`: what would be).
fn push(a: &Args, all: &[(String, eso::Generated)], plains: &Payloads) -> Result<()> {
    if a.dry_run {
        // Names only: no value is read, no credentials are needed, nothing is contacted.
        for (file, gen_) in all {
            let keys: Vec<&str> = gen_.keys.iter().map(|(k, _)| k.as_str()).collect();
            super::messages::note(&format!(
                "would push {} with keys {} (from {file}; created if missing, updated if changed)",
                gen_.remote_key,
                keys.join(", ")
            ));
        }
        return Ok(());
    }
    let client = common::block_on(provider::aws::client(a.region.clone()));
    for (key, value) in plains {
        let what = common::block_on(provider::aws::push(&client, key, value, false))?;
        super::messages::note(&format!(
            "{}: {key}",
            match what {
                PushOutcome::Created => "created",
                PushOutcome::Updated => "updated",
                PushOutcome::Unchanged => "unchanged",
            }
        ));
    }
    Ok(())
}

/// The manifests: one file each under `--output-dir`, else one YAML stream on stdout.
fn write_manifests(
    a: &Args,
    store: Option<&(String, shroud::tree::Map)>,
    all: &[(String, eso::Generated)],
) -> Result<()> {
    match &a.output_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                file: dir.display().to_string(),
                source,
            })?;
            if let Some((file, m)) = store {
                let yaml = eso::manifests_yaml(&[m]);
                common::write_output(Sink::File(&dir.join(file)), &yaml, Mode::KeepOr(0o644))?;
            }
            for (_, gen_) in all {
                let p = dir.join(output_name(gen_));
                common::write_output(Sink::File(&p), &eso::to_yaml(&[gen_]), Mode::KeepOr(0o644))?;
            }
            Ok(())
        }
        None => {
            let mut manifests: Vec<&shroud::tree::Map> = Vec::new();
            manifests.extend(store.map(|(_, m)| m));
            manifests.extend(all.iter().map(|(_, x)| &x.manifest));
            common::write_output(
                Sink::Stdout,
                &eso::manifests_yaml(&manifests),
                Mode::KeepOr(0o644),
            )
        }
    }
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    let store = if a.store_manifest {
        Some(store_manifest(&a, g)?)
    } else {
        None
    };
    for f in &a.files {
        check_push(
            &a,
            &options(&a, config::discover(g.config.as_deref(), Some(f))?.as_ref())?,
        )?;
    }
    let keyring = if a.push && !a.dry_run {
        Some(common::keyring(g)?)
    } else {
        None
    };
    let mut all: Vec<(String, eso::Generated)> = Vec::new();
    let mut plains = Vec::new();
    for f in &a.files {
        let (generated, p) = generate_file(&a, g, f, keyring.as_ref())?;
        plains.extend(p);
        let label = f.display().to_string();
        all.extend(generated.into_iter().map(|x| (label.clone(), x)));
    }
    let pairs: Vec<(&str, &eso::Generated)> = all.iter().map(|(f, g)| (f.as_str(), g)).collect();
    eso::check_unique(&pairs)?;
    if a.output_dir.is_some() {
        check_output_names(&pairs)?;
    }
    if a.push {
        push(&a, &all, &plains)?;
    }
    write_manifests(&a, store.as_ref(), &all)?;
    Ok(Outcome::Done)
}
