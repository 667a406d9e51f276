//! The terminal summary: counts, then each section's rows (long sections are cut, with a
//! pointer to the full formats). File names are untrusted: control characters are shown
//! escaped so a name cannot drive the terminal.

use std::fmt::Write as _;

use super::super::model::Report;
use super::{
    drift_kind, drift_text, label, rotation_text, short_commit, short_id, threshold_text,
    type_label,
};

/// Rows shown per section before it is cut.
const MAX_ROWS: usize = 100;

/// Untrusted text, safe for a terminal.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

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
    fn head(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn count(&self, n: usize) -> String {
        if n == 0 {
            self.paint("32", &n.to_string())
        } else {
            self.paint("31;1", &n.to_string())
        }
    }
}

fn more(out: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(
            out,
            "  … and {} more (--format json, markdown or html list everything)",
            total - MAX_ROWS
        );
    }
}

/// Pads `s` to `w` display columns (counting chars).
fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_owned()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

pub fn render(r: &Report, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(out, "{} {}", st.head("shroud audit of"), clean(&r.root));
    let git = match &r.git {
        Some(g) => format!(
            "git HEAD {}",
            g.head
                .as_deref()
                .map(short_commit)
                .unwrap_or("(no commits)")
        ),
        None => "no git repository".to_owned(),
    };
    let _ = writeln!(
        out,
        "  {} sops files, {} recipients, {} files seen; {git}",
        s.sops_files, s.recipients, s.files_seen
    );
    let _ = writeln!(
        out,
        "  drift {} · stale {} · plaintext {} · integrity {}{}",
        st.count(s.drift),
        st.count(s.stale),
        st.count(s.plaintext),
        st.count(s.integrity),
        match &s.verified {
            Some(v) => format!(
                " · verified {} ok, {} failed, {} without a key",
                v.ok, v.failed, v.no_key
            ),
            None => String::new(),
        }
    );

    let _ = writeln!(out, "\n{}", st.head("Inventory"));
    let w = r
        .files
        .iter()
        .take(MAX_ROWS)
        .map(|f| clean(&f.path).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let rw = r
        .files
        .iter()
        .take(MAX_ROWS)
        .map(|f| rotation_text(f).chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "  {} {} {} {} RECIPIENTS (| separates key groups)",
        pad("PATH", w),
        pad("FORMAT", 6),
        pad("ACCESS", 7),
        pad("ROTATED", rw),
    );
    for f in r.files.iter().take(MAX_ROWS) {
        let keys = if let Some(d) = &f.damaged {
            format!("damaged: {}", clean(d))
        } else {
            f.key_groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|k| match &k.name {
                            Some(n) => clean(n),
                            None => {
                                format!("{} {}", type_label(k.kind), clean(&short_id(&k.recipient)))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let _ = writeln!(
            out,
            "  {} {} {} {} {}",
            pad(&clean(&f.path), w),
            pad(f.format, 6),
            pad(&threshold_text(f), 7),
            pad(&rotation_text(f), rw),
            keys
        );
    }
    more(&mut out, r.files.len());

    let _ = writeln!(out, "\n{}", st.head("Access"));
    if r.recipients.is_empty() {
        let _ = writeln!(out, "  (no recipients)");
    }
    for rec in r.recipients.iter().take(MAX_ROWS) {
        let shares = rec.shares.len();
        let name = match &rec.name {
            Some(n) => format!(
                "{} ({} {})",
                clean(n),
                type_label(rec.kind),
                clean(&rec.recipient)
            ),
            None => format!("{} {}", type_label(rec.kind), clean(&rec.recipient)),
        };
        let _ = writeln!(
            out,
            "  {name}: opens {} file(s) alone{}",
            rec.opens_alone.len(),
            if shares > 0 {
                format!("; holds a share of {shares} file(s) it cannot open alone")
            } else {
                String::new()
            }
        );
    }
    more(&mut out, r.recipients.len());
    let shamir: Vec<_> = r.files.iter().filter(|f| f.threshold > 1).collect();
    if !shamir.is_empty() {
        let _ = writeln!(out, "  Shamir-split files (who can open them together):");
        for f in shamir.iter().take(MAX_ROWS) {
            let combos = super::combinations_text(r, f, clean);
            let _ = writeln!(
                out,
                "    {} ({}): {}{}",
                clean(&f.path),
                threshold_text(f),
                if combos.is_empty() {
                    "nobody".to_owned()
                } else {
                    combos.join(" | ")
                },
                if f.combinations_truncated {
                    " | …"
                } else {
                    ""
                }
            );
        }
        more(&mut out, shamir.len());
    }
    // A recipient holding only shares is worth naming: it cannot act alone.
    let share_only: Vec<_> = r
        .recipients
        .iter()
        .filter(|x| x.opens_alone.is_empty() && !x.shares.is_empty())
        .collect();
    if !share_only.is_empty() {
        let _ = writeln!(
            out,
            "  Recipients that open nothing alone: {}",
            share_only
                .iter()
                .map(|x| clean(&label(x)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(out, "\n{} ({})", st.head("Drift"), st.count(r.drift.len()));
    for d in r.drift.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "  {} [{}]: {} → {}",
            clean(&d.path),
            drift_kind(&d.kind),
            clean(&drift_text(r, &d.kind)),
            clean(&d.fix)
        );
    }
    more(&mut out, r.drift.len());

    let _ = writeln!(
        out,
        "\n{} ({})",
        st.head("Stale keys"),
        st.count(r.stale.len())
    );
    for x in r.stale.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "  {}: {} > {} d allowed by {}",
            clean(&x.path),
            match (&x.rotated_at, x.age_days, x.source) {
                (Some(at), Some(a), Some(src)) =>
                    format!("rotated {} ({src}), {a} d old", super::date(at)),
                _ => "rotation time unknown".to_owned(),
            },
            x.max_age_days,
            clean(&x.policy)
        );
    }
    more(&mut out, r.stale.len());

    let _ = writeln!(
        out,
        "\n{} ({})",
        st.head("Plaintext secrets"),
        st.count(r.plaintext.len())
    );
    for p in r.plaintext.iter().take(MAX_ROWS) {
        let mut where_ = Vec::new();
        if !p.lines.is_empty() {
            where_.push(format!(
                "line{} {}",
                if p.lines.len() == 1 { "" } else { "s" },
                p.lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !p.commits.is_empty() {
            where_.push(format!(
                "commit{} {}",
                if p.commits.len() == 1 { "" } else { "s" },
                p.commits
                    .iter()
                    .map(|c| short_commit(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let _ = writeln!(
            out,
            "  {}: {} ×{} ({})",
            clean(&p.path),
            clean(&p.rule_id),
            p.count,
            where_.join("; ")
        );
    }
    more(&mut out, r.plaintext.len());

    let _ = writeln!(
        out,
        "\n{} ({})",
        st.head("Integrity"),
        st.count(r.integrity.len())
    );
    for i in r.integrity.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "  {}{}: {}: {}",
            clean(&i.path),
            i.at.as_deref()
                .map(|a| format!(" {}", clean(a)))
                .unwrap_or_default(),
            i.check,
            clean(&i.detail)
        );
    }
    more(&mut out, r.integrity.len());

    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n{}", st.head("Notes"));
        for n in &r.notes {
            let _ = writeln!(out, "  {}", clean(n));
        }
    }
    out
}
