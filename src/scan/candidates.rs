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

/// How a literal value is turned into bytes by the code around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Used as written.
    None,
    /// Passed to a hex decoder (`bytes.fromhex("…")`, `hex.DecodeString("…")`).
    Hex,
    /// Passed to a base64 encoder or decoder (`b64decode("…")`, `Base64.getDecoder().decode("…")`).
    Base64,
    /// A byte-array literal (`new byte[] { 0x2b, … }`, `[]byte{…}`, `bytes([…])`): the value
    /// range holds its elements.
    Bytes,
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
    /// How the code decodes the literal.
    pub codec: Codec,
    /// The literal is one operand of a concatenation (`"v" + x`): part of an expression.
    pub concat: bool,
    /// The literal is the default of an environment lookup (`getenv("NAME", "v")`).
    pub env_default: bool,
    /// The key of the structured value this pair sits in (`"Apitoken": "{\"sig\": \"v\"}"`).
    pub parent: Option<Range<usize>>,
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
    let mut consumed = 0..0;
    // The value and key of the last structured value (nested pairs get its key as parent).
    let mut parent: Option<(Range<usize>, Range<usize>)> = None;
    for m in searcher().find_iter(hay) {
        if consumed.contains(&m.start()) {
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
        if let Some(mut c) = at_key(hay, ks, ke) {
            if let Some((value, key)) = &parent
                && value.contains(&c.key.start)
            {
                c.parent = Some(key.clone());
            }
            // A structured value (`"{\"sig\": …}"`, `[…]`) may hold keys of its own.
            if matches!(hay.get(c.value.start), Some(b'{' | b'[' | b'\\')) {
                parent = Some((c.value.clone(), c.key.clone()));
            } else {
                consumed = c.value.clone();
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
    // `typeof o.password === 'string'`: a type test, not a value.
    if hay[line_start..ks]
        .trim_ascii_end()
        .strip_suffix(b".")
        .unwrap_or(hay[line_start..ks].trim_ascii_end())
        .rsplit(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'))
        .next()
        .is_some_and(|w| w == b"typeof")
    {
        return None;
    }
    // `https://auth.example.com:8443/…`, `user@auth-host:`: a host name, not a key.
    if hay[..ks].ends_with(b"//") || hay[..ks].ends_with(b"@") {
        return None;
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
        // IDENTIFIED BY 'v', IDENTIFIED WITH plugin BY 'v'
        let mut j = skip_blanks(hay, i, line_end);
        if hay.len() >= j + 4 && hay[j..j + 4].eq_ignore_ascii_case(b"with") {
            j = skip_blanks(hay, j + 4, line_end);
            while j < line_end && (hay[j].is_ascii_alphanumeric() || hay[j] == b'_') {
                j += 1;
            }
            j = skip_blanks(hay, j, line_end);
        }
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
            // `otpauth://…`, `https://…`: a URL scheme, not a key.
            (b':', b'/', b'/') => return None,
            (b':', _, _) => (Syntax::Colon, 1),
            (b'=', b'>', _) => (Syntax::Arrow, 2),
            // `TOKEN+='…'` (shell), `s += "…"`.
            (b'+', b'=', _) => (Syntax::Assign, 2),
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
    // `password: string = "v"`, `val token: String = "v"`, `KEY: [u8; 16] = [..]`,
    // Go's `var secret string = "v"`: the type is not the value.
    let mut syntax = syntax;
    // Go declares the type after the name: only after `var`/`const`.
    let go_decl = || {
        let b = hay[line_start..ks].trim_ascii_end();
        b.ends_with(b"var") || b.ends_with(b"const")
    };
    if (syntax == Syntax::Colon || syntax == Syntax::Space && go_decl())
        && let Some(j) = typed_assign(hay, i, line_end, syntax == Syntax::Colon)
    {
        i = j;
        syntax = Syntax::Assign;
    }
    if syntax == Syntax::Call {
        // `setPassword(new String("v"))` is not worth following; `f("v")` and `f(v)` are.
        if i < line_end && hay[i] == b')' {
            return None;
        }
    }
    let mut wrapped = false;
    let mut codec = Codec::None;
    let mut env_default = false;
    if syntax != Syntax::Xml
        && let Some(elements) = byte_array(hay, i)
    {
        return Some(Candidate {
            key: ks..ke,
            value: elements,
            syntax,
            quote: Quote::None,
            flag,
            key_quoted,
            commented: commented(hay, line_start, ks),
            in_string: inside_string(&hay[line_start..ks.saturating_sub(usize::from(key_quoted))]),
            wrapped: true,
            codec: Codec::Bytes,
            concat: false,
            env_default: false,
            parent: None,
        });
    }
    // `"tokens": ["v1", "v2"]`: the first element. // shroud:allow
    if i < line_end && hay[i] == b'[' && syntax != Syntax::Xml {
        let k = skip_blanks(hay, i + 1, line_end);
        if k < line_end && matches!(hay[k], b'"' | b'\'') {
            i = k;
            wrapped = true;
        }
    }
    if syntax != Syntax::Xml {
        match unwrap_call(hay, i, line_end) {
            Unwrapped::No => {}
            Unwrapped::Literal(j, c) => {
                i = j;
                wrapped = true;
                codec = c;
            }
            Unwrapped::EnvDefault(j) => {
                i = j;
                wrapped = true;
                env_default = true;
            }
            // `os.getenv("DB_PASSWORD")`: a name, not a value.
            Unwrapped::EnvName => return None,
        }
    }
    let (mut value, quote) = value_at(hay, i, line_end, syntax)?;
    if value.is_empty() {
        return None;
    }
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
    if quote == Quote::None && hay[value.clone()] == *b"typeof" {
        return None;
    }
    if syntax == Syntax::Space && quote == Quote::None && !flag {
        // Bare `word word` is prose unless the key is a flag or a netrc-style `password v`
        // whose value does not read like a word.
        let v = &hay[value.clone()];
        let wordy = v.iter().all(|b| b.is_ascii_lowercase());
        let password_key = [&b"password"[..], b"pass", b"passwd", b"passphrase", b"pwd"]
            .iter()
            .any(|w| key_lower.ends_with(w));
        if wordy || !password_key {
            return None;
        }
    }
    // `Buffer.from("…", "hex")`: the encoding follows the literal.
    let after = value.end + usize::from(quote != Quote::None);
    if codec == Codec::None && wrapped && quote != Quote::None {
        let k = skip_blanks(hay, after, line_end);
        if k < line_end && hay[k] == b',' {
            let k = skip_blanks(hay, k + 1, line_end);
            let rest = &hay[k..line_end.min(k + 12)];
            if rest.len() > 4 && rest[1..].starts_with(b"hex") {
                codec = Codec::Hex;
            } else if rest.len() > 7 && rest[1..].starts_with(b"base64") {
                codec = Codec::Base64;
            }
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
        codec,
        concat: quote != Quote::None && concatenated(hay, after, line_end),
        env_default,
        parent: None,
    })
}

/// Whether the literal ending at `after` is followed by a concatenation operator
/// (`"v" + x`, Lua `..`, PHP/Perl ` . `).
fn concatenated(hay: &[u8], after: usize, line_end: usize) -> bool {
    let k = skip_blanks(hay, after, line_end);
    if k >= line_end {
        return false;
    }
    match hay[k] {
        b'+' => hay.get(k + 1) != Some(&b'='),
        b'.' => {
            hay.get(k + 1) == Some(&b'.')
                || (k > after && hay.get(k + 1).is_some_and(|b| is_blank(*b)))
        }
        _ => false,
    }
}

/// After a `:` or a space, a type followed by ` = ` (`: string = `, `: [u8; 16] = `,
/// ` string = `): the offset of the value after the `=`.
fn typed_assign(hay: &[u8], i: usize, line_end: usize, spaces: bool) -> Option<usize> {
    if i >= line_end || !(hay[i].is_ascii_alphabetic() || matches!(hay[i], b'[' | b'&' | b'*')) {
        return None;
    }
    let limit = line_end.min(i + 80);
    let mut j = i;
    // A Go type is one word; the last blank before ` = ` is allowed.
    let type_char = |b: u8, at: usize| {
        b.is_ascii_alphanumeric()
            || b"_<>[]&;:,.?*'|".contains(&b)
            || b == b' ' && (spaces || hay.get(at + 1) == Some(&b'='))
    };
    while j < limit && type_char(hay[j], j) {
        if hay[j] == b'\'' && !(j > i && hay[j - 1].is_ascii_alphanumeric()) {
            // A quote that opens a string: no type here. Rust lifetimes (`&'static str`) pass.
            if hay[j - 1] != b'&' {
                return None;
            }
        }
        j += 1;
    }
    if j >= limit
        || hay[j] != b'='
        || hay[j - 1] != b' '
        || matches!(hay.get(j + 1), Some(b'=' | b'>' | b'~'))
    {
        return None;
    }
    Some(skip_blanks(hay, j + 1, line_end))
}

/// How many bytes a byte-array literal may span (they are often written over several lines).
const MAX_ARRAY: usize = 2048;

/// A byte-array literal at `i` (`new byte[] { 0x2b, 0x7e, … }`, `(byte) 12`, `[]byte{…}`,
/// `bytes([…])`, `[u8; 16] = [...]`, `new Uint8Array([…])`) of at least 8 numeric elements:
/// the range from its first element to its last.
fn byte_array(hay: &[u8], i: usize) -> Option<Range<usize>> {
    let end = hay.len().min(i + MAX_ARRAY);
    let mut j = i;
    // The constructor: words, dots, `[]`, `[N]`, `(`, `{`, `[` and blanks.
    let mut opened = false;
    while j < end && j - i < 64 {
        match hay[j] {
            b'{' | b'[' | b'(' => {
                opened = true;
                j += 1;
            }
            b']' | b'}' | b')' if !opened || hay[j - 1] == b'[' => j += 1,
            b if b.is_ascii_alphabetic() || b == b'_' || b == b'.' || b == b' ' || b == b'\t' => {
                j += 1
            }
            b if b.is_ascii_digit() && !opened => j += 1,
            _ => break,
        }
        if opened && j < end && matches!(hay[j], b'0'..=b'9' | b'-' | b'\n' | b'\r' | b'(') {
            break;
        }
    }
    if !opened {
        return None;
    }
    let mut n = 0;
    let mut first = None;
    let mut last = j;
    while j < end {
        // Separators, casts (`(byte)`), line breaks and comments' absence.
        while j < end && (hay[j].is_ascii_whitespace() || hay[j] == b',') {
            j += 1;
        }
        if j < end && hay[j] == b'(' {
            let close = hay[j..end.min(j + 16)].iter().position(|&b| b == b')')?;
            j += close + 1;
            while j < end && is_blank(hay[j]) {
                j += 1;
            }
        }
        if j >= end {
            return None;
        }
        if matches!(hay[j], b'}' | b']' | b')') {
            break;
        }
        let start = j;
        if hay[j] == b'-' {
            j += 1;
        }
        if hay[j..].starts_with(b"0x") || hay[j..].starts_with(b"0X") {
            j += 2;
            let d = j;
            while j < end && hay[j].is_ascii_hexdigit() {
                j += 1;
            }
            if j == d || j - d > 2 {
                return None;
            }
        } else {
            let d = j;
            while j < end && hay[j].is_ascii_digit() {
                j += 1;
            }
            if j == d || j - d > 3 {
                return None;
            }
        }
        // Type suffixes: `0x2bu8`, `12_u8`, `0x2b.toByte()`.
        while j < end && (hay[j].is_ascii_alphanumeric() || hay[j] == b'_') {
            j += 1;
        }
        first.get_or_insert(start);
        last = j;
        n += 1;
    }
    (n >= 8).then(|| first.unwrap_or(i)..last)
}

/// A byte-array candidate's elements as bytes.
pub fn array_bytes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in text.split(|b| *b == b',') {
        // Drop a cast (`(byte)`), then read `-`, `0x` + hex digits or decimal digits.
        let part = match part.iter().rposition(|&b| b == b')') {
            Some(p) => &part[p + 1..],
            None => part,
        };
        let t = part.trim_ascii();
        let (neg, t) = t.strip_prefix(b"-").map_or((false, t), |r| (true, r));
        let v = if let Some(h) = t.strip_prefix(b"0x").or_else(|| t.strip_prefix(b"0X")) {
            let d = h.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            std::str::from_utf8(&h[..d])
                .ok()
                .and_then(|x| i64::from_str_radix(x, 16).ok())
        } else {
            let d = t.iter().take_while(|b| b.is_ascii_digit()).count();
            std::str::from_utf8(&t[..d])
                .ok()
                .and_then(|x| x.parse::<i64>().ok())
        };
        if let Some(v) = v {
            out.push((if neg { -v } else { v }) as u8);
        }
    }
    out
}

/// What a call around a value gives.
enum Unwrapped {
    No,
    /// A call or constructor whose first argument is a string literal (`Some("v")`,
    /// `new X("v")`, `[]byte("v")`, `Base64.getDecoder().decode("v")`): its offset and codec.
    Literal(usize, Codec),
    /// An environment lookup with a literal default (`getenv("NAME", "v")`): the default.
    EnvDefault(usize),
    /// An environment lookup without one: the argument is a variable name.
    EnvName,
}

/// Callee names (lowercase, last path segment) that read the environment or a settings store.
const ENV_GETTERS: &[&[u8]] = &[
    b"get",
    b"opts",
    b"opt",
    b"option",
    b"getoption",
    b"getstring",
    b"getvalue",
    b"getsetting",
    b"getconfig",
    b"lookup",
    b"getenv",
    b"env",
    b"get_env",
    b"getenvironmentvariable",
    b"lookupenv",
    b"environ.get",
    b"env.get",
    b"env.fetch",
    b"getproperty",
    b"config.get",
    b"settings.get",
];

fn codec_of(callee: &[u8]) -> Codec {
    let has = |w: &[u8]| memchr::memmem::find(callee, w).is_some();
    if has(b"hex") {
        Codec::Hex
    } else if has(b"base64") || has(b"b64") || callee.ends_with(b"atob") {
        Codec::Base64
    } else {
        Codec::None
    }
}

/// A call or constructor at `i` whose first argument is a string literal.
fn unwrap_call(hay: &[u8], i: usize, line_end: usize) -> Unwrapped {
    let mut j = i;
    if hay[j..line_end].starts_with(b"new ") {
        j = skip_blanks(hay, j + 4, line_end);
    }
    let name_start = j;
    while j < line_end
        && j - name_start < 80
        && (hay[j].is_ascii_alphanumeric()
            || b"_.:<>[]$".contains(&hay[j])
            // An empty call inside the chain: `Base64.getDecoder().decode(`.
            || (hay[j] == b'(' && hay.get(j + 1) == Some(&b')')))
    {
        j += if hay[j] == b'(' { 2 } else { 1 };
    }
    if j == name_start || j >= line_end || hay[j] != b'(' {
        return Unwrapped::No;
    }
    let callee = hay[name_start..j].to_ascii_lowercase();
    let last = callee
        .rsplit(|&b| b == b'.' || b == b':')
        .next()
        .unwrap_or(&callee);
    let env = ENV_GETTERS.iter().any(|g| {
        if g.contains(&b'.') {
            callee.ends_with(g)
        } else {
            last == *g
        }
    });
    let k = skip_blanks(hay, j + 1, line_end);
    if !(k < line_end && matches!(hay[k], b'"' | b'\'' | b'`')) {
        return Unwrapped::No;
    }
    if !env {
        return Unwrapped::Literal(k, codec_of(&callee));
    }
    // The name's closing quote, then `, "default"`.
    let q = hay[k];
    let Some(close) = hay[k + 1..line_end].iter().position(|&b| b == q) else {
        return Unwrapped::EnvName;
    };
    let m = skip_blanks(hay, k + 2 + close, line_end);
    if m < line_end && hay[m] == b',' {
        let d = skip_blanks(hay, m + 1, line_end);
        if d < line_end && matches!(hay[d], b'"' | b'\'' | b'`') {
            return Unwrapped::EnvDefault(d);
        }
    }
    Unwrapped::EnvName
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
    // String prefixes: Python `b"…"`, `r"…"`, `u"…"`, `rb"…"`, C# `@"…"`, C++ `L"…"`; an
    // f-string with a `{…}` is an expression.
    let mut i = i;
    let quote_at = |k: usize| matches!(hay.get(k), Some(b'"' | b'\''));
    let prefix = if quote_at(i + 1) && b"bBrRuUfF@L".contains(&hay[i]) {
        1
    } else if quote_at(i + 2)
        && matches!(
            &hay[i..i + 2],
            b"br" | b"rb" | b"Br" | b"bR" | b"BR" | b"RB" | b"rB" | b"Rb" | b"fr" | b"rf"
        )
    {
        2
    } else {
        0
    };
    if prefix > 0 && syntax != Syntax::Xml {
        let formatted = hay[i..i + prefix]
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&b'f'));
        i += prefix;
        if formatted {
            let q = hay[i];
            let body = &hay[i + 1..line_end];
            let close = body.iter().position(|&b| b == q).unwrap_or(body.len());
            if body[..close].contains(&b'{') {
                return None;
            }
        }
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
            p("<password>hunter</password>"), // shroud:allow
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

    fn first(s: &str) -> Option<Candidate> {
        extract(s.as_bytes()).into_iter().next()
    }

    fn value_of(s: &str) -> Option<String> {
        first(s).map(|c| s[c.value].to_owned())
    }

    #[test]
    fn typed_declarations_skip_the_type() {
        for line in [
            "val password: String = \"Zq9x1\"",
            "private readonly secret: string = 'Zq9x1';",
            "const TOKEN: &'static str = \"Zq9x1\";",
            "password: str = \"Zq9x1\"",
            "var secret string = \"Zq9x1\"",
        ] {
            assert_eq!(value_of(line).as_deref(), Some("Zq9x1"), "{line}");
        }
        // Java puts the type first; the name is the key.
        let c = first("private static final String PASSWORD = \"canal\";").unwrap(); // shroud:allow
        let line = "private static final String PASSWORD = \"canal\";"; // shroud:allow
        assert_eq!(&line[c.key.clone()], "PASSWORD");
        // YAML is not a declaration.
        assert_eq!(value_of("password: a=b").as_deref(), Some("a=b"));
    }

    #[test]
    fn byte_arrays_decoders_and_prefixed_literals() {
        let c = first("byte[] key = new byte[] { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7 };").unwrap();
        assert_eq!(c.codec, Codec::Bytes);
        let line = "byte[] key = new byte[] { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7 };";
        assert_eq!(
            array_bytes(&line.as_bytes()[c.value]),
            [0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7]
        );
        let multi = "secret := []byte{\n\t0x01, 0x02, 0x03, 0x04,\n\t0x05, 0x06, 0x07, 0x08,\n}";
        assert_eq!(first(multi).unwrap().codec, Codec::Bytes);
        // Too short to be key material, or not numbers: an ordinary value.
        assert_ne!(
            first("key = [1, 2, 3]").map(|c| c.codec),
            Some(Codec::Bytes)
        );
        let hex = first("key = bytes.fromhex(\"00112233445566778899aabbccddeeff\")").unwrap();
        assert_eq!(hex.codec, Codec::Hex);
        let b64 =
            first("byte[] secret = Base64.getDecoder().decode(\"c2VjcmV0LWtleS1tYXRlcmlhbA==\");")
                .unwrap();
        assert_eq!(b64.codec, Codec::Base64);
        let buf = first("const key = Buffer.from('00112233445566778899', 'hex')").unwrap();
        assert_eq!(buf.codec, Codec::Hex);
        assert_eq!(value_of("password = b\"Zq9x1\"").as_deref(), Some("Zq9x1"));
        assert_eq!(value_of("token = @\"Zq9x1\";").as_deref(), Some("Zq9x1"));
        assert_eq!(value_of("token = f\"{prefix}Zq9x1\""), None);
    }

    #[test]
    fn code_expressions_are_not_literals() {
        // An environment lookup names a variable; its default is a value.
        assert_eq!(value_of("password = os.getenv(\"DB_PASSWORD\")"), None);
        let c = first("secret := getenv(\"JWT_SECRET\", \"EbnJO3bwmX\")").unwrap();
        assert!(c.env_default);
        assert_eq!(
            value_of("secret := getenv(\"JWT_SECRET\", \"EbnJO3bwmX\")").as_deref(),
            Some("EbnJO3bwmX")
        );
        let line = "password: typeof o.password === 'string' ? o.password : undefined";
        let values: Vec<&str> = extract(line.as_bytes())
            .into_iter()
            .map(|c| &line[c.value])
            .collect();
        assert!(
            !values.contains(&"string") && !values.contains(&"typeof"),
            "{values:?}"
        );
        assert!(first("token = \"Bearer \" + jwt").unwrap().concat);
        assert!(!first("token = \"Zq9x1\";").unwrap().concat);
    }

    #[test]
    fn a_weak_key_does_not_hide_the_next_one() {
        let line = "ALTER ROLE app_authenticator SET pgrst.jwt_secret = 'Zq9x1Zq9x1';";
        let v: Vec<String> = extract(line.as_bytes())
            .into_iter()
            .map(|c| line[c.key].to_owned())
            .collect();
        assert!(v.contains(&"pgrst.jwt_secret".to_owned()), "{v:?}");
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
