//! `shroud scan`: finding credentials before they are committed or pushed.
//!
//! Owns: the finding type and its fingerprint, and orchestration — choosing a source (working
//! tree, index, commit range, all history), skipping binary/oversized/ignored files, running the
//! pattern engine and the secrets-aware checks over cores, filtering to added lines, and applying
//! the baseline. Must not know: command-line parsing or process exit codes (that is the CLI).
//!
//! | module | owns |
//! |---|---|
//! | [`rules`] | built-in and custom detectors, validators, placeholders, entropy |
//! | [`engine`] | the keyword prefilter, regex passes, inline `shroud:allow` suppression |
//! | [`candidates`] | `(key, value)` candidates for the generic detector, per syntax |
//! | [`scorer`] | the generic detector's features and learned linear model (`weights.json`) |
//! | [`kube`] | plaintext Kubernetes `Secret` manifests |
//! | [`sops`] | files `.sops.yaml` requires encrypted, plaintext leaves in sops files |
//! | [`locate`] | where a YAML/JSON file's values sit, by path (to place findings) |
//! | [`source`] | working-tree walking and the `git` CLI (index, ranges, history) |
//! | [`settings`] | `.shroud/scan.yaml` custom rules and options |
//! | [`gitleaks`] | `.gitleaks.toml` custom rules and allowlists |
//! | [`baseline`] | `.shroud-baseline.json` accepted findings |
//! | [`report`] | text, JSON and SARIF output |
//! | [`sanitize`] | terminal-safe rendering of untrusted text |

pub mod baseline;
pub mod candidates;
pub mod engine;
pub mod gitleaks;
pub mod kube;
pub mod locate;
pub mod report;
pub mod rules;
pub mod scorer;
pub mod settings;
pub mod sops;
pub mod source;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

use sha2::{Digest, Sha256};

/// Files larger than this are skipped unless configured otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;
/// The ignore file for paths (gitignore syntax), at the repository root.
pub const IGNORE_FILE: &str = ".shroudignore";

/// One reported credential. Holds no secret: only a redacted prefix and digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule_id: String,
    pub description: String,
    /// Repository-relative path with `/` separators.
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// The last line the secret spans (a PEM key's body): `line` for a one-line secret. An
    /// added-lines scan keeps a finding when any line of its span was added.
    pub end_line: usize,
    /// Other lines (inclusive ranges) whose change makes the finding new, outside its span: a
    /// Secret value finding's `kind` line (a ConfigMap turned into a Secret exposes values that
    /// were there) and the anchored nodes an alias or merge key may read its value from.
    pub also: Vec<(usize, usize)>,
    pub commit: Option<String>,
    /// The git blob (file version) the finding was made in, for git sources.
    pub blob: Option<String>,
    /// The first characters of the secret and `…`.
    pub redacted: String,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// Hex SHA-256 over rule id, secret digest and path: stable across line moves.
    pub fingerprint: String,
    /// What to do about it, when there is something specific to say.
    pub message: Option<String>,
    /// How many times the secret occurs (history scans report each distinct secret once).
    pub occurrences: usize,
}

/// The first few characters of a secret: 4 for long secrets, fewer for short ones.
pub fn redact(secret: &[u8]) -> String {
    let s = String::from_utf8_lossy(secret);
    let n = s.chars().count();
    let keep = if n >= 16 {
        4
    } else if n >= 8 {
        2
    } else {
        0
    };
    let prefix: String = s.chars().take(keep).collect();
    format!("{prefix}…")
}

