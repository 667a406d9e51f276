//! Text for a terminal: an error and its causes on one line, without the `Debug` dumps (HTTP
//! headers, request ids) some libraries append; and untrusted text (paths, messages, redacted
//! secrets from a scanned repository) made safe to print.
//!
//! Owns: flattening error chains; escaping control characters, ANSI/OSC escape sequences, C1
//! controls and Unicode bidirectional overrides (a file named `\x1b]0;pwned\x07` must not
//! retitle the terminal). Must not know: which library an error came from, what is printed.

use std::fmt::Write;

/// Whether `c` would change how a terminal renders the text around it.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
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

#[cfg(test)]
mod tests {
    use super::*;

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
