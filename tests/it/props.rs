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

// ---------------------------------------------------------------------------------------------
// Emitter fidelity: every reader reads what shroud writes as what was meant.

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn test_keyring() -> shroud::keysource::Keyring {
    let mut ring = shroud::keysource::Keyring::default();
    ring.age
        .add_text(
            &std::fs::read_to_string(crate::util::test_key()).unwrap(),
            "test",
        )
        .unwrap();
    ring
}

fn age_spec() -> shroud::document::EncryptSpec {
    shroud::document::EncryptSpec {
        groups: vec![vec![shroud::keysource::KeySpec::Age(
            crate::util::TEST_RECIPIENT.into(),
        )]],
        ..Default::default()
    }
}

/// Encrypts a plaintext YAML file and decrypts the result, as `shroud encrypt` and `shroud
/// decrypt` do: (encrypted file, decrypted file).
fn encrypt_then_decrypt(plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use shroud::document;
    let rt = runtime();
    let tree = document::load_plain("t.yaml", Format::Yaml, plain).unwrap();
    let (enc, md, _) = rt
        .block_on(document::encrypt(
            "t.yaml",
            Format::Yaml,
            tree,
            &age_spec(),
            &Default::default(),
        ))
        .unwrap();
    let encrypted =
        document::emit_encrypted("t.yaml", Format::Yaml, enc, &md, EmitOptions::default()).unwrap();
    let opened = rt
        .block_on(document::open(
            "t.yaml",
            Format::Yaml,
            &encrypted,
            &test_keyring(),
            false,
        ))
        .unwrap();
    let decrypted =
        document::emit_plain("t.yaml", Format::Yaml, &opened.tree, EmitOptions::default()).unwrap();
    (encrypted, decrypted)
}

/// Strings some YAML reader (YAML 1.1 or 1.2) takes for another type when written bare, and
/// strings whose syntax needs quoting.
fn tricky() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "y", "n", "yes", "no", "on", "off", "true", "false", "null",
    ]);
    prop_oneof![
        // YAML 1.1 booleans and null in every case spelling.
        (words, any::<u16>()).prop_map(|(w, mask)| w
            .chars()
            .enumerate()
            .map(|(i, c)| if mask >> i & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            })
            .collect()),
        prop::sample::select(vec![
            "~", "=", "<<", "", "-", "?", ":", "---", "...", "0o", "1.2.3"
        ])
        .prop_map(str::to_owned),
        "[-+]?(0o[0-7_]{1,3}|0x[0-9a-fA-F_]{1,4}|0b[01_]{1,4}|0[0-7_]{1,3}|[1-9][0-9_]{0,4})",
        "[-+]?[0-9]{1,3}(:[0-5]?[0-9]){1,2}(\\.[0-9_]{0,2})?",
        "[-+]?([0-9][0-9_]{0,2})?\\.[0-9_]{0,3}([eE][-+]?[0-9]{1,2})?",
        "[-+]?[0-9]{1,3}[eE][-+]?[0-9]{1,2}",
        "[-+]?\\.(inf|Inf|INF|nan|NaN|NAN)",
        "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
        "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]| {1,2})[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?( ?(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?",
        "[1-9][0-9]{0,2}(,[0-9]{3}){1,2}(\\.[0-9]{1,2})?",
        " [a-z]{1,4}|[a-z]{1,4} |[a-z]{0,3}: [a-z]{0,3}|[a-z]{1,3}:|:[a-z]{1,3}|[a-z]{1,3} #[a-z]{0,3}|#[a-z]{1,3}|- [a-z]{1,3}",
        "[-?:,\\[\\]{}#&*!|>'\"%@`][a-z ]{0,3}",
        "[a-z]{1,3}[\u{85}\u{2028}\u{2029}][a-z]{0,3}",
        "[a-z]{1,3}\n[a-z ]{0,3}\n{0,2}",
        "\\PC{1,6}",
        "[ -~]{0,12}",
    ]
}

/// A leaf: a tricky string, or a value of each sops type (times in UTC, at most microseconds,
/// so that Python's datetime holds them exactly).
fn fidelity_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => tricky().prop_map(|s| Value::Scalar(Scalar::string(s))),
        1 => any::<i64>().prop_map(|i| Value::Scalar(Scalar::int(i))),
        1 => prop_oneof![any::<f64>().prop_filter("finite", |f| f.is_finite()), Just(1e6), Just(-1e-7), Just(f64::INFINITY), Just(f64::NAN)]
            .prop_map(|f| Value::Scalar(Scalar::float(f))),
        1 => any::<bool>().prop_map(|b| Value::Scalar(Scalar::bool(b))),
        1 => (2000u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60, prop::option::of(0u32..1_000_000))
            .prop_map(|(y, mo, d, h, mi, s, us)| {
                let frac = us.map(|u| format!(".{u:06}").trim_end_matches('0').to_owned()).unwrap_or_default();
                let frac = if frac == "." { String::new() } else { frac };
                Value::Scalar(Scalar::new(Kind::Time, format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")))
            }),
        1 => Just(Value::Null),
    ]
}

