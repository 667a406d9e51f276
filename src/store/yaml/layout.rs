//! Where each node of a parsed YAML stream sat in its source, and the writer that splices a
//! changed tree back into that source instead of re-emitting it.
//!
//! Owns: the layout records the parser leaves (one per tree node, in the order a walk of the
//! tree visits them), the check that a tree still has the shape they describe (same keys,
//! collections, comments and nulls, in the same order), and the splice: every scalar and comment
//! is written afresh from the tree (so what changed is always what is written) into the source
//! at its span; keys, indentation, blank lines, `---` and punctuation are copied. The top-level
//! `sops` mapping is always written afresh (appended at the end of each document) and a source
//! `sops` mapping is cut out.
//! Must not know: encryption, metadata semantics beyond the `sops` key's name, how values are
//! spelled (that is the emitter's).

use std::ops::Range;

use crate::secret::{SecretBytes, SecretText};
use crate::tree::{Entry, Map, Tree, Value};

/// One node of the source, in tree-walk order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Rec {
    /// A block mapping opens (its root too); `End` closes it.
    Map,
    /// A block sequence opens; `End` closes it.
    List,
    End,
    /// An empty flow collection (`{}`, `[]`), kept as written.
    EmptyMap,
    EmptyList,
    /// A key: its token, the start of its line, and its text when that differs from the token
    /// (a quoted key), as a range of [`Layout::keys`].
    Pair {
        key: Range<u32>,
        line_start: u32,
        decoded: Option<Range<u32>>,
    },
    /// A comment, from its `#` to the end of its line.
    Comment {
        span: Range<u32>,
    },
    /// A flow scalar (plain or quoted) at `span`; `col` is its key's or its dash's column.
    Scalar {
        span: Range<u32>,
        col: u32,
        in_map: bool,
    },
    /// A literal or folded block scalar: its header indicator (`|-`) and its body lines.
    Block {
        header: Range<u32>,
        body: Range<u32>,
        col: u32,
        in_map: bool,
    },
    /// A null, kept as written (`~`, `null`, or nothing).
    Null,
}

/// What the parser records of a stream's layout, before it is joined to the source text it
/// describes ([`Shape::with_text`]): a [`Layout`] can only exist with its text.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Shape {
    pub recs: Vec<Rec>,
    pub keys: String,
    pub doc_ends: Vec<u32>,
}

impl Shape {
    /// The layout of `text`, the source this shape was recorded from.
    pub fn with_text(self, text: crate::secret::SecretText) -> Layout {
        Layout {
            text,
            recs: self.recs,
            keys: self.keys,
            doc_ends: self.doc_ends,
        }
    }
}

/// The layout of one parsed stream.
pub(super) struct Layout {
    /// The source text (plaintext when encrypting: wiped on drop), kept as text: it was
    /// checked to be UTF-8 when it was parsed, and is not checked again for every splice.
    pub text: crate::secret::SecretText,
    pub recs: Vec<Rec>,
    /// Text of quoted keys (see [`Rec::Pair`]).
    pub keys: String,
    /// Per document, where its text ends (the start of the next `---` or `...` line, or the end
    /// of the text): where a new `sops` mapping goes.
    pub doc_ends: Vec<u32>,
}

/// Why a splice was given up (the caller re-emits the whole tree instead).
#[derive(Debug)]
pub(super) struct Mismatch;

/// What a writer needs from the emitter to write the parts it changes.
pub(super) trait Render {
    /// A scalar as written after `key: ` or `- ` at `col`: one line, or a block scalar's
    /// header line followed by its body lines (without a final line break).
    fn scalar(
        &mut self,
        out: &mut SecretText,
        v: &crate::tree::Scalar,
        col: usize,
        in_map: bool,
    ) -> Result<(), crate::store::StoreError>;
    /// A top-level pair (the `sops` mapping) as whole lines at column 0.
    fn pair(
        &mut self,
        out: &mut SecretText,
        key: &str,
        v: &Value,
    ) -> Result<(), crate::store::StoreError>;
}

/// One change to the source: `src[start..end]` becomes `scratch[text]`.
struct Edit {
    start: u32,
    end: u32,
    text: Range<u32>,
}

/// Where the splicer's changes go.
enum Sink {
    /// Straight into the output, while the changes come in source order (the common case:
    /// the output is written once, and no second copy of every new value is held).
    Direct {
        /// Wiped when dropped and as it grows: on decrypt it holds plaintext (a splice given
        /// up included).
        out: SecretText,
        /// How far the source has been copied (or replaced).
        at: u32,
        /// A change came before `at`: the splice is done again [`Sink::Buffered`].
        unordered: bool,
    },
    /// Into a list of changes, sorted and applied at the end (a value that became a block
    /// scalar with a comment after it on its line puts its body after that comment).
    Buffered {
        edits: Vec<Edit>,
        scratch: SecretText,
    },
}

