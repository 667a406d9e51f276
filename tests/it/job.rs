//! The rotation job (`shroud rotate --git`) as it ships: `examples/rotation/cronjob.yaml`'s
//! container command, run from the unpacked image rootfs (`SHROUD_TEST_IMAGE_ROOT`, set by
//! scripts/verify-image.sh) as the pod's user, with the pod's Secret files laid out as the
//! kubelet would (mode and fsGroup arithmetic), against a real OpenSSH sshd on loopback
//! holding the deploy key; the real sops and age judge the pushed branch. The manifest is
//! also checked on its own (every mounted file readable by the pod user) and applied to the
//! real API server (`SHROUD_TEST_KUBECONFIG`). Without the variables the `in_image` tests fail
//! under CI and are skipped locally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as J;

use crate::util::*;

const MANIFEST: &str = "examples/rotation/cronjob.yaml";

fn yaml_to_json(yaml: &[u8]) -> J {
    let tree = shroud::store::load_plain(shroud::store::Format::Yaml, yaml).unwrap();
    let bytes =
        shroud::store::emit(shroud::store::Format::Json, &tree, Default::default()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A Secret volume's files as the kubelet writes them (pkg/volume `SetVolumeOwnership`): owned
/// by root; without fsGroup group root and the mode as given (defaultMode, else 0644); with
/// fsGroup the group is fsGroup and, the volume being read-only, group read is added (0440).
fn secret_file(default_mode: Option<u32>, fs_group: Option<u32>) -> (u32, u32, u32) {
    let mode = default_mode.unwrap_or(0o644);
    match fs_group {
        Some(g) => (mode | 0o440, 0, g),
        None => (mode, 0, 0),
    }
}

/// Whether a process of `uid` with `gids` may read a file of `(mode, owner, group)`.
fn readable((mode, owner, group): (u32, u32, u32), uid: u32, gids: &[u32]) -> bool {
    if uid == 0 {
        return true;
    }
    if uid == owner {
        return mode & 0o400 != 0;
    }
    if gids.contains(&group) {
        return mode & 0o040 != 0;
    }
    mode & 0o004 != 0
}

/// What the test needs of the CronJob's pod.
struct Pod {
    image: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    uid: u32,
    gid: u32,
    fs_group: Option<u32>,
    /// Mount path → (Secret name, mode) for Secret volumes.
    secrets: BTreeMap<String, (String, Option<u32>)>,
    /// Mount paths of emptyDir volumes.
    scratch: Vec<String>,
}

fn pod() -> (J, Pod) {
    let j = yaml_to_json(&std::fs::read(root().join(MANIFEST)).unwrap());
    let spec = &j["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let strs = |v: &J| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let mut argv = strs(&c["command"]);
    argv.extend(strs(&c["args"]));
    let env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sc = &spec["securityContext"];
    let num = |v: &J| v.as_u64().map(|n| n as u32);
    let mut secrets = BTreeMap::new();
    let mut scratch = Vec::new();
    for m in c["volumeMounts"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let path = m["mountPath"].as_str().unwrap().to_owned();
        let vol = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name} is mounted but not defined"));
        if vol.get("secret").is_some() {
            assert_eq!(m["readOnly"], true, "{path}: Secret mounts are read-only");
            secrets.insert(
                path,
                (
                    vol["secret"]["secretName"].as_str().unwrap().to_owned(),
                    num(&vol["secret"]["defaultMode"]),
                ),
            );
        } else if vol.get("emptyDir").is_some() {
            scratch.push(path);
        } else {
            panic!("volume {name}: only Secret and emptyDir volumes are expected");
        }
    }
    let p = Pod {
        image: c["image"].as_str().unwrap().to_owned(),
        argv,
        env,
        uid: num(&sc["runAsUser"]).unwrap(),
        gid: num(&sc["runAsGroup"]).unwrap(),
        fs_group: num(&sc["fsGroup"]),
        secrets,
        scratch,
    };
    (j, p)
}

impl Pod {
    /// Every file the command names (flags and environment) that lies in a mounted Secret:
    /// (path in the container, mount path, key in the Secret).
    fn secret_files(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let named = self
            .argv
            .iter()
            .chain(self.env.iter().map(|(_, v)| v))
            .filter(|a| a.starts_with('/'));
        for a in named {
            for mount in self.secrets.keys() {
                if let Some(key) = a.strip_prefix(&format!("{mount}/")) {
                    out.push((a.clone(), mount.clone(), key.to_owned()));
                }
            }
        }
        out
    }

    fn flag(&self, name: &str) -> Option<&str> {
        let i = self.argv.iter().position(|a| a == name)?;
        self.argv.get(i + 1).map(String::as_str)
    }
}

/// The manifest's pod can read every file its command names, by the kubelet's arithmetic
/// (the old manifest mounted 0400 root-owned files for user 65532 without an fsGroup: that
/// arithmetic fails, as checked here too); it runs the image this repository builds, as the
/// image's user, non-root on a read-only root with /tmp an emptyDir; runs never overlap; the
/// documented `kubectl create secret` lines make the Secrets and keys it mounts, in its
/// namespace; and the `create job --from` line names it.
#[test]
fn manifest_mounts_are_readable_by_the_pod_user() {
    let (j, p) = pod();
    // The arithmetic itself: what the old manifest did is unreadable, fsGroup fixes it.
    assert!(!readable(secret_file(Some(0o400), None), 65532, &[65532]));
    assert!(readable(
        secret_file(Some(0o400), Some(65532)),
        65532,
        &[65532]
    ));
    assert!(!readable(
        secret_file(Some(0o400), Some(1000)),
        65532,
        &[65532]
    ));

    let gids: Vec<u32> = std::iter::once(p.gid).chain(p.fs_group).collect();
    let files = p.secret_files();
    assert!(
        files.len() >= 3,
        "the command names its key files: {files:?}"
    );
    for (path, mount, _) in &files {
        let (_, mode) = &p.secrets[mount];
        let f = secret_file(*mode, p.fs_group);
        assert!(
            readable(f, p.uid, &gids),
            "{path}: mode {:o} owner {}:{} is not readable by {}:{gids:?}",
            f.0,
            f.1,
            f.2,
            p.uid
        );
        // Nobody else: not world-readable.
        assert_eq!(f.0 & 0o007, 0, "{path}: world-readable");
    }
    assert_eq!(p.argv[0], "/usr/local/bin/shroud");
    assert_eq!(p.argv[1..3], ["rotate".to_owned(), "--git".to_owned()]);
    assert!(p.flag("--known-hosts").is_some() && p.flag("--ssh-key").is_some());
    assert!(p.env.iter().any(|(k, _)| k == "SOPS_AGE_KEY_FILE"));
    // The image this repository builds (scripts/build-image.sh), at this version.
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        p.image.ends_with(&format!("/shroud-controller:{version}")),
        "image {} is not shroud-controller:{version}",
        p.image
    );
    assert_eq!((p.uid, p.gid), (65532, 65532), "the image's user");
    assert_eq!(j["spec"]["concurrencyPolicy"], "Forbid");
    let spec = &j["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    let csc = &spec["containers"][0]["securityContext"];
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(p.scratch, ["/tmp"], "the clone needs a writable /tmp");

    // The documented commands create what is mounted, where the CronJob is.
    let text = std::fs::read_to_string(root().join(MANIFEST)).unwrap();
    let ns = j["metadata"]["namespace"].as_str().unwrap();
    let name = j["metadata"]["name"].as_str().unwrap();
    let joined = text.replace("\\\n#", " ");
    let commands: Vec<&str> = joined
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().strip_prefix("kubectl "))
        .collect();
    for (_, mount, key) in &files {
        let (secret, _) = &p.secrets[mount];
        assert!(
            commands.iter().any(|c| c
                .contains(&format!("-n {ns} create secret generic {secret} "))
                && c.contains(&format!("--from-file={key}="))),
            "no documented `kubectl -n {ns} create secret generic {secret} --from-file={key}=…`: {commands:?}"
        );
    }
    assert!(
        commands
            .iter()
            .any(|c| c.contains(&format!("-n {ns} create job --from=cronjob/{name} "))),
        "no documented `kubectl -n {ns} create job --from=cronjob/{name}`"
    );
}

// ---------------------------------------------------------------------------------------
// In the image.

fn image_root() -> Option<PathBuf> {
    match std::env::var_os("SHROUD_TEST_IMAGE_ROOT") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            missing("SHROUD_TEST_IMAGE_ROOT (the unpacked image; scripts/verify-image.sh sets it)");
            None
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real OpenSSH server on loopback, for the user running the test, accepting one key.
struct Sshd {
    child: std::process::Child,
    port: u16,
    host_pub: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> String {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(path));
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

fn sshd(dir: &Path, deploy_pub: &str) -> Sshd {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.is_file(),
        "Debian's openssh-server is required (scripts/setup-job.sh installs it)"
    );
    let host_pub = keygen(&dir.join("host_ed25519"));
    std::fs::write(dir.join("authorized_keys"), format!("{deploy_pub}\n")).unwrap();
    let user = String::from_utf8(run(Command::new("id").arg("-un")).stdout).unwrap();
    let port = free_port();
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile none\n\
         AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\n",
        d = dir.display(),
        user = user.trim()
    );
    std::fs::write(dir.join("sshd_config"), cfg).unwrap();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .unwrap();
    let s = Sshd {
        child,
        port,
        host_pub,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "sshd did not start: {}",
        std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
    );
}

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn commit_at(dir: &Path, paths: &[&str], msg: &str, at: i64) {
    run(git(dir).arg("add").arg("-f").args(paths));
    let date = format!("@{at} +0000");
    run(git(dir)
        .args(["commit", "-q", "-m", msg])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date));
}

