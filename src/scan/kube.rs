//! Kubernetes `kind: Secret` manifests committed with real values.
//!
//! Owns: finding Secret objects (also the items of a `kind: List`), decoding `data` (base64 is
//! an encoding, not encryption) and scanning every decoded value with every rule — registry
//! credentials (`.dockerconfigjson`, `.dockercfg`) down to the base64 `user:password` of each
//! `auth` — judging the rest against the placeholder list, and the plaintext copy of a Secret
//! that `kubectl apply` leaves in its `kubectl.kubernetes.io/last-applied-configuration`
//! annotation (also in a sops-encrypted Secret, whose annotations are usually not encrypted).
//! A sops-encrypted Secret's `data`/`stringData` values that are not `ENC[…]` (its rules left
//! them out) are judged like any other. Findings are placed at the value's key by its path
//! ([`super::locate`]). Must not know: git, suppression files or output formats.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::Finding;
use super::engine::{Engine, inline_allowed, is_sops_value, line_at};
use super::locate::{Places, Step};
use super::rules::{is_placeholder, names_itself};
use crate::k8s::secret::{self as k8s, Field, LAST_APPLIED, SecretDoc};
use crate::secret::SecretBytes;
use crate::store::{self, Format};

pub const RULE_ID: &str = "kubernetes-secret";
const DESCRIPTION: &str = "Kubernetes Secret with plaintext values";

/// Keys whose values identify rather than authenticate (a username alone is not a leak).
const NOT_SECRET_KEYS: &[&str] = &[
    "username",
    "user",
    "host",
    "hostname",
    "port",
    "database",
    "db",
    "dbname",
    "url",
    "endpoint",
    "region",
    "namespace",
    "email",
    "api_url",
    "base_url",
];

/// The cheap text prefilter: a file can hold a Secret only if it names a `kind`, a `data` or
/// `stringData` field and the word `Secret` — or writes something a reader may turn into those
/// words (a YAML/JSON escape `\x`, `\u`, `\U`, an escaped line break inside double quotes, a
/// `!!binary` value). The kind itself is decided from the parsed document ([`is_secret`]): an
/// alias (`kind: *k`), a tag (`!!str Secret`) or an escape (`"Secr\u0065t"`) is what a reader
/// sees, not its text.
fn may_hold_secret(data: &[u8]) -> bool {
    let has = |w: &[u8]| memchr::memmem::find(data, w).is_some();
    let spelled = memchr::memchr_iter(b'\\', data).any(|i| {
        matches!(
            data.get(i + 1),
            Some(b'x' | b'u' | b'U' | b'\n' | b'\r' | b' ' | b'\t')
        )
    }) || has(b"binary");
    spelled || (has(b"Secret") && has(b"kind") && (has(b"data") || has(b"Data")))
}

/// How many nodes merge keys may expand per object (a `<<` chain is bounded work).
const MERGE_BUDGET: usize = 1 << 16;

/// The pairs of `map` as a reader sees them: every pair, duplicates included (either value may
/// be the one a tool reads: kubectl takes the last, others the first), and the pairs a merge
/// key (`<<: *anchor`, `<<: [*a, *b]`) brings in.
fn pairs_of<'m>(
    map: &'m crate::tree::Map,
    budget: &mut usize,
    out: &mut Vec<(&'m str, &'m crate::tree::Value)>,
) {
    use crate::tree::Value;
    for (k, v) in map.pairs() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        match (k.as_str(), v) {
            ("<<", Value::Map(m)) => pairs_of(m, budget, out),
            ("<<", Value::List(items)) => {
                for m in items.iter().filter_map(Value::as_map) {
                    pairs_of(m, budget, out);
                }
            }
            _ => out.push((k.as_str(), v)),
        }
    }
}

/// Whether any `kind` of the object (a duplicate key's every value, one a merge brings) is
/// `Secret`.
fn is_secret(obj: &crate::tree::Map) -> bool {
    let mut pairs = Vec::new();
    pairs_of(obj, &mut MERGE_BUDGET.clone(), &mut pairs);
    pairs
        .iter()
        .any(|(k, v)| *k == "kind" && v.as_text().as_deref() == Some("Secret"))
}

