//! `shroud external-secret`: ExternalSecret manifests (keys only) from Secret manifests and
//! values files, and with `--push` the values in AWS Secrets Manager at the referenced keys.

use std::path::PathBuf;

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::externalsecret::{self as eso, Options, PushOutcome, StoreKind};
use shroud::fsutil::Mode;
use shroud::metadata::layout;
use shroud::store::{self, Format};

use super::Global;
use super::common::{self, Outcome, Sink};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub file_opts: super::FileOptions,
    /// Secret manifests or values files, encrypted or plain.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Name of the SecretStore/ClusterSecretStore (default: .sops.yaml external_secrets.store, else aws-secrets-manager).
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
    /// Namespace for documents without one.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// spec.refreshInterval (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub refresh_interval: Option<String>,
    /// target.creationPolicy (Owner, Orphan, Merge, None).
    #[arg(long, value_name = "POLICY")]
    pub creation_policy: Option<String>,
    /// target.deletionPolicy (Retain, Delete, Merge).
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
    /// AWS region for --push (default: the AWS chain).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

fn options(a: &Args, cfg: Option<&config::Config>) -> Options {
    let section = cfg
        .and_then(|c| c.external_secrets.clone())
        .unwrap_or_default();
    let get = |k: &str| {
        section
            .get(k)
            .and_then(|v| v.as_text())
            .filter(|s| !s.is_empty())
    };
    let store = section.get("store").and_then(|v| v.as_map());
    let store_name = a
        .store
        .clone()
        .or_else(|| store.and_then(|m| m.get("name")).and_then(|v| v.as_text()))
        .or_else(|| get("store"));
    let kind_cfg = store.and_then(|m| m.get("kind")).and_then(|v| v.as_text());
    let d = Options::default();
    Options {
        store_name: store_name.unwrap_or(d.store_name),
        store_kind: if a.namespaced_store || kind_cfg.as_deref() == Some("SecretStore") {
            StoreKind::SecretStore
        } else {
            StoreKind::ClusterSecretStore
        },
        refresh_interval: a
            .refresh_interval
            .clone()
            .or_else(|| get("refresh_interval"))
            .unwrap_or(d.refresh_interval),
        key_template: a
            .key_template
            .clone()
            .or_else(|| get("key_template"))
            .unwrap_or(d.key_template),
        env: a.env.clone().or_else(|| get("env")),
        namespace: a.namespace.clone(),
        creation_policy: a
            .creation_policy
            .clone()
            .or_else(|| get("creation_policy"))
            .unwrap_or(d.creation_policy),
        deletion_policy: a
            .deletion_policy
            .clone()
            .or_else(|| get("deletion_policy"))
            .unwrap_or(d.deletion_policy),
    }
}

pub fn run(a: Args, g: &Global) -> Result<Outcome> {
    let mut all: Vec<(String, eso::Generated)> = Vec::new();
    let mut plains = Vec::new();
    let keyring = if a.push && !a.dry_run {
        Some(common::keyring(g)?)
    } else {
        None
    };
    for f in &a.files {
        let input = common::read_input(Some(f))?;
        let fmt = Format::from_path(f);
        let cfg = config::discover(g.config.as_deref(), Some(f))?;
        let opts = options(&a, cfg.as_ref());
        let encrypted = document::is_encrypted(fmt, input.bytes.expose());
        let mut tree =
            store::load_encrypted(fmt, input.bytes.expose()).map_err(|source| Error::Store {
                file: input.label.clone(),
                source,
            })?;
        if encrypted {
            layout::split(fmt, &mut tree).map_err(|source| Error::Metadata {
                file: input.label.clone(),
                source,
            })?;
        }
        let generated = eso::generate(&input.label, &tree, encrypted, &opts)?;
        if generated.is_empty() {
            common::warn(&format!("{}: no Secret keys found", input.label));
        }
        if let Some(ring) = &keyring {
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
            for gen_ in &generated {
                plains.push((gen_.remote_key.clone(), eso::payload(gen_, &plain)?));
            }
        }
        all.extend(generated.into_iter().map(|x| (input.label.clone(), x)));
    }
    if a.push {
        let client = common::block_on(eso::client(a.region.clone()));
        if a.dry_run {
            for (file, gen_) in &all {
                let probe = shroud::secret::SecretBytes::from("");
                let what = common::block_on(eso::push(&client, &gen_.remote_key, &probe, true))?;
                let verb = if what == PushOutcome::Created {
                    "create"
                } else {
                    "update (if changed)"
                };
                let keys: Vec<&str> = gen_.keys.iter().map(|(k, _)| k.as_str()).collect();
                eprintln!(
                    "would {verb} {} with keys {} (from {file})",
                    gen_.remote_key,
                    keys.join(", ")
                );
            }
        } else {
            for (key, value) in &plains {
                let what = common::block_on(eso::push(&client, key, value, false))?;
                eprintln!(
                    "{}: {key}",
                    match what {
                        PushOutcome::Created => "created",
                        PushOutcome::Updated => "updated",
                        PushOutcome::Unchanged => "unchanged",
                    }
                );
            }
        }
    }
    match &a.output_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                file: dir.display().to_string(),
                source,
            })?;
            for (_, gen_) in &all {
                let p = dir.join(format!(
                    "{}.{}.externalsecret.yaml",
                    gen_.namespace, gen_.name
                ));
                common::write_output(Sink::File(&p), &eso::to_yaml(&[gen_]), Mode::KeepOr(0o644))?;
            }
        }
        None => {
            let refs: Vec<&eso::Generated> = all.iter().map(|(_, x)| x).collect();
            common::write_output(Sink::Stdout, &eso::to_yaml(&refs), Mode::KeepOr(0o644))?;
        }
    }
    Ok(Outcome::Done)
}
