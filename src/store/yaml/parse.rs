//! YAML parsing: parser events into branches.
//!
//! Owns: key order, comments attached the way go-yaml/sops attach them, anchors and aliases
//! expanded under a budget, merge keys, `!!binary`, duplicate keys rejected, top-level
//! sequences refused with a clear message, the presentation hints the emitter reuses, and the
//! source layout records the splicing writer uses ([`super::layout`]). Events come from the
//! fast block-YAML scanner ([`super::fast`]) when it takes the input, else from granit-parser.
//! Must not know: encryption, metadata semantics, how values are written back.

use std::borrow::Cow;
use std::collections::HashMap;

use granit_parser::{Event, Parser, Placement, ScalarStyle, StructureStyle};

use super::event::{Ev, Pos};
use super::layout::{Rec, Shape};
use super::scalar::{Resolved, resolve_plain, resolve_tagged};
use crate::secret::SecretText;
use crate::store::{Source, StoreError};
use crate::tree::{Comment, Entry, Hints, Kind, Map, Scalar, Style, Tree, Value};

pub const ALIAS_EXPANSION_BUDGET: usize = 1_000_000;

struct PendingComment {
    text: String,
    col: usize,
    span: (u32, u32),
}

enum FrameKind {
    Map { map: Map, key: Option<String> },
    Seq { list: Vec<Value> },
}

