//! The scheduled rotation job (`shroud rotate --git URL`), the GitOps way, needing nothing but
//! shroud (it runs in the `FROM scratch` image, which has no git and no ssh): clone the
//! repository with an in-process git (SSH with a deploy key checked against a pinned
//! `known_hosts`, or HTTPS with a token read from a file), decide which files are due with the
//! audit's key-age policy (re-keys told from re-wraps in the git history), give them new data
//! keys with the bulk runner (`rotate::run_many`), commit them on one branch per day, push
//! that branch, and say where to open the pull request. Nothing due: nothing is pushed. The
//! day's branch already on the remote: nothing is pushed either (a re-run is a no-op).
//!
//! Plaintext never touches the disk: files are re-encrypted in memory and only ciphertext is
//! written to the clone, a private temporary directory removed at the end. The deploy key and
//! the token are read from their files into zeroizing memory and handed to libgit2 only.
//!
//! Owns: the procedure, the remote's URL forms, authentication and host-key checks, the
//! network deadline of every remote call (`external::within` with the git timeout), the
//! branch, the commit message and the review link; [`local`] serves the clone to the walker
//! and the audit in process. Must not know: terminals, flags, exit-code numbers (its errors
//! carry them through `error::Failure`), or how age and the audit do their work.

mod known_hosts;
mod local;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Error, ExitCode, Failure, Result};
use crate::external::{self, Service};
use crate::keysource::Keyring;
use crate::repo::Configs;
use crate::rotate::{self, Outcome as FileOutcome};

pub use known_hosts::{KnownHosts, Verdict};

/// What the job is asked to do.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The repository: `ssh://[user@]host[:port]/path`, `[user@]host:path`, `https://…`, or
    /// (for tests and mirrors) `http://` on a loopback address, `file://…` or a local path.
    pub url: String,
    /// The branch to start from (default: the remote's default branch).
    pub branch: Option<String>,
    /// The branch to push (default: `rotate/data-keys-YYYY-MM-DD`, UTC).
    pub push_branch: Option<String>,
    /// The key-age policy in days, overriding every `.sops.yaml` `audit.max_key_age`.
    pub max_key_age_days: Option<u64>,
    /// The SSH deploy key (OpenSSH private key file, no passphrase).
    pub ssh_key: Option<PathBuf>,
    /// The pinned SSH host keys (OpenSSH `known_hosts` format).
    pub known_hosts: Option<PathBuf>,
    /// A file holding the HTTPS token (its first line).
    pub token_file: Option<PathBuf>,
    /// Files rotated at once.
    pub parallel: usize,
    /// "Now" as Unix seconds (the branch's date and the key ages).
    pub now: i64,
    /// Commit author (default: `shroud rotation job <shroud-rotation@invalid>`).
    pub author: Option<(String, String)>,
    pub emit: crate::store::EmitOptions,
}

/// Why the job failed. Each names the repository (without credentials) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Usage(String),
    #[error("{file}: cannot read the {what}: {source}")]
    Read {
        file: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(
        "{url}: the host key of {host} {why} in {known_hosts}; nothing was fetched (check the key out of band, e.g. `ssh-keyscan`, and add it to that file)"
    )]
    HostKey {
        url: String,
        /// The host, its key type and fingerprint: `[host]:port (ssh-ed25519 SHA256:…)`.
        host: String,
        why: &'static str,
        known_hosts: String,
    },
    #[error(
        "{url}: {what}: the server refused the {credential}; nothing was {done} (is it allowed to {access}?)"
    )]
    Auth {
        url: String,
        what: &'static str,
        credential: &'static str,
        done: &'static str,
        access: &'static str,
    },
    #[error("{url}: cannot fetch: {message}")]
    Fetch { url: String, message: String },
    #[error("{url}: cannot push {branch}: {message}")]
    Push {
        url: String,
        branch: String,
        message: String,
    },
    #[error("{url}: {message}")]
    Local { url: String, message: String },
}

