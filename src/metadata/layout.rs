//! On-disk layouts of the `sops` block.
//!
//! Owns: reading every historical layout (sops 3.2 to 3.13: any field order, empty lists as
//! `[]`/`null`/absent, quoted or unquoted timestamps, dotenv `sops_*` and INI `[sops]`
//! flattening with `__map_`/`__list_N`, INI `\n` or triple-quoted newlines) and writing the
//! current sops layout (alphabetical keys, empty lists omitted).
//! Must not know: cryptography or how keys are unwrapped.

use super::envelope::{AgeKey, KmsKey, MasterKey, OtherKey, PgpKey};
use super::kind::{KINDS, KeyKind};
use super::{KeyGroup, Metadata, MetadataError};
use crate::crypto::RuleSpec;
use crate::store::Format;
use crate::tree::{Entry, Kind, Map, Scalar, Style, Tree, Value};

const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";
const DOTENV_PREFIX: &str = "sops_";

/// Removes the metadata from a parsed file and returns it as a mapping (unflattened for dotenv
/// and INI). `Ok(None)` when the file has no metadata; an error when flattened keys are
/// malformed (a list index no file could have).
pub fn split(format: Format, tree: &mut Tree) -> Result<Option<Map>, MetadataError> {
    Ok(match format {
        Format::Yaml | Format::Json | Format::Binary => {
            let mut found = None;
            for (i, branch) in tree.branches.iter_mut().enumerate() {
                let removed = branch.remove("sops");
                if i == 0 {
                    found = removed;
                }
            }
            match found {
                None => None,
                Some(Value::Map(m)) => Some(m),
                Some(_) => Some(Map::new()),
            }
        }
        Format::Dotenv => {
            let Some(branch) = tree.branches.first_mut() else {
                return Ok(None);
            };
            let mut flat = Vec::new();
            branch.entries.retain(|e| match e {
                Entry::Pair(k, v) if k.starts_with(DOTENV_PREFIX) => {
                    flat.push((k[DOTENV_PREFIX.len()..].to_owned(), v.clone()));
                    false
                }
                _ => true,
            });
            if flat.is_empty() {
                None
            } else {
                Some(unflatten(flat, false)?)
            }
        }
        Format::Ini => {
            let Some(branch) = tree.branches.first_mut() else {
                return Ok(None);
            };
            match branch.remove("sops") {
                None => None,
                Some(Value::Map(m)) => {
                    let flat = m.pairs().map(|(k, v)| (k.clone(), v.clone())).collect();
                    Some(unflatten(flat, true)?)
                }
                Some(_) => Some(Map::new()),
            }
        }
    })
}

/// Whether a `sops` mapping is sops metadata rather than user data that happens to use the
/// key: it has at least one field sops writes.
pub(crate) fn looks_like_metadata(m: &Map) -> bool {
    const FIELDS: [&str; 10] = [
        "mac",
        "lastmodified",
        "version",
        "key_groups",
        "shamir_threshold",
        "encrypted_regex",
        "unencrypted_regex",
        "encrypted_suffix",
        "unencrypted_suffix",
        "mac_only_encrypted",
    ];
    FIELDS
        .iter()
        .chain(KINDS.iter().map(|k| &k.field))
        .any(|f| m.get(f).is_some())
}