pub fn fingerprint(rule_id: &str, secret_sha256: &str, path: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(secret_sha256.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    hex(&h.finalize())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Finding {
    pub fn new(
        rule_id: &str,
        description: &str,
        path: &str,
        line: usize,
        column: usize,
        secret: &[u8],
        message: Option<String>,
    ) -> Finding {
        let secret_sha256 = hex(&Sha256::digest(secret));
        Finding {
            rule_id: rule_id.to_owned(),
            description: description.to_owned(),
            path: path.to_owned(),
            line,
            column,
            end_line: line + memchr::memchr_iter(b'\n', secret).count(),
            also: Vec::new(),
            commit: None,
            blob: None,
            redacted: redact(secret),
            fingerprint: fingerprint(rule_id, &secret_sha256, path),
            secret_sha256,
            message,
            occurrences: 1,
        }
    }

    /// The same secret reported at another place: a credential found inside a decoded value
    /// (a Kubernetes Secret's base64 `data`) is reported where that value is written.
    pub fn relocated(
        mut self,
        path: &str,
        line: usize,
        column: usize,
        message: Option<String>,
    ) -> Finding {
        self.fingerprint = fingerprint(&self.rule_id, &self.secret_sha256, path);
        self.path = path.to_owned();
        self.line = line;
        self.end_line = line;
        self.also = Vec::new();
        self.column = column;
        self.message = match (message, self.message.take()) {
            (Some(m), Some(inner)) => Some(format!("{m}; {inner}")),
            (m, inner) => m.or(inner),
        };
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Baseline(#[from] baseline::BaselineError),
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("{0} needs a git repository")]
    NotGit(&'static str),
}

/// What to scan.
#[derive(Clone, Debug)]
pub enum Source {
    /// Files and directories (the working tree), honouring `.gitignore`.
    Paths(Vec<PathBuf>),
    /// The index: added lines only. Optional pathspecs restrict it.
    Staged(Vec<String>),
    /// Lines added by each commit of a range (`A..B`).
    Commits(String),
    /// What the pre-commit hooks scan, given the repo-relative file names pre-commit passes:
    /// the staged lines of each file with staged changes, the whole of each file without
    /// (`pre-commit run --all-files`); with no names, the same as `Staged`.
    PreCommit(Vec<String>),
    /// Every blob any reachable commit introduced, each once; each distinct secret reported
    /// once, at its oldest introducing commit, with its number of occurrences.
    AllHistory,
    /// One buffer (standard input), reported under `name`.
    Bytes { name: String, data: Vec<u8> },
}

#[derive(Clone, Debug)]
pub struct Options {
    pub source: Source,
    /// The repository (or directory) root; paths are reported relative to it.
    pub root: PathBuf,
    /// An explicit scan config; default `root/.shroud/scan.yaml` when present.
    pub settings: Option<PathBuf>,
    pub max_file_size: Option<u64>,
    /// 0: one per core.
    pub threads: usize,
    /// Report every generic candidate with its score and features (for training the scorer).
    pub all_candidates: bool,
    /// Show paths relative to this directory (what was scanned) instead of `root`. Fingerprints
    /// stay root-relative, so baselines do not depend on where the scan ran.
    pub display_base: Option<PathBuf>,
}

/// Counters and non-fatal errors of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub baselined: usize,
    /// Unreadable files or blobs (the scan went on).
    pub errors: Vec<String>,
    /// Problems that do not fail the scan (objects missing from a partial clone).
    pub warnings: Vec<String>,
}

/// A configured scanner: engine, sops policy, ignore file, limits.
pub struct Scanner {
    engine: engine::Engine,
    policy: sops::Policy,
    ignore: Option<ignore::gitignore::Gitignore>,
    /// Global gitleaks allowlists (paths, regexes, stopwords, commits).
    allowlists: Vec<rules::Allowlist>,
    max_size: u64,
}

/// What one blob or file yielded.
enum Scanned {
    Findings(Vec<Finding>),
    Skipped,
}

impl Scanner {
    pub fn new(
        root: &Path,
        settings_path: Option<&Path>,
        max: Option<u64>,
    ) -> Result<Scanner, ScanError> {
        let settings = settings::Settings::load(root, settings_path)?;
        let mut rules: Vec<rules::Rule> = rules::builtin()
            .into_iter()
            .filter(|r| !settings.disable.contains(&r.id))
            .collect();
        rules.extend(settings.rules);
        let gl_path = root.join(gitleaks::DEFAULT_PATH);
        let gl = gitleaks::load(&gl_path)
            .map_err(|message| ScanError::Config {
                path: gl_path.display().to_string(),
                message,
            })?
            .unwrap_or_default();
        rules.extend(gl.rules);
        let ignore_path = root.join(IGNORE_FILE);
        let ignore = if ignore_path.is_file() {
            let mut b = ignore::gitignore::GitignoreBuilder::new(root);
            if let Some(e) = b.add(&ignore_path) {
                return Err(ScanError::Config {
                    path: ignore_path.display().to_string(),
                    message: e.to_string(),
                });
            }
            Some(b.build().map_err(|e| ScanError::Config {
                path: ignore_path.display().to_string(),
                message: e.to_string(),
            })?)
        } else {
            None
        };
        let mut engine = engine::Engine::new(
            rules,
            settings.allow_secrets,
            if settings.disable.iter().any(|d| d == engine::GENERIC) {
                engine::Generic::Off
            } else {
                engine::Generic::On
            },
        );
        engine.set_allowlists(gl.allowlists.clone());
        Ok(Scanner {
            engine,
            policy: sops::Policy::new(root),
            ignore,
            allowlists: gl.allowlists,
            max_size: max
                .or(settings.max_file_size)
                .unwrap_or(DEFAULT_MAX_FILE_SIZE),
        })
    }

    /// Reports every generic candidate with its score and features (training data).
    pub fn all_candidates(&mut self) {
        self.engine.set_generic(engine::Generic::All);
    }

    /// Whether `.shroudignore` excludes a repo-relative path.
    pub fn ignored(&self, path: &str) -> bool {
        // The matcher only takes paths under the root (it panics on others).
        if self.allowlists.iter().any(|a| a.allows_path(path)) {
            return true;
        }
        let p = Path::new(path);
        if p.has_root() || p.starts_with("..") {
            return false;
        }
        self.ignore
            .as_ref()
            .is_some_and(|g| g.matched_path_or_any_parents(p, false).is_ignore())
    }

    /// All findings in one file's bytes (no ignore-file or size check).
    pub fn scan_bytes(&self, path: &str, data: &[u8]) -> Vec<Finding> {
        let mut found = self.engine.scan(path, data);
        let policy = self.policy.check(path, data);
        // A Secret value in a sops file whose rules demand it encrypted is a
        // `sops-plaintext-value` (with its fix); the Secret check reports it only otherwise.
        let sops_lines: std::collections::HashSet<usize> = policy
            .iter()
            .filter(|f| f.rule_id == sops::PLAINTEXT_VALUE)
            .map(|f| f.line)
            .collect();
        let special: Vec<Finding> = kube::check(path, data, &self.engine)
            .into_iter()
            .filter(|f| !sops_lines.contains(&f.line))
            .chain(policy)
            .collect();
        if !special.is_empty() {
            let lines: std::collections::HashSet<usize> = special.iter().map(|s| s.line).collect();
            found.retain(|f| !lines.contains(&f.line));
            found.extend(special);
        }
        found
    }

    fn scan_checked(&self, path: &str, data: &[u8]) -> Scanned {
        let head = &data[..data.len().min(8192)];
        if data.len() as u64 > self.max_size || head.contains(&0) {
            return Scanned::Skipped;
        }
        Scanned::Findings(self.scan_bytes(path, data))
    }
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What to report: baselined findings removed (with [`Extra::baseline`]); in a history scan
    /// each distinct secret once.
    pub findings: Vec<Finding>,
    /// With [`Extra::every_occurrence`]: every occurrence before a history scan folds them into
    /// one finding per secret (what `--update-baseline` records); otherwise empty.
    pub occurrences: Vec<Finding>,
    pub summary: Summary,
}

/// What a scan does beyond [`Options`]: the baseline to apply, and whether to keep every
/// occurrence.
#[derive(Debug, Default)]
pub struct Extra<'a> {
    /// Findings it accepts are dropped (and counted in [`Summary::baselined`]) as they are made,
    /// before a history scan folds occurrences: a history entry accepts one commit's blob, not
    /// the secret's later occurrences.
    pub baseline: Option<&'a baseline::Baseline>,
    /// Keep every occurrence in [`Outcome::occurrences`].
    pub every_occurrence: bool,
}

struct Shared<'a> {
    findings: Mutex<Vec<Finding>>,
    summary: Mutex<Summary>,
    baseline: Option<&'a baseline::Baseline>,
}

impl Shared<'_> {
    /// Counts a scanned file or blob and keeps its findings the baseline does not accept.
    fn record(&self, bytes: usize, result: Scanned) {
        let mut s = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Scanned::Skipped => s.skipped += 1,
            Scanned::Findings(mut f) => {
                s.files += 1;
                s.bytes += bytes as u64;
                if let Some(b) = self.baseline {
                    let before = f.len();
                    f.retain(|f| !b.contains(f));
                    s.baselined += before - f.len();
                }
                drop(s);
                let mut all = self.findings.lock().unwrap_or_else(|e| e.into_inner());
                all.extend(f);
            }
        }
    }

    fn warn(&self, w: String) {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .warnings
            .push(w);
    }

    fn error(&self, e: String) {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .errors
            .push(e);
    }
}

