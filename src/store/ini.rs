//! The INI store: sections of string values, `;`/`#` comments, as sops (go-ini) handles them.
//!
//! Owns: sections as top-level mappings (duplicates allowed), `DEFAULT` for keys before any
//! section, quoted and triple-quoted values, comments attached to sections and keys.
//! Must not know: encryption or metadata semantics (`[sops]` is just a section here).

use zeroize::Zeroizing;

use super::StoreError;
use crate::secret::SecretText;
use crate::tree::{Comment, Entry, Map, Tree, Value};

/// go-ini's `hasSurroundedQuote`: the quote opens, closes, and appears nowhere in between.
fn surrounded(v: &str, q: char) -> bool {
    v.len() >= 2 && v.starts_with(q) && v.ends_with(q) && !v[1..v.len() - 1].contains(q)
}

/// The lines of the input, each with its terminating `\n` (if any), CR kept.
struct Lines<'a> {
    rest: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        self.number += 1;
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(line)
    }
}

fn syntax(line: usize, message: &str) -> StoreError {
    StoreError::Syntax {
        line: Some(line),
        message: message.to_owned(),
    }
}

/// go-ini's `readKeyName` (delimiters `=` and `:`; names may be quoted with `"`, `"""` or a
/// backtick): the key and the rest of the line after the delimiter.
fn key_name(line: &str, n: usize) -> Result<(String, &str), StoreError> {
    let quote = if line.starts_with("\"\"\"") && line.len() > 6 {
        Some("\"\"\"")
    } else if line.starts_with('"') {
        Some("\"")
    } else if line.starts_with('`') {
        Some("`")
    } else {
        None
    };
    if let Some(q) = quote {
        let start = q.len();
        let pos = line[start..]
            .find(q)
            .ok_or_else(|| syntax(n, "missing closing key quote"))?
            + start;
        let after = &line[pos + q.len()..];
        let i = after
            .find(['=', ':'])
            .ok_or_else(|| syntax(n, "expected key = value"))?;
        return Ok((line[start..pos].trim().to_owned(), &after[i + 1..]));
    }
    match line.find(['=', ':']) {
        None => Err(syntax(n, "expected key = value")),
        Some(0) => Err(syntax(n, "empty key name")),
        Some(i) => Ok((line[..i].trim().to_owned(), &line[i + 1..])),
    }
}

/// go-ini's `readValue` with sops's (default) options: `\"\"\"` and backtick quotes may span
/// lines, a trailing backslash continues the value, an inline comment starts at the first `#`
/// or `;`, and one pair of surrounding `'` or `"` is removed. Returns the value and the inline
/// comment, if any.
fn read_value(first: &str, lines: &mut Lines<'_>) -> Result<(String, Option<String>), StoreError> {
    let start_line = lines.number;
    let line_no_nl = first.trim_start();
    if line_no_nl.trim().is_empty() {
        return Ok((String::new(), None));
    }
    let quote = if line_no_nl.len() > 3 && line_no_nl.starts_with("\"\"\"") {
        Some("\"\"\"")
    } else if line_no_nl.starts_with('`') {
        Some("`")
    } else {
        None
    };
    if let Some(q) = quote {
        let start = q.len();
        if let Some(pos) = line_no_nl[start..].rfind(q) {
            return Ok((line_no_nl[start..start + pos].to_owned(), None));
        }
        // Continues on the next lines up to the closing quote; newlines are kept.
        let mut val = line_no_nl[start..].to_owned();
        val.push('\n');
        loop {
            let Some(next) = lines.next_line() else {
                return Err(syntax(start_line, "missing closing value quote"));
            };
            if let Some(pos) = next.rfind(q) {
                val.push_str(&next[..pos]);
                let rest = next[pos + q.len()..].trim();
                let comment = rest.strip_prefix(['#', ';']).map(|_| rest.to_owned());
                return Ok((val, comment));
            }
            val.push_str(next);
        }
    }
    let mut line = line_no_nl.trim().to_owned();
    if line.ends_with('\\') {
        line.pop();
        while let Some(next) = lines.next_line() {
            let next = next.trim();
            if next.is_empty() {
                break;
            }
            line.push_str(next);
            if !line.ends_with('\\') {
                break;
            }
            line.pop();
        }
    }
    let mut comment = None;
    if let Some(i) = line.find(['#', ';']) {
        comment = Some(line[i..].to_owned());
        line = line[..i].trim().to_owned();
    }
    if surrounded(&line, '\'') || surrounded(&line, '"') {
        line = line[1..line.len() - 1].to_owned();
    }
    Ok((line, comment))
}

