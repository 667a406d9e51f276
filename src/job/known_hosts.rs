//! The SSH host keys the job trusts: an OpenSSH `known_hosts` file, pinned (mounted from a
//! Secret or ConfigMap). A server whose key is not listed for its host is refused; nothing is
//! ever added to the file (no accept-new).
//!
//! Supported: host lists (`host`, `[host]:port`, comma-separated), `*`/`?` wildcards and `!`
//! negation, hashed names (`|1|salt|hash`, as `ssh-keyscan -H` writes them), and `@revoked`
//! lines (a revoked key is refused even when another line lists it). `@cert-authority` lines
//! are skipped: host certificates are not checked, so such a host is unknown.
//!
//! Owns: parsing the file and matching a host and key. Must not know: git or the network.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Digest;

/// One usable line.
#[derive(Debug, Clone)]
struct Entry {
    revoked: bool,
    patterns: String,
    key_type: String,
    key: Vec<u8>,
}

/// A parsed `known_hosts` file.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// What the file says of a host's key.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Listed for this host.
    Trusted,
    /// Listed as `@revoked`.
    Revoked,
    /// The host is listed with other keys only.
    Mismatch,
    /// The host is not listed.
    Unknown,
}

/// `SHA256:…` as OpenSSH prints a key's fingerprint.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(sha2::Sha256::digest(key))
    )
}

/// The name a host has in `known_hosts`: `host` on port 22, `[host]:port` elsewhere.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn hashed_match(pattern: &str, name: &str) -> bool {
    let Some(rest) = pattern.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Whether a line's host patterns cover `name` (OpenSSH: a negated match excludes).
fn matches(patterns: &str, name: &str) -> bool {
    if patterns.starts_with("|1|") {
        return hashed_match(patterns, name);
    }
    let mut hit = false;
    for p in patterns.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(p, name) {
            hit = true;
        }
    }
    hit
}

impl KnownHosts {
    /// Parses the file's text. Lines that cannot be read are skipped, as OpenSSH skips them.
    pub fn parse(text: &str) -> KnownHosts {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace().peekable();
            let mut revoked = false;
            if let Some(marker) = fields.next_if(|f| f.starts_with('@')) {
                match marker {
                    "@revoked" => revoked = true,
                    _ => continue,
                }
            }
            let (Some(patterns), Some(key_type), Some(key)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(key) = STANDARD.decode(key) else {
                continue;
            };
            entries.push(Entry {
                revoked,
                patterns: patterns.to_owned(),
                key_type: key_type.to_owned(),
                key,
            });
        }
        KnownHosts { entries }
    }

    /// Whether the file has any usable line.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What the file says of `key` (the SSH wire-format public key the server presented) for
    /// the host `name` ([`host_name`]).
    pub fn check(&self, name: &str, key: &[u8]) -> Verdict {
        if self.entries.iter().any(|e| e.revoked && e.key == key) {
            return Verdict::Revoked;
        }
        let listed: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !e.revoked && matches(&e.patterns, name))
            .collect();
        if listed.iter().any(|e| e.key == key) {
            Verdict::Trusted
        } else if listed.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Mismatch
        }
    }

    /// The key types listed for `name` (for messages).
    pub fn types_for(&self, name: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .entries
            .iter()
            .filter(|e| !e.revoked && matches(&e.patterns, name))
            .map(|e| e.key_type.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(k: &str) -> Vec<u8> {
        STANDARD.decode(k).unwrap()
    }

    #[test]
    fn hosts_ports_patterns_hashes_and_revocations() {
        // `|1|salt|hash` of "[127.0.0.1]:2222" with salt "0123456789abcdefghij" (HMAC-SHA1).
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hashed = format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        );
        let text = format!(
            "# comment\n\
             git.example.com,10.0.0.1 ssh-ed25519 {KEY_A}\n\
             [git.example.com]:2222 ssh-ed25519 {KEY_B}\n\
             *.corp.example,!bad.corp.example ssh-ed25519 {KEY_A}\n\
             {hashed} ssh-ed25519 {KEY_B}\n\
             @cert-authority *.example.org ssh-ed25519 {KEY_A}\n\
             garbage\n"
        );
        let kh = KnownHosts::parse(&text);
        let (a, b) = (key(KEY_A), key(KEY_B));
        assert_eq!(
            kh.check(&host_name("git.example.com", 22), &a),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check(&host_name("GIT.example.com", 22), &a),
            Verdict::Trusted
        );
        // Another port is another name.
        assert_eq!(
            kh.check(&host_name("git.example.com", 2222), &a),
            Verdict::Mismatch
        );
        assert_eq!(
            kh.check(&host_name("git.example.com", 2222), &b),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check(&host_name("git.example.com", 22), &b),
            Verdict::Mismatch
        );
        assert_eq!(kh.check("x.corp.example", &a), Verdict::Trusted);
        assert_eq!(kh.check("bad.corp.example", &a), Verdict::Unknown);
        assert_eq!(
            kh.check(&host_name("127.0.0.1", 2222), &b),
            Verdict::Trusted
        );
        assert_eq!(kh.check(&host_name("127.0.0.1", 22), &b), Verdict::Unknown);
        // Certificate authorities are not trusted for plain keys.
        assert_eq!(kh.check("host.example.org", &a), Verdict::Unknown);
        let revoked = KnownHosts::parse(&format!("{text}@revoked * ssh-ed25519 {KEY_A}\n"));
        assert_eq!(
            revoked.check(&host_name("git.example.com", 22), &a),
            Verdict::Revoked
        );
        assert!(KnownHosts::parse("# nothing\n").is_empty());
        assert!(fingerprint(&a).starts_with("SHA256:"));
    }
}
