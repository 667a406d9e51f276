//! The YAML store: multi-document streams to and from the tree.
//!
//! Owns: turning granit-parser events into branches (key order, comments attached the way
//! go-yaml/sops attach them, anchors and aliases expanded under a budget, duplicate keys
//! rejected, top-level sequences refused with a clear message) and writing branches back as
//! block-style YAML (indentation kept from the source, block scalars for multi-line strings).
//! Must not know: encryption or metadata semantics (the `sops` key is just a key here).

use std::collections::HashMap;

use granit_parser::{Event, Parser, Placement, ScalarStyle, StructureStyle};

use super::StoreError;
use super::yaml_scalar::{
    Resolved, double_quoted, literal_safe, plain_safe, resolve_plain, resolve_tagged,
    single_quoted, typed_spelling,
};
use crate::tree::{Comment, Entry, Hints, Kind, Map, Scalar, Style, Tree, Value};

/// How many nodes alias expansion may create in total ("billion laughs" protection).
pub const ALIAS_EXPANSION_BUDGET: usize = 1_000_000;

struct PendingComment {
    text: String,
    col: usize,
}

enum FrameKind {
    Map { map: Map, key: Option<String> },
    Seq { list: Vec<Value> },
}

struct Frame {
    kind: FrameKind,
    col: usize,
    anchor: usize,
    block: bool,
}

impl Frame {
    fn push_comment(&mut self, c: Comment) {
        match &mut self.kind {
            FrameKind::Map { map, .. } => map.entries.push(Entry::Comment(c)),
            FrameKind::Seq { list } => list.push(Value::Comment(c)),
        }
    }
}

struct Builder<'a> {
    src: &'a str,
    docs: Vec<Map>,
    stack: Vec<Frame>,
    pending: Vec<PendingComment>,
    anchors: HashMap<usize, Value>,
    budget: usize,
    hints: Hints,
    root: Option<Value>,
    in_doc: bool,
    doc_index: usize,
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Map(m) => {
            1 + m
                .entries
                .iter()
                .map(|e| match e {
                    Entry::Pair(_, v) => 1 + node_count(v),
                    Entry::Comment(_) => 1,
                })
                .sum::<usize>()
        }
        Value::List(l) => 1 + l.iter().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

impl<'a> Builder<'a> {
    fn err(&self, line: usize, msg: impl Into<String>) -> StoreError {
        StoreError::Syntax {
            line: Some(line),
            message: msg.into(),
        }
    }

