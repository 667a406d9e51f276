//! The INI store: sections of string values, `;`/`#` comments, as sops (go-ini) handles them.
//!
//! Owns: sections as top-level mappings (duplicates allowed), `DEFAULT` for keys before any
//! section, quoted and triple-quoted values, comments attached to sections and keys.
//! Must not know: encryption or metadata semantics (`[sops]` is just a section here).

use super::StoreError;
use crate::tree::{Comment, Entry, Map, Tree, Value};

fn unquote(v: &str) -> String {
    for q in ["\"\"\"", "\"", "`", "'"] {
        if v.len() >= 2 * q.len() && v.starts_with(q) && v.ends_with(q) {
            return v[q.len()..v.len() - q.len()].to_owned();
        }
    }
    v.to_owned()
}

/// Parses INI text: one branch whose top-level keys are sections.
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    let text = std::str::from_utf8(input).map_err(|_| StoreError::Syntax {
        line: None,
        message: "INI input is not valid UTF-8".into(),
    })?;
    let mut root = Map::new();
    let mut section: Option<(String, Map)> = None;
    let mut pending: Vec<String> = Vec::new();
    let mut lines = text.split('\n').enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(line.trim_start_matches([';', '#']).trim_start().to_owned());
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or(StoreError::Syntax {
                line: Some(n + 1),
                message: "unterminated section header".into(),
            })?;
            if let Some((name, map)) = section.take() {
                root.entries.push(Entry::Pair(name, Value::Map(map)));
            }
            let mut map = Map::new();
            for c in pending.drain(..) {
                map.entries.push(Entry::Comment(Comment::new(c, false)));
            }
            section = Some((name.trim().to_owned(), map));
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            return Err(StoreError::Syntax {
                line: Some(n + 1),
                message: "expected key = value".into(),
            });
        };
        let mut v = v.trim().to_owned();
        if v.starts_with("\"\"\"") && !(v.len() >= 6 && v.ends_with("\"\"\"")) {
            // A triple-quoted value continues until the closing quotes.
            loop {
                let Some((_, more)) = lines.next() else {
                    return Err(StoreError::Syntax {
                        line: Some(n + 1),
                        message: "unterminated \"\"\" value".into(),
                    });
                };
                v.push('\n');
                v.push_str(more.trim_end_matches('\r'));
                if more.trim_end().ends_with("\"\"\"") {
                    v = v.trim_end().to_owned();
                    break;
                }
            }
        }
        let (_, map) = section.get_or_insert_with(|| ("DEFAULT".to_owned(), Map::new()));
        map.entries
            .push(Entry::Pair(k.trim().to_owned(), Value::str(&unquote(&v))));
        for c in pending.drain(..) {
            map.entries.push(Entry::Comment(Comment::new(c, false)));
        }
    }
    if let Some((name, mut map)) = section.take() {
        for c in pending.drain(..) {
            map.entries.push(Entry::Comment(Comment::new(c, false)));
        }
        root.entries.push(Entry::Pair(name, Value::Map(map)));
    }
    Ok(Tree {
        branches: vec![root],
        ..Default::default()
    })
}

/// Whether a blank line should separate the previous section from the next header (not when
/// the next section's own comments were just written above it).
fn head_start(out: &str) -> bool {
    !out.lines().last().is_some_and(|l| l.starts_with(';'))
}

fn value_text(key: &str, v: &Value) -> Result<String, StoreError> {
    match v {
        Value::Scalar(s) => {
            let t = s.value.as_str().ok_or_else(|| StoreError::NotUtf8 {
                key: key.to_owned(),
            })?;
            Ok(match s.kind {
                crate::tree::Kind::Bool => if s.as_bool() == Some(true) {
                    "true"
                } else {
                    "false"
                }
                .into(),
                _ => t.to_owned(),
            })
        }
        Value::Null => Ok(String::new()),
        _ => Err(StoreError::NotFlat {
            key: key.to_owned(),
            format: "INI",
        }),
    }
}

/// Writes sections. Multi-line values are triple-quoted, as go-ini writes them.
pub fn emit(tree: &Tree) -> Result<Vec<u8>, StoreError> {
    let mut out = String::new();
    for branch in &tree.branches {
        for e in &branch.entries {
            let (name, v) = match e {
                Entry::Comment(c) => {
                    out.push_str(&format!("; {}\n", String::from_utf8_lossy(c.text.expose())));
                    continue;
                }
                Entry::Pair(k, v) => (k, v),
            };
            let Value::Map(section) = v else {
                return Err(StoreError::NotFlat {
                    key: name.clone(),
                    format: "INI (top-level keys must be sections)",
                });
            };
            // sops keeps a key's comments after the key in the tree; INI writes them above it.
            let entries = &section.entries;
            let first_pair = entries
                .iter()
                .position(|e| matches!(e, Entry::Pair(..)))
                .unwrap_or(entries.len());
            for e in &entries[..first_pair] {
                if let Entry::Comment(c) = e {
                    out.push_str(&format!("; {}\n", String::from_utf8_lossy(c.text.expose())));
                }
            }
            let mut body = String::new();
            let mut i = first_pair;
            while i < entries.len() {
                let Entry::Pair(k, v) = &entries[i] else {
                    i += 1;
                    continue;
                };
                let mut j = i + 1;
                while let Some(Entry::Comment(c)) = entries.get(j) {
                    body.push_str(&format!("; {}\n", String::from_utf8_lossy(c.text.expose())));
                    j += 1;
                }
                let text = value_text(k, v)?;
                if text.contains('\n') {
                    body.push_str(&format!("{k} = \"\"\"{text}\"\"\"\n"));
                } else {
                    body.push_str(&format!("{k} = {text}\n"));
                }
                i = j;
            }
            if !out.is_empty() && !out.ends_with("\n\n") && head_start(&out) {
                out.push('\n');
            }
            out.push_str(&format!("[{name}]\n"));
            out.push_str(&body);
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_comments() {
        let src = "; greeting\n[Welcome!]\nhello = world\n; about hello\nquoted = \"a b\"\n\n[db]\nuser: root\n";
        let t = parse(src.as_bytes()).unwrap();
        let w = t.branches[0].get("Welcome!").unwrap().as_map().unwrap();
        assert!(matches!(&w.entries[0], Entry::Comment(c) if c.text.expose() == b"greeting"));
        assert_eq!(w.get("quoted"), Some(&Value::str("a b")));
        let out = String::from_utf8(emit(&t).unwrap()).unwrap();
        let again = parse(out.as_bytes()).unwrap();
        assert_eq!(again, t);
    }
}