fn fidelity_map() -> impl Strategy<Value = Map> {
    let leaf_pairs = prop::collection::vec((tricky(), fidelity_leaf()), 1..12);
    let list = prop::collection::vec(fidelity_leaf(), 1..5);
    let nested = prop::collection::vec((tricky(), fidelity_leaf()), 1..5);
    (leaf_pairs, tricky(), list, tricky(), nested).prop_map(|(pairs, lk, list, nk, nested)| {
        let mut m = Map::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs {
            if k != "sops" && seen.insert(k.clone()) {
                m.entries.push(Entry::Pair(k, v));
            }
        }
        if lk != "sops" && seen.insert(lk.clone()) {
            m.entries.push(Entry::Pair(lk, Value::List(list)));
        }
        // A `<<` key holding a mapping is what a YAML merge (`<<: *anchor`) parses to, and is
        // written back as one (docs/format.md): a tree cannot hold it as a literal key, so the
        // generator does not make one (other values under `<<` stay in: they are literal).
        if nk != "sops" && nk != "<<" && seen.insert(nk.clone()) {
            let mut inner = Map::new();
            let mut seen = std::collections::HashSet::new();
            for (k, v) in nested {
                if seen.insert(k.clone()) {
                    inner.entries.push(Entry::Pair(k, v));
                }
            }
            m.entries.push(Entry::Pair(nk, Value::Map(inner)));
        }
        m
    })
}

/// The expected document for the PyYAML judge (`tests/support/pyyaml_judge.py`).
fn py_expected(v: &Value) -> serde_json::Value {
    use serde_json::{Value as J, json};
    match v {
        Value::Null => J::Null,
        Value::Scalar(s) => match s.kind {
            Kind::Str | Kind::Bytes => J::String(s.text().into_owned()),
            Kind::Int => json!({ "int": s.text() }),
            Kind::Float => {
                let f: f64 = match s.text().as_ref() {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    "NaN" => f64::NAN,
                    t => t.parse().unwrap(),
                };
                json!({ "float_bits": f.to_bits().to_string() })
            }
            Kind::Bool => J::Bool(s.as_bool().unwrap()),
            Kind::Time => json!({ "time": s.text() }),
        },
        Value::Map(m) => {
            json!({ "map": m.pairs().map(|(k, v)| json!([k, py_expected(v)])).collect::<Vec<_>>() })
        }
        Value::List(l) => {
            json!({ "list": l.iter().filter(|i| !matches!(i, Value::Comment(_))).map(py_expected).collect::<Vec<_>>() })
        }
        Value::Comment(_) => J::Null,
    }
}

/// A JSON string, with the characters go-yaml takes for line breaks escaped.
fn json_quoted(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap()
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The same document as an unambiguous YAML flow mapping (JSON strings, typed scalars), for
/// go-yaml: what `sem` prints for it is what it must print for shroud's output.
fn go_reference(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Scalar(s) => match s.kind {
            Kind::Str | Kind::Bytes => out.push_str(&json_quoted(&s.text())),
            Kind::Float => {
                let text = match s.text().as_ref() {
                    "+Inf" => ".inf".to_owned(),
                    "-Inf" => "-.inf".to_owned(),
                    "NaN" => ".nan".to_owned(),
                    t => format!("{:e}", t.parse::<f64>().unwrap()),
                };
                out.push_str(&text);
            }
            Kind::Bool => out.push_str(if s.as_bool().unwrap() {
                "true"
            } else {
                "false"
            }),
            _ => out.push_str(&s.text()),
        },
        Value::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.pairs().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&json_quoted(k));
                out.push_str(": ");
                go_reference(v, out);
            }
            out.push('}');
        }
        Value::List(l) => {
            out.push('[');
            for (i, v) in l
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .enumerate()
            {
                if i > 0 {
                    out.push_str(", ");
                }
                go_reference(v, out);
            }
            out.push(']');
        }
        Value::Comment(_) => {}
    }
}

