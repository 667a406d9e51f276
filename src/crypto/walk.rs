//! Walking a tree to encrypt or decrypt its leaves and compute the sops MAC.
//!
//! Owns: the depth-first traversal in document order, the AAD of every leaf (path components
//! joined by `:` plus a trailing `:`; list elements add nothing), the per-leaf rule decision with
//! its running state (path hits, comment stack), value-type conversions, and the SHA-512 MAC.
//! Must not know: file formats, metadata layout, key sources.

use aws_lc_rs::digest::{Context as Sha512, SHA512};

use super::cipher::{Cipher, CipherError, EncType, EncValue, is_enc};
use super::rules::{CommentRule, Rules};
use crate::secret::SecretBytes;
use crate::timestamp::Timestamp;
use crate::tree::{Comment, Entry, Kind, Map, Scalar, Style, Tree, Value, go_format_float};

/// SHA-256("sops"): the MAC prefix when `mac_only_encrypted` is set.
pub const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Why a leaf could not be processed. Names the leaf's path, never its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    #[error("value at {path} could not be decrypted: {source}")]
    Decrypt { path: String, source: CipherError },
    #[error(
        "value at {path} is stored in plaintext although the file's rules say it must be encrypted"
    )]
    NotEncrypted { path: String },
    #[error("value at {path} decrypted to an invalid {kind}")]
    BadPlaintext { path: String, kind: &'static str },
    #[error(
        "an encrypted comment at {path} matches unencrypted_comment_regex; choose a regex that cannot match ENC[...] text"
    )]
    CommentRegexMatchesCiphertext { path: String },
    #[error("value at {path} is not valid UTF-8 and cannot be written to a text format")]
    NotUtf8 { path: String },
    #[error(
        "value at {path} is an encrypted comment where a value belongs (sops never writes that)"
    )]
    CommentAsValue { path: String },
    #[error(
        "value at {path} is an integer beyond the 64-bit signed range, which sops cannot store; quote it to keep it as a string"
    )]
    IntOutOfRange { path: String },
}

impl TreeError {
    /// Integrity failures: the ciphertext was altered or the file's structure was tampered with.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            TreeError::Decrypt { .. }
                | TreeError::NotEncrypted { .. }
                | TreeError::BadPlaintext { .. }
                | TreeError::CommentAsValue { .. }
        )
    }
}

/// Running state of a walk.
struct Ctx<'r> {
    rules: &'r Rules,
    /// `a:b:` for path `[a, b]`; empty for the root (whose AAD is `:`).
    aad: String,
    /// AAD length before each pushed component, and whether that component hit the path rule.
    marks: Vec<(usize, bool)>,
    hits: usize,
    /// Comment texts seen at each level since the last non-comment item (only kept when a
    /// comment rule is active).
    comments: Vec<Vec<String>>,
    hasher: Sha512,
}

impl<'r> Ctx<'r> {
    fn new(rules: &'r Rules) -> Self {
        // AWS-LC's SHA-512 (assembly): 1.5x the `sha2` crate's speed on the MAC, which hashes
        // every plaintext value of a file.
        let mut hasher = Sha512::new(&SHA512);
        if rules.mac_only_encrypted {
            hasher.update(&MAC_ONLY_ENCRYPTED_INIT);
        }
        Ctx {
            rules,
            aad: String::new(),
            marks: Vec::new(),
            hits: 0,
            comments: Vec::new(),
            hasher,
        }
    }

    fn aad(&self) -> &str {
        if self.aad.is_empty() { ":" } else { &self.aad }
    }

    /// AADs of the current path and each ancestor, innermost first (for comment probing).
    fn ancestor_aads(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .marks
            .iter()
            .rev()
            .map(|(start, _)| {
                if *start == 0 {
                    ":".to_owned()
                } else {
                    self.aad[..*start].to_owned()
                }
            })
            .collect();
        out.dedup();
        out
    }

