//! The terminal summary of the section model: the header, the finding counts, then each
//! terminal section as aligned columns (long sections are cut, with a pointer to the full
//! formats). Untrusted text passes through [`crate::text::sanitize`], so a file name or an
//! author cannot drive the terminal.

use std::fmt::Write as _;

use super::{Doc, Section, Span, Tone};

/// Rows shown per section before it is cut.
const MAX_ROWS: usize = 100;
/// Items of a list shown in one cell.
const MAX_ITEMS: usize = 3;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn tone(&self, tone: Tone, s: &str) -> String {
        match tone {
            Tone::Plain => s.to_owned(),
            Tone::Good => self.paint("32", s),
            Tone::Bad => self.paint("31;1", s),
            Tone::Warn => self.paint("33", s),
        }
    }
}

/// Text as shown, and its width in columns (escape sequences of colours not counted).
#[derive(Default)]
struct Shown {
    text: String,
    width: usize,
}

impl Shown {
    fn push(&mut self, st: &Style, tone: Option<Tone>, plain: &str) {
        self.width += plain.chars().count();
        match tone {
            Some(t) => self.text.push_str(&st.tone(t, plain)),
            None => self.text.push_str(plain),
        }
    }
}

fn spans(st: &Style, out: &mut Shown, items: &[Span]) {
    for s in items {
        match s {
            Span::Text(x) | Span::Code(x) => out.push(st, None, &crate::text::sanitize(x)),
            Span::Strong(x) => {
                let x = crate::text::sanitize(x);
                out.width += x.chars().count();
                out.text.push_str(&st.paint("1", &x));
            }
            Span::Tag(tone, x) => {
                out.push(st, Some(*tone), &format!("[{}]", crate::text::sanitize(x)))
            }
            Span::Break => out.push(st, None, "; "),
            Span::List(list) => {
                for (i, item) in list.iter().take(MAX_ITEMS).enumerate() {
                    if i > 0 {
                        out.push(st, None, ", ");
                    }
                    spans(st, out, item);
                }
                if list.len() > MAX_ITEMS {
                    out.push(st, None, &format!(", … ({} in all)", list.len()));
                }
                if list.is_empty() {
                    out.push(st, None, "—");
                }
            }
        }
    }
}

fn shown(st: &Style, items: &[Span]) -> Shown {
    let mut out = Shown::default();
    spans(st, &mut out, items);
    out
}

fn table(st: &Style, out: &mut String, sec: &Section) {
    let Some(t) = &sec.table else { return };
    let cols: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.columns[i].terminal)
        .collect();
    let rows: Vec<Vec<Shown>> = t
        .rows
        .iter()
        .take(MAX_ROWS)
        .map(|row| cols.iter().map(|&i| shown(st, &row[i].spans)).collect())
        .collect();
    let head: Vec<Shown> = cols
        .iter()
        .map(|&i| {
            let title = t.columns[i].title.to_uppercase();
            Shown {
                width: title.chars().count(),
                text: title,
            }
        })
        .collect();
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].width)
                .chain([head[c].width])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            line.push(' ');
            line.push_str(&cell.text);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.width));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if t.rows.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "  … and {} more (--format json, markdown or html list everything)",
            t.rows.len() - MAX_ROWS
        );
    }
}

pub fn render(d: &Doc, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        st.paint("1", "shroud audit of"),
        crate::text::sanitize(&d.root)
    );
    for (label, value) in &d.header {
        let _ = writeln!(out, "  {label:<10} {}", shown(&st, value).text);
    }
    let counts: Vec<String> = d
        .cards
        .iter()
        .filter(|c| c.finding)
        .map(|c| {
            let tone = if c.count == 0 { Tone::Good } else { Tone::Bad };
            format!("{} {}", c.label, st.tone(tone, &c.count.to_string()))
        })
        .collect();
    let _ = writeln!(out, "  {:<10} {}", "findings", counts.join(" · "));
    let mut elsewhere = Vec::new();
    for sec in &d.sections {
        if !sec.terminal {
            elsewhere.push(sec.title.as_str());
            continue;
        }
        let title = match sec.count {
            Some(n) => format!(
                "{} ({})",
                sec.title,
                st.tone(if n == 0 { Tone::Good } else { Tone::Bad }, &n.to_string())
            ),
            None => sec.title.clone(),
        };
        let _ = writeln!(out, "\n{}", st.paint("1", &title));
        if sec.is_empty() {
            let _ = writeln!(out, "  {}", sec.empty);
            continue;
        }
        table(&st, &mut out, sec);
        for item in &sec.items {
            let _ = writeln!(out, "  - {}", shown(&st, item).text);
        }
    }
    if !elsewhere.is_empty() {
        let _ = writeln!(
            out,
            "\n{} (--format markdown, html or json): {}",
            st.paint("1", "Also in the full report"),
            elsewhere.join(", ")
        );
    }
    out
}