/// The object as one Secret to judge: its `data` and `stringData` are every pair of every
/// `data`/`stringData` field (duplicates and merge keys included); the rest is the object's.
fn secret_view(obj: &crate::tree::Map) -> crate::tree::Map {
    use crate::tree::{Entry, Map, Value};
    let mut budget = MERGE_BUDGET;
    let mut top = Vec::new();
    pairs_of(obj, &mut budget, &mut top);
    let mut view = Map::new();
    for field in ["data", "stringData"] {
        let mut all = Map::new();
        for (_, v) in top.iter().filter(|(k, _)| *k == field) {
            if let Value::Map(m) = v {
                let mut inner = Vec::new();
                pairs_of(m, &mut budget, &mut inner);
                all.entries.extend(
                    inner
                        .into_iter()
                        .map(|(k, v)| Entry::Pair(k.to_owned(), v.clone())),
                );
            }
        }
        view.entries
            .push(Entry::Pair(field.to_owned(), Value::Map(all)));
    }
    for (k, v) in obj.pairs() {
        if k != "data" && k != "stringData" && view.get(k).is_none() {
            view.entries.push(Entry::Pair(k.clone(), v.clone()));
        }
    }
    view
}

/// A YAML stream read as its readers read it when the store refuses it for a duplicate key
/// (`data: {}` then `data: {…}`: kubectl takes the last): every pair kept, aliases expanded
/// (under a budget), scalars as strings. `None` when it does not parse.
fn lenient_yaml(data: &[u8]) -> Option<Vec<crate::tree::Map>> {
    use crate::tree::{Entry, Map, Value};
    use granit_parser::{Event, Parser};
    enum Frame {
        Map(Map, Option<String>, usize),
        Seq(Vec<Value>, usize),
    }
    let src = std::str::from_utf8(data).ok()?;
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Value> = std::collections::HashMap::new();
    let mut budget: usize = 1 << 20;
    fn size(v: &Value) -> usize {
        match v {
            Value::Map(m) => 1 + m.pairs().map(|(_, v)| size(v)).sum::<usize>(),
            Value::List(l) => 1 + l.iter().map(size).sum::<usize>(),
            _ => 1,
        }
    }
    // Puts a finished node into its parent; a finished root is a document.
    fn add(stack: &mut [Frame], docs: &mut Vec<Map>, v: Value) -> Option<()> {
        match stack.last_mut() {
            None => match v {
                Value::Map(m) => docs.push(m),
                _ => return None,
            },
            Some(Frame::Map(m, key, _)) => match key.take() {
                Some(k) => m.entries.push(Entry::Pair(k, v)),
                None => *key = Some(v.as_text()?),
            },
            Some(Frame::Seq(l, _)) => l.push(v),
        }
        Some(())
    }
    for ev in Parser::new_from_str(src) {
        let (event, _) = ev.ok()?;
        match event {
            Event::MappingStart(_, anchor, _) => stack.push(Frame::Map(Map::new(), None, anchor)),
            Event::SequenceStart(_, anchor, _) => stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::MappingEnd | Event::SequenceEnd => {
                let (v, anchor) = match stack.pop()? {
                    Frame::Map(m, None, a) => (Value::Map(m), a),
                    Frame::Seq(l, a) => (Value::List(l), a),
                    Frame::Map(..) => return None,
                };
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                add(&mut stack, &mut docs, v)?;
            }
            Event::Scalar(text, _, anchor, _) => {
                let v = Value::str(&text);
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                add(&mut stack, &mut docs, v)?;
            }
            Event::Alias(id) => {
                let v = anchors.get(&id)?.clone();
                budget = budget.checked_sub(size(&v))?;
                add(&mut stack, &mut docs, v)?;
            }
            Event::DocumentStart(..) => anchors.clear(),
            _ => {}
        }
    }
    Some(docs)
}

/// The offset of the first line at or after `from` whose content starts with `key:` (or
/// `"key":`), if any.
fn find_key(data: &[u8], from: usize, key: &str) -> Option<usize> {
    let mut pos = from;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| pos + p);
        let line = String::from_utf8_lossy(&data[pos..end]);
        let t = line
            .trim_start_matches([' ', '\t', '-', '{', ','])
            .trim_start();
        let t = t
            .strip_prefix('"')
            .or_else(|| t.strip_prefix('\''))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix(key) {
            let rest = rest.trim_start_matches(['"', '\'']).trim_start();
            if rest.starts_with(':') {
                return Some(pos + (line.len() - line.trim_start().len()));
            }
        }
        pos = end + 1;
    }
    None
}

