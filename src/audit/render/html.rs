//! One self-contained HTML file: inline CSS, no script, no external asset, and a Content
//! Security Policy that forbids every fetch, so opening it contacts nothing. Tables for every
//! section, the access matrix, and a per-recipient access view. Every piece of report text is
//! HTML-escaped.

use std::fmt::Write as _;

use super::super::model::{FileEntry, Report};
use super::{
    Cell, cell, date, drift_kind, drift_text, label, rotation_text, short_commit, short_id,
    threshold_text, type_label,
};

/// Text safe in HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
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
td.c { text-align: center; white-space: nowrap; }
.alone { background: var(--okbg) !important; color: var(--ok); font-weight: bold; }
.share { background: var(--warnbg) !important; color: var(--warn); }
.tag { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; background: var(--badbg); color: var(--bad); }
.tag.ok { background: var(--okbg); color: var(--ok); }
.tag.warn { background: var(--warnbg); color: var(--warn); }
.none { color: var(--muted); font-style: italic; }
.recipient { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 8px; margin: 10px 0; }
"#;

fn card(o: &mut String, n: usize, label: &str, bad_when_nonzero: bool) {
    let class = if bad_when_nonzero && n > 0 {
        "card bad"
    } else if bad_when_nonzero {
        "card ok"
    } else {
        "card"
    };
    let _ = write!(
        o,
        r#"<div class="{class}"><div class="n">{n}</div><div class="l">{}</div></div>"#,
        esc(label)
    );
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn recipients_of(f: &FileEntry) -> String {
    if let Some(d) = &f.damaged {
        return format!(r#"<span class="tag">damaged</span> {}"#, esc(d));
    }
    f.key_groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let keys = g
                .iter()
                .map(|k| {
                    let who = match &k.name {
                        Some(n) => format!("<b>{}</b> ", esc(n)),
                        None => String::new(),
                    };
                    let mut t = format!(
                        "{who}{} {}",
                        esc(type_label(k.kind)),
                        code(&short_id(&k.recipient))
                    );
                    if let Some(ctx) = &k.context {
                        let c: Vec<String> = ctx.iter().map(|(a, b)| format!("{a}={b}")).collect();
                        t.push_str(&format!(" context {}", code(&c.join(","))));
                    }
                    if let Some(role) = &k.role {
                        t.push_str(&format!(" role {}", code(role)));
                    }
                    t
                })
                .collect::<Vec<_>>()
                .join("<br>");
            if f.key_groups.len() > 1 {
                format!("<i>group {i}</i><br>{keys}")
            } else {
                keys
            }
        })
        .collect::<Vec<_>>()
        .join("<hr>")
}

pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024 + r.files.len() * 512);
    let s = &r.summary;
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="shroud {} ({})">
<title>shroud audit of {}</title><style>{CSS}</style></head><body>
<h1>shroud audit of {}</h1>
<p class="meta">Generated {} by shroud {} · schema <code>{}</code> · {} · {}</p>
"#,
        esc(r.shroud_version),
        esc(r.schema),
        esc(&r.root),
        code(&r.root),
        esc(&r.generated_at),
        esc(r.shroud_version),
        esc(r.schema),
        match &r.git {
            Some(g) => format!(
                "git HEAD {}",
                code(g.head.as_deref().map(short_commit).unwrap_or("none"))
            ),
            None => "not a git repository".into(),
        },
        if r.options.verify {
            "MACs verified with the keys available"
        } else {
            "no keys used"
        }
    );
    o.push_str(r#"<div class="cards">"#);
    card(&mut o, s.sops_files, "sops files", false);
    card(&mut o, s.recipients, "recipients", false);
    card(&mut o, s.drift, "policy drift", true);
    card(&mut o, s.stale, "stale data keys", true);
    card(&mut o, s.plaintext, "plaintext secrets", true);
    card(&mut o, s.integrity, "integrity problems", true);
    if let Some(v) = &s.verified {
        card(&mut o, v.ok, "MACs verified", false);
    }
    o.push_str("</div>\n");

    // Inventory.
    let _ = writeln!(
        o,
        "<h2 id=\"inventory\">Inventory ({})</h2>\n<table><thead><tr><th>file</th><th>format</th><th>version</th><th>lastmodified</th><th>MAC</th><th>threshold</th><th>recipients</th><th>rotated</th><th>last commit</th></tr></thead><tbody>",
        r.files.len()
    );
    for f in &r.files {
        let last = f
            .git
            .as_ref()
            .and_then(|g| g.last_commit.as_ref())
            .map(|c| {
                format!(
                    "{} {}<br>{}",
                    code(short_commit(&c.id)),
                    esc(&c.author),
                    esc(date(&c.time))
                )
            })
            .unwrap_or_else(|| r#"<span class="none">—</span>"#.into());
        let stale = if f.rotation.stale {
            r#" <span class="tag">stale</span>"#
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"c\">{}</td><td>{}</td><td>{}{stale}</td><td>{last}</td></tr>",
            code(&f.path),
            esc(f.format),
            esc(f.version.as_deref().unwrap_or("—")),
            esc(f.lastmodified.as_deref().unwrap_or("—")),
            if f.mac {
                r#"<span class="tag ok">yes</span>"#
            } else {
                r#"<span class="tag">no</span>"#
            },
            esc(&threshold_text(f)),
            recipients_of(f),
            esc(&rotation_text(f)),
        );
    }
    o.push_str("</tbody></table>\n");

    // Access matrix.
    let _ = writeln!(
        o,
        "<h2 id=\"matrix\">Access matrix</h2>\n<p class=\"meta\"><span class=\"tag ok\">●</span> opens the file alone · <span class=\"tag warn\">◐ k/n</span> holds k of the n key groups needed, so needs other recipients · empty: no access</p>"
    );
    if r.recipients.is_empty() {
        o.push_str(r#"<p class="none">No recipients.</p>"#);
    } else {
        o.push_str("<table><thead><tr><th>file</th>");
        for x in &r.recipients {
            let _ = write!(
                o,
                "<th title=\"{}\">{}<br><small>{}</small></th>",
                esc(&x.recipient),
                esc(&label(x)),
                esc(type_label(x.kind))
            );
        }
        o.push_str("</tr></thead><tbody>\n");
        for f in r.files.iter().filter(|f| f.damaged.is_none()) {
            let _ = write!(o, "<tr><td>{}</td>", code(&f.path));
            for x in &r.recipients {
                match cell(f, x) {
                    Cell::None => o.push_str("<td class=\"c\"></td>"),
                    Cell::Alone => o.push_str("<td class=\"c alone\">●</td>"),
                    Cell::Share { held, threshold } => {
                        let _ = write!(o, "<td class=\"c share\">◐ {held}/{threshold}</td>");
                    }
                }
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    let shamir: Vec<_> = r.files.iter().filter(|f| f.threshold > 1).collect();
    if !shamir.is_empty() {
        o.push_str("<h3>Shamir-split files: who can open them together</h3>\n<table><thead><tr><th>file</th><th>threshold</th><th>smallest sets of recipients that can open it</th></tr></thead><tbody>\n");
        for f in shamir {
            let combos = super::combinations_text(r, f, esc);
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"c\">{}</td><td>{}{}</td></tr>",
                code(&f.path),
                esc(&threshold_text(f)),
                if combos.is_empty() {
                    r#"<span class="tag">nobody</span>"#.to_owned()
                } else {
                    combos.join("<br>")
                },
                if f.combinations_truncated {
                    "<br>…"
                } else {
                    ""
                }
            );
        }
        o.push_str("</tbody></table>\n");
    }

    // Per-recipient view.
    o.push_str("<h2 id=\"recipients\">Access by recipient</h2>\n");
    for x in &r.recipients {
        let _ = writeln!(
            o,
            "<div class=\"recipient\"><h3>{} <small>{} {}{}</small></h3>",
            esc(&label(x)),
            esc(type_label(x.kind)),
            code(&x.recipient),
            x.holder
                .as_deref()
                .map(|h| format!(" · {}", esc(h)))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "<table><thead><tr><th>file</th><th>access</th></tr></thead><tbody>"
        );
        for p in &x.opens_alone {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"alone\">opens alone</td></tr>",
                code(p)
            );
        }
        for sh in &x.shares {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"share\">holds {} of {} key groups: needs other recipients</td></tr>",
                code(&sh.path),
                sh.groups_held,
                sh.threshold
            );
        }
        o.push_str("</tbody></table></div>\n");
    }

    // Drift.
    let _ = writeln!(o, "<h2 id=\"drift\">Policy drift ({})</h2>", r.drift.len());
    if r.drift.is_empty() {
        o.push_str(r#"<p class="none">Every file follows its creation rule.</p>"#);
    } else {
        o.push_str("<table><thead><tr><th>file</th><th>kind</th><th>config</th><th>finding</th><th>fix</th></tr></thead><tbody>\n");
        for d in &r.drift {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td><span class=\"tag\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                code(&d.path),
                esc(drift_kind(&d.kind)),
                match (&d.config, d.rule) {
                    (Some(c), Some(i)) => format!("{} rule {i}", code(c)),
                    (Some(c), None) => code(c),
                    _ => "—".into(),
                },
                esc(&drift_text(r, &d.kind)),
                code(&d.fix)
            );
        }
        o.push_str("</tbody></table>\n");
    }

    // Stale.
    let _ = writeln!(
        o,
        "<h2 id=\"stale\">Stale data keys ({})</h2>",
        r.stale.len()
    );
    if r.stale.is_empty() {
        o.push_str(r#"<p class="none">No data key is older than its policy allows.</p>"#);
    } else {
        o.push_str("<table><thead><tr><th>file</th><th>rotated</th><th>from</th><th>age (days)</th><th>allowed (days)</th><th>policy</th></tr></thead><tbody>\n");
        for x in &r.stale {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td></tr>",
                code(&x.path),
                esc(x.rotated_at.as_deref().unwrap_or("unknown")),
                esc(x.source.unwrap_or("—")),
                x.age_days
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "?".into()),
                x.max_age_days,
                code(&x.policy)
            );
        }
        o.push_str("</tbody></table>\n");
    }

    // Plaintext.
    let _ = writeln!(
        o,
        "<h2 id=\"plaintext\">Plaintext secrets ({})</h2>",
        r.plaintext.len()
    );
    if r.plaintext.is_empty() {
        o.push_str(r#"<p class="none">The scanner found nothing.</p>"#);
    } else {
        o.push_str("<table><thead><tr><th>file</th><th>rule</th><th>findings</th><th>lines</th><th>commits</th></tr></thead><tbody>\n");
        for p in &r.plaintext {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"c\">{}</td><td>{}</td><td>{}</td></tr>",
                code(&p.path),
                code(&p.rule_id),
                p.count,
                esc(&p
                    .lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")),
                p.commits
                    .iter()
                    .map(|c| code(short_commit(c)))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        o.push_str("</tbody></table>\n");
    }

    // Integrity.
    let _ = writeln!(
        o,
        "<h2 id=\"integrity\">Integrity ({})</h2>",
        r.integrity.len()
    );
    if r.integrity.is_empty() {
        o.push_str(r#"<p class="none">Every file is structurally intact.</p>"#);
    } else {
        o.push_str("<table><thead><tr><th>file</th><th>check</th><th>at</th><th>detail</th></tr></thead><tbody>\n");
        for i in &r.integrity {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td><span class=\"tag\">{}</span></td><td>{}</td><td>{}</td></tr>",
                code(&i.path),
                esc(i.check),
                i.at.as_deref().map(code).unwrap_or_default(),
                esc(&i.detail)
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.notes.is_empty() {
        o.push_str("<h2 id=\"notes\">Notes</h2>\n<ul>\n");
        for n in &r.notes {
            let _ = writeln!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>\"a\"&'b'</script>\u{1b}"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;\u{fffd}"
        );
    }
}
