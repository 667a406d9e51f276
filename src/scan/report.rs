//! Rendering findings: human text, JSON and SARIF 2.1.0.
//!
//! Owns: output layouts. Every string that came from the scanned repository (paths, rule ids
//! and descriptions of custom rules, messages, redacted secrets, commits) goes through [`sanitize`](crate::text::sanitize) for text output; JSON/SARIF
//! escape through serde. Must not know: how findings were produced. Never sees a full secret:
//! findings only carry a redacted prefix and a digest.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{Finding, Summary};
use crate::text::sanitize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Sarif,
}

pub fn render(format: OutputFormat, findings: &[Finding], summary: &Summary) -> String {
    match format {
        OutputFormat::Text => text(findings),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json_report(findings, summary))
                .expect("report serializes");
            s.push('\n');
            s
        }
        OutputFormat::Sarif => {
            let mut s =
                serde_json::to_string_pretty(&sarif(findings, summary)).expect("sarif serializes");
            s.push('\n');
            s
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

pub fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = write!(
            out,
            "{}:{}:{}: {} [{}]",
            sanitize(&f.path),
            f.line,
            f.column,
            sanitize(&f.description),
            sanitize(&f.rule_id)
        );
        if !f.redacted.is_empty() {
            let _ = write!(out, " {}", sanitize(&f.redacted));
        }
        if let Some(c) = &f.commit {
            let _ = write!(out, " (commit {})", sanitize(short(c)));
        }
        if f.occurrences > 1 {
            let _ = write!(out, " ({} occurrences)", f.occurrences);
        }
        out.push('\n');
        if let Some(m) = &f.message {
            let _ = writeln!(out, "    {}", sanitize(m));
        }
    }
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule_id,
        "description": f.description,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "commit": f.commit,
        "secret": f.redacted,
        "fingerprint": f.fingerprint,
        "message": f.message,
        "occurrences": f.occurrences,
    })
}

fn json_report(findings: &[Finding], summary: &Summary) -> Value {
    json!({
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "errors": summary.errors,
        "warnings": summary.warnings,
        "stats": {
            "files": summary.files,
            "bytes": summary.bytes,
            "skipped": summary.skipped,
            "baselined": summary.baselined,
        },
    })
}

fn sarif(findings: &[Finding], summary: &Summary) -> Value {
    let mut rules: Vec<(String, String)> = super::rules::builtin_ids()
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    for (id, d) in super::rules::providers::ids() {
        if !rules.iter().any(|(r, _)| r == id) {
            rules.push((id.to_owned(), d.to_owned()));
        }
    }
    for (id, d) in [
        (
            super::engine::GENERIC,
            "Hard-coded password/secret/token/key assignment",
        ),
        (
            super::kube::RULE_ID,
            "Kubernetes Secret with plaintext values",
        ),
        (
            super::sops::UNENCRYPTED_FILE,
            "File must be encrypted by .sops.yaml but is plaintext",
        ),
        (
            super::sops::PLAINTEXT_VALUE,
            "Plaintext value in a sops file where its rules demand encryption",
        ),
    ] {
        rules.push((id.to_owned(), d.to_owned()));
    }
    for f in findings {
        if !rules.iter().any(|(id, _)| id == &f.rule_id) {
            rules.push((f.rule_id.clone(), f.description.clone()));
        }
    }
    let rule_index = |id: &str| rules.iter().position(|(r, _)| r == id).unwrap_or(0);
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut text = if f.redacted.is_empty() {
                f.description.clone()
            } else {
                format!("{} ({})", f.description, f.redacted)
            };
            if let Some(m) = &f.message {
                text = format!("{text}: {m}");
            }
            if let Some(c) = &f.commit {
                text = format!("{text} [commit {c}]");
            }
            json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_index(&f.rule_id),
                "level": "error",
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.path) },
                        "region": { "startLine": f.line, "startColumn": f.column },
                    }
                }],
                "partialFingerprints": { "shroudFingerprint/v1": f.fingerprint },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "shroud",
                    "informationUri": "https://github.com/shroud/shroud",
                    "version": crate::VERSION,
                    "rules": rules.iter().map(|(id, d)| json!({
                        "id": id,
                        "name": id,
                        "shortDescription": { "text": d },
                        "defaultConfiguration": { "level": "error" },
                    })).collect::<Vec<_>>(),
                }
            },
            "invocations": [{
                "executionSuccessful": summary.errors.is_empty(),
                "toolExecutionNotifications": summary.errors.iter().map(|e| json!({
                    "level": "error", "message": { "text": e }
                })).collect::<Vec<_>>(),
            }],
            "results": results,
        }]
    })
}

/// A relative URI reference for a repo path (percent-encoding what URIs cannot hold).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
