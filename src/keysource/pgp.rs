//! The PGP key source through the real GnuPG binary, the way sops uses it: the data key is
//! encrypted to a fingerprint as an armored message (`gpg --no-default-recipient --yes
//! --encrypt -a -r FPR --trusted-key SHORT --no-encrypt-to`), and decrypted through the user's
//! agent (`gpg --use-agent -d`). `SOPS_GPG_EXEC` names the binary (default `gpg`); `GNUPGHOME`
//! (or a keyring directory given by the caller) selects the keyring.
//!
//! Owns: running gpg with the secret on stdin and reading it from stdout (never from a file,
//! never in an argument) under `SHROUD_GPG_TIMEOUT`, with the child registered so that a
//! signal ending shroud kills it; checking that what gpg printed is an armored OpenPGP message
//! (a gpg that exits 0 with nothing, or with anything else, must not produce an envelope);
//! turning gpg's failures into one line that names the fingerprint and what to do.
//! Must not know: trees, stores, how `pgp` entries are laid out in metadata.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::KeyError;
use crate::external::{self, Service};
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
    /// Runs gpg with `input` on stdin, within `SHROUD_GPG_TIMEOUT`: a gpg (or its agent, or a
    /// pinentry nobody answers) that never returns is killed and reported, and a signal that
    /// ends shroud kills it too.
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
        let key = || {
            if fp.is_empty() || fp.contains(' ') {
                fp.to_owned()
            } else {
                format!("PGP {fp}")
            }
        };
        let mut child = cmd.spawn().map_err(|e| KeyError::Unwrap {
            key: key(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} not found: install GnuPG, or set SOPS_GPG_EXEC to your gpg binary",
                    exe.to_string_lossy()
                )
            } else {
                format!("cannot run {}: {e}", exe.to_string_lossy())
            },
        })?;
        let _registered = child.id().map(external::register_child);
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let write = async move {
            let r = stdin.write_all(input).await;
            drop(stdin);
            r
        };
        let what = if args.contains(&"--encrypt") {
            "encrypting"
        } else if args.contains(&"-d") {
            "decrypting"
        } else if args.contains(&"--import") {
            "importing keys"
        } else {
            "exporting a key"
        };
        // On timeout the future, and with it the child (kill_on_drop), is dropped.
        let (written, out) = external::timed(Service::Gpg, what, async move {
            tokio::join!(write, child.wait_with_output())
        })
        .await
        .map_err(|e| KeyError::Unwrap {
            key: key(),
            reason: e.to_string(),
        })?;
        let out = out.map_err(|e| KeyError::Unwrap {
            key: key(),
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
        check_message(&armored).map_err(|why| KeyError::Wrap {
            key: format!("PGP {fp}"),
            reason: format!(
                "{} exited 0 but did not print an OpenPGP message ({why}); check SOPS_GPG_EXEC and the gpg installation",
                gpg_exec().to_string_lossy()
            ),
        })?;
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

impl Gpg {
    /// Opens a new envelope when this keyring holds its secret key and can use it without
    /// asking anyone (no pinentry: `--batch --pinentry-mode cancel`), to compare it with what
    /// was wrapped. `None` when the key is not here or is locked: then nothing can be proved.
    pub async fn try_open(&self, key: &PgpKey) -> Result<Option<SecretBytes>, KeyError> {
        let fp = normalize(&key.fp);
        let ran = self
            .run(
                &["--batch", "--pinentry-mode", "cancel", "--use-agent", "-d"],
                key.enc.as_bytes(),
                &fp,
            )
            .await?;
        if ran.ok {
            return Ok(Some(ran.stdout));
        }
        let (_, damaged) = explain_decrypt(&ran.stderr);
        if damaged {
            return Err(KeyError::Wrap {
                key: format!("PGP {fp}"),
                reason: "gpg cannot open the envelope it has just made (the message is damaged); nothing was written".into(),
            });
        }
        Ok(None)
    }

    /// The armored secret key (with its subkeys) for `fp`, for a key backup. gpg may ask for
    /// the key's passphrase through the agent's pinentry. An unknown fingerprint is an error
    /// (gpg itself exports nothing and succeeds).
    pub async fn export_secret_key(&self, fp: &str) -> Result<SecretBytes, KeyError> {
        let fp = normalize(fp);
        let ran = self
            .run(
                &["--batch", "--armor", "--export-secret-keys", &fp],
                b"",
                &fp,
            )
            .await?;
        let text = ran.stdout.as_str().unwrap_or_default();
        if !ran.ok || !text.contains("BEGIN PGP PRIVATE KEY BLOCK") {
            return Err(KeyError::Unwrap {
                key: format!("PGP {fp}"),
                reason: if ran.ok || ran.stderr.to_ascii_lowercase().contains("nothing exported") {
                    "no secret key for it in the GnuPG keyring (gpg --list-secret-keys shows what is there; set GNUPGHOME for another keyring)".into()
                } else {
                    first_line(&ran.stderr)
                },
            });
        }
        Ok(ran.stdout)
    }

    /// Imports armored keys (public or secret) into this keyring.
    pub async fn import(&self, armored: &[u8]) -> Result<(), KeyError> {
        let ran = self
            .run(&["--batch", "--import"], armored, "keys from the backup")
            .await?;
        if !ran.ok {
            return Err(KeyError::Unwrap {
                key: "PGP keys from the backup".into(),
                reason: first_line(&ran.stderr),
            });
        }
        Ok(())
    }

    /// Stops the gpg-agent a private keyring directory started (a no-op for the default one).
    pub fn stop_agent(&self) {
        if let Some(h) = &self.homedir {
            let _ = external::run(
                std::process::Command::new("gpgconf")
                    .arg("--homedir")
                    .arg(h)
                    .args(["--kill", "gpg-agent"]),
                Service::Gpg,
                "stopping the agent",
                None,
            );
        }
    }
}

/// Checks that `armored` is an ASCII-armored OpenPGP message (RFC 4880 / RFC 9580) as gpg
/// writes one for a recipient: the armor lines, base64 with a matching CRC-24, then packets
/// that are one or more public-key encrypted session keys followed by one encrypted data
/// packet, ending exactly at the end of the data. Says what is wrong otherwise.
pub(crate) fn check_message(armored: &str) -> Result<(), String> {
    use base64::Engine;
    let mut lines = armored.lines().map(str::trim_end);
    match lines.by_ref().find(|l| !l.trim().is_empty()) {
        Some("-----BEGIN PGP MESSAGE-----") => {}
        Some(_) => return Err("no -----BEGIN PGP MESSAGE----- line".into()),
        None => return Err("empty output".into()),
    }
    // Armor headers (`Key: value`) end at an empty line.
    for l in lines.by_ref() {
        if l.is_empty() {
            break;
        }
        if !l.contains(": ") {
            return Err("malformed armor header".into());
        }
    }
    let (mut body, mut crc, mut ended) = (String::new(), None, false);
    for l in lines.by_ref() {
        if l == "-----END PGP MESSAGE-----" {
            ended = true;
            break;
        }
        if crc.is_some() {
            return Err("text after the checksum line".into());
        }
        match l.strip_prefix('=') {
            Some(c) if c.len() == 4 => crc = Some(c.to_owned()),
            _ => body.push_str(l),
        }
    }
    if !ended {
        return Err("no -----END PGP MESSAGE----- line".into());
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err("text after the END line".into());
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the armored body is not base64".to_owned())?;
    if let Some(c) = crc {
        let want = base64::engine::general_purpose::STANDARD
            .decode(c.as_bytes())
            .map_err(|_| "the checksum line is not base64".to_owned())?;
        let got = crc24(&data).to_be_bytes();
        if want.as_slice() != &got[1..] {
            return Err("CRC-24 checksum mismatch".into());
        }
    }
    check_packets(&data)
}

/// CRC-24 of RFC 4880 section 6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB7_04CE;
    for &b in data {
        crc ^= (b as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= 0x186_4CFB;
            }
        }
    }
    crc & 0xFF_FFFF
}

/// Packet tags of an encrypted message.
const PKESK: u8 = 1;
const SKESK: u8 = 3;
const SED: u8 = 9;
const MARKER: u8 = 10;
const SEIPD: u8 = 18;
const AEAD: u8 = 20;

/// Takes `n` bytes off the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if data.len() < n {
        return Err("the message is truncated".into());
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

/// One packet's tag and body (for partial lengths, the body's final part; the bytes before it
/// are skipped, and `sized` says whether any body was seen at all).
fn next_packet<'a>(data: &mut &'a [u8]) -> Result<(u8, &'a [u8], bool), String> {
    let h = take(data, 1)?[0];
    if h & 0x80 == 0 {
        return Err("not an OpenPGP packet".into());
    }
    if h & 0x40 == 0 {
        // Old format: the length type is in the header's low bits.
        let tag = (h >> 2) & 0x0f;
        let n = match h & 3 {
            0 => take(data, 1)?[0] as usize,
            1 => {
                let b = take(data, 2)?;
                u16::from_be_bytes([b[0], b[1]]) as usize
            }
            2 => {
                let b = take(data, 4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            _ => data.len(),
        };
        let body = take(data, n)?;
        return Ok((tag, body, !body.is_empty()));
    }
    // New format: partial body lengths (data packets only), then a final length.
    let tag = h & 0x3f;
    let mut sized = false;
    loop {
        let o1 = take(data, 1)?[0];
        let n = match o1 {
            0..=191 => o1 as usize,
            192..=223 => ((o1 as usize - 192) << 8) + take(data, 1)?[0] as usize + 192,
            255 => {
                let b = take(data, 4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            _ => {
                if !matches!(tag, SED | SEIPD | AEAD) {
                    return Err("a partial length on a packet that cannot have one".into());
                }
                take(data, 1usize << (o1 & 0x1f))?;
                sized = true;
                continue;
            }
        };
        let body = take(data, n)?;
        return Ok((tag, body, sized || !body.is_empty()));
    }
}

/// Walks the packets of a dearmored message: session keys, then one encrypted data packet
/// that ends the message.
fn check_packets(mut data: &[u8]) -> Result<(), String> {
    let mut sessions = 0;
    let mut encrypted = false;
    while !data.is_empty() {
        if encrypted {
            return Err("data after the encrypted data packet".into());
        }
        let (tag, body, sized) = next_packet(&mut data)?;
        match tag {
            PKESK => {
                if body.len() < 10 || !matches!(body[0], 3 | 6) {
                    return Err("a malformed public-key encrypted session key packet".into());
                }
                sessions += 1;
            }
            SKESK | MARKER => {}
            SED | SEIPD | AEAD => {
                if !sized {
                    return Err("an empty encrypted data packet".into());
                }
                encrypted = true;
            }
            other => return Err(format!("an unexpected packet (tag {other})")),
        }
    }
    if sessions == 0 {
        return Err("no public-key encrypted session key".into());
    }
    if !encrypted {
        return Err("no encrypted data packet".into());
    }
    Ok(())
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

    /// A message gpg 2.2 wrote for a test key (old-format PKESK, new-format SEIPD).
    const MESSAGE: &str = "-----BEGIN PGP MESSAGE-----

hQGMA3J1aloGbk09AQv8CtXMYs+DyR90VqFRICpw79FA5tK4WqFjwPeQu18zOIxy
0FP3q+TjHtvcXy2Or39x8Shm57fF9DIhC5xtB7+EpI/BAsNu7OntehwaacRk5/Cv
S+5M3xAZ/W77+NrqSTOpKmShesp71vR8jwPbLv5ErW6Zkvx1e63hxliu6ZGG4XPo
xaRJa2rbrfbYRpuHhztwqMPM8+lyG9vMXrbrbAzEetXwNDf4t2zt1J9ko6wK2WAm
nANBwGPseeiXQzJ3KGNrVZ/JHEXoAvXPNBnZhtnPy3//R7HBKrIppD6R/1GFwxMU
VDncjN8Jkdk9MA2ivK2Lk5IoMk/V6tOB8Z1Aj4EWmSCtaPNYC3TnyKiWrImomOgM
RWKJPpCnN8hq2BRv66HU0E+2CrJ0FrkwBA3/KMPCS+94vobykFs/jwl5VOtYedvc
mRQINZElU0Z1pVJmo7V6JJdjdZbm2nmgqRex8cFmAvoowYX/s1fFFWlbItN3onsa
VwbdhmvUfeNCyLELQvEC0lsBwB4VjBBZ9WvPHviF6DD/TiSSnrmtjAV1NyBcoi2d
OaBhz59u353EM/sMf/rBTQUMk2jbJxlr/6fPSSS5eJKRRaCOhjdTwkRf1iCD08dc
LlapNvSDZxzoJnco
=P5gh
-----END PGP MESSAGE-----";

    #[test]
    fn openpgp_messages_are_checked() {
        check_message(MESSAGE).unwrap();
        check_message(&MESSAGE.replace("\n=P5gh", "")).unwrap();
        let bad = |m: &str| check_message(m).unwrap_err();
        assert_eq!(bad(""), "empty output");
        assert!(bad("hello").contains("BEGIN"));
        assert!(bad(&MESSAGE.replace("=P5gh", "=P5gi")).contains("CRC"));
        assert!(bad(&MESSAGE.replace("LlapNvSDZxzoJnco\n", "")).contains("CRC"));
        // Re-armor a cut body with a matching checksum: the packets are then incomplete.
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        let body: String = MESSAGE.lines().skip(2).take(11).collect();
        let data = e.decode(body).unwrap();
        let armor = |d: &[u8]| {
            format!(
                "-----BEGIN PGP MESSAGE-----\n\n{}\n={}\n-----END PGP MESSAGE-----\n",
                e.encode(d),
                e.encode(&crc24(d).to_be_bytes()[1..])
            )
        };
        check_message(&armor(&data)).unwrap();
        assert!(
            check_message(&armor(&data[..data.len() - 5]))
                .unwrap_err()
                .contains("truncated")
        );
        assert!(check_message(&armor(&data[..399])).is_err());
        assert!(check_message(&armor(b"not packets")).is_err());
        let mut extra = data.clone();
        extra.extend_from_slice(&[0xc1, 0x00]);
        assert!(check_message(&armor(&extra)).unwrap_err().contains("after"));
    }
}