/// Where the value of the annotation at `at` starts: the next line for a YAML block scalar
/// (`key: |`), else the key's own line.
fn block_value_start(data: &[u8], at: usize) -> usize {
    let (_, range) = line_at(data, at);
    let line = &data[range.clone()];
    let after = line
        .iter()
        .rposition(|&b| b == b':')
        .map_or(&[][..], |p| &line[p + 1..]);
    let after = String::from_utf8_lossy(after);
    let t = after.trim();
    if (t.starts_with('|') || t.starts_with('>')) && range.end < data.len() {
        let next = range.end + 1;
        let indent = data[next..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace() && **b != b'\n')
            .count();
        return next + indent;
    }
    at
}

/// The start offset of each YAML document (`---` separated) when they pair one to one with the
/// parsed documents; `None` when that cannot be told (the lookups then run sequentially).
fn yaml_doc_starts(data: &[u8], docs: usize) -> Option<Vec<usize>> {
    let mut starts = vec![0];
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |p| pos + p);
        let line = &data[pos..end];
        if line.starts_with(b"---")
            && line[3..]
                .first()
                .is_none_or(|b| b.is_ascii_whitespace() || *b == b'#')
        {
            starts.push(end + 1);
        }
        pos = end + 1;
    }
    // Documents with nothing but comments and blanks are not parsed documents.
    let blank = |a: usize, b: usize| {
        data[a.min(data.len())..b.min(data.len())]
            .split(|&c| c == b'\n')
            .all(|l| {
                let t = String::from_utf8_lossy(l);
                let t = t.trim();
                t.is_empty() || t.starts_with('#') || t.starts_with("---") || t == "..."
            })
    };
    let mut kept = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(data.len());
        if !blank(s, e) {
            kept.push(s);
        }
    }
    (kept.len() == docs).then_some(kept)
}

/// The file name a decoded value is scanned under, so its syntax is recognised: the key
/// itself when it has an extension (`config.yaml`), `config.json` for registry credentials.
fn virtual_name(key: &str) -> String {
    if is_docker_key(key) {
        "config.json".to_owned()
    } else {
        key.to_owned()
    }
}

fn is_docker_key(key: &str) -> bool {
    key == ".dockerconfigjson" || key == ".dockercfg"
}

/// A registry credential file's passwords, and the SHA-256 digests (hex) of its whole `auth`
/// strings: an `auth` is judged by its password half, never as one token.
struct Docker {
    passwords: Vec<SecretBytes>,
    auth_digests: Vec<String>,
}

/// The passwords of a registry credential file (`.dockerconfigjson` `{"auths": {host: …}}` or
/// the older `.dockercfg` `{host: …}`): each `password`, and the password half of each base64
/// `auth` (`user:password`). `None` when the value is not such a file.
fn docker_passwords(plain: &[u8]) -> Option<Docker> {
    use sha2::Digest;
    let v: serde_json::Value = serde_json::from_slice(plain).ok()?;
    let hosts = v.get("auths").unwrap_or(&v).as_object()?;
    let mut out = Vec::new();
    let mut auth_digests = Vec::new();
    for entry in hosts.values() {
        let Some(e) = entry.as_object() else { continue };
        if let Some(auth) = e.get("auth").and_then(|a| a.as_str()) {
            auth_digests.push(super::hex(&sha2::Sha256::digest(auth.as_bytes())));
        }
        if let Some(p) = e.get("password").and_then(|p| p.as_str()) {
            out.push(SecretBytes::from_slice(p.as_bytes()));
        }
        if let Some(auth) = e.get("auth").and_then(|a| a.as_str())
            && let Ok(raw) = B64.decode(auth.trim())
        {
            let raw = SecretBytes::new(raw);
            if let Some(colon) = raw.expose().iter().position(|&b| b == b':') {
                out.push(SecretBytes::from_slice(&raw.expose()[colon + 1..]));
            }
        }
        if let Some(t) = e.get("identitytoken").and_then(|p| p.as_str()) {
            out.push(SecretBytes::from_slice(t.as_bytes()));
        }
    }
    Some(Docker {
        passwords: out,
        auth_digests,
    })
}