fn threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Runs `work` on `n` threads over everything `rx` yields.
fn pool<T: Send>(n: usize, rx: Receiver<T>, work: impl Fn(T) + Sync) {
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let item = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match item {
                        Ok(item) => work(item),
                        Err(_) => break,
                    }
                }
            });
        }
    });
}

/// The display path of `p`: relative to `root` with `/` separators when inside it.
fn display_path(root: &Path, p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let rel = abs
        .strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| p.to_path_buf());
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// Whether any line of `f`'s span (`line..=end_line`, and its `also` lines) was added (`added` is sorted and
/// disjoint: a binary search). A key body pasted between unchanged `BEGIN`/`END` lines counts.
fn within(added: &[(usize, usize)], f: &Finding) -> bool {
    if f.rule_id == sops::UNENCRYPTED_FILE {
        return true;
    }
    let hit = |from: usize, to: usize| {
        let i = added.partition_point(|&(_, b)| b < from);
        added.get(i).is_some_and(|&(a, _)| a <= to.max(from))
    };
    hit(f.line, f.end_line) || f.also.iter().any(|&(a, b)| hit(a, b))
}

/// Scans according to `opts` (no baseline applied).
pub fn scan(opts: &Options) -> Result<Outcome, ScanError> {
    scan_with(opts, &Extra::default())
}