fn pyyaml_judge(expected: &serde_json::Value, stream: &[u8]) -> String {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let want = dir.path().join("want.json");
    std::fs::write(&want, serde_json::to_vec(expected).unwrap()).unwrap();
    let mut child = std::process::Command::new("python3")
        .arg(crate::util::root().join("tests/support/pyyaml_judge.py"))
        .arg(&want)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML (pip install pyyaml; scripts/setup.sh does this)");
    child.stdin.take().unwrap().write_all(stream).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Issue 23: keys and values keep the quotes they need. A generated document (tricky keys
    /// and strings, every type) is written as plaintext, encrypted and decrypted; PyYAML (YAML
    /// 1.1) and go-yaml v3 must both read the plaintext file and the decrypted file as the
    /// document itself.
    #[test]
    fn every_reader_reads_the_decrypted_file_as_its_input(m in fidelity_map()) {
        let tree = Tree { branches: vec![m], ..Default::default() };
        let plain = store::emit(Format::Yaml, &tree, EmitOptions::default()).unwrap();
        let (_, decrypted) = encrypt_then_decrypt(&plain);
        let mut stream = plain.clone();
        stream.extend_from_slice(b"---\n");
        stream.extend_from_slice(&decrypted);
        let doc = py_expected(&Value::Map(tree.branches[0].clone()));
        let verdict = pyyaml_judge(&serde_json::Value::Array(vec![doc.clone(), doc]), &stream);
        prop_assert_eq!(&verdict, "ok", "PyYAML:\n{}", String::from_utf8_lossy(&stream));
        let mut reference = String::new();
        go_reference(&Value::Map(tree.branches[0].clone()), &mut reference);
        let want = crate::util::sem("yaml", format!("{reference}\n").as_bytes());
        prop_assert!(!want.starts_with("ERROR"), "reference: {}", reference);
        let want = format!("{want}{want}");
        let got = crate::util::sem("yaml", &stream);
        prop_assert_eq!(got, want, "go-yaml v3:\n{}", String::from_utf8_lossy(&stream));
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 27: the splicing writer and the emitter agree.

/// `tree` written afresh (the emitter, without the source's text).
fn emitted_afresh(
    format: Format,
    mut tree: Tree,
    md: Option<&shroud::metadata::Metadata>,
) -> Vec<u8> {
    tree.hints.source = None;
    match md {
        Some(md) => {
            shroud::document::emit_encrypted("t", format, tree, md, EmitOptions::default()).unwrap()
        }
        None => shroud::document::emit_plain("t", format, &tree, EmitOptions::default()).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// A file the emitter wrote is encrypted and decrypted; at each step the splicing writer
    /// (which copies the source's text) and the emitter give the same bytes, and decrypting
    /// gives the file back byte for byte. With blank lines prepended (which only the splicing
    /// writer keeps), the rest is the same and the decrypted file is the input.
    #[test]
    fn splice_and_emitter_agree(tree in yaml_tree(), indent in 1usize..6, prefix in any::<bool>()) {
        use shroud::document;
        prop_assume!(tree.branches.iter().all(|b| b.get("sops").is_none()));
        let mut src = store::emit(Format::Yaml, &tree, EmitOptions { indent: Some(indent) }).unwrap();
        let parsed = store::load_plain(Format::Yaml, &src).unwrap();
        // Only a fixed point of the emitter is its own output byte for byte.
        let canonical = emitted_afresh(Format::Yaml, parsed.clone(), None) == src;
        prop_assume!(canonical);
        // The prefix shows which writer wrote: only files with a source map are spliced.
        let prefix = prefix && parsed.hints.source.is_some();
        if prefix {
            src.splice(0..0, b"\n\n".iter().copied());
        }
        let rt = runtime();
        let plain = document::load_plain("t", Format::Yaml, &src).unwrap();
        let (enc, md, _) = rt.block_on(document::encrypt("t", Format::Yaml, plain, &age_spec(), &Default::default())).unwrap();
        let spliced = document::emit_encrypted("t", Format::Yaml, enc.clone(), &md, EmitOptions::default()).unwrap();
        let fresh = emitted_afresh(Format::Yaml, enc, Some(&md));
        if prefix {
            prop_assert!(spliced.starts_with(b"\n\n"), "{}", String::from_utf8_lossy(&spliced));
            prop_assert_eq!(&spliced[2..], &fresh[..], "\n{}", String::from_utf8_lossy(&spliced));
        } else {
            prop_assert_eq!(&spliced, &fresh, "\n{}", String::from_utf8_lossy(&spliced));
        }
        let opened = rt.block_on(document::open("t", Format::Yaml, &spliced, &test_keyring(), false)).unwrap();
        let decrypted = document::emit_plain("t", Format::Yaml, &opened.tree, EmitOptions::default()).unwrap();
        prop_assert_eq!(&decrypted, &src, "\n{}", String::from_utf8_lossy(&decrypted));
        let fresh = emitted_afresh(Format::Yaml, opened.tree, None);
        prop_assert_eq!(&decrypted[if prefix { 2 } else { 0 }..], &fresh[..]);
    }
}
