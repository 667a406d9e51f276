//! The audit report's output formats: a terminal summary, JSON (schema `shroud-audit/1`),
//! Markdown for audit tickets, and one self-contained HTML file.
//!
//! Owns: turning a [`Report`] into text, and the helpers every format shares (recipient
//! labels, access-matrix cells). Must not know: how the report was produced. Renders only what
//! the report holds, which never includes a secret value.

mod html;
mod markdown;
mod text;

use super::model::{FileEntry, Recipient, Report};

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
    Html,
}

/// Renders `report`. `color` applies to the terminal summary only.
pub fn render(report: &Report, format: OutputFormat, color: bool) -> String {
    match format {
        OutputFormat::Text => text::render(report, color),
        OutputFormat::Json => json(report),
        OutputFormat::Markdown => markdown::render(report),
        OutputFormat::Html => html::render(report),
    }
}

/// The report as pretty-printed JSON (schema [`super::SCHEMA`]).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report serialises");
    s.push('\n');
    s
}

/// What one recipient can do with one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Not a recipient of the file.
    None,
    /// Opens it alone.
    Alone,
    /// Holds `held` of the `threshold` key groups needed.
    Share { held: usize, threshold: usize },
}

/// The access-matrix cell of `recipient` for `file`.
pub fn cell(file: &FileEntry, recipient: &Recipient) -> Cell {
    let held = file
        .key_groups
        .iter()
        .filter(|g| {
            g.iter()
                .any(|k| k.kind == recipient.kind && k.recipient == recipient.recipient)
        })
        .count();
    if held == 0 {
        Cell::None
    } else if file.threshold >= 1 && held >= file.threshold {
        Cell::Alone
    } else {
        Cell::Share {
            held,
            threshold: file.threshold,
        }
    }
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

/// A recipient as tables show it: its name when the mapping file has one, else its short id.
pub fn label(r: &Recipient) -> String {
    match &r.name {
        Some(n) => n.clone(),
        None => short_id(&r.recipient),
    }
}

/// A key type for people.
pub fn type_label(kind: &str) -> &'static str {
    match kind {
        "age" => "age",
        "kms" => "AWS KMS",
        "pgp" => "PGP",
        "gcp_kms" => "GCP KMS",
        "azure_kv" => "Azure Key Vault",
        "hc_vault" => "HashiCorp Vault",
        "hckms" => "HuaweiCloud KMS",
        _ => "other",
    }
}

/// How a file's access reads in one line: `any 1 of 1 group` / `2 of 3 groups`.
/// The recipient sets that can open a Shamir-split file together, each as `a + b` in the
/// recipients' labels (names where known), every label passed through `escape` for the output.
pub fn combinations_text(
    report: &Report,
    f: &FileEntry,
    escape: impl Fn(&str) -> String,
) -> Vec<String> {
    f.combinations
        .iter()
        .map(|c| {
            c.iter()
                .map(|id| {
                    report
                        .recipients
                        .iter()
                        .find(|x| &x.recipient == id)
                        .map_or_else(|| escape(id), |x| escape(&label(x)))
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect()
}

pub fn threshold_text(f: &FileEntry) -> String {
    let n = f.key_groups.len();
    if n <= 1 {
        "1 of 1".to_owned()
    } else {
        format!("{} of {n}", f.threshold)
    }
}

/// A key label (`type identity`) with the holder's name appended when the mapping file names
/// the recipient: `age age1… (bob)`.
pub fn named(report: &Report, key_label: &str) -> String {
    let holder = report
        .recipients
        .iter()
        .filter(|r| r.name.is_some() && key_label.contains(r.recipient.as_str()))
        .max_by_key(|r| r.recipient.len());
    match holder.and_then(|r| r.name.as_deref()) {
        Some(n) => format!("{key_label} ({n})"),
        None => key_label.to_owned(),
    }
}

/// One drift finding's description, without the path.
pub fn drift_text(report: &Report, kind: &super::model::DriftKind) -> String {
    use super::model::DriftKind as K;
    let names = |labels: &[String]| {
        labels
            .iter()
            .map(|l| named(report, l))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        K::Recipients { groups } => groups
            .iter()
            .map(|g| {
                let mut parts = Vec::new();
                if !g.missing.is_empty() {
                    parts.push(format!("missing {}", names(&g.missing)));
                }
                if !g.extra.is_empty() {
                    parts.push(format!("extra {}", names(&g.extra)));
                }
                format!("group {}: {}", g.group, parts.join("; "))
            })
            .collect::<Vec<_>>()
            .join(" | "),
        K::Threshold { file, rule } => {
            format!("needs {file} key group(s), the rule asks for {rule}")
        }
        K::Rules { file, rule } => format!(
            "encrypts by {} {:?}, the rule says {} {:?}",
            file.option, file.value, rule.option, rule.value
        ),
        K::Uncovered { reason } => reason.clone(),
        K::MustEncrypt {
            values,
            paths,
            unparsed,
        } => match unparsed {
            Some(why) => format!("plaintext, and the rule says it must be encrypted ({why})"),
            None => {
                let more = values.saturating_sub(paths.len());
                let listed = paths.join(", ");
                if more > 0 {
                    format!(
                        "plaintext: {values} value(s) the rule encrypts: {listed}, and {more} more"
                    )
                } else {
                    format!("plaintext: {values} value(s) the rule encrypts: {listed}")
                }
            }
        },
    }
}

/// The machine name of a drift kind.
pub fn drift_kind(kind: &super::model::DriftKind) -> &'static str {
    use super::model::DriftKind as K;
    match kind {
        K::Recipients { .. } => "recipients",
        K::Threshold { .. } => "threshold",
        K::Rules { .. } => "rules",
        K::Uncovered { .. } => "uncovered",
        K::MustEncrypt { .. } => "must-encrypt",
    }
}

/// The first 12 characters of a commit id.
pub fn short_commit(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A date (`YYYY-MM-DD`) from an RFC 3339 time.
pub fn date(rfc3339: &str) -> &str {
    &rfc3339[..rfc3339.len().min(10)]
}

/// Rotation as one short text: `2025-01-01 (30 d, git)`.
pub fn rotation_text(f: &FileEntry) -> String {
    match (
        &f.rotation.rotated_at,
        f.rotation.age_days,
        f.rotation.source,
    ) {
        (Some(at), Some(age), Some(src)) => format!("{} ({age} d, {src})", date(at)),
        _ => "unknown".to_owned(),
    }
}
