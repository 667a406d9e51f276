//! The ordered value tree every store parses into and every store emits from.
//!
//! Owns: documents (branches), mappings with comments in document position, lists, typed scalars
//! that keep their sops plaintext bytes (the exact bytes that are encrypted and hashed into the
//! MAC) next to an optional source spelling, and tree paths such as `["a"][0]["b"]`.
//! Must not know: any file format's syntax, any cryptography, any key source.

use std::fmt;

use crate::secret::SecretBytes;

/// A whole file: one branch per YAML document (every other format has exactly one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    pub branches: Vec<Map>,
    /// Presentation details the source had, so a rewrite changes as little as possible.
    pub hints: Hints,
}

/// Presentation details remembered from the source file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hints {
    /// Indentation width a YAML source used for nested mappings, when it could be seen.
    pub indent: Option<usize>,
    /// The first YAML document started with an explicit `---`.
    pub explicit_start: bool,
    /// Whether block sequences under a mapping key were indented (`key:\n  - a`) rather than
    /// flush with the key (`key:\n- a`), when the source showed it.
    pub seq_indent: Option<bool>,
    /// The JSON source indented with tabs.
    pub json_tabs: bool,
    /// The source text and where each node sat in it, kept by the store that read it so its
    /// writer can copy what did not change (see [`SourceMap`]).
    pub source: Option<SourceMap>,
    /// Indentation width (spaces) of a JSON source. Kept apart from `indent`: one format's
    /// layout is not carried into another (YAML decrypted as JSON is tab-indented, as sops
    /// writes it).
    pub json_indent: Option<usize>,
}

/// The text a tree was parsed from and where each of its nodes sat in it, recorded by the store
/// that read it (opaque here) so that its writer can copy the layout of what did not change:
/// blank lines, indentation, key spellings. A writer checks that the tree still has the shape
/// the map describes before using it. Presentation only: trees never differ by it.
#[derive(Clone)]
pub struct SourceMap(pub std::sync::Arc<dyn std::any::Any + Send + Sync>);

impl fmt::Debug for SourceMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourceMap(<source>)")
    }
}

impl PartialEq for SourceMap {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// An ordered mapping. Comments live between pairs, in document position.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Pair(String, Value),
    Comment(Comment),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Map(Map),
    List(Vec<Value>),
    /// Only inside lists: a comment line between elements.
    Comment(Comment),
}

/// A comment line without its `#`. The text may be secret (it is encrypted by default).
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub text: SecretBytes,
    /// Written after a value on the same line (`key: value # note`).
    pub inline: bool,
}

impl Comment {
    pub fn new(text: impl Into<SecretBytes>, inline: bool) -> Self {
        Comment {
            text: text.into(),
            inline,
        }
    }
}

/// The sops value types (the `type:` field of an `ENC[...]` string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Time,
    Bytes,
}

impl Kind {
    /// The `type:` tag sops writes for this kind.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::Time => "time",
            Kind::Bytes => "bytes",
        }
    }

    pub(crate) fn from_tag(tag: &str) -> Option<Kind> {
        Some(match tag {
            "str" => Kind::Str,
            "int" => Kind::Int,
            "float" => Kind::Float,
            "bool" => Kind::Bool,
            "time" => Kind::Time,
            "bytes" => Kind::Bytes,
            _ => return None,
        })
    }
}

/// How a string scalar was written in YAML, kept as a hint for re-emission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    #[default]
    Any,
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

/// A typed leaf value.
///
/// `value` holds the canonical sops plaintext bytes for the kind (§3 of the format spec): the
/// string's bytes, `strconv.Itoa` for ints, shortest non-exponent decimal for floats,
/// `True`/`False`, RFC 3339 for times. These bytes are what gets encrypted and hashed.
/// `repr` holds the source spelling when it differs (`0x1F`, `1.0`, `2024-01-01`), so a value
/// that is never encrypted is written back exactly as it was.
#[derive(Clone, PartialEq)]
pub struct Scalar {
    pub kind: Kind,
    pub value: SecretBytes,
    /// Boxed, as `plain_mac`: most scalars have neither, and a tree holds one per value (a
    /// smaller `Scalar` is a smaller tree: 72 rather than 104 bytes per mapping entry).
    pub repr: Option<Box<SecretBytes>>,
    pub style: Style,
    /// What the MAC hashes for this leaf while it is stored in plaintext, when that differs
    /// from `value`: sops reads a plaintext JSON number as a float64, so an integer beyond
    /// 2^53 is hashed as its nearest float (`9007199254740993` as `9007199254740992`).
    pub plain_mac: Option<Box<SecretBytes>>,
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scalar({:?}, <redacted>)", self.kind)
    }
}

