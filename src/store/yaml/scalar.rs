//! YAML scalar typing and spelling: how go-yaml v3 resolves a plain scalar (null, bool, int,
//! float, timestamp, string), and how to write each value back so it resolves the same way.
//!
//! Owns: resolution rules (they decide MAC bytes of plaintext leaves, so they follow go-yaml,
//! not the YAML 1.2 spec) and quoting decisions.
//! Must not know: events, documents, the tree's structure.

use crate::secret::SecretBytes;
use crate::timestamp::Timestamp;
use crate::tree::{Kind, Scalar, Style, go_format_float, go_format_float_g};

/// The result of resolving a plain scalar.
pub enum Resolved {
    Null,
    Scalar(Scalar),
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint` (big positive values).
fn parse_go_int(s: &str) -> Option<Result<i64, u64>> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, r)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u128 + 1 {
            Some(Ok((-(mag as i128)) as i64))
        } else {
            None
        }
    } else if mag <= i64::MAX as u128 {
        Some(Ok(mag as i64))
    } else if !s.starts_with('+') && mag <= u64::MAX as u128 {
        Some(Err(mag as u64))
    } else {
        None
    }
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn finite_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Resolves a plain (unquoted, untagged) scalar the way go-yaml v3 decodes it into `interface{}`.
pub(crate) fn resolve_plain(text: &str) -> Resolved {
    let typed = |kind: Kind, canonical: String| {
        Resolved::Scalar(Scalar::new(kind, canonical).with_repr(text))
    };
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return typed(Kind::Bool, "True".into()),
        "false" | "False" | "FALSE" => return typed(Kind::Bool, "False".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return typed(Kind::Float, "+Inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return typed(Kind::Float, "-Inf".into()),
        ".nan" | ".NaN" | ".NAN" => return typed(Kind::Float, "NaN".into()),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if first.is_ascii_digit()
            && let Some(ts) = Timestamp::parse_yaml(text)
        {
            return typed(Kind::Time, ts.to_rfc3339_nano());
        }
        let plain = text.replace('_', "");
        match parse_go_int(&plain) {
            Some(Ok(i)) => return typed(Kind::Int, i.to_string()),
            Some(Err(u)) => return typed(Kind::Int, u.to_string()),
            None => {}
        }
        if is_yaml_style_float(&plain)
            && let Some(f) = finite_float(&plain)
        {
            return typed(Kind::Float, go_format_float(f));
        }
    } else if first == b'.'
        && let Some(f) = finite_float(text)
    {
        return typed(Kind::Float, go_format_float(f));
    }
    Resolved::Scalar(Scalar::string(text).with_style(Style::Plain))
}

/// Resolves a scalar with an explicit core-schema tag suffix (`str`, `int`, ...).
pub(crate) fn resolve_tagged(text: &str, suffix: &str) -> Resolved {
    match suffix {
        "str" => Resolved::Scalar(Scalar::string(text)),
        // go-yaml decodes `!!binary` into its bytes; sops encrypts those.
        "binary" => {
            use base64::Engine;
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
                Ok(bytes) => Resolved::Scalar(Scalar::string(SecretBytes::new(bytes))),
                Err(_) => Resolved::Scalar(Scalar::string(text)),
            }
        }
        "null" => Resolved::Null,
        "timestamp" => match Timestamp::parse_yaml(text) {
            Some(ts) => Resolved::Scalar(Scalar::new(Kind::Time, ts.to_rfc3339_nano())),
            None => Resolved::Scalar(Scalar::string(text)),
        },
        _ => match resolve_plain(text) {
            Resolved::Scalar(s) if s.kind == Kind::Str => Resolved::Scalar(Scalar::string(text)),
            other => other,
        },
    }
}

/// Words other YAML parsers (YAML 1.1) read as booleans or null; such strings are quoted.
fn yaml11_special(s: &str) -> bool {
    // All candidates are at most 5 bytes: no allocation for ordinary strings.
    s.len() <= 5
        && [
            "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~",
        ]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(s))
}

fn is_printable(c: char) -> bool {
    match c {
        '\t' => true,
        '\u{20}'..='\u{7e}' => true,
        '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' => c != '\u{feff}',
        '\u{10000}'..='\u{10ffff}' => true,
        _ => false,
    }
}

/// Whether `s` can be written as a plain scalar and read back as the same string.
pub(crate) fn plain_safe(s: &str) -> bool {
    // Fast path for the common case on output: ciphertext is base64 plus `ENC[…,:]` syntax,
    // which is always a safe plain scalar (no ": ", no " #", no leading indicator).
    if s.starts_with("ENC[AES256_GCM,") && s.bytes().all(|b| b.is_ascii_graphic()) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    if !s.chars().all(|c| is_printable(c) && c != '\t') {
        return false;
    }
    if "?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if first == '-' && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") || s == "<<" {
        return false;
    }
    if yaml11_special(s) {
        return false;
    }
    matches!(resolve_plain(s), Resolved::Scalar(ref r) if r.kind == Kind::Str)
}

/// go-yaml's `isBase60Float` (YAML 1.1 sexagesimal numbers such as `1:20`, which it quotes).
fn is_base60_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = t.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty()
        || !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let (last, middle) = rest.split_last().expect("not empty");
    let sixty = |p: &str| {
        !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()) && {
            let n: u32 = p.parse().unwrap_or(99);
            (p.len() == 1 || n < 60) && !(p.len() == 2 && p.as_bytes()[0] > b'5')
        }
    };
    let (last_int, frac) = last.split_once('.').unwrap_or((last, ""));
    middle.iter().all(|p| sixty(p))
        && sixty(last_int)
        && frac.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// Whether go-yaml writes this string double-quoted because, plain, it would read as another
/// type (a number, a bool, null, a time) or as a YAML 1.1 bool or sexagesimal number.
fn reads_as_another_type(s: &str) -> bool {
    yaml11_special(s)
        || is_base60_float(s)
        || !s.is_empty()
            && !matches!(resolve_plain(s), Resolved::Scalar(ref r) if r.kind == Kind::Str)
}

/// A string that cannot be written plain, quoted the way go-yaml (and so sops) quotes it:
/// double quotes for type look-alikes (`"123"`, `"yes"`) and anything that needs escapes,
/// single quotes otherwise (`'a: b'`).
pub fn quoted(s: &str) -> String {
    if reads_as_another_type(s) || s.is_empty() {
        double_quoted(s)
    } else {
        single_quoted(s).unwrap_or_else(|| double_quoted(s))
    }
}

/// Whether a key can be written plain: a value could, or it is a simple word (`y`, `on`)
/// that go-yaml v3 reads back as the same string key. (go-yaml quotes YAML 1.1 bool words
/// even as keys; shroud keeps the source's spelling, which means the same.)
pub(crate) fn plain_key(k: &str) -> bool {
    plain_safe(k)
        || (!k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
            && !k.starts_with(['-', '.'])
            && matches!(resolve_plain(k), Resolved::Scalar(ref s) if s.kind == Kind::Str))
}

/// Single-quoted form, or `None` when the string needs escapes.
pub(crate) fn single_quoted(s: &str) -> Option<String> {
    if s.contains('\n') || !s.chars().all(is_printable) || s.contains('\t') {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}

/// Double-quoted form with YAML escapes; can represent any Unicode string.
pub(crate) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether a multi-line string can be written as a literal block scalar.
pub(crate) fn literal_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.trim_matches(['\n', ' ']).is_empty()
        && s.chars().all(|c| c == '\n' || is_printable(c))
        && !s.starts_with('\n')
        && !s.lines().any(|l| l.starts_with('\t'))
}

/// How a non-string scalar is spelled in YAML when it has no source spelling (a decrypted
/// value): as go-yaml, and so sops, writes it, so both tools print the same file.
pub(crate) fn typed_spelling(kind: Kind, canonical: &str) -> String {
    match kind {
        Kind::Bool => match crate::tree::parse_go_bool(canonical) {
            Some(true) => "true".into(),
            Some(false) => "false".into(),
            None => double_quoted(canonical),
        },
        Kind::Float => match canonical {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            // go-yaml's spelling (`6.02e+23`, `1.5e-10`), except that an integral float keeps
            // a `.0` (go-yaml writes `1000`, which reads back as an int): docs/format.md.
            c => match c.parse::<f64>() {
                Ok(f) => {
                    let g = go_format_float_g(f);
                    if g.contains(['.', 'e']) {
                        g
                    } else {
                        format!("{g}.0")
                    }
                }
                Err(_) => double_quoted(c),
            },
        },
        _ => canonical.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(s: &str) -> Option<(Kind, String)> {
        match resolve_plain(s) {
            Resolved::Null => None,
            Resolved::Scalar(sc) => Some((sc.kind, sc.text().into_owned())),
        }
    }

    #[test]
    fn resolves_like_go_yaml() {
        assert_eq!(kind_of("~"), None);
        assert_eq!(kind_of("True"), Some((Kind::Bool, "True".into())));
        assert_eq!(kind_of("yes"), Some((Kind::Str, "yes".into())));
        assert_eq!(kind_of("0x1F"), Some((Kind::Int, "31".into())));
        assert_eq!(kind_of("0o17"), Some((Kind::Int, "15".into())));
        assert_eq!(kind_of("017"), Some((Kind::Int, "15".into())));
        assert_eq!(kind_of("08"), Some((Kind::Float, "8".into())));
        assert_eq!(kind_of("1_000"), Some((Kind::Int, "1000".into())));
        assert_eq!(kind_of("-42"), Some((Kind::Int, "-42".into())));
        assert_eq!(kind_of("1.0"), Some((Kind::Float, "1".into())));
        assert_eq!(kind_of("1e3"), Some((Kind::Float, "1000".into())));
        assert_eq!(kind_of(".5"), Some((Kind::Float, "0.5".into())));
        assert_eq!(kind_of("-.inf"), Some((Kind::Float, "-Inf".into())));
        assert_eq!(kind_of("1.2.3"), Some((Kind::Str, "1.2.3".into())));
        assert_eq!(
            kind_of("9223372036854775807"),
            Some((Kind::Int, "9223372036854775807".into()))
        );
        assert_eq!(
            kind_of("2024-01-01"),
            Some((Kind::Time, "2024-01-01T00:00:00Z".into()))
        );
        assert_eq!(kind_of("1e400"), Some((Kind::Str, "1e400".into())));
    }

    #[test]
    fn quoting() {
        assert!(plain_safe("hello world"));
        assert!(plain_safe("ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"));
        for s in [
            "",
            " x",
            "x ",
            "true",
            "yes",
            "123",
            "1.5",
            "a: b",
            "a #b",
            "- x",
            "#x",
            "null",
            "*a",
            "2024-01-01",
            "<<",
        ] {
            assert!(!plain_safe(s), "{s:?} must be quoted");
        }
        assert_eq!(single_quoted("it's").unwrap(), "'it''s'");
        assert_eq!(double_quoted("a\"b\\\u{1}"), "\"a\\\"b\\\\\\x01\"");
        assert_eq!(typed_spelling(Kind::Float, "1"), "1.0");
        assert_eq!(
            typed_spelling(Kind::Float, "602000000000000000000000"),
            "6.02e+23"
        );
    }
}
