//! The per-file checks, none of which needs a key: what a sops file's metadata says
//! (inventory), whether its structure is intact (integrity), whether it follows the creation
//! rule that covers it (drift), and whether a plaintext file is one a rule says must be
//! encrypted.
//!
//! Owns: the checks' definitions (docs/audit.md describes each). Uses `crypto::decide` for
//! every "is this value encrypted" question, so the answer is the cipher's own. Must not know:
//! git, the scanner, names, or output.

use std::collections::BTreeSet;

use super::model::{Drift, DriftKind, Encryption, GroupDiff, Integrity, Key};
use crate::config::CreationRule;
use crate::crypto::{self, EncValue, RuleSpec, is_enc};
use crate::keysource::KeySpec;
use crate::metadata::{KeyKind, MasterKey, Metadata};
use crate::store::Format;
use crate::timestamp::Timestamp;
use crate::tree::Tree;

/// The most key paths listed for a plaintext file that must be encrypted.
pub const MAX_LISTED_PATHS: usize = 20;

/// Who holds a key: what the access matrix is keyed by.
pub fn recipient(k: &MasterKey) -> String {
    match k {
        MasterKey::Age(a) => a.recipient.clone(),
        MasterKey::Kms(k) => k.arn.clone(),
        MasterKey::Pgp(p) => p.fp.clone(),
        MasterKey::Other(o) => o.identity(),
    }
}

/// A key as the report lists it (without a name; the caller adds it).
pub fn key_entry(k: &MasterKey) -> Key {
    let mut key = Key {
        kind: k.kind(),
        recipient: recipient(k),
        identity: k.identity(),
        name: None,
        role: None,
        context: None,
        aws_profile: None,
        created_at: None,
    };
    match k {
        MasterKey::Kms(kms) => {
            key.role = kms.role.clone();
            key.context = (!kms.context.is_empty()).then(|| kms.context.iter().cloned().collect());
            key.aws_profile = kms.aws_profile.clone();
            key.created_at = Some(kms.created_at.clone()).filter(|c| !c.is_empty());
        }
        MasterKey::Pgp(p) => key.created_at = Some(p.created_at.clone()).filter(|c| !c.is_empty()),
        _ => {}
    }
    key
}

/// The encryption option a rule spec sets (sops's default when none is).
pub fn encryption(spec: &RuleSpec) -> Encryption {
    let s = spec.clone().with_default();
    let (option, value) = [
        ("unencrypted_suffix", &s.unencrypted_suffix),
        ("encrypted_suffix", &s.encrypted_suffix),
        ("unencrypted_regex", &s.unencrypted_regex),
        ("encrypted_regex", &s.encrypted_regex),
        ("unencrypted_comment_regex", &s.unencrypted_comment_regex),
        ("encrypted_comment_regex", &s.encrypted_comment_regex),
    ]
    .into_iter()
    .find_map(|(n, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| (n, v.to_owned()))
    })
    .unwrap_or(("unencrypted_suffix", String::new()));
    Encryption {
        option,
        value,
        mac_only_encrypted: s.mac_only_encrypted,
    }
}

/// The fingerprint of a file's data-key envelopes: every group's `(key, enc)` pairs, sorted
/// within the group. It changes exactly when an encrypt, rotate or updatekeys rewrapped keys.
pub fn envelope_fingerprint(md: &Metadata) -> Vec<String> {
    let mut out = Vec::new();
    for (i, g) in md.key_groups.iter().enumerate() {
        let mut keys: Vec<String> = g
            .keys
            .iter()
            .map(|k| {
                let enc = match k {
                    MasterKey::Age(a) => a.enc.clone(),
                    MasterKey::Kms(k) => k.enc.clone(),
                    MasterKey::Pgp(p) => p.enc.clone(),
                    MasterKey::Other(o) => o
                        .fields
                        .get("enc")
                        .and_then(|v| v.as_text())
                        .unwrap_or_default(),
                };
                format!("{i}\u{0}{}\u{0}{enc}", k.label())
            })
            .collect();
        keys.sort();
        out.extend(keys);
    }
    out
}

/// `s` as one shell word, for the commands the report suggests: as is when it holds only
/// characters no shell treats specially, else single-quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,=".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn finding(path: &str, check: &'static str, at: Option<String>, detail: String) -> Integrity {
    Integrity {
        path: path.to_owned(),
        check,
        at,
        detail,
    }
}