impl Scalar {
    pub fn new(kind: Kind, value: impl Into<SecretBytes>) -> Self {
        Scalar {
            kind,
            value: value.into(),
            repr: None,
            style: Style::Any,
            plain_mac: None,
        }
    }

    pub fn string(s: impl Into<SecretBytes>) -> Self {
        Scalar::new(Kind::Str, s)
    }

    pub fn int(i: i64) -> Self {
        Scalar::new(Kind::Int, i.to_string())
    }

    pub fn float(f: f64) -> Self {
        Scalar::new(Kind::Float, go_format_float(f))
    }

    pub fn bool(b: bool) -> Self {
        Scalar::new(Kind::Bool, if b { "True" } else { "False" })
    }

    pub(crate) fn with_repr(mut self, repr: impl Into<SecretBytes>) -> Self {
        let repr = repr.into();
        if repr != self.value {
            self.repr = Some(Box::new(repr));
        }
        self
    }

    pub(crate) fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// The canonical bytes: what is encrypted and what the MAC hashes.
    pub fn bytes(&self) -> &[u8] {
        self.value.expose()
    }

    /// What the MAC hashes while this leaf is stored in plaintext (see [`Scalar::plain_mac`]).
    pub(crate) fn plain_mac_bytes(&self) -> &[u8] {
        self.plain_mac.as_deref().unwrap_or(&self.value).expose()
    }

    /// The canonical bytes as text (lossy only for non-UTF-8 binary data).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.value.expose())
    }

    pub(crate) fn is_empty_string(&self) -> bool {
        self.kind == Kind::Str && self.value.is_empty()
    }

    /// The boolean value of a `bool` scalar (Go `strconv.ParseBool` spellings).
    pub fn as_bool(&self) -> Option<bool> {
        parse_go_bool(self.value.as_str()?)
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The shortest decimal digits that read back as `f` (ties to even, as Go's `strconv` and
/// Ryū choose them; Rust's own formatter breaks ties differently), as Go's `decimal`:
/// `0.d₁d₂…dₙ × 10^dp`.
struct Shortest {
    neg: bool,
    digits: String,
    dp: i32,
}

fn shortest(f: f64) -> Shortest {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(f.abs());
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let all = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0').to_owned();
    Shortest {
        neg: f.is_sign_negative(),
        dp: if digits.is_empty() {
            0
        } else {
            int.len() as i32 - leading as i32 + exp
        },
        digits,
    }
}

impl Shortest {
    /// Go's `%f` with shortest precision.
    fn fixed(&self) -> String {
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        let n = self.digits.len() as i32;
        if self.digits.is_empty() {
            out.push('0');
        } else if self.dp <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-self.dp) as usize));
            out.push_str(&self.digits);
        } else if self.dp >= n {
            out.push_str(&self.digits);
            out.push_str(&"0".repeat((self.dp - n) as usize));
        } else {
            out.push_str(&self.digits[..self.dp as usize]);
            out.push('.');
            out.push_str(&self.digits[self.dp as usize..]);
        }
        out
    }

    /// Go's `%e` with shortest precision (at least two exponent digits).
    fn scientific(&self) -> String {
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        let d = if self.digits.is_empty() {
            "0"
        } else {
            &self.digits
        };
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        let exp = if self.digits.is_empty() {
            0
        } else {
            self.dp - 1
        };
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
        out
    }
}

