//! The audit report's output formats: a terminal summary, JSON (schema `shroud-audit/2`),
//! Markdown for audit tickets, and one self-contained HTML file; each ends with the SHA-256
//! digest of everything it wrote before the digest (docs/audit.md says how to recompute it).
//!
//! The three text formats share one section model ([`Doc`], built once from the report by
//! [`doc`]): each renderer only decides how a section, a table, a cell and a span look. Every
//! piece of repository- or user-controlled text passes through [`crate::text::sanitize`]
//! (control characters and bidirectional overrides made visible) before the format's own
//! escaping.
//!
//! Owns: the section model, the renderers, the digest. Must not know: how the report was
//! produced. Renders only what the report holds, which never includes a secret value.

mod doc;
mod html;
mod markdown;
mod text;

use sha2::{Digest, Sha256};

use super::model::Report;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
    Html,
}

/// Renders `report`, its digest included. `color` applies to the terminal summary only.
pub fn render(report: &Report, format: OutputFormat, color: bool) -> String {
    match format {
        OutputFormat::Json => json(report),
        OutputFormat::Text => with_digest_line(text::render(&doc::build(report), color), |h| {
            format!("SHA-256 of the lines above: {h}\n")
        }),
        OutputFormat::Markdown => with_digest_line(markdown::render(&doc::build(report)), |h| {
            format!("SHA-256 of the lines above: `{h}`\n")
        }),
        OutputFormat::Html => {
            let mut out = html::render(&doc::build(report));
            let h = sha256_hex(out.as_bytes());
            out.push_str(&format!(
                "<p class=\"meta\" id=\"digest\">SHA-256 of every line above: <code>{h}</code></p>\n</body></html>\n"
            ));
            out
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `body` and one last line naming its digest.
fn with_digest_line(body: String, line: impl Fn(&str) -> String) -> String {
    let h = sha256_hex(body.as_bytes());
    body + &line(&h)
}

/// The report as pretty-printed JSON (schema [`super::SCHEMA`]), its last field `sha256`: the
/// digest of every byte before that field's line (`head -n -2 FILE | sha256sum`).
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("the report serialises");
    // The report is an object with fields: it ends with "\n}".
    out.truncate(out.len() - 2);
    out.push_str(",\n");
    let h = sha256_hex(out.as_bytes());
    out.push_str(&format!("  \"sha256\": \"{h}\"\n}}\n"));
    out
}

/// How a cell or tag reads: good, bad, a warning, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Warn,
}

/// A piece of a cell or line. Text of every kind is untrusted; renderers escape it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    Text(String),
    /// An identifier: a path, a recipient, a commit, a command.
    Code(String),
    Strong(String),
    /// A short label: `stale`, `revoked`, `added`.
    Tag(Tone, String),
    /// Items (each a run of spans): every item in Markdown and HTML; the first few and a count
    /// on a terminal.
    List(Vec<Vec<Span>>),
    /// A line break inside a cell (`; ` on a terminal).
    Break,
}

/// One table cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub spans: Vec<Span>,
    /// Colours the cell (the access matrix).
    pub tone: Option<Tone>,
}

impl Cell {
    pub fn of(spans: Vec<Span>) -> Cell {
        Cell { spans, tone: None }
    }
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub title: String,
    /// Shown on a terminal.
    pub terminal: bool,
    /// Short, centred values.
    pub center: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

/// One section of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The HTML anchor.
    pub id: &'static str,
    pub title: String,
    /// 2: a section; 3: a part of the one before.
    pub level: u8,
    /// Findings: the count is shown in the title, red when not zero.
    pub count: Option<usize>,
    /// A legend or explanation.
    pub intro: Vec<Span>,
    pub table: Option<Table>,
    pub items: Vec<Vec<Span>>,
    /// Shown when the section has no rows and no items.
    pub empty: &'static str,
    /// Shown on a terminal (else the terminal summary says where to find it).
    pub terminal: bool,
}

impl Section {
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.table.as_ref().is_none_or(|t| t.rows.is_empty())
    }
}

/// A summary count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    pub label: &'static str,
    pub count: usize,
    /// A finding: good at zero, bad otherwise.
    pub finding: bool,
}

/// The whole report as sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// The audited directory.
    pub root: String,
    /// `(label, value)` lines of the header: repository, remote, branch, scope, policy, …
    pub header: Vec<(&'static str, Vec<Span>)>,
    pub cards: Vec<Card>,
    pub sections: Vec<Section>,
}

/// A long key id shortened for tables: `age1ql3z7h…aqmcac8p`.
pub fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 24 {
        return id.to_owned();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

/// The first 12 characters of a commit id.
pub fn short_commit(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A date (`YYYY-MM-DD`) from an RFC 3339 time.
pub fn date(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every format's digest covers exactly what it says.
    #[test]
    fn digests_cover_everything_above_them() {
        let cut = |s: &str, last_lines: usize| -> String {
            let lines: Vec<&str> = s.split_inclusive('\n').collect();
            lines[..lines.len() - last_lines].concat()
        };
        let report = doc::tests::sample();
        for (format, tail) in [
            (OutputFormat::Text, 1),
            (OutputFormat::Markdown, 1),
            (OutputFormat::Html, 2),
            (OutputFormat::Json, 2),
        ] {
            let out = render(&report, format, false);
            let want = sha256_hex(cut(&out, tail).as_bytes());
            let line = out.split_inclusive('\n').rev().nth(tail - 1).unwrap();
            assert!(line.contains(&want), "{format:?}: {line}");
        }
        let j: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(j["sha256"].as_str().unwrap().len(), 64);
    }
}
