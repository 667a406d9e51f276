//! Markdown for audit tickets: the summary, then every section as a table. Untrusted text is
//! escaped so a file name cannot break a table or inject HTML into a renderer.

use std::fmt::Write as _;

use super::super::model::Report;
use super::{
    Cell, cell, date, drift_kind, drift_text, label, rotation_text, short_commit, threshold_text,
    type_label,
};

/// Text safe inside a Markdown table cell.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Code-formatted text (file names, recipients): backticks cannot be escaped inside a code
/// span, so they are replaced.
fn code(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{t}`")
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let _ = writeln!(o, "# shroud audit of {}\n", code(&r.root));
    let _ = writeln!(
        o,
        "Generated {} by shroud {} (schema `{}`){}{}.\n",
        r.generated_at,
        r.shroud_version,
        r.schema,
        match &r.git {
            Some(g) => format!(
                "; git HEAD `{}`",
                g.head.as_deref().map(short_commit).unwrap_or("none")
            ),
            None => "; not a git repository".to_owned(),
        },
        if r.options.verify {
            "; MACs verified with the keys available"
        } else {
            "; no keys used"
        }
    );
    let _ = writeln!(o, "| check | result |\n|---|---|");
    let _ = writeln!(o, "| files seen | {} |", s.files_seen);
    let _ = writeln!(o, "| sops files | {} |", s.sops_files);
    let _ = writeln!(o, "| recipients | {} |", s.recipients);
    let _ = writeln!(o, "| policy drift | {} |", s.drift);
    let _ = writeln!(o, "| stale data keys | {} |", s.stale);
    let _ = writeln!(
        o,
        "| plaintext secrets | {} ({} findings) |",
        s.plaintext, s.plaintext_findings
    );
    let _ = writeln!(o, "| integrity problems | {} |", s.integrity);
    if let Some(v) = &s.verified {
        let _ = writeln!(
            o,
            "| MACs verified | {} ok, {} failed, {} without a key |",
            v.ok, v.failed, v.no_key
        );
    }

    let _ = writeln!(o, "\n## Inventory\n");
    let _ = writeln!(
        o,
        "| file | format | version | lastmodified | groups | threshold | recipients | rotated | last commit |\n|---|---|---|---|---|---|---|---|---|"
    );
    for f in &r.files {
        let recips = if let Some(d) = &f.damaged {
            format!("damaged: {}", md(d))
        } else {
            f.key_groups
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let keys = g
                        .iter()
                        .map(|k| {
                            let mut t = format!("{} {}", type_label(k.kind), code(&k.recipient));
                            if let Some(n) = &k.name {
                                t = format!("{} ({t})", md(n));
                            }
                            if let Some(ctx) = &k.context {
                                let c: Vec<String> =
                                    ctx.iter().map(|(a, b)| format!("{a}={b}")).collect();
                                t.push_str(&format!(" context {}", code(&c.join(","))));
                            }
                            if let Some(role) = &k.role {
                                t.push_str(&format!(" role {}", code(role)));
                            }
                            t
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    if f.key_groups.len() > 1 {
                        format!("group {i}: {keys}")
                    } else {
                        keys
                    }
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let last = f
            .git
            .as_ref()
            .and_then(|g| g.last_commit.as_ref())
            .map(|c| {
                format!(
                    "`{}` {} {}",
                    short_commit(&c.id),
                    md(&c.author),
                    date(&c.time)
                )
            })
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            code(&f.path),
            f.format,
            md(f.version.as_deref().unwrap_or("—")),
            md(f.lastmodified.as_deref().unwrap_or("—")),
            f.key_groups.len(),
            threshold_text(f),
            recips,
            rotation_text(f),
            last
        );
    }

    let _ = writeln!(o, "\n## Access matrix\n");
    let _ = writeln!(
        o,
        "● opens the file alone · ◐ k/n holds k of the n key groups needed (needs other recipients) · blank: no access\n"
    );
    if r.recipients.is_empty() {
        let _ = writeln!(o, "No recipients.");
    } else {
        let _ = write!(o, "| file |");
        for x in &r.recipients {
            let _ = write!(o, " {} |", md(&label(x)));
        }
        let _ = write!(o, "\n|---|");
        for _ in &r.recipients {
            let _ = write!(o, "---|");
        }
        let _ = writeln!(o);
        for f in r.files.iter().filter(|f| f.damaged.is_none()) {
            let _ = write!(o, "| {} |", code(&f.path));
            for x in &r.recipients {
                let c = match cell(f, x) {
                    Cell::None => String::new(),
                    Cell::Alone => "●".into(),
                    Cell::Share { held, threshold } => format!("◐ {held}/{threshold}"),
                };
                let _ = write!(o, " {c} |");
            }
            let _ = writeln!(o);
        }
    }
    let shamir: Vec<_> = r.files.iter().filter(|f| f.threshold > 1).collect();
    if !shamir.is_empty() {
        let _ = writeln!(
            o,
            "\n### Shamir-split files\n\n| file | threshold | who can open it together |\n|---|---|---|"
        );
        for f in shamir {
            let combos = super::combinations_text(r, f, md);
            let _ = writeln!(
                o,
                "| {} | {} | {}{} |",
                code(&f.path),
                threshold_text(f),
                if combos.is_empty() {
                    "nobody".to_owned()
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
    }

    let _ = writeln!(o, "\n## Access by recipient\n");
    let _ = writeln!(
        o,
        "| recipient | type | holder | opens alone | holds a share of |\n|---|---|---|---|---|"
    );
    for x in &r.recipients {
        let _ = writeln!(
            o,
            "| {}{} | {} | {} | {} | {} |",
            x.name
                .as_deref()
                .map(|n| format!("{} ", md(n)))
                .unwrap_or_default(),
            code(&x.recipient),
            type_label(x.kind),
            md(x.holder.as_deref().unwrap_or("—")),
            if x.opens_alone.is_empty() {
                "—".to_owned()
            } else {
                x.opens_alone
                    .iter()
                    .map(|p| code(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if x.shares.is_empty() {
                "—".to_owned()
            } else {
                x.shares
                    .iter()
                    .map(|s| format!("{} ({}/{})", code(&s.path), s.groups_held, s.threshold))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }

    let _ = writeln!(o, "\n## Policy drift ({})\n", r.drift.len());
    if r.drift.is_empty() {
        let _ = writeln!(o, "Every file follows its creation rule.");
    } else {
        let _ = writeln!(
            o,
            "| file | kind | config | finding | fix |\n|---|---|---|---|---|"
        );
        for d in &r.drift {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                code(&d.path),
                drift_kind(&d.kind),
                match (&d.config, d.rule) {
                    (Some(c), Some(i)) => format!("{} rule {i}", code(c)),
                    (Some(c), None) => code(c),
                    _ => "—".into(),
                },
                md(&drift_text(r, &d.kind)),
                code(&d.fix)
            );
        }
    }

    let _ = writeln!(o, "\n## Stale data keys ({})\n", r.stale.len());
    if r.stale.is_empty() {
        let _ = writeln!(o, "No data key is older than its policy allows.");
    } else {
        let _ = writeln!(
            o,
            "| file | rotated | from | age (days) | allowed (days) | policy |\n|---|---|---|---|---|---|"
        );
        for x in &r.stale {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                code(&x.path),
                x.rotated_at.as_deref().unwrap_or("unknown"),
                x.source.unwrap_or("—"),
                x.age_days
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "?".into()),
                x.max_age_days,
                code(&x.policy)
            );
        }
    }

    let _ = writeln!(o, "\n## Plaintext secrets ({})\n", r.plaintext.len());
    if r.plaintext.is_empty() {
        let _ = writeln!(o, "The scanner found nothing.");
    } else {
        let _ = writeln!(
            o,
            "| file | rule | findings | lines | commits |\n|---|---|---|---|---|"
        );
        for p in &r.plaintext {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                code(&p.path),
                code(&p.rule_id),
                p.count,
                p.lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                p.commits
                    .iter()
                    .map(|c| format!("`{}`", short_commit(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    let _ = writeln!(o, "\n## Integrity ({})\n", r.integrity.len());
    if r.integrity.is_empty() {
        let _ = writeln!(o, "Every file is structurally intact.");
    } else {
        let _ = writeln!(o, "| file | check | at | detail |\n|---|---|---|---|");
        for i in &r.integrity {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                code(&i.path),
                i.check,
                i.at.as_deref().map(code).unwrap_or_default(),
                md(&i.detail)
            );
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(o, "- {}", md(n));
        }
    }
    o
}