fn non_finite(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_owned())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned())
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip decimal, never an
/// exponent. These bytes are what sops encrypts and hashes for a float, so they must be Go's
/// exactly (ties included).
pub fn go_format_float(f: f64) -> String {
    non_finite(f).unwrap_or_else(|| shortest(f).fixed())
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (how go-yaml, and so sops, writes a float):
/// shortest digits, exponent form when the decimal exponent is below -4 or at least 6
/// (`1.234567e+06`, but `123456`).
pub fn go_format_float_g(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let d = shortest(f);
    let exp = d.dp - 1;
    if !d.digits.is_empty() && !(-4..6).contains(&exp) {
        d.scientific()
    } else {
        d.fixed()
    }
}

/// Go's `encoding/json` float64 encoding (how sops writes JSON numbers): `'f'` form unless the
/// magnitude is below 1e-6 or at least 1e21, then `'e'` form with `e-07` shortened to `e-7`.
pub fn go_json_float(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = shortest(f).scientific();
        // encoding/json's clean-up: e-09 → e-9.
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            return format!("{}{}", &s[..n - 2], &s[n - 1..]);
        }
        s
    } else {
        shortest(f).fixed()
    }
}

/// One step of a tree path: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElem {
    Key(String),
    Index(usize),
}

impl fmt::Display for PathElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElem::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone())),
            PathElem::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Formats a path as sops writes it: `["a"][0]["b"]`.
pub fn format_path(path: &[PathElem]) -> String {
    path.iter().map(|p| p.to_string()).collect()
}

/// Parses a sops tree path such as `["a"][0]["b"]` (keys in double or single quotes).
pub fn parse_path(s: &str) -> Result<Vec<PathElem>, String> {
    let bytes = s.trim().as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'[' {
            return Err(format!("expected '[' at offset {i}"));
        }
        i += 1;
        match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i += 1;
                let mut key = Vec::new();
                loop {
                    match bytes.get(i) {
                        None => return Err("unterminated key".into()),
                        Some(b'\\') if q == b'"' => {
                            match bytes.get(i + 1) {
                                Some(&c) => key.push(c),
                                None => return Err("unterminated escape".into()),
                            }
                            i += 2;
                        }
                        Some(&c) if c == q => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            key.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(PathElem::Key(
                    String::from_utf8(key).map_err(|_| "key is not UTF-8".to_string())?,
                ));
            }
            _ => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if start == i {
                    return Err(format!(
                        "expected a quoted key or an index at offset {start}"
                    ));
                }
                let n = std::str::from_utf8(&bytes[start..i])
                    .unwrap_or_default()
                    .parse::<usize>()
                    .map_err(|e| e.to_string())?;
                out.push(PathElem::Index(n));
            }
        }
        if bytes.get(i) != Some(&b']') {
            return Err(format!("expected ']' at offset {i}"));
        }
        i += 1;
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

impl Tree {
    /// About the bytes a writer needs for this tree: every key and value, with a few bytes
    /// each for punctuation and indentation (writers size their output with it, so it rarely
    /// has to grow).
    pub fn size_hint(&self) -> usize {
        fn value(v: &Value) -> usize {
            match v {
                Value::Scalar(s) => s.value.len() + 4,
                Value::Comment(c) => c.text.len() + 4,
                Value::Map(m) => map(m),
                Value::List(l) => l.iter().map(|v| value(v) + 8).sum(),
                Value::Null => 4,
            }
        }
        fn map(m: &Map) -> usize {
            m.entries
                .iter()
                .map(|e| match e {
                    Entry::Pair(k, v) => k.len() + 8 + value(v),
                    Entry::Comment(c) => c.text.len() + 8,
                })
                .sum()
        }
        let n: usize = self.branches.iter().map(map).sum();
        n + n / 4 + 4096
    }
}

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find_map(|e| match e {
            Entry::Pair(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find_map(|e| match e {
            Entry::Pair(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Replaces the value of `key`, or appends the pair.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push(Entry::Pair(key, value)),
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == key))?;
        match self.entries.remove(pos) {
            Entry::Pair(_, v) => Some(v),
            Entry::Comment(_) => None,
        }
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Pair(k, v) => Some((k, v)),
            Entry::Comment(_) => None,
        })
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Scalar(Scalar::string(s))
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar's source spelling, else its canonical text (for metadata fields, which are
    /// never secret: `version: 3.10` must stay `3.10`, not the float `3.1`).
    pub fn as_text(&self) -> Option<String> {
        self.as_scalar().map(|s| {
            let bytes = s.repr.as_deref().unwrap_or(&s.value);
            String::from_utf8_lossy(bytes.expose()).into_owned()
        })
    }

    /// List elements that are values (comments skipped), for index lookups.
    fn list_values(list: &[Value]) -> impl Iterator<Item = (usize, &Value)> {
        list.iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, Value::Comment(_)))
    }
}

