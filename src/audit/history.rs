//! A file's key history, judged from its versions without any key: which change made a new
//! data key (a re-key), which only wrapped the same data key again (a re-wrap), which only
//! changed values (an edit), who was added and removed, and which versions share today's data
//! key.
//!
//! The evidence, for two consecutive versions:
//! - every encrypted value and the MAC are AES-GCM ciphertexts under the data key, so a value
//!   whose ciphertext is byte-identical in both versions proves the data key did not change;
//! - the envelopes (`sops.*.enc`) wrap the data key, so a new data key changes every envelope.
//!
//! Hence: envelopes changed and no ciphertext kept → **re-key**; envelopes changed and some
//! ciphertext kept → **re-wrap**; envelopes kept → **edit** (same data key). One case cannot be
//! told apart without a key: a commit that wraps the same data key again *and* re-encrypts
//! every value and the MAC (sops's `updatekeys` then sops's `edit`, committed together) looks
//! like a re-key (docs/audit.md, Limits).
//!
//! Versions are nodes, changes are edges; edges that keep the data key join their two
//! versions, so the versions that share today's data key are one set (branches, merges and
//! reverts included). The data key's age is the time of the earliest change that made it.
//!
//! The same evidence across paths: files whose versions hold a byte-identical ciphertext share a
//! data key ([`shared_keys`]), so they share their readers.
//!
//! Owns: summarising a version, classifying a change, and that analysis. Must not know: git,
//! names, policies or output.

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};

use super::model::{EventKind, KeyRef};
use crate::crypto::{RuleSpec, is_enc};
use crate::metadata::Metadata;
use crate::store::Format;
use crate::tree::Tree;

/// What the analysis needs of one version of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// The version is a readable sops file.
    pub sops: bool,
    /// Its recipients.
    pub keys: BTreeSet<KeyRef>,
    /// A digest of its envelopes.
    envelopes: u64,
    /// Digests of its ciphertexts (every `ENC[…]` value and comment, and the MAC).
    ciphertexts: HashSet<u64>,
}

fn digest<T: Hash + ?Sized>(t: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

impl Version {
    /// A version that is not a readable sops file.
    pub fn not_sops() -> Version {
        Version::default()
    }

    /// The summary of a parsed sops file.
    pub fn of(tree: &Tree, md: &Metadata) -> Version {
        let keys = md
            .all_keys()
            .map(|k| KeyRef {
                kind: k.kind(),
                recipient: super::checks::recipient(k),
            })
            .collect();
        let mut ciphertexts = HashSet::new();
        if let Ok(rules) = RuleSpec::default().with_default().compile() {
            for d in crate::crypto::decide(tree, &rules) {
                let bytes = d.bytes.expose();
                if is_enc(bytes) {
                    ciphertexts.insert(digest(bytes));
                }
            }
        }
        if let Some(mac) = &md.mac {
            ciphertexts.insert(digest(mac.as_bytes()));
        }
        Version {
            sops: true,
            keys,
            envelopes: digest(&super::checks::envelope_fingerprint(md)),
            ciphertexts,
        }
    }

    /// Reads one version's bytes (an old blob).
    pub fn read(path: &str, format: Format, bytes: &[u8]) -> Version {
        match crate::document::load_encrypted(path, format, bytes) {
            Ok((tree, md)) => Version::of(&tree, &md),
            Err(_) => Version::not_sops(),
        }
    }
}

/// Which of `versions` (one per file; None: no readable version) share a data key, judged
/// without a key: a ciphertext byte-identical in two files (one was copied from the other, or
/// both re-wrapped from one) proves they are under the same data key, so whoever opens one
/// reads the other. Each group (indexes into `versions`, at least two) is returned once, in
/// ascending order.
pub fn shared_keys(versions: &[Option<&Version>]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..versions.len()).collect();
    let mut first: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for (i, v) in versions.iter().enumerate() {
        let Some(v) = v.filter(|v| v.sops) else {
            continue;
        };
        for c in &v.ciphertexts {
            match first.get(c) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
                None => {
                    first.insert(*c, i);
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..versions.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    groups.into_values().filter(|g| g.len() > 1).collect()
}

/// What the change from `old` (None: the file did not exist) to `new` did.
pub fn classify(old: Option<&Version>, new: &Version) -> EventKind {
    let Some(old) = old.filter(|o| o.sops) else {
        return if new.sops {
            EventKind::Created
        } else {
            EventKind::NotSops
        };
    };
    if !new.sops {
        return EventKind::NotSops;
    }
    if old.envelopes == new.envelopes {
        return EventKind::Edit;
    }
    let kept = old
        .ciphertexts
        .intersection(&new.ciphertexts)
        .next()
        .is_some();
    if kept || old.ciphertexts.is_empty() || new.ciphertexts.is_empty() {
        // Without a ciphertext to compare, a new data key is not shown: the same data key is
        // assumed (the older, more cautious age).
        EventKind::ReWrap
    } else {
        EventKind::ReKey
    }
}

/// One change of a file: version `old` (None: the file was added) became version `new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The commit (an index into the history; None: the uncommitted working copy).
    pub commit: Option<usize>,
    pub old: Option<usize>,
    pub new: usize,
    /// The file is added in a shallow clone's oldest commit: what came before is unknown.
    pub first_seen: bool,
}

/// One classified change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub commit: Option<usize>,
    pub kind: EventKind,
    pub added: Vec<KeyRef>,
    pub removed: Vec<KeyRef>,
}

/// Where today's data key was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    /// In this commit.
    Commit(usize),
    /// In the working copy (an uncommitted re-key, or a new file).
    Uncommitted,
}