/// A repository whose files the real sops encrypted just now (so `lastmodified` is fresh:
/// only the git history can show a key is old), committed with old dates:
/// - `apps/old.yaml`: created 200 days ago → due;
/// - `rewrapped.yaml`: created 200 days ago, re-wrapped for a second key 2 days ago (same data
///   key) → due;
/// - `legacy/old.env`: created 200 days ago, since matched by `.gitignore` (still tracked) → due;
/// - `fresh.yaml`: created a day ago → not due; `notes.txt`: not a sops file.
///
/// Returns the values of each file, by path.
fn make_repo(sb: &Sandbox, dir: &Path, fresh_only: bool) -> BTreeMap<&'static str, String> {
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::create_dir_all(dir.join("legacy")).unwrap();
    run(git(dir).args(["init", "-q", "-b", "main"]));
    std::fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {TEST_RECIPIENT},{TEST_RECIPIENT2}\naudit:\n  max_key_age: 30d\n"
        ),
    )
    .unwrap();
    let t = now();
    let files: BTreeMap<&str, String> = if fresh_only {
        [("fresh.yaml", "fresh: fresh-value-91c2\n".to_owned())].into()
    } else {
        [
            (
                "apps/old.yaml",
                "db:\n    password: old-value-5e1f\n".to_owned(),
            ),
            ("rewrapped.yaml", "token: rewrapped-value-77aa\n".to_owned()),
            ("legacy/old.env", "API_KEY=legacy-value-0b3d\n".to_owned()),
            ("fresh.yaml", "fresh: fresh-value-91c2\n".to_owned()),
        ]
        .into()
    };
    let sops = |args: &[&str]| {
        run(sops_cmd(sb)
            .current_dir(dir)
            .env("SOPS_AGE_KEY_FILE", test_key())
            .args(args));
    };
    for (p, v) in &files {
        std::fs::write(dir.join(p), v).unwrap();
        if *p == "rewrapped.yaml" {
            sops(&["encrypt", "-i", "--age", TEST_RECIPIENT, p]);
        } else {
            sops(&["encrypt", "-i", p]);
        }
    }
    std::fs::write(dir.join("notes.txt"), "nothing secret\n").unwrap();
    if fresh_only {
        commit_at(
            dir,
            &[".sops.yaml", "fresh.yaml", "notes.txt"],
            "fresh",
            t - DAY,
        );
        return files;
    }
    commit_at(
        dir,
        &[
            ".sops.yaml",
            "apps/old.yaml",
            "rewrapped.yaml",
            "legacy/old.env",
            "notes.txt",
        ],
        "old files",
        t - 200 * DAY,
    );
    sops(&["updatekeys", "-y", "rewrapped.yaml"]);
    commit_at(
        dir,
        &["rewrapped.yaml"],
        "re-wrap for the second key",
        t - 2 * DAY,
    );
    std::fs::write(dir.join(".gitignore"), "legacy/\n").unwrap();
    commit_at(dir, &[".gitignore", "fresh.yaml"], "fresh", t - DAY);
    files
}

