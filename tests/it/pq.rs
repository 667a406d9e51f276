//! sops 3.12/3.13 age surface: hybrid post-quantum identities and recipients (`keygen --pq`,
//! everywhere a recipient or identity goes), age plugins run under their deadline, the key
//! commands run per recipient with `SOPS_AGE_RECIPIENT` (compared with the real sops), and long
//! recipients named shortened in messages. Interop with the real sops is in `interop.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// A new post-quantum key file at `name` in the sandbox: (path, `age1pq1…` recipient).
pub fn pq_key(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let path = sb.path(name);
    let out = sb.cmd().args(["keygen", "--pq", "-o"]).arg(&path).run();
    assert_code(&out, 0);
    let recipient = stdout(&out).trim().to_owned();
    assert!(recipient.starts_with("age1pq1"), "{recipient}");
    (path, recipient)
}

/// The directory holding the real `age-plugin-simplepq` (crates.io, software only): on PATH,
/// or in the cache scripts/setup-age-plugin.sh builds it into. Its absence fails the suite.
pub fn plugin_dir() -> PathBuf {
    const BIN: &str = "age-plugin-simplepq";
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join(BIN).is_file());
    let cache = std::env::var_os("SHROUD_CI_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shroud-ci")))
        .map(|c| c.join("age-plugin-simplepq-0.1.2/bin"));
    on_path
        .or(cache.filter(|c| c.join(BIN).is_file()))
        .unwrap_or_else(|| {
            panic!("{BIN} is required (bash scripts/setup-age-plugin.sh installs it)")
        })
}

/// PATH with the plugin's directory first (and `extra` before it).
pub fn path_with_plugin(extra: Option<&Path>) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = extra.map(Path::to_path_buf).into_iter().collect();
    dirs.push(plugin_dir());
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap()
}

/// A new age-plugin-simplepq identity file at `name`: (path, `age1simplepq1…` recipient).
pub fn plugin_key(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let bin = plugin_dir().join("age-plugin-simplepq");
    let path = sb.path(name);
    let st = Command::new(&bin).arg("-o").arg(&path).status().unwrap();
    assert!(st.success());
    let out = Command::new(&bin).arg("-y").arg(&path).output().unwrap();
    assert!(out.status.success());
    let recipient = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("age1"))
        .unwrap()
        .to_owned();
    assert!(recipient.starts_with("age1simplepq1"), "{recipient}");
    (path, recipient)
}

/// A shroud command in the sandbox that finds the plugin.
pub fn with_plugin(sb: &Sandbox) -> Command {
    let mut c = sb.cmd();
    c.env("PATH", path_with_plugin(None));
    c
}

/// A real-sops command in the sandbox that finds the plugin.
pub fn sops_with_plugin(sb: &Sandbox) -> Command {
    let mut c = sops_cmd(sb);
    c.env("PATH", path_with_plugin(None));
    c
}