/// Follows `path` from a document root.
pub fn lookup<'a>(root: &'a Map, path: &[PathElem]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = match first {
        PathElem::Key(k) => root.get(k)?,
        PathElem::Index(_) => return None,
    };
    for p in rest {
        cur = match (p, cur) {
            (PathElem::Key(k), Value::Map(m)) => m.get(k)?,
            (PathElem::Index(i), Value::List(l)) => Value::list_values(l).nth(*i)?.1,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets the value at `path`, creating intermediate mappings for missing keys.
/// Returns whether anything changed. An error says where the path cannot go, naming key
/// paths, never values.
pub fn set_path(root: &mut Map, path: &[PathElem], value: Value) -> Result<bool, String> {
    set_in_map(root, path, 0, value)
}

fn set_in_map(root: &mut Map, full: &[PathElem], at: usize, value: Value) -> Result<bool, String> {
    let rest = &full[at..];
    let (first, rest) = rest.split_first().ok_or("empty path")?;
    let PathElem::Key(k) = first else {
        return Err("a document's top level is a mapping; the path must start with a key".into());
    };
    if rest.is_empty() {
        let changed = root.get(k) != Some(&value);
        root.insert(k.clone(), value);
        return Ok(changed);
    }
    if root.get(k).is_none() {
        let fresh = match rest[0] {
            PathElem::Key(_) => Value::Map(Map::new()),
            PathElem::Index(_) => Value::List(Vec::new()),
        };
        root.insert(k.clone(), fresh);
    }
    set_in_value(root.get_mut(k).expect("just inserted"), full, at + 1, value)
}

fn set_in_value(
    cur: &mut Value,
    full: &[PathElem],
    at: usize,
    value: Value,
) -> Result<bool, String> {
    let (first, rest) = full[at..].split_first().expect("non-empty");
    let here = format_path(&full[..at]);
    match (first, cur) {
        (PathElem::Key(_), Value::Map(m)) => set_in_map(m, full, at, value),
        (PathElem::Index(i), Value::List(l)) => {
            let positions: Vec<usize> = Value::list_values(l).map(|(p, _)| p).collect();
            // As sops: an index past the end appends (sops 3.11 `set '["list"][5]'` on two
            // items makes three).
            let appended = *i >= positions.len();
            let slot = match positions.get(*i) {
                Some(&p) => &mut l[p],
                None => {
                    l.push(match rest.first() {
                        None => Value::Null,
                        Some(PathElem::Key(_)) => Value::Map(Map::new()),
                        Some(PathElem::Index(_)) => Value::List(Vec::new()),
                    });
                    l.last_mut().expect("pushed")
                }
            };
            if rest.is_empty() {
                let changed = appended || *slot != value;
                *slot = value;
                Ok(changed)
            } else {
                set_in_value(slot, full, at + 1, value).map(|c| c || appended)
            }
        }
        (PathElem::Key(k), v) => Err(format!(
            "{here} is {}, not a mapping, so it cannot hold key {}",
            kind_of(v),
            quote_key(k)
        )),
        (PathElem::Index(i), v) => Err(format!(
            "{here} is {}, not a list, so it has no index [{i}]",
            kind_of(v)
        )),
    }
}

/// Follows `path` from a document root, mutably.
pub(crate) fn lookup_mut<'a>(root: &'a mut Map, path: &[PathElem]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = match first {
        PathElem::Key(k) => root.get_mut(k)?,
        PathElem::Index(_) => return None,
    };
    for p in rest {
        cur = match (p, cur) {
            (PathElem::Key(k), Value::Map(m)) => m.get_mut(k)?,
            (PathElem::Index(i), Value::List(l)) => {
                let pos = Value::list_values(l).nth(*i)?.0;
                &mut l[pos]
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes the value at `path`. Returns whether it existed.
pub fn unset_path(root: &mut Map, path: &[PathElem]) -> Result<bool, String> {
    let (last, parents) = path.split_last().ok_or("empty path")?;
    if parents.is_empty() {
        return match last {
            PathElem::Key(k) => Ok(root.remove(k).is_some()),
            PathElem::Index(_) => Err("the path must start with a key".into()),
        };
    }
    match (last, lookup_mut(root, parents)) {
        (PathElem::Key(k), Some(Value::Map(m))) => Ok(m.remove(k).is_some()),
        (PathElem::Index(i), Some(Value::List(l))) => {
            let pos = Value::list_values(l).nth(*i).map(|(p, _)| p);
            Ok(pos.map(|p| l.remove(p)).is_some())
        }
        _ => Ok(false),
    }
}

/// How tree paths are written, for messages.
pub const PATH_SYNTAX: &str = r#"paths are written ["key"]["key"], with [0] for a list item"#;

/// At most this many sibling keys are named when a path is not found.
const SHOWN_SIBLINGS: usize = 5;

/// The edit distance between two strings (case-insensitive), for did-you-mean suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A key quoted as in a path (`"db"`), at most 40 characters.
fn quote_key(k: &str) -> String {
    let k = if k.chars().count() > 40 {
        format!("{}…", k.chars().take(39).collect::<String>())
    } else {
        k.to_owned()
    };
    serde_json::Value::String(k).to_string()
}

/// `["a"]["b"]`, or "the top level" for the root.
fn place(prefix: &[PathElem]) -> String {
    if prefix.is_empty() {
        "the top level".into()
    } else {
        format_path(prefix)
    }
}

/// What a value is, without what it holds.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "a mapping",
        Value::List(_) => "a list",
        Value::Null => "null",
        Value::Scalar(_) | Value::Comment(_) => "a single value",
    }
}

/// `["db"] has keys "pw", "user" and 3 more`, closest to `wanted` first; with a
/// `did you mean ["db"]["pw"]? ` in front when one is close. Names keys, never values.
fn missing_key(prefix: &[PathElem], m: &Map, wanted: &str) -> String {
    let mut keys: Vec<(usize, usize, &String)> = m
        .pairs()
        .enumerate()
        .map(|(i, (k, _))| (edit_distance(k, wanted), i, k))
        .collect();
    if keys.is_empty() {
        return format!("{} is an empty mapping", place(prefix));
    }
    keys.sort();
    let (best, _, closest) = keys[0];
    let close = best <= (wanted.chars().count() / 3).max(2);
    let mut list = keys
        .iter()
        .take(SHOWN_SIBLINGS)
        .map(|(_, _, k)| quote_key(k))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN_SIBLINGS {
        list.push_str(&format!(" and {} more", keys.len() - SHOWN_SIBLINGS));
    }
    let has = format!(
        "{} has no key {}; its keys{}: {list}",
        place(prefix),
        quote_key(wanted),
        if keys.len() > 1 {
            ", closest first"
        } else {
            ""
        },
    );
    if close {
        let mut suggestion = prefix.to_vec();
        suggestion.push(PathElem::Key(closest.clone()));
        format!("did you mean {}? {has}", format_path(&suggestion))
    } else {
        has
    }
}

fn items(n: usize) -> String {
    match n {
        0 => "no items".into(),
        1 => "1 item, [0]".into(),
        n => format!("{n} items, [0] to [{}]", n - 1),
    }
}

/// Why `path` leads to no value in `root`, naming key paths and sibling keys, never values:
/// `did you mean ["db"]["password"]? ["db"] has no key "pasword"; its keys, closest first: …`.
pub fn explain_missing(root: &Map, path: &[PathElem]) -> String {
    let mut cur: Option<&Value> = None;
    for (at, step) in path.iter().enumerate() {
        let prefix = &path[..at];
        let next = match (step, cur) {
            (PathElem::Key(k), None) => root.get(k).ok_or_else(|| missing_key(prefix, root, k)),
            (PathElem::Index(_), None) => {
                Err("the top level is a mapping: a path starts with a key".to_owned())
            }
            (PathElem::Key(k), Some(Value::Map(m))) => {
                m.get(k).ok_or_else(|| missing_key(prefix, m, k))
            }
            (PathElem::Index(i), Some(Value::List(l))) => Value::list_values(l)
                .nth(*i)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    format!(
                        "{} has {}",
                        place(prefix),
                        items(Value::list_values(l).count())
                    )
                }),
            (PathElem::Key(_), Some(v)) => Err(format!(
                "{} is {}, not a mapping{}",
                place(prefix),
                kind_of(v),
                if matches!(v, Value::List(_)) {
                    format!(": use an index, e.g. {}[0]", format_path(prefix))
                } else {
                    String::new()
                }
            )),
            (PathElem::Index(_), Some(v)) => {
                Err(format!("{} is {}, not a list", place(prefix), kind_of(v)))
            }
        };
        match next {
            Ok(v) => cur = Some(v),
            Err(why) => return why,
        }
    }
    "the path exists".into()
}

/// `["db"]["pw"] not found: did you mean …? … (paths are written …)`, plus `extra` advice.
pub fn not_found_message(root: &Map, path: &[PathElem], extra: Option<&str>) -> String {
    format!(
        "{} not found: {} ({PATH_SYNTAX}{})",
        format_path(path),
        explain_missing(root, path),
        extra.map(|e| format!("; {e}")).unwrap_or_default()
    )
}

/// A hint for a path that did not parse: the bracket form of a dotted path (`db.password` →
/// `["db"]["password"]`) when it is one, else how paths are written.
pub fn syntax_hint(raw: &str) -> String {
    let raw = raw.trim();
    let word = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let parts: Vec<&str> = raw.split('.').collect();
    if raw.len() <= 128
        && parts.iter().all(|p| word(p))
        && parts[0].starts_with(|c: char| !c.is_ascii_digit())
    {
        let path: Vec<PathElem> = parts
            .iter()
            .map(|p| match p.parse::<usize>() {
                Ok(i) => PathElem::Index(i),
                Err(_) => PathElem::Key((*p).to_owned()),
            })
            .collect();
        return format!("write it as {}; {PATH_SYNTAX}", format_path(&path));
    }
    PATH_SYNTAX.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse_path(r#"["a"][0]['b c']"#).unwrap(),
            vec![
                PathElem::Key("a".into()),
                PathElem::Index(0),
                PathElem::Key("b c".into())
            ]
        );
        assert!(parse_path("a.b").is_err());
        assert!(parse_path(r#"["a""#).is_err());
        assert_eq!(
            format_path(&parse_path(r#"["x"][2]"#).unwrap()),
            r#"["x"][2]"#
        );
    }

    fn sample() -> Map {
        let mut db = Map::new();
        db.insert("user", Value::str("admin"));
        db.insert("password", Value::str("hunter2"));
        db.insert("port", Value::str("5432"));
        let mut root = Map::new();
        root.insert("db", Value::Map(db));
        root.insert("list", Value::List(vec![Value::str("a"), Value::str("b")]));
        root
    }

    #[test]
    fn missing_paths_name_siblings_closest_first_never_values() {
        let root = sample();
        let why = |p: &str| explain_missing(&root, &parse_path(p).unwrap());
        assert_eq!(
            why(r#"["db"]["pasword"]"#),
            r#"did you mean ["db"]["password"]? ["db"] has no key "pasword"; its keys, closest first: "password", "port", "user""#
        );
        assert_eq!(
            why(r#"["xyzzy"]"#),
            r#"the top level has no key "xyzzy"; its keys, closest first: "db", "list""#
        );
        assert_eq!(why(r#"["list"][2]"#), r#"["list"] has 2 items, [0] to [1]"#);
        assert!(why(r#"["db"]["user"]["x"]"#).ends_with("is a single value, not a mapping"));
        assert!(why(r#"["list"]["a"]"#).contains(r#"use an index, e.g. ["list"][0]"#));
        let msg = not_found_message(&root, &parse_path(r#"["db"]["usr"]"#).unwrap(), Some("x"));
        assert!(msg.starts_with(r#"["db"]["usr"] not found: did you mean ["db"]["user"]?"#));
        assert!(msg.ends_with(&format!("({PATH_SYNTAX}; x)")), "{msg}");
        for p in [
            r#"["db"]["pw"]"#,
            r#"["list"][9]"#,
            r#"["db"]["password"]["x"]"#,
        ] {
            assert!(!why(p).contains("hunter2") && !why(p).contains("admin"));
        }
        // Many siblings: a few named, the rest counted.
        let mut big = Map::new();
        for i in 0..30 {
            big.insert(format!("key{i}"), Value::Null);
        }
        let m = explain_missing(&big, &parse_path(r#"["key3x"]"#).unwrap());
        assert!(
            m.starts_with(r#"did you mean ["key3"]?"#) && m.ends_with(" and 25 more"),
            "{m}"
        );
        assert_eq!(edit_distance("Password", "pasword"), 1);
    }

    #[test]
    fn set_errors_say_where_the_path_cannot_go() {
        let mut root = sample();
        let err = |root: &mut Map, p: &str| set_path(root, &parse_path(p).unwrap(), Value::Null);
        // Past the end appends, as sops does: two items and [5] make three.
        let mut appended = sample();
        assert!(err(&mut appended, r#"["list"][5]"#).unwrap());
        let Some(Value::List(l)) = appended.get("list") else {
            panic!("list")
        };
        assert_eq!(Value::list_values(l).count(), 3);
        assert_eq!(
            err(&mut root, r#"["db"]["user"]["x"]"#).unwrap_err(),
            r#"["db"]["user"] is a single value, not a mapping, so it cannot hold key "x""#
        );
        assert!(err(&mut root, r#"["list"][2]"#).unwrap());
    }

    #[test]
    fn syntax_hints_rewrite_dotted_paths() {
        assert!(syntax_hint("db.password").starts_with(r#"write it as ["db"]["password"];"#));
        assert!(syntax_hint("list.0.name").starts_with(r#"write it as ["list"][0]["name"];"#));
        assert_eq!(syntax_hint(r#"["a"#), PATH_SYNTAX);
        assert_eq!(syntax_hint("\"quoted value\""), PATH_SYNTAX);
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(1e21), "1000000000000000000000");
        assert_eq!(go_format_float(0.1), "0.1");
        assert_eq!(go_format_float(f64::INFINITY), "+Inf");
        assert_eq!(go_format_float(f64::NAN), "NaN");
        assert_eq!(go_format_float(-2.5e-7), "-0.00000025");
    }

    #[test]
    fn go_float_ties_are_go_s() {
        // Exactly halfway between ...382.2 and ...382.3: Go (and Ryū) choose the even digit.
        let tie: f64 = "-2110556351937382.25".parse().unwrap();
        assert_eq!(go_format_float(tie), "-2110556351937382.2");
        assert_eq!(go_format_float(0.0), "0");
        assert_eq!(go_format_float(-0.0), "-0");
        assert_eq!(go_format_float(1e-7), "0.0000001");
        assert_eq!(go_format_float(123.456), "123.456");
    }

    #[test]
    fn go_float_spellings() {
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(3.0), "3");
        assert_eq!(go_json_float(-0.0), "-0");
        assert_eq!(go_json_float(1e20), "100000000000000000000");
        assert_eq!(go_json_float(1.5e-300), "1.5e-300");
        assert_eq!(go_format_float_g(6.02e23), "6.02e+23");
        assert_eq!(go_format_float_g(1.5e-10), "1.5e-10");
        assert_eq!(go_format_float_g(1000.0), "1000");
        assert_eq!(go_format_float_g(0.0001), "0.0001");
        assert_eq!(go_format_float_g(0.00001), "1e-05");
        assert_eq!(go_format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(go_format_float_g(123456.0), "123456");
        assert_eq!(go_format_float_g(100000.5), "100000.5");
    }

    #[test]
    fn set_and_unset() {
        let mut m = Map::new();
        let p = parse_path(r#"["a"]["b"]"#).unwrap();
        assert!(set_path(&mut m, &p, Value::str("x")).unwrap());
        assert!(!set_path(&mut m, &p, Value::str("x")).unwrap());
        assert_eq!(lookup(&m, &p), Some(&Value::str("x")));
        assert!(unset_path(&mut m, &p).unwrap());
        assert!(!unset_path(&mut m, &p).unwrap());
        assert_eq!(lookup(&m, &p), None);
    }
}