impl Failure for JobError {
    fn exit_code(&self) -> ExitCode {
        match self {
            JobError::Usage(_) => ExitCode::Usage,
            // The repository could not be read: the remote, its host key, the credential.
            JobError::Read { .. } | JobError::HostKey { .. } | JobError::Fetch { .. } => {
                ExitCode::CouldNotReadInput
            }
            JobError::Auth { done, .. } if *done == "fetched" => ExitCode::CouldNotReadInput,
            JobError::Auth { .. } | JobError::Push { .. } => ExitCode::CouldNotWriteOutput,
            JobError::Local { .. } => ExitCode::Generic,
        }
    }
}

impl From<JobError> for Error {
    fn from(e: JobError) -> Error {
        Error::Procedure {
            file: None,
            failure: Box::new(e),
        }
    }
}

/// How the remote is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Ssh {
        user: Option<String>,
        host: String,
        port: u16,
        path: String,
    },
    Https {
        host: String,
        path: String,
        loopback_http: bool,
    },
    Local,
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` (IPv6 in brackets).
fn host_port(authority: &str) -> (String, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((h, after)) = rest.split_once(']')
    {
        return (
            h.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_owned(), p.parse().ok())
        }
        _ => (authority.to_owned(), None),
    }
}

/// How `url` is reached, or why it is refused.
pub fn transport(url: &str) -> std::result::Result<Transport, String> {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_owned()), h),
            None => (None, authority),
        };
        let (host, port) = host_port(hostport);
        let path = path.trim_start_matches('/').to_owned();
        return match scheme.to_ascii_lowercase().as_str() {
            "ssh" | "git+ssh" | "ssh+git" => Ok(Transport::Ssh {
                user,
                host,
                port: port.unwrap_or(22),
                path,
            }),
            "https" => Ok(Transport::Https {
                host,
                path,
                loopback_http: false,
            }),
            "http" if is_loopback(&host) => Ok(Transport::Https {
                host,
                path,
                loopback_http: true,
            }),
            "http" => Err(format!(
                "{url}: plain http is refused (the token and the repository would cross the network unencrypted); use https:// or ssh://"
            )),
            "file" => Ok(Transport::Local),
            other => Err(format!(
                "{url}: the {other}:// transport is not supported (use ssh://, https:// or user@host:path)"
            )),
        };
    }
    // scp form: `[user@]host:path` (a colon before any slash).
    if let Some((left, path)) = url.split_once(':')
        && !left.contains('/')
        && !left.is_empty()
    {
        let (user, host) = match left.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
            None => (None, left.to_owned()),
        };
        return Ok(Transport::Ssh {
            user,
            host,
            port: 22,
            path: path.trim_start_matches('/').to_owned(),
        });
    }
    Ok(Transport::Local)
}

/// Where to open the pull (merge) request for `branch` into `base`, for hosts whose web
/// address follows from the remote's: GitHub and GitLab.
pub fn review_link(url: &str, base: &str, branch: &str) -> Option<String> {
    let (host, path) = match transport(url).ok()? {
        Transport::Ssh { host, path, .. } => (host, path),
        Transport::Https { host, path, .. } => (host, path),
        Transport::Local => return None,
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if path.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    if host == "github.com" || host.ends_with(".github.com") || host == "ssh.github.com" {
        return Some(format!(
            "https://github.com/{path}/compare/{base}...{branch}?expand=1"
        ));
    }
    if host.contains("gitlab") {
        return Some(format!(
            "https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={branch}&merge_request%5Btarget_branch%5D={base}"
        ));
    }
    None
}

/// `rotate/data-keys-YYYY-MM-DD` for the UTC day of `now`.
pub fn default_branch_name(now: i64) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(now)
        .map(|t| t.date())
        .unwrap_or(time::macros::date!(1970 - 01 - 01));
    format!(
        "rotate/data-keys-{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// One due file and what happened to it.
#[derive(Debug)]
pub struct DueFile {
    /// Relative to the repository's top, `/`-separated.
    pub path: String,
    /// Why it is due (its key's age and the policy, or that no policy covers it).
    pub why: String,
    /// `None`: rotated; otherwise why it could not be.
    pub error: Option<Error>,
}

/// How the run ended.
#[derive(Debug)]
pub enum Outcome {
    /// No file is due: nothing was pushed.
    NothingDue,
    /// The day's branch is already on the remote: nothing was pushed.
    AlreadyPushed { commit: String },
    /// Due files were found but none could be rotated: nothing was pushed.
    NothingRotated,
    /// The branch was pushed.
    Pushed { commit: String },
}

/// What the job did.
#[derive(Debug)]
pub struct Report {
    /// The remote, without credentials.
    pub remote: String,
    pub base: String,
    pub branch: String,
    /// The sops files of the repository.
    pub sops_files: usize,
    /// The files that were due, each with its result.
    pub due: Vec<DueFile>,
    /// Files left out (damaged: the audit reports them).
    pub skipped: Vec<String>,
    pub outcome: Outcome,
    /// Where to open the pull request, when the host is known.
    pub review: Option<String>,
}

impl Report {
    /// The exit code: a file that could not be rotated fails the run (after the others were
    /// pushed), with its own code when all agree.
    pub fn exit_code(&self) -> ExitCode {
        let codes: Vec<ExitCode> = self
            .due
            .iter()
            .filter_map(|d| d.error.as_ref().map(Error::exit_code))
            .collect();
        match codes.first() {
            None => ExitCode::Success,
            Some(&c) if codes.iter().all(|&x| x == c) => c,
            Some(_) => ExitCode::Generic,
        }
    }
}

/// The credentials, read once.
struct Auth {
    transport: Transport,
    /// The URL as given (libgit2 is handed this one).
    raw: String,
    /// Without credentials (messages name this one).
    url: String,
    ssh_key: Option<Zeroizing<String>>,
    known_hosts: Option<(KnownHosts, String)>,
    token: Option<Zeroizing<String>>,
}

fn read_secret(
    file: &Path,
    what: &'static str,
) -> std::result::Result<Zeroizing<String>, JobError> {
    let bytes =
        Zeroizing::new(
            crate::fsutil::read_file(file).map_err(|source| JobError::Read {
                file: file.display().to_string(),
                what,
                source,
            })?,
        );
    let text = std::str::from_utf8(&bytes).map_err(|_| JobError::Read {
        file: file.display().to_string(),
        what,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

impl Auth {
    fn load(opts: &Options, shown: &str) -> std::result::Result<Auth, JobError> {
        let transport = transport(&opts.url).map_err(JobError::Usage)?;
        let mut a = Auth {
            transport,
            raw: opts.url.clone(),
            url: shown.to_owned(),
            ssh_key: None,
            known_hosts: None,
            token: None,
        };
        match &a.transport {
            Transport::Ssh { .. } => {
                let Some(kh) = &opts.known_hosts else {
                    return Err(JobError::Usage(format!(
                        "{shown}: SSH needs --known-hosts FILE with the server's host key (pinned: check it out of band, e.g. with `ssh-keyscan`); unknown host keys are never accepted"
                    )));
                };
                let text = read_secret(kh, "known_hosts file")?;
                let parsed = KnownHosts::parse(&text);
                if parsed.is_empty() {
                    return Err(JobError::Usage(format!(
                        "{}: no host key in this known_hosts file",
                        kh.display()
                    )));
                }
                a.known_hosts = Some((parsed, kh.display().to_string()));
                let Some(key) = &opts.ssh_key else {
                    return Err(JobError::Usage(format!(
                        "{shown}: SSH needs --ssh-key FILE (a deploy key with write access)"
                    )));
                };
                a.ssh_key = Some(read_secret(key, "SSH deploy key")?);
                if opts.token_file.is_some() {
                    return Err(JobError::Usage(format!(
                        "{shown}: --token-file is for https:// remotes; SSH uses --ssh-key"
                    )));
                }
            }
            Transport::Https { .. } => {
                if opts.ssh_key.is_some() || opts.known_hosts.is_some() {
                    return Err(JobError::Usage(format!(
                        "{shown}: --ssh-key and --known-hosts are for SSH remotes; https:// uses --token-file"
                    )));
                }
                if let Some(f) = &opts.token_file {
                    let t = read_secret(f, "token file")?;
                    let first = t.lines().next().unwrap_or_default().trim();
                    if first.is_empty() {
                        return Err(JobError::Usage(format!(
                            "{}: the token file is empty",
                            f.display()
                        )));
                    }
                    a.token = Some(Zeroizing::new(first.to_owned()));
                }
            }
            Transport::Local => {}
        }
        Ok(a)
    }
}

/// What went wrong inside libgit2's callbacks (their own errors say little).
#[derive(Default)]
struct Trouble {
    auth_refused: bool,
    host_key: Option<JobError>,
    rejected: Option<String>,
}

/// Callbacks for one remote operation: credentials (each offered once: a refused key is not
/// offered again in a loop), the host-key check, and push results.
fn callbacks<'a>(
    auth: &'a Auth,
    tried: &'a Cell<bool>,
    trouble: &'a RefCell<Trouble>,
) -> git2::RemoteCallbacks<'a> {
    let mut cb = git2::RemoteCallbacks::new();
    cb.credentials(move |_url, user_from_url, allowed| {
        if tried.replace(true) {
            trouble.borrow_mut().auth_refused = true;
            return Err(git2::Error::from_str("authentication refused"));
        }
        if allowed.contains(git2::CredentialType::SSH_KEY)
            && let Some(key) = &auth.ssh_key
        {
            let user = user_from_url.unwrap_or("git");
            return git2::Cred::ssh_key_from_memory(user, None, key, None);
        }
        if allowed.contains(git2::CredentialType::USERNAME) {
            return git2::Cred::username(user_from_url.unwrap_or("git"));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Some(token) = &auth.token
        {
            return git2::Cred::userpass_plaintext(
                user_from_url.unwrap_or("x-access-token"),
                token,
            );
        }
        trouble.borrow_mut().auth_refused = true;
        Err(git2::Error::from_str(
            "the server asks for credentials the job was not given",
        ))
    });
    cb.certificate_check(move |cert, _hostname| {
        let Some(hk) = cert.as_hostkey() else {
            // X.509 (HTTPS): OpenSSL has verified it against the CA certificates.
            return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
        };
        let (Transport::Ssh { host, port, .. }, Some((kh, kh_file))) =
            (&auth.transport, &auth.known_hosts)
        else {
            return Err(git2::Error::from_str("unexpected SSH host key"));
        };
        let name = known_hosts::host_name(host, *port);
        let key = hk.hostkey().unwrap_or_default();
        let why = match kh.check(&name, key) {
            Verdict::Trusted => return Ok(git2::CertificateCheckStatus::CertificateOk),
            Verdict::Revoked => "is marked @revoked",
            Verdict::Mismatch => "does not match the key listed for it",
            Verdict::Unknown => "is not listed",
        };
        let key_type = hk
            .hostkey_type()
            .map(|t| t.name().to_owned())
            .unwrap_or_else(|| "key".into());
        trouble.borrow_mut().host_key = Some(JobError::HostKey {
            url: auth.url.clone(),
            host: format!("{name} ({key_type} {})", known_hosts::fingerprint(key)),
            why,
            known_hosts: kh_file.clone(),
        });
        Err(git2::Error::from_str("host key refused"))
    });
    cb.push_update_reference(move |_refname, status| {
        if let Some(s) = status {
            trouble.borrow_mut().rejected = Some(s.to_owned());
        }
        Ok(())
    });
    cb
}

fn message(e: &git2::Error) -> String {
    crate::text::sanitize(&e.message().split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Clones `opts.url` into `dir` (the base branch checked out).
fn clone(
    auth: Arc<Auth>,
    base: Option<String>,
    dir: PathBuf,
) -> std::result::Result<git2::Repository, JobError> {
    let url = auth.url.clone();
    let what = format!("fetching {url}");
    let done = external::within(Service::Git, &what, move || {
        let tried = Cell::new(false);
        let trouble = RefCell::new(Trouble::default());
        let r = {
            let mut fo = git2::FetchOptions::new();
            fo.remote_callbacks(callbacks(&auth, &tried, &trouble));
            fo.download_tags(git2::AutotagOption::None);
            let mut b = git2::build::RepoBuilder::new();
            b.fetch_options(fo);
            if let Some(base) = &base {
                b.branch(base);
            }
            b.clone(&auth.raw, &dir)
        };
        let t = trouble.into_inner();
        match r {
            Ok(repo) => Ok(repo),
            Err(_) if t.host_key.is_some() => Err(t.host_key.expect("checked")),
            Err(e) if t.auth_refused || e.code() == git2::ErrorCode::Auth => Err(JobError::Auth {
                url: auth.url.clone(),
                what: "cannot fetch",
                credential: credential_name(&auth),
                done: "fetched",
                access: "read the repository",
            }),
            Err(e) if e.code() == git2::ErrorCode::NotFound && base.is_some() => {
                Err(JobError::Fetch {
                    url: auth.url.clone(),
                    message: format!(
                        "the remote has no branch {} (--branch)",
                        base.as_deref().unwrap_or_default()
                    ),
                })
            }
            Err(e) => Err(JobError::Fetch {
                url: auth.url.clone(),
                message: message(&e),
            }),
        }
    });
    done.map_err(|e| JobError::Fetch {
        url,
        message: crate::text::one_line(&e),
    })?
}

fn credential_name(auth: &Auth) -> &'static str {
    match auth.transport {
        Transport::Ssh { .. } => "deploy key",
        _ if auth.token.is_some() => "token",
        _ => "anonymous access",
    }
}

/// Pushes `branch` (a new ref on the remote).
fn push(
    auth: Arc<Auth>,
    repo: git2::Repository,
    branch: String,
) -> std::result::Result<(), JobError> {
    let url = auth.url.clone();
    let what = format!("pushing {branch} to {url}");
    let b2 = branch.clone();
    let done = external::within(Service::Git, &what, move || {
        let tried = Cell::new(false);
        let trouble = RefCell::new(Trouble::default());
        let r = {
            let mut po = git2::PushOptions::new();
            po.remote_callbacks(callbacks(&auth, &tried, &trouble));
            repo.find_remote("origin").and_then(|mut remote| {
                // Never a forced push: the branch must be new on the remote.
                remote.push(&[format!("refs/heads/{b2}:refs/heads/{b2}")], Some(&mut po))
            })
        };
        let t = trouble.into_inner();
        match r {
            Err(_) if t.host_key.is_some() => Err(t.host_key.expect("checked")),
            Err(e) if t.auth_refused || e.code() == git2::ErrorCode::Auth => Err(JobError::Auth {
                url: auth.url.clone(),
                what: "cannot push",
                credential: credential_name(&auth),
                done: "pushed",
                access: "push to the repository",
            }),
            Err(e) => Err(JobError::Push {
                url: auth.url.clone(),
                branch: b2.clone(),
                message: message(&e),
            }),
            Ok(()) => match t.rejected {
                Some(why) => Err(JobError::Push {
                    url: auth.url.clone(),
                    branch: b2.clone(),
                    message: format!("the remote refused it: {}", crate::text::sanitize(&why)),
                }),
                None => Ok(()),
            },
        }
    });
    done.map_err(|e| JobError::Push {
        url,
        branch,
        message: crate::text::one_line(&e),
    })?
}

fn local(url: &str, what: &str, e: git2::Error) -> JobError {
    JobError::Local {
        url: url.to_owned(),
        message: format!("{what}: {}", message(&e)),
    }
}

/// The files the audit finds due: stale under their policy, or covered by no policy (rotated
/// on every run). Damaged files are left out (and listed).
/// The audit's verdict: sops files seen, due files (path, why), damaged files.
type Due = (usize, Vec<(String, String)>, Vec<String>);

fn due_files(top: &Path, opts: &Options) -> Result<Due> {
    let report = crate::audit::audit(&crate::audit::Options {
        root: top.to_path_buf(),
        max_key_age_days: opts.max_key_age_days,
        now: Some(opts.now),
        ..Default::default()
    })?;
    let mut due = Vec::new();
    let mut skipped = Vec::new();
    for f in &report.files {
        if f.damaged.is_some() {
            skipped.push(f.path.clone());
            continue;
        }
        let r = &f.rotation;
        let made = match (&r.rotated_at, r.source) {
            (Some(at), Some(src)) => format!("data key from {at} ({src})"),
            _ => "data key of unknown age".to_owned(),
        };
        let why = match (r.max_age_days, r.age_days) {
            (None, _) => format!("{made}; no key-age policy covers it: rotated on every run"),
            (Some(max), Some(age)) if r.stale => format!(
                "{made}, {age} days old; policy {max} days ({})",
                r.policy.as_deref().unwrap_or("?")
            ),
            (Some(max), None) if r.stale => {
                format!(
                    "{made}; policy {max} days ({})",
                    r.policy.as_deref().unwrap_or("?")
                )
            }
            _ => continue,
        };
        due.push((f.path.clone(), why));
    }
    Ok((report.files.len(), due, skipped))
}

fn commit_message(day_branch: &str, base: &str, due: &[DueFile]) -> String {
    let ok: Vec<&DueFile> = due.iter().filter(|d| d.error.is_none()).collect();
    let failed: Vec<&DueFile> = due.iter().filter(|d| d.error.is_some()).collect();
    let mut m = format!(
        "Rotate sops data keys ({} file{})\n\nNew data keys, values unchanged, for the files due under the key-age policy:\n",
        ok.len(),
        if ok.len() == 1 { "" } else { "s" }
    );
    for d in &ok {
        m.push_str(&format!(
            "- {}: {}\n",
            crate::text::sanitize(&d.path),
            d.why
        ));
    }
    if !failed.is_empty() {
        m.push_str("\nDue but not rotated (see the job's log):\n");
        for d in &failed {
            m.push_str(&format!("- {}\n", crate::text::sanitize(&d.path)));
        }
    }
    m.push_str(&format!(
        "\nMade by `shroud rotate --git` on {day_branch} from {base}; review and merge.\n"
    ));
    m
}

/// Runs the job. Remote calls each have the git timeout (`SHROUD_GIT_TIMEOUT`).
pub async fn run(opts: &Options, keyring: Arc<Keyring>) -> Result<Report> {
    let shown = crate::audit::git::strip_credentials(&opts.url);
    let auth = Arc::new(Auth::load(opts, &shown)?);
    let work = tempfile::Builder::new()
        .prefix("shroud-rotate-")
        .tempdir()
        .map_err(|source| Error::Write {
            file: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let top = work.path().join("repo");
    let repo = clone(auth.clone(), opts.branch.clone(), top.clone())?;
    let base = match &opts.branch {
        Some(b) => b.clone(),
        None => repo
            .head()
            .ok()
            .and_then(|h| h.shorthand().ok().map(str::to_owned))
            .unwrap_or_else(|| "HEAD".into()),
    };
    let branch = opts
        .push_branch
        .clone()
        .unwrap_or_else(|| default_branch_name(opts.now));
    if git2::Branch::name_is_valid(&branch).ok() != Some(true) {
        return Err(JobError::Usage(format!(
            "{branch:?} is not a valid branch name (--push-branch)"
        ))
        .into());
    }
    let review = review_link(&opts.url, &base, &branch);
    let mut report = Report {
        remote: shown.clone(),
        base: base.clone(),
        branch: branch.clone(),
        sops_files: 0,
        due: Vec::new(),
        skipped: Vec::new(),
        outcome: Outcome::NothingDue,
        review,
    };
    if let Ok(r) = repo.find_reference(&format!("refs/remotes/origin/{branch}")) {
        report.outcome = Outcome::AlreadyPushed {
            commit: r.target().map(|o| o.to_string()).unwrap_or_default(),
        };
        return Ok(report);
    }
    let head_id = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map(|c| c.id())
        .map_err(|e| local(&shown, "the cloned branch has no commit", e))?;
    let served = Arc::new(local::Local::new(
        git2::Repository::open(&top).map_err(|e| local(&shown, "opening the clone", e))?,
        shown.clone(),
    ));
    let serving = crate::git::serve(&top, served).map_err(|source| Error::Read {
        file: top.display().to_string(),
        source,
    })?;
    let (sops_files, due, skipped) = due_files(&top, opts)?;
    report.sops_files = sops_files;
    report.skipped = skipped;
    if due.is_empty() {
        return Ok(report);
    }
    let configs = Configs::new(None)?;
    let wanted: BTreeSet<PathBuf> = due.iter().map(|(p, _)| top.join(p)).collect();
    let targets: Vec<rotate::Target> = rotate::candidates(&top, &configs, None)?
        .into_iter()
        .filter(|t| wanted.contains(&t.path))
        .collect();
    let results = rotate::run_many(
        targets,
        rotate::Job::Rotate(rotate::KeyChanges::default()),
        keyring,
        rotate::Options {
            emit: opts.emit,
            ..Default::default()
        },
        opts.parallel.max(1),
        Arc::new(|_: &Path| {}),
    )
    .await;
    drop(serving);
    let mut by_path: std::collections::HashMap<PathBuf, Result<FileOutcome>> =
        results.into_iter().collect();
    for (rel, why) in due {
        let error = match by_path.remove(&top.join(&rel)) {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(e),
            None => Some(Error::Internal { file: rel.clone() }),
        };
        report.due.push(DueFile {
            path: rel,
            why,
            error,
        });
    }
    let rotated: Vec<&DueFile> = report.due.iter().filter(|d| d.error.is_none()).collect();
    if rotated.is_empty() {
        report.outcome = Outcome::NothingRotated;
        return Ok(report);
    }
    let commit = commit_rotated(&repo, opts, (&shown, &branch, &base), head_id, &report.due)?;
    push(auth, repo, branch)?;
    report.outcome = Outcome::Pushed {
        commit: commit.to_string(),
    };
    drop(work);
    Ok(report)
}

/// Commits the rotated files of `due` on `branch` (parent: the cloned `head`), authored by
/// `--author` or the job's own name at the job's time.
fn commit_rotated(
    repo: &git2::Repository,
    opts: &Options,
    (shown, branch, base): (&str, &str, &str),
    head_id: git2::Oid,
    due: &[DueFile],
) -> Result<git2::Oid> {
    let rotated: Vec<&DueFile> = due.iter().filter(|d| d.error.is_none()).collect();
    let mut index = repo
        .index()
        .map_err(|e| local(shown, "reading the index", e))?;
    for d in &rotated {
        index
            .add_path(Path::new(&d.path))
            .map_err(|e| local(shown, "staging a rotated file", e))?;
    }
    index
        .write()
        .map_err(|e| local(shown, "writing the index", e))?;
    let tree_id = index
        .write_tree()
        .map_err(|e| local(shown, "writing the tree", e))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| local(shown, "reading the tree", e))?;
    let (name, email) = opts.author.clone().unwrap_or_else(|| {
        (
            "shroud rotation job".to_owned(),
            "shroud-rotation@invalid".to_owned(),
        )
    });
    let sig = git2::Signature::new(&name, &email, &git2::Time::new(opts.now, 0))
        .map_err(|e| local(shown, "the commit author", e))?;
    let parent = repo
        .find_commit(head_id)
        .map_err(|e| local(shown, "reading HEAD", e))?;
    let msg = commit_message(branch, base, due);
    let commit = repo
        .commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            &msg,
            &tree,
            &[&parent],
        )
        .map_err(|e| local(shown, "committing", e))?;
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_links_and_branch_names() {
        assert_eq!(
            transport("git@github.com:org/gitops.git").unwrap(),
            Transport::Ssh {
                user: Some("git".into()),
                host: "github.com".into(),
                port: 22,
                path: "org/gitops.git".into()
            }
        );
        assert_eq!(
            transport("ssh://git@127.0.0.1:2222/srv/r.git").unwrap(),
            Transport::Ssh {
                user: Some("git".into()),
                host: "127.0.0.1".into(),
                port: 2222,
                path: "srv/r.git".into()
            }
        );
        assert!(matches!(
            transport("https://oauth2@gitlab.com/g/r.git").unwrap(),
            Transport::Https {
                loopback_http: false,
                ..
            }
        ));
        assert!(transport("http://git.example.com/r.git").is_err());
        assert!(transport("http://127.0.0.1:8080/r.git").is_ok());
        assert!(transport("git://host/r.git").is_err());
        assert_eq!(transport("/srv/git/r.git").unwrap(), Transport::Local);
        assert_eq!(
            review_link(
                "git@github.com:org/gitops.git",
                "main",
                "rotate/data-keys-2026-12-01"
            )
            .as_deref(),
            Some(
                "https://github.com/org/gitops/compare/main...rotate/data-keys-2026-12-01?expand=1"
            )
        );
        assert!(
            review_link("https://gitlab.example.com/g/r.git", "main", "b")
                .unwrap()
                .starts_with("https://gitlab.example.com/g/r/-/merge_requests/new?")
        );
        assert_eq!(review_link("ssh://git@10.0.0.1/r.git", "main", "b"), None);
        assert_eq!(
            default_branch_name(1_764_547_200),
            "rotate/data-keys-2025-12-01"
        );
    }
}
