//! The dotenv store: `KEY=value` lines and `#` comments, as sops reads and writes them.
//!
//! Owns: splitting at the first `=` (the key kept verbatim), `\n` escapes in values, comment
//! lines. Must not know: encryption or metadata semantics (`sops_*` keys are just keys here).

use zeroize::Zeroizing;

use super::StoreError;
use crate::secret::SecretText;
use crate::tree::{Comment, Entry, Map, Tree, Value};

/// Parses dotenv text into a single flat branch.
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    let text = std::str::from_utf8(input).map_err(|_| StoreError::Syntax {
        line: None,
        message: "dotenv input is not valid UTF-8".into(),
    })?;
    let mut map = Map::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            map.entries.push(Entry::Comment(Comment::new(c, false)));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(StoreError::Syntax {
                line: Some(n + 1),
                message: "expected KEY=value".into(),
            });
        };
        map.entries.push(Entry::Pair(
            k.to_owned(),
            Value::str(&v.replace("\\n", "\n")),
        ));
    }
    Ok(Tree {
        branches: vec![map],
        ..Default::default()
    })
}

/// Writes a flat branch as dotenv text. Nested values cannot be represented.
pub fn emit(tree: &Tree) -> Result<Vec<u8>, StoreError> {
    // Wiped on drop and as it grows, like the copies below: on decrypt they hold plaintext.
    let mut out = SecretText::with_capacity(tree.size_hint());
    for branch in &tree.branches {
        for e in &branch.entries {
            match e {
                Entry::Comment(c) => {
                    out.push('#');
                    out.push_str(&String::from_utf8_lossy(c.text.expose()));
                    out.push('\n');
                }
                Entry::Pair(k, v) => {
                    let text = Zeroizing::new(match v {
                        Value::Scalar(s) => s
                            .value
                            .as_str()
                            .ok_or_else(|| StoreError::NotUtf8 { key: k.clone() })?
                            .to_owned(),
                        Value::Null => String::new(),
                        _ => {
                            return Err(StoreError::NotFlat {
                                key: k.clone(),
                                format: "dotenv",
                            });
                        }
                    });
                    let shown = match v {
                        Value::Scalar(s) => match s.kind {
                            crate::tree::Kind::Bool => {
                                if s.as_bool() == Some(true) {
                                    String::from("true").into()
                                } else {
                                    String::from("false").into()
                                }
                            }
                            _ => text,
                        },
                        _ => text,
                    };
                    let shown: Zeroizing<String> = shown;
                    out.push_str(k);
                    out.push('=');
                    for (i, part) in shown.split('\n').enumerate() {
                        if i > 0 {
                            out.push_str("\\n");
                        }
                        out.push_str(part);
                    }
                    out.push('\n');
                }
            }
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_spaces_and_newlines() {
        let src = "# c\nfoo =bar\nMULTI=a\\nb\nEMPTY=\n";
        let t = parse(src.as_bytes()).unwrap();
        assert_eq!(t.branches[0].get("foo "), Some(&Value::str("bar")));
        assert_eq!(t.branches[0].get("MULTI"), Some(&Value::str("a\nb")));
        assert_eq!(String::from_utf8(emit(&t).unwrap()).unwrap(), src);
        assert!(matches!(
            parse(b"novalue\n"),
            Err(StoreError::Syntax { line: Some(1), .. })
        ));
    }
}