struct Splicer<'a, R> {
    src: &'a str,
    layout: &'a Layout,
    i: usize,
    sink: Sink,
    render: &'a mut R,
}

const SOPS: &str = "sops";

impl<R: Render> Splicer<'_, R> {
    fn next(&mut self) -> Result<&Rec, Mismatch> {
        let r = self.layout.recs.get(self.i).ok_or(Mismatch)?;
        self.i += 1;
        Ok(r)
    }

    /// Replaces `src[start..end]` with what `f` appends to the string it is given.
    fn edit(
        &mut self,
        start: u32,
        end: u32,
        f: impl FnOnce(&mut R, &mut SecretText) -> Result<(), Mismatch>,
    ) -> Result<(), Mismatch> {
        match &mut self.sink {
            Sink::Direct { out, at, unordered } => {
                if start < *at {
                    *unordered = true;
                    return Err(Mismatch);
                }
                out.push_str(&self.src[*at as usize..start as usize]);
                *at = end;
                f(self.render, out)
            }
            Sink::Buffered { edits, scratch } => {
                let from = scratch.len() as u32;
                f(self.render, scratch)?;
                edits.push(Edit {
                    start,
                    end,
                    text: from..scratch.len() as u32,
                });
                Ok(())
            }
        }
    }

    fn key_text(&self, key: &Range<u32>, decoded: &Option<Range<u32>>) -> &str {
        match decoded {
            Some(d) => &self.layout.keys[d.start as usize..d.end as usize],
            None => &self.src[key.start as usize..key.end as usize],
        }
    }

    /// Skips the records of one value (after its `Pair`), returning nothing.
    fn skip_value(&mut self) -> Result<(), Mismatch> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Rec::Map | Rec::List => depth += 1,
                Rec::End => {
                    depth = depth.checked_sub(1).ok_or(Mismatch)?;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Rec::Pair { .. } | Rec::Comment { .. } => {}
                _ if depth == 0 => return Ok(()),
                _ => {}
            }
        }
    }

    /// Where the text of the record at `self.i` begins (the start of its line), or `end`.
    fn line_start_of_next(&self, end: u32) -> u32 {
        match self.layout.recs.get(self.i) {
            Some(Rec::Pair { line_start, .. }) => *line_start,
            Some(Rec::Comment { span }) => line_start(self.src, span.start),
            _ => end,
        }
    }

    fn document(&mut self, m: &Map, doc_end: u32) -> Result<(), Mismatch> {
        // An empty document is written `{}` by the emitter.
        if self.next()? != &Rec::Map || !m.entries.iter().any(|e| matches!(e, Entry::Pair(..))) {
            return Err(Mismatch);
        }
        let mut entries = m.entries.iter().peekable();
        // Where text was cut out up to the end of the document (a source `sops` mapping last).
        let mut cut_to_end = None;
        loop {
            // A `sops` mapping in the source is cut out (from its line to the next entry's).
            if let Some(Rec::Pair {
                key,
                line_start,
                decoded,
            }) = self.layout.recs.get(self.i)
                && self.key_text(key, decoded) == SOPS
            {
                let start = *line_start;
                self.i += 1;
                self.skip_value()?;
                let end = self.line_start_of_next(doc_end);
                if !self.src[start as usize..key.start as usize]
                    .bytes()
                    .all(|b| b == b' ')
                {
                    return Err(Mismatch);
                }
                if end == doc_end {
                    cut_to_end = Some(start);
                }
                self.edit(start, end, |_, _| Ok(()))?;
                continue;
            }
            match entries.next() {
                Some(Entry::Pair(k, v)) if k == SOPS => {
                    if entries.peek().is_some() {
                        return Err(Mismatch);
                    }
                    let before = cut_to_end.unwrap_or(doc_end) as usize;
                    let needs_break = before > 0 && !self.src[..before].ends_with('\n');
                    self.edit(doc_end, doc_end, |render, out| {
                        if needs_break {
                            out.push('\n');
                        }
                        render.pair(out, k, v).map_err(|_| Mismatch)
                    })?;
                }
                Some(e) => self.entry(e)?,
                None => break,
            }
        }
        if self.next()? != &Rec::End {
            return Err(Mismatch);
        }
        Ok(())
    }

    fn entry(&mut self, e: &Entry) -> Result<(), Mismatch> {
        match e {
            Entry::Comment(c) => self.comment(&c.text),
            Entry::Pair(k, v) => {
                let Rec::Pair { key, decoded, .. } = self.next()?.clone() else {
                    return Err(Mismatch);
                };
                if self.key_text(&key, &decoded) != k {
                    return Err(Mismatch);
                }
                self.value(v, true)
            }
        }
    }

    fn comment(&mut self, text: &SecretBytes) -> Result<(), Mismatch> {
        let Rec::Comment { span } = self.next()?.clone() else {
            return Err(Mismatch);
        };
        let text = text.as_str().ok_or(Mismatch)?;
        if text.contains(['\n', '\r']) {
            return Err(Mismatch);
        }
        if self.src.as_bytes().get(span.start as usize) != Some(&b'#') {
            return Err(Mismatch);
        }
        // Even an unchanged comment is an edit: the overlap check then proves that no cut
        // (a source `sops` mapping) removes a comment the tree still holds.
        self.edit(span.start + 1, span.end, |_, out| {
            out.push_str(text);
            Ok(())
        })
    }

    fn value(&mut self, v: &Value, in_map: bool) -> Result<(), Mismatch> {
        let rec = self.next()?.clone();
        match (v, rec) {
            (Value::Null, Rec::Null) => Ok(()),
            (Value::Map(m), Rec::EmptyMap) if m.entries.is_empty() => Ok(()),
            (Value::List(l), Rec::EmptyList) if l.is_empty() => Ok(()),
            (Value::Map(m), Rec::Map) => {
                for e in &m.entries {
                    self.entry(e)?;
                }
                (self.next()? == &Rec::End).then_some(()).ok_or(Mismatch)
            }
            (Value::List(l), Rec::List) => {
                for item in l {
                    match item {
                        Value::Comment(c) => self.comment(&c.text)?,
                        other => self.value(other, false)?,
                    }
                }
                (self.next()? == &Rec::End).then_some(()).ok_or(Mismatch)
            }
            (
                Value::Scalar(s),
                Rec::Scalar {
                    span,
                    col,
                    in_map: m,
                },
            ) if m == in_map => self.scalar(s, span.clone(), None, col, in_map),
            (
                Value::Scalar(s),
                Rec::Block {
                    header,
                    body,
                    col,
                    in_map: m,
                },
            ) if m == in_map => self.scalar(s, header, Some(body), col, in_map),
            _ => Err(Mismatch),
        }
    }

    /// Writes a scalar over `span` (and removes a source block scalar's `body`). A rendering
    /// that is a block scalar puts its header at `span` and its body after the span's line.
    fn scalar(
        &mut self,
        s: &crate::tree::Scalar,
        span: Range<u32>,
        body: Option<Range<u32>>,
        col: u32,
        in_map: bool,
    ) -> Result<(), Mismatch> {
        let src = self.src;
        // Where the span's line ends: a block scalar's body goes there (the line may hold a
        // comment: `key: | # note` is valid YAML).
        let line_end = || {
            src[span.end as usize..]
                .find('\n')
                .map_or(src.len(), |i| span.end as usize + i)
        };
        match &mut self.sink {
            Sink::Direct { out, at, unordered } => {
                if span.start < *at {
                    *unordered = true;
                    return Err(Mismatch);
                }
                out.push_str(&src[*at as usize..span.start as usize]);
                let from = out.len();
                self.render
                    .scalar(out, s, col as usize, in_map)
                    .map_err(|_| Mismatch)?;
                *at = span.end;
                if let Some(nl) = out.expose()[from..].find('\n') {
                    // Header where the value was, body after the rest of its line.
                    let end = line_end();
                    let body = out.split_off(from + nl);
                    out.push_str(&src[span.end as usize..end]);
                    out.push_str(body.expose());
                    *at = end as u32;
                }
            }
            Sink::Buffered { edits, scratch } => {
                let from = scratch.len();
                self.render
                    .scalar(scratch, s, col as usize, in_map)
                    .map_err(|_| Mismatch)?;
                let rendered = &scratch.expose()[from..];
                if body.is_none() && rendered == &src[span.start as usize..span.end as usize] {
                    scratch.truncate(from);
                    return Ok(());
                }
                match rendered.find('\n') {
                    None => edits.push(Edit {
                        start: span.start,
                        end: span.end,
                        text: from as u32..scratch.len() as u32,
                    }),
                    Some(nl) => {
                        let end = line_end() as u32;
                        edits.push(Edit {
                            start: span.start,
                            end: span.end,
                            text: from as u32..(from + nl) as u32,
                        });
                        edits.push(Edit {
                            start: end,
                            end,
                            text: (from + nl) as u32..scratch.len() as u32,
                        });
                    }
                }
            }
        }
        if let Some(b) = body {
            self.edit(b.start, b.end, |_, _| Ok(()))?;
        }
        Ok(())
    }
}