    /// Moves pending own-line comments whose column is at least `min_col` into the top frame.
    fn flush_pending(&mut self, min_col: usize) {
        if self.pending.is_empty() {
            return;
        }
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        let (take, keep): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.col >= min_col);
        for p in take {
            top.push_comment(Comment::new(p.text, false));
        }
        self.pending = keep;
    }

    fn flush_all_into_top(&mut self) {
        self.flush_pending(0);
    }

    fn open(
        &mut self,
        kind: FrameKind,
        col: usize,
        anchor: usize,
        block: bool,
        line: usize,
    ) -> Result<(), StoreError> {
        if let Some(parent) = self.stack.last() {
            if let FrameKind::Map { key: None, .. } = parent.kind {
                return Err(self.err(
                    line,
                    "mappings and sequences cannot be used as mapping keys",
                ));
            }
            // Own-line comments deeper than the parent's items belong to the new collection.
            let parent_col = parent.col;
            let (inner, outer): (Vec<_>, Vec<_>) = self
                .pending
                .drain(..)
                .partition(|p| block && p.col >= col && p.col > parent_col);
            self.pending = outer;
            self.flush_all_into_top();
            self.stack.push(Frame {
                kind,
                col,
                anchor,
                block,
            });
            for p in inner {
                self.stack
                    .last_mut()
                    .expect("just pushed")
                    .push_comment(Comment::new(p.text, false));
            }
        } else {
            if matches!(kind, FrameKind::Seq { .. }) {
                return Err(StoreError::TopLevelSequence);
            }
            self.stack.push(Frame {
                kind,
                col,
                anchor,
                block,
            });
            self.flush_all_into_top();
        }
        Ok(())
    }

    fn close(&mut self, line: usize) -> Result<(), StoreError> {
        let col = self.stack.last().map(|f| f.col).unwrap_or(0);
        if self.stack.last().is_some_and(|f| f.block) {
            self.flush_pending(col);
        }
        let frame = self.stack.pop().expect("balanced events");
        let value = match frame.kind {
            FrameKind::Map { map, key } => {
                if key.is_some() {
                    return Err(self.err(line, "mapping ended while a key had no value"));
                }
                check_duplicates(&map).map_err(|k| StoreError::DuplicateKey {
                    key: k,
                    line: Some(line),
                })?;
                Value::Map(map)
            }
            FrameKind::Seq { list } => Value::List(list),
        };
        if frame.anchor != 0 {
            self.anchors.insert(frame.anchor, value.clone());
        }
        self.add_value(value, line)
    }

    fn add_value(&mut self, value: Value, line: usize) -> Result<(), StoreError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(frame) => match &mut frame.kind {
                FrameKind::Map { map, key } => match key.take() {
                    Some(k) => {
                        map.entries.push(Entry::Pair(k, value));
                        Ok(())
                    }
                    None => match value {
                        Value::Scalar(s) => {
                            *key = Some(
                                String::from_utf8_lossy(
                                    s.repr.as_ref().unwrap_or(&s.value).expose(),
                                )
                                .into_owned(),
                            );
                            Ok(())
                        }
                        Value::Null => {
                            *key = Some(String::new());
                            Ok(())
                        }
                        _ => Err(StoreError::Syntax {
                            line: Some(line),
                            message: "mappings and sequences cannot be used as mapping keys".into(),
                        }),
                    },
                },
                FrameKind::Seq { list } => {
                    list.push(value);
                    Ok(())
                }
            },
        }
    }

    fn end_document(&mut self) -> Result<(), StoreError> {
        let mut map = match self.root.take() {
            None => Map::new(),
            Some(Value::Map(m)) => m,
            Some(Value::Null) => Map::new(),
            Some(Value::List(_)) => return Err(StoreError::TopLevelSequence),
            Some(_) => return Err(StoreError::TopLevelScalar),
        };
        for p in self.pending.drain(..) {
            map.entries
                .push(Entry::Comment(Comment::new(p.text, false)));
        }
        self.docs.push(map);
        self.anchors.clear();
        self.in_doc = false;
        self.doc_index += 1;
        Ok(())
    }

    fn scalar(&self, text: &str, style: ScalarStyle, tag: Option<(&str, bool)>) -> Value {
        let resolved = match (style, tag) {
            (_, Some((suffix, true))) => resolve_tagged(text, suffix),
            (ScalarStyle::Plain, _) => resolve_plain(text),
            _ => Resolved::Scalar(Scalar::string(text)),
        };
        match resolved {
            Resolved::Null => Value::Null,
            Resolved::Scalar(mut s) => {
                if s.kind == Kind::Str {
                    s.style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::Single,
                        ScalarStyle::DoubleQuoted => Style::Double,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    };
                }
                Value::Scalar(s)
            }
        }
    }

    fn note_indent(&mut self, child_col: usize) {
        if self.hints.indent.is_none()
            && let Some(parent) = self.stack.last()
            && matches!(parent.kind, FrameKind::Map { .. })
            && parent.block
            && child_col > parent.col
        {
            self.hints.indent = Some(child_col - parent.col);
        }
    }
}

fn check_duplicates(map: &Map) -> Result<(), String> {
    let mut keys: Vec<&str> = map.pairs().map(|(k, _)| k.as_str()).collect();
    if keys.len() < 2 {
        return Ok(());
    }
    keys.sort_unstable();
    for w in keys.windows(2) {
        if w[0] == w[1] {
            return Err(w[0].to_owned());
        }
    }
    Ok(())
}

