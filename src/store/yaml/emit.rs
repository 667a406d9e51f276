//! YAML emitting: branches back to block-style YAML.
//!
//! Owns: indentation (kept from the source), sequence style, quoting so that every scalar
//! reads back as the same type (go-yaml rules), block scalars for multi-line strings, merge
//! keys, explicit `? key` for long keys. Must not know: parsing, encryption.

use super::layout::{Layout, Render, splice};
use super::scalar::{
    double_quoted, literal_safe, plain_safe, quoted, single_quoted, typed_spelling,
};
use crate::secret::SecretText;
use crate::store::StoreError;
use crate::tree::{Comment, Entry, Kind, Map, Scalar, Style, Tree, Value};
use zeroize::Zeroizing;

/// Options for writing YAML.
#[derive(Clone, Copy, Debug)]
pub struct EmitOptions {
    pub indent: usize,
    /// Write into the source the tree was parsed from when it still fits (see
    /// [`super::layout`]); off when an indentation different from the source's was asked for.
    pub splice: bool,
}

/// Longest key written as an implicit (`key: value`) key; YAML allows 1024 characters.
const LONG_KEY: usize = 1000;

struct Emitter {
    /// Wiped on drop and as it grows: on decrypt it holds plaintext.
    out: SecretText,
    indent: usize,
    /// Indentation of a block sequence under a mapping key (0: flush with the key).
    seq_indent: usize,
    /// The last line written holds a value a trailing comment can follow.
    last_line_valued: bool,
    /// Where the header of the block scalar just written ends: a trailing comment goes there
    /// (`key: | # note`), not after the body, where it would become part of the value.
    block_header: Option<usize>,
}

impl Emitter {
    fn pad(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    fn comment(&mut self, c: &Comment, col: usize) -> Result<(), StoreError> {
        let text = c.text.as_str().ok_or(StoreError::NotUtf8 {
            key: "a comment".into(),
        })?;
        // A comment text never contains a line break; split defensively if one does.
        for (i, line) in text.split('\n').enumerate() {
            if i == 0
                && c.inline
                && self.last_line_valued
                && let Some(at) = self.block_header.take()
            {
                self.out.insert_str(at, line);
                self.out.insert_str(at, " #");
            } else if i == 0
                && c.inline
                && self.last_line_valued
                && self.out.expose().ends_with('\n')
            {
                self.out.pop();
                self.out.push_str(" #");
                self.out.push_str(line);
                self.out.push('\n');
            } else {
                self.pad(col);
                self.out.push('#');
                self.out.push_str(line);
                self.out.push('\n');
            }
        }
        self.last_line_valued = false;
        self.block_header = None;
        Ok(())
    }

    /// A key is quoted exactly when a value would be: go-yaml v2, PyYAML and most tools built
    /// on them read a bare `yes:` or `on:` key as a boolean.
    fn key(&mut self, k: &str) {
        if plain_safe(k) {
            self.out.push_str(k);
        } else {
            self.out.push_str(&quoted(k));
        }
    }

    fn map(&mut self, m: &Map, col: usize) -> Result<(), StoreError> {
        for e in &m.entries {
            match e {
                Entry::Comment(c) => self.comment(c, col)?,
                Entry::Pair(k, v) => self.pair(k, v, col)?,
            }
        }
        Ok(())
    }

    fn pair(&mut self, k: &str, v: &Value, col: usize) -> Result<(), StoreError> {
        self.block_header = None;
        self.pad(col);
        let start = self.out.len();
        if k == "<<" && is_merge_value(v) {
            // A merge key (go-yaml's `!!merge` tag), as sops writes it.
            self.out.push_str("!!merge <<");
        } else {
            self.key(k);
        }
        if self.out.len() - start > LONG_KEY {
            // YAML limits implicit keys to 1024 characters: use an explicit key.
            self.out.insert_str(start, "? ");
            self.out.push('\n');
            self.pad(col);
        }
        self.out.push(':');
        self.after_key(k, v, col)
    }

    fn after_key(&mut self, key: &str, v: &Value, col: usize) -> Result<(), StoreError> {
        match v {
            Value::Map(m) if has_pairs_or_comments(m) => {
                self.out.push('\n');
                self.last_line_valued = true;
                self.map(m, col + self.indent)
            }
            Value::List(l) if has_values(l) => {
                self.out.push('\n');
                self.last_line_valued = true;
                self.list(l, col + self.seq_indent)
            }
            _ => {
                self.out.push(' ');
                self.inline_value(key, v, col, col + self.indent, true)
            }
        }
    }

    /// Writes a scalar (or empty collection / null) after `key: ` or `- `, ending the line.
    fn inline_value(
        &mut self,
        key: &str,
        v: &Value,
        parent_col: usize,
        block_col: usize,
        in_map: bool,
    ) -> Result<(), StoreError> {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Map(_) => self.out.push_str("{}"),
            Value::List(l) => {
                self.out.push_str("[]\n");
                self.last_line_valued = true;
                for item in l {
                    if let Value::Comment(c) = item {
                        self.comment(c, block_col)?;
                    }
                }
                return Ok(());
            }
            Value::Comment(c) => {
                // Comments are handled by the collection writers; keep the text if one lands here.
                self.out.push('#');
                self.out.push_str(&String::from_utf8_lossy(c.text.expose()));
            }
            Value::Scalar(s) => self.scalar(key, s, parent_col, block_col, in_map)?,
        }
        self.out.push('\n');
        self.last_line_valued = true;
        Ok(())
    }