/// Adds the metadata to a tree about to be written.
pub fn join(format: Format, tree: &mut Tree, meta: Map) {
    match format {
        Format::Yaml => {
            if tree.branches.is_empty() {
                tree.branches.push(Map::new());
            }
            for branch in &mut tree.branches {
                branch.insert("sops", Value::Map(meta.clone()));
            }
        }
        Format::Json | Format::Binary => {
            if tree.branches.is_empty() {
                tree.branches.push(Map::new());
            }
            tree.branches[0].insert("sops", Value::Map(meta));
        }
        Format::Dotenv => {
            let mut flat = Vec::new();
            flatten(&Value::Map(meta), String::new(), &mut flat);
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            if tree.branches.is_empty() {
                tree.branches.push(Map::new());
            }
            for (k, v) in flat {
                tree.branches[0].insert(format!("{DOTENV_PREFIX}{k}"), Value::str(&v));
            }
        }
        Format::Ini => {
            let mut flat = Vec::new();
            flatten(&Value::Map(meta), String::new(), &mut flat);
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            let mut section = Map::new();
            for (k, v) in flat {
                section.insert(k, Value::str(&v.replace('\n', "\\n")));
            }
            if tree.branches.is_empty() {
                tree.branches.push(Map::new());
            }
            tree.branches[0].insert("sops", Value::Map(section));
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Scalar(s) if s.kind == Kind::Bool => {
            if s.as_bool() == Some(true) {
                "true".into()
            } else {
                "false".into()
            }
        }
        other => other.as_text().unwrap_or_default(),
    }
}

fn flatten(v: &Value, prefix: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Map(m) => {
            for (k, v) in m.pairs() {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}{MAP_SEP}{k}")
                };
                flatten(v, key, out);
            }
        }
        Value::List(l) => {
            for (i, v) in l.iter().enumerate() {
                flatten(v, format!("{prefix}{LIST_SEP}{i}"), out);
            }
        }
        Value::Null | Value::Comment(_) => {}
        other => out.push((prefix, scalar_text(other))),
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(flat_key: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut rest = flat_key;
    let mut current_is_key = true;
    loop {
        let next_map = rest.find(MAP_SEP);
        let next_list = rest.find(LIST_SEP);
        let (cut, sep_is_map) = match (next_map, next_list) {
            (None, None) => (None, false),
            (Some(m), None) => (Some(m), true),
            (None, Some(l)) => (Some(l), false),
            (Some(m), Some(l)) => {
                if m < l {
                    (Some(m), true)
                } else {
                    (Some(l), false)
                }
            }
        };
        let head = match cut {
            Some(c) => &rest[..c],
            None => rest,
        };
        if current_is_key {
            segs.push(Seg::Key(head.to_owned()));
        } else {
            match head.parse() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => segs.push(Seg::Key(head.to_owned())),
            }
        }
        match cut {
            None => break,
            Some(c) => {
                let sep = if sep_is_map { MAP_SEP } else { LIST_SEP };
                rest = &rest[c + sep.len()..];
                current_is_key = sep_is_map;
            }
        }
    }
    segs
}

/// Sets the value at `segs` below `slot`. List indices beyond `max_index` are refused: a file
/// with `n` flattened entries cannot describe a list longer than `n`, and an index such as
/// `__list_99999999999` must not allocate a vector of that size.
fn insert_flat(
    slot: &mut Value,
    segs: &[Seg],
    value: Value,
    max_index: usize,
) -> Result<(), MetadataError> {
    let Some((first, rest)) = segs.split_first() else {
        *slot = value;
        return Ok(());
    };
    match first {
        Seg::Key(k) => {
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::Map(Map::new());
            }
            let Value::Map(m) = slot else {
                return Ok(());
            };
            if m.get(k).is_none() {
                m.insert(k.clone(), Value::Null);
            }
            match m.get_mut(k) {
                Some(next) => insert_flat(next, rest, value, max_index),
                None => Ok(()),
            }
        }
        Seg::Index(i) => {
            if *i > max_index {
                return Err(invalid(
                    "flattened keys",
                    format!("list index {i} is larger than the file could hold"),
                ));
            }
            if !matches!(slot, Value::List(_)) {
                *slot = Value::List(Vec::new());
            }
            let Value::List(l) = slot else {
                return Ok(());
            };
            while l.len() <= *i {
                l.push(Value::Null);
            }
            insert_flat(&mut l[*i], rest, value, max_index)
        }
    }
}

fn unflatten(flat: Vec<(String, Value)>, ini_newlines: bool) -> Result<Map, MetadataError> {
    let mut root = Value::Map(Map::new());
    let max_index = flat.len();
    for (k, v) in flat {
        let v = match v {
            Value::Scalar(s) if ini_newlines => {
                let text = s.text().replace("\\n", "\n");
                Value::str(&text)
            }
            other => other,
        };
        insert_flat(&mut root, &segments(&k), v, max_index)?;
    }
    Ok(match root {
        Value::Map(m) => m,
        _ => Map::new(),
    })
}

