//! PGP through the real GnuPG (a temporary `GNUPGHOME` with loopback pinentry and the sops
//! functional-test key imported): every PGP fixture opens, files written for PGP recipients
//! open in the real sops 3.11 and the other way round (alone, with age, in Shamir key groups),
//! and bad input gives one line naming the fingerprint.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::differential::{Keys, cases, check};
use crate::util::*;

/// The primary key of `sops-functional-tests-pgp.asc` (it has an encryption subkey).
pub const FPR: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

/// A private GnuPG home; its agent is stopped when dropped.
pub struct Gnupg {
    pub home: tempfile::TempDir,
}

fn gpg_bin() -> &'static str {
    let ok = Command::new("gpg").arg("--version").output().is_ok();
    assert!(
        ok,
        "GnuPG is required (apt-get install gnupg; scripts/setup.sh does this)"
    );
    "gpg"
}

impl Gnupg {
    /// A home holding the sops functional-test key (public and secret).
    pub fn with_test_key() -> Gnupg {
        let g = Gnupg::empty();
        g.import(&sops_fixtures().join("keys/sops-functional-tests-pgp.asc"));
        g
    }

    pub fn empty() -> Gnupg {
        // gpg-agent's socket path must be short: keep the home under /tmp.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(home.path().join("gpg.conf"), "pinentry-mode loopback\n").unwrap();
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .unwrap();
        Gnupg { home }
    }

    pub fn gpg(&self) -> Command {
        let mut c = Command::new(gpg_bin());
        c.env("GNUPGHOME", self.home.path()).arg("--batch");
        c
    }

    pub fn import(&self, key: &Path) {
        let out = self.gpg().arg("--import").arg(key).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "GNUPGHOME".to_owned(),
            self.home.path().display().to_string(),
        )]
    }

    /// A new key (no passphrase unless given), returning its fingerprint.
    pub fn new_key(&self, uid: &str, expire: &str, passphrase: &str) -> String {
        let out = self
            .gpg()
            .args([
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                uid,
                "default",
                "default",
                expire,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list = self
            .gpg()
            .args(["--with-colons", "--list-keys", uid])
            .output()
            .unwrap();
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned()
    }

    /// Runs gpg in this home with `input` on stdin; its stdout (it must succeed).
    pub fn pipe(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut c = self.gpg();
        c.args(args);
        pipe_through(c, input)
    }

    /// Eve, for the red team's "second reader" attack: a home of her own with a new key, whose
    /// public key this home imports. Returns her home and fingerprint.
    pub fn with_eve(&self) -> (Gnupg, String) {
        let eve_gpg = Gnupg::empty();
        let eve = eve_gpg.new_key("eve <eve@example.com>", "never", "");
        let public = eve_gpg.pipe(&["--export", "--armor", &eve], b"");
        self.pipe(&["--import"], &public);
        (eve_gpg, eve)
    }

    /// [`rewrap_envelope`] of the first PGP envelope of sops YAML `text` with the real gpg:
    /// opened with this home's secret key, encrypted again as one message for each of
    /// `recipients` (fingerprints of keys this home holds).
    pub fn rewrap_envelope(&self, text: &str, recipients: &[&str]) -> String {
        let mut args = vec!["-q", "--trust-model", "always", "-a", "-e"];
        for r in recipients {
            args.extend(["-r", r]);
        }
        rewrap_envelope(
            text,
            PGP_ARMOR,
            |msg| self.pipe(&["-q", "-d"], msg),
            |data_key| self.pipe(&args, data_key),
        )
    }
}

impl Drop for Gnupg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

fn with_gpg(mut c: Command, g: &Gnupg) -> Command {
    c.env("GNUPGHOME", g.home.path());
    c
}

#[test]
fn pgp_fixtures_decrypt_verify_and_match_sops() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    let f = sops_fixtures();
    for fixture in ["sops-pgp/example.yaml", "sops-pgp/comments.enc.yaml"] {
        let ours = with_gpg(sb.cmd(), &g)
            .arg("decrypt")
            .arg(f.join(fixture))
            .run();
        assert_code(&ours, 0);
        let theirs = with_gpg(sops_cmd(&sb), &g)
            .arg("decrypt")
            .arg(f.join(fixture))
            .run();
        assert_code(&theirs, 0);
        assert_eq!(
            sem("yaml", &ours.stdout),
            sem("yaml", &theirs.stdout),
            "{fixture}"
        );
    }
    // No MAC: an integrity failure, unless explicitly ignored (then loudly).
    let out = with_gpg(sb.cmd(), &g)
        .arg("decrypt")
        .arg(f.join("negative/no-mac.pgp.yaml"))
        .run();
    assert_code(&out, 51);
    assert!(out.stdout.is_empty());
    let out = with_gpg(sb.cmd(), &g)
        .args(["decrypt", "--ignore-mac"])
        .arg(f.join("negative/no-mac.pgp.yaml"))
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("integrity was NOT checked"),
        "{}",
        stderr(&out)
    );
    // Without the key: a clear line naming the fingerprint.
    let empty = Gnupg::empty();
    let out = with_gpg(sb.cmd(), &empty)
        .arg("decrypt")
        .arg(f.join("sops-pgp/example.yaml"))
        .run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains(FPR) && stderr(&out).contains("no secret key"),
        "{}",
        stderr(&out)
    );
}