/// The pod, laid out on the host: each Secret mount a directory of files with the kubelet's
/// owner and mode, bind-mounted (read-only) into the rootfs at its mount path.
struct Mounts {
    /// Mount path → directory on the host.
    dirs: BTreeMap<String, PathBuf>,
}

fn lay_out(p: &Pod, host: &Path, contents: &BTreeMap<String, Vec<u8>>) -> Mounts {
    use std::os::unix::fs::PermissionsExt;
    let mut dirs = BTreeMap::new();
    for (i, mount) in p.secrets.keys().enumerate() {
        let d = host.join(format!("volume-{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        dirs.insert(mount.clone(), d);
    }
    for (path, mount, key) in p.secret_files() {
        let (_, mode) = &p.secrets[&mount];
        let (m, uid, gid) = secret_file(*mode, p.fs_group);
        let f = dirs[&mount].join(&key);
        std::fs::write(&f, &contents[&path]).unwrap();
        std::os::unix::fs::chown(&f, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(m)).unwrap();
    }
    Mounts { dirs }
}

/// Runs `argv` from the image rootfs as the pod does: a private mount namespace, the rootfs
/// read-only, the Secret directories bind-mounted read-only at their mount paths, a fresh
/// tmpfs at each emptyDir, no new privileges, only the manifest's environment, as the pod's
/// user with fsGroup as a supplementary group; bounded by `timeout`.
fn in_image(
    root: &Path,
    p: &Pod,
    mounts: &Mounts,
    argv: &[String],
    env: &[(String, String)],
) -> Output {
    let mut script =
        String::from("set -e; mount --bind \"$R\" \"$R\"; mount -o remount,bind,ro \"$R\";");
    let mut args: Vec<String> = Vec::new();
    for (i, (mount, dir)) in mounts.dirs.iter().enumerate() {
        std::fs::create_dir_all(root.join(mount.trim_start_matches('/'))).unwrap();
        script.push_str(&format!(
            " mount --bind \"${{M{i}}}\" \"$R{mount}\"; mount -o remount,bind,ro \"$R{mount}\";"
        ));
        args.push(format!("M{i}={}", dir.display()));
    }
    for s in &p.scratch {
        script.push_str(&format!(
            " mount -t tmpfs -o mode=1777,size=64m tmpfs \"$R{s}\";"
        ));
    }
    script.push_str(" exec \"$@\"");
    let groups: Vec<String> = std::iter::once(p.gid)
        .chain(p.fs_group)
        .map(|g| g.to_string())
        .collect();
    let mut c = Command::new("timeout");
    c.args(["-k", "5", "120", "unshare", "--mount", "env"])
        .arg(format!("R={}", root.display()))
        .args(&args)
        .args([
            "sh",
            "-c",
            &script,
            "sh",
            "setpriv",
            "--no-new-privs",
            "env",
            "-i",
            "PATH=/usr/local/bin",
        ])
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(which_chroot())
        .arg(format!("--userspec={}:{}", p.uid, p.gid))
        .arg(format!("--groups={}", groups.join(",")))
        .arg(root)
        .args(argv)
        .stdin(Stdio::null());
    c.output().unwrap()
}

fn which_chroot() -> PathBuf {
    ["/usr/sbin/chroot", "/usr/bin/chroot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("chroot (coreutils)")
}

fn out(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn refs(bare: &Path) -> String {
    String::from_utf8(
        run(git(bare).args(["for-each-ref", "--format=%(refname) %(objectname)"])).stdout,
    )
    .unwrap()
}

/// The data key a file's first age envelope wraps, opened by the Go `age` CLI.
fn data_key(bytes: &[u8], name: &str) -> Vec<u8> {
    let format = shroud::store::Format::from_path(Path::new(name));
    let (_, md) = shroud::document::load_encrypted(name, format, bytes).unwrap();
    let enc = md
        .key_groups
        .iter()
        .flat_map(|g| g.keys.iter())
        .find_map(|k| match k {
            shroud::metadata::MasterKey::Age(a) if a.recipient == TEST_RECIPIENT => {
                Some(a.enc.clone())
            }
            _ => None,
        })
        .expect("an age envelope for the test key");
    let mut child = Command::new(age_cli())
        .args(["-d", "-i"])
        .arg(test_key())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(enc.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    o.stdout
}

fn sops_decrypt(sb: &Sandbox, bytes: &[u8], name: &str) -> String {
    let f = sb.path(&format!("judge/{}", name.replace('/', "_")));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, bytes).unwrap();
    let mut c = sops_cmd(sb);
    c.env("SOPS_AGE_KEY_FILE", test_key()).arg("decrypt");
    if name.ends_with(".env") {
        c.args(["--input-type", "dotenv", "--output-type", "dotenv"]);
    }
    String::from_utf8(run(c.arg(&f)).stdout).unwrap()
}

fn show(bare: &Path, rev: &str, path: &str) -> Vec<u8> {
    run(git(bare).args(["show", &format!("{rev}:{path}")])).stdout
}

/// The CronJob's exact command, run from the image: over SSH with the deploy key, it clones,
/// rotates exactly the files the key-age policy finds due (git history, not `lastmodified`;
/// a re-wrap does not make a key young; a tracked file `.gitignore` matches is not skipped),
/// pushes one branch whose commit lists them (no values), and says where to review it; the
/// real sops opens every rotated file with the same values, and each has a new data key. A
/// second run the same day pushes nothing; a repository with nothing due gets nothing. A
/// wrong deploy key, an unknown host key, a closed port and a server that never answers
/// each fail with one line and exit 2, within the timeout.
#[test]
fn in_image_rotates_over_ssh_and_pushes_a_branch() {
    let Some(root) = image_root() else { return };
    let (_, p) = pod();
    let sb = Sandbox::new();
    let host = sb.path("host");
    std::fs::create_dir_all(&host).unwrap();
    let values = make_repo(&sb, &sb.path("src"), false);
    let bare = host.join("gitops.git");
    run(Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(sb.path("src"))
        .arg(&bare));
    let fresh_src = sb.path("fresh-src");
    std::fs::create_dir_all(&fresh_src).unwrap();
    make_repo(&sb, &fresh_src, true);
    let fresh_bare = host.join("fresh.git");
    run(Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&fresh_src)
        .arg(&fresh_bare));

    let deploy_pub = keygen(&host.join("deploy"));
    let server = sshd(&host, &deploy_pub);
    let user = String::from_utf8(run(Command::new("id").arg("-un")).stdout).unwrap();
    let url = |repo: &Path, port: u16| {
        format!("ssh://{}@127.0.0.1:{port}{}", user.trim(), repo.display())
    };

    // The pod's files: the age key, the deploy key, known_hosts pinning the server's key.
    let files = p.secret_files();
    let by_flag = |flag: &str| -> String { p.flag(flag).unwrap().to_owned() };
    let age_path = p
        .env
        .iter()
        .find(|(k, _)| k == "SOPS_AGE_KEY_FILE")
        .unwrap()
        .1
        .clone();
    let known_hosts = |key: &str| format!("[127.0.0.1]:{} {key}\n", server.port).into_bytes();
    let contents = |deploy: &Path, hosts: Vec<u8>| -> BTreeMap<String, Vec<u8>> {
        let mut m = BTreeMap::new();
        m.insert(age_path.clone(), std::fs::read(test_key()).unwrap());
        m.insert(by_flag("--ssh-key"), std::fs::read(deploy).unwrap());
        m.insert(by_flag("--known-hosts"), hosts);
        assert_eq!(
            m.len(),
            files.len(),
            "the pod mounts exactly these files: {files:?}"
        );
        m
    };
    let good = lay_out(
        &p,
        &sb.path("pod"),
        &contents(&host.join("deploy"), known_hosts(&server.host_pub)),
    );
    // The manifest's command with only the repository URL replaced.
    let argv = |u: &str| -> Vec<String> {
        let mut a = p.argv.clone();
        let i = a.iter().position(|x| x == "--git").unwrap();
        a[i + 1] = u.to_owned();
        a
    };

    let before = refs(&bare);
    let o = in_image(&root, &p, &good, &argv(&url(&bare, server.port)), &p.env);
    assert!(o.status.success(), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let branch = shroud::job::default_branch_name(now());
    assert!(
        stdout.contains(&format!("rotate: pushed {branch} ")),
        "{}",
        out(&o)
    );
    assert!(
        stdout.contains(&format!("open a pull request from {branch} into main")),
        "{}",
        out(&o)
    );
    let changed =
        String::from_utf8(run(git(&bare).args(["diff", "--name-only", "main", &branch])).stdout)
            .unwrap();
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort();
    assert_eq!(
        changed,
        ["apps/old.yaml", "legacy/old.env", "rewrapped.yaml"],
        "{}",
        out(&o)
    );
    let msg = String::from_utf8(
        run(git(&bare).args(["log", "-1", "--format=%an <%ae>%n%B", &branch])).stdout,
    )
    .unwrap();
    for f in &changed {
        assert!(msg.contains(&format!("- {f}: data key from ")), "{msg}");
        assert!(stderr.contains(&format!("rotated {f}: ")), "{stderr}");
    }
    for v in values.values() {
        let secret = v.split([':', '=']).next_back().unwrap().trim();
        assert!(!msg.contains(secret) && !stdout.contains(secret) && !stderr.contains(secret));
    }
    assert!(
        msg.starts_with("shroud rotation job <shroud-rotation@invalid>"),
        "{msg}"
    );
    for f in &changed {
        let (old, new) = (show(&bare, "main", f), show(&bare, &branch, f));
        assert_eq!(
            sops_decrypt(&sb, &old, f),
            sops_decrypt(&sb, &new, f),
            "{f}: values differ"
        );
        assert_ne!(data_key(&old, f), data_key(&new, f), "{f}: same data key");
    }
    assert_eq!(
        show(&bare, "main", "fresh.yaml"),
        show(&bare, &branch, "fresh.yaml")
    );
    let after = refs(&bare);
    assert_eq!(
        after.lines().count(),
        before.lines().count() + 1,
        "one new branch:\n{after}"
    );
    // docs/rotation.md's review steps, as written, in a clone of the remote.
    let review = sb.path("review");
    run(Command::new("git")
        .args(["clone", "-q"])
        .arg(&bare)
        .arg(&review));
    for block in doc_blocks("docs/rotation.md", "The rotation job") {
        run_block_ok(&review, &block, &[]);
    }

    // The same day again: nothing new.
    let o = in_image(&root, &p, &good, &argv(&url(&bare, server.port)), &p.env);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing was pushed"),
        "{}",
        out(&o)
    );
    assert_eq!(refs(&bare), after);

    // Nothing due: nothing pushed, and said.
    let before = refs(&fresh_bare);
    let o = in_image(
        &root,
        &p,
        &good,
        &argv(&url(&fresh_bare, server.port)),
        &p.env,
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rotate: nothing is due"),
        "{}",
        out(&o)
    );
    assert_eq!(refs(&fresh_bare), before);

    // Failures: one line, exit 2, nothing pushed.
    let one_line = |o: &Output, want: &str| {
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}", out(o));
        assert_eq!(e.trim_end().lines().count(), 1, "{}", out(o));
        assert!(
            e.starts_with("shroud: ") && e.contains(want),
            "want {want:?}: {}",
            out(o)
        );
    };
    keygen(&host.join("stranger"));
    let wrong_key = lay_out(
        &p,
        &sb.path("pod-wrong-key"),
        &contents(&host.join("stranger"), known_hosts(&server.host_pub)),
    );
    let o = in_image(
        &root,
        &p,
        &wrong_key,
        &argv(&url(&bare, server.port)),
        &p.env,
    );
    one_line(&o, "the server refused the deploy key");
    let other_host = keygen(&host.join("other_host"));
    let unknown_host = lay_out(
        &p,
        &sb.path("pod-unknown-host"),
        &contents(&host.join("deploy"), known_hosts(&other_host)),
    );
    let o = in_image(
        &root,
        &p,
        &unknown_host,
        &argv(&url(&bare, server.port)),
        &p.env,
    );
    one_line(&o, "does not match the key listed for it");
    let closed = free_port();
    let o = in_image(&root, &p, &good, &argv(&url(&bare, closed)), &p.env);
    one_line(&o, "cannot fetch");
    // A server that accepts and never answers: stopped after SHROUD_GIT_TIMEOUT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let mut env = p.env.clone();
    env.retain(|(k, _)| k != "SHROUD_GIT_TIMEOUT");
    env.push(("SHROUD_GIT_TIMEOUT".into(), "3".into()));
    let o = in_image(&root, &p, &good, &argv(&url(&bare, silent_port)), &env);
    one_line(&o, "did not answer within 3 s");
    drop(silent);
    assert_eq!(refs(&bare), after);
}

/// The real API server accepts the CronJob as written (server-side dry run in its namespace).
#[test]
fn in_image_cronjob_is_accepted_by_the_api_server() {
    let Some(kubeconfig) = std::env::var_os("SHROUD_TEST_KUBECONFIG") else {
        missing("SHROUD_TEST_KUBECONFIG (a real API server; scripts/verify-image.sh sets it)");
        return;
    };
    let cache = std::env::var_os("SHROUD_KUBE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/shroud"));
    let kubectl = cache.join("kubectl-v1.20.2");
    let (j, _) = pod();
    let ns = j["metadata"]["namespace"].as_str().unwrap();
    let _ = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["create", "namespace", ns])
        .output();
    // The test's API server is v1.20, which serves CronJob as batch/v1beta1 (batch/v1 is GA
    // from 1.21, and the only version from 1.25, so the example says batch/v1). The fields the
    // example uses are the same in both; only the version line is changed for this server.
    let text = std::fs::read_to_string(root().join(MANIFEST)).unwrap();
    assert!(
        text.contains("apiVersion: batch/v1\nkind: CronJob"),
        "{text}"
    );
    let for_120 = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        for_120.path(),
        text.replace(
            "apiVersion: batch/v1\nkind: CronJob",
            "apiVersion: batch/v1beta1\nkind: CronJob",
        ),
    )
    .unwrap();
    let o = run(Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--dry-run=server", "-o", "json", "-f"])
        .arg(for_120.path()));
    let applied: J = serde_json::from_slice(&o.stdout).unwrap();
    // What the server stored is what the test ran: the same command, image and modes.
    let (_, p) = pod();
    let c = &applied["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let mut argv: Vec<String> = serde_json::from_value(c["command"].clone()).unwrap();
    argv.extend(serde_json::from_value::<Vec<String>>(c["args"].clone()).unwrap());
    assert_eq!(argv, p.argv);
    assert_eq!(c["image"], p.image.as_str());
    for v in applied["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
    {
        if let Some(s) = v.get("secret") {
            let mode = s["defaultMode"].as_u64().map(|m| m as u32);
            assert!(
                p.secrets
                    .values()
                    .any(|(name, m)| s["secretName"] == name.as_str() && *m == mode),
                "the server reads {s} differently from the test"
            );
        }
    }
}
