//! Candidate extraction for the generic detector: `(key, value)` pairs in the many ways people
//! write credentials — assignments (`k = v`, `k: v`, `k := v`, `k => v`), comparisons
//! (`cfg['password'] == 'v'`), calls (`setPassword("v")`), command-line flags (`--password=v`,
//! `-p v`), SQL (`IDENTIFIED BY 'v'`, `PASSWORD 'v'`), XML elements (`<password>v</password>`)
//! and HTTP authorization schemes (`Basic <b64>`, `Bearer <token>`).
//!
//! Owns: finding key-name hits (one case-insensitive literal pass), the key identifier around a
//! hit, the operator after it, and the value's byte range and quoting. Must not know: whether a
//! candidate is a secret (that is [`super::scorer`]), rules, files, git or output.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// How the value is attached to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `k = v`, `k := v`, `-e K=v`.
    Assign,
    /// `k: v` (YAML, JSON, object literals, headers).
    Colon,
    /// `k => v`.
    Arrow,
    /// `k == v`, `k != v`.
    Compare,
    /// `k("v")`, `setK("v")`.
    Call,
    /// `("k", "v")`, `['k', 'v']`.
    Comma,
    /// `k v` (flags, `.netrc`, SQL `PASSWORD 'v'`).
    Space,
    /// `<k>v</k>`.
    Xml,
    /// `IDENTIFIED BY 'v'`.
    Sql,
    /// `Basic v`, `Bearer v`.
    Scheme,
}

impl Syntax {
    pub fn name(self) -> &'static str {
        match self {
            Syntax::Assign => "assign",
            Syntax::Colon => "colon",
            Syntax::Arrow => "arrow",
            Syntax::Compare => "compare",
            Syntax::Call => "call",
            Syntax::Comma => "comma",
            Syntax::Space => "space",
            Syntax::Xml => "xml",
            Syntax::Sql => "sql",
            Syntax::Scheme => "scheme",
        }
    }
}

/// The value's quoting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    None,
    Double,
    Single,
    Backtick,
}

impl Quote {
    pub fn name(self) -> &'static str {
        match self {
            Quote::None => "none",
            Quote::Double => "double",
            Quote::Single => "single",
            Quote::Backtick => "backtick",
        }
    }
}

/// One `(key, value)` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The key identifier (without flag dashes, `$`, or quotes).
    pub key: Range<usize>,
    pub value: Range<usize>,
    pub syntax: Syntax,
    pub quote: Quote,
    /// The key was written as a flag (`-p`, `--password`).
    pub flag: bool,
    /// The key was quoted (`"password": …`, `['password']`).
    pub key_quoted: bool,
    /// A comment marker (`#`, `//`, `--`, `*`, `<!--`) precedes the key on its line.
    pub commented: bool,
    /// The key sits inside a string literal or a comment's quoted text (an odd number of
    /// quotes precedes it on its line): `"…?token=v&…"`, `'--password=v'`.
    pub in_string: bool,
    /// The value is a string literal wrapped in a call or constructor (`Some("v")`,
    /// `new Secret("v")`, `[]byte("v")`, `Buffer.from('v')`).
    pub wrapped: bool,
}

/// Key-name fragments that start a candidate, each searched in its lowercase, UPPER and
/// Capitalized spelling (how identifiers are written: `password`, `DB_PASSWORD`, `setPassword`):
/// 21 × 3 literals, within the 64 the packed SIMD searcher (Teddy) takes.
pub const KEY_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "cred",
    "salt",
    "nonce",
    "bearer",
    "basic",
    "identified",
    "otp",
    "seed",
    "sig",
    "private",
    "cookie",
    "session",
    "cipher",
    "hmac",
    "jwt",
];

/// The longest key identifier considered.
const MAX_KEY: usize = 96;
/// The longest value considered (longer values are cut there).
pub const MAX_VALUE: usize = 1024;

