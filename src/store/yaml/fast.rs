//! A fast scanner for plain block YAML: the files sops users keep (block mappings and
//! sequences, single-line plain and quoted scalars, literal block scalars, comments, `---`)
//! read at memory speed, producing exactly the events granit-parser produces for them.
//!
//! Owns: recognising that subset and declining everything else: tabs, carriage returns,
//! control characters, directives, `...`, anchors, aliases, tags, explicit keys, flow
//! collections with content, folded scalars, block scalars with an indentation indicator,
//! multi-line plain or quoted scalars, empty documents. A declined input is read by
//! granit-parser instead, so the scanner never decides what a file means on its own; the
//! property test `fast_scanner_agrees_with_granit` holds it to granit's events.
//! Must not know: what the events mean (that is the builder's), encryption.

use std::borrow::Cow;

use granit_parser::ScalarStyle;

use super::event::{Ev, Pos};

/// The scanner does not take this input (granit-parser reads it instead).
#[derive(Debug)]
pub(super) struct Declined;

type Sink<'s, 'a> = &'s mut dyn FnMut(Ev<'a>, Pos) -> Result<(), Declined>;

/// Deepest nesting the scanner follows (its recursion is bounded; granit takes deeper files).
const MAX_DEPTH: usize = 64;
/// Longest key it reads (YAML limits implicit keys to 1024 characters).
const MAX_KEY: usize = 1000;

/// What the next non-blank, non-comment line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// Content at this indentation (the scanner stands at its line start).
    Content(usize),
    /// A `---` line.
    DocStart,
    Eof,
}

struct Scanner<'a, 's> {
    src: &'a str,
    b: &'a [u8],
    /// Start of the line the scanner stands at.
    at: usize,
    /// 1-based number of that line.
    line: usize,
    /// Where [`Scanner::peek_content`] found content.
    peek_at: usize,
    sink: Sink<'s, 'a>,
}

/// Scans `src`, handing each event to `sink`, or declines.
pub(super) fn scan<'a>(src: &'a str, sink: Sink<'_, 'a>) -> Result<(), Declined> {
    if !acceptable_text(src) {
        return Err(Declined);
    }
    let mut s = Scanner {
        src,
        b: src.as_bytes(),
        at: 0,
        line: 1,
        peek_at: 0,
        sink,
    };
    s.stream()
}

/// Rejects the characters the scanner leaves to granit-parser: control characters (tab and
/// carriage return included), DEL, C1 controls other than NEL, and byte order marks.
fn acceptable_text(src: &str) -> bool {
    let b = src.as_bytes();
    // Non-short-circuiting, so that it vectorises.
    if b.iter().fold(false, |bad, &c| {
        bad | ((c < 0x20) & (c != b'\n')) | (c == 0x7f)
    }) {
        return false;
    }
    // U+0080..U+009F (C2 80..C2 9F) except NEL (C2 85), and U+FEFF (EF BB BF).
    !memchr::memchr_iter(0xC2, b)
        .any(|i| matches!(b.get(i + 1), Some(&c) if (0x80..=0x9f).contains(&c) && c != 0x85))
        && memchr::memmem::find(b, "\u{feff}".as_bytes()).is_none()
}

fn is_space_or_end(b: Option<&u8>) -> bool {
    matches!(b, None | Some(b' ' | b'\n'))
}