fn line_start(src: &str, at: u32) -> u32 {
    src[..at as usize].rfind('\n').map_or(0, |i| i as u32 + 1)
}

/// Writes `tree` into the source `layout` describes, or [`Mismatch`] when the tree no longer
/// has the source's shape.
pub(super) fn splice<R: Render>(
    tree: &Tree,
    layout: &Layout,
    render: &mut R,
) -> Result<Vec<u8>, Mismatch> {
    let src = layout.text.expose();
    if tree.branches.len() != layout.doc_ends.len() {
        return Err(Mismatch);
    }
    // In source order first: the output is written once. A change out of order (rare: see
    // [`Sink::Buffered`]) has the whole splice done again through a sorted list of changes.
    let direct = Sink::Direct {
        out: SecretText::with_capacity(estimate(tree, layout)),
        at: 0,
        unordered: false,
    };
    match splice_into(tree, layout, render, direct) {
        Ok(Sink::Direct { mut out, at, .. }) => {
            out.push_str(&src[at as usize..]);
            return Ok(out.into_bytes());
        }
        Err(Some(Sink::Direct {
            unordered: true, ..
        })) => {}
        _ => return Err(Mismatch),
    }
    let buffered = Sink::Buffered {
        edits: Vec::with_capacity(layout.recs.len() / 2),
        scratch: SecretText::with_capacity(estimate(tree, layout)),
    };
    let Ok(Sink::Buffered {
        mut edits, scratch, ..
    }) = splice_into(tree, layout, render, buffered)
    else {
        return Err(Mismatch);
    };
    if !edits.windows(2).all(|w| w[0].start <= w[1].start) {
        edits.sort_by_key(|e| e.start);
    }
    let replaced: usize = edits.iter().map(|e| (e.end - e.start) as usize).sum();
    let mut out = SecretText::with_capacity(src.len() - replaced.min(src.len()) + scratch.len());
    let mut at = 0u32;
    for e in &edits {
        if e.start < at {
            return Err(Mismatch);
        }
        out.push_str(&src[at as usize..e.start as usize]);
        out.push_str(&scratch.expose()[e.text.start as usize..e.text.end as usize]);
        at = e.end;
    }
    out.push_str(&src[at as usize..]);
    Ok(out.into_bytes())
}