fn searcher() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        let mut spellings = Vec::with_capacity(KEY_WORDS.len() * 3);
        for w in KEY_WORDS {
            let mut cap = w.to_string();
            cap[..1].make_ascii_uppercase();
            spellings.push(w.to_string());
            spellings.push(w.to_ascii_uppercase());
            spellings.push(cap);
        }
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&spellings)
            .expect("key words build")
    })
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_blanks(hay: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && is_blank(hay[i]) {
        i += 1;
    }
    i
}

/// Whether any candidate-starting key word occurs (cheap pre-check for callers).
pub fn any_key_word(hay: &[u8]) -> bool {
    searcher().is_match(hay)
}

/// Every candidate in `hay`, in order.
pub fn extract(hay: &[u8]) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut last_key_start = usize::MAX;
    // Hits inside an already extracted value are not keys.
    let mut consumed = 0usize;
    for m in searcher().find_iter(hay) {
        if m.start() < consumed {
            continue;
        }
        // The identifier around the hit.
        let lo = m.start().saturating_sub(MAX_KEY);
        let mut ks = m.start();
        while ks > lo && is_ident(hay[ks - 1]) {
            ks -= 1;
        }
        if ks == last_key_start {
            continue;
        }
        let hi = (m.end() + MAX_KEY).min(hay.len());
        let mut ke = m.end();
        while ke < hi && is_ident(hay[ke]) {
            ke += 1;
        }
        if ke == hi && hi < hay.len() && is_ident(hay[hi]) {
            continue;
        }
        last_key_start = ks;
        if let Some(c) = at_key(hay, ks, ke) {
            // A structured value (`"{\"sig\": …}"`, `[…]`) may hold keys of its own.
            if !matches!(hay.get(c.value.start), Some(b'{' | b'[' | b'\\')) {
                consumed = c.value.end;
            }
            out.push(c);
        }
    }
    out
}

/// The line around `at`, clipped to 256 bytes before it (enough to see a comment marker) and
/// [`MAX_VALUE`] plus the key after it: constant work per hit, even on one huge line.
fn line_bounds(hay: &[u8], at: usize) -> (usize, usize) {
    let lo = at.saturating_sub(256);
    let start = memchr::memrchr(b'\n', &hay[lo..at]).map_or(lo, |p| lo + p + 1);
    let hi = (at + 2 * MAX_KEY + MAX_VALUE + 16).min(hay.len());
    let end = memchr::memchr(b'\n', &hay[at..hi]).map_or(hi, |p| at + p);
    (start, end)
}

fn commented(hay: &[u8], line_start: usize, key_start: usize) -> bool {
    let before = &hay[line_start..key_start];
    let t: Vec<u8> = before.iter().copied().filter(|b| !is_blank(*b)).collect();
    t.starts_with(b"#")
        || t.starts_with(b"//")
        || t.starts_with(b"*")
        || t.starts_with(b"/*")
        || t.starts_with(b"<!--")
        || t.starts_with(b"--")
        || t.starts_with(b";")
        || memchr::memmem::find(before, b" // ").is_some()
        || memchr::memmem::find(before, b" # ").is_some()
}