/// Scans according to `opts`, applying `extra`.
pub fn scan_with(opts: &Options, extra: &Extra<'_>) -> Result<Outcome, ScanError> {
    let root = std::path::absolute(&opts.root).unwrap_or_else(|_| opts.root.clone());
    let mut scanner = Scanner::new(&root, opts.settings.as_deref(), opts.max_file_size)?;
    if opts.all_candidates {
        scanner.all_candidates();
    }
    let shared = Shared {
        findings: Mutex::new(Vec::new()),
        summary: Mutex::new(Summary::default()),
        baseline: extra.baseline,
    };
    let mut occurrences = Vec::new();
    // Whether a history was folded to one finding per secret (occurrences kept before).
    let mut folded = false;
    let n = threads(opts.threads);
    match &opts.source {
        Source::Paths(paths) => {
            let paths = if paths.is_empty() {
                vec![root.clone()]
            } else {
                paths.clone()
            };
            scan_files(&scanner, &shared, &root, n, &paths);
        }
        Source::Staged(p) => {
            let changes = source::staged(&root, p)?;
            scan_changes(&scanner, &shared, &root, n, changes)?;
        }
        Source::Commits(r) => {
            let changes = source::commits(&root, r)?;
            // Commits oldest first (parents before children), as `git log --reverse` gives them.
            let mut seen = std::collections::HashSet::new();
            let commits: Vec<String> = changes
                .iter()
                .filter_map(|c| c.commit.clone())
                .filter(|c| seen.insert(c.clone()))
                .collect();
            scan_changes(&scanner, &shared, &root, n, changes)?;
            // A merge, diffed against its first parent, brings the merged branch's lines again:
            // each secret once per path, at the commit that first added it there.
            occurrences = fold_to_oldest(&shared, extra, &commits, Fold::PerPath);
            folded = true;
        }
        Source::PreCommit(files) => {
            // Literal names: pre-commit passes file names, never pathspec patterns.
            let specs: Vec<String> = files.iter().map(|f| format!(":(literal){f}")).collect();
            let changes = source::staged(&root, &specs)?;
            let whole: Vec<PathBuf> = {
                // A file with any staged change (one that only deletes lines too) is judged by
                // what it adds; only files without one are scanned whole.
                let changed = source::staged_paths(&root, &specs)?;
                files
                    .iter()
                    .filter(|f| !changed.contains(f.as_str()))
                    .map(|f| root.join(f))
                    .filter(|p| p.is_file())
                    .collect()
            };
            if !whole.is_empty() {
                scan_files(&scanner, &shared, &root, n, &whole);
            }
            scan_changes(&scanner, &shared, &root, n, changes)?;
        }
        Source::Bytes { name, data } => {
            let r = scanner.scan_checked(name, data);
            shared.record(data.len(), r);
        }
        Source::AllHistory => {
            if source::toplevel(&root).is_none() {
                return Err(ScanError::NotGit("--all-history"));
            }
            let history = source::history(&root)?;
            for m in &history.missing {
                shared.warn(format!(
                    "git object {m} is missing (partial or damaged clone); not scanned"
                ));
            }
            // Each blob read once, scanned under each distinct path it was introduced under.
            let mut by_blob: HashMap<String, Vec<(String, usize)>> = HashMap::new();
            let mut order = Vec::new();
            for b in history.blobs {
                let paths: Vec<(String, usize)> = b
                    .paths
                    .into_iter()
                    .filter(|(p, _)| !scanner.ignored(p))
                    .collect();
                if paths.is_empty() {
                    continue;
                }
                if b.size > scanner.max_size {
                    shared.record(0, Scanned::Skipped);
                    continue;
                }
                order.push(b.blob.clone());
                by_blob.insert(b.blob, paths);
            }
            stream_blobs(&root, order, scanner.max_size, n, &shared, |blob, data| {
                let mut out = Vec::new();
                for (path, commit) in &by_blob[blob] {
                    let Scanned::Findings(found) = scanner.scan_checked(path, data) else {
                        return (data.len(), Scanned::Skipped);
                    };
                    out.extend(found.into_iter().map(|mut f| {
                        f.commit = Some(history.commits[*commit].clone());
                        f.blob = Some(blob.to_owned());
                        f
                    }));
                }
                (data.len(), Scanned::Findings(out))
            })?;
            // Each distinct secret once: the oldest introducing commit, with a count.
            occurrences = fold_to_oldest(&shared, extra, &history.commits, Fold::PerSecret);
            folded = true;
        }
    }
    if !scanner.allowlists.is_empty() {
        let mut f = shared.findings.lock().unwrap_or_else(|e| e.into_inner());
        f.retain(|f| {
            !f.commit.as_deref().is_some_and(|c| {
                scanner
                    .allowlists
                    .iter()
                    .any(|a| a.commits.iter().any(|x| c.starts_with(x.as_str())))
            })
        });
    }
    for e in scanner.policy.take_errors() {
        shared.error(e);
    }
    let mut findings = shared
        .findings
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.rule_id, &a.commit)
            .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
    });
    findings.dedup_by(|a, b| {
        a.fingerprint == b.fingerprint && a.line == b.line && a.commit == b.commit
    });
    if extra.every_occurrence && !folded {
        occurrences = findings.clone();
    }
    occurrences.retain(|f| {
        !f.commit.as_deref().is_some_and(|c| {
            scanner
                .allowlists
                .iter()
                .any(|a| a.commits.iter().any(|x| c.starts_with(x.as_str())))
        })
    });
    if let Some(base) = &opts.display_base {
        let base = std::path::absolute(base).unwrap_or_else(|_| base.clone());
        if base != root {
            for f in &mut findings {
                if let Ok(rel) = root.join(&f.path).strip_prefix(&base) {
                    f.path = rel.to_string_lossy().replace('\\', "/");
                }
            }
        }
    }
    Ok(Outcome {
        findings,
        occurrences,
        summary: shared
            .summary
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
    })
}