/// Structural checks of a sops file that need no key: the MAC is present and well-formed, the
/// metadata is complete and usable, every envelope is well-formed, every value the file's
/// rules encrypt is a well-formed `ENC[…]` (and none is stored in plaintext).
pub fn integrity(path: &str, format: Format, tree: &Tree, md: &Metadata) -> Vec<Integrity> {
    let mut out = Vec::new();
    match &md.mac {
        None => out.push(finding(
            path,
            "mac-missing",
            None,
            "the file has no MAC: changes to its values cannot be detected, and sops and shroud refuse to decrypt it".into(),
        )),
        Some(m) => {
            if let Err(e) = EncValue::parse(m) {
                out.push(finding(path, "mac-malformed", None, format!("the stored MAC is not a well-formed ENC value: {e}")));
            }
        }
    }
    if md.version.is_none() {
        out.push(finding(
            path,
            "metadata-incomplete",
            None,
            "no version field (sops filestatus reports such a file as not encrypted)".into(),
        ));
    }
    if md.lastmodified.is_empty() {
        out.push(finding(
            path,
            "metadata-incomplete",
            None,
            "no lastmodified field (the MAC cannot be checked without it)".into(),
        ));
    } else if Timestamp::parse_rfc3339(&md.lastmodified).is_none() {
        out.push(finding(
            path,
            "metadata-incomplete",
            None,
            "lastmodified is not an RFC 3339 time".into(),
        ));
    }
    if md.key_groups.is_empty() || md.all_keys().next().is_none() {
        out.push(finding(
            path,
            "metadata-incomplete",
            None,
            "no master keys: nobody can open the file".into(),
        ));
    } else {
        for (i, g) in md.key_groups.iter().enumerate() {
            if g.keys.is_empty() {
                out.push(finding(
                    path,
                    "metadata-incomplete",
                    None,
                    format!("key group {i} has no keys: its share of the data key is lost"),
                ));
            }
        }
        if md.key_groups.len() > 1 && md.threshold() > md.key_groups.len() {
            out.push(finding(
                path,
                "metadata-incomplete",
                None,
                format!(
                    "shamir_threshold {} exceeds the {} key groups: the data key cannot be recovered",
                    md.threshold(),
                    md.key_groups.len()
                ),
            ));
        }
    }
    for k in md.all_keys() {
        if let Some((check, why)) = envelope_problem(k) {
            out.push(finding(path, check, None, format!("{}: {why}", k.shown())));
        }
    }
    let spec = if format == Format::Binary {
        RuleSpec::default()
    } else {
        md.rules.clone()
    };
    let rules = match spec.with_default().compile() {
        Ok(r) => r,
        Err(e) => {
            out.push(finding(
                path,
                "metadata-incomplete",
                None,
                format!("the recorded encryption rule is unusable: {e}"),
            ));
            return out;
        }
    };
    for d in crypto::decide(tree, &rules) {
        let bytes = d.bytes.expose();
        if is_enc(bytes) {
            let text = String::from_utf8_lossy(bytes);
            if let Err(e) = EncValue::parse(&text) {
                out.push(finding(
                    path,
                    "value-malformed",
                    Some(d.path.clone()),
                    format!("not a well-formed ENC value: {e}"),
                ));
            }
        } else if !d.comment && d.is_plaintext_violation() {
            out.push(finding(
                path,
                "plaintext-value",
                Some(d.path.clone()),
                "stored in plaintext although the file's own rules say it is encrypted".into(),
            ));
        }
    }
    out
}

/// What is wrong with one stored envelope, judged without any key: the check's name
/// (`envelope-unknown-reader` when it may open for a party the entry does not name, else
/// `envelope-malformed`) and why.
fn envelope_problem(k: &MasterKey) -> Option<(&'static str, String)> {
    use base64::Engine as _;
    let malformed = |why: &str| Some(("envelope-malformed", why.to_owned()));
    match k {
        MasterKey::Age(a) => {
            let armored = a
                .enc
                .trim_start()
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
                && a.enc
                    .trim_end()
                    .ends_with("-----END AGE ENCRYPTED FILE-----");
            if !armored {
                return malformed("the envelope is not an armored age file");
            }
            let p = a.stanza_problem()?;
            let check = if p.unknown_reader() {
                "envelope-unknown-reader"
            } else {
                "envelope-malformed"
            };
            Some((check, p.to_string()))
        }
        MasterKey::Kms(kms) => {
            let ok = !kms.enc.is_empty()
                && base64::engine::general_purpose::STANDARD
                    .decode(kms.enc.trim())
                    .is_ok_and(|b| !b.is_empty());
            if !ok {
                malformed("the envelope is not a base64 KMS ciphertext")
            } else if !kms.arn.starts_with("arn:") {
                malformed("the key is not an ARN")
            } else {
                None
            }
        }
        MasterKey::Pgp(p) => {
            let armored = p.enc.contains("-----BEGIN PGP MESSAGE-----")
                && p.enc.contains("-----END PGP MESSAGE-----");
            if !armored {
                return malformed("the envelope is not an armored OpenPGP message");
            }
            // More than one session key, a hidden recipient or a passphrase: it opens for
            // a party the entry does not name (an unreadable message counts too).
            p.session_key_problem()
                .map(|why| ("envelope-unknown-reader", why.to_string()))
        }
        MasterKey::Other(o) => {
            let has_enc = o
                .fields
                .get("enc")
                .and_then(|v| v.as_text())
                .is_some_and(|e| !e.trim().is_empty());
            if has_enc {
                None
            } else {
                malformed("the entry has no enc field")
            }
        }
    }
}