/// The candidate whose key identifier is `hay[ks..ke]`, if a value follows it.
fn at_key(hay: &[u8], mut ks: usize, mut ke: usize) -> Option<Candidate> {
    let (line_start, line_end) = line_bounds(hay, ks);
    let mut flag = false;
    while ks < ke && hay[ks] == b'-' {
        ks += 1;
        flag = true;
    }
    // `.password = …`, `this.password`: the member name is the key.
    while ks < ke && hay[ks] == b'.' {
        ks += 1;
    }
    while ke > ks && matches!(hay[ke - 1], b'.' | b'-') {
        ke -= 1;
    }
    if ke <= ks {
        return None;
    }
    // A flag needs whitespace (or a quote) before its dashes.
    if flag {
        let d = hay[..ks]
            .iter()
            .rposition(|&b| b != b'-')
            .map_or(0, |p| p + 1);
        if d > 0 && !matches!(hay[d - 1], b' ' | b'\t' | b'"' | b'\'' | b'[' | b'(' | b',') {
            flag = false;
        }
    }
    let before = if ks > 0 { hay[ks - 1] } else { b'\n' };
    let key_quoted = matches!(before, b'"' | b'\'' | b'`');
    let xml_open = before == b'<';
    let key_lower: Vec<u8> = hay[ks..ke].to_ascii_lowercase();
    let mut i = ke;
    // Closing quotes of a quoted key (also JSON-in-a-string `\"`), subscripts.
    let mut closed = 0;
    while i < line_end && closed < 4 && matches!(hay[i], b'"' | b'\'' | b'`' | b'\\' | b']') {
        i += 1;
        closed += 1;
    }
    let after_key = i;
    i = skip_blanks(hay, i, line_end);
    let spaced = i > after_key;
    if i >= line_end {
        return None;
    }
    let c = hay[i];
    let n1 = hay.get(i + 1).copied().unwrap_or(b'\n');
    let n2 = hay.get(i + 2).copied().unwrap_or(b'\n');
    let (syntax, op_len) = if xml_open && c == b'>' {
        (Syntax::Xml, 1)
    } else if key_lower == b"identified" {
        // IDENTIFIED BY 'v'
        let j = skip_blanks(hay, i, line_end);
        if hay.len() >= j + 2 && hay[j..j + 2].eq_ignore_ascii_case(b"by") {
            (Syntax::Sql, j + 2 - i)
        } else {
            return None;
        }
    } else if (key_lower == b"basic" || key_lower == b"bearer") && spaced {
        (Syntax::Scheme, 0)
    } else {
        match (c, n1, n2) {
            (b':', b'=', _) => (Syntax::Assign, 2),
            (b':', b':', _) => return None,
            (b':', _, _) => (Syntax::Colon, 1),
            (b'=', b'>', _) => (Syntax::Arrow, 2),
            (b'=', b'=', b'=') | (b'!', b'=', b'=') => (Syntax::Compare, 3),
            (b'=', b'=', _) | (b'!', b'=', _) => (Syntax::Compare, 2),
            (b'=', _, _) => (Syntax::Assign, 1),
            (b'(', _, _) if !spaced => (Syntax::Call, 1),
            (b',', _, _) if key_quoted && opens_pair(hay, line_start, ks) => (Syntax::Comma, 1),
            (b'"' | b'\'', _, _) if spaced => (Syntax::Space, 0),
            (b, _, _) if spaced && (flag || is_value_start(b)) => (Syntax::Space, 0),
            _ => return None,
        }
    };
    i += op_len;
    i = skip_blanks(hay, i, line_end);
    if syntax == Syntax::Call {
        // `setPassword(new String("v"))` is not worth following; `f("v")` and `f(v)` are.
        if i < line_end && hay[i] == b')' {
            return None;
        }
    }
    let mut wrapped = false;
    // `"tokens": ["v1", "v2"]`: the first element. // shroud:allow
    if i < line_end && hay[i] == b'[' && syntax != Syntax::Xml {
        let k = skip_blanks(hay, i + 1, line_end);
        if k < line_end && matches!(hay[k], b'"' | b'\'') {
            i = k;
            wrapped = true;
        }
    }
    if syntax != Syntax::Xml
        && let Some(j) = unwrap_call(hay, i, line_end)
    {
        i = j;
        wrapped = true;
    }
    let (mut value, quote) = value_at(hay, i, line_end, syntax)?;
    if value.is_empty() {
        return None;
    }
    let mut syntax = syntax;
    // `Authorization: Basic <b64>`, `auth = Bearer <token>`: the scheme's credential.
    if quote == Quote::None
        && (hay[value.clone()].eq_ignore_ascii_case(b"basic")
            || hay[value.clone()].eq_ignore_ascii_case(b"bearer"))
        && value.end < line_end
        && is_blank(hay[value.end])
    {
        let j = skip_blanks(hay, value.end, line_end);
        if let Some((v, Quote::None)) = value_at(hay, j, line_end, Syntax::Scheme)
            && !v.is_empty()
        {
            value = v;
            syntax = Syntax::Scheme;
        }
    }
    if syntax == Syntax::Space && quote == Quote::None && !flag {
        // Bare `word word` is prose unless the key is a flag or a netrc-style `password v`
        // whose value does not read like a word.
        let v = &hay[value.clone()];
        let wordy = v.iter().all(|b| b.is_ascii_lowercase());
        if wordy
            || !matches!(
                key_lower.as_slice(),
                b"password" | b"pass" | b"passwd" | b"passphrase" | b"pwd"
            )
        {
            return None;
        }
    }
    Some(Candidate {
        key: ks..ke,
        value,
        syntax,
        quote,
        flag,
        key_quoted,
        commented: commented(hay, line_start, ks),
        in_string: inside_string(&hay[line_start..ks.saturating_sub(usize::from(key_quoted))]),
        wrapped,
    })
}