    fn path_display(&self) -> String {
        let mut out = String::new();
        for (i, (start, _)) in self.marks.iter().enumerate() {
            let end = self.marks.get(i + 1).map(|m| m.0).unwrap_or(self.aad.len());
            let comp = &self.aad[*start..end - 1];
            out.push_str(&format!("[{}]", serde_json::Value::String(comp.to_owned())));
        }
        if out.is_empty() {
            "the document root".to_owned()
        } else {
            out
        }
    }

    /// The last key of the current path.
    fn last_key(&self) -> Option<&str> {
        let (start, _) = self.marks.last()?;
        Some(&self.aad[*start..self.aad.len() - 1])
    }

    fn push_key(&mut self, key: &str) {
        let hit = self
            .rules
            .path
            .as_ref()
            .is_some_and(|r| r.component_hits(key));
        self.marks.push((self.aad.len(), hit));
        self.hits += usize::from(hit);
        self.aad.push_str(key);
        self.aad.push(':');
    }

    fn pop_key(&mut self) {
        let (start, hit) = self.marks.pop().expect("balanced push/pop");
        self.hits -= usize::from(hit);
        self.aad.truncate(start);
    }

    fn tracking_comments(&self) -> bool {
        self.rules.comment.is_some()
    }

    fn note_comment(&mut self, text: &SecretBytes) {
        if self.tracking_comments()
            && let Some(level) = self.comments.last_mut()
        {
            level.push(String::from_utf8_lossy(text.expose()).into_owned());
        }
    }

