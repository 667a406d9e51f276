//! The JSON store (also the container of the binary store's encrypted form).
//!
//! Owns: JSON objects to and from a single branch, keeping key order and duplicate keys,
//! integers that fit 64 bits exactly, numbers written the way Go's `encoding/json` (and so
//! sops) writes them, the float64 reading sops gives plaintext numbers, and the source's
//! indentation.
//! Must not know: encryption or metadata semantics.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use zeroize::Zeroizing;

use super::StoreError;
use crate::secret::SecretText;
use crate::tree::{Entry, Hints, Kind, Map, Scalar, Tree, Value};

/// A JSON integer. Encrypted, it keeps its exact value (`type:int`, which sops reads exactly);
/// in plaintext, sops reads it as a float64, so beyond 2^53 the MAC must hash that float.
fn json_int(i: i64) -> Scalar {
    let s = Scalar::int(i);
    let as_float = crate::tree::go_format_float(i as f64);
    if as_float.as_bytes() == s.bytes() {
        s
    } else {
        Scalar {
            plain_mac: Some(Box::new(as_float.into())),
            ..s
        }
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Scalar(Scalar::bool(b)))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Scalar(json_int(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Scalar(match i64::try_from(u) {
            Ok(i) => json_int(i),
            // Beyond i64, sops (float64) and every reader of the file see a float.
            Err(_) => Scalar::float(u as f64),
        }))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Scalar(Scalar::float(f)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Scalar(Scalar::string(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(k) = access.next_key::<String>()? {
            let v = access.next_value_seed(ValueSeed)?;
            map.entries.push(Entry::Pair(k, v));
        }
        Ok(Value::Map(map))
    }
}

/// Parses any JSON value (for `set`).
pub fn parse_value(input: &[u8]) -> Result<Value, StoreError> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let value = ValueSeed.deserialize(&mut de).map_err(json_err)?;
    de.end().map_err(json_err)?;
    Ok(value)
}

/// Parses a JSON document whose top level is an object.
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let value = ValueSeed.deserialize(&mut de).map_err(json_err)?;
    de.end().map_err(json_err)?;
    let map = match value {
        Value::Map(m) => m,
        Value::List(_) => return Err(StoreError::TopLevelSequence),
        _ => return Err(StoreError::TopLevelScalar),
    };
    let hints = Hints {
        json_indent: detect_indent(input),
        json_tabs: input.windows(2).any(|w| w == b"\n\t"),
        ..Default::default()
    };
    Ok(Tree {
        branches: vec![map],
        hints,
    })
}

fn json_err(e: serde_json::Error) -> StoreError {
    // serde_json messages name positions and expectations, never input text.
    StoreError::Syntax {
        line: Some(e.line()),
        message: e.to_string(),
    }
}

fn detect_indent(input: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(input).ok()?;
    text.lines()
        .skip(1)
        .find(|l| l.starts_with(' '))
        .map(|l| l.len() - l.trim_start_matches(' ').len())
}

/// Indentation for JSON output.
#[derive(Clone, Copy, Debug)]
pub enum Indent {
    Tab,
    Spaces(usize),
}

struct Writer {
    /// Wiped on drop and as it grows: on decrypt it holds plaintext.
    out: SecretText,
    indent: Indent,
}

impl Writer {
    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            match self.indent {
                Indent::Tab => self.out.push('\t'),
                Indent::Spaces(n) => (0..n).for_each(|_| self.out.push(' ')),
            }
        }
    }

    fn string(&mut self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let s = std::str::from_utf8(bytes).map_err(|_| StoreError::NotUtf8 {
            key: key.to_owned(),
        })?;
        // Exactly the room serde_json's escapes take, so no reallocation leaves a partial copy
        // of the value behind; the copy itself is wiped.
        let escaped: usize = s
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..0x20 => 6,
                _ => 1,
            })
            .sum();
        let mut quoted = Zeroizing::new(Vec::with_capacity(escaped + 2));
        serde_json::to_writer(&mut *quoted, s).expect("strings serialize");
        debug_assert_eq!(quoted.len(), escaped + 2, "the escapes were counted wrong");
        self.out
            .push_str(std::str::from_utf8(&quoted).expect("JSON is UTF-8"));
        Ok(())
    }

    fn value(&mut self, key: &str, v: &Value, depth: usize) -> Result<(), StoreError> {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Comment(_) => {
                return Err(StoreError::CommentAsValue {
                    key: key.to_owned(),
                });
            }
            Value::Scalar(s) => match s.kind {
                Kind::Str | Kind::Bytes | Kind::Time => self.string(key, s.bytes())?,
                Kind::Bool => match s.as_bool() {
                    Some(b) => self.out.push_str(if b { "true" } else { "false" }),
                    None => {
                        return Err(StoreError::NotABool {
                            key: key.to_owned(),
                        });
                    }
                },
                Kind::Int => {
                    let t = s.text();
                    // Stores hold ints in decimal; anything else would not be JSON.
                    let digits = t.strip_prefix('-').unwrap_or(&t);
                    let valid = !digits.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit())
                        && (digits == "0" || !digits.starts_with('0'));
                    if !valid {
                        return Err(StoreError::NotANumber {
                            key: key.to_owned(),
                        });
                    }
                    self.out.push_str(&t)
                }
                Kind::Float => {
                    let t = s.text();
                    match t.parse::<f64>() {
                        Ok(f) if f.is_finite() => self.out.push_str(&crate::tree::go_json_float(f)),
                        // JSON has no infinities or NaN; they are written as strings.
                        _ => self.string(key, t.as_bytes())?,
                    }
                }
            },
            Value::List(items) => {
                let items: Vec<&Value> = items
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .collect();
                if items.is_empty() {
                    self.out.push_str("[]");
                    return Ok(());
                }
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.value(key, item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push(']');
            }
            Value::Map(m) => self.map(m, depth)?,
        }
        Ok(())
    }

    fn map(&mut self, m: &Map, depth: usize) -> Result<(), StoreError> {
        let pairs: Vec<(&String, &Value)> = m.pairs().collect();
        if pairs.is_empty() {
            self.out.push_str("{}");
            return Ok(());
        }
        self.out.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            self.out
                .push_str(&serde_json::to_string(k).expect("strings serialize"));
            self.out.push_str(": ");
            self.value(k, v, depth + 1)?;
        }
        self.newline(depth);
        self.out.push('}');
        Ok(())
    }
}