/// What [`fold_to_oldest`] counts as one secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// A rule and a secret, wherever it is (`--all-history`: one finding, its occurrences
    /// counted).
    PerSecret,
    /// A rule, a secret and a path: the fingerprint (`--commits`: the same token in two files
    /// is two places to clean up).
    PerPath,
}

/// Folds the findings of a history into one per secret ([`Fold`]), kept at the oldest commit
/// that brought it (`commits`: oldest first, parents before children; then by path and line),
/// with the occurrences of the others counted in. The one place `--all-history` and
/// `--commits` fold. Returns every occurrence as it was before, when `extra` asks for them
/// (what `--update-baseline` records).
fn fold_to_oldest(
    shared: &Shared<'_>,
    extra: &Extra<'_>,
    commits: &[String],
    fold: Fold,
) -> Vec<Finding> {
    let index: HashMap<&str, usize> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let at = |f: &Finding| {
        f.commit
            .as_deref()
            .and_then(|c| index.get(c).copied())
            .unwrap_or(usize::MAX)
    };
    let mut findings = shared.findings.lock().unwrap_or_else(|e| e.into_inner());
    let occurrences = if extra.every_occurrence {
        findings.clone()
    } else {
        Vec::new()
    };
    let mut first: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    let mut kept: Vec<Finding> = Vec::new();
    for f in findings.drain(..) {
        let path = (fold == Fold::PerPath).then(|| f.path.clone());
        let key = (f.rule_id.clone(), f.secret_sha256.clone(), path);
        match first.get(&key) {
            Some(&k) => {
                let old = &mut kept[k];
                let count = old.occurrences + f.occurrences;
                if (at(&f), &f.path, f.line) < (at(old), &old.path, old.line) {
                    *old = f;
                }
                old.occurrences = count;
            }
            None => {
                first.insert(key, kept.len());
                kept.push(f);
            }
        }
    }
    *findings = kept;
    occurrences
}

