//! The YAML store: multi-document streams to and from the tree, the way sops (go-yaml v3)
//! reads and writes them.
//!
//! | module | owns |
//! |---|---|
//! | [`parse`] | events → branches: comments, anchors/aliases, merge keys, duplicates |
//! | [`emit`] | branches → block-style YAML, keeping the source's presentation |
//! | [`scalar`] | how go-yaml resolves a plain scalar, and how each value is spelled back |
//! | [`layout`] | where each node sat in the source; writing a tree back into that source |
//! | [`fast`] | a scanner for plain block YAML, producing the events granit-parser would |
//!
//! Must not know: encryption or metadata semantics (the `sops` key is just a key here).

#[cfg(test)]
mod agree_tests;
mod emit;
mod event;
mod fast;
mod layout;
mod parse;
pub(crate) mod scalar;

pub use emit::{EmitOptions, emit, emit_value};
pub use parse::{ALIAS_EXPANSION_BUDGET, parse, parse_from};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::tree::{Entry, Map, Tree, Value};

    fn round(s: &str) -> String {
        let t = parse(s.as_bytes()).unwrap();
        String::from_utf8(
            emit(
                &t,
                EmitOptions {
                    indent: t.hints.indent.unwrap_or(4),
                    splice: false,
                },
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn keeps_order_comments_and_types() {
        let src = "# top\nb: 1\na:\n  # above\n  x: \"true\"\n  \"y\": 0x1F # hex\nlist:\n  - one\n  # mid\n  - 2.50\nwhen: 2024-01-01\nempty: ''\nnothing: null\n";
        assert_eq!(round(src), src);
        // Issue 23: a key YAML 1.1 reads as a boolean is written quoted, as go-yaml writes it.
        assert_eq!(
            round("y: 1\n\"on\": 2\nOff: 3\n"),
            "\"y\": 1\n\"on\": 2\n\"Off\": 3\n"
        );
    }

    #[test]
    fn comment_attachment_follows_go_yaml() {
        let src = "app:\n  db:\n    user: x\n    # trailing in db\n  list:\n    # in list\n    - a\n# between top\nother: 1\n";
        let t = parse(src.as_bytes()).unwrap();
        let root = &t.branches[0];
        let app = root.get("app").unwrap().as_map().unwrap();
        let db = app.get("db").unwrap().as_map().unwrap();
        assert!(
            matches!(db.entries.last(), Some(Entry::Comment(c)) if c.text.expose() == b" trailing in db")
        );
        let Value::List(l) = app.get("list").unwrap() else {
            panic!()
        };
        assert!(matches!(&l[0], Value::Comment(c) if c.text.expose() == b" in list"));
        assert!(
            matches!(&root.entries[1], Entry::Comment(c) if c.text.expose() == b" between top")
        );
        assert_eq!(round(src), src);
    }

    #[test]
    fn block_scalars_and_multidoc() {
        let src = "---\na: |\n  line1\n  line2\nb: |-\n  x\n  y\n---\nc: d\n";
        assert_eq!(round(src), src);
    }

    #[test]
    fn aliases_expand_and_budget_holds() {
        let t = parse(b"base: &b {x: 1}\ncopy: *b\n").unwrap();
        assert_eq!(t.branches[0].get("base"), t.branches[0].get("copy"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(matches!(
            parse(bomb.as_bytes()),
            Err(StoreError::AliasBudget { .. })
        ));
    }

    #[test]
    fn long_keys_use_explicit_key_syntax() {
        // Found by the yaml_store fuzz target: a 1,024+ character key must not be implicit.
        let long = "k".repeat(1500);
        let mut m = Map::new();
        m.insert(long.clone(), Value::str("v"));
        m.insert(
            "nested",
            Value::Map({
                let mut n = Map::new();
                n.insert(format!("{long} x"), Value::List(vec![Value::str("a")]));
                n
            }),
        );
        let t = Tree {
            branches: vec![m],
            ..Default::default()
        };
        let out = emit(
            &t,
            EmitOptions {
                indent: 2,
                splice: false,
            },
        )
        .unwrap();
        let back = parse(&out).unwrap();
        assert_eq!(
            back.branches[0]
                .get(&long)
                .and_then(Value::as_scalar)
                .map(|s| s.bytes()),
            Some(&b"v"[..])
        );
        assert!(
            back.branches[0]
                .get("nested")
                .unwrap()
                .as_map()
                .unwrap()
                .get(&format!("{long} x"))
                .is_some()
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(matches!(
            parse(b"- a\n- b\n"),
            Err(StoreError::TopLevelSequence)
        ));
        assert!(matches!(
            parse(b"a: 1\na: 2\n"),
            Err(StoreError::DuplicateKey { .. })
        ));
        assert!(matches!(parse(b"a: [\n"), Err(StoreError::Syntax { .. })));
    }

    /// The splice writes in source order straight into its output; a value that becomes a block
    /// scalar with a comment after it on its line puts its body after that comment, out of
    /// order, and is written through the sorted list of changes instead: both give the same
    /// layout as the source.
    #[test]
    fn splice_in_order_and_out_of_order() {
        let splice = |src: &str, change: &[(&str, &str)]| {
            let mut t = parse(src.as_bytes()).unwrap();
            for (k, v) in change {
                *t.branches[0].get_mut(k).unwrap() = Value::str(v);
            }
            let indent = t.hints.indent.unwrap_or(4);
            String::from_utf8(
                emit(
                    &t,
                    EmitOptions {
                        indent,
                        splice: true,
                    },
                )
                .unwrap(),
            )
            .unwrap()
        };
        let src = "# head\nkey: x # note\nother:   v # c\nlast: z\n";
        assert_eq!(
            splice(src, &[("key", "new"), ("last", "w")]),
            "# head\nkey: new # note\nother:   v # c\nlast: w\n"
        );
        assert_eq!(
            splice(src, &[("key", "a\nb"), ("other", "c\nd")]),
            "# head\nkey: |- # note\n    a\n    b\nother:   |- # c\n    c\n    d\nlast: z\n"
        );
    }

    /// A value that grows far past the size the splice planned for (a long multi-line value,
    /// deeply indented) makes the output grow by copying into a larger buffer (the old one is
    /// wiped as it drops): the result is still the file a full write gives.
    #[test]
    fn splice_output_that_outgrows_its_estimate() {
        let src = "a:\n  b:\n    c:\n      d: x\n      e: y\n";
        let mut t = parse(src.as_bytes()).unwrap();
        let long: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let Some(Value::Map(a)) = t.branches[0].get_mut("a") else {
            panic!("a is a mapping")
        };
        let Some(Value::Map(b)) = a.get_mut("b") else {
            panic!("b is a mapping")
        };
        let Some(Value::Map(c)) = b.get_mut("c") else {
            panic!("c is a mapping")
        };
        *c.get_mut("d").unwrap() = Value::str(&long);
        let write = |splice| emit(&t, EmitOptions { indent: 2, splice }).unwrap();
        let spliced = write(true);
        assert!(
            spliced.len() > 10 * long.len() / 7,
            "the value was not indented"
        );
        assert!(
            spliced == write(false),
            "the splice differs from a full write"
        );
    }

    /// Bytes handed over become the layout's source without a copy and parse exactly as
    /// borrowed ones (invalid UTF-8 included); a splice that shrinks the file (decrypt) writes
    /// into a buffer of about the output's size, so wiping it touches few pages it never wrote.
    #[test]
    fn handed_over_source_and_sized_output() {
        use crate::secret::SecretBytes;
        use crate::store::Source;
        let long = "x".repeat(200);
        // Two spaces after each colon: only a splice keeps them.
        let src: String = (0..20_000).map(|i| format!("k{i}:  {long}\n")).collect();
        let borrowed = parse(src.as_bytes()).unwrap();
        let handed = SecretBytes::from_slice(src.as_bytes());
        let at = handed.expose().as_ptr();
        let mut owned = parse_from(Source::Owned(handed)).unwrap();
        assert_eq!(borrowed.branches, owned.branches);
        let layout = owned.hints.source.as_ref().unwrap();
        let layout = layout.0.downcast_ref::<layout::Layout>().unwrap();
        assert_eq!(layout.text.expose().as_ptr(), at, "the source was copied");
        let bad = b"a: 1\nb: \xff\n";
        for got in [
            parse(bad),
            parse_from(Source::Owned(SecretBytes::from_slice(bad))),
        ] {
            assert!(matches!(got, Err(StoreError::Syntax { line: Some(2), .. })));
        }
        for entry in &mut owned.branches[0].entries {
            if let Entry::Pair(_, v) = entry {
                *v = Value::str("v");
            }
        }
        let out = emit(
            &owned,
            EmitOptions {
                indent: 4,
                splice: true,
            },
        )
        .unwrap();
        let want: String = (0..20_000).map(|i| format!("k{i}:  v\n")).collect();
        assert!(
            out == want.as_bytes(),
            "not spliced, or changed more than the values"
        );
        assert!(
            out.capacity() < 2 * out.len(),
            "{} of {}",
            out.capacity(),
            out.len()
        );
    }
}