/// The differential matrix (every input) with PGP alone, PGP next to age, and PGP in a
/// 2-of-2 Shamir split with age: both tools read what the other writes.
#[test]
fn pgp_both_directions_with_the_real_sops() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    let mut env = g.env();
    env.push((
        "SOPS_AGE_KEY_FILE".to_owned(),
        test_key().display().to_string(),
    ));
    let setups = [
        Keys {
            name: "pgp",
            config: format!("pgp: {FPR}"),
            env: g.env(),
        },
        Keys {
            name: "pgp+age",
            config: format!("pgp: {FPR}\n    age: {TEST_RECIPIENT2}"),
            env: g.env(),
        },
        Keys {
            name: "shamir pgp|age",
            config: format!(
                "shamir_threshold: 2\n    key_groups:\n      - pgp: [{FPR}]\n      - age: [{TEST_RECIPIENT}]"
            ),
            env,
        },
    ];
    let mut bad = Vec::new();
    let mut n = 0;
    for (i, case) in cases().iter().enumerate() {
        for keys in &setups {
            n += 1;
            bad.extend(check(
                &sb,
                &format!("pgp{i}-{n}"),
                case,
                &("default", None),
                keys,
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// `rotate --add-pgp/--rm-pgp` and `updatekeys` with a `pgp:` rule, read back by sops.
#[test]
fn rotate_and_updatekeys_with_pgp() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n"),
    );
    sb.write("s.yaml", "a: secret\n");
    assert_code(&sb.cmd().args(["encrypt", "-i", "s.yaml"]).run(), 0);
    let out = with_gpg(sb.with_key(), &g)
        .args(["rotate", "-i", "--add-pgp", FPR, "s.yaml"])
        .run();
    assert_code(&out, 0);
    // Only the PGP key now needed: sops opens it through gpg.
    let out = with_gpg(sops_cmd(&sb), &g)
        .args(["decrypt", "s.yaml"])
        .run();
    assert_eq!(stdout(&out), "a: secret\n", "{}", stderr(&out));
    let out = with_gpg(sb.with_key(), &g)
        .args(["rotate", "-i", "--rm-pgp", FPR, "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(!sb.read("s.yaml").contains("pgp:"));
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {TEST_RECIPIENT}\n    pgp: {FPR}\n"),
    );
    let out = with_gpg(sb.with_key(), &g)
        .args(["updatekeys", "-y", "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains(&format!("+PGP {FPR}")),
        "{}",
        stderr(&out)
    );
    let out = with_gpg(sops_cmd(&sb), &g)
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&out, 0);
}

/// A gpg that logs every call, for counting calls and their order.
pub(crate) fn logging_gpg(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let log = sb.path("gpg-calls.log");
    let wrapper = sb.write(
        "gpg-wrapper.sh",
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec gpg \"$@\"\n",
            log.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, log)
}

pub(crate) fn calls(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(" -d")).count())
        .unwrap_or(0)
}

/// `--decryption-order` / `SOPS_DECRYPTION_ORDER` decides whether gpg is asked first; and a
/// PGP file costs one gpg call.
#[test]
fn decryption_order_and_one_gpg_call_per_file() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    let (wrapper, log) = logging_gpg(&sb);
    sb.write("s.yaml", "a: secret\n");
    let out = with_gpg(sb.cmd(), &g)
        .args([
            "encrypt",
            "-i",
            "--pgp",
            FPR,
            "--age",
            TEST_RECIPIENT,
            "s.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let dec = |order: Option<&str>| {
        let _ = std::fs::remove_file(&log);
        let mut c = with_gpg(sb.with_key(), &g);
        c.env("SOPS_GPG_EXEC", &wrapper);
        if let Some(o) = order {
            c.env("SOPS_DECRYPTION_ORDER", o);
        }
        assert_code(&c.args(["decrypt", "s.yaml"]).run(), 0);
        calls(&log)
    };
    assert_eq!(dec(None), 0, "age is tried first by default");
    assert_eq!(dec(Some("pgp,age")), 1);
    assert_eq!(dec(Some("age,pgp")), 0);
    let out = with_gpg(sb.with_key(), &g)
        .args(["--decryption-order", "nope", "decrypt", "s.yaml"])
        .run();
    // A flag value outside its choices is a usage error (exit 2), as clap reports one.
    assert_code(&out, 2);
    // 20 PGP-only files: exactly 20 gpg decryptions.
    let _ = std::fs::remove_file(&log);
    for i in 0..20 {
        sb.write(&format!("m/{i}.yaml"), "k: v\n");
        assert_code(
            &with_gpg(sb.cmd(), &g)
                .args(["encrypt", "-i", "--pgp", FPR])
                .arg(format!("m/{i}.yaml"))
                .run(),
            0,
        );
    }
    let _ = std::fs::remove_file(&log);
    for i in 0..20 {
        let out = with_gpg(sb.cmd(), &g)
            .env("SOPS_GPG_EXEC", &wrapper)
            .arg("decrypt")
            .arg(format!("m/{i}.yaml"))
            .run();
        assert_code(&out, 0);
    }
    assert_eq!(calls(&log), 20);
}

/// Unknown, expired and revoked keys, a missing gpg and an agent that cannot unlock the key:
/// each one line naming the fingerprint and what to do, nothing written.
#[test]
fn bad_pgp_input_gives_one_line_errors() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    sb.write("p.yaml", "a: b\n");
    let one_line = |out: &std::process::Output, needle: &str, fp: &str| {
        let err = stderr(out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(fp) && err.contains(needle), "{err}");
        assert!(out.stdout.is_empty());
    };
    let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "--pgp", unknown, "p.yaml"])
        .run();
    one_line(&out, "gpg --import", unknown);
    let out = with_gpg(sb.cmd(), &g)
        .env("SOPS_GPG_EXEC", "/nonexistent/gpg")
        .args(["encrypt", "--pgp", FPR, "p.yaml"])
        .run();
    one_line(&out, "SOPS_GPG_EXEC", FPR);
    // An expired key.
    let expired = g.new_key("Expired <expired@example.com>", "seconds=1", "");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "--pgp", &expired, "p.yaml"])
        .run();
    one_line(&out, "expired", &expired);
    // A revoked key (gpg writes a revocation certificate for every new key).
    let revoked = g.new_key("Revoked <revoked@example.com>", "never", "");
    let rev = g
        .home
        .path()
        .join(format!("openpgp-revocs.d/{revoked}.rev"));
    let cert = std::fs::read_to_string(&rev)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let cert_path = sb.write("rev.asc", &cert);
    g.import(&cert_path);
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "--pgp", &revoked, "p.yaml"])
        .run();
    one_line(&out, "revoked", &revoked);
    // A key whose passphrase the agent cannot get (batch, no pinentry).
    let locked = g.new_key("Locked <locked@example.com>", "never", "correct horse");
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "--pgp", &locked, "p.yaml"])
        .run();
    assert_code(&out, 0);
    std::fs::write(sb.path("l.yaml"), &out.stdout).unwrap();
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", g.home.path())
        .args(["--kill", "gpg-agent"])
        .output();
    let out = with_gpg(sb.cmd(), &g).args(["decrypt", "l.yaml"]).run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(err.contains(&locked) && err.contains("agent"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn key_backup_carries_pgp_keys_and_verify_uses_only_the_backup() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    sb.write("repo/p.yaml", "token: pgp-only\n");
    sb.write("repo/a.yaml", "token: age-only\n");
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "-i", "--pgp", FPR, "repo/p.yaml"])
        .run();
    assert_code(&out, 0);
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", TEST_RECIPIENT, "repo/a.yaml"])
        .run();
    assert_code(&out, 0);
    let key = test_key().display().to_string();
    // A backup with the age identity and the PGP secret key, for a recovery recipient.
    let out = with_gpg(sb.cmd(), &g)
        .args(["keys", "backup", "--key-file", &key, "--pgp", FPR])
        .args(["--recipient", TEST_RECIPIENT2, "-o", "full.json"])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains(&format!("PGP {FPR}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(file_mode(&sb.path("full.json")), 0o600);
    assert!(
        !sb.read("full.json").contains("PRIVATE KEY"),
        "keys must be encrypted"
    );
    let recovery = test_key2().display().to_string();
    let out = with_gpg(sb.cmd(), &g)
        .args([
            "keys",
            "verify",
            "full.json",
            "repo",
            "--identity",
            &recovery,
        ])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("opens 2 of 2 encrypted files (1 only through its PGP keys)"),
        "{}",
        stderr(&out)
    );
    // Without the PGP key, the PGP-only file is lost, even though the user's own keyring
    // (GNUPGHOME here) could open it: verify uses the backup's keys alone.
    let out = with_gpg(sb.cmd(), &g)
        .args([
            "keys",
            "backup",
            "--key-file",
            &key,
            "--recipient",
            TEST_RECIPIENT2,
            "-o",
            "age.json",
        ])
        .run();
    assert_code(&out, 0);
    let out = with_gpg(sb.cmd(), &g)
        .args([
            "keys",
            "verify",
            "age.json",
            "repo",
            "--identity",
            &recovery,
        ])
        .run();
    assert_code(&out, 41);
    assert!(stderr(&out).contains("LOSE"), "{}", stderr(&out));
    assert!(stderr(&out).contains("p.yaml"), "{}", stderr(&out));
    // Restore into an empty keyring: the real sops then opens the PGP file with it.
    let fresh = Gnupg::empty();
    let out = with_gpg(sb.cmd(), &fresh)
        .args([
            "keys",
            "restore",
            "full.json",
            "--identity",
            &recovery,
            "-o",
            "restored.txt",
        ])
        .run();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("imported 1 PGP secret keys"),
        "{}",
        stderr(&out)
    );
    let dec = with_gpg(sops_cmd(&sb), &fresh)
        .args(["decrypt", "repo/p.yaml"])
        .run();
    assert_eq!(stdout(&dec), "token: pgp-only\n", "{}", stderr(&dec));
    // Or to a file (0600) instead of the keyring.
    let out = sb
        .cmd()
        .args([
            "keys",
            "restore",
            "full.json",
            "--identity",
            &recovery,
            "-o",
            "r2.txt",
        ])
        .args(["--pgp-output", "pgp.asc"])
        .run();
    assert_code(&out, 0);
    assert_eq!(file_mode(&sb.path("pgp.asc")), 0o600);
    assert!(sb.read("pgp.asc").contains("BEGIN PGP PRIVATE KEY BLOCK"));
    // An unknown fingerprint: one line naming it, no bundle written.
    let out = with_gpg(sb.cmd(), &g)
        .args([
            "keys",
            "backup",
            "--pgp",
            "0000111122223333444455556666777788889999",
        ])
        .args(["--recipient", TEST_RECIPIENT2, "-o", "none.json"])
        .run();
    assert_code(&out, 128);
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("0000111122223333444455556666777788889999"));
    assert!(!sb.path("none.json").exists());
}