    fn clear_level(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    /// sops's `shouldBeEncrypted`.
    fn should_encrypt(&self, is_comment: bool) -> bool {
        let mut encrypted = true;
        if let Some(rule) = &self.rules.path {
            encrypted = rule.encrypts(self.hits);
        }
        match &self.rules.comment {
            None => {}
            Some(CommentRule::Unencrypted(re))
                if self.comments.iter().flatten().any(|c| re.is_match(c)) =>
            {
                encrypted = false;
            }
            Some(CommentRule::Unencrypted(_)) => {}
            Some(CommentRule::Encrypted(re)) => {
                let levels = self.comments.len();
                encrypted = self.comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // The marker comment itself stays plaintext.
                        let is_self = is_comment && i + 1 == levels && j + 1 == level.len();
                        !is_self && re.is_match(c)
                    })
                });
            }
        }
        encrypted
    }

    fn hash(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    fn finish(self) -> String {
        hex_upper(self.hasher.finish().as_ref())
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// What a leaf visitor sees.
enum Leaf<'a> {
    /// A value; `true` when it is a list element (only there may a comment be stored as one).
    Value(&'a mut Value, bool),
    Comment(&'a mut Comment),
}

/// The end of the run of inline comments (`key: value # note`) that follows the item at `i`.
///
/// The YAML store keeps such a comment after its item, where the writer puts it back on the
/// item's line; sops attaches it to that item and walks it BEFORE the item (go-yaml's line
/// comment, appended ahead of the key), so a marker there selects the item on its own line.
fn inline_run_end(n: usize, i: usize, is_inline: impl Fn(usize) -> bool) -> usize {
    let mut j = i + 1;
    while j < n && is_inline(j) {
        j += 1;
    }
    j
}

fn walk_map<F>(m: &mut Map, ctx: &mut Ctx, f: &mut F) -> Result<(), TreeError>
where
    F: FnMut(Leaf<'_>, &mut Ctx) -> Result<(), TreeError>,
{
    ctx.comments.push(Vec::new());
    let n = m.entries.len();
    let mut i = 0;
    while i < n {
        if let Entry::Comment(c) = &mut m.entries[i] {
            ctx.note_comment(&c.text);
            f(Leaf::Comment(c), ctx)?;
            i += 1;
            continue;
        }
        let end = inline_run_end(
            n,
            i,
            |j| matches!(&m.entries[j], Entry::Comment(c) if c.inline),
        );
        let (item, inline) = m.entries[i..end].split_at_mut(1);
        for entry in inline {
            if let Entry::Comment(c) = entry {
                ctx.note_comment(&c.text);
                f(Leaf::Comment(c), ctx)?;
            }
        }
        if let Entry::Pair(k, v) = &mut item[0] {
            ctx.push_key(k);
            walk_value(v, false, ctx, f)?;
            ctx.pop_key();
            ctx.clear_level();
        }
        i = end;
    }
    ctx.comments.pop();
    Ok(())
}

fn walk_value<F>(v: &mut Value, in_list: bool, ctx: &mut Ctx, f: &mut F) -> Result<(), TreeError>
where
    F: FnMut(Leaf<'_>, &mut Ctx) -> Result<(), TreeError>,
{
    match v {
        Value::Null => Ok(()),
        Value::Scalar(_) => f(Leaf::Value(v, in_list), ctx),
        Value::Map(m) => walk_map(m, ctx, f),
        Value::Comment(c) => f(Leaf::Comment(c), ctx),
        Value::List(items) => {
            ctx.comments.push(Vec::new());
            let n = items.len();
            let mut i = 0;
            while i < n {
                if let Value::Comment(c) = &items[i] {
                    ctx.note_comment(&c.text);
                    walk_value(&mut items[i], true, ctx, f)?;
                    i += 1;
                    continue;
                }
                let end =
                    inline_run_end(n, i, |j| matches!(&items[j], Value::Comment(c) if c.inline));
                let (item, inline) = items[i..end].split_at_mut(1);
                for comment in inline {
                    if let Value::Comment(c) = comment {
                        ctx.note_comment(&c.text);
                    }
                    walk_value(comment, true, ctx, f)?;
                }
                walk_value(&mut item[0], true, ctx, f)?;
                ctx.clear_level();
                i = end;
            }
            ctx.comments.pop();
            Ok(())
        }
    }
}

fn walk_tree<F>(tree: &mut Tree, ctx: &mut Ctx, mut f: F) -> Result<(), TreeError>
where
    F: FnMut(Leaf<'_>, &mut Ctx) -> Result<(), TreeError>,
{
    for branch in &mut tree.branches {
        walk_map(branch, ctx, &mut f)?;
    }
    Ok(())
}

/// Refuses a leaf sops cannot store: an integer beyond the 64-bit signed range (sops refuses
/// such files; written anyway, neither tool could read the value back).
fn check_storable(s: &Scalar, ctx: &Ctx) -> Result<(), TreeError> {
    if s.kind == Kind::Int
        && s.value
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .is_none()
    {
        return Err(TreeError::IntOutOfRange {
            path: ctx.path_display(),
        });
    }
    Ok(())
}

/// Encrypts every leaf the rules select, in place, and returns the MAC (uppercase hex SHA-512
/// over the plaintext leaves) to be stored with [`encrypt_mac`].
pub fn encrypt_tree(
    tree: &mut Tree,
    cipher: &mut Cipher,
    rules: &Rules,
) -> Result<String, TreeError> {
    let mut ctx = Ctx::new(rules);
    walk_tree(tree, &mut ctx, |leaf, ctx| {
        match leaf {
            Leaf::Value(v, _) => {
                let Value::Scalar(s) = v else { return Ok(()) };
                check_storable(s, ctx)?;
                let encrypted = ctx.should_encrypt(false);
                if encrypted {
                    ctx.hash(s.bytes());
                } else if !ctx.rules.mac_only_encrypted {
                    ctx.hash(s.plain_mac_bytes());
                }
                if encrypted && !s.is_empty_string() {
                    let enc = cipher.encrypt(s.bytes(), EncType::Value(s.kind), ctx.aad());
                    *s = Scalar::string(enc).with_style(Style::Plain);
                }
            }
            Leaf::Comment(c) => {
                if ctx.should_encrypt(true) && !c.text.is_empty() {
                    let enc = cipher.encrypt(c.text.expose(), EncType::Comment, ctx.aad());
                    if let Some(CommentRule::Unencrypted(re)) = &ctx.rules.comment
                        && re.is_match(&enc)
                    {
                        return Err(TreeError::CommentRegexMatchesCiphertext {
                            path: ctx.path_display(),
                        });
                    }
                    c.text = SecretBytes::from(enc);
                }
            }
        }
        Ok(())
    })?;
    Ok(ctx.finish())
}

/// The outcome of decrypting a tree.
#[derive(Debug)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted leaves (uppercase hex).
    pub mac: String,
    /// Encrypted comments that no AAD could open; left as they were (sops does the same).
    pub undecryptable_comments: usize,
}

/// Converts decrypted plaintext of type `kind` into its canonical sops bytes (what `ToBytes`
/// would produce after sops decodes it), or `None` when it is not a valid value of that kind.
fn canonical(kind: Kind, plain: SecretBytes) -> Option<SecretBytes> {
    let text = || plain.as_str();
    Some(match kind {
        Kind::Str | Kind::Bytes => return Some(plain),
        Kind::Int => {
            let t = text()?;
            let n: i64 = t.parse().ok()?;
            let c = n.to_string();
            if c == t {
                return Some(plain);
            }
            SecretBytes::from(c)
        }
        Kind::Float => {
            let t = text()?;
            let f: f64 = match t {
                "+Inf" | "Inf" | "inf" | "+inf" => f64::INFINITY,
                "-Inf" | "-inf" => f64::NEG_INFINITY,
                "NaN" | "nan" => f64::NAN,
                _ => t.parse().ok()?,
            };
            SecretBytes::from(go_format_float(f))
        }
        Kind::Bool => SecretBytes::from(if crate::tree::parse_go_bool(text()?)? {
            "True"
        } else {
            "False"
        }),
        Kind::Time => SecretBytes::from(Timestamp::parse_rfc3339(text()?)?.to_rfc3339_nano()),
    })
}

/// Decrypts every leaf the rules select, in place, and recomputes the MAC.
///
/// A value that fails to decrypt fails the whole tree (fail closed). An encrypted comment that
/// fails with its own path's AAD is retried with each ancestor's AAD (parsers attach comments
/// differently) and is otherwise left untouched.
pub fn decrypt_tree(
    tree: &mut Tree,
    cipher: &mut Cipher,
    rules: &Rules,
) -> Result<Decrypted, TreeError> {
    let mut ctx = Ctx::new(rules);
    let mut undecryptable = 0usize;
    walk_tree(tree, &mut ctx, |leaf, ctx| {
        match leaf {
            Leaf::Value(v, in_list) => {
                let encrypted = ctx.should_encrypt(false);
                let Value::Scalar(s) = v else { return Ok(()) };
                if encrypted && !s.is_empty_string() {
                    if s.kind != Kind::Str || !is_enc(s.bytes()) {
                        return Err(TreeError::NotEncrypted {
                            path: ctx.path_display(),
                        });
                    }
                    // ENC values are ASCII; a byte outside a field's alphabet fails the parse.
                    let (ty, plain) =
                        cipher
                            .decrypt_bytes(s.bytes(), ctx.aad())
                            .map_err(|source| TreeError::Decrypt {
                                path: ctx.path_display(),
                                source,
                            })?;
                    match ty {
                        EncType::Comment if in_list => {
                            *v = Value::Comment(Comment::new(plain, false));
                            return Ok(());
                        }
                        EncType::Comment => {
                            return Err(TreeError::CommentAsValue {
                                path: ctx.path_display(),
                            });
                        }
                        EncType::Value(kind) => {
                            let value =
                                canonical(kind, plain).ok_or_else(|| TreeError::BadPlaintext {
                                    path: ctx.path_display(),
                                    kind: kind.tag(),
                                })?;
                            *s = Scalar::new(kind, value);
                        }
                    }
                }
                if encrypted {
                    ctx.hash(s.bytes());
                } else if !ctx.rules.mac_only_encrypted {
                    ctx.hash(s.plain_mac_bytes());
                }
            }
            Leaf::Comment(c) => {
                if ctx.should_encrypt(true) && is_enc(c.text.expose()) {
                    let parsed = c.text.as_str().and_then(|t| EncValue::parse(t).ok());
                    // The comment's own path first (what shroud and sops write); the
                    // ancestors' AADs are only listed when that fails.
                    let opened = parsed.as_ref().and_then(|p| {
                        let own = ctx.aad();
                        match cipher.decrypt_parsed(p, own) {
                            Ok(t) => Some((t, own.to_owned())),
                            Err(_) => ctx.ancestor_aads().into_iter().find_map(|aad| {
                                cipher.decrypt_parsed(p, &aad).ok().map(|t| (t, aad))
                            }),
                        }
                    });
                    match (opened, parsed) {
                        (Some((text, aad)), Some(p)) => {
                            cipher.remember(&p, &text, &aad);
                            c.text = text;
                        }
                        _ => undecryptable += 1,
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(Decrypted {
        mac: ctx.finish(),
        undecryptable_comments: undecryptable,
    })
}

/// One leaf of a tree and what the rules decide for it (see [`decide`]).
#[derive(Debug)]
pub struct Decision {
    /// The leaf's path as sops prints it (`["a"][0]["b"]`).
    pub path: String,
    /// The last mapping key on the path (for locating the leaf in the source text).
    pub key: Option<String>,
    /// A comment rather than a value.
    pub comment: bool,
    /// Whether the rules say this leaf is stored encrypted.
    pub encrypt: bool,
    /// The leaf's bytes: a scalar's canonical bytes, or the comment text.
    pub bytes: SecretBytes,
}

impl Decision {
    /// A leaf the rules want encrypted that is stored in plaintext (empty strings are never
    /// encrypted by sops, so they do not count).
    pub(crate) fn is_plaintext_violation(&self) -> bool {
        self.encrypt && !self.bytes.is_empty() && !is_enc(self.bytes.expose())
    }
}

/// sops's per-leaf decision (`shouldBeEncrypted`) for every leaf of `tree`, in document order,
/// without encrypting anything. The one place outside the cipher walk that asks "which leaves
/// are encrypted": the scanner and the auditor use it on plaintext and on sops files alike.
pub fn decide(tree: &Tree, rules: &Rules) -> Vec<Decision> {
    let mut copy = tree.clone();
    let mut ctx = Ctx::new(rules);
    let mut out = Vec::new();
    let _ = walk_tree(&mut copy, &mut ctx, |leaf, ctx| {
        let (comment, bytes) = match leaf {
            Leaf::Value(Value::Scalar(s), _) => (false, s.value.clone()),
            Leaf::Value(..) => return Ok(()),
            Leaf::Comment(c) => (true, c.text.clone()),
        };
        out.push(Decision {
            path: ctx.path_display(),
            key: ctx.last_key().map(str::to_owned),
            comment,
            encrypt: ctx.should_encrypt(comment),
            bytes,
        });
        Ok(())
    });
    out
}

/// Computes the MAC of a plaintext tree without changing it.
pub fn mac_of_plain(tree: &Tree, rules: &Rules) -> String {
    let mut copy = tree.clone();
    let mut ctx = Ctx::new(rules);
    let _ = walk_tree(&mut copy, &mut ctx, |leaf, ctx| {
        if let Leaf::Value(Value::Scalar(s), _) = leaf {
            let encrypted = ctx.should_encrypt(false);
            if encrypted {
                ctx.hash(s.bytes());
            } else if !ctx.rules.mac_only_encrypted {
                ctx.hash(s.plain_mac_bytes());
            }
        }
        Ok(())
    });
    ctx.finish()
}

/// Encrypts the MAC with the `lastmodified` text as AAD.
pub fn encrypt_mac(cipher: &mut Cipher, mac_hex: &str, lastmodified: &str) -> String {
    cipher.encrypt(mac_hex.as_bytes(), EncType::Value(Kind::Str), lastmodified)
}

/// Decrypts a stored MAC.
pub fn decrypt_mac(
    cipher: &mut Cipher,
    enc: &str,
    lastmodified: &str,
) -> Result<String, CipherError> {
    let (_, plain) = cipher.decrypt(enc, lastmodified)?;
    Ok(String::from_utf8_lossy(plain.expose()).into_owned())
}

/// Constant-time comparison of two MACs (case-insensitive hex).
pub fn macs_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    let a = a.to_ascii_uppercase();
    let b = b.to_ascii_uppercase();
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rules::RuleSpec;
    use crate::secret::DataKey;

    fn sample() -> Tree {
        let mut inner = Map::new();
        inner.insert("user", Value::str("admin"));
        inner
            .entries
            .push(Entry::Comment(Comment::new(" note", false)));
        inner.insert("port", Value::Scalar(Scalar::int(5432)));
        let mut root = Map::new();
        root.insert("db", Value::Map(inner));
        root.insert("plain_unencrypted", Value::str("visible"));
        root.insert(
            "list",
            Value::List(vec![
                Value::Scalar(Scalar::bool(true)),
                Value::Null,
                Value::str(""),
                Value::Comment(Comment::new(" in list", false)),
            ]),
        );
        Tree {
            branches: vec![root],
            ..Default::default()
        }
    }

    #[test]
    fn encrypt_then_decrypt_restores_tree_and_mac() {
        let key = DataKey::generate();
        let rules = Rules::default_rules();
        let original = sample();
        let mut t = original.clone();
        let mut c = Cipher::new(&key);
        let mac = encrypt_tree(&mut t, &mut c, &rules).unwrap();
        assert_eq!(mac, mac_of_plain(&original, &rules));
        assert_ne!(t, original);
        let root = &t.branches[0];
        assert_eq!(root.get("plain_unencrypted"), Some(&Value::str("visible")));
        let mut c2 = Cipher::new(&key);
        let d = decrypt_tree(&mut t, &mut c2, &rules).unwrap();
        assert_eq!(d.mac, mac);
        assert_eq!(d.undecryptable_comments, 0);
        assert_eq!(t, original);
    }

    #[test]
    fn moved_value_fails_its_tag() {
        let key = DataKey::generate();
        let rules = Rules::default_rules();
        let mut t = sample();
        encrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap();
        let db = t.branches[0].get("db").unwrap().clone();
        let user = db.as_map().unwrap().get("user").unwrap().clone();
        t.branches[0].insert("moved", user);
        let err = decrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap_err();
        assert!(err.is_integrity());
        assert!(err.to_string().contains(r#"["moved"]"#));
        assert!(!err.to_string().contains("admin"));
    }

    #[test]
    fn encrypted_comment_regex_keeps_marker_plain() {
        let rules = RuleSpec {
            encrypted_comment_regex: Some("sops:enc".into()),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let mut root = Map::new();
        root.insert("a", Value::str("clear"));
        root.entries
            .push(Entry::Comment(Comment::new(" sops:enc", false)));
        root.insert("b", Value::str("secret"));
        let mut t = Tree {
            branches: vec![root],
            ..Default::default()
        };
        let key = DataKey::generate();
        encrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap();
        let root = &t.branches[0];
        assert_eq!(root.get("a"), Some(&Value::str("clear")));
        assert!(matches!(&root.entries[1], Entry::Comment(c) if c.text.expose() == b" sops:enc"));
        assert!(is_enc(root.get("b").unwrap().as_scalar().unwrap().bytes()));
    }

    #[test]
    fn mac_compare_is_exact() {
        assert!(macs_equal("ABCD", "abcd"));
        assert!(!macs_equal("ABCD", "ABCE"));
        assert!(!macs_equal("ABCD", "ABC"));
    }
}