/// The key history of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// One per edge, in edge order.
    pub events: Vec<Event>,
    /// Per version: whether it shares today's data key.
    pub same_key: Vec<bool>,
    /// The earliest change that made today's data key (None: no change in the history made
    /// it, e.g. an untracked file or a shallow clone).
    pub made: Option<Made>,
    /// The newest committed re-wrap of today's data key.
    pub last_rewrap: Option<usize>,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Analyses a file whose versions are `versions`, changed by `edges`, today at version
/// `current`. `time` gives a commit's time (for "earliest").
pub fn analyse(
    versions: &[&Version],
    edges: &[Edge],
    current: usize,
    time: &dyn Fn(usize) -> i64,
) -> Analysis {
    let mut parent: Vec<usize> = (0..versions.len()).collect();
    let mut events = Vec::with_capacity(edges.len());
    for e in edges {
        let new = versions[e.new];
        let old = e.old.map(|o| versions[o]);
        let kind = if e.first_seen {
            EventKind::FirstSeen
        } else if e.old == Some(e.new) {
            // The same blob before and after (nodes are blobs): a rename, a copy, a mode change.
            EventKind::Unchanged
        } else {
            classify(old, new)
        };
        let (added, removed) = match kind {
            EventKind::Created => (new.keys.iter().cloned().collect(), Vec::new()),
            EventKind::ReKey | EventKind::ReWrap | EventKind::Edit => {
                let old = old.expect("a change of a sops version has one");
                (
                    new.keys.difference(&old.keys).cloned().collect(),
                    old.keys.difference(&new.keys).cloned().collect(),
                )
            }
            EventKind::NotSops | EventKind::FirstSeen | EventKind::Unchanged => {
                (Vec::new(), Vec::new())
            }
        };
        if matches!(kind, EventKind::ReWrap | EventKind::Edit)
            && let Some(o) = e.old
        {
            let (a, b) = (find(&mut parent, o), find(&mut parent, e.new));
            parent[a] = b;
        }
        events.push(Event {
            commit: e.commit,
            kind,
            added,
            removed,
        });
    }
    let root = find(&mut parent, current);
    let same_key: Vec<bool> = (0..versions.len())
        .map(|i| find(&mut parent, i) == root)
        .collect();
    // The earliest change into today's set that made a data key; an uncommitted one only when
    // no commit did.
    let mut made: Option<Made> = None;
    let mut last_rewrap: Option<usize> = None;
    let older =
        |a: usize, b: usize| (time(a), std::cmp::Reverse(a)) < (time(b), std::cmp::Reverse(b));
    for (e, ev) in edges.iter().zip(&events) {
        if !same_key[e.new] {
            continue;
        }
        match (ev.kind, e.commit) {
            (k, Some(c)) if k.new_data_key() => {
                made = match made {
                    Some(Made::Commit(m)) if older(m, c) => Some(Made::Commit(m)),
                    _ => Some(Made::Commit(c)),
                }
            }
            (k, None) if k.new_data_key() && made.is_none() => made = Some(Made::Uncommitted),
            (EventKind::ReWrap, Some(c)) => {
                last_rewrap = match last_rewrap {
                    Some(m) if older(c, m) => Some(m),
                    _ => Some(c),
                }
            }
            _ => {}
        }
    }
    Analysis {
        events,
        same_key,
        made,
        last_rewrap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::KeyKind;

    fn v(keys: &[&str], envelopes: u64, ciphertexts: &[u64]) -> Version {
        Version {
            sops: true,
            keys: keys
                .iter()
                .map(|r| KeyRef {
                    kind: KeyKind::Age,
                    recipient: (*r).to_owned(),
                })
                .collect(),
            envelopes,
            ciphertexts: ciphertexts.iter().copied().collect(),
        }
    }

    #[test]
    fn classifies_changes() {
        let a = v(&["x"], 1, &[10, 11, 12]);
        assert_eq!(classify(None, &a), EventKind::Created);
        assert_eq!(classify(Some(&Version::not_sops()), &a), EventKind::Created);
        assert_eq!(classify(Some(&a), &Version::not_sops()), EventKind::NotSops);
        // One value and the MAC changed, same envelopes.
        assert_eq!(
            classify(Some(&a), &v(&["x"], 1, &[10, 21, 22])),
            EventKind::Edit
        );
        // Every ciphertext changed under the same envelopes (sops's edit): still an edit.
        assert_eq!(
            classify(Some(&a), &v(&["x"], 1, &[20, 21, 22])),
            EventKind::Edit
        );
        // A recipient added, values untouched.
        assert_eq!(
            classify(Some(&a), &v(&["x", "y"], 2, &[10, 11, 12])),
            EventKind::ReWrap
        );
        // A re-wrap with an edit.
        assert_eq!(
            classify(Some(&a), &v(&["x"], 2, &[10, 21, 22])),
            EventKind::ReWrap
        );
        // Everything new.
        assert_eq!(
            classify(Some(&a), &v(&["x"], 2, &[20, 21, 22])),
            EventKind::ReKey
        );
        // Nothing to compare: not shown to be a new data key.
        assert_eq!(
            classify(Some(&v(&["x"], 1, &[])), &v(&["x"], 2, &[1])),
            EventKind::ReWrap
        );
    }

    /// v0 created (t=10) → v1 re-wrap adding y (t=20) → v2 re-key removing y (t=30) → v3
    /// re-wrap adding z (t=40); a revert brings v1 back (t=50): today's key is v0's.
    #[test]
    fn analyses_a_history_with_a_revert() {
        let v0 = v(&["x"], 1, &[1, 2]);
        let v1 = v(&["x", "y"], 2, &[1, 2]);
        let v2 = v(&["x"], 3, &[3, 4]);
        let v3 = v(&["x", "z"], 4, &[3, 4]);
        let versions = [&v0, &v1, &v2, &v3];
        // Commits are indexed newest first: c0 (t=50) … c4 (t=10).
        let time = |c: usize| 50 - 10 * c as i64;
        let edge = |commit, old, new| Edge {
            commit: Some(commit),
            old,
            new,
            first_seen: false,
        };
        let edges = [
            edge(4, None, 0),
            edge(3, Some(0), 1),
            edge(2, Some(1), 2),
            edge(1, Some(2), 3),
        ];
        let a = analyse(&versions, &edges, 3, &time);
        let kinds: Vec<EventKind> = a.events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, [Created, ReWrap, ReKey, ReWrap]);
        assert_eq!(a.events[1].added[0].recipient, "y");
        assert_eq!(a.events[2].removed[0].recipient, "y");
        assert_eq!(a.same_key, [false, false, true, true]);
        assert_eq!(a.made, Some(Made::Commit(2)));
        assert_eq!(a.last_rewrap, Some(1));

        // The revert: v3 → v1 (every ciphertext differs: looks like a re-key), but v1 is
        // v0's data key, made at c4.
        let mut edges = edges.to_vec();
        edges.push(edge(0, Some(3), 1));
        let a = analyse(&versions, &edges, 1, &time);
        assert_eq!(a.same_key, [true, true, false, false]);
        assert_eq!(a.made, Some(Made::Commit(4)));

        // A shallow clone that starts at v2: nothing dates the key.
        let edges = [
            Edge {
                commit: Some(2),
                old: None,
                new: 2,
                first_seen: true,
            },
            edge(1, Some(2), 3),
        ];
        let a = analyse(&versions, &edges, 3, &time);
        assert_eq!(a.made, None);
        assert_eq!(a.events[0].kind, FirstSeen);

        // An uncommitted re-key of the working copy.
        let wt = v(&["x"], 9, &[7, 8]);
        let versions = [&v0, &wt];
        let edges = [
            edge(4, None, 0),
            Edge {
                commit: None,
                old: Some(0),
                new: 1,
                first_seen: false,
            },
        ];
        let a = analyse(&versions, &edges, 1, &time);
        assert_eq!(a.made, Some(Made::Uncommitted));
        assert_eq!(a.same_key, [false, true]);
    }
}