/// The key types a creation rule names that shroud cannot wrap for (GCP KMS, Azure Key Vault,
/// HashiCorp Vault, HuaweiCloud KMS): their keys are not compared.
pub fn uncompared_types(rule: &CreationRule) -> Vec<KeyKind> {
    let mut out = Vec::new();
    for field in &rule.unsupported {
        let Some(t) = KeyKind::from_rule_field(field) else {
            continue;
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn effective_threshold(groups: usize, stored: usize) -> usize {
    if groups <= 1 {
        1
    } else if stored == 0 {
        groups
    } else {
        stored
    }
}

/// How a sops file differs from the creation rule that covers it: recipients per key group
/// (as `updatekeys` would change them), the threshold, and the encryption rule.
pub fn drift(
    path: &str,
    format: Format,
    md: &Metadata,
    rule: &CreationRule,
    config: Option<String>,
    rule_index: Option<usize>,
) -> Vec<Drift> {
    let skip = uncompared_types(rule);
    let mut out = Vec::new();
    let item = |kind: DriftKind, fix: String| Drift {
        path: path.to_owned(),
        config: config.clone(),
        rule: rule_index,
        kind,
        fix,
    };
    let n = md.key_groups.len().max(rule.groups.len());
    let mut groups = Vec::new();
    for i in 0..n {
        let have: BTreeSet<(String, String)> = md
            .key_groups
            .get(i)
            .map(|g| {
                g.keys
                    .iter()
                    .filter(|k| !skip.contains(&k.kind()))
                    .map(|k| (k.identity(), k.label()))
                    .collect()
            })
            .unwrap_or_default();
        let want: BTreeSet<(String, String)> = rule
            .groups
            .get(i)
            .map(|g| {
                g.iter()
                    .map(|k| (k.identity(), KeySpec::label(k)))
                    .collect()
            })
            .unwrap_or_default();
        let have_ids: BTreeSet<&String> = have.iter().map(|(id, _)| id).collect();
        let want_ids: BTreeSet<&String> = want.iter().map(|(id, _)| id).collect();
        let missing: Vec<String> = want
            .iter()
            .filter(|(id, _)| !have_ids.contains(id))
            .map(|(_, l)| l.clone())
            .collect();
        let extra: Vec<String> = have
            .iter()
            .filter(|(id, _)| !want_ids.contains(id))
            .map(|(_, l)| l.clone())
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            groups.push(GroupDiff {
                group: i,
                missing,
                extra,
            });
        }
    }
    if !groups.is_empty() {
        out.push(item(
            DriftKind::Recipients { groups },
            format!("shroud updatekeys {}", shell_word(path)),
        ));
    }
    let want_t = effective_threshold(rule.groups.len(), rule.shamir_threshold);
    if md.threshold() != want_t {
        out.push(item(
            DriftKind::Threshold {
                file: md.threshold(),
                rule: want_t,
            },
            format!("shroud updatekeys {}", shell_word(path)),
        ));
    }
    if format != Format::Binary {
        let file = encryption(&md.rules);
        let wanted = encryption(&rule.rules);
        if file != wanted {
            out.push(item(
                DriftKind::Rules {
                    file,
                    rule: wanted,
                },
                {
                    let p = shell_word(path);
                    format!("decrypt {path} and encrypt it again under the current rule (shroud decrypt -i {p} && shroud encrypt -i {p})")
                },
            ));
        }
    }
    out
}

/// For a plaintext file a creation rule covers with its `path_regex`: the key paths of the
/// values that rule would encrypt (`crypto::decide`), or why the file cannot be parsed.
/// `None` when the rule would encrypt nothing in it.
pub fn must_encrypt(
    path: &str,
    format: Format,
    bytes: &[u8],
    rule: &CreationRule,
) -> Option<DriftKind> {
    let tree = match crate::document::load_plain(path, format, bytes) {
        Ok(t) => t,
        Err(e) => {
            return Some(DriftKind::MustEncrypt {
                values: 0,
                paths: Vec::new(),
                unparsed: Some(crate::text::one_line(&e)),
            });
        }
    };
    let spec = if format == Format::Binary {
        RuleSpec::default()
    } else {
        rule.rules.clone()
    };
    let rules = spec.with_default().compile().ok()?;
    let leaves: Vec<String> = crypto::decide(&tree, &rules)
        .into_iter()
        .filter(|d| !d.comment && d.is_plaintext_violation())
        .map(|d| d.path)
        .collect();
    if leaves.is_empty() {
        return None;
    }
    Some(DriftKind::MustEncrypt {
        values: leaves.len(),
        paths: leaves.into_iter().take(MAX_LISTED_PATHS).collect(),
        unparsed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md_of(yaml: &str) -> (Tree, Metadata) {
        crate::document::load_encrypted("t.yaml", Format::Yaml, yaml.as_bytes()).unwrap()
    }

    /// An armored age file whose header has one X25519 stanza (the payload does not matter).
    const AGE_ENC: &str = "-----BEGIN AGE ENCRYPTED FILE-----\\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBBQUFBCkJCQkIKLS0tIENDQ0MK\\n-----END AGE ENCRYPTED FILE-----\\n";

    #[test]
    fn structural_findings_without_keys() {
        let text = format!(
            "a: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nb: hunter2\nc: ENC[AES256_GCM,data:!!,iv:x,tag:y,type:str]\nsops:\n  age:\n    - recipient: age1x\n      enc: \"{AGE_ENC}\"\n    - recipient: age1y\n      enc: not armored\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  unencrypted_suffix: _unencrypted\n"
        );
        let (tree, md) = md_of(&text);
        let found = integrity("t.yaml", Format::Yaml, &tree, &md);
        let checks: Vec<(&str, Option<&str>)> =
            found.iter().map(|f| (f.check, f.at.as_deref())).collect();
        assert_eq!(
            checks,
            vec![
                ("mac-missing", None),
                ("metadata-incomplete", None),
                ("envelope-malformed", None),
                ("plaintext-value", Some("[\"b\"]")),
                ("value-malformed", Some("[\"c\"]")),
            ]
        );
        assert!(found[2].detail.contains("age1y"));
        assert!(
            !found.iter().any(|f| format!("{f:?}").contains("hunter2")),
            "values never appear"
        );
    }

    #[test]
    fn suggested_commands_quote_odd_paths() {
        assert_eq!(shell_word("apps/db.yaml"), "apps/db.yaml");
        assert_eq!(shell_word("a b.yaml"), "'a b.yaml'");
        assert_eq!(shell_word("it's;rm -rf ~"), r"'it'\''s;rm -rf ~'");
        assert_eq!(shell_word("$(x)`y`\n"), "'$(x)`y`\n'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn fingerprint_tracks_envelopes_only() {
        let a = format!(
            "k: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops:\n  age:\n    - recipient: age1x\n      enc: \"{AGE_ENC}\"\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  version: 3.9.0\n"
        );
        let b = a
            .replace("2024-01-01", "2025-01-01")
            .replace("data:AAAA", "data:BBBB");
        let c = a.replace("YWdl", "YWdm");
        let fp = |t: &str| envelope_fingerprint(&md_of(t).1);
        assert_eq!(fp(&a), fp(&b), "value edits keep the envelopes");
        assert_ne!(fp(&a), fp(&c));
    }

    /// PGP recipients in a rule are compared like age and KMS; keys of types shroud cannot
    /// wrap for (here GCP KMS) are left out of the comparison.
    #[test]
    fn drift_compares_pgp_and_skips_unwrappable_types() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join(".sops.yaml");
        std::fs::write(
            &cfg,
            "creation_rules:\n  - age: age1x\n    pgp: fbc7b9e2a4f9289ac0c1d4843d16cee4a27381b4\n    gcp_kms: projects/p/locations/l/keyRings/r/cryptoKeys/k\n",
        )
        .unwrap();
        let config = crate::config::load(&cfg).unwrap();
        let text = format!(
            "k: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops:\n  age:\n    - recipient: age1x\n      enc: \"{AGE_ENC}\"\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  version: 3.9.0\n"
        );
        let md = md_of(&text).1;
        let found = drift(
            "t.yaml",
            Format::Yaml,
            &md,
            &config.creation_rules[0],
            None,
            Some(0),
        );
        let [
            Drift {
                kind: DriftKind::Recipients { groups },
                ..
            },
        ] = found.as_slice()
        else {
            panic!("one recipients drift expected: {found:?}");
        };
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].missing.len(), 1, "{:?}", groups[0]);
        assert!(
            groups[0].missing[0]
                .to_ascii_uppercase()
                .contains("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            "{:?}",
            groups[0]
        );
        assert!(groups[0].extra.is_empty());
    }
}