/// Parses a YAML stream into a tree (one branch per document).
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    let src = std::str::from_utf8(input).map_err(|e| StoreError::Syntax {
        line: Some(
            input[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
        ),
        message: "YAML input is not valid UTF-8".into(),
    })?;
    let mut b = Builder {
        src,
        docs: Vec::new(),
        stack: Vec::new(),
        pending: Vec::new(),
        anchors: HashMap::new(),
        budget: ALIAS_EXPANSION_BUDGET,
        hints: Hints::default(),
        root: None,
        in_doc: false,
        doc_index: 0,
    };
    for ev in Parser::new_from_str(src) {
        let (event, span) = ev.map_err(|e| StoreError::Syntax {
            line: Some(e.marker().line()),
            message: e.info().to_string(),
        })?;
        let line = span.start.line();
        let col = span.start.col();
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(explicit, _) => {
                if b.doc_index == 0 {
                    b.hints.explicit_start = explicit;
                }
                b.in_doc = true;
            }
            Event::DocumentEnd => b.end_document()?,
            Event::Comment(text, placement) => {
                let text = text.into_owned();
                match placement {
                    Placement::Right => {
                        // `key: # note` (value not seen yet) is a comment above the pair.
                        let inline = !matches!(
                            b.stack.last(),
                            Some(Frame {
                                kind: FrameKind::Map { key: Some(_), .. },
                                ..
                            })
                        );
                        match b.stack.last_mut() {
                            Some(top) => top.push_comment(Comment::new(text, inline)),
                            None => b.pending.push(PendingComment { text, col }),
                        }
                    }
                    _ => b.pending.push(PendingComment { text, col }),
                }
            }
            Event::MappingStart(style, anchor, _) => {
                let block = style == StructureStyle::Block;
                if block {
                    b.note_indent(col);
                }
                b.open(
                    FrameKind::Map {
                        map: Map::new(),
                        key: None,
                    },
                    col,
                    anchor,
                    block,
                    line,
                )?;
            }
            Event::SequenceStart(style, anchor, _) => {
                let block = style == StructureStyle::Block;
                // granit reports an indentless sequence at its first item; use the dash column.
                let col = match span.start.byte_offset() {
                    Some(off) if block && !src[off..].starts_with('-') => {
                        let before = &src[..off];
                        let trimmed = before.trim_end_matches(' ');
                        if trimmed.ends_with('-') && !trimmed.ends_with("--") {
                            col - (before.len() - trimmed.len()) - 1
                        } else {
                            col
                        }
                    }
                    _ => col,
                };
                if block
                    && b.hints.seq_indent.is_none()
                    && let Some(parent) = b.stack.last()
                    && parent.block
                    && matches!(parent.kind, FrameKind::Map { key: Some(_), .. })
                {
                    b.hints.seq_indent = Some(col > parent.col);
                }
                b.open(
                    FrameKind::Seq { list: Vec::new() },
                    col,
                    anchor,
                    block,
                    line,
                )?;
            }
            Event::MappingEnd | Event::SequenceEnd => b.close(line)?,
            Event::Scalar(text, style, anchor, tag) => {
                if b.stack.last().is_some_and(|f| f.block) {
                    let min = b.stack.last().map(|f| f.col).unwrap_or(0);
                    b.flush_pending(min);
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && b.stack
                        .last()
                        .is_some_and(|f| matches!(f.kind, FrameKind::Map { key: Some(_), .. }))
                {
                    b.note_indent(col);
                }
                let tag_info = tag
                    .as_ref()
                    .map(|t| (t.suffix().to_owned(), t.is_yaml_core_schema()));
                let value = b.scalar(
                    &text,
                    style,
                    tag_info.as_ref().map(|(s, core)| (s.as_str(), *core)),
                );
                if anchor != 0 {
                    b.anchors.insert(anchor, value.clone());
                }
                b.add_value(value, line)?;
            }
            Event::Alias(id) => {
                let value = b.anchors.get(&id).cloned().ok_or_else(|| {
                    b.err(
                        line,
                        "alias refers to an anchor that is not complete (recursive alias)",
                    )
                })?;
                let cost = node_count(&value);
                if cost > b.budget {
                    return Err(StoreError::AliasBudget {
                        budget: ALIAS_EXPANSION_BUDGET,
                    });
                }
                b.budget -= cost;
                b.add_value(value, line)?;
            }
            _ => {}
        }
    }
    if b.docs.is_empty() {
        // A stream with no document (empty, or only comments).
        let mut map = Map::new();
        for p in b.pending.drain(..) {
            map.entries
                .push(Entry::Comment(Comment::new(p.text, false)));
        }
        b.docs.push(map);
    } else if !b.pending.is_empty() {
        let last = b.docs.last_mut().expect("non-empty");
        for p in b.pending.drain(..) {
            last.entries
                .push(Entry::Comment(Comment::new(p.text, false)));
        }
    }
    let _ = b.src;
    Ok(Tree {
        branches: b.docs,
        hints: b.hints,
    })
}