fn invalid(field: &str, message: impl Into<String>) -> MetadataError {
    MetadataError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn text_field(m: &Map, field: &str) -> Option<String> {
    match m.get(field)? {
        Value::Null => None,
        v => v.as_text().filter(|s| !s.is_empty()),
    }
}

fn list_field<'a>(m: &'a Map, field: &str) -> Result<Vec<&'a Map>, MetadataError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(l)) => l
            .iter()
            .filter(|v| !matches!(v, Value::Null | Value::Comment(_)))
            .map(|v| {
                v.as_map()
                    .ok_or_else(|| invalid(field, "entries must be mappings"))
            })
            .collect(),
        Some(_) => Err(invalid(field, "must be a list")),
    }
}

fn context_field(m: &Map) -> Result<Vec<(String, String)>, MetadataError> {
    match m.get("context") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Map(c)) => Ok(c
            .pairs()
            .map(|(k, v)| (k.clone(), v.as_text().unwrap_or_default()))
            .collect()),
        Some(_) => Err(invalid("kms.context", "must be a mapping")),
    }
}

fn parse_group(m: &Map, where_: &str) -> Result<KeyGroup, MetadataError> {
    let mut keys = Vec::new();
    for field in KINDS.iter().map(|k| k.field) {
        for entry in list_field(m, field)? {
            let req = |name: &str| {
                text_field(entry, name).ok_or_else(|| {
                    invalid(
                        &format!("{where_}{field}"),
                        format!("an entry has no {name}"),
                    )
                })
            };
            keys.push(match field {
                "age" => MasterKey::Age(AgeKey {
                    recipient: req("recipient")?,
                    enc: req("enc")?,
                }),
                "kms" => MasterKey::Kms(KmsKey {
                    arn: req("arn")?,
                    role: text_field(entry, "role"),
                    context: context_field(entry)?,
                    aws_profile: text_field(entry, "aws_profile"),
                    created_at: text_field(entry, "created_at").unwrap_or_default(),
                    enc: req("enc")?,
                }),
                "pgp" => MasterKey::Pgp(PgpKey {
                    fp: req("fp")?,
                    created_at: text_field(entry, "created_at").unwrap_or_default(),
                    enc: req("enc")?,
                }),
                other => MasterKey::Other(OtherKey {
                    kind: KeyKind::from_field(other).expect("KINDS lists every field"),
                    fields: entry.clone(),
                }),
            });
        }
    }
    Ok(KeyGroup { keys })
}

fn bool_field(m: &Map, field: &str) -> Result<bool, MetadataError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Scalar(s)) if s.kind == Kind::Bool => Ok(s.as_bool() == Some(true)),
        Some(v) => match v.as_text().as_deref() {
            Some("true" | "True" | "TRUE") => Ok(true),
            Some("false" | "False" | "FALSE" | "") => Ok(false),
            _ => Err(invalid(field, "must be true or false")),
        },
    }
}

