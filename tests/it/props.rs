//! Property tests: generated trees (nested maps, lists, every scalar type, comments) survive
//! emit → parse in every store and encrypt → decrypt; one-byte tampering is always detected.

use proptest::prelude::*;

use shroud::crypto::{self, Cipher, Rules};
use shroud::secret::DataKey;
use shroud::store::{self, EmitOptions, Format};
use shroud::tree::{Comment, Entry, Kind, Map, Scalar, Tree, Value};

/// A comparable view of a tree: kinds and canonical bytes, comment texts, order.
#[derive(Debug, PartialEq)]
enum N {
    Null,
    S(Kind, Vec<u8>),
    C(Vec<u8>),
    M(Vec<(Option<String>, N)>),
    L(Vec<N>),
}

fn norm_map(m: &Map) -> N {
    N::M(
        m.entries
            .iter()
            .map(|e| match e {
                Entry::Pair(k, v) => (Some(k.clone()), norm(v)),
                Entry::Comment(c) => (None, N::C(c.text.expose().to_vec())),
            })
            .collect(),
    )
}

fn norm(v: &Value) -> N {
    match v {
        Value::Null => N::Null,
        Value::Scalar(s) => N::S(s.kind, s.bytes().to_vec()),
        Value::Comment(c) => N::C(c.text.expose().to_vec()),
        Value::Map(m) => norm_map(m),
        Value::List(l) => N::L(l.iter().map(norm).collect()),
    }
}

fn norm_tree(t: &Tree) -> Vec<N> {
    t.branches.iter().map(norm_map).collect()
}

/// JSON has numbers, not ints and floats: an integral float is written `3` (as sops writes
/// it) and reads back as the int 3.
fn norm_json(n: N) -> N {
    match n {
        N::S(Kind::Float, b) => N::S(Kind::Int, b),
        N::M(entries) => N::M(
            entries
                .into_iter()
                .map(|(k, v)| (k, norm_json(v)))
                .collect(),
        ),
        N::L(items) => N::L(items.into_iter().map(norm_json).collect()),
        other => other,
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}",
        "[A-Za-z0-9 ._:#/-]{1,10}",
        "\\PC{1,6}",
        Just("true".to_owned()),
        Just("123".to_owned()),
        Just("".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        "\\PC{0,16}",
        "[ -~\n\t]{0,24}",
        Just("true".to_owned()),
        Just("0x1F".to_owned()),
        Just("2024-01-01".to_owned()),
        Just("- a".to_owned()),
        Just("line1\nline2\n".to_owned()),
        Just("  leading\nspaces".to_owned()),
        Just("a: b # c".to_owned()),
        Just("ENC[AES256_GCM,data:x]".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|s| Value::Scalar(Scalar::string(s))),
        any::<i64>().prop_map(|i| Value::Scalar(Scalar::int(i))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::Scalar(Scalar::float(f))),
        any::<bool>().prop_map(|b| Value::Scalar(Scalar::bool(b))),
        Just(Value::Scalar(Scalar::new(
            Kind::Time,
            "2024-05-06T07:08:09.5+02:00"
        ))),
        Just(Value::Null),
    ]
}

fn comment_text() -> impl Strategy<Value = String> {
    "( [a-zA-Z0-9 ,.:]{0,20})|[a-z]{1,5}"
}

fn value(depth: u32) -> BoxedStrategy<Value> {
    if depth == 0 {
        return scalar().boxed();
    }
    prop_oneof![
        4 => scalar(),
        1 => map(depth - 1).prop_map(Value::Map),
        1 => prop::collection::vec(
            prop_oneof![4 => value(depth - 1), 1 => comment_text().prop_map(|c| Value::Comment(Comment::new(c.as_str(), false)))],
            0..4
        )
        // YAML cannot hold comments inside an empty list.
        .prop_map(|l| Value::List(if l.iter().any(|v| !matches!(v, Value::Comment(_))) { l } else { Vec::new() })),
    ]
    .boxed()
}

pub(crate) fn map(depth: u32) -> BoxedStrategy<Map> {
    prop::collection::vec(
        prop_oneof![
            4 => (key(), value(depth)).prop_map(|(k, v)| Some(Entry::Pair(k, v))),
            1 => comment_text().prop_map(|c| Some(Entry::Comment(Comment::new(c.as_str(), false)))),
        ],
        0..5,
    )
    .prop_map(|entries| {
        // Unique keys (sops rejects duplicates).
        let mut seen = std::collections::HashSet::new();
        let entries = entries
            .into_iter()
            .flatten()
            .filter(|e| match e {
                Entry::Pair(k, _) => seen.insert(k.clone()),
                Entry::Comment(_) => true,
            })
            .collect::<Vec<_>>();
        // YAML cannot hold comments inside an empty mapping.
        let entries = if entries.iter().any(|e| matches!(e, Entry::Pair(..))) {
            entries
        } else {
            Vec::new()
        };
        Map { entries }
    })
    .boxed()
}