/// When `hay[i..]` is a call or constructor whose first argument is a string literal
/// (`Some("v")`, `new X("v")`, `[]byte("v")`, `Buffer.from('v')`), the offset of that literal.
fn unwrap_call(hay: &[u8], i: usize, line_end: usize) -> Option<usize> {
    let mut j = i;
    if hay[j..line_end].starts_with(b"new ") {
        j = skip_blanks(hay, j + 4, line_end);
    }
    let name_start = j;
    while j < line_end
        && j - name_start < 64
        && (hay[j].is_ascii_alphanumeric() || b"_.:<>[]".contains(&hay[j]))
    {
        j += 1;
    }
    if j == name_start || j >= line_end || hay[j] != b'(' {
        return None;
    }
    let k = skip_blanks(hay, j + 1, line_end);
    (k < line_end && matches!(hay[k], b'"' | b'\'' | b'`')).then_some(k)
}

/// Whether the text before a key leaves a `"` or `'` string open.
fn inside_string(before: &[u8]) -> bool {
    let (mut dq, mut sq, mut escaped) = (false, false, false);
    for &b in before {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'"' if !sq => dq = !dq,
            b'\'' if !dq => sq = !sq,
            _ => {}
        }
    }
    dq || sq
}

/// Whether a quoted key opens a `("k", "v")` / `['k', 'v']` pair.
fn opens_pair(hay: &[u8], line_start: usize, ks: usize) -> bool {
    let mut j = ks.saturating_sub(1);
    while j > line_start && is_blank(hay[j - 1]) {
        j -= 1;
    }
    j > line_start && matches!(hay[j - 1], b'(' | b'[')
}

fn is_value_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$%@!#+/_".contains(&b)
}

