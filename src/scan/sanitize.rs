//! Making text from a scanned repository safe to print on a terminal.
//!
//! Owns: escaping control characters, ANSI/OSC escape sequences, C1 controls and Unicode
//! bidirectional overrides in paths, messages and redacted secrets (the repository is untrusted;
//! a file named `\x1b]0;pwned\x07` must not retitle the terminal). Must not know: what a finding
//! is or how reports are laid out.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