/// A PEM certificate or public key with no private key: public material.
fn only_public_pem(plain: &[u8]) -> bool {
    let has = |w: &[u8]| memchr::memmem::find(plain, w).is_some();
    (has(b"-----BEGIN CERTIFICATE-----") || has(b"PUBLIC KEY-----")) && !has(b"PRIVATE KEY")
}

/// Whether a decoded value is not worth reporting by itself.
fn unreal(raw: &[u8], plain: &[u8]) -> bool {
    plain.iter().all(u8::is_ascii_whitespace)
        || is_sops_value(raw.trim_ascii())
        || is_placeholder(raw)
        || is_placeholder(plain)
        || names_itself(plain)
        || only_public_pem(plain)
}

/// One Secret value to judge, and where its findings go.
struct Place<'a> {
    path: &'a str,
    /// Where findings are placed (the value's key, or the first line of a block value).
    at: usize,
    /// The value's key: the value spans the lines after it that are indented deeper.
    key_at: usize,
    /// Other lines whose change makes every value a new finding: the object's `kind`
    /// (`ConfigMap` to `Secret`), the document's anchored nodes (what an alias or a merge key
    /// under `data` reads).
    also: &'a [(usize, usize)],
    message: String,
}

/// The last line of the value whose key starts at `key_at`: the key's line and every following
/// line indented deeper than the key (a block scalar `|-`/`>`, a plain or quoted scalar
/// continued on the next lines), blank lines inside included. A value line changed while its
/// key line is not is then still a line of the finding.
fn value_end_line(data: &[u8], key_at: usize) -> usize {
    let (mut line, range) = line_at(data, key_at);
    let column = key_at - range.start;
    let mut end = line;
    let mut pos = range.end + 1;
    while pos < data.len() {
        let stop = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |p| pos + p);
        let text = &data[pos..stop];
        line += 1;
        let indent = text.iter().take_while(|&&b| b == b' ').count();
        if text[indent..].iter().all(|b| b.is_ascii_whitespace()) {
            // Blank: part of the value only if a deeper line follows.
        } else if indent > column {
            end = line;
        } else {
            break;
        }
        pos = stop + 1;
    }
    end
}

/// Findings for one `data`/`stringData` value: every rule's findings in the decoded value (and
/// in each registry `auth`), else one `kubernetes-secret` finding when the value is real.
fn judge(
    engine: &Engine,
    data: &[u8],
    key: &str,
    raw: &[u8],
    plain: &[u8],
    place: &Place<'_>,
) -> Vec<Finding> {
    if NOT_SECRET_KEYS.contains(&key.to_ascii_lowercase().as_str())
        || is_sops_value(raw.trim_ascii())
        || inline_allowed(data, place.at)
    {
        return Vec::new();
    }
    let (line, range) = line_at(data, place.at);
    let column = 1 + place.at - range.start;
    let end_line = value_end_line(data, place.key_at).max(line);
    let relocate = |f: Finding| {
        let mut f = f.relocated(place.path, line, column, Some(place.message.clone()));
        f.end_line = end_line;
        f.also = place.also.to_vec();
        f
    };
    let mut out: Vec<Finding> = engine
        .scan(&virtual_name(key), plain)
        .into_iter()
        .map(relocate)
        .collect();
    let docker = docker_passwords(plain);
    if let Some(d) = &docker {
        out.retain(|f| !d.auth_digests.contains(&f.secret_sha256));
        for p in &d.passwords {
            out.extend(engine.scan("auth", p.expose()).into_iter().map(relocate));
        }
    }
    if !out.is_empty() {
        out.sort_by(|a, b| a.secret_sha256.cmp(&b.secret_sha256));
        out.dedup_by(|a, b| a.rule_id == b.rule_id && a.secret_sha256 == b.secret_sha256);
        return out;
    }
    // A registry credential is judged by its passwords, not as one JSON blob.
    let secret: Option<&[u8]> = match &docker {
        Some(d) => d
            .passwords
            .iter()
            .map(SecretBytes::expose)
            .find(|p| !unreal(p, p)),
        None => (!unreal(raw, plain)).then_some(plain),
    };
    secret
        .map(|secret| {
            let mut f = Finding::new(
                RULE_ID,
                DESCRIPTION,
                place.path,
                line,
                column,
                secret,
                Some(place.message.clone()),
            );
            f.end_line = end_line;
            f.also = place.also.to_vec();
            vec![f]
        })
        .unwrap_or_default()
}