#[test]
fn keygen_pq_writes_where_sops_looks_and_prints_the_recipient() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["keygen", "--pq"]).run();
    assert_code(&out, 0);
    let recipient = stdout(&out).trim().to_owned();
    assert!(recipient.starts_with("age1pq1") && recipient.len() > 1900);
    let key_file = sb.path(".config/sops/age/keys.txt");
    assert_eq!(file_mode(&key_file), 0o600);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        text.contains(&format!("# public key: {recipient}\n")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("AGE-SECRET-KEY-PQ-1"))
            .count(),
        1
    );
    // A second key is added next to the first, as sops users keep several.
    let out2 = sb.cmd().args(["keygen", "--pq"]).run();
    assert_code(&out2, 0);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains(&recipient) && text.contains(stdout(&out2).trim()));
    // The real sops finds it where it looks (same HOME and XDG_CONFIG_HOME) and opens a file
    // made for the recipient, by sops or by shroud.
    sb.write("s.yaml", "password: hunter2\n");
    let enc = sops_cmd(&sb)
        .args(["encrypt", "--age", &recipient, "s.yaml"])
        .run();
    assert_code(&enc, 0);
    std::fs::write(sb.path("by-sops.yaml"), &enc.stdout).unwrap();
    let out = sb.cmd().args(["decrypt", "by-sops.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "password: hunter2\n");
    let enc = sb
        .cmd()
        .args(["encrypt", "--age", &recipient, "s.yaml"])
        .run();
    assert_code(&enc, 0);
    std::fs::write(sb.path("by-shroud.yaml"), &enc.stdout).unwrap();
    let out = sops_cmd(&sb).args(["decrypt", "by-shroud.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "password: hunter2\n");
}

/// `.sops.yaml` rules, `SOPS_AGE_RECIPIENTS`, `SOPS_AGE_KEY`, `updatekeys`, `rotate
/// --add-age/--rm-age` and `groups add` with post-quantum recipients; each result opens in the
/// real sops with the post-quantum key alone.
#[test]
fn post_quantum_recipients_work_everywhere_a_recipient_goes() {
    let sb = Sandbox::new();
    let (k1, p1) = pq_key(&sb, "p1.txt");
    let (k2, p2) = pq_key(&sb, "p2.txt");
    let key1 = std::fs::read_to_string(&k1).unwrap();
    let sops_opens = |file: &str, key: &Path| {
        let o = sops_cmd(&sb)
            .env("SOPS_AGE_KEY_FILE", key)
            .args(["decrypt", file])
            .run();
        assert_code(&o, 0);
        stdout(&o)
    };
    // SOPS_AGE_RECIPIENTS, and SOPS_AGE_KEY holding the identity.
    sb.write("env.yaml", "a: 1\n");
    let out = sb
        .cmd()
        .env("SOPS_AGE_RECIPIENTS", &p1)
        .args(["encrypt", "-i", "env.yaml"])
        .run();
    assert_code(&out, 0);
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY", &key1)
        .args(["decrypt", "env.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "a: 1\n");
    assert_eq!(sops_opens("env.yaml", &k1), "a: 1\n");
    // A creation rule, then updatekeys after the rule gains a second post-quantum key.
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: r\\.yaml$\n    age: {p1}\n"),
    );
    sb.write("r.yaml", "token: t0\n");
    assert_code(&sb.cmd().args(["encrypt", "-i", "r.yaml"]).run(), 0);
    assert!(sb.read("r.yaml").contains(&p1));
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: r\\.yaml$\n    age: {p1},{p2}\n"),
    );
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["updatekeys", "-y", "r.yaml"])
        .run();
    assert_code(&out, 0);
    // The plan names the new key shortened, never whole.
    let err = stderr(&out);
    assert!(!err.contains(&p2) && err.contains(&p2[..15]), "{err}");
    assert_eq!(sops_opens("r.yaml", &k2), "token: t0\n");
    // rotate --rm-age takes the first key out (a new data key), --add-age brings an X25519 one.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &k2)
        .args([
            "rotate",
            "-i",
            "--rm-age",
            &p1,
            "--add-age",
            TEST_RECIPIENT,
            "r.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let text = sb.read("r.yaml");
    assert!(!text.contains(&p1) && text.contains(&p2) && text.contains(TEST_RECIPIENT));
    assert_eq!(sops_opens("r.yaml", &k2), "token: t0\n");
    assert_eq!(sops_opens("r.yaml", &test_key()), "token: t0\n");
    let o = sops_cmd(&sb)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["decrypt", "r.yaml"])
        .run();
    assert_ne!(
        o.status.code(),
        Some(0),
        "the removed key still opens the file"
    );
    // groups add: a second key group holding only the first post-quantum key.
    let out = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &k2)
        .args(["groups", "add", "-i", "--file", "r.yaml", "--age", &p1])
        .run();
    assert_code(&out, 0);
    let both = format!("{}\n{key1}", std::fs::read_to_string(&k2).unwrap());
    sb.write("both.txt", &both);
    assert_eq!(sops_opens("r.yaml", &sb.path("both.txt")), "token: t0\n");
}

/// Writes an executable script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// `SOPS_AGE_KEY_CMD` runs once for each age key tried, in order, with `SOPS_AGE_RECIPIENT` set
/// to its recipient, until one opens the file: the same calls as the real sops makes.
#[test]
fn key_command_gets_each_recipient_tried_as_sops_gives_it() {
    let sb = Sandbox::new();
    let (pq, p) = pq_key(&sb, "pq.txt");
    sb.write("s.yaml", "a: secret\n");
    // The key of the last recipient only: the first two are tried and fail first.
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age"])
        .arg(format!("{TEST_RECIPIENT2},{p},{TEST_RECIPIENT}"))
        .arg("s.yaml")
        .run();
    assert_code(&out, 0);
    let log = sb.path("calls.log");
    let cmd = script(
        sb.dir.path(),
        "key-cmd.sh",
        &format!(
            "echo \"$SOPS_AGE_RECIPIENT\" >> '{}'\nif [ \"$SOPS_AGE_RECIPIENT\" = '{TEST_RECIPIENT}' ]; then cat '{}'; fi\n",
            log.display(),
            test_key().display()
        ),
    );
    let calls = |c: &mut Command| -> Vec<String> {
        let _ = std::fs::remove_file(&log);
        let o = c
            .env("SOPS_AGE_KEY_CMD", &cmd)
            .args(["decrypt", "s.yaml"])
            .run();
        assert_code(&o, 0);
        assert_eq!(stdout(&o), "a: secret\n");
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let by_sops = calls(&mut sops_cmd(&sb));
    let by_shroud = calls(&mut sb.cmd());
    assert_eq!(
        by_sops,
        [TEST_RECIPIENT2, p.as_str(), TEST_RECIPIENT],
        "the real sops's calls"
    );
    assert_eq!(by_shroud, by_sops);
    // The command can hand out a post-quantum identity for its recipient, too.
    let cmd = script(
        sb.dir.path(),
        "pq-cmd.sh",
        &format!(
            "case \"$SOPS_AGE_RECIPIENT\" in age1pq1*) cat '{}';; esac\n",
            pq.display()
        ),
    );
    let o = sb
        .cmd()
        .env("SOPS_AGE_KEY_CMD", &cmd)
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&o, 0);
    // Encrypting never runs it: a new envelope is checked with the keys at hand only.
    let _ = std::fs::remove_file(&log);
    let cmd = script(
        sb.dir.path(),
        "logging-cmd.sh",
        &format!("echo \"$SOPS_AGE_RECIPIENT\" >> '{}'\n", log.display()),
    );
    sb.write("n.yaml", "b: 2\n");
    let o = sb
        .cmd()
        .env("SOPS_AGE_KEY_CMD", &cmd)
        .args(["encrypt", "--age", TEST_RECIPIENT, "n.yaml"])
        .run();
    assert_code(&o, 0);
    assert!(!log.exists(), "encrypt ran the key command");
}

/// `SOPS_AGE_SSH_PRIVATE_KEY_CMD` (sops 3.12): its output is an SSH private key, and it runs
/// with `SOPS_AGE_RECIPIENT` set to the SSH recipient being opened, as sops's
/// age/keysource.go does.
#[test]
fn ssh_private_key_command_opens_ssh_recipients() {
    let sb = Sandbox::new();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(sb.path("id"))
        .status()
        .expect("ssh-keygen is required (apt-get install openssh-client)");
    assert!(st.success());
    let public = sb.read("id.pub").trim().to_owned();
    sb.write("s.yaml", "token: abc\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", &public, "s.yaml"])
            .run(),
        0,
    );
    let log = sb.path("asked.log");
    let cmd = script(
        sb.dir.path(),
        "ssh-cmd.sh",
        &format!(
            "printf '%s\\n' \"$SOPS_AGE_RECIPIENT\" >> '{}'\ncat '{}'\n",
            log.display(),
            sb.path("id").display()
        ),
    );
    let out = sb
        .cmd()
        .env("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &cmd)
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "token: abc\n");
    assert_eq!(sb.read("asked.log").trim(), public);
    // A failing command is reported among the places identities were looked for.
    let out = sb
        .cmd()
        .env("SOPS_AGE_SSH_PRIVATE_KEY_CMD", "exit 3")
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&out, 128);
    assert!(
        stderr(&out)
            .contains("SOPS_AGE_SSH_PRIVATE_KEY_CMD: the command exited with exit status: 3"),
        "{}",
        stderr(&out)
    );
}

