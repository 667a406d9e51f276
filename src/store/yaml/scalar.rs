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
/// Case-insensitive: `yEs` is a string everywhere, but quoting it costs nothing.
fn yaml11_special(s: &str) -> bool {
    // All candidates are at most 5 bytes: no allocation for ordinary strings.
    s.len() <= 5
        && [
            "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~",
        ]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(s))
}

/// The implicit types of the YAML readers people point at sops output, as regular expressions
/// over a plain scalar: PyYAML and SnakeYAML (YAML 1.1: `0b1_0`, `0_17`, `1:20`, `1._`, `.5_`,
/// `1.5e+3`, `2024-1-2 3:04:05 +1`, `=`), js-yaml and the YAML 1.2 core schema (`0o17`,
/// `._5`), Ruby's Psych (`1,000`). go-yaml v2 and v3 are [`resolve_plain`] and
/// [`is_base60_float`]. A string any of them reads as another type is written quoted.
const OTHER_READERS: &str = concat!(
    "^(?:",
    // PyYAML int (YAML 1.1), sexagesimal included.
    r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
    // PyYAML float (YAML 1.1), sexagesimal included.
    r"|[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
    // PyYAML timestamp (YAML 1.1; a bare `2024-13-45` even makes PyYAML fail).
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}",
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?",
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?",
    // PyYAML `=` (the value tag, which its safe loader cannot construct) and `<<` (merge).
    r"|=|<<",
    // YAML 1.2 core schema and js-yaml: ints and floats with optional underscores, `0o`.
    r"|[-+]?0o[0-7_]+|[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+",
    r"|[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?",
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
    // Ruby Psych (YAML 1.1): commas in numbers.
    r"|[-+]?[1-9](?:[0-9]|,[0-9]|_[0-9])*|[-+]?(?:[0-9][0-9_,]*)?\.[0-9]*(?:[eE][-+][0-9]+)?",
    ")$"
);

/// Whether `s`, written plain, would be read as something other than this string by go-yaml
/// (v2 or v3) or by one of [`OTHER_READERS`].
fn reads_as_another_type(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return true;
    };
    if yaml11_special(s) {
        return true;
    }
    // Every other implicit type starts with one of these bytes: words skip the checks.
    if !matches!(first, b'0'..=b'9' | b'+' | b'-' | b'.' | b'=' | b'<') {
        return false;
    }
    is_base60_float(s)
        || !matches!(resolve_plain(s), Resolved::Scalar(ref r) if r.kind == Kind::Str)
        || others_match(s)
}

/// [`OTHER_READERS`] on `s`. Compiling the pattern with `regex` costs a quarter of a
/// millisecond, most of a one-file command's own work, so the first few strings (a small
/// file's, the metadata's `version`) are matched by `regex-lite`, which compiles five times
/// faster and matches slower; a file with many such strings switches to `regex`.
fn others_match(s: &str) -> bool {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const LITE_CALLS: usize = 32;
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static LITE: LazyLock<regex_lite::Regex> =
        LazyLock::new(|| regex_lite::Regex::new(OTHER_READERS).expect("valid pattern"));
    static FULL: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(OTHER_READERS).expect("valid pattern"));
    if CALLS.fetch_add(1, Ordering::Relaxed) < LITE_CALLS {
        LITE.is_match(s)
    } else {
        FULL.is_match(s)
    }
}

/// YAML 1.1 line breaks besides `\n` and `\r` (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR):
/// PyYAML and libyaml break lines at them, so they never appear raw in a scalar shroud writes.
fn is_yaml11_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
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

