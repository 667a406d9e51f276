//! Kubernetes `kind: Secret` manifests committed with real values.
//!
//! Owns: finding Secret documents without sops metadata, decoding `data` (base64 is an
//! encoding, not encryption) and judging `data`/`stringData` values against the placeholder
//! list. Must not know: other rules, git, suppression files or output formats.

use super::Finding;
use super::engine::{inline_allowed, line_at};
use super::rules::{is_placeholder, names_itself};
use crate::k8s::secret::{Field, SecretDoc};
use crate::secret::SecretBytes;
use crate::store::{self, Format};

pub const RULE_ID: &str = "kubernetes-secret";
const DESCRIPTION: &str = "Kubernetes Secret with plaintext values";

/// Keys whose values identify rather than authenticate (a username alone is not a leak).
const NOT_SECRET_KEYS: &[&str] = &[
    "username",
    "user",
    "host",
    "hostname",
    "port",
    "database",
    "db",
    "dbname",
    "url",
    "endpoint",
    "region",
    "namespace",
    "email",
    "api_url",
    "base_url",
];

fn mentions_secret_kind(data: &[u8]) -> bool {
    memchr::memmem::find_iter(data, b"Secret").any(|i| {
        let before = String::from_utf8_lossy(&data[i.saturating_sub(12)..i]);
        let before = before.trim_end_matches([' ', '"', '\'', '\t']);
        before.ends_with(':')
            && before
                .trim_end_matches(':')
                .trim_end_matches(['"', ' '])
                .ends_with("kind")
    })
}

/// The offset of the first line at or after `from` whose content starts with `key:` (or
/// `"key":`), if any.
fn find_key(data: &[u8], from: usize, key: &str) -> Option<usize> {
    let mut pos = from;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| pos + p);
        let line = String::from_utf8_lossy(&data[pos..end]);
        let t = line
            .trim_start_matches([' ', '\t', '-', '{', ','])
            .trim_start();
        let t = t
            .strip_prefix('"')
            .or_else(|| t.strip_prefix('\''))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix(key) {
            let rest = rest.trim_start_matches(['"', '\'']).trim_start();
            if rest.starts_with(':') {
                return Some(pos + (line.len() - line.trim_start().len()));
            }
        }
        pos = end + 1;
    }
    None
}

/// Findings for every plaintext value of every unencrypted Secret in a YAML/JSON file.
pub fn check(path: &str, data: &[u8]) -> Vec<Finding> {
    let format = match Format::from_path(std::path::Path::new(path)) {
        Format::Json => Format::Json,
        Format::Yaml => Format::Yaml,
        _ => return Vec::new(),
    };
    if !mentions_secret_kind(data) {
        return Vec::new();
    }
    // Templates (Helm) and other non-YAML do not parse; they are left to the pattern rules.
    let Ok(tree) = store::load_plain(format, data) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cursor = 0;
    for doc in &tree.branches {
        let Some(secret) = SecretDoc::of(doc).filter(|s| !s.is_sops()) else {
            continue;
        };
        let name = secret.name().unwrap_or_default();
        let doc_start = find_key(data, cursor, "kind").unwrap_or(cursor);
        let mut field_at = doc_start;
        let mut key_cursor = doc_start;
        let mut current: Option<Field> = None;
        for entry in secret.entries() {
            if current != Some(entry.field) {
                current = Some(entry.field);
                field_at = find_key(data, doc_start, entry.field.name()).unwrap_or(doc_start);
                key_cursor = field_at;
            }
            let Some(raw) = entry.raw() else {
                continue;
            };
            // Invalid base64 in `data` is judged as written.
            let plain = entry
                .decoded()
                .unwrap_or_else(|| SecretBytes::from_slice(raw));
            let plain = plain.expose();
            let key = entry.key;
            let at = find_key(data, key_cursor, key).unwrap_or(field_at);
            key_cursor = at;
            cursor = cursor.max(key_cursor);
            if NOT_SECRET_KEYS.contains(&key.to_ascii_lowercase().as_str())
                || plain.iter().all(u8::is_ascii_whitespace)
                || raw.starts_with(b"ENC[")
                || is_placeholder(raw)
                || is_placeholder(plain)
                || names_itself(plain)
                || inline_allowed(data, at)
            {
                continue;
            }
            let (line, range) = line_at(data, at);
            let message = format!(
                "Secret {name:?} stores {}.{key} in plaintext (base64 is not encryption); encrypt it: shroud encrypt -i --encrypted-regex '^(data|stringData)$' {path}",
                entry.field.name()
            );
            out.push(Finding::new(
                RULE_ID,
                DESCRIPTION,
                path,
                line,
                1 + at - range.start,
                plain,
                Some(message),
            ));
        }
        cursor = cursor.max(doc_start + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_real_values_only() {
        // shroud:allow-next-line (a test fixture)
        let y = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: VnE4LXJUM3gtTG05d1o=\n  user: Y2hhbmdlbWU=\nstringData:\n  token: \"{{ .Values.token }}\"\n---\nkind: ConfigMap\ndata:\n  a: b\n";
        let f = check("k8s/db.yaml", y);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].line, 6);
        assert!(
            f[0].message
                .as_deref()
                .unwrap()
                .contains("shroud encrypt -i --encrypted-regex '^(data|stringData)$' k8s/db.yaml")
        );
    }
}