/// Whether `v` is a version sops accepts: semver `MAJOR.MINOR.PATCH`, numbers without leading
/// zeros, an optional `-prerelease` and `+build` (sops refuses anything else).
pub(crate) fn valid_version(v: &str) -> bool {
    let core = v.split_once('+').map_or(v, |(c, _)| c);
    let core = core.split_once('-').map_or(core, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// Reads the `sops` mapping in any historical layout.
pub fn parse(m: &Map) -> Result<Metadata, MetadataError> {
    let mut groups = Vec::new();
    for (i, g) in list_field(m, "key_groups")?.into_iter().enumerate() {
        groups.push(parse_group(g, &format!("key_groups[{i}]."))?);
    }
    if groups.is_empty() {
        groups.push(parse_group(m, "")?);
    }
    let shamir_threshold = match text_field(m, "shamir_threshold") {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| invalid("shamir_threshold", "must be a whole number"))?,
    };
    let rules = RuleSpec {
        unencrypted_suffix: text_field(m, "unencrypted_suffix"),
        encrypted_suffix: text_field(m, "encrypted_suffix"),
        unencrypted_regex: text_field(m, "unencrypted_regex"),
        encrypted_regex: text_field(m, "encrypted_regex"),
        unencrypted_comment_regex: text_field(m, "unencrypted_comment_regex"),
        encrypted_comment_regex: text_field(m, "encrypted_comment_regex"),
        mac_only_encrypted: bool_field(m, "mac_only_encrypted")?,
    };
    rules
        .compile()
        .map_err(|e| invalid("encryption rules", e.to_string()))?;
    let lastmodified = text_field(m, "lastmodified").unwrap_or_default();
    if !lastmodified.is_empty()
        && crate::timestamp::Timestamp::parse_rfc3339(&lastmodified).is_none()
    {
        return Err(invalid(
            "lastmodified",
            "is not an RFC 3339 time (sops refuses such a file)",
        ));
    }
    let version = text_field(m, "version");
    if let Some(v) = &version
        && !valid_version(v)
    {
        return Err(invalid(
            "version",
            "is not a MAJOR.MINOR.PATCH version (sops refuses such a file)",
        ));
    }
    Ok(Metadata {
        key_groups: groups,
        shamir_threshold,
        lastmodified,
        mac: text_field(m, "mac"),
        rules,
        version,
    })
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn sorted_map(mut pairs: Vec<(&str, Value)>) -> Map {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    m
}

fn key_entry(k: &MasterKey) -> (&str, Value) {
    match k {
        MasterKey::Age(a) => (
            "age",
            Value::Map(sorted_map(vec![
                ("recipient", s(&a.recipient)),
                ("enc", s(&a.enc)),
            ])),
        ),
        MasterKey::Pgp(p) => (
            "pgp",
            Value::Map(sorted_map(vec![
                ("created_at", s(&p.created_at)),
                ("enc", s(&p.enc)),
                ("fp", s(&p.fp)),
            ])),
        ),
        MasterKey::Kms(k) => {
            let mut f = vec![
                ("arn", s(&k.arn)),
                ("created_at", s(&k.created_at)),
                ("enc", s(&k.enc)),
            ];
            if let Some(r) = &k.role {
                f.push(("role", s(r)));
            }
            if let Some(p) = &k.aws_profile {
                f.push(("aws_profile", s(p)));
            }
            if !k.context.is_empty() {
                let mut ctx: Vec<(&str, Value)> =
                    k.context.iter().map(|(a, b)| (a.as_str(), s(b))).collect();
                ctx.sort_by(|a, b| a.0.cmp(b.0));
                let mut cm = Map::new();
                for (a, b) in ctx {
                    cm.insert(a, b);
                }
                f.push(("context", Value::Map(cm)));
            }
            ("kms", Value::Map(sorted_map(f)))
        }
        MasterKey::Other(o) => (o.kind.field(), Value::Map(o.fields.clone())),
    }
}

fn group_fields(g: &KeyGroup) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    for field in KINDS.iter().map(|k| k.field) {
        let entries: Vec<Value> = g
            .keys
            .iter()
            .map(key_entry)
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| v)
            .collect();
        if !entries.is_empty() {
            out.push((field, Value::List(entries)));
        }
    }
    out
}

