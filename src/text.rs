//! Text for a terminal: an error and its causes on one line, without the `Debug` dumps (HTTP
//! headers, request ids) some libraries append; and untrusted text (paths, messages, redacted
//! secrets from a scanned repository) made safe to print.
//!
//! Owns: flattening error chains; escaping control characters, ANSI/OSC escape sequences, C1
//! controls and Unicode bidirectional overrides (a file named `\x1b]0;pwned\x07` must not
//! retitle the terminal); the shortened form of a key identity in a message (a post-quantum or
//! plugin age recipient is ~2,000 characters); a path quoted as one shell word, for a command
//! a message advises or a command line shroud builds. Must not know: which library an error came
//! from, what is printed.

use std::fmt::Write;

/// Whether `c` would change how a terminal renders the text around it.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` as one POSIX shell word: in single quotes, a `'` in it written `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Escapes everything that is not printable as itself: `\t`, `\n`, `\r`, `\e` stay visible as
/// escapes, every other control or bidi character becomes `\u{…}`.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(is_dangerous) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_dangerous(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// [`sanitize`] for bytes that may not be UTF-8 (invalid sequences become U+FFFD).
pub fn sanitize_bytes(b: &[u8]) -> String {
    sanitize(&String::from_utf8_lossy(b))
}

/// Key identities longer than this are shortened in messages: every X25519 recipient (62
/// characters), PGP fingerprint and KMS ARN stays whole; post-quantum (`age1pq1…`, ~1,960),
/// plugin (`age1NAME1…`, often ~2,000) recipients and SSH RSA keys do not.
pub const LONG_KEY: usize = 100;

/// A key identity shortened for a one-line message, keeping what identifies it: the type prefix
/// and the start of the key data, then its end (a Bech32 string ends with its checksum, which
/// differs between any two keys): `age1pq1ehusfwsv…9ng5dgqq` style, `age1nefd6cry…htt7a` for
/// short recipients, `ssh-ed25519 …a1b2c3d4` for SSH keys. Used for the list of identities tried
/// (always short) and, through [`shorten_keys`], for long keys anywhere in a message.
pub fn abbreviate_key(key: &str) -> String {
    let r = key.trim();
    if let Some((kind, blob)) = r.split_once(' ') {
        return format!("{kind} …{}", last_chars(blob, 8));
    }
    let n = r.chars().count();
    if n <= 20 {
        return r.to_owned();
    }
    if n > LONG_KEY {
        // Bech32: the human-readable part ends at the last `1` (the data alphabet has none).
        let head = match r.rfind('1') {
            Some(sep) if sep < 40 && r.is_ascii() => &r[..(sep + 1 + 8).min(r.len())],
            _ => r.get(..12).unwrap_or(r),
        };
        return format!("{head}…{}", last_chars(r, 8));
    }
    let head: String = r.chars().take(12).collect();
    format!("{head}…{}", last_chars(r, 5))
}

fn last_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// `text` with every long key identity in it shortened ([`abbreviate_key`]): an `age1…` Bech32
/// word or the base64 of an `ssh-…` key longer than [`LONG_KEY`] characters. Everything else,
/// short recipients included, is left as it is. For messages, plans and text reports; JSON
/// reports keep keys whole.
pub fn shorten_keys(text: &str) -> String {
    if text.len() <= LONG_KEY {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(4096));
    let b = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary && b[i..].starts_with(b"age1") {
            let end = i + b[i..]
                .iter()
                .take_while(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, b'+' | b'-' | b'.' | b'_')
                })
                .count();
            if end - i > LONG_KEY {
                out.push_str(&text[copied..i]);
                out.push_str(&abbreviate_key(&text[i..end]));
                copied = end;
            }
            i = end.max(i + 1);
            continue;
        }
        if boundary && b[i..].starts_with(b"AAAA") {
            let end = i + b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
                .count();
            if end - i > LONG_KEY {
                out.push_str(&text[copied..i]);
                out.push_str(&text[i..i + 12]);
                out.push('…');
                out.push_str(&text[end - 8..end]);
                copied = end;
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// `error: cause: deeper cause`, each distinct message once, on one line, at most 300 bytes.
pub(crate) fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string().replace(['\n', '\r'], " ");
        let msg = msg.trim().to_owned();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = e.source();
    }
    let mut out = parts.join(": ");
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// How messages name one document of a YAML stream: counted from 1, as a person counts
/// (`document 2` is the second), whatever index the code holds.
pub fn document(index: usize) -> String {
    format!("document {}", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_counted_from_one() {
        assert_eq!(document(0), "document 1");
        assert_eq!(document(1), "document 2");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(sanitize("plain/path.rs"), "plain/path.rs");
        assert_eq!(
            sanitize("a\u{1b}]0;pwned\u{7}b\u{1b}[31mred"),
            "a\\e]0;pwned\\u{7}b\\e[31mred"
        );
        assert_eq!(sanitize("x\u{202e}y\u{9b}z"), "x\\u{202e}y\\u{9b}z");
        assert_eq!(sanitize("l1\nl2\r"), "l1\\nl2\\r");
        assert_eq!(sanitize_bytes(b"\xff\x1b"), "\u{fffd}\\e");
    }

    #[test]
    fn long_keys_are_shortened_where_they_appear_and_short_ones_kept() {
        let x25519 = "age1nefd6cryw7v2ac4s4vwlzercmrpw9m9j057ne9gp509zdct4pssshhtt7a";
        let pq = format!("age1pq1ehusfwsv{}qqzlk2vv", "x".repeat(1900));
        let plugin = format!("age1simplepq1qypqqq0m{}l4sm3t3e", "q".repeat(1950));
        assert_eq!(abbreviate_key(x25519), "age1nefd6cry…htt7a");
        assert_eq!(abbreviate_key(&pq), "age1pq1ehusfwsv…qqzlk2vv");
        assert_eq!(abbreviate_key(&plugin), "age1simplepq1qypqqq0m…l4sm3t3e");
        assert_eq!(
            abbreviate_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabcdefgh"),
            "ssh-ed25519 …abcdefgh"
        );
        let msg = format!("no identity for age {pq}, age {x25519}; group 1: age {plugin}: x");
        assert_eq!(
            shorten_keys(&msg),
            format!(
                "no identity for age age1pq1ehusfwsv…qqzlk2vv, age {x25519}; group 1: age age1simplepq1qypqqq0m…l4sm3t3e: x"
            )
        );
        let rsa = format!("ssh-rsa AAAAB3NzaC1yc2E{}tailtail", "A".repeat(300));
        assert_eq!(shorten_keys(&rsa), "ssh-rsa AAAAB3NzaC1y…tailtail");
        let path = format!("/{}/age1.yaml", "d".repeat(200));
        assert_eq!(shorten_keys(&path), path);
        assert_eq!(shorten_keys("é age1 ü"), "é age1 ü");
    }

    #[test]
    fn flattens_causes_once() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused\n(os error 111)",
        ));
        assert_eq!(
            one_line(&e),
            "dispatch failure: Connection refused (os error 111)"
        );
    }
}
