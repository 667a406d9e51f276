//! One self-contained HTML file of the section model: inline CSS, no script, no external
//! asset, and a Content Security Policy that forbids every fetch, so opening it contacts
//! nothing. Summary cards, then every section as a table (the access matrix with coloured
//! cells). Untrusted text passes through [`crate::text::sanitize`], then is HTML-escaped.

use std::fmt::Write as _;

use super::{Doc, Section, Span, Tone};

/// Text safe in HTML content and attribute values.
fn esc(s: &str) -> String {
    let s = crate::text::sanitize(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --fg:#1d2430; --muted:#5b6575; --line:#d5dbe3; --bg:#ffffff; --band:#f4f6f9;
  --bad:#b42318; --badbg:#fde8e6; --ok:#13795b; --okbg:#e3f5ee; --warn:#8a5a00; --warnbg:#fff3d6; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 14px/1.45 "DejaVu Sans", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
p.meta { color: var(--muted); margin: 0 0 16px; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 12px; }
dl.header dt { color: var(--muted); }
dl.header dd { margin: 0; }
code { font: 12px "DejaVu Sans Mono", monospace; background: var(--band); padding: 1px 4px; border-radius: 3px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0 8px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 140px; background: var(--band); }
.card .n { font-size: 24px; font-weight: bold; }
.card .l { color: var(--muted); }
.card.bad { background: var(--badbg); border-color: #f4b4ad; }
.card.bad .n { color: var(--bad); }
.card.ok .n { color: var(--ok); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #e9edf3; font-weight: bold; }
tr:nth-child(even) td { background: var(--band); }
td.c, th.c { text-align: center; white-space: nowrap; }
.alone { background: var(--okbg) !important; color: var(--ok); font-weight: bold; }
.share { background: var(--warnbg) !important; color: var(--warn); }
.tag { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; background: var(--band); }
.tag.bad { background: var(--badbg); color: var(--bad); }
.tag.ok { background: var(--okbg); color: var(--ok); }
.tag.warn { background: var(--warnbg); color: var(--warn); }
.none { color: var(--muted); font-style: italic; }
"#;

fn tag_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "tag",
        Tone::Good => "tag ok",
        Tone::Bad => "tag bad",
        Tone::Warn => "tag warn",
    }
}

fn spans(items: &[Span]) -> String {
    let mut out = String::new();
    for s in items {
        match s {
            Span::Text(x) => out.push_str(&esc(x)),
            Span::Code(x) => {
                let _ = write!(out, "<code>{}</code>", esc(x));
            }
            Span::Strong(x) => {
                let _ = write!(out, "<b>{}</b>", esc(x));
            }
            Span::Tag(t, x) => {
                let _ = write!(out, "<span class=\"{}\">{}</span>", tag_class(*t), esc(x));
            }
            Span::Break => out.push_str("<br>"),
            Span::List(list) if list.is_empty() => out.push_str("<span class=\"none\">—</span>"),
            Span::List(list) => {
                let items: Vec<String> = list.iter().map(|i| spans(i)).collect();
                out.push_str(&items.join("<br>"));
            }
        }
    }
    out
}

fn section(o: &mut String, sec: &Section) {
    let h = if sec.level >= 3 { "h3" } else { "h2" };
    let _ = match sec.count {
        Some(n) => writeln!(o, "<{h} id=\"{}\">{} ({n})</{h}>", sec.id, esc(&sec.title)),
        None => writeln!(o, "<{h} id=\"{}\">{}</{h}>", sec.id, esc(&sec.title)),
    };
    if !sec.intro.is_empty() {
        let _ = writeln!(o, "<p class=\"meta\">{}</p>", spans(&sec.intro));
    }
    if sec.is_empty() {
        let _ = writeln!(o, "<p class=\"none\">{}</p>", esc(sec.empty));
        return;
    }
    if let Some(t) = sec.table.as_ref().filter(|t| !t.rows.is_empty()) {
        o.push_str("<table><thead><tr>");
        for c in &t.columns {
            let class = if c.center { " class=\"c\"" } else { "" };
            let _ = write!(o, "<th{class}>{}</th>", esc(&c.title));
        }
        o.push_str("</tr></thead><tbody>\n");
        for row in &t.rows {
            o.push_str("<tr>");
            for (cell, c) in row.iter().zip(&t.columns) {
                let mut classes = Vec::new();
                if c.center {
                    classes.push("c");
                }
                match cell.tone {
                    Some(Tone::Good) => classes.push("alone"),
                    Some(Tone::Warn) => classes.push("share"),
                    _ => {}
                }
                let class = if classes.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"{}\"", classes.join(" "))
                };
                let _ = write!(o, "<td{class}>{}</td>", spans(&cell.spans));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    if !sec.items.is_empty() {
        o.push_str("<ul>\n");
        for item in &sec.items {
            let _ = writeln!(o, "<li>{}</li>", spans(item));
        }
        o.push_str("</ul>\n");
    }
}

/// The page up to the digest line (the caller adds it and closes the page).
pub fn render(d: &Doc) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let root = esc(&d.root);
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<title>shroud audit of {root}</title><style>{CSS}</style></head><body>
<h1>shroud audit of <code>{root}</code></h1>
<dl class="header">
"#
    );
    for (label, value) in &d.header {
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(label), spans(value));
    }
    o.push_str("</dl>\n<div class=\"cards\">");
    for c in &d.cards {
        let class = match (c.finding, c.count) {
            (true, 0) => "card ok",
            (true, _) => "card bad",
            (false, _) => "card",
        };
        let _ = write!(
            o,
            r#"<div class="{class}"><div class="n">{}</div><div class="l">{}</div></div>"#,
            c.count,
            esc(c.label)
        );
    }
    o.push_str("</div>\n");
    for sec in &d.sections {
        section(&mut o, sec);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>\"a\"&'b'</script>\u{1b}\u{202e}"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;\\e\\u{202e}"
        );
    }
}