/// Writes metadata in the sops ≥ 3.13 layout: keys sorted at every level, empty lists omitted.
pub fn to_map(md: &Metadata) -> Map {
    let mut f: Vec<(&str, Value)> = Vec::new();
    if md.key_groups.len() > 1 {
        let groups = md
            .key_groups
            .iter()
            .map(|g| Value::Map(sorted_map(group_fields(g))))
            .collect();
        f.push(("key_groups", Value::List(groups)));
        f.push((
            "shamir_threshold",
            Value::Scalar(Scalar::int(md.threshold() as i64)),
        ));
    } else if let Some(g) = md.key_groups.first() {
        f.extend(group_fields(g));
        // sops records a threshold it was given even for one group (which is not split).
        if md.shamir_threshold > 0 {
            f.push((
                "shamir_threshold",
                Value::Scalar(Scalar::int(md.shamir_threshold as i64)),
            ));
        }
    }
    let mut lm = Scalar::string(md.lastmodified.as_str());
    lm.style = Style::Double;
    f.push(("lastmodified", Value::Scalar(lm)));
    if let Some(mac) = &md.mac {
        f.push(("mac", s(mac)));
    }
    let r = &md.rules;
    for (name, v) in [
        ("unencrypted_suffix", &r.unencrypted_suffix),
        ("encrypted_suffix", &r.encrypted_suffix),
        ("unencrypted_regex", &r.unencrypted_regex),
        ("encrypted_regex", &r.encrypted_regex),
        ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
        ("encrypted_comment_regex", &r.encrypted_comment_regex),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            f.push((name, s(v)));
        }
    }
    if r.mac_only_encrypted {
        f.push(("mac_only_encrypted", Value::Scalar(Scalar::bool(true))));
    }
    f.push((
        "version",
        s(md.version.as_deref().unwrap_or(super::SOPS_LAYOUT_VERSION)),
    ));
    sorted_map(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_round_trip() {
        let mut entry = Map::new();
        entry.insert(
            "enc",
            s("-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n"),
        );
        entry.insert("recipient", s("age1xyz"));
        let mut meta = Map::new();
        meta.insert("age", Value::List(vec![Value::Map(entry)]));
        meta.insert("lastmodified", s("2024-01-01T00:00:00Z"));
        meta.insert("mac_only_encrypted", Value::Scalar(Scalar::bool(true)));
        let mut flat = Vec::new();
        flatten(&Value::Map(meta.clone()), String::new(), &mut flat);
        assert!(flat.iter().any(|(k, _)| k == "age__list_0__map_enc"));
        let back = unflatten(flat.into_iter().map(|(k, v)| (k, s(&v))).collect(), false).unwrap();
        let md = parse(&back).unwrap();
        assert!(md.rules.mac_only_encrypted);
        assert!(matches!(&md.key_groups[0].keys[0], MasterKey::Age(a) if a.recipient == "age1xyz"));
    }

    #[test]
    fn absurd_list_indices_are_refused_not_allocated() {
        let flat = vec![("x__list_99999999999".to_owned(), s("v"))];
        assert!(matches!(
            unflatten(flat, false),
            Err(MetadataError::Invalid { .. })
        ));
        let ok = vec![
            ("age__list_1__map_recipient".to_owned(), s("b")),
            ("age__list_0__map_recipient".to_owned(), s("a")),
        ];
        assert!(unflatten(ok, false).is_ok());
    }

    #[test]
    fn tolerant_reading() {
        let mut m = Map::new();
        m.insert("kms", Value::Null);
        m.insert("pgp", Value::List(vec![]));
        m.insert(
            "lastmodified",
            Value::Scalar(
                Scalar::new(Kind::Time, "2024-01-01T00:00:00Z").with_repr("2024-01-01T00:00:00Z"),
            ),
        );
        m.insert("version", s("3.10.0"));
        m.insert("unknown_field", s("ignored"));
        let md = parse(&m).unwrap();
        assert_eq!(md.version.as_deref(), Some("3.10.0"));
        for bad in ["3.x.0", "3.10", "v3.1.0", "03.1.0", "3..1"] {
            m.insert("version", s(bad));
            assert!(parse(&m).is_err(), "{bad}");
        }
        m.insert("version", s("3.11.0-rc1+b2"));
        assert!(parse(&m).is_ok());
        assert!(md.key_groups[0].keys.is_empty());
        assert!(matches!(
            parse(&{
                let mut b = Map::new();
                b.insert("age", s("not a list"));
                b
            }),
            Err(MetadataError::Invalid { .. })
        ));
    }
}