/// The path of `obj` in its document `doc`: empty for the document itself, `items[i]` for an
/// item of a `kind: List`.
fn object_path(doc: &crate::tree::Map, obj: &crate::tree::Map) -> Option<Vec<Step>> {
    use crate::tree::Value;
    if std::ptr::eq(doc, obj) {
        return Some(Vec::new());
    }
    let Some(Value::List(items)) = doc.get("items") else {
        return None;
    };
    items
        .iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .position(|v| v.as_map().is_some_and(|m| std::ptr::eq(m, obj)))
        .map(|i| vec![Step::Key("items".to_owned()), Step::Index(i)])
}

/// The file's documents when one of them holds a Secret. Templates (Helm) and other non-YAML
/// do not parse; they are left to the pattern rules. A YAML file the store refuses for a
/// duplicate key is read as its readers read it.
fn secret_tree(format: Format, data: &[u8]) -> Option<crate::tree::Tree> {
    let tree = match store::load_plain(format, data) {
        Ok(tree) => tree,
        Err(store::StoreError::DuplicateKey { .. }) if format == Format::Yaml => {
            crate::tree::Tree {
                branches: lenient_yaml(data)?,
                ..Default::default()
            }
        }
        Err(_) => return None,
    };
    tree.branches
        .iter()
        .any(|doc| k8s::objects(doc).into_iter().any(is_secret))
        .then_some(tree)
}

/// The lines besides a value's own that make its finding count as added: the `kind` key's
/// line (the last one when it repeats: kubectl's) and document `d`'s anchored nodes.
fn also_lines(
    data: &[u8],
    places: Option<&Places>,
    d: usize,
    kind_at: Option<usize>,
) -> Vec<(usize, usize)> {
    let line_of = |at: usize| line_at(data, at).0;
    let mut also: Vec<(usize, usize)> = kind_at
        .map(|at| (line_of(at), line_of(at)))
        .into_iter()
        .collect();
    if let Some(p) = places {
        also.extend(
            p.anchored(d)
                .iter()
                .map(|r| (line_of(r.start), line_of(r.end.max(r.start + 1) - 1))),
        );
    }
    also.sort_unstable();
    also.dedup();
    also
}

/// What to do about a plaintext Secret value. A sops-encrypted Secret must keep every value
/// encrypted: one its rules leave in plaintext (`--encrypted-regex '^data$'` and a
/// `stringData` added by hand) is as readable as an unencrypted Secret.
fn plaintext_message(sops: bool, name: &str, field: &str, key: &str, path: &str) -> String {
    if sops {
        format!(
            "Secret {name:?} stores {field}.{key} in plaintext in a sops file whose rules leave it unencrypted; encrypt it again: shroud decrypt -i --ignore-mac {path} && shroud encrypt -i --encrypted-regex '^(data|stringData)$' {path}"
        )
    } else {
        format!(
            "Secret {name:?} stores {field}.{key} in plaintext (base64 is not encryption); encrypt it: shroud encrypt -i --encrypted-regex '^(data|stringData)$' {path}"
        )
    }
}