/// A gpg whose envelope is a valid OpenPGP message that opens to something else than the
/// data key (a broken wrapper, a tampered binary): the new envelope is opened once with the
/// key the caller holds, the mismatch is caught, and nothing is written.
#[test]
fn an_envelope_that_opens_to_something_else_is_caught() {
    let g = Gnupg::with_test_key();
    let sb = Sandbox::new();
    let wrapper = sb.write(
        "lying-gpg.sh",
        "#!/bin/sh\ncase \" $* \" in\n  *' --encrypt '*) cat >/dev/null; printf 'not the data key, 32 bytes long!' | exec gpg \"$@\";;\n  *) exec gpg \"$@\";;\nesac\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.write("s.yaml", "a: secret\n");
    let out = with_gpg(sb.cmd(), &g)
        .env("SOPS_GPG_EXEC", &wrapper)
        .args(["encrypt", "-i", "--pgp", FPR, "s.yaml"])
        .run();
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("PGP {FPR}")) && err.contains("opens to something else"),
        "{err}"
    );
    assert_eq!(sb.read("s.yaml"), "a: secret\n");
    // The honest gpg passes the same check.
    let out = with_gpg(sb.cmd(), &g)
        .args(["encrypt", "-i", "--pgp", FPR, "s.yaml"])
        .run();
    assert_code(&out, 0);
}