/// sops's `stripCommentChar`: the leading run of `;`/`#` and spaces of a go-ini comment.
fn strip_comment(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_owned()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_owned()
    } else {
        c.to_owned()
    }
}

/// A section being read: its keys in first-seen order (a repeated key keeps its place and
/// takes the last value, as go-ini does), the comment of each key (the comment lines above it
/// and its inline comment), and the section's own comment.
#[derive(Default)]
struct Section {
    comment: Vec<String>,
    keys: Vec<(String, String, Vec<String>)>,
}

/// Parses INI text as go-ini (and so sops) reads it: one branch whose top-level keys are
/// sections; keys before any section belong to `DEFAULT`.
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    let text = std::str::from_utf8(input).map_err(|_| StoreError::Syntax {
        line: None,
        message: "INI input is not valid UTF-8".into(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<(String, Section)> = vec![("DEFAULT".to_owned(), Section::default())];
    let mut current = 0;
    let mut pending: Vec<String> = Vec::new();
    let mut lines = Lines {
        rest: text,
        number: 0,
    };
    while let Some(raw) = lines.next_line() {
        let n = lines.number;
        let line = raw.trim_start().trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(line.trim_end().to_owned());
            continue;
        }
        if line.starts_with('[') {
            let close = line
                .rfind(']')
                .ok_or_else(|| syntax(n, "unterminated section header"))?;
            let name = line[1..close].trim().to_owned();
            let rest = line[close + 1..].trim();
            if rest.starts_with(['#', ';']) {
                pending.push(rest.to_owned());
            }
            current = match sections.iter().position(|(s, _)| *s == name) {
                Some(i) => i,
                None => {
                    sections.push((name, Section::default()));
                    sections.len() - 1
                }
            };
            if !pending.is_empty() {
                sections[current].1.comment = std::mem::take(&mut pending);
            }
            continue;
        }
        let (key, rest) = key_name(line, n)?;
        let (value, inline) = read_value(rest, &mut lines)?;
        let mut comment = std::mem::take(&mut pending);
        comment.extend(inline);
        let section = &mut sections[current].1;
        match section.keys.iter_mut().find(|(k, _, _)| *k == key) {
            Some(slot) => {
                slot.1 = value;
                slot.2 = comment;
            }
            None => section.keys.push((key, value, comment)),
        }
    }
    let mut root = Map::new();
    for (name, section) in sections {
        if name == "DEFAULT" && section.keys.is_empty() && section.comment.is_empty() {
            continue;
        }
        let mut map = Map::new();
        if !section.comment.is_empty() {
            map.entries.push(Entry::Comment(Comment::new(
                strip_comment(&section.comment.join("\n")),
                false,
            )));
        }
        for (k, v, comment) in section.keys {
            map.entries.push(Entry::Pair(k, Value::str(&v)));
            if !comment.is_empty() {
                map.entries.push(Entry::Comment(Comment::new(
                    strip_comment(&comment.join("\n")),
                    false,
                )));
            }
        }
        root.entries.push(Entry::Pair(name, Value::Map(map)));
    }
    Ok(Tree {
        branches: vec![root],
        ..Default::default()
    })
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

/// A key as go-ini writes it: quoted when it holds a quote or a delimiter.
fn key_text(k: &str) -> String {
    if k.contains('"') || k.contains(['=', ':']) {
        format!("`{k}`")
    } else {
        k.to_owned()
    }
}

/// A value as go-ini writes it, so that go-ini (and this parser) read it back unchanged.
fn quoted_value(v: &str) -> Zeroizing<String> {
    let quote = if v.contains(['\n', '`']) {
        "\"\"\""
    } else if v.contains(['#', ';']) {
        "`"
    } else if v.trim() != v {
        "\""
    } else {
        ""
    };
    // Sized once, so no reallocation leaves a partial copy of the value behind.
    let mut out = Zeroizing::new(String::with_capacity(v.len() + 2 * quote.len()));
    out.push_str(quote);
    out.push_str(v);
    out.push_str(quote);
    out
}

/// A comment as go-ini writes it: `; text`, one line per line.
fn comment_lines(c: &Comment, out: &mut SecretText) {
    let text = String::from_utf8_lossy(c.text.expose());
    let (mark, body) = match text.strip_prefix(['#', ';']) {
        Some(rest) => (&text[..1], rest.trim()),
        None => (";", &*text),
    };
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(if i == 0 { mark } else { ";" });
        out.push(' ');
        out.push_str(line);
    }
    out.push('\n');
}

/// Writes sections the way go-ini does (sops's INI output): keys of `DEFAULT` first without
/// a header, `=` aligned within a section, a key's comments above it, values quoted when
/// they would not read back, a blank line between sections.
pub fn emit(tree: &Tree) -> Result<Vec<u8>, StoreError> {
    // Wiped on drop and as it grows: on decrypt it holds plaintext.
    let mut out = SecretText::with_capacity(tree.size_hint());
    let mut sections: Vec<(&String, &Map)> = Vec::new();
    for branch in &tree.branches {
        for e in &branch.entries {
            match e {
                Entry::Comment(c) => comment_lines(c, &mut out),
                Entry::Pair(k, Value::Map(m)) => sections.push((k, m)),
                Entry::Pair(k, _) => {
                    return Err(StoreError::NotFlat {
                        key: k.clone(),
                        format: "INI (top-level keys must be sections)",
                    });
                }
            }
        }
    }
    // go-ini writes the default section first.
    sections.sort_by_key(|(name, _)| name.as_str() != "DEFAULT");
    let mut first = true;
    for (name, section) in sections {
        let entries = &section.entries;
        if name == "DEFAULT" && !entries.iter().any(|e| matches!(e, Entry::Pair(..))) {
            continue;
        }
        if !first {
            out.push('\n');
        }
        first = false;
        let first_pair = entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(..)))
            .unwrap_or(entries.len());
        for e in &entries[..first_pair] {
            if let Entry::Comment(c) = e {
                comment_lines(c, &mut out);
            }
        }
        if name != "DEFAULT" {
            out.push_str(&format!("[{name}]\n"));
        }
        let width = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(k, _) => Some(key_text(k).chars().count()),
                Entry::Comment(_) => None,
            })
            .max()
            .unwrap_or(0);
        let mut i = first_pair;
        while i < entries.len() {
            let Entry::Pair(k, v) = &entries[i] else {
                i += 1;
                continue;
            };
            // sops keeps a key's comments after the key in the tree; INI writes them above it.
            let mut j = i + 1;
            while let Some(Entry::Comment(c)) = entries.get(j) {
                comment_lines(c, &mut out);
                j += 1;
            }
            let key = key_text(k);
            let pad = " ".repeat(width - key.chars().count());
            let value = Zeroizing::new(value_text(k, v)?);
            out.push_str(&key);
            out.push_str(&pad);
            out.push_str(" = ");
            out.push_str(&quoted_value(&value));
            out.push('\n');
            i = j;
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