/// Scans files (and the files under directories) of a repository walk, each read once.
fn scan_files(scanner: &Scanner, shared: &Shared<'_>, root: &Path, n: usize, paths: &[PathBuf]) {
    let scan_file = |file: PathBuf| {
        let path = display_path(root, &file);
        if scanner.ignored(&path) {
            return;
        }
        // One open, one fstat, one read: no second path lookup.
        let read = std::fs::File::open(&file).and_then(|fh| {
            use std::io::Read;
            let len = fh.metadata()?.len();
            if len > scanner.max_size {
                return Ok(None);
            }
            let mut data = Vec::with_capacity(len as usize + 1);
            // A file that grows while it is read is still bounded.
            fh.take(scanner.max_size + 1).read_to_end(&mut data)?;
            if data.len() as u64 > scanner.max_size {
                return Ok(None);
            }
            Ok(Some(data))
        });
        match read {
            Ok(None) => shared.record(0, Scanned::Skipped),
            Ok(Some(data)) => {
                let r = scanner.scan_checked(&path, &data);
                shared.record(data.len(), r);
            }
            Err(e) => shared.error(format!("{path}: cannot read: {e}")),
        }
    };
    // A path that cannot be read is reported and the others are still scanned (the walk
    // stops at its first error).
    let readable: Vec<PathBuf> = paths
        .iter()
        .filter(|p| match std::fs::metadata(p) {
            Ok(_) => true,
            Err(e) => {
                shared.error(format!("{}: cannot read: {e}", display_path(root, p)));
                false
            }
        })
        .cloned()
        .collect();
    if !readable.is_empty() {
        crate::repo::files_parallel(&readable, n, &scan_file, &|e| shared.error(e));
    }
}

