//! The `shroud-controller` binary: run the in-cluster decryptor, print its CRD, or print the
//! recipients developers encrypt for. Wiring only; the logic lives in `shroud::controller`.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shroud::controller::{self, PublishTo, Settings, keys::KeySources, leader::LeaseConfig};
use shroud::k8s::cluster::RECIPIENTS_CONFIGMAP;

/// Decrypts `EncryptedSecret` objects (shroud.dev/v1alpha1) into Secrets.
#[derive(Parser, Debug)]
#[command(name = "shroud-controller", version = version_line(), about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Debug, Clone)]
struct KeyArgs {
    /// An age key file (repeatable; all identities are tried, for rotation windows).
    #[arg(
        long = "age-key-file",
        env = "SHROUD_AGE_KEY_FILE",
        value_delimiter = ',',
        global = true
    )]
    age_key_file: Vec<PathBuf>,
    /// A directory whose files are age key files, e.g. a mounted Secret (repeatable).
    #[arg(
        long = "age-key-dir",
        env = "SHROUD_AGE_KEY_DIR",
        value_delimiter = ',',
        global = true
    )]
    age_key_dir: Vec<PathBuf>,
    /// A directory whose files are OpenPGP secret keys without a passphrase (`gpg
    /// --export-secret-keys`, e.g. a mounted Secret), for PGP-encrypted objects (repeatable).
    /// They are imported into a private GnuPG keyring in $TMPDIR; gpg must be installed
    /// (SOPS_GPG_EXEC names it).
    #[arg(
        long = "pgp-key-dir",
        env = "SHROUD_PGP_KEY_DIR",
        value_delimiter = ',',
        global = true
    )]
    pgp_key_dir: Vec<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "SHROUD_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SHROUD_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Disable leader election (only for a single replica).
    #[arg(long)]
    no_leader_election: bool,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "shroud-controller")]
    lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else the watched namespace, else `default`).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Lease duration in seconds (renewed every third of it).
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// Identity in the Lease (default: $POD_NAME, else hostname-pid).
    #[arg(long)]
    identity: Option<String>,
    /// Objects reconciled in parallel.
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
    /// Do not publish Kubernetes Events.
    #[arg(long)]
    no_events: bool,
    /// ConfigMap in which the leader publishes the age recipients of its identities, for
    /// `shroud encrypt --kind EncryptedSecret --fetch-recipients`; empty: not published.
    #[arg(long, default_value = RECIPIENTS_CONFIGMAP, value_name = "NAME")]
    recipients_configmap: String,
    /// Namespace of that ConfigMap (default: $POD_NAMESPACE, else the Lease namespace).
    #[arg(long, value_name = "NAMESPACE")]
    recipients_namespace: Option<String>,
    /// Seconds between checks of the key files for changes (a mounted Secret that was updated
    /// is reloaded without a restart); 0 disables.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    key_reload_seconds: u64,
    /// Seconds a graceful shutdown (SIGTERM) may take before the process exits anyway; keep it
    /// below the pod's terminationGracePeriodSeconds.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    shutdown_grace_seconds: u64,
    /// Log format: json or text.
    #[arg(long, default_value = "json", env = "SHROUD_LOG_FORMAT")]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the controller (the default).
    Run,
    /// Print the CustomResourceDefinition (YAML; `--json` for JSON).
    Crd {
        #[arg(long)]
        json: bool,
    },
    /// Print the age recipients of the controller's identities, one per line.
    Pubkey,
}

/// `0.1.0 (commit …; features: cluster)`, for `--version`.
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(shroud::long_version)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = u8::from(e.use_stderr()) * 2;
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let sources = KeySources {
        files: cli.keys.age_key_file.clone(),
        dirs: cli.keys.age_key_dir.clone(),
        pgp_dirs: cli.keys.pgp_key_dir.clone(),
    };
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Crd { json: true } => {
            print!("{}", shroud::k8s::crd::crd_json());
            ExitCode::SUCCESS
        }
        Cmd::Crd { json: false } => match shroud::k8s::crd::crd_yaml() {
            Ok(y) => {
                print!("{y}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shroud-controller: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Pubkey => match controller::keys::recipients(&sources) {
            Ok(r) if r.is_empty() => {
                eprintln!(
                    "shroud-controller: no age identities found (--age-key-file / --age-key-dir)"
                );
                ExitCode::FAILURE
            }
            Ok(r) => {
                for x in r {
                    println!("{x}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shroud-controller: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Run => run(cli.run, sources),
    }
}

fn run(a: RunArgs, keys: KeySources) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHROUD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let sub = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    if a.log_format == "json" {
        sub.json().init();
    } else {
        sub.init();
    }
    let identity = a
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "shroud".into());
            format!("{host}-{}", std::process::id())
        });
    let lease_ns = a
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| a.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let recipients = (!a.recipients_configmap.is_empty()).then(|| PublishTo {
        namespace: a
            .recipients_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| lease_ns.clone()),
        name: a.recipients_configmap.clone(),
    });
    let settings = Settings {
        keys,
        namespace: a.namespace.clone(),
        metrics_addr: a.metrics_addr,
        lease: (!a.no_leader_election).then(|| LeaseConfig {
            name: a.lease_name.clone(),
            namespace: lease_ns,
            identity,
            duration: Duration::from_secs(a.lease_seconds.max(3)),
            renew_every: Duration::from_secs((a.lease_seconds / 3).max(1)),
        }),
        concurrency: a.concurrency.max(1),
        events: !a.no_events,
        recipients,
        key_reload: (a.key_reload_seconds > 0).then(|| Duration::from_secs(a.key_reload_seconds)),
        shutdown_grace: Duration::from_secs(a.shutdown_grace_seconds.max(1)),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shroud-controller: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let client = kube::Client::try_default().await?;
        controller::run(settings, client).await
    });
    // Tasks still pending (watch streams, the metrics listener) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "controller stopped");
            ExitCode::FAILURE
        }
    }
}