/// Whether `s` can be written as a plain scalar and read back as the same string, by go-yaml
/// and by YAML 1.1 readers alike (see [`reads_as_another_type`]).
pub(crate) fn plain_safe(s: &str) -> bool {
    // Fast path for the common case on output: ciphertext is base64 plus `ENC[…,:]` syntax,
    // which is always a safe plain scalar (no ": ", no " #", no leading indicator).
    // (A non-short-circuiting fold: the compiler vectorises it.)
    if s.starts_with("ENC[AES256_GCM,") && s.bytes().fold(true, |ok, b| ok & b.is_ascii_graphic()) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    let b = s.as_bytes();
    // Printable, no tab, no YAML 1.1 line break. (Byte folds for ASCII text: they vectorise.)
    let printable = if b.iter().fold(true, |ok, &c| ok & (c < 0x80)) {
        b.iter().fold(true, |ok, &c| ok & (0x20..0x7f).contains(&c))
    } else {
        s.chars()
            .all(|c| is_printable(c) && c != '\t' && !is_yaml11_break(c))
    };
    if !printable {
        return false;
    }
    if "?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if first == '-' && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    // `: ` and ` #` end a plain scalar; so does a trailing `:`.
    for i in memchr::memchr2_iter(b':', b'#', b) {
        let breaks = if b[i] == b':' {
            matches!(b.get(i + 1), None | Some(b' '))
        } else {
            i > 0 && b[i - 1] == b' '
        };
        if breaks {
            return false;
        }
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    !reads_as_another_type(s)
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

/// Single-quoted form, or `None` when the string needs escapes.
pub(crate) fn single_quoted(s: &str) -> Option<String> {
    if s.contains('\n')
        || s.contains('\t')
        || !s.chars().all(|c| is_printable(c) && !is_yaml11_break(c))
    {
        return None;
    }
    // Room for every quote doubled: no reallocation leaves a partial copy behind.
    let mut out = String::with_capacity(2 * s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    Some(out)
}

/// Double-quoted form with YAML escapes; can represent any Unicode string.
pub(crate) fn double_quoted(s: &str) -> String {
    // Room for the longest escapes (`\xNN` for one byte): no reallocation leaves a partial copy
    // of the value behind.
    let mut out = String::with_capacity(4 * s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
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
        && s.chars()
            .all(|c| c == '\n' || is_printable(c) && !is_yaml11_break(c))
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
            // go-yaml's spelling (`6.02e+23`, `1.5e-10`), except that a float always has a
            // `.`: go-yaml writes `1000`, which reads back as an int, and `1e+06`, which YAML
            // 1.1 readers (PyYAML) read as a string; shroud writes `1000.0` and `1.0e+06`
            // (docs/format.md).
            c => match c.parse::<f64>() {
                Ok(f) => {
                    let g = go_format_float_g(f);
                    match g.find('e') {
                        _ if g.contains('.') => g,
                        Some(e) => format!("{}.0{}", &g[..e], &g[e..]),
                        None => format!("{g}.0"),
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

    /// The two engines behind [`others_match`] agree: every string of the pattern's alphabet
    /// up to three characters, 20,000 pseudo-random ones of four to twelve, and number, time
    /// and version shapes.
    #[test]
    fn lite_and_full_engines_agree() {
        let lite = regex_lite::Regex::new(OTHER_READERS).unwrap();
        let full = regex::Regex::new(OTHER_READERS).unwrap();
        let alphabet: Vec<char> = "0189+-._:eE xbo,T=<ifnNa".chars().collect();
        let mut words = vec![String::new()];
        let mut checked = 0;
        for _ in 0..3 {
            let mut next = Vec::new();
            for w in &words {
                for c in &alphabet {
                    let s = format!("{w}{c}");
                    assert_eq!(lite.is_match(&s), full.is_match(&s), "{s:?}");
                    checked += 1;
                    next.push(s);
                }
            }
            words = next;
        }
        // Digits weigh more: most of the pattern is numbers.
        let weighted: Vec<char> = "0123456789012345678901234567890123456789+-._:eE xbo,T=<ifnNa"
            .chars()
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = 4 + (next() % 9) as usize;
            let s: String = (0..len)
                .map(|_| weighted[(next() % weighted.len() as u64) as usize])
                .collect();
            assert_eq!(lite.is_match(&s), full.is_match(&s), "{s:?}");
            checked += 1;
        }
        for s in [
            "3.11.0",
            "1,000",
            "1_000.5e+3",
            "2024-1-2 3:04:05 +1",
            "2026-12-07T10:00:00Z",
            "190:20:30",
            "0o17",
            "0x_1F",
            "-.inf",
            ".NaN",
            "1.2.3.4",
            "10.0.0.1",
            "=",
            "<<",
        ] {
            assert_eq!(lite.is_match(s), full.is_match(s), "{s:?}");
        }
        assert!(checked > 34_000);
    }

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

    /// Strings that some YAML reader takes for another type when written bare (go-yaml v3
    /// reads most of them as strings; PyYAML, go-yaml v2, js-yaml or Psych do not).
    #[test]
    fn yaml11_and_12_look_alikes_are_quoted() {
        for s in [
            "y",
            "Y",
            "n",
            "N",
            "yes",
            "Yes",
            "YES",
            "yEs",
            "no",
            "NO",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "true",
            "False",
            "~",
            "null",
            "NULL",
            "0o17",
            "0x1F",
            "0x_1F",
            "017",
            "0_17",
            "0b1_0",
            "1_000",
            "+1",
            "-0",
            "1:20",
            "-1:20:30",
            "1:20.5",
            "190:20:30",
            "1.",
            "1._",
            "1.5e+3",
            "1.5e3",
            "1e3",
            ".5",
            ".5_",
            "._5",
            "-.inf",
            ".NaN",
            "2024-01-01",
            "2024-13-45",
            "2024-1-2 3:04:05",
            "2024-1-2 3:04:05 +1",
            "2024-01-02T03:04:05.5Z",
            "=",
            "<<",
            "1,000",
            "1,000.5",
        ] {
            assert!(!plain_safe(s), "{s:?} must be quoted");
            assert!(
                quoted(s).starts_with('"'),
                "{s:?}: go-yaml double-quotes type look-alikes"
            );
        }
        // Line breaks of YAML 1.1 never appear raw.
        for s in ["a\u{85}b", "a\u{2028}b", "a\u{2029}b"] {
            assert!(!plain_safe(s));
            assert!(single_quoted(s).is_none());
            assert!(!literal_safe(&format!("{s}\nx")));
        }
        assert_eq!(double_quoted("a\u{85}\u{2028}\u{2029}"), "\"a\\N\\L\\P\"");
        assert_eq!(typed_spelling(Kind::Float, "1000000"), "1.0e+06");
        assert_eq!(typed_spelling(Kind::Float, "-0.0000001"), "-1.0e-07");
        assert_eq!(typed_spelling(Kind::Float, "0.5"), "0.5");
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
        for s in [
            "1.2.3", "v1", "yesno", "0o", "a=b", "-x", "x-1:2", "ENC", "1:2:x",
        ] {
            assert!(plain_safe(s), "{s:?} reads as a string everywhere");
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