/// A post-quantum or plugin recipient (~2,000 characters) is named shortened in errors, plans
/// and warnings, in a form that still tells keys apart.
#[test]
fn long_recipients_are_named_shortened_in_messages() {
    let sb = Sandbox::new();
    let (_, p) = pq_key(&sb, "p.txt");
    let (_, q) = pq_key(&sb, "q.txt");
    let (_, plug) = plugin_key(&sb, "plugin.txt");
    sb.write("s.yaml", "a: 1\n");
    let out = with_plugin(&sb)
        .args(["encrypt", "-i", "--age"])
        .arg(format!("{p},{plug}"))
        .arg("s.yaml")
        .run();
    assert_code(&out, 0);
    let short = |r: &str| shroud::text::abbreviate_key(r);
    assert_ne!(short(&p), short(&q), "two keys stay apart");
    // No key at hand: the error lists both recipients, each shortened.
    let out = sb.cmd().args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(
        err.contains(&short(&p)) && err.contains(&short(&plug)),
        "{err}"
    );
    assert!(!err.contains(&p) && !err.contains(&plug), "{err}");
    assert!(err.len() < 700, "{} characters: {err}", err.len());
    // An invalid recipient of that length is named shortened too.
    let broken = format!("{}x", &p[..p.len() - 1]);
    let out = sb.cmd().args(["encrypt", "--age", &broken, "s.yaml"]).run();
    assert_ne!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains(&broken[..200]), "{}", stderr(&out));
    // `keys revoke` of a key nothing lists names it shortened.
    let out = sb
        .cmd()
        .args(["keys", "revoke", "--dry-run", "-r", "."])
        .arg(&q)
        .run();
    assert!(!stderr(&out).contains(&q), "{}", stderr(&out));
    assert!(stderr(&out).contains(&short(&q)), "{}", stderr(&out));
}