/// The value starting at `i` (quoted or bare), clipped to [`MAX_VALUE`].
fn value_at(
    hay: &[u8],
    i: usize,
    line_end: usize,
    syntax: Syntax,
) -> Option<(Range<usize>, Quote)> {
    if i >= line_end {
        return None;
    }
    let limit = (i + MAX_VALUE + 2).min(line_end);
    let (escaped, q) = match hay[i] {
        b'\\' if matches!(hay.get(i + 1), Some(b'"' | b'\'')) => (true, hay[i + 1]),
        b @ (b'"' | b'\'' | b'`') => (false, b),
        _ => (false, 0),
    };
    if q != 0 {
        let start = i + if escaped { 2 } else { 1 };
        let mut j = start;
        while j < limit {
            let b = hay[j];
            if escaped {
                if b == b'\\' && hay.get(j + 1) == Some(&q) {
                    break;
                }
            } else if b == b'\\' {
                j += 2;
                continue;
            } else if b == q {
                break;
            }
            j += 1;
        }
        let j = j.min(limit);
        let quote = match q {
            b'"' => Quote::Double,
            b'\'' => Quote::Single,
            _ => Quote::Backtick,
        };
        return Some((start..j.min(start + MAX_VALUE), quote));
    }
    let mut j = i;
    while j < limit {
        let b = hay[j];
        let stop = match syntax {
            Syntax::Xml => b == b'<',
            _ => b.is_ascii_whitespace() || b",;)]}<>\"'`|&".contains(&b),
        };
        if stop {
            break;
        }
        j += 1;
    }
    // A trailing `\` (line continuation) or `:` is not part of the value.
    let mut e = j;
    while e > i && matches!(hay[e - 1], b'\\' | b'\r') {
        e -= 1;
    }
    Some((i..e.min(i + MAX_VALUE), Quote::None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String, Syntax)> {
        extract(s.as_bytes())
            .into_iter()
            .map(|c| {
                (
                    s[c.key.clone()].to_owned(),
                    s[c.value.clone()].to_owned(),
                    c.syntax,
                )
            })
            .collect()
    }

    #[test]
    fn syntaxes() {
        let p = |s: &str| pairs(s).into_iter().next();
        assert_eq!(
            p("db_password = \"Zq9x\""),
            Some(("db_password".into(), "Zq9x".into(), Syntax::Assign))
        );
        assert_eq!(
            p("  POSTGRES_PASSWORD: banana"), // shroud:allow
            Some(("POSTGRES_PASSWORD".into(), "banana".into(), Syntax::Colon))
        );
        assert_eq!(
            p("assert cfg['password'] == 'v1'"),
            Some(("password".into(), "v1".into(), Syntax::Compare))
        );
        assert_eq!(
            p("u.setPassword(\"abc\");"),
            Some(("u.setPassword".into(), "abc".into(), Syntax::Call))
        );
        assert_eq!(
            p("mysql -u root --password=abc1"), // shroud:allow
            Some(("password".into(), "abc1".into(), Syntax::Assign))
        );
        assert_eq!(
            p("CREATE USER u IDENTIFIED BY 'pw1';"),
            Some(("IDENTIFIED".into(), "pw1".into(), Syntax::Sql))
        );
        assert_eq!(
            p("Authorization: Basic dXNlcjpwYXNz"), // shroud:allow
            Some((
                "Authorization".into(),
                "dXNlcjpwYXNz".into(),
                Syntax::Scheme
            ))
        );
        assert_eq!(
            p("curl -H 'X: y' -u me Bearer Zk2qL9"),
            Some(("Bearer".into(), "Zk2qL9".into(), Syntax::Scheme))
        );
        assert_eq!(
            p("<password>hunter</password>"),
            Some(("password".into(), "hunter".into(), Syntax::Xml))
        );
        assert_eq!(
            p("{\\\"password\\\": \\\"x1\\\"}"),
            Some(("password".into(), "x1".into(), Syntax::Colon))
        );
        assert_eq!(
            p("conn(\"password\", \"pw2\")"),
            Some(("password".into(), "pw2".into(), Syntax::Comma))
        );
        assert_eq!(
            p("password = Some(\"banana\"),"),
            Some(("password".into(), "banana".into(), Syntax::Assign))
        );
        assert_eq!(
            p("final String password = new Value(\"v2\");"),
            Some(("password".into(), "v2".into(), Syntax::Assign))
        );
        assert_eq!(
            p("\"tokens\":[\"74bd32f4\",\"c244a90f\"]"),
            Some(("tokens".into(), "74bd32f4".into(), Syntax::Colon))
        );
        assert_eq!(p("use std::token::Kind;"), None);
        assert_eq!(p("the password is required"), None);
    }

    #[test]
    fn a_value_is_not_a_key() {
        let v = pairs("\"password\": \"password\", \"token\": \"t1\""); // shroud:allow
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[1].1, "t1");
    }

    #[test]
    fn keys_inside_structured_values_are_found() {
        let v = pairs(r#""Apitoken": "{\"name\":\"root\",\"sig\":\"427d68\"}""#);
        assert!(
            v.iter().any(|(k, val, _)| k == "sig" && val == "427d68"),
            "{v:?}"
        );
    }

    #[test]
    fn long_values_are_clipped() {
        let s = format!("token = \"{}\"", "a".repeat(5000));
        let c = extract(s.as_bytes());
        assert_eq!(c.len(), 1);
        assert!(c[0].value.len() <= MAX_VALUE);
    }
}
