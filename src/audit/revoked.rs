//! Revoked recipients that can still read: for every recipient the names file marks
//! `revoked:`, the files that list it today, the files whose history holds an envelope for it
//! that wraps today's data key (`git show OLD:file` gives it the key to today's values), and
//! the creation rules that still list it (every file encrypted under them will be readable by
//! it). Each with the command that ends it, and never one that re-adds the key: `shroud keys
//! revoke` (which also removes it from every rule, and gives a new data key to a file only its
//! history exposes).
//!
//! Owns: those findings, and how a fix that applies a creation rule is guarded when the rule
//! lists a revoked key. Must not know: git, output.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::checks::shell_word;
use super::model::{Drift, DriftKind, KeyRef, Revoked, RevokedVia};
use super::names::{Holder, Names};
use super::timeline::FileKeys;
use super::walk::{SopsFound, config_label};
use crate::config::Config;
use crate::keysource::Named;

/// What [`find`] concluded.
#[derive(Default)]
pub struct Found {
    pub findings: Vec<Revoked>,
    /// Per `(config label, rule index)`: the revoked recipients the rule lists.
    pub in_rules: BTreeMap<(String, usize), Vec<String>>,
    /// Notes: revoked keys whose old envelopes opened versions since re-keyed.
    pub notes: Vec<String>,
}

fn label(recipient: &str, holder: &Holder) -> String {
    format!("{} ({})", holder.name, recipient)
}

/// The revoked recipients' findings over the walked files (with their key histories, in the
/// same order) and the configs in force.
pub fn find(
    names: &Names,
    files: &[(&SopsFound, &FileKeys)],
    configs: &[Arc<Config>],
    root_abs: &std::path::Path,
) -> Found {
    let mut out = Found::default();
    for (recipient, holder) in names.revoked() {
        let named = Named::new([recipient.as_str()]);
        let date = holder.revoked.clone().unwrap_or_default();
        let finding = |path: &str, k: &KeyRef, via, commits, rule, fix| Revoked {
            path: path.to_owned(),
            kind: k.kind,
            recipient: k.recipient.clone(),
            name: Some(holder.name.clone()),
            revoked: date.clone(),
            via,
            commits,
            rule,
            fix,
        };
        let revoke = format!("shroud keys revoke {}", shell_word(recipient));
        let mut past: BTreeSet<&str> = BTreeSet::new();
        for (s, keys) in files {
            let matching = |v: &super::history::Version| -> Option<KeyRef> {
                v.keys
                    .iter()
                    .find(|k| named.matches_identity(&k.recipient))
                    .cloned()
            };
            if let Some(k) = s.version.as_ref().and_then(matching) {
                out.findings.push(finding(
                    &s.rel,
                    &k,
                    RevokedVia::Current,
                    Vec::new(),
                    None,
                    revoke.clone(),
                ));
                continue;
            }
            let mut commits: Vec<String> = Vec::new();
            let mut hit = None;
            for same in &keys.same_key {
                if let Some(k) = matching(&same.version) {
                    hit.get_or_insert(k);
                    commits.extend(same.commits.iter().cloned());
                }
            }
            if let Some(k) = hit {
                commits.sort();
                commits.dedup();
                out.findings.push(finding(
                    &s.rel,
                    &k,
                    RevokedVia::History,
                    commits,
                    None,
                    // `keys revoke` also re-keys a file only its history exposes.
                    format!("shroud keys revoke {}", shell_word(&k.recipient)),
                ));
            } else if keys.older_keys.iter().any(|v| matching(v).is_some()) {
                past.insert(&s.rel);
            }
        }
        for c in configs {
            let cfg = config_label(root_abs, c);
            for (i, rule) in c.creation_rules.iter().enumerate() {
                let Some(spec) = rule.groups.iter().flatten().find(|k| named.matches_spec(k))
                else {
                    continue;
                };
                let k = KeyRef {
                    kind: spec.kind(),
                    recipient: recipient.clone(),
                };
                out.findings.push(finding(
                    &cfg,
                    &k,
                    RevokedVia::Rule,
                    Vec::new(),
                    Some(i),
                    revoke.clone(),
                ));
                out.in_rules
                    .entry((cfg.clone(), i))
                    .or_default()
                    .push(recipient.clone());
            }
        }
        if !past.is_empty() {
            out.notes.push(format!(
                "{}, revoked {date}, held envelopes in earlier versions of {} file(s) whose data key has since been replaced ({}): the values of those versions were readable with it; change those credentials at their source",
                label(recipient, holder),
                past.len(),
                past.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out.findings.sort_by(|a, b| {
        (&a.path, a.via, &a.recipient, a.rule).cmp(&(&b.path, b.via, &b.recipient, b.rule))
    });
    out
}

/// Guards the fixes that apply a creation rule (`updatekeys`, `encrypt`, decrypt and encrypt
/// again, moving a shadowed rule into effect) when that rule lists a revoked key: the key is
/// revoked first, so the fix cannot give it a file.
pub fn guard_fixes(drift: &mut [Drift], in_rules: &BTreeMap<(String, usize), Vec<String>>) {
    for d in drift {
        if matches!(d.kind, DriftKind::Uncovered { .. }) {
            continue;
        }
        let (Some(cfg), Some(rule)) = (&d.config, d.rule) else {
            continue;
        };
        let Some(keys) = in_rules.get(&(cfg.clone(), rule)) else {
            continue;
        };
        let keys: Vec<String> = keys.iter().map(|k| shell_word(k)).collect();
        let sep = if d.fix.starts_with("shroud ") {
            " && "
        } else {
            "; then "
        };
        d.fix = format!("shroud keys revoke {}{sep}{}", keys.join(" "), d.fix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_that_apply_a_rule_listing_a_revoked_key_revoke_it_first() {
        let drift = |kind: DriftKind, rule: usize, fix: &str| Drift {
            path: "x".into(),
            config: Some(".sops.yaml".into()),
            rule: Some(rule),
            kind,
            fix: fix.into(),
        };
        let mut d = vec![
            drift(
                DriftKind::Threshold { file: 1, rule: 2 },
                0,
                "shroud updatekeys x",
            ),
            drift(
                DriftKind::Shadowed { by: 0 },
                1,
                "move rule 1 of .sops.yaml before rule 0",
            ),
            drift(
                DriftKind::Uncovered {
                    reason: String::new(),
                },
                1,
                "add a creation rule",
            ),
            drift(
                DriftKind::Threshold { file: 1, rule: 2 },
                2,
                "shroud updatekeys y",
            ),
        ];
        let mut in_rules = BTreeMap::new();
        in_rules.insert((".sops.yaml".to_owned(), 0), vec!["age1bob".to_owned()]);
        in_rules.insert(
            (".sops.yaml".to_owned(), 1),
            vec!["arn:aws:kms:x:1:key/k".to_owned()],
        );
        guard_fixes(&mut d, &in_rules);
        let fixes: Vec<&str> = d.iter().map(|x| x.fix.as_str()).collect();
        assert_eq!(
            fixes,
            [
                "shroud keys revoke age1bob && shroud updatekeys x",
                "shroud keys revoke arn:aws:kms:x:1:key/k; then move rule 1 of .sops.yaml before rule 0",
                "add a creation rule",
                "shroud updatekeys y",
            ]
        );
    }
}
