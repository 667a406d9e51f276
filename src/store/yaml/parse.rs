//! YAML parsing: granit-parser events into branches.
//!
//! Owns: key order, comments attached the way go-yaml/sops attach them, anchors and aliases
//! expanded under a budget, merge keys, `!!binary`, duplicate keys rejected, top-level
//! sequences refused with a clear message, and the presentation hints the emitter reuses.
//! Must not know: encryption, metadata semantics, how values are written back.

use std::collections::HashMap;

use granit_parser::{Event, Parser, Placement, ScalarStyle, StructureStyle};

use super::scalar::{Resolved, resolve_plain, resolve_tagged};
use crate::store::StoreError;
use crate::tree::{Comment, Entry, Hints, Kind, Map, Scalar, Style, Tree, Value};

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
                // Every `tag:yaml.org,2002:` tag (core schema, `!!binary`, `!!timestamp`) is
                // understood; other tags are ignored, as go-yaml ignores them for sops.
                let tag_info =
                    tag.as_ref()
                        .map(|t| match t.suffix_in_namespace("tag:yaml.org,2002:") {
                            Some(suffix) => (suffix.into_owned(), true),
                            None => (t.suffix().to_owned(), false),
                        });
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