/// A plugin that never answers is stopped at SHROUD_AGE_PLUGIN_TIMEOUT, and one running when
/// shroud is interrupted does not outlive it.
#[test]
fn a_hung_age_plugin_is_stopped_at_its_deadline_and_by_sigint() {
    let sb = Sandbox::new();
    let bin = sb.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let pidfile = sb.path("plugin.pid");
    // Its children do not hold the plugin's pipes: killing it closes them.
    script(
        &bin,
        "age-plugin-hang",
        &format!(
            "echo $$ > '{}'\nwhile :; do sleep 1 </dev/null >/dev/null 2>&1; done\n",
            pidfile.display()
        ),
    );
    let recipient =
        bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("age1hang").unwrap(), &[7; 32])
            .unwrap();
    sb.write("s.yaml", "a: 1\n");
    let path = path_with_plugin(Some(&bin));
    let start = std::time::Instant::now();
    let out = sb
        .cmd()
        .env("PATH", &path)
        .env("SHROUD_AGE_PLUGIN_TIMEOUT", "1")
        .args(["encrypt", "--age", &recipient, "s.yaml"])
        .run();
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("did not answer within 1 s") && err.contains("SHROUD_AGE_PLUGIN_TIMEOUT"),
        "{err}"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        gone(pid),
        "the timed-out plugin (pid {pid}) is still running"
    );
    // SIGINT while the plugin hangs (a long deadline): the plugin dies with shroud.
    std::fs::remove_file(&pidfile).unwrap();
    let mut shroud = sb
        .cmd()
        .env("PATH", &path)
        .args(["encrypt", "--age", &recipient, "s.yaml"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pid: u32 = loop {
        if let Ok(t) = std::fs::read_to_string(&pidfile)
            && let Ok(p) = t.trim().parse()
        {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Time for the supervisor to find it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-INT", &shroud.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    shroud.wait().unwrap();
    let ok = gone(pid);
    if !ok {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(ok, "the plugin (pid {pid}) survived SIGINT to shroud");
}

/// Whether `pid` ends within two seconds (a zombie counts as ended).
fn gone(pid: u32) -> bool {
    (0..100).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let ended = match state {
            None => true,
            Some(s) => s
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        };
        if !ended {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        ended
    })
}

/// An identity of a plugin that is not installed is reported by name, not used silently.
#[test]
fn a_missing_plugin_is_named() {
    let sb = Sandbox::new();
    let (id, plug) = plugin_key(&sb, "plugin.txt");
    sb.write("s.yaml", "a: 1\n");
    assert_code(
        &with_plugin(&sb)
            .args(["encrypt", "-i", "--age", &plug, "s.yaml"])
            .run(),
        0,
    );
    // PATH without the plugin.
    let bare = std::env::join_paths(["/usr/bin", "/bin"]).unwrap();
    let out = sb
        .cmd()
        .env("PATH", &bare)
        .env("SOPS_AGE_KEY_FILE", &id)
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains("age-plugin-simplepq is not on PATH"),
        "{}",
        stderr(&out)
    );
    sb.write("new.yaml", "b: 2\n");
    let out = sb
        .cmd()
        .env("PATH", &bare)
        .args(["encrypt", "--age", &plug, "new.yaml"])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("age-plugin-simplepq is not on PATH"),
        "{}",
        stderr(&out)
    );
}

/// `keys backup` holds post-quantum and plugin identities, and opens for a post-quantum
/// recovery recipient; `keys verify` and `keys restore` use it.
#[test]
fn key_backups_hold_and_open_for_post_quantum_keys() {
    let sb = Sandbox::new();
    let (k, p) = pq_key(&sb, "team.txt");
    let (plugin_id, plug) = plugin_key(&sb, "plugin.txt");
    let (recovery, r) = pq_key(&sb, "recovery.txt");
    let mut keys = std::fs::read_to_string(&k).unwrap();
    keys.push_str(&std::fs::read_to_string(&plugin_id).unwrap());
    sb.write("all-keys.txt", &keys);
    sb.write("repo/a.yaml", "a: 1\n");
    sb.write("repo/b.yaml", "b: 2\n");
    assert_code(
        &sb.cmd()
            .args(["encrypt", "-i", "--age", &p, "repo/a.yaml"])
            .run(),
        0,
    );
    assert_code(
        &with_plugin(&sb)
            .args(["encrypt", "-i", "--age", &plug, "repo/b.yaml"])
            .run(),
        0,
    );
    let out = sb
        .cmd()
        .args([
            "keys",
            "backup",
            "--key-file",
            "all-keys.txt",
            "--recipient",
            &r,
        ])
        .args([
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-dir",
            "shares",
        ])
        .args(["-o", "backup.json"])
        .run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("age-plugin-simplepq identity"), "{err}");
    assert!(!err.contains(&p) && !err.contains("AGE-PLUGIN"), "{err}");
    // A classic recovery recipient cannot join a post-quantum one in the same file.
    let out = sb
        .cmd()
        .args(["keys", "backup", "--key-file", "all-keys.txt"])
        .args([
            "--recipient",
            &r,
            "--recipient",
            TEST_RECIPIENT,
            "-o",
            "mixed.json",
        ])
        .run();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("post-quantum"), "{}", stderr(&out));
    // Both files open with what the backup holds, by recovery identity and by shares.
    let out = with_plugin(&sb)
        .args(["keys", "verify", "--identity"])
        .arg(&recovery)
        .args(["backup.json", "repo"])
        .run();
    assert_code(&out, 0);
    let out = with_plugin(&sb)
        .args(["keys", "verify", "--share", "shares/share-1.txt"])
        .args(["--share", "shares/share-3.txt", "backup.json", "repo"])
        .run();
    assert_code(&out, 0);
    let out = sb
        .cmd()
        .args(["keys", "restore", "--identity"])
        .arg(&recovery)
        .args(["backup.json", "-o", "restored.txt"])
        .run();
    assert_code(&out, 0);
    let restored = sb.read("restored.txt");
    let out = with_plugin(&sb)
        .env("SOPS_AGE_KEY", &restored)
        .args(["decrypt", "repo/a.yaml"])
        .run();
    assert_code(&out, 0);
    let out = with_plugin(&sb)
        .env("SOPS_AGE_KEY", &restored)
        .args(["decrypt", "repo/b.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "b: 2\n");
}

/// The examples of docs/format.md's age section, run as written.
#[test]
fn the_documented_post_quantum_and_plugin_examples_work() {
    let sb = Sandbox::new();
    let shroud_dir = PathBuf::from(env!("CARGO_BIN_EXE_shroud"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = path_with_plugin(Some(&shroud_dir));
    let path = path.to_str().unwrap();
    let blocks = doc_blocks(
        "docs/format.md",
        "age recipients: classic, post-quantum and plugins",
    );
    assert_eq!(blocks.len(), 2);
    let out = run_block_ok(sb.dir.path(), &blocks[0], &[("PATH", path)]);
    assert_eq!(stdout(&out), "password: hunter2\n");
    assert!(sb.read("recipient.txt").starts_with("age1pq1"));
    assert!(sb.read("secret.yaml").contains("recipient: age1pq1"));
    let out = run_block_ok(sb.dir.path(), &blocks[1], &[("PATH", path)]);
    assert_eq!(stdout(&out), "token: t0k3n\n");
    assert!(sb.read("plugin.yaml").contains("recipient: age1simplepq1"));
}