/// Scans the blobs of `changes` (each once) and keeps the findings on the lines they added.
fn scan_changes(
    scanner: &Scanner,
    shared: &Shared<'_>,
    root: &Path,
    n: usize,
    changes: Vec<source::Change>,
) -> Result<(), ScanError> {
    let changes: Vec<_> = changes
        .into_iter()
        .filter(|c| !scanner.ignored(&c.path))
        .collect();
    // Each blob read once; findings filtered per change to the lines it added.
    let mut by_blob: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        by_blob
            .entry(c.blob.as_str())
            .or_insert_with(|| {
                order.push(c.blob.clone());
                Vec::new()
            })
            .push(i);
    }
    stream_blobs(root, order, scanner.max_size, n, shared, |blob, data| {
        let users = &by_blob[blob];
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Scanned once per distinct path: which checks apply (a Secret needs a `.yaml` name, a
        // `.sops.yaml` rule matches paths, rules and the scorer read the path) depends on it.
        let mut by_path: Vec<(&str, Vec<Finding>)> = Vec::new();
        for &u in users {
            let c = &changes[u];
            let found = match by_path.iter().position(|(p, _)| *p == c.path) {
                Some(i) => &by_path[i].1,
                None => {
                    let Scanned::Findings(found) = scanner.scan_checked(&c.path, data) else {
                        return (data.len(), Scanned::Skipped);
                    };
                    by_path.push((c.path.as_str(), found));
                    &by_path[by_path.len() - 1].1
                }
            };
            for f in found {
                if within(&c.added, f)
                    && seen.insert((f.fingerprint.clone(), f.line, c.path.as_str()))
                {
                    let mut f = f.clone();
                    f.commit = c.commit.clone();
                    f.blob = Some(c.blob.clone());
                    out.push(f);
                }
            }
        }
        (data.len(), Scanned::Findings(out))
    })
}

/// Reads `ids` with one `git cat-file --batch` and scans them on `n` workers.
fn stream_blobs(
    root: &Path,
    ids: Vec<String>,
    max: u64,
    n: usize,
    shared: &Shared<'_>,
    work: impl Fn(&str, &[u8]) -> (usize, Scanned) + Sync,
) -> Result<(), ScanError> {
    // Blobs go to the workers in batches of about BATCH bytes: one hand-over per blob woke a
    // worker (and put the reader to sleep) for every small file of a long history.
    const BATCH: usize = 1 << 18;
    let names = ids.clone();
    let (tx, rx) = sync_channel::<Vec<(usize, Vec<u8>)>>(n * 2);
    let mut result = Ok(());
    std::thread::scope(|s| {
        s.spawn(|| {
            pool(n, rx, |batch: Vec<(usize, Vec<u8>)>| {
                for (i, data) in batch {
                    let (len, r) = work(&names[i], &data);
                    shared.record(len, r);
                }
            })
        });
        let mut batch = Vec::new();
        let mut size = 0;
        result = source::read_blobs(root, ids, max, |i, blob| match blob {
            source::Blob::Data(d) => {
                size += d.len();
                batch.push((i, d));
                if size >= BATCH {
                    size = 0;
                    let _ = tx.send(std::mem::take(&mut batch));
                }
            }
            source::Blob::TooLarge => shared.record(0, Scanned::Skipped),
            source::Blob::Missing => shared.warn(format!(
                "git object {} is missing (partial or damaged clone); not scanned",
                names[i]
            )),
        });
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
    });
    result.map_err(ScanError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scanner() -> Scanner {
        Scanner::new(Path::new("/nonexistent-root"), None, None).unwrap()
    }

    proptest! {
        /// Arbitrary bytes made of rule fragments never panic any check.
        #[test]
        fn never_panics(parts in proptest::collection::vec(prop_oneof![
            Just(b"password = \"".to_vec()), Just(b"kind: Secret\ndata:\n  k: ".to_vec()),
            Just(b"ENC[AES256_GCM,".to_vec()), Just(b"sops:\n  mac: x\n".to_vec()),
            Just(b"-----BEGIN PRIVATE KEY-----".to_vec()), Just(b"ghp_".to_vec()),
            Just(b"://u:".to_vec()), Just(b"@h".to_vec()), Just(b"\n".to_vec()),
            Just(b"shroud:allow-next-line".to_vec()), Just(b"eyJ".to_vec()), Just(b"AKIA".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ], 0..40), name in prop_oneof![Just("a.yaml"), Just("b.json"), Just("c.env"), Just("d.rs"), Just("e")]) {
            let data: Vec<u8> = parts.concat();
            let s = scanner();
            for f in s.scan_bytes(name, &data) {
                prop_assert!(f.line >= 1);
                prop_assert!(!f.redacted.is_empty());
            }
        }
    }

    #[test]
    fn redaction_keeps_a_short_prefix() {
        assert_eq!(redact(b"ghp_abcdefghijklmnop"), "ghp_…");
        assert_eq!(redact(b"hunter22"), "hu…");
        assert_eq!(redact(b"abc"), "…");
    }
}
