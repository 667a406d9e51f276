//! Where the nodes of a YAML (or JSON) file sit in its text, by path: findings about a value
//! (a sops leaf left in plaintext, a Secret's `data` key) are placed at that value's key, not
//! at the first line that happens to contain the key's name.
//!
//! Owns: one pass over granit-parser's events (the parser the YAML store reads with), recording
//! for every node of every document the byte offset of its key (or, in a sequence, of the item),
//! and where its anchored nodes (`&name`) lie.
//! Must not know: what the values mean, rules, findings or git.

use std::collections::HashMap;

use granit_parser::{Event, Parser};

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The offsets of one stream's nodes, per document.
pub struct Places {
    docs: Vec<HashMap<Vec<Step>, usize>>,
    /// Per document, the byte ranges of anchored nodes (`&name`): what an alias or a merge key
    /// elsewhere reads.
    anchored: Vec<Vec<std::ops::Range<usize>>>,
}

/// A collection being read.
enum Frame {
    /// A mapping: the key read and its offset while its value is awaited.
    Map(Option<(String, usize)>),
    /// A sequence: the index of the next item.
    Seq(usize),
}

impl Places {
    /// The places of `data`'s nodes; `None` when it is not UTF-8 or does not parse, or uses a
    /// key that is not a scalar.
    pub fn of(data: &[u8]) -> Option<Places> {
        let src = std::str::from_utf8(data).ok()?;
        let mut docs: Vec<HashMap<Vec<Step>, usize>> = Vec::new();
        let mut anchored: Vec<Vec<std::ops::Range<usize>>> = Vec::new();
        // The start of each open collection that carries an anchor (0 when none).
        let mut open_anchors: Vec<Option<usize>> = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut path: Vec<Step> = Vec::new();
        let mut open = false;
        for ev in Parser::new_from_str(src) {
            let (event, span) = ev.ok()?;
            let at = span.start.byte_offset().unwrap_or(0).min(src.len());
            let end = span.end.byte_offset().unwrap_or(at).clamp(at, src.len());
            // A node begins here: its step from the parent and the offset that names it.
            let node = |stack: &mut Vec<Frame>| -> Option<Option<(Step, usize)>> {
                match stack.last_mut() {
                    None => Some(None),
                    Some(Frame::Map(key)) => {
                        let (k, off) = key.take()?;
                        Some(Some((Step::Key(k), off)))
                    }
                    Some(Frame::Seq(i)) => {
                        *i += 1;
                        Some(Some((Step::Index(*i - 1), at)))
                    }
                }
            };
            match event {
                Event::DocumentStart(..) => {
                    stack.clear();
                    path.clear();
                    open_anchors.clear();
                    open = false;
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    if matches!(stack.last(), Some(Frame::Map(None))) {
                        return None;
                    }
                    if stack.is_empty() && !open {
                        docs.push(HashMap::new());
                        anchored.push(Vec::new());
                        open = true;
                    }
                    let anchor = match &event {
                        Event::MappingStart(_, a, _) | Event::SequenceStart(_, a, _) => *a,
                        _ => 0,
                    };
                    open_anchors.push((anchor != 0).then_some(at));
                    if let Some((step, off)) = node(&mut stack)? {
                        path.push(step);
                        docs.last_mut()?.insert(path.clone(), off);
                    }
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map(None)
                    } else {
                        Frame::Seq(0)
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(Some(start)) = open_anchors.pop() {
                        anchored.last_mut()?.push(start..end.max(at));
                    }
                    stack.pop();
                    if !stack.is_empty() {
                        path.pop();
                    }
                }
                Event::Scalar(text, _, anchor, _) => {
                    if anchor != 0
                        && let Some(a) = anchored.last_mut()
                    {
                        a.push(at..end);
                    }
                    if let Some(Frame::Map(key @ None)) = stack.last_mut() {
                        *key = Some((text.into_owned(), at));
                        continue;
                    }
                    if let Some((step, off)) = node(&mut stack)? {
                        let mut p = path.clone();
                        p.push(step);
                        docs.last_mut()?.insert(p, off);
                    }
                }
                Event::Alias(_) => {
                    if let Some(Frame::Map(None)) = stack.last() {
                        return None;
                    }
                    node(&mut stack)?;
                }
                _ => {}
            }
        }
        Some(Places { docs, anchored })
    }

    /// How many documents have a root collection.
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// The byte ranges of document `doc`'s anchored nodes.
    pub fn anchored(&self, doc: usize) -> &[std::ops::Range<usize>] {
        self.anchored.get(doc).map_or(&[], Vec::as_slice)
    }

    /// The offset of the key (or sequence item) of the node at `path` in document `doc`.
    pub fn at(&self, doc: usize, path: &[Step]) -> Option<usize> {
        self.docs.get(doc)?.get(path).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Step {
        Step::Key(s.to_owned())
    }

    #[test]
    fn keys_items_and_documents() {
        let src = "%YAML 1.2\n---\na:\n  value: 1\nb:\n  value: 2\n---\nkind: List\nitems:\n- x: 1\n- data:\n    \"admin\": y\n";
        let p = Places::of(src.as_bytes()).unwrap();
        assert_eq!(p.docs(), 2);
        let line = |off: usize| src[..off].matches('\n').count() + 1;
        assert_eq!(line(p.at(0, &[k("b"), k("value")]).unwrap()), 6);
        assert_eq!(line(p.at(0, &[k("a"), k("value")]).unwrap()), 4);
        let admin = p
            .at(1, &[k("items"), Step::Index(1), k("data"), k("admin")])
            .unwrap();
        assert_eq!(line(admin), 12);
        assert_eq!(&src[admin..admin + 7], "\"admin\"");
        let json = "{\"a\": {\"v\": 1}, \"b\": [{\"v\": 2}]}";
        let p = Places::of(json.as_bytes()).unwrap();
        let at = p.at(0, &[k("b"), Step::Index(0), k("v")]).unwrap();
        assert_eq!(&json[at..at + 3], "\"v\"");
        assert!(at > json.find("\"b\"").unwrap());
    }
}