pub(crate) fn yaml_tree() -> impl Strategy<Value = Tree> {
    prop::collection::vec(map(3), 1..3).prop_map(|branches| Tree {
        branches,
        ..Default::default()
    })
}

/// JSON has no comments and no timestamps.
fn strip_for_json(v: &mut Value) {
    match v {
        Value::Map(m) => strip_map_for_json(m),
        Value::List(l) => {
            l.retain(|i| !matches!(i, Value::Comment(_)));
            l.iter_mut().for_each(strip_for_json);
        }
        Value::Scalar(s) if s.kind == Kind::Time => *s = Scalar::string(s.value.clone()),
        _ => {}
    }
}

pub(crate) fn strip_map_for_json(m: &mut Map) {
    m.entries.retain(|e| matches!(e, Entry::Pair(..)));
    for e in &mut m.entries {
        if let Entry::Pair(_, v) = e {
            strip_for_json(v);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn yaml_round_trip(tree in yaml_tree(), indent in 1usize..6) {
        let bytes = store::emit(Format::Yaml, &tree, EmitOptions { indent: Some(indent) }).unwrap();
        let back = store::load_plain(Format::Yaml, &bytes)
            .unwrap_or_else(|e| panic!("{e}\n---\n{}", String::from_utf8_lossy(&bytes)));
        prop_assert_eq!(norm_tree(&back), norm_tree(&tree), "\n{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn json_round_trip(m in map(3)) {
        let mut m = m;
        strip_map_for_json(&mut m);
        let tree = Tree { branches: vec![m], ..Default::default() };
        let bytes = store::emit(Format::Json, &tree, EmitOptions::default()).unwrap();
        let back = store::load_plain(Format::Json, &bytes).unwrap();
        let json = |t: &Tree| norm_tree(t).into_iter().map(norm_json).collect::<Vec<_>>();
        prop_assert_eq!(json(&back), json(&tree));
    }

    #[test]
    fn dotenv_round_trip(pairs in prop::collection::vec(("[A-Za-z_][A-Za-z0-9_ .-]{0,10}", "[^\\\\\n\r]{0,20}(\n[^\\\\\n\r]{0,5})?"), 0..8),
                         comments in prop::collection::vec("[^\n\r]{0,10}", 0..3)) {
        let mut m = Map::new();
        for c in comments { m.entries.push(Entry::Comment(Comment::new(c.as_str(), false))); }
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs {
            if seen.insert(k.clone()) { m.entries.push(Entry::Pair(k, Value::str(&v))); }
        }
        let tree = Tree { branches: vec![m], ..Default::default() };
        let bytes = store::emit(Format::Dotenv, &tree, EmitOptions::default()).unwrap();
        let back = store::load_plain(Format::Dotenv, &bytes).unwrap();
        prop_assert_eq!(norm_tree(&back), norm_tree(&tree));
    }

    #[test]
    fn ini_round_trip(sections in prop::collection::vec(("[A-Za-z][A-Za-z0-9 _!.-]{0,8}[A-Za-z0-9]",
                        prop::collection::vec(("[A-Za-z][A-Za-z0-9_.-]{0,8}", "([A-Za-z0-9][ -~]{0,15}[A-Za-z0-9])?", proptest::option::of("[a-z][a-z ]{0,8}[a-z]")), 0..5)), 1..4)) {
        let mut root = Map::new();
        let mut names = std::collections::HashSet::new();
        for (name, kvs) in sections {
            if !names.insert(name.clone()) { continue; }
            let mut m = Map::new();
            let mut seen = std::collections::HashSet::new();
            for (k, v, c) in kvs {
                if !seen.insert(k.clone()) || v.starts_with(['"', '\'', '`']) { continue; }
                m.entries.push(Entry::Pair(k, Value::str(&v)));
                if let Some(c) = c { m.entries.push(Entry::Comment(Comment::new(c.as_str(), false))); }
            }
            root.entries.push(Entry::Pair(name, Value::Map(m)));
        }
        let tree = Tree { branches: vec![root], ..Default::default() };
        let bytes = store::emit(Format::Ini, &tree, EmitOptions::default()).unwrap();
        let back = store::load_plain(Format::Ini, &bytes).unwrap();
        prop_assert_eq!(norm_tree(&back), norm_tree(&tree), "\n{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn encrypt_decrypt_round_trip(tree in yaml_tree()) {
        let key = DataKey::generate();
        let rules = Rules::default_rules();
        let mut t = tree.clone();
        let mac = crypto::encrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap();
        // Through the YAML store, as on disk.
        let bytes = store::emit(Format::Yaml, &t, EmitOptions::default()).unwrap();
        let mut back = store::load_plain(Format::Yaml, &bytes).unwrap();
        let d = crypto::decrypt_tree(&mut back, &mut Cipher::new(&key), &rules).unwrap();
        prop_assert!(crypto::macs_equal(&d.mac, &mac));
        prop_assert_eq!(d.undecryptable_comments, 0);
        prop_assert_eq!(norm_tree(&back), norm_tree(&tree));
    }

    #[test]
    fn one_byte_tampering_is_detected(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        // A file whose every leaf is encrypted: any change to a value, a key (hence a path) or
        // the MAC/lastmodified fields must make opening fail.
        let mut root = Map::new();
        let mut inner = Map::new();
        inner.insert("user", Value::str("admin"));
        inner.insert("port", Value::Scalar(Scalar::int(5432)));
        root.insert("db", Value::Map(inner));
        root.insert("token", Value::str(&format!("tok-{seed}")));
        root.insert("list", Value::List(vec![Value::str("a"), Value::Scalar(Scalar::bool(true))]));
        let tree = Tree { branches: vec![root], ..Default::default() };
        let spec = shroud::document::EncryptSpec {
            groups: vec![vec![shroud::keysource::KeySpec::Age(crate::util::TEST_RECIPIENT.into())]],
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (enc, md, _) = rt.block_on(shroud::document::encrypt("t", Format::Yaml, tree, &spec, &shroud::keysource::Keyring::default())).unwrap();
        let text = String::from_utf8(shroud::document::emit_encrypted("t", Format::Yaml, enc, &md, EmitOptions::default()).unwrap()).unwrap();
        // Candidate positions: characters of keys and of ENC payloads in the data, and the
        // lastmodified digits and MAC payload in the metadata.
        let sops_line = text.lines().position(|l| l == "sops:").unwrap();
        let mut positions = Vec::new();
        let mut offset = 0;
        for (lineno, line) in text.lines().enumerate() {
            let start = offset;
            offset += line.len() + 1;
            let t = line.trim_start();
            let indent = line.len() - t.len();
            let payload = |positions: &mut Vec<usize>| {
                if let Some(i) = line.find("data:") {
                    let end = i + line[i..].find(",iv:").unwrap();
                    positions.extend(start + i + 5..start + end);
                }
                if let Some(i) = line.find("tag:") {
                    positions.extend(start + i + 4..start + i + 4 + 22);
                }
            };
            if lineno < sops_line {
                if !t.starts_with("- ") && !t.starts_with('#') && let Some(colon) = t.find(':') {
                    positions.extend(start + indent..start + indent + colon);
                }
                payload(&mut positions);
            } else if t.starts_with("lastmodified:") {
                positions.extend((start..offset - 1).filter(|&p| text.as_bytes()[p].is_ascii_digit()));
            } else if t.starts_with("mac:") {
                payload(&mut positions);
            }
        }
        prop_assume!(!positions.is_empty());
        let pos = positions[pick.index(positions.len())];
        let mut bytes = text.into_bytes();
        let old = bytes[pos];
        bytes[pos] = match old { b'0'..=b'8' => old + 1, b'9' => b'0', b'a'..=b'y' => old + 1, b'z' => b'a', b'A'..=b'Y' => old + 1, b'Z' => b'A', b'+' => b'/', b'/' => b'+', _ => b'x' };
        let mut ring = shroud::keysource::Keyring::default();
        ring.age.add_text(&std::fs::read_to_string(crate::util::test_key()).unwrap(), "test").unwrap();
        let res = rt.block_on(shroud::document::open("t", Format::Yaml, &bytes, &ring, false));
        prop_assert!(res.is_err(), "change at byte {} ({:?} -> {:?}) went undetected:\n{}", pos, old as char, bytes[pos] as char, String::from_utf8_lossy(&bytes));
    }
}