    fn scalar(
        &mut self,
        key: &str,
        s: &Scalar,
        parent_col: usize,
        block_col: usize,
        in_map: bool,
    ) -> Result<(), StoreError> {
        if s.kind != Kind::Str && s.kind != Kind::Bytes {
            if let Some(r) = s.repr.as_ref().and_then(|r| r.as_str()) {
                self.out.push_str(r);
            } else {
                let text = Zeroizing::new(s.text().into_owned());
                self.out
                    .push_str(&Zeroizing::new(typed_spelling(s.kind, &text)));
            }
            return Ok(());
        }
        let Some(text) = s.value.as_str() else {
            // Bytes that are not UTF-8 (a decrypted `!!binary` value), as go-yaml writes them.
            use base64::Engine;
            self.out.push_str("!!binary ");
            self.out.push_str(&Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(s.value.expose()),
            ));
            let _ = key;
            return Ok(());
        };
        let want_block = matches!(
            s.style,
            Style::Literal | Style::Folded | Style::Any | Style::Plain
        ) && text.contains('\n');
        if want_block && literal_safe(text) {
            let leading_space = text.starts_with(' ');
            if leading_space && !in_map {
                self.out.push_str(&Zeroizing::new(double_quoted(text)));
                return Ok(());
            }
            self.out.push('|');
            if leading_space {
                self.out.push_str(&(block_col - parent_col).to_string());
            }
            let trailing = text.len() - text.trim_end_matches('\n').len();
            match trailing {
                0 => self.out.push('-'),
                1 => {}
                _ => self.out.push('+'),
            }
            self.block_header = Some(self.out.len());
            let body = text.trim_end_matches('\n');
            for line in body.split('\n') {
                self.out.push('\n');
                if !line.is_empty() {
                    self.pad(block_col);
                    self.out.push_str(line);
                }
            }
            for _ in 1..trailing {
                self.out.push('\n');
            }
            return Ok(());
        }
        // A plain scalar (every ciphertext, most values) is written as it is: no copy.
        if !matches!(s.style, Style::Double | Style::Single) && plain_safe(text) {
            self.out.push_str(text);
            return Ok(());
        }
        // Temporary copies of the value are wiped too.
        let quoted = Zeroizing::new(match s.style {
            Style::Double => double_quoted(text),
            Style::Single => single_quoted(text).unwrap_or_else(|| double_quoted(text)),
            _ => quoted(text),
        });
        self.out.push_str(&quoted);
        Ok(())
    }

    fn list(&mut self, l: &[Value], col: usize) -> Result<(), StoreError> {
        for item in l {
            if !matches!(item, Value::Comment(_)) {
                self.block_header = None;
            }
            match item {
                Value::Comment(c) => self.comment(c, col)?,
                Value::Map(m) if has_pairs_or_comments(m) => {
                    if matches!(m.entries.first(), Some(Entry::Comment(_))) {
                        // A comment on the dash line would belong to the list: start below it.
                        self.pad(col);
                        self.out.push_str("-\n");
                        self.map(m, col + 2)?;
                    } else {
                        let start = self.out.len();
                        self.map(m, col + 2)?;
                        // Turn the first line's indentation into "- ".
                        self.out.replace_range(start + col..start + col + 2, "- ");
                    }
                }
                Value::List(inner) if has_values(inner) => {
                    if matches!(inner.first(), Some(Value::Comment(_))) {
                        self.pad(col);
                        self.out.push_str("-\n");
                        self.list(inner, col + 2)?;
                    } else {
                        let start = self.out.len();
                        self.list(inner, col + 2)?;
                        self.out.replace_range(start + col..start + col + 2, "- ");
                    }
                }
                other => {
                    self.pad(col);
                    self.out.push_str("- ");
                    self.inline_value(
                        "a list element",
                        other,
                        col,
                        col + 2.max(self.indent),
                        false,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Whether a mapping is written in block style (it has pairs). A mapping of only comments is
/// written as `{}` with its comments after it: YAML cannot hold comments inside an empty map.
fn has_pairs_or_comments(m: &Map) -> bool {
    m.entries.iter().any(|e| matches!(e, Entry::Pair(..)))
}

/// Whether a list has elements other than comments (else it is written as `[]`).
fn has_values(l: &[Value]) -> bool {
    l.iter().any(|v| !matches!(v, Value::Comment(_)))
}

/// Whether a `<<` key's value is what a YAML merge takes (a mapping, or a list of mappings):
/// such a key came from a merge (`<<: *anchor`) and is written as one. Any other `<<` is a
/// literal key and is quoted (sops writes `!!merge` for every `<<` and then cannot read a
/// scalar under it back).
fn is_merge_value(v: &Value) -> bool {
    match v {
        Value::Map(_) => true,
        Value::List(items) => {
            let mut values = items.iter().filter(|i| !matches!(i, Value::Comment(_)));
            values.clone().next().is_some() && values.all(|i| matches!(i, Value::Map(_)))
        }
        _ => false,
    }
}

/// The emitter writes the parts the splicing writer changes, exactly as it writes them in a
/// whole document.
impl Render for Emitter {
    fn scalar(
        &mut self,
        out: &mut SecretText,
        v: &Scalar,
        col: usize,
        in_map: bool,
    ) -> Result<(), StoreError> {
        let block_col = if in_map {
            col + self.indent
        } else {
            col + 2.max(self.indent)
        };
        std::mem::swap(&mut self.out, out);
        let r = Emitter::scalar(self, "", v, col, block_col, in_map);
        std::mem::swap(&mut self.out, out);
        r
    }

    fn pair(&mut self, out: &mut SecretText, key: &str, v: &Value) -> Result<(), StoreError> {
        std::mem::swap(&mut self.out, out);
        self.last_line_valued = false;
        let r = Emitter::pair(self, key, v, 0);
        std::mem::swap(&mut self.out, out);
        r
    }
}

/// Writes branches as a YAML stream: into the source they were parsed from when the tree
/// still has its shape (the layout of everything that did not change is kept), else afresh.
pub fn emit(tree: &Tree, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
    let indent = opts.indent.max(1);
    let mut e = Emitter {
        out: SecretText::default(),
        indent,
        seq_indent: if tree.hints.seq_indent == Some(false) {
            0
        } else {
            indent
        },
        last_line_valued: false,
        block_header: None,
    };
    if opts.splice
        && let Some(source) = &tree.hints.source
        && let Some(layout) = source.0.downcast_ref::<Layout>()
        && let Ok(out) = splice(tree, layout, &mut e)
    {
        return Ok(out);
    }
    e.out = SecretText::with_capacity(tree.size_hint());
    for (i, branch) in tree.branches.iter().enumerate() {
        if i > 0 || tree.hints.explicit_start {
            e.out.push_str("---\n");
        }
        e.last_line_valued = false;
        e.block_header = None;
        e.map(branch, 0)?;
        if !branch.pairs().any(|_| true) {
            // An empty document (or one holding only comments) is written as an empty mapping
            // so that it stays a document when read back.
            e.out.push_str("{}\n");
        }
    }
    Ok(e.out.into_bytes())
}

/// Writes one value on its own (`decrypt --extract`), as go-yaml encodes a lone value: a
/// scalar or an empty collection on one line, a mapping or list as a block; always ending in
/// a newline.
pub fn emit_value(v: &Value, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
    let indent = opts.indent.max(1);
    let mut e = Emitter {
        out: SecretText::default(),
        indent,
        seq_indent: indent,
        last_line_valued: false,
        block_header: None,
    };
    match v {
        Value::Map(m) if has_pairs_or_comments(m) => e.map(m, 0)?,
        Value::List(l) if has_values(l) => e.list(l, 0)?,
        other => e.inline_value("the extracted value", other, 0, indent, false)?,
    }
    Ok(e.out.into_bytes())
}