/// Findings for every plaintext value of every Secret in a YAML/JSON file, and for the copy of
/// its values a `kubectl.kubernetes.io/last-applied-configuration` annotation holds.
pub fn check(path: &str, data: &[u8], engine: &Engine) -> Vec<Finding> {
    let format = match Format::from_path(std::path::Path::new(path)) {
        Format::Json => Format::Json,
        Format::Yaml => Format::Yaml,
        _ => return Vec::new(),
    };
    if !may_hold_secret(data) {
        return Vec::new();
    }
    let Some(tree) = secret_tree(format, data) else {
        return Vec::new();
    };
    // Values are placed by their path in the document; when that cannot be had, by searching
    // forward from the document's start for the key.
    let places = Places::of(data).filter(|p| p.docs() == tree.branches.len());
    let starts = match format {
        Format::Yaml if places.is_none() => yaml_doc_starts(data, tree.branches.len()),
        _ => None,
    };
    let mut out = Vec::new();
    let mut cursor = 0;
    for (d, doc) in tree.branches.iter().enumerate() {
        if let Some(s) = &starts {
            cursor = cursor.max(s[d]);
        }
        for obj in k8s::objects(doc) {
            if !is_secret(obj) {
                continue;
            }
            let view = secret_view(obj);
            let secret = SecretDoc::fields(&view);
            let name = secret.name().unwrap_or_default();
            let obj_start = cursor;
            let mut last = cursor;
            let prefix = object_path(doc, obj);
            let place = |tail: &[&str]| -> Option<usize> {
                let (p, prefix) = (places.as_ref()?, prefix.as_ref()?);
                let mut path = prefix.clone();
                path.extend(tail.iter().map(|k| Step::Key((*k).to_owned())));
                p.at(d, &path)
            };
            let sops = secret.is_sops();
            // The `kind` key's line (the last one when it repeats: kubectl's), and the
            // document's anchored nodes.
            let kind_at = place(&["kind"]).or_else(|| find_key(data, obj_start, "kind"));
            let also = also_lines(data, places.as_ref(), d, kind_at);
            {
                let mut key_cursor = cursor;
                let mut current: Option<Field> = None;
                let mut field_at = cursor;
                for entry in secret.entries() {
                    if current != Some(entry.field) {
                        current = Some(entry.field);
                        field_at =
                            find_key(data, obj_start, entry.field.name()).unwrap_or(obj_start);
                        key_cursor = field_at;
                    }
                    let Some(raw) = entry.raw() else {
                        continue;
                    };
                    // Invalid base64 in `data` is judged as written.
                    let plain = entry
                        .decoded()
                        .unwrap_or_else(|| SecretBytes::from_slice(raw));
                    let key = entry.key;
                    let at = match place(&[entry.field.name(), key]) {
                        Some(at) => at,
                        None => {
                            let at = find_key(data, key_cursor, key).unwrap_or(field_at);
                            key_cursor = at;
                            at
                        }
                    };
                    last = last.max(at);
                    // A sops-encrypted Secret must keep every value encrypted: one its rules
                    // leave in plaintext (`--encrypted-regex '^data$'` and a `stringData` added
                    // by hand) is as readable as an unencrypted Secret.
                    let message = plaintext_message(sops, &name, entry.field.name(), key, path);
                    out.extend(judge(
                        engine,
                        data,
                        key,
                        raw,
                        plain.expose(),
                        &Place {
                            path,
                            at,
                            key_at: at,
                            also: &also,
                            message,
                        },
                    ));
                }
            }
            if let Some(copy) = secret.last_applied().filter(k8s::holds_values)
                && !secret
                    .last_applied_text()
                    .is_some_and(|t| is_sops_value(t.trim_ascii()))
            {
                let ann = place(&["metadata", "annotations", LAST_APPLIED]).unwrap_or_else(|| {
                    find_key(data, obj_start, LAST_APPLIED).unwrap_or(obj_start)
                });
                let at = block_value_start(data, ann);
                last = last.max(ann);
                let fix = if secret.is_sops() {
                    format!(
                        "remove it: shroud unset {path} '[\"metadata\"][\"annotations\"][\"{LAST_APPLIED}\"]'"
                    )
                } else {
                    format!(
                        "shroud encrypt -i --encrypted-regex '^(data|stringData)$' {path} removes it"
                    )
                };
                for entry in SecretDoc::fields(&copy).entries() {
                    let Some(raw) = entry.raw() else {
                        continue;
                    };
                    let plain = entry
                        .decoded()
                        .unwrap_or_else(|| SecretBytes::from_slice(raw));
                    let message = format!(
                        "Secret {name:?} carries a plaintext copy of {}.{} in its {LAST_APPLIED} annotation; {fix}",
                        entry.field.name(),
                        entry.key
                    );
                    out.extend(judge(
                        engine,
                        data,
                        entry.key,
                        raw,
                        plain.expose(),
                        &Place {
                            path,
                            at,
                            key_at: ann,
                            also: &also,
                            message,
                        },
                    ));
                }
            }
            cursor = cursor.max(last + 1);
        }
    }
    out
}