/// Writes the single branch as a JSON object with a trailing newline.
pub fn emit(tree: &Tree, indent: Indent) -> Result<Vec<u8>, StoreError> {
    let size = tree.size_hint();
    let branch = match tree.branches.as_slice() {
        [one] => one,
        [] => &Map::new(),
        _ => return Err(StoreError::MultipleDocuments { format: "JSON" }),
    };
    let mut w = Writer {
        out: SecretText::with_capacity(size),
        indent,
    };
    w.map(branch, 0)?;
    w.out.push('\n');
    Ok(w.out.into_bytes())
}

/// Writes one value (`decrypt --extract`) as sops does: a mapping ends with a newline, a
/// list or a scalar does not.
pub fn emit_value(v: &Value) -> Result<Vec<u8>, StoreError> {
    let mut w = Writer {
        out: SecretText::default(),
        indent: Indent::Tab,
    };
    w.value("the extracted value", v, 0)?;
    if matches!(v, Value::Map(_)) {
        w.out.push('\n');
    }
    Ok(w.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An int scalar whose text is not a decimal number (found by the json_emitter fuzz
    /// target: an empty one) is an error, never invalid JSON.
    #[test]
    fn ints_that_are_not_decimal_are_refused() {
        use crate::secret::SecretBytes;
        use crate::tree::{Entry, Map, Scalar, Tree};
        for bad in ["", "-", "0x1F", "007", "1e3", "--1"] {
            let mut m = Map::new();
            let v = Scalar::new(Kind::Int, SecretBytes::new(bad.as_bytes().to_vec()));
            m.entries.push(Entry::Pair("n".into(), Value::Scalar(v)));
            let t = Tree {
                branches: vec![m],
                ..Default::default()
            };
            assert!(
                matches!(
                    emit(&t, Indent::Spaces(2)),
                    Err(StoreError::NotANumber { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn order_duplicates_and_big_ints() {
        let src =
            b"{\n  \"b\": 9007199254740993,\n  \"a\": [1.5, true, null, \"x\"],\n  \"b\": 2.0\n}\n";
        let t = parse(src).unwrap();
        assert_eq!(t.branches[0].entries.len(), 3);
        assert_eq!(t.hints.json_indent, Some(2));
        let out = String::from_utf8(emit(&t, Indent::Spaces(2)).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n  \"b\": 9007199254740993,\n  \"a\": [\n    1.5,\n    true,\n    null,\n    \"x\"\n  ],\n  \"b\": 2\n}\n"
        );
    }

    /// Every character serde_json escapes, and the ones it leaves (DEL, non-ASCII, `/`): the
    /// writer's count of the room they take is exact (checked by a debug assertion).
    #[test]
    fn escapes_sized_exactly() {
        let every: String = (0u8..0x80)
            .map(char::from)
            .chain(['é', '\u{2028}', '😀'])
            .collect();
        let mut t = Tree::default();
        let mut m = Map::new();
        m.insert("k", Value::str(&every));
        t.branches.push(m);
        let out = String::from_utf8(emit(&t, Indent::Spaces(2)).unwrap()).unwrap();
        let back = parse(out.as_bytes()).unwrap();
        assert_eq!(back.branches[0].get("k"), Some(&Value::str(&every)));
    }

    #[test]
    fn rejects_arrays_and_garbage() {
        assert!(matches!(parse(b"[1]"), Err(StoreError::TopLevelSequence)));
        assert!(matches!(
            parse(b"{\"a\": }"),
            Err(StoreError::Syntax { .. })
        ));
        assert!(matches!(parse(b"{} x"), Err(StoreError::Syntax { .. })));
    }
}
