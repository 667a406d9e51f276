//! The events both YAML readers produce (the fast block-YAML scanner, [`super::fast`], and
//! granit-parser's events as [`super::parse`] maps them), and where each sits in the source.
//!
//! Owns: that vocabulary. Must not know: who produces or consumes the events.

use std::borrow::Cow;

use granit_parser::ScalarStyle;

/// One parser event, as the builder needs it.
#[derive(Debug, PartialEq)]
pub(super) enum Ev<'a> {
    DocStart {
        explicit: bool,
    },
    /// `explicit`: the document ended with a `...` line.
    DocEnd {
        explicit: bool,
    },
    /// A comment's text (after `#`); `right`: it follows content on its line.
    Comment {
        text: Cow<'a, str>,
        right: bool,
    },
    MapStart {
        block: bool,
        anchor: usize,
        tagged: bool,
    },
    SeqStart {
        block: bool,
        anchor: usize,
        tagged: bool,
    },
    MapEnd,
    SeqEnd,
    Scalar {
        text: Cow<'a, str>,
        style: ScalarStyle,
        anchor: usize,
        /// The tag's suffix, and whether it is in the `tag:yaml.org,2002:` namespace.
        tag: Option<(String, bool)>,
    },
    Alias(usize),
}

/// Where an event sits: line (1-based), column, byte span. A block scalar's span starts at
/// its first content character and ends where the next token starts; a collection start's
/// column is its first key's or dash's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub col: usize,
    pub start: usize,
    pub end: usize,
}
