//! The recipient difference of one file: which keys a file's key groups gain and lose, and
//! whether its threshold or group count changes, between its metadata and the key specs
//! wanted now. `rotate`, `updatekeys`, `groups`, the merge driver and the minimal-diff
//! re-encryption all decide "same recipients or not" here.
//! Must not know: files, rules, how the change is applied.

use std::collections::BTreeSet;

use super::KeySpec;
use crate::metadata::{KeyGroup, MasterKey, Metadata};

/// The key changes for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Per group: (added identities, removed identities).
    pub groups: Vec<(Vec<String>, Vec<String>)>,
    pub threshold: Option<(usize, usize)>,
    pub group_count: Option<(usize, usize)>,
    /// A new data key (rotate; updatekeys when a key is removed).
    pub new_data_key: bool,
    /// After rotate: how the file's keys differ from what its creation rule asks for
    /// (`+added -removed`), when they do.
    pub drift: Option<String>,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.new_data_key {
            parts.push("new data key".to_owned());
        }
        if let Some((a, b)) = self.group_count {
            parts.push(format!("key groups {a} → {b}"));
        }
        if let Some((a, b)) = self.threshold {
            parts.push(format!("threshold {a} → {b}"));
        }
        for (i, (add, rm)) in self.groups.iter().enumerate() {
            // A post-quantum or plugin recipient (~2,000 characters) is shortened.
            let shown = crate::text::shorten_keys;
            let mut g: Vec<String> = add.iter().map(|k| format!("+{}", shown(k))).collect();
            g.extend(rm.iter().map(|k| format!("-{}", shown(k))));
            if !g.is_empty() {
                parts.push(if self.groups.len() > 1 {
                    format!("group {i}: {}", g.join(" "))
                } else {
                    g.join(" ")
                });
            }
        }
        if let Some(d) = &self.drift {
            parts.push(format!(
                "recipients differ from its .sops.yaml rule ({d}): run `shroud updatekeys` to match the rule"
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

fn identities(g: &KeyGroup) -> BTreeSet<String> {
    g.keys.iter().map(MasterKey::label).collect()
}

/// The key-group difference between a file's metadata and what is wanted.
pub fn plan(old: &Metadata, groups: &[Vec<KeySpec>], threshold: usize) -> Plan {
    let mut p = Plan::default();
    let n = old.key_groups.len().max(groups.len());
    for i in 0..n {
        let have = old.key_groups.get(i).map(identities).unwrap_or_default();
        let want: BTreeSet<String> = groups
            .get(i)
            .map(|g| g.iter().map(KeySpec::label).collect())
            .unwrap_or_default();
        p.groups.push((
            want.difference(&have).cloned().collect(),
            have.difference(&want).cloned().collect(),
        ));
    }
    if old.key_groups.len() != groups.len() {
        p.group_count = Some((old.key_groups.len(), groups.len()));
    }
    let new_t = if groups.len() > 1 {
        if threshold == 0 {
            groups.len()
        } else {
            threshold
        }
    } else {
        1
    };
    if old.threshold() != new_t {
        p.threshold = Some((old.threshold(), new_t));
    }
    p
}

impl Plan {
    /// Whether a key or a key group is taken away (a person or a system loses access).
    pub fn removes_access(&self) -> bool {
        self.groups.iter().any(|(_, rm)| !rm.is_empty())
            || self.group_count.is_some_and(|(a, b)| b < a)
    }

    pub fn is_empty(&self) -> bool {
        !self.new_data_key
            && self.threshold.is_none()
            && self.group_count.is_none()
            && self
                .groups
                .iter()
                .all(|(a, r)| a.is_empty() && r.is_empty())
    }
}
