//! Markdown of the section model, for audit tickets: the header, a summary table, then every
//! section as a table. Untrusted text passes through [`crate::text::sanitize`], then is
//! escaped so it cannot break a table, start markup or inject HTML into a renderer.

use std::fmt::Write as _;

use super::{Doc, Section, Span};

/// Text safe inside a Markdown table cell.
fn md(s: &str) -> String {
    let s = crate::text::sanitize(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A code span. Backticks cannot be escaped inside one and a pipe would end a table cell, so
/// they are replaced.
fn code(s: &str) -> String {
    let t: String = crate::text::sanitize(s)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c => c,
        })
        .collect();
    format!("`{t}`")
}

fn spans(items: &[Span]) -> String {
    let mut out = String::new();
    for s in items {
        match s {
            Span::Text(x) => out.push_str(&md(x)),
            Span::Code(x) => out.push_str(&code(x)),
            Span::Strong(x) | Span::Tag(_, x) => {
                let _ = write!(out, "**{}**", md(x));
            }
            Span::Break => out.push_str("<br>"),
            Span::List(list) => {
                let items: Vec<String> = list.iter().map(|i| spans(i)).collect();
                if items.is_empty() {
                    out.push('—');
                }
                out.push_str(&items.join(", "));
            }
        }
    }
    out
}

fn section(o: &mut String, sec: &Section) {
    let hashes = "#".repeat(usize::from(sec.level));
    let _ = match sec.count {
        Some(n) => writeln!(o, "\n{hashes} {} ({n})\n", md(&sec.title)),
        None => writeln!(o, "\n{hashes} {}\n", md(&sec.title)),
    };
    if !sec.intro.is_empty() {
        let _ = writeln!(o, "{}\n", spans(&sec.intro));
    }
    if sec.is_empty() {
        let _ = writeln!(o, "{}", md(sec.empty));
        return;
    }
    if let Some(t) = sec.table.as_ref().filter(|t| !t.rows.is_empty()) {
        let titles: Vec<String> = t.columns.iter().map(|c| md(&c.title)).collect();
        let _ = writeln!(o, "| {} |", titles.join(" | "));
        let rules: Vec<&str> = t
            .columns
            .iter()
            .map(|c| if c.center { ":-:" } else { "---" })
            .collect();
        let _ = writeln!(o, "|{}|", rules.join("|"));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| spans(&c.spans)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
    }
    for item in &sec.items {
        let _ = writeln!(o, "- {}", spans(item));
    }
}

pub fn render(d: &Doc) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# shroud audit of {}\n", code(&d.root));
    for (label, value) in &d.header {
        let _ = writeln!(o, "- **{label}**: {}", spans(value));
    }
    let _ = writeln!(o, "\n| check | result |\n|---|--:|");
    for c in &d.cards {
        let _ = writeln!(o, "| {} | {} |", c.label, c.count);
    }
    for sec in &d.sections {
        section(&mut o, sec);
    }
    o.push('\n');
    o
}