/// Options for writing YAML.
#[derive(Clone, Copy, Debug)]
pub struct EmitOptions {
    pub indent: usize,
}

/// Longest key written as an implicit (`key: value`) key; YAML allows 1024 characters.
const LONG_KEY: usize = 1000;

struct Emitter {
    out: String,
    indent: usize,
    /// Indentation of a block sequence under a mapping key (0: flush with the key).
    seq_indent: usize,
    /// The last line written holds a value a trailing comment can follow.
    last_line_valued: bool,
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
            if i == 0 && c.inline && self.last_line_valued && self.out.ends_with('\n') {
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
        Ok(())
    }

    fn key(&mut self, k: &str) {
        if plain_safe(k) || (is_plain_key(k)) {
            self.out.push_str(k);
        } else {
            self.out
                .push_str(&single_quoted(k).unwrap_or_else(|| double_quoted(k)));
        }
    }

    fn map(&mut self, m: &Map, col: usize) -> Result<(), StoreError> {
        for e in &m.entries {
            match e {
                Entry::Comment(c) => self.comment(c, col)?,
                Entry::Pair(k, v) => {
                    self.pad(col);
                    let start = self.out.len();
                    self.key(k);
                    if self.out.len() - start > LONG_KEY {
                        // YAML limits implicit keys to 1024 characters: use an explicit key.
                        self.out.insert_str(start, "? ");
                        self.out.push('\n');
                        self.pad(col);
                    }
                    self.out.push(':');
                    self.after_key(k, v, col)?;
                }
            }
        }
        Ok(())
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
            let spelled = match &s.repr {
                Some(r) => r.as_str().map(str::to_owned),
                None => None,
            }
            .unwrap_or_else(|| typed_spelling(s.kind, &s.text()));
            self.out.push_str(&spelled);
            return Ok(());
        }
        let text = s.value.as_str().ok_or_else(|| StoreError::NotUtf8 {
            key: key.to_owned(),
        })?;
        let want_block = matches!(
            s.style,
            Style::Literal | Style::Folded | Style::Any | Style::Plain
        ) && text.contains('\n');
        if want_block && literal_safe(text) {
            let leading_space = text.starts_with(' ');
            if leading_space && !in_map {
                self.out.push_str(&double_quoted(text));
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
        let quoted = match s.style {
            Style::Double => double_quoted(text),
            Style::Single => single_quoted(text).unwrap_or_else(|| double_quoted(text)),
            _ if plain_safe(text) => text.to_owned(),
            _ => single_quoted(text).unwrap_or_else(|| double_quoted(text)),
        };
        self.out.push_str(&quoted);
        Ok(())
    }

    fn list(&mut self, l: &[Value], col: usize) -> Result<(), StoreError> {
        for item in l {
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

/// Keys that read back as the same string even though `plain_safe` is strict about values.
fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !k.starts_with(['-', '.'])
        && matches!(resolve_plain(k), Resolved::Scalar(ref s) if s.kind == Kind::Str)
}

/// Writes branches as a YAML stream.
pub fn emit(tree: &Tree, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
    let indent = opts.indent.max(1);
    let mut e = Emitter {
        out: String::with_capacity(1 << 16),
        indent,
        seq_indent: if tree.hints.seq_indent == Some(false) {
            0
        } else {
            indent
        },
        last_line_valued: false,
    };
    for (i, branch) in tree.branches.iter().enumerate() {
        if i > 0 || tree.hints.explicit_start {
            e.out.push_str("---\n");
        }
        e.last_line_valued = false;
        e.map(branch, 0)?;
        if !branch.pairs().any(|_| true) {
            // An empty document (or one holding only comments) is written as an empty mapping
            // so that it stays a document when read back.
            e.out.push_str("{}\n");
        }
    }
    Ok(e.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        let t = parse(s.as_bytes()).unwrap();
        String::from_utf8(
            emit(
                &t,
                EmitOptions {
                    indent: t.hints.indent.unwrap_or(4),
                },
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn keeps_order_comments_and_types() {
        let src = "# top\nb: 1\na:\n  # above\n  x: \"true\"\n  y: 0x1F # hex\nlist:\n  - one\n  # mid\n  - 2.50\nwhen: 2024-01-01\nempty: ''\nnothing: null\n";
        assert_eq!(round(src), src);
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
        let out = emit(&t, EmitOptions { indent: 2 }).unwrap();
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
}