impl<'a> Scanner<'a, '_> {
    fn line_end(&self, from: usize) -> usize {
        memchr::memchr(b'\n', &self.b[from..]).map_or(self.b.len(), |i| from + i)
    }

    /// The column (in characters, as granit counts) of byte `at` on the current line.
    fn col(&self, at: usize) -> usize {
        let seg = &self.src[self.at..at];
        if seg.is_ascii() {
            seg.len()
        } else {
            seg.chars().count()
        }
    }

    fn pos(&self, start: usize, end: usize) -> Pos {
        Pos {
            line: self.line,
            col: self.col(start),
            start,
            end,
        }
    }

    fn emit(&mut self, ev: Ev<'a>, pos: Pos) -> Result<(), Declined> {
        (self.sink)(ev, pos)
    }

    /// Moves to the start of the next line.
    fn next_line(&mut self) {
        let end = self.line_end(self.at);
        self.at = (end + 1).min(self.b.len());
        self.line += 1;
    }

    fn indent_at(&self, at: usize) -> usize {
        self.b[at..].iter().take_while(|&&c| c == b' ').count()
    }

    /// Skips blank lines and emits own-line comments until the next content line.
    fn next_content(&mut self) -> Result<Next, Declined> {
        loop {
            if self.at >= self.b.len() {
                return Ok(Next::Eof);
            }
            let ind = self.indent_at(self.at);
            let first = self.at + ind;
            match self.b.get(first) {
                None => {
                    self.at = self.b.len();
                    return Ok(Next::Eof);
                }
                Some(b'\n') => self.next_line(),
                Some(b'#') => {
                    let end = self.line_end(first);
                    let pos = self.pos(first, end);
                    self.emit(
                        Ev::Comment {
                            text: Cow::Borrowed(&self.src[first + 1..end]),
                            right: false,
                        },
                        pos,
                    )?;
                    self.next_line();
                }
                Some(_) => {
                    if ind == 0 {
                        let rest = &self.b[first..];
                        if rest.starts_with(b"---") && is_space_or_end(rest.get(3)) {
                            return Ok(Next::DocStart);
                        }
                        if rest.starts_with(b"...") && is_space_or_end(rest.get(3)) {
                            return Err(Declined);
                        }
                        if rest[0] == b'%' {
                            return Err(Declined);
                        }
                    }
                    return Ok(Next::Content(ind));
                }
            }
        }
    }

    /// What [`Scanner::next_content`] would find, without emitting anything; the line it
    /// found starts at `self.peek_at`.
    fn peek_content(&mut self, from: usize) -> Next {
        let mut at = from;
        loop {
            if at >= self.b.len() {
                return Next::Eof;
            }
            let ind = self.indent_at(at);
            match self.b.get(at + ind) {
                None => return Next::Eof,
                Some(b'\n' | b'#') => at = (self.line_end(at) + 1).min(self.b.len()),
                Some(_) => {
                    self.peek_at = at;
                    let rest = &self.b[at..];
                    if ind == 0 && rest.starts_with(b"---") && is_space_or_end(rest.get(3)) {
                        return Next::DocStart;
                    }
                    return Next::Content(ind);
                }
            }
        }
    }

    /// After content on a line (at byte `at`): spaces, then an optional comment, then the end
    /// of the line, which the scanner moves past.
    fn end_of_line(&mut self, mut at: usize) -> Result<(), Declined> {
        while self.b.get(at) == Some(&b' ') {
            at += 1;
        }
        match self.b.get(at) {
            None => {
                self.at = self.b.len();
                Ok(())
            }
            Some(b'\n') => {
                self.next_line();
                Ok(())
            }
            Some(b'#') if at > 0 && self.b[at - 1] == b' ' => {
                let end = self.line_end(at);
                let pos = self.pos(at, end);
                self.emit(
                    Ev::Comment {
                        text: Cow::Borrowed(&self.src[at + 1..end]),
                        right: true,
                    },
                    pos,
                )?;
                self.next_line();
                Ok(())
            }
            _ => Err(Declined),
        }
    }

    fn stream(&mut self) -> Result<(), Declined> {
        let mut docs = 0;
        let mut next = self.next_content()?;
        loop {
            let explicit = next == Next::DocStart;
            if explicit {
                let start = self.at;
                let pos = self.pos(start, start + 3);
                self.emit(Ev::DocStart { explicit: true }, pos)?;
                // Nothing but a comment may follow `---` on its line.
                self.end_of_line(start + 3)?;
                next = self.next_content()?;
            }
            let Next::Content(ind) = next else {
                // An empty document (or an empty stream).
                return Err(Declined);
            };
            if !explicit {
                if docs > 0 {
                    return Err(Declined);
                }
                let pos = self.pos(self.at + ind, self.at + ind);
                self.emit(Ev::DocStart { explicit: false }, pos)?;
            }
            docs += 1;
            let first = self.at + ind;
            if self.b[first] == b'-' && is_space_or_end(self.b.get(first + 1)) {
                // A sequence at the top: the builder's message comes from granit's events.
                return Err(Declined);
            }
            next = self.map(ind, 0)?;
            match next {
                Next::Content(_) => return Err(Declined),
                Next::DocStart => {
                    let pos = self.pos(self.at, self.at);
                    self.emit(Ev::DocEnd { explicit: false }, pos)?;
                }
                Next::Eof => {
                    let pos = Pos {
                        line: self.line,
                        col: 0,
                        start: self.b.len(),
                        end: self.b.len(),
                    };
                    return self.emit(Ev::DocEnd { explicit: false }, pos);
                }
            }
        }
    }

    /// A key at byte `at`: its token's span, its text and style, and where its `:` is.
    #[allow(clippy::type_complexity)]
    fn key(&self, at: usize) -> Result<(usize, usize, Cow<'a, str>, ScalarStyle, usize), Declined> {
        match self.b[at] {
            b'"' | b'\'' => {
                let (end, text, style) = self.quoted(at)?;
                let mut c = end;
                while self.b.get(c) == Some(&b' ') {
                    c += 1;
                }
                if self.b.get(c) != Some(&b':') || !is_space_or_end(self.b.get(c + 1)) {
                    return Err(Declined);
                }
                Ok((at, end, text, style, c))
            }
            b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!'
            | b'|' | b'>' | b'%' | b'@' | b'`' => {
                // `-x: 1` is a fine key, but rare: granit reads it.
                Err(Declined)
            }
            _ => {
                let end = self.line_end(at);
                let line = &self.b[at..end];
                let mut i = 0;
                let colon = loop {
                    let Some(j) = memchr::memchr2(b':', b'#', &line[i..]) else {
                        return Err(Declined);
                    };
                    let j = i + j;
                    if line[j] == b'#' {
                        if line[j - 1] == b' ' {
                            return Err(Declined);
                        }
                    } else if is_space_or_end(line.get(j + 1)) {
                        break j;
                    }
                    i = j + 1;
                };
                let mut kend = colon;
                while kend > 0 && line[kend - 1] == b' ' {
                    kend -= 1;
                }
                if kend == 0 || kend > MAX_KEY {
                    return Err(Declined);
                }
                let text = &self.src[at..at + kend];
                Ok((
                    at,
                    at + kend,
                    Cow::Borrowed(text),
                    ScalarStyle::Plain,
                    at + colon,
                ))
            }
        }
    }

    /// A single-line quoted scalar at `at`: where it ends (after the closing quote), its
    /// text, its style.
    fn quoted(&self, at: usize) -> Result<(usize, Cow<'a, str>, ScalarStyle), Declined> {
        let line_end = self.line_end(at);
        let body = &self.src[at + 1..line_end];
        if self.b[at] == b'\'' {
            let mut out: Option<String> = None;
            let mut i = 0;
            let bytes = body.as_bytes();
            loop {
                let Some(j) = memchr::memchr(b'\'', &bytes[i..]) else {
                    return Err(Declined);
                };
                let j = i + j;
                if bytes.get(j + 1) == Some(&b'\'') {
                    out.get_or_insert_with(String::new).push_str(&body[i..=j]);
                    i = j + 2;
                    continue;
                }
                let text = match out {
                    None => Cow::Borrowed(&body[..j]),
                    Some(mut s) => {
                        s.push_str(&body[i..j]);
                        Cow::Owned(s)
                    }
                };
                return Ok((at + 1 + j + 1, text, ScalarStyle::SingleQuoted));
            }
        }
        let bytes = body.as_bytes();
        let mut out: Option<String> = None;
        let mut i = 0;
        loop {
            let Some(j) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
                return Err(Declined);
            };
            let j = i + j;
            if bytes[j] == b'"' {
                let text = match out {
                    None => Cow::Borrowed(&body[..j]),
                    Some(mut s) => {
                        s.push_str(&body[i..j]);
                        Cow::Owned(s)
                    }
                };
                return Ok((at + 1 + j + 1, text, ScalarStyle::DoubleQuoted));
            }
            let s = out.get_or_insert_with(String::new);
            s.push_str(&body[i..j]);
            let (c, used) = unescape(&body[j + 1..]).ok_or(Declined)?;
            s.push(c);
            i = j + 1 + used;
        }
    }

    /// A block mapping whose keys are at indentation `ind`; the scanner stands at the line of
    /// its first key (`first` is that key's byte offset when it shares a line with a dash).
    fn map(&mut self, ind: usize, depth: usize) -> Result<Next, Declined> {
        self.map_at(ind, self.at + ind, depth)
    }

    fn map_at(&mut self, ind: usize, first: usize, depth: usize) -> Result<Next, Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        let pos = self.pos(first, first);
        self.emit(
            Ev::MapStart {
                block: true,
                anchor: 0,
                tagged: false,
            },
            pos,
        )?;
        let mut key_at = first;
        loop {
            let (start, end, text, style, colon) = self.key(key_at)?;
            let pos = self.pos(start, end);
            self.emit(
                Ev::Scalar {
                    text,
                    style,
                    anchor: 0,
                    tag: None,
                },
                pos,
            )?;
            let next = self.value_after(colon + 1, ind, true, depth)?;
            match next {
                Next::Content(i) if i == ind => {
                    let at = self.at + i;
                    if self.b[at] == b'-' && is_space_or_end(self.b.get(at + 1)) {
                        // A dash at a mapping's indentation after a scalar value.
                        return Err(Declined);
                    }
                    key_at = at;
                }
                Next::Content(i) if i > ind => return Err(Declined),
                other => {
                    let pos = self.pos(self.at, self.at);
                    self.emit(Ev::MapEnd, pos)?;
                    return Ok(other);
                }
            }
        }
    }

    /// A block sequence whose dashes are at indentation `ind`; the scanner stands at the line
    /// of its first dash. `indentless`: it sits at its parent key's indentation.
    fn seq(&mut self, ind: usize, indentless: bool, depth: usize) -> Result<Next, Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        if indentless {
            // granit places an indentless sequence whose first item is `- # comment` oddly.
            let dash = self.at + ind;
            let rest = self.b[dash + 1..self.line_end(dash)].trim_ascii_start();
            if rest.is_empty() || rest[0] == b'#' {
                return Err(Declined);
            }
        }
        let pos = self.pos(self.at + ind, self.at + ind);
        self.emit(
            Ev::SeqStart {
                block: true,
                anchor: 0,
                tagged: false,
            },
            pos,
        )?;
        loop {
            let dash = self.at + ind;
            if self.b[dash] != b'-' || !is_space_or_end(self.b.get(dash + 1)) {
                return Err(Declined);
            }
            let mut at = dash + 1;
            while self.b.get(at) == Some(&b' ') {
                at += 1;
            }
            let next = match self.b.get(at) {
                Some(b'-') if is_space_or_end(self.b.get(at + 1)) => return Err(Declined),
                Some(c) if *c != b'\n' && *c != b'#' && self.starts_key(at) => {
                    // `- key: value`: a mapping at the key's column.
                    let col = self.col(at);
                    self.map_at(col, at, depth + 1)?
                }
                _ => self.value_after(dash + 1, ind, false, depth)?,
            };
            match next {
                Next::Content(i) if i == ind => {
                    let at = self.at + i;
                    if self.b[at] != b'-' || !is_space_or_end(self.b.get(at + 1)) {
                        // Only an indentless sequence may be followed by its parent's key;
                        // the caller checks that.
                        let pos = self.pos(self.at, self.at);
                        self.emit(Ev::SeqEnd, pos)?;
                        return Ok(next);
                    }
                }
                Next::Content(i) if i > ind => return Err(Declined),
                other => {
                    let pos = self.pos(self.at, self.at);
                    self.emit(Ev::SeqEnd, pos)?;
                    return Ok(other);
                }
            }
        }
    }

    /// Whether a mapping key starts at `at` (a `key:` on this line).
    fn starts_key(&self, at: usize) -> bool {
        self.key(at).is_ok()
    }

    /// The value after a key's colon (or a dash) at byte `at`; `ind` is the key's (dash's)
    /// indentation. Returns what follows the value.
    fn value_after(
        &mut self,
        mut at: usize,
        ind: usize,
        in_map: bool,
        depth: usize,
    ) -> Result<Next, Declined> {
        while self.b.get(at) == Some(&b' ') {
            at += 1;
        }
        let c = self.b.get(at).copied();
        match c {
            None | Some(b'\n' | b'#') => {
                // granit emits a mapping value's null before the comment on its line, and a
                // list item's after it.
                let line = self.line;
                let null_at = at.min(self.b.len());
                let below = (self.line_end(at) + 1).min(self.b.len());
                let nested = self.nests_below(below, ind, in_map);
                if !nested && in_map {
                    self.null(null_at, line)?;
                }
                self.end_of_line(at)?;
                if !nested {
                    if !in_map {
                        self.null(null_at, line)?;
                    }
                    return self.next_content();
                }
                self.nested(ind, depth)
            }
            Some(b'"' | b'\'') => {
                let (end, text, style) = self.quoted(at)?;
                let pos = self.pos(at, end);
                self.emit(
                    Ev::Scalar {
                        text,
                        style,
                        anchor: 0,
                        tag: None,
                    },
                    pos,
                )?;
                self.end_of_line(end)?;
                self.after_scalar(ind)
            }
            Some(b'|') => self.literal(at, ind),
            Some(b'[' | b'{') => {
                let close = if c == Some(b'[') { b']' } else { b'}' };
                if self.b.get(at + 1) != Some(&close) {
                    return Err(Declined);
                }
                let seq = c == Some(b'[');
                let pos = self.pos(at, at + 1);
                self.emit(
                    if seq {
                        Ev::SeqStart {
                            block: false,
                            anchor: 0,
                            tagged: false,
                        }
                    } else {
                        Ev::MapStart {
                            block: false,
                            anchor: 0,
                            tagged: false,
                        }
                    },
                    pos,
                )?;
                let pos = self.pos(at + 1, at + 2);
                self.emit(if seq { Ev::SeqEnd } else { Ev::MapEnd }, pos)?;
                self.end_of_line(at + 2)?;
                self.after_scalar(ind)
            }
            Some(
                b'-' | b'?' | b':' | b',' | b']' | b'}' | b'&' | b'*' | b'!' | b'>' | b'%' | b'@'
                | b'`',
            ) if c != Some(b'-') || is_space_or_end(self.b.get(at + 1)) => Err(Declined),
            Some(_) => {
                let _ = in_map;
                let end = self.line_end(at);
                let line = &self.b[at..end];
                // The value ends at a comment; `: ` inside it or a trailing `:` is an error
                // (or a key) that granit reports.
                let mut stop = line.len();
                let mut i = 0;
                while let Some(j) = memchr::memchr2(b':', b'#', &line[i..]) {
                    let j = i + j;
                    if line[j] == b'#' {
                        if line[j - 1] == b' ' {
                            stop = j;
                            break;
                        }
                    } else if is_space_or_end(line.get(j + 1)) {
                        return Err(Declined);
                    }
                    i = j + 1;
                }
                let mut vend = stop;
                while vend > 0 && line[vend - 1] == b' ' {
                    vend -= 1;
                }
                let text = &self.src[at..at + vend];
                let pos = self.pos(at, at + vend);
                self.emit(
                    Ev::Scalar {
                        text: Cow::Borrowed(text),
                        style: ScalarStyle::Plain,
                        anchor: 0,
                        tag: None,
                    },
                    pos,
                )?;
                self.end_of_line(at + vend)?;
                self.after_scalar(ind)
            }
        }
    }

    /// After a one-line scalar: a more indented line would continue it (granit's business).
    fn after_scalar(&mut self, ind: usize) -> Result<Next, Declined> {
        let next = self.next_content()?;
        match next {
            Next::Content(i) if i > ind => Err(Declined),
            other => Ok(other),
        }
    }

    /// Whether the lines from `from` hold a collection nested under a key (or dash) at
    /// indentation `ind` (else its value is null).
    fn nests_below(&mut self, from: usize, ind: usize, in_map: bool) -> bool {
        match self.peek_content(from) {
            Next::Content(i) => {
                let first = self.peek_at + i;
                let dash = self.b[first] == b'-' && is_space_or_end(self.b.get(first + 1));
                i > ind || (i == ind && dash && in_map)
            }
            _ => false,
        }
    }

    /// The collection on the lines below a key (or dash) at indentation `ind`, whose line the
    /// scanner has left (see [`Scanner::nests_below`]).
    fn nested(&mut self, ind: usize, depth: usize) -> Result<Next, Declined> {
        let Next::Content(i) = self.next_content()? else {
            return Err(Declined);
        };
        let first = self.at + i;
        let dash = self.b[first] == b'-' && is_space_or_end(self.b.get(first + 1));
        if i > ind {
            if dash {
                self.seq(i, false, depth + 1)
            } else if self.starts_key(first) {
                self.map(i, depth + 1)
            } else {
                // A scalar on the line below its key.
                Err(Declined)
            }
        } else if i == ind && dash {
            // An indentless sequence under its key.
            let after = self.seq(i, true, depth + 1)?;
            match after {
                Next::Content(j) if j == ind && self.b[self.at + j] == b'-' => Err(Declined),
                other => Ok(other),
            }
        } else {
            Err(Declined)
        }
    }

    fn null(&mut self, at: usize, line: usize) -> Result<(), Declined> {
        let pos = Pos {
            line,
            col: 0,
            start: at,
            end: at,
        };
        self.emit(
            Ev::Scalar {
                text: Cow::Borrowed(""),
                style: ScalarStyle::Plain,
                anchor: 0,
                tag: None,
            },
            pos,
        )
    }

    /// The header of a literal block scalar whose `|` is at `at`: its chomping (-1 strip,
    /// 0 clip, 1 keep) and a comment after it (granit emits that after the scalar).
    #[allow(clippy::type_complexity)]
    fn literal_header(&self, at: usize) -> Result<(i8, Option<(Pos, &'a str)>), Declined> {
        let mut h = at + 1;
        let chomp = match self.b.get(h) {
            Some(b'-') => {
                h += 1;
                -1
            }
            Some(b'+') => {
                h += 1;
                1
            }
            Some(b'0'..=b'9') => return Err(Declined),
            _ => 0,
        };
        if matches!(self.b.get(h), Some(b'0'..=b'9' | b'-' | b'+')) {
            return Err(Declined);
        }
        if !is_space_or_end(self.b.get(h)) {
            return Err(Declined);
        }
        // A comment after the header: granit emits it after the scalar.
        let mut c = h;
        while self.b.get(c) == Some(&b' ') {
            c += 1;
        }
        let header_comment = match self.b.get(c) {
            Some(b'#') => {
                let end = self.line_end(c);
                Some((self.pos(c, end), &self.src[c + 1..end]))
            }
            None | Some(b'\n') => None,
            _ => return Err(Declined),
        };
        Ok((chomp, header_comment))
    }

    /// A literal block scalar whose header `|` is at `at`; `ind` is its key's (dash's)
    /// indentation.
    fn literal(&mut self, at: usize, ind: usize) -> Result<Next, Declined> {
        let (chomp, header_comment) = self.literal_header(at)?;
        self.next_line();
        if self.at >= self.b.len() {
            return Err(Declined);
        }
        // Leading blank lines, then the first content line sets the indentation.
        let body_line = self.line;
        let mut p = self.at;
        let mut lines = 0usize;
        let mut max_blank = 0usize;
        let content_ind = loop {
            if p >= self.b.len() {
                return Err(Declined);
            }
            let sp = self.indent_at(p);
            match self.b.get(p + sp) {
                Some(b'\n') => {
                    max_blank = max_blank.max(sp);
                    p += sp + 1;
                    lines += 1;
                }
                None => return Err(Declined),
                Some(_) => break sp,
            }
        };
        if content_ind <= ind || max_blank > content_ind {
            return Err(Declined);
        }
        let first_content = p + content_ind;
        let first_line = body_line + lines;
        // Body lines: indented at least `content_ind`, or blank.
        let mut text = String::new();
        for _ in 0..lines {
            text.push('\n');
        }
        let mut trailing_breaks = 0usize;
        loop {
            if p >= self.b.len() {
                break;
            }
            let sp = self.indent_at(p);
            let le = self.line_end(p);
            if le == self.b.len() && (p + sp == le || sp >= content_ind) {
                // The body must end with a line break.
                return Err(Declined);
            }
            if p + sp == le {
                // A blank line (spaces beyond the indentation are content).
                if sp > content_ind {
                    for _ in 0..trailing_breaks {
                        text.push('\n');
                    }
                    trailing_breaks = 0;
                    text.push_str(&self.src[p + content_ind..le]);
                    text.push('\n');
                } else {
                    trailing_breaks += 1;
                }
                p = le + 1;
                lines += 1;
                continue;
            }
            if sp < content_ind {
                break;
            }
            for _ in 0..trailing_breaks {
                text.push('\n');
            }
            trailing_breaks = 0;
            text.push_str(&self.src[p + content_ind..le]);
            text.push('\n');
            p = le + 1;
            lines += 1;
        }
        // `text` holds the content with one break per content line; chomp the end.
        chomp_end(&mut text, chomp, trailing_breaks);
        if text.trim_matches('\n').is_empty() {
            return Err(Declined);
        }
        // The token after the body: where granit ends the scalar.
        self.at = p;
        self.line = body_line + lines;
        let end = if p >= self.b.len() {
            self.b.len()
        } else {
            p + self.indent_at(p)
        };
        let pos = Pos {
            line: first_line,
            col: content_ind,
            start: first_content,
            end,
        };
        self.emit(
            Ev::Scalar {
                text: Cow::Owned(text),
                style: ScalarStyle::Literal,
                anchor: 0,
                tag: None,
            },
            pos,
        )?;
        if let Some((pos, text)) = header_comment {
            self.emit(
                Ev::Comment {
                    text: Cow::Borrowed(text),
                    right: true,
                },
                pos,
            )?;
        }
        let next = self.next_content()?;
        match next {
            Next::Content(i) if i > ind => Err(Declined),
            other => Ok(other),
        }
    }
}

