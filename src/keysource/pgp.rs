//! The PGP key source through the real GnuPG binary, the way sops uses it: the data key is
//! encrypted to a fingerprint as an armored message (`gpg --no-default-recipient --yes
//! --encrypt -a -r FPR --trusted-key SHORT --no-encrypt-to`), and decrypted through the user's
//! agent (`gpg --use-agent -d`). `SOPS_GPG_EXEC` names the binary (default `gpg`); `GNUPGHOME`
//! (or a keyring directory given by the caller) selects the keyring.
//!
//! Owns: running gpg with the secret on stdin and reading it from stdout (never from a file,
//! never in an argument), turning gpg's failures into one line that names the fingerprint and
//! what to do. Must not know: trees, stores, how `pgp` entries are laid out in metadata.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::KeyError;
use crate::metadata::PgpKey;
use crate::secret::SecretBytes;

/// The gpg binary: `SOPS_GPG_EXEC`, else `gpg`.
pub fn gpg_exec() -> OsString {
    std::env::var_os("SOPS_GPG_EXEC")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "gpg".into())
}

/// A fingerprint as sops stores it: spaces removed.
pub fn normalize(fp: &str) -> String {
    fp.split_whitespace().collect::<String>()
}

/// Where gpg looks for keys: the default keyring, or a directory (the controller's mounted
/// keyring, a restored backup).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gpg {
    pub homedir: Option<PathBuf>,
}

/// What gpg printed and how it ended.
struct Ran {
    ok: bool,
    stdout: SecretBytes,
    stderr: String,
}

impl Gpg {
    async fn run(&self, args: &[&str], input: &[u8], fp: &str) -> Result<Ran, KeyError> {
        let exe = gpg_exec();
        let mut cmd = tokio::process::Command::new(&exe);
        if let Some(h) = &self.homedir {
            cmd.arg("--homedir").arg(h);
        }
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| KeyError::Unwrap {
            key: format!("PGP {fp}"),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} not found: install GnuPG, or set SOPS_GPG_EXEC to your gpg binary",
                    exe.to_string_lossy()
                )
            } else {
                format!("cannot run {}: {e}", exe.to_string_lossy())
            },
        })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let write = async move {
            let r = stdin.write_all(input).await;
            drop(stdin);
            r
        };
        let (written, out) = tokio::join!(write, child.wait_with_output());
        let out = out.map_err(|e| KeyError::Unwrap {
            key: format!("PGP {fp}"),
            reason: format!("gpg failed: {e}"),
        })?;
        // A closed stdin (gpg exited early) is reported through its status and messages.
        let _ = written;
        Ok(Ran {
            ok: out.status.success(),
            stdout: SecretBytes::new(out.stdout),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Encrypts `secret` (a data key or a Shamir share) to the key `fp`.
    pub async fn wrap(&self, fp: &str, secret: &[u8]) -> Result<PgpKey, KeyError> {
        let fp = normalize(fp);
        if fp.len() < 16 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::BadRecipient {
                recipient: fp,
                reason: "not a PGP fingerprint (40 hex digits, as `gpg --list-keys --with-colons` prints them)".into(),
            });
        }
        let short = &fp[fp.len() - 16..];
        let ran = self
            .run(
                &[
                    "--no-default-recipient",
                    "--yes",
                    "--encrypt",
                    "-a",
                    "-r",
                    &fp,
                    "--trusted-key",
                    short,
                    "--no-encrypt-to",
                ],
                secret,
                &fp,
            )
            .await?;
        if !ran.ok {
            return Err(KeyError::Wrap {
                key: format!("PGP {fp}"),
                reason: explain_encrypt(&ran.stderr),
            });
        }
        let armored = String::from_utf8_lossy(ran.stdout.expose())
            .trim()
            .to_owned();
        Ok(PgpKey {
            fp,
            created_at: crate::timestamp::Timestamp::now_utc().to_rfc3339(),
            enc: armored,
        })
    }

    /// Decrypts the data key (or share) of a `pgp` entry with a secret key gpg holds.
    pub async fn unwrap(&self, key: &PgpKey) -> Result<SecretBytes, KeyError> {
        let fp = normalize(&key.fp);
        let ran = self
            .run(&["--use-agent", "-d"], key.enc.as_bytes(), &fp)
            .await?;
        if ran.ok {
            return Ok(ran.stdout);
        }
        let (reason, damaged) = explain_decrypt(&ran.stderr);
        Err(if damaged {
            KeyError::Envelope {
                key: format!("PGP {fp}"),
                reason,
            }
        } else {
            KeyError::Unwrap {
                key: format!("PGP {fp}"),
                reason,
            }
        })
    }
}

/// The first meaningful line gpg printed, for the cases not classified below.
fn first_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("gpg failed")
        .trim_start_matches("gpg: ")
        .to_owned()
}

fn explain_encrypt(stderr: &str) -> String {
    let s = stderr.to_ascii_lowercase();
    if s.contains("no public key") || s.contains("not found") {
        "the public key is not in the GnuPG keyring: import it (gpg --import KEY.asc) or check the fingerprint".into()
    } else if s.contains("expired") {
        "the key has expired: extend it (gpg --quick-set-expire) or use another key".into()
    } else if s.contains("revoked") {
        "the key is revoked: remove it from the recipients".into()
    } else if s.contains("unusable public key") {
        "the key cannot encrypt (expired, revoked or without an encryption subkey): use another key"
            .into()
    } else {
        first_line(stderr)
    }
}

/// A one-line reason, and whether the message itself is damaged (rather than not ours).
fn explain_decrypt(stderr: &str) -> (String, bool) {
    let s = stderr.to_ascii_lowercase();
    if s.contains("no secret key") {
        (
            "no secret key for it in the GnuPG keyring (import the key, or set GNUPGHOME)".into(),
            false,
        )
    } else if s.contains("bad passphrase")
        || s.contains("operation cancelled")
        || s.contains("no pinentry")
        || s.contains("inappropriate ioctl")
        || s.contains("/dev/tty")
        || s.contains("no passphrase given")
    {
        (
            "the GnuPG agent did not unlock the secret key (passphrase not given or pinentry unavailable)".into(),
            false,
        )
    } else if s.contains("crc error")
        || s.contains("invalid armor")
        || s.contains("no valid openpgp data")
        || s.contains("invalid packet")
        || s.contains("bad session key")
        || s.contains("decryption failed")
        || s.contains("unexpected end of file")
    {
        (
            "the PGP message is damaged: it was altered or is corrupt".into(),
            true,
        )
    } else {
        (first_line(stderr), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_messages() {
        assert_eq!(
            normalize("FBC7 B9E2 A4F9 289A C0C1 D4FA BA3B 5F34 3544 2B67"),
            "FBC7B9E2A4F9289AC0C1D4FABA3B5F3435442B67"
        );
        assert!(explain_encrypt("gpg: x: skipped: No public key\n").contains("gpg --import"));
        assert!(
            explain_decrypt("gpg: decryption failed: No secret key\n")
                .0
                .contains("GNUPGHOME")
        );
        assert!(explain_decrypt("gpg: CRC error; 123 - 456\n").1);
    }
}