/// About the size of the splice's output: the source without the values and comments the tree
/// replaces, plus the tree's own, with room for quoting, block indentation and the `sops`
/// mapping. Written into one buffer of this size, the output does not grow (growing copies it;
/// see [`SecretText::reserve`]), and wiping it on drop touches few pages it never wrote (on
/// decrypt the source is the ciphertext, several times the output).
fn estimate(tree: &Tree, layout: &Layout) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::Scalar(s) => s.bytes().len() + 2,
            Value::Comment(c) => c.text.len() + 2,
            Value::Map(m) => map(m),
            Value::List(l) => l.iter().map(value).sum(),
            Value::Null => 0,
        }
    }
    fn map(m: &Map) -> usize {
        m.entries
            .iter()
            .map(|e| match e {
                Entry::Pair(_, v) => value(v),
                Entry::Comment(c) => c.text.len() + 2,
            })
            .sum()
    }
    let replaced: usize = layout
        .recs
        .iter()
        .map(|r| match r {
            Rec::Scalar { span, .. } | Rec::Comment { span } => span.len(),
            Rec::Block { header, body, .. } => (body.end - header.start) as usize,
            _ => 0,
        })
        .sum();
    let new: usize = tree.branches.iter().map(map).sum();
    let src = layout.text.expose().len();
    src.saturating_sub(replaced) + new + new / 4 + (64 << 10)
}

/// Walks the tree against the layout into `sink`; on a mismatch, gives the sink back when it
/// can say why (a [`Sink::Direct`] that met a change out of order).
fn splice_into<R: Render>(
    tree: &Tree,
    layout: &Layout,
    render: &mut R,
    sink: Sink,
) -> Result<Sink, Option<Sink>> {
    let mut s = Splicer {
        src: layout.text.expose(),
        layout,
        i: 0,
        sink,
        render,
    };
    let walked = tree
        .branches
        .iter()
        .zip(&layout.doc_ends)
        .try_for_each(|(branch, &end)| s.document(branch, end));
    match walked {
        Ok(()) if s.i == layout.recs.len() => Ok(s.sink),
        Ok(()) => Err(None),
        Err(Mismatch) => Err(Some(s.sink)),
    }
}