/// Block chomping: strip (-1) every final line break, clip (0) to one, keep (1) the trailing
/// blank lines too.
fn chomp_end(text: &mut String, chomp: i8, trailing_breaks: usize) {
    match chomp {
        -1 => {
            while text.ends_with('\n') {
                text.pop();
            }
        }
        0 => {}
        _ => {
            for _ in 0..trailing_breaks {
                text.push('\n');
            }
        }
    }
}

/// One escape of a double-quoted scalar (after the backslash): the character and how many
/// bytes it used. `None` for what granit would refuse, or a line continuation.
fn unescape(s: &str) -> Option<(char, usize)> {
    let c = *s.as_bytes().first()?;
    let simple = match c {
        b'0' => '\0',
        b'a' => '\u{7}',
        b'b' => '\u{8}',
        b't' => '\t',
        b'n' => '\n',
        b'v' => '\u{b}',
        b'f' => '\u{c}',
        b'r' => '\r',
        b'e' => '\u{1b}',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'N' => '\u{85}',
        b'_' => '\u{a0}',
        b'L' => '\u{2028}',
        b'P' => '\u{2029}',
        b'x' | b'u' | b'U' => {
            let n = match c {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = s.get(1..1 + n)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let v = u32::from_str_radix(hex, 16).ok()?;
            return Some((char::from_u32(v)?, 1 + n));
        }
        _ => return None,
    };
    Some((simple, 1))
}