/// Where a comment on a flow collection's line goes.
enum FlowTarget<'m> {
    Map(&'m mut Map),
    List(&'m mut Vec<Value>),
    None,
}

impl<'m> FlowTarget<'m> {
    fn of(v: &'m mut Value) -> Self {
        match v {
            Value::Map(m) => FlowTarget::Map(m),
            Value::List(l) => FlowTarget::List(l),
            _ => FlowTarget::None,
        }
    }
}

struct Frame {
    kind: FrameKind,
    col: usize,
    anchor: usize,
    block: bool,
    /// The index in [`Recorder::recs`] of the pending key's `Pair` record.
    key_rec: Option<usize>,
    /// A flow collection that has had content (the splicing writer does not handle those).
    flow_content: bool,
}

/// The layout records of the stream being parsed (see [`super::layout`]); `None` once the
/// source has something the splicing writer does not handle.
struct Recorder {
    recs: Vec<Rec>,
    keys: String,
    doc_ends: Vec<u32>,
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
    rec: Option<Recorder>,
    /// A document ended implicitly; its end is the next `---` line or the end of the text.
    open_doc_end: bool,
    /// The previous event closed an outermost flow collection (`key: {a: 1}`), so a comment
    /// right after it is that collection's line comment.
    after_flow: bool,
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
    fn new(src: &'a str) -> Self {
        Builder {
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
            // The splicing writer works on `\n` line breaks only.
            rec: (!src.contains('\r')).then(|| Recorder {
                recs: Vec::new(),
                keys: String::new(),
                doc_ends: Vec::new(),
            }),
            open_doc_end: false,
            after_flow: false,
        }
    }
}

impl<'a> Builder<'a> {
    fn err(&self, line: usize, msg: impl Into<String>) -> StoreError {
        StoreError::Syntax {
            line: Some(line),
            message: msg.into(),
        }
    }

    /// Stops recording the layout: the source has something the splicing writer leaves to the
    /// emitter (anchors, aliases, tags, flow collections with content, ...).
    fn no_layout(&mut self) {
        self.rec = None;
    }

    /// A comment right after a flow collection (`key: {a: 1} # note`): go-yaml gives it to
    /// that (outermost) collection, and sops walks it as the collection's first item when the
    /// collection is a mapping's value, or before the collection when it is a list item. The
    /// collection is the one the previous event closed (`after_flow`), the last value of the top
    /// frame. Gives the text back when that does not apply (a comment inside a flow collection
    /// stays after the item on its line, which the walk visits before that item).
    fn flow_line_comment(&mut self, text: String, after_flow: bool) -> Result<(), String> {
        if !after_flow {
            return Err(text);
        }
        let target = match self.stack.last_mut().map(|f| &mut f.kind) {
            Some(FrameKind::Map { map, key: None }) => match map.entries.last_mut() {
                Some(Entry::Pair(_, v)) => FlowTarget::of(v),
                _ => FlowTarget::None,
            },
            // A list item: its comment goes before it, on a line of its own (the writer
            // re-emits the item in block style, where no line is the item's alone).
            Some(FrameKind::Seq { list }) if !list.is_empty() => {
                let at = list.len() - 1;
                list.insert(at, Value::Comment(Comment::new(text, false)));
                self.no_layout();
                return Ok(());
            }
            _ => FlowTarget::None,
        };
        // An empty collection keeps the comment after it (the writer has no line for it inside).
        match target {
            FlowTarget::Map(map) if map.entries.is_empty() => return Err(text),
            FlowTarget::List(list) if list.is_empty() => return Err(text),
            FlowTarget::Map(map) => map
                .entries
                .insert(0, Entry::Comment(Comment::new(text, false))),
            FlowTarget::List(list) => list.insert(0, Value::Comment(Comment::new(text, false))),
            FlowTarget::None => return Err(text),
        }
        self.no_layout();
        Ok(())
    }

    fn line_start(&self, at: usize) -> usize {
        self.src[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    /// Records a comment pushed into the top frame (or into the frame at `depth`).
    fn record_comment(&mut self, frame: usize, span: (u32, u32)) {
        let Some(flow) = self.stack.get(frame).map(|f| !f.block) else {
            return;
        };
        if flow {
            self.no_layout();
            return;
        }
        let key_rec = self.stack[frame].key_rec;
        let Some(rec) = &mut self.rec else { return };
        let r = Rec::Comment {
            span: span.0..span.1,
        };
        match key_rec {
            // A comment between a key and its value belongs to the mapping, before the pair.
            Some(i) => {
                rec.recs.insert(i, r);
                self.stack[frame].key_rec = Some(i + 1);
            }
            None => rec.recs.push(r),
        }
    }

    fn push_comment(&mut self, frame: usize, c: Comment, span: (u32, u32)) {
        self.record_comment(frame, span);
        match &mut self.stack[frame].kind {
            FrameKind::Map { map, .. } => map.entries.push(Entry::Comment(c)),
            FrameKind::Seq { list } => list.push(Value::Comment(c)),
        }
    }

    /// Moves pending own-line comments whose column is at least `min_col` into the top frame.
    fn flush_pending(&mut self, min_col: usize) {
        if self.pending.is_empty() || self.stack.is_empty() {
            return;
        }
        let top = self.stack.len() - 1;
        let (take, keep): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.col >= min_col);
        self.pending = keep;
        for p in take {
            self.push_comment(top, Comment::new(p.text, false), p.span);
        }
    }

    fn flush_all_into_top(&mut self) {
        self.flush_pending(0);
    }

    fn open(
        &mut self,
        kind: FrameKind,
        pos: Pos,
        anchor: usize,
        block: bool,
    ) -> Result<(), StoreError> {
        let (col, line) = (pos.col, pos.line);
        let is_map = matches!(kind, FrameKind::Map { .. });
        let frame = Frame {
            kind,
            col,
            anchor,
            block,
            key_rec: None,
            flow_content: false,
        };
        if let Some(parent) = self.stack.last() {
            if let FrameKind::Map { key: None, .. } = parent.kind {
                return Err(self.err(
                    line,
                    "mappings and sequences cannot be used as mapping keys",
                ));
            }
            let (parent_col, parent_block) = (parent.col, parent.block);
            if !parent_block {
                self.no_layout();
            }
            // Own-line comments deeper than the parent's items belong to the new collection.
            let (inner, outer): (Vec<_>, Vec<_>) = self
                .pending
                .drain(..)
                .partition(|p| block && p.col >= col && p.col > parent_col);
            self.pending = outer;
            self.flush_all_into_top();
            self.open_record(is_map, block);
            self.stack.push(frame);
            let top = self.stack.len() - 1;
            for p in inner {
                self.push_comment(top, Comment::new(p.text, false), p.span);
            }
        } else {
            if !is_map {
                return Err(StoreError::TopLevelSequence);
            }
            if !block {
                self.no_layout();
            }
            self.open_record(is_map, block);
            self.stack.push(frame);
            self.flush_all_into_top();
        }
        Ok(())
    }

    fn open_record(&mut self, is_map: bool, block: bool) {
        if let Some(rec) = &mut self.rec {
            rec.recs.push(match (is_map, block) {
                (true, true) => Rec::Map,
                (false, true) => Rec::List,
                (true, false) => Rec::EmptyMap,
                (false, false) => Rec::EmptyList,
            });
        }
    }

    fn close(&mut self, line: usize) -> Result<(), StoreError> {
        let col = self.stack.last().map(|f| f.col).unwrap_or(0);
        if self.stack.last().is_some_and(|f| f.block) {
            self.flush_pending(col);
        }
        let frame = self.stack.pop().expect("balanced events");
        if frame.block {
            if let Some(rec) = &mut self.rec {
                rec.recs.push(Rec::End);
            }
        } else if frame.flow_content {
            self.no_layout();
        }
        // A closed collection gives back its growth slack (a third of its entries on average)
        // for the values still to come, so a large document touches fewer fresh pages.
        let value = match frame.kind {
            FrameKind::Map { mut map, key } => {
                map.entries.shrink_to_fit();
                if key.is_some() {
                    return Err(self.err(line, "mapping ended while a key had no value"));
                }
                check_duplicates(&map).map_err(|k| StoreError::DuplicateKey {
                    key: k,
                    line: Some(line),
                })?;
                Value::Map(map)
            }
            FrameKind::Seq { mut list } => {
                list.shrink_to_fit();
                Value::List(list)
            }
        };
        if frame.anchor != 0 {
            self.anchors.insert(frame.anchor, value.clone());
        }
        self.after_flow = !frame.block && self.stack.last().is_none_or(|p| p.block);
        if self.stack.is_empty() && !frame.block {
            // A flow mapping at the top (`{}`): the writer re-emits such documents.
            self.no_layout();
        }
        self.add_value(value, line, None)
    }

    /// Records where a scalar value or key sits (`style` is its source style).
    fn record_scalar(&mut self, value: &Value, pos: Pos, style: ScalarStyle) {
        if self.rec.is_none() {
            return;
        }
        let Some(top) = self.stack.last() else {
            return;
        };
        if !top.block {
            self.no_layout();
            return;
        }
        let (col, in_map, is_key) = match &top.kind {
            FrameKind::Map { key, .. } => (top.col, true, key.is_none()),
            FrameKind::Seq { .. } => (top.col, false, false),
        };
        if is_key {
            let decoded = match value {
                Value::Scalar(s) => {
                    String::from_utf8_lossy(s.repr.as_deref().unwrap_or(&s.value).expose())
                }
                _ => Cow::Borrowed(""),
            };
            self.record_key(&decoded, pos);
            return;
        }
        let col = col as u32;
        let r = match (value, style) {
            (Value::Null, _) => Rec::Null,
            (_, ScalarStyle::Literal | ScalarStyle::Folded) => match self.block_spans(pos) {
                Some((header, body)) => Rec::Block {
                    header,
                    body,
                    col,
                    in_map,
                },
                None => {
                    self.no_layout();
                    return;
                }
            },
            _ if pos.end > pos.start => Rec::Scalar {
                span: pos.start as u32..pos.end as u32,
                col,
                in_map,
            },
            _ => {
                self.no_layout();
                return;
            }
        };
        self.rec.as_mut().expect("checked").recs.push(r);
    }

    /// Records a key whose text is `key` (its token is at `pos`) in a block mapping.
    fn record_key(&mut self, key: &str, pos: Pos) {
        if self.rec.is_none() {
            return;
        }
        if pos.end <= pos.start || self.src.get(pos.start..pos.end).is_none() {
            self.no_layout();
            return;
        }
        let line_start = self.line_start(pos.start) as u32;
        let same = self.src[pos.start..pos.end] == *key;
        let rec = self.rec.as_mut().expect("checked");
        let decoded = (!same).then(|| {
            let from = rec.keys.len() as u32;
            rec.keys.push_str(key);
            from..rec.keys.len() as u32
        });
        rec.recs.push(Rec::Pair {
            key: pos.start as u32..pos.end as u32,
            line_start,
            decoded,
        });
        let i = rec.recs.len() - 1;
        if let Some(top) = self.stack.last_mut() {
            top.key_rec = Some(i);
        }
    }

    /// A block scalar's header indicator and body lines, from its content span.
    fn block_spans(&self, pos: Pos) -> Option<(std::ops::Range<u32>, std::ops::Range<u32>)> {
        let src = self.src;
        // The header is on the last non-blank line before the first content line.
        let mut ls = self.line_start(pos.start);
        let header_line = loop {
            if ls == 0 {
                return None;
            }
            let prev = self.line_start(ls - 1);
            if src[prev..ls - 1].bytes().all(|b| b == b' ') {
                ls = prev;
                continue;
            }
            break prev..ls - 1;
        };
        let line = &src[header_line.clone()];
        // Before the indicator: indentation, dashes, a key and its colon (keys were recorded).
        let from = match self.stack.last().and_then(|f| f.key_rec) {
            Some(i) => match self.rec.as_ref()?.recs.get(i)? {
                Rec::Pair { key, .. } if (key.end as usize) >= header_line.start => {
                    if key.end as usize > header_line.end {
                        return None;
                    }
                    key.end as usize - header_line.start
                }
                _ => 0,
            },
            None => 0,
        };
        let at = from
            + line[from..]
                .bytes()
                .position(|b| !matches!(b, b' ' | b'-' | b':'))?;
        if !matches!(line.as_bytes()[at], b'|' | b'>') {
            return None;
        }
        let len = line[at + 1..]
            .bytes()
            .take_while(|b| matches!(b, b'+' | b'-' | b'0'..=b'9'))
            .count()
            + 1;
        let header = header_line.start + at..header_line.start + at + len;
        let body_start = header_line.end + 1;
        let body_end = if pos.end >= src.len() {
            src.len()
        } else {
            self.line_start(pos.end)
        };
        (body_end >= body_start).then_some((
            header.start as u32..header.end as u32,
            body_start as u32..body_end as u32,
        ))
    }

    fn add_value(
        &mut self,
        value: Value,
        line: usize,
        _pos: Option<Pos>,
    ) -> Result<(), StoreError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(frame) => {
                if !frame.block {
                    frame.flow_content = true;
                }
                match &mut frame.kind {
                    FrameKind::Map { map, key } => match key.take() {
                        Some(k) => {
                            frame.key_rec = None;
                            map.entries.push(Entry::Pair(k, value));
                            Ok(())
                        }
                        None => match value {
                            Value::Scalar(s) => {
                                *key = Some(
                                    String::from_utf8_lossy(
                                        s.repr.as_deref().unwrap_or(&s.value).expose(),
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
                                message: "mappings and sequences cannot be used as mapping keys"
                                    .into(),
                            }),
                        },
                    },
                    FrameKind::Seq { list } => {
                        list.push(value);
                        Ok(())
                    }
                }
            }
        }
    }

    fn end_document(&mut self) -> Result<(), StoreError> {
        let mut map = match self.root.take() {
            None => {
                self.no_layout();
                Map::new()
            }
            Some(Value::Map(m)) => m,
            Some(Value::Null) => {
                self.no_layout();
                Map::new()
            }
            Some(Value::List(_)) => return Err(StoreError::TopLevelSequence),
            Some(_) => return Err(StoreError::TopLevelScalar),
        };
        if !map.entries.iter().any(|e| matches!(e, Entry::Pair(..))) {
            self.no_layout();
        }
        let pending: Vec<PendingComment> = self.pending.drain(..).collect();
        if let Some(rec) = &mut self.rec {
            // Comments after the root closed still belong to it: before its `End`.
            let end = rec.recs.len().saturating_sub(1);
            for (i, p) in pending.iter().enumerate() {
                rec.recs.insert(
                    end + i,
                    Rec::Comment {
                        span: p.span.0..p.span.1,
                    },
                );
            }
        }
        for p in pending {
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

    /// Handles one event.
    fn event(&mut self, event: Ev<'_>, pos: Pos) -> Result<(), StoreError> {
        let (line, col) = (pos.line, pos.col);
        let after_flow = std::mem::take(&mut self.after_flow);
        match event {
            Ev::DocStart { explicit } => {
                if self.doc_index == 0 {
                    self.hints.explicit_start = explicit;
                }
                if self.open_doc_end {
                    self.open_doc_end = false;
                    let at = self.line_start(pos.start.min(self.src.len())) as u32;
                    if let Some(rec) = &mut self.rec {
                        rec.doc_ends.push(at);
                    }
                }
                self.in_doc = true;
            }
            Ev::DocEnd { explicit } => {
                if explicit {
                    let at = self.line_start(pos.start.min(self.src.len())) as u32;
                    if let Some(rec) = &mut self.rec {
                        rec.doc_ends.push(at);
                    }
                } else {
                    self.open_doc_end = true;
                }
                self.end_document()?;
            }
            Ev::Comment { text, right } => {
                let text = text.into_owned();
                let span = (pos.start as u32, pos.end as u32);
                let text = if right {
                    match self.flow_line_comment(text, after_flow) {
                        Ok(()) => return Ok(()),
                        Err(text) => text,
                    }
                } else {
                    text
                };
                if right && !self.stack.is_empty() {
                    // `key: # note` (value not seen yet) is a comment above the pair.
                    let inline = !matches!(
                        self.stack.last(),
                        Some(Frame {
                            kind: FrameKind::Map { key: Some(_), .. },
                            ..
                        })
                    );
                    let top = self.stack.len() - 1;
                    self.push_comment(top, Comment::new(text, inline), span);
                } else {
                    self.pending.push(PendingComment { text, col, span });
                }
            }
            Ev::MapStart {
                block,
                anchor,
                tagged,
            } => {
                if anchor != 0 || tagged {
                    self.no_layout();
                }
                if block {
                    self.note_indent(col);
                }
                self.open(
                    FrameKind::Map {
                        map: Map::new(),
                        key: None,
                    },
                    pos,
                    anchor,
                    block,
                )?;
            }
            Ev::SeqStart {
                block,
                anchor,
                tagged,
            } => {
                if anchor != 0 || tagged {
                    self.no_layout();
                }
                if block
                    && self.hints.seq_indent.is_none()
                    && let Some(parent) = self.stack.last()
                    && parent.block
                    && matches!(parent.kind, FrameKind::Map { key: Some(_), .. })
                {
                    self.hints.seq_indent = Some(col > parent.col);
                }
                self.open(FrameKind::Seq { list: Vec::new() }, pos, anchor, block)?;
            }
            Ev::MapEnd | Ev::SeqEnd => self.close(line)?,
            Ev::Scalar {
                text,
                style,
                anchor,
                tag,
            } => self.scalar_event(text, style, anchor, tag, pos)?,
            Ev::Alias(id) => {
                self.no_layout();
                let value = self.anchors.get(&id).cloned().ok_or_else(|| {
                    self.err(
                        line,
                        "alias refers to an anchor that is not complete (recursive alias)",
                    )
                })?;
                let cost = node_count(&value);
                if cost > self.budget {
                    return Err(StoreError::AliasBudget {
                        budget: ALIAS_EXPANSION_BUDGET,
                    });
                }
                self.budget -= cost;
                self.add_value(value, line, None)?;
            }
        }
        Ok(())
    }

    /// A scalar event: a block mapping's key (straight to its text), else a value.
    fn scalar_event(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<(String, bool)>,
        pos: Pos,
    ) -> Result<(), StoreError> {
        let col = pos.col;
        if anchor != 0 || tag.is_some() {
            self.no_layout();
        }
        if self.stack.last().is_some_and(|f| f.block) {
            let min = self.stack.last().map(|f| f.col).unwrap_or(0);
            self.flush_pending(min);
        }
        if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
            && self
                .stack
                .last()
                .is_some_and(|f| matches!(f.kind, FrameKind::Map { key: Some(_), .. }))
        {
            self.note_indent(col);
        }
        // A key of a block mapping (no anchor, no tag: the common case) goes straight
        // to its text: a plain null spelling is the empty key, anything else its text
        // (what the general path below gives, without a scalar in between).
        if anchor == 0
            && tag.is_none()
            && let Some(Frame {
                kind: FrameKind::Map { key: None, .. },
                block: true,
                ..
            }) = self.stack.last()
        {
            let key = if style == ScalarStyle::Plain
                && matches!(&*text, "" | "~" | "null" | "Null" | "NULL")
            {
                String::new()
            } else {
                text.into_owned()
            };
            self.record_key(&key, pos);
            if let Some(Frame {
                kind: FrameKind::Map { key: slot, .. },
                ..
            }) = self.stack.last_mut()
            {
                *slot = Some(key);
            }
            return Ok(());
        }
        let value = self.scalar(
            &text,
            style,
            tag.as_ref().map(|(s, core)| (s.as_str(), *core)),
        );
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        self.record_scalar(&value, pos, style);
        self.add_value(value, pos.line, Some(pos))
    }

    /// Ends the stream: the tree, and its layout when the splicing writer can use it.
    fn finish(mut self) -> (Tree, Option<Shape>) {
        if self.docs.is_empty() {
            // A stream with no document (empty, or only comments).
            let mut map = Map::new();
            for p in self.pending.drain(..) {
                map.entries
                    .push(Entry::Comment(Comment::new(p.text, false)));
            }
            self.docs.push(map);
            self.rec = None;
        } else if !self.pending.is_empty() {
            let pending: Vec<PendingComment> = self.pending.drain(..).collect();
            if let Some(rec) = &mut self.rec {
                let end = rec.recs.len().saturating_sub(1);
                for (i, p) in pending.iter().enumerate() {
                    rec.recs.insert(
                        end + i,
                        Rec::Comment {
                            span: p.span.0..p.span.1,
                        },
                    );
                }
            }
            let last = self.docs.last_mut().expect("non-empty");
            for p in pending {
                last.entries
                    .push(Entry::Comment(Comment::new(p.text, false)));
            }
        }
        if self.open_doc_end
            && let Some(rec) = &mut self.rec
        {
            rec.doc_ends.push(self.src.len() as u32);
        }
        let layout = self.rec.take().and_then(|r| {
            (r.doc_ends.len() == self.docs.len()).then_some(Shape {
                recs: r.recs,
                keys: r.keys,
                doc_ends: r.doc_ends,
            })
        });
        (
            Tree {
                branches: self.docs,
                hints: self.hints,
            },
            layout,
        )
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

/// Parses a YAML stream into a tree (one branch per document), with its source layout.
pub fn parse(input: &[u8]) -> Result<Tree, StoreError> {
    parse_from(Source::Borrowed(input))
}

/// [`parse`] of bytes that may be handed over: the layout keeps handed-over bytes as its
/// source text instead of a copy (a large file is held once, not twice).
pub fn parse_from(input: Source<'_>) -> Result<Tree, StoreError> {
    let not_utf8 = |input: &[u8], e: std::str::Utf8Error| StoreError::Syntax {
        line: Some(
            input[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
        ),
        message: "YAML input is not valid UTF-8".into(),
    };
    let (mut tree, layout) = match input {
        Source::Borrowed(input) => {
            let src = std::str::from_utf8(input).map_err(|e| not_utf8(input, e))?;
            let (tree, shape) = parse_str(src)?;
            (
                tree,
                shape.map(|s| s.with_text(SecretText::new(src.to_owned()))),
            )
        }
        Source::Owned(input) => {
            let text = input
                .into_text()
                .map_err(|(e, input)| not_utf8(input.expose(), e))?;
            let (tree, shape) = parse_str(text.expose())?;
            (tree, shape.map(|s| s.with_text(text)))
        }
    };
    tree.hints.source = layout.map(|l| crate::tree::SourceMap(std::sync::Arc::new(l)));
    Ok(tree)
}

/// [`parse`] of text: the fast scanner when it takes the input, else granit-parser.
pub(super) fn parse_str(src: &str) -> Result<(Tree, Option<Shape>), StoreError> {
    if let Some(done) = parse_fast(src) {
        return Ok(done);
    }
    parse_granit(src)
}

/// The fast scanner's result, or `None` when it declined the input (or the builder refused its
/// events: granit-parser then gives the definitive answer and message).
pub(super) fn parse_fast(src: &str) -> Option<(Tree, Option<Shape>)> {
    let mut b = Builder::new(src);
    super::fast::scan(src, &mut |ev, pos| {
        b.event(ev, pos).map_err(|_| super::fast::Declined)
    })
    .ok()?;
    Some(b.finish())
}

/// granit-parser's events through the builder.
pub(super) fn parse_granit(src: &str) -> Result<(Tree, Option<Shape>), StoreError> {
    let mut b = Builder::new(src);
    for_each_granit_event(src, |ev, pos| b.event(ev, pos))?;
    Ok(b.finish())
}

/// Converts granit-parser's events (and fixes the column of an indentless sequence, which
/// granit reports at its first item, to its dash).
pub(super) fn for_each_granit_event(
    src: &str,
    mut f: impl FnMut(Ev<'_>, Pos) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for ev in Parser::new_from_str(src) {
        let (event, span) = ev.map_err(|e| StoreError::Syntax {
            line: Some(e.marker().line()),
            message: e.info().to_string(),
        })?;
        let start = span.start.byte_offset().unwrap_or(0).min(src.len());
        let mut pos = Pos {
            line: span.start.line(),
            col: span.start.col(),
            start,
            end: span
                .end
                .byte_offset()
                .unwrap_or(start)
                .clamp(start, src.len()),
        };
        let ev = match event {
            Event::StreamStart | Event::StreamEnd => continue,
            Event::DocumentStart(explicit, _) => Ev::DocStart { explicit },
            Event::DocumentEnd => Ev::DocEnd {
                explicit: pos.end > pos.start,
            },
            Event::Comment(text, placement) => Ev::Comment {
                text,
                right: placement == Placement::Right,
            },
            Event::MappingStart(style, anchor, tag) => Ev::MapStart {
                block: style == StructureStyle::Block,
                anchor,
                tagged: tag.is_some(),
            },
            Event::SequenceStart(style, anchor, tag) => {
                let block = style == StructureStyle::Block;
                let rest = src.as_bytes().get(start..).unwrap_or_default();
                let at_dash = rest.first() == Some(&b'-')
                    && matches!(rest.get(1), None | Some(b' ' | b'\n' | b'\r' | b'\t'));
                if block && !at_dash {
                    let before = &src[..start];
                    let trimmed = before.trim_end_matches(' ');
                    if trimmed.ends_with('-') && !trimmed.ends_with("--") {
                        pos.col -= (before.len() - trimmed.len()) + 1;
                    }
                }
                Ev::SeqStart {
                    block,
                    anchor,
                    tagged: tag.is_some(),
                }
            }
            Event::MappingEnd => Ev::MapEnd,
            Event::SequenceEnd => Ev::SeqEnd,
            Event::Scalar(text, style, anchor, tag) => Ev::Scalar {
                text,
                style,
                anchor,
                // Every `tag:yaml.org,2002:` tag (core schema, `!!binary`, `!!timestamp`) is
                // understood; other tags are ignored, as go-yaml ignores them for sops.
                tag: tag
                    .as_ref()
                    .map(|t| match t.suffix_in_namespace("tag:yaml.org,2002:") {
                        Some(suffix) => (suffix.into_owned(), true),
                        None => (t.suffix().to_owned(), false),
                    }),
            },
            Event::Alias(id) => Ev::Alias(id),
            _ => continue,
        };
        f(ev, pos)?;
    }
    Ok(())
}
