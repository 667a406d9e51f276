//! Versions of one sops file compared value by value, by key path: the three-way merge behind
//! `shroud git merge-driver`, the by-path listing behind `shroud git textconv`, and the
//! minimal-diff re-encryption of a plaintext file against its previous encrypted version.
//!
//! Owns: which versions merge by value; the three-way merge of decrypted trees (a change on one
//! side wins, different changes on both sides are conflicts named by key path, never by value);
//! which recipients and data key the merged file gets (a recipient change from either side is
//! kept, a recipient one side removed is never re-added, and the result is never left under a
//! data key that a removed recipient could unwrap from any of the versions); reusing the
//! ciphertext of every unchanged value. Everything happens in memory: only sealed bytes leave.
//! Must not know: git (where versions come from, conflict stages), the CLI, terminals.

use std::collections::{BTreeSet, HashMap};

use crate::crypto::{Cipher, RuleSpec};
use crate::document::{self, EncryptSpec, Opened, Sniff};
use crate::error::{Error, ExitCode, Failure, Result};
use crate::keysource::{self, Keyring};
use crate::metadata::{KeyGroup, MasterKey, Metadata};
use crate::secret::{DataKey, SecretText};
use crate::store::{EmitOptions, Format};
use crate::tree::{Comment, Entry, Kind, Map, PathElem, Scalar, Tree, Value, format_path};

/// Why versions could not be merged by value.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// One side is a sops file and the other is not (decrypted, or never encrypted).
    #[error(
        "{sops} version is a sops file and {other} version is not, so they cannot be merged value by value"
    )]
    Mixed {
        sops: &'static str,
        other: &'static str,
    },
    /// Both sides changed the file's keys or rules, differently.
    #[error("{0}")]
    Keys(String),
}

impl Failure for MergeError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Generic
    }
}

fn failure(file: &str, e: MergeError) -> Error {
    Error::Procedure {
        file: Some(file.to_owned()),
        failure: Box::new(e),
    }
}

/// Whether `bytes` is a sops file (it parses in `format` and carries sops metadata). Damaged
/// files and text that merely mentions `ENC[…]` are not: they merge and show as text.
pub fn is_sops(format: Format, bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"sops").is_some() && document::sniff(format, bytes) == Sniff::Sops
}

/// How two sides of a file merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Neither side is a sops file: a line-based text merge applies.
    Text,
    /// Both sides are sops files: [`merge`] merges their values.
    Values,
}

/// How `ours` and `theirs` merge; an error when only one of them is a sops file.
pub fn method(file: &str, format: Format, ours: &[u8], theirs: &[u8]) -> Result<Method> {
    match (is_sops(format, ours), is_sops(format, theirs)) {
        (true, true) => Ok(Method::Values),
        (false, false) => Ok(Method::Text),
        (true, false) => Err(failure(
            file,
            MergeError::Mixed {
                sops: "our",
                other: "their",
            },
        )),
        (false, true) => Err(failure(
            file,
            MergeError::Mixed {
                sops: "their",
                other: "our",
            },
        )),
    }
}

/// A merged, sealed file.
#[derive(Debug)]
pub struct Merged {
    /// The encrypted result (valid for sops whether or not there were conflicts).
    pub bytes: Vec<u8>,
    /// Key paths both sides changed differently (or one changed and the other removed): the
    /// result holds our value there. Paths only, never values.
    pub conflicts: Vec<String>,
    /// What was decided about recipients and the data key, for the person merging.
    pub notes: Vec<String>,
}

/// One opened version.
struct Version {
    opened: Opened,
    recipients: Recipients,
}

impl Version {
    fn key(&self) -> &DataKey {
        self.opened.cipher.key()
    }
    fn md(&self) -> &Metadata {
        &self.opened.metadata
    }
}

/// Who can open a version: the identity labels of each key group, and the threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Recipients {
    groups: Vec<BTreeSet<String>>,
    threshold: usize,
}

impl Recipients {
    fn of(md: &Metadata) -> Recipients {
        Recipients {
            groups: md
                .key_groups
                .iter()
                .map(|g| g.keys.iter().map(MasterKey::label).collect())
                .collect(),
            threshold: md.threshold(),
        }
    }

    fn all(&self) -> BTreeSet<&String> {
        self.groups.iter().flatten().collect()
    }

    /// `+added -removed` relative to `from`.
    fn change_from(&self, from: &Recipients) -> String {
        let (now, before) = (self.all(), from.all());
        let mut parts: Vec<String> = now.difference(&before).map(|k| format!("+{k}")).collect();
        parts.extend(before.difference(&now).map(|k| format!("-{k}")));
        if parts.is_empty() {
            parts.push(format!(
                "{} key groups, threshold {}",
                self.groups.len(),
                self.threshold
            ));
        }
        parts.join(" ")
    }
}

fn same_key(a: &DataKey, b: &DataKey) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.expose().ct_eq(b.expose()))
}

/// Opens one version, reusing the data key of an already opened version with the same
/// envelopes (one unwrap per distinct data key: a KMS call or gpg run each).
async fn open_version(
    file: &str,
    which: &str,
    format: Format,
    bytes: &[u8],
    keyring: &Keyring,
    known: &[&Version],
) -> Result<Version> {
    let label = format!("{file} ({which} version)");
    let (tree, md) = document::load_encrypted(&label, format, bytes)?;
    let same = known.iter().find(|v| {
        v.md().key_groups == md.key_groups && v.md().shamir_threshold == md.shamir_threshold
    });
    let opened = match same {
        Some(v) => {
            if md.mac.is_none() {
                return Err(Error::MacMissing { file: label });
            }
            let key = v.key().clone();
            document::open_to_edit_with_key(&label, tree, md, &key)?
        }
        None => document::open_to_edit(&label, format, bytes, keyring, false).await?,
    };
    Ok(Version {
        recipients: Recipients::of(&opened.metadata),
        opened,
    })
}

/// Merges three versions of a sops file by key path, in memory, and seals the result.
///
/// `base` is the common ancestor (anything that is not a sops file, e.g. empty when both
/// sides added the file, counts as none). Values: a value changed on one side takes that
/// change; changed differently on both sides, the result keeps ours and the path is reported
/// in [`Merged::conflicts`]. Keys: see `decide_keys`. Unchanged values keep their exact
/// ciphertext (from whichever side holds the chosen data key); the MAC is renewed.
pub async fn merge(
    file: &str,
    format: Format,
    (base, ours, theirs): (&[u8], &[u8], &[u8]),
    keyring: &Keyring,
    opts: EmitOptions,
) -> Result<Merged> {
    let o = open_version(file, "our", format, ours, keyring, &[]).await?;
    let t = open_version(file, "their", format, theirs, keyring, &[&o]).await?;
    let b = if is_sops(format, base) {
        Some(open_version(file, "base", format, base, keyring, &[&o, &t]).await?)
    } else {
        None
    };
    let mut notes = Vec::new();
    let rules = three_way(
        b.as_ref().map(|b| &b.md().rules),
        &o.md().rules,
        &t.md().rules,
    )
    .ok_or_else(|| {
        failure(
            file,
            MergeError::Keys(
                "both versions changed the encryption rules (encrypted_regex, unencrypted_suffix, …) differently".into(),
            ),
        )
    })?
    .clone();
    let keys = decide_keys(file, b.as_ref(), &o, &t, keyring, &mut notes).await?;

    let mut conflicts = Vec::new();
    let mut tree = merge_trees(
        b.as_ref().map(|b| &b.opened.tree),
        &o.opened.tree,
        &t.opened.tree,
        &mut conflicts,
    );
    let sides: Vec<(&Tree, &RuleSpec)> = b
        .iter()
        .chain([&o, &t])
        .map(|v| (&v.opened.tree, &v.md().rules))
        .collect();
    if let Some(path) = newly_plaintext(file, (&tree, &rules), &sides)? {
        return Err(failure(
            file,
            MergeError::Keys(format!(
                "the merged file would store in plaintext a value that a version stored encrypted (first at {path}): the versions' encryption rules or marker comments disagree; take one side and re-apply the other's change"
            )),
        ));
    }
    let mut md = o.md().clone();
    md.key_groups = keys.groups;
    md.shamir_threshold = keys.threshold;
    md.rules = rules;
    let mut cipher = Cipher::new(&keys.key);
    // Ours last: where both sides hold the same (value, path) under different IVs, our
    // ciphertext is the one kept.
    for v in b.iter().chain([&t, &o]) {
        cipher.absorb_ivs(&v.opened.cipher);
    }
    document::seal(file, &mut tree, &mut md, &mut cipher)?;
    let bytes = document::emit_encrypted(file, format, tree, &md, opts)?;
    // Fail closed: what is handed back must open under the key it claims.
    let (check_tree, check_md) = document::load_encrypted(file, format, &bytes)?;
    document::open_with_key(file, check_tree, check_md, &keys.key, false).map_err(|_| {
        Error::Internal {
            file: file.to_owned(),
        }
    })?;
    Ok(Merged {
        bytes,
        conflicts,
        notes,
    })
}

/// The first leaf the merged file would store in plaintext although a version stored that
/// same value there encrypted, and no version had it in plaintext: neither a rules change nor
/// a marker comment (`encrypted_comment_regex`) taken from one side may unencrypt the other
/// side's values.
fn newly_plaintext(
    file: &str,
    (merged, merged_rules): (&Tree, &RuleSpec),
    versions: &[(&Tree, &RuleSpec)],
) -> Result<Option<String>> {
    use std::collections::HashSet;
    let compile = |r: &RuleSpec| {
        r.compile().map_err(|source| Error::Rules {
            file: file.to_owned(),
            source,
        })
    };
    let mut secret = HashSet::new();
    let mut public = HashSet::new();
    for (tree, rules) in versions {
        for d in crate::crypto::decide(tree, &compile(rules)?) {
            if !d.bytes.is_empty() {
                let k = (d.comment, d.path, d.bytes);
                if d.encrypt {
                    secret.insert(k);
                } else {
                    public.insert(k);
                }
            }
        }
    }
    Ok(crate::crypto::decide(merged, &compile(merged_rules)?)
        .into_iter()
        .filter(|d| !d.encrypt && !d.bytes.is_empty())
        .map(|d| (d.comment, d.path, d.bytes))
        .find(|k| secret.contains(k) && !public.contains(k))
        .map(|(_, path, _)| path))
}

/// `theirs` when only they changed it, `ours` when only we did or both did the same; `None`
/// when both changed it differently.
fn three_way<'a, T: PartialEq>(base: Option<&'a T>, ours: &'a T, theirs: &'a T) -> Option<&'a T> {
    if ours == theirs || base == Some(theirs) {
        Some(ours)
    } else if base == Some(ours) {
        Some(theirs)
    } else {
        None
    }
}

/// The merged file's data key and envelopes.
struct Keys {
    key: DataKey,
    groups: Vec<KeyGroup>,
    threshold: usize,
}

/// Recipients and data key of the merged file.
///
/// Recipients: a change on one side (updatekeys, rotate --add/--rm, groups) is kept; when both
/// sides changed a single key group, the result has every recipient either side added and none
/// that either side removed (a removal is never undone). Different changes to several key
/// groups, or changes without a base, are refused.
///
/// Data key: ours, unless only theirs was rotated (a new data key): then theirs, so a rotation
/// is never undone. If any recipient that is not in the result held an envelope for that key
/// in any of the three versions, the result gets a new data key instead: an attacker holding
/// a removed key and the repository history must not be able to open the merged values.
async fn decide_keys(
    file: &str,
    b: Option<&Version>,
    o: &Version,
    t: &Version,
    keyring: &Keyring,
    notes: &mut Vec<String>,
) -> Result<Keys> {
    let refuse = |why: String| failure(file, MergeError::Keys(why));
    // Which recipients, and the metadata whose key groups spell them.
    let union_md;
    let (chosen, chosen_md): (Recipients, &Metadata) = if o.recipients == t.recipients {
        (o.recipients.clone(), o.md())
    } else if b.is_some_and(|b| b.recipients == o.recipients) {
        notes.push(format!(
            "their version changed the recipients ({}): the merged file keeps that change",
            t.recipients.change_from(&o.recipients)
        ));
        (t.recipients.clone(), t.md())
    } else if b.is_some_and(|b| b.recipients == t.recipients) {
        (o.recipients.clone(), o.md())
    } else {
        let Some(b) = b else {
            return Err(refuse(
                "both versions were created with different recipients and there is no common version to merge them from".into(),
            ));
        };
        let single = [b, o, t].iter().all(|v| v.md().key_groups.len() == 1);
        if !single {
            return Err(refuse(format!(
                "both versions changed the key groups differently (ours: {}; theirs: {})",
                o.recipients.change_from(&b.recipients),
                t.recipients.change_from(&b.recipients)
            )));
        }
        let (bs, os, ts) = (
            &b.recipients.groups[0],
            &o.recipients.groups[0],
            &t.recipients.groups[0],
        );
        let keep = |label: &String| {
            (os.contains(label) || ts.contains(label))
                && !(bs.contains(label) && (!os.contains(label) || !ts.contains(label)))
        };
        let mut keys: Vec<MasterKey> = Vec::new();
        let mut seen = BTreeSet::new();
        for k in o.md().all_keys().chain(t.md().all_keys()) {
            if keep(&k.label()) && seen.insert(k.label()) {
                keys.push(k.clone());
            }
        }
        union_md = Metadata {
            key_groups: vec![KeyGroup { keys }],
            ..Default::default()
        };
        let merged = Recipients::of(&union_md);
        notes.push(format!(
            "both versions changed the recipients (ours: {}; theirs: {}): the merged file has every recipient either added and none either removed",
            o.recipients.change_from(&b.recipients),
            t.recipients.change_from(&b.recipients)
        ));
        (merged, &union_md)
    };

    let rotated = |v: &Version| b.is_some_and(|b| !same_key(v.key(), b.key()));
    let candidate = if rotated(t) && !rotated(o) {
        notes.push(
            "their version has a new data key (rotate): the merged values are encrypted under it"
                .into(),
        );
        t
    } else {
        if rotated(t) && !same_key(o.key(), t.key()) {
            notes.push("both versions have a new data key: the merged file keeps ours".into());
        }
        o
    };
    let versions: Vec<&Version> = b.into_iter().chain([o, t]).collect();
    let kept = chosen.all();
    let removed: BTreeSet<&String> = versions
        .iter()
        .flat_map(|v| v.recipients.all())
        .filter(|k| !kept.contains(k))
        .collect();
    let exposed: BTreeSet<&String> = versions
        .iter()
        .filter(|v| same_key(v.key(), candidate.key()))
        .flat_map(|v| v.recipients.all())
        .filter(|k| removed.contains(k))
        .collect();
    let specs = document::current_specs(file, chosen_md, &[])?;
    let key_err = |source| Error::Key {
        file: file.to_owned(),
        source,
    };
    if !exposed.is_empty() {
        let names: Vec<&str> = exposed.iter().map(|s| s.as_str()).collect();
        notes.push(format!(
            "a recipient no longer in the file ({}) could open the data key the merge would keep: the merged file gets a new data key",
            names.join(", ")
        ));
        let key = DataKey::generate();
        let (groups, threshold) =
            keysource::wrap_data_key(keyring, &key, &specs, chosen_md.shamir_threshold)
                .await
                .map_err(key_err)?;
        return Ok(Keys {
            key,
            groups,
            threshold,
        });
    }
    let key = candidate.key().clone();
    if let Some(v) = [o, t]
        .into_iter()
        .chain(b)
        .find(|v| same_key(v.key(), &key) && v.recipients == chosen)
    {
        return Ok(Keys {
            key,
            groups: v.md().key_groups.clone(),
            threshold: v.md().shamir_threshold,
        });
    }
    // Wrap the kept key for the merged recipients, reusing every envelope one of the versions
    // already holds for it.
    let pool = Metadata {
        key_groups: vec![KeyGroup {
            keys: versions
                .iter()
                .filter(|v| same_key(v.key(), &key) && v.md().key_groups.len() == 1)
                .flat_map(|v| v.md().all_keys().cloned())
                .collect(),
        }],
        ..Default::default()
    };
    let (groups, threshold) =
        keysource::rewrap_groups(keyring, &key, &specs, chosen_md.shamir_threshold, &pool)
            .await
            .map_err(key_err)?;
    Ok(Keys {
        key,
        groups,
        threshold,
    })
}

fn merge_trees(b: Option<&Tree>, o: &Tree, t: &Tree, conflicts: &mut Vec<String>) -> Tree {
    let n = o.branches.len();
    let aligned = t.branches.len() == n && b.is_none_or(|b| b.branches.len() == n);
    if !aligned {
        if b.is_some_and(|b| b.branches == o.branches) {
            return Tree {
                branches: t.branches.clone(),
                hints: o.hints.clone(),
            };
        }
        if b.is_none_or(|b| b.branches != t.branches) && o.branches != t.branches {
            conflicts.push("the list of YAML documents (their number changed)".into());
        }
        return o.clone();
    }
    let mut out = Tree {
        branches: Vec::with_capacity(n),
        hints: o.hints.clone(),
    };
    for i in 0..n {
        let mut m = Merger {
            prefix: if n > 1 {
                format!("{}: ", crate::text::document(i))
            } else {
                String::new()
            },
            path: Vec::new(),
            conflicts: &mut *conflicts,
        };
        out.branches
            .push(m.map(b.map(|b| &b.branches[i]), &o.branches[i], &t.branches[i]));
    }
    out
}

/// A mapping's pairs, each with the comment lines above it and its inline comments, and the
/// comments after the last pair.
struct Segments<'a> {
    pairs: Vec<Segment<'a>>,
    tail: Vec<&'a Comment>,
}

struct Segment<'a> {
    before: Vec<&'a Comment>,
    key: &'a str,
    value: &'a Value,
    after: Vec<&'a Comment>,
}

/// The comments above (`before`) or inline after a pair, none when the side lacks the pair.
fn side<'a>(s: Option<&&Segment<'a>>, before: bool) -> Vec<&'a Comment> {
    s.map(|s| {
        if before {
            s.before.clone()
        } else {
            s.after.clone()
        }
    })
    .unwrap_or_default()
}

impl<'a> Segments<'a> {
    fn of(m: &'a Map) -> Segments<'a> {
        let mut pairs: Vec<Segment<'a>> = Vec::new();
        let mut pending = Vec::new();
        let mut after_pair = false;
        for e in &m.entries {
            match e {
                Entry::Pair(k, v) => {
                    pairs.push(Segment {
                        before: std::mem::take(&mut pending),
                        key: k,
                        value: v,
                        after: Vec::new(),
                    });
                    after_pair = true;
                }
                Entry::Comment(c) if c.inline && after_pair => {
                    if let Some(last) = pairs.last_mut() {
                        last.after.push(c);
                    }
                }
                Entry::Comment(c) => {
                    pending.push(c);
                    after_pair = false;
                }
            }
        }
        Segments {
            pairs,
            tail: pending,
        }
    }

    fn index(&self) -> HashMap<&'a str, &Segment<'a>> {
        self.pairs.iter().map(|s| (s.key, s)).collect()
    }
}

struct Merger<'c> {
    /// `document N: ` in a multi-document YAML file.
    prefix: String,
    path: Vec<PathElem>,
    conflicts: &'c mut Vec<String>,
}

impl Merger<'_> {
    fn conflict(&mut self, what: Option<&str>) {
        let path = format_path(&self.path);
        let at = match (what, path.is_empty()) {
            (None, _) => path,
            (Some(w), true) => format!("{w} at the top level"),
            (Some(w), false) => format!("{w} {path}"),
        };
        self.conflicts.push(format!("{}{at}", self.prefix));
    }

    fn map(&mut self, b: Option<&Map>, o: &Map, t: &Map) -> Map {
        let empty = Map::new();
        let (bs, os, ts) = (
            Segments::of(b.unwrap_or(&empty)),
            Segments::of(o),
            Segments::of(t),
        );
        let (bi, oi, ti) = (bs.index(), os.index(), ts.index());
        // Keys only theirs has go after the nearest key before them (in their order) that we
        // have too, else first.
        let mut after: HashMap<Option<&str>, Vec<&str>> = HashMap::new();
        let mut anchor: Option<&str> = None;
        for s in &ts.pairs {
            if oi.contains_key(s.key) {
                anchor = Some(s.key);
            } else {
                after.entry(anchor).or_default().push(s.key);
            }
        }
        let mut order: Vec<&str> = after.remove(&None).unwrap_or_default();
        for s in &os.pairs {
            order.push(s.key);
            order.extend(after.remove(&Some(s.key)).unwrap_or_default());
        }
        let mut out = Map::new();
        for key in order {
            let (bseg, oseg, tseg) = (bi.get(key), oi.get(key), ti.get(key));
            self.path.push(PathElem::Key(key.to_owned()));
            let value = self.value(
                bseg.map(|s| s.value),
                oseg.map(|s| s.value),
                tseg.map(|s| s.value),
            );
            let before = self.comments(
                "the comments before",
                &side(bseg, true),
                &side(oseg, true),
                &side(tseg, true),
            );
            let inline = self.comments(
                "the comment after",
                &side(bseg, false),
                &side(oseg, false),
                &side(tseg, false),
            );
            self.path.pop();
            if let Some(v) = value {
                out.entries.extend(before.into_iter().map(Entry::Comment));
                out.entries.push(Entry::Pair(key.to_owned(), v));
                out.entries.extend(inline.into_iter().map(Entry::Comment));
            }
        }
        let tail = self.comments("the comments at the end of", &bs.tail, &os.tail, &ts.tail);
        out.entries.extend(tail.into_iter().map(Entry::Comment));
        out
    }

    fn comments(
        &mut self,
        what: &str,
        b: &[&Comment],
        o: &[&Comment],
        t: &[&Comment],
    ) -> Vec<Comment> {
        let pick = match three_way(Some(&b), &o, &t) {
            Some(p) => p,
            None => {
                self.conflict(Some(what));
                &o
            }
        };
        pick.iter().map(|c| (*c).clone()).collect()
    }

    /// The merged value at the current path; `None` when it is absent from the result.
    fn value(&mut self, b: Option<&Value>, o: Option<&Value>, t: Option<&Value>) -> Option<Value> {
        if let Some(v) = three_way(Some(&b), &o, &t) {
            return v.cloned();
        }
        match (b, o, t) {
            (_, Some(Value::Map(om)), Some(Value::Map(tm))) => {
                let bm = b.and_then(Value::as_map);
                Some(Value::Map(self.map(bm, om, tm)))
            }
            (Some(Value::List(bl)), Some(Value::List(ol)), Some(Value::List(tl)))
                if bl.len() == ol.len() && ol.len() == tl.len() =>
            {
                let mut out = Vec::with_capacity(ol.len());
                let mut index = 0;
                for ((bv, ov), tv) in bl.iter().zip(ol).zip(tl) {
                    self.path.push(PathElem::Index(index));
                    out.push(
                        self.value(Some(bv), Some(ov), Some(tv))
                            .unwrap_or(Value::Null),
                    );
                    self.path.pop();
                    if !matches!(ov, Value::Comment(_)) {
                        index += 1;
                    }
                }
                Some(Value::List(out))
            }
            _ => {
                self.conflict(None);
                o.cloned()
            }
        }
    }
}

/// A decrypted file as one line per value, `["db"]["password"]: "hunter2"`, then its
/// recipients and rules (sops's default rule left out): what `git diff` shows through the diff driver, so every change reads
/// as a key path with its old and new value (and a recipient change as a recipient line).
/// Strings are JSON-quoted; control characters never reach the terminal raw.
pub fn listing(opened: &Opened) -> SecretText {
    let mut out = SecretText::default();
    let many = opened.tree.branches.len() > 1;
    for (i, m) in opened.tree.branches.iter().enumerate() {
        if many {
            out.push_str(&format!("--- {}\n", crate::text::document(i)));
        }
        list_map(&mut out, &mut Vec::new(), m);
    }
    let md = &opened.metadata;
    for (gi, g) in md.key_groups.iter().enumerate() {
        for k in &g.keys {
            let label = crate::text::sanitize(&k.shown());
            if md.key_groups.len() > 1 {
                out.push_str(&format!("sops recipient (key group {gi}): {label}\n"));
            } else {
                out.push_str(&format!("sops recipient: {label}\n"));
            }
        }
    }
    if md.key_groups.len() > 1 {
        out.push_str(&format!("sops shamir_threshold: {}\n", md.threshold()));
    }
    let r = &md.rules;
    for (name, v) in [
        ("unencrypted_suffix", &r.unencrypted_suffix),
        ("encrypted_suffix", &r.encrypted_suffix),
        ("unencrypted_regex", &r.unencrypted_regex),
        ("encrypted_regex", &r.encrypted_regex),
        ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
        ("encrypted_comment_regex", &r.encrypted_comment_regex),
    ] {
        let default = name == "unencrypted_suffix"
            && v.as_deref() == Some(crate::crypto::rules::DEFAULT_UNENCRYPTED_SUFFIX);
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty() && !default) {
            out.push_str(&format!("sops {name}: {}\n", crate::text::sanitize(v)));
        }
    }
    if r.mac_only_encrypted {
        out.push_str("sops mac_only_encrypted: true\n");
    }
    out
}

fn list_map(out: &mut SecretText, path: &mut Vec<PathElem>, m: &Map) {
    for e in &m.entries {
        match e {
            Entry::Comment(c) => list_comment(out, path, c),
            Entry::Pair(k, v) => {
                path.push(PathElem::Key(k.clone()));
                list_value(out, path, v);
                path.pop();
            }
        }
    }
}

fn list_comment(out: &mut SecretText, path: &[PathElem], c: &Comment) {
    out.push_str(&format_path(path));
    out.push_str(if path.is_empty() { "#" } else { " #" });
    escape_into(out, &String::from_utf8_lossy(c.text.expose()), false);
    out.push_str("\n");
}

fn list_value(out: &mut SecretText, path: &mut Vec<PathElem>, v: &Value) {
    let line = |out: &mut SecretText, path: &[PathElem], text: &str| {
        out.push_str(&format_path(path));
        out.push_str(": ");
        out.push_str(text);
        out.push_str("\n");
    };
    match v {
        Value::Null => line(out, path, "null"),
        Value::Scalar(s) => {
            out.push_str(&format_path(path));
            out.push_str(": ");
            scalar_into(out, s);
            out.push_str("\n");
        }
        Value::Map(m) if m.entries.is_empty() => line(out, path, "{}"),
        Value::Map(m) => list_map(out, path, m),
        Value::List(l) if l.is_empty() => line(out, path, "[]"),
        Value::List(l) => {
            let mut index = 0;
            for item in l {
                if let Value::Comment(c) = item {
                    list_comment(out, path, c);
                    continue;
                }
                path.push(PathElem::Index(index));
                list_value(out, path, item);
                path.pop();
                index += 1;
            }
        }
        Value::Comment(c) => list_comment(out, path, c),
    }
}

fn scalar_into(out: &mut SecretText, s: &Scalar) {
    match s.kind {
        Kind::Str | Kind::Bytes => escape_into(out, &s.text(), true),
        Kind::Bool => out.push_str(match s.as_bool() {
            Some(true) => "true",
            Some(false) => "false",
            None => "?",
        }),
        Kind::Int | Kind::Float | Kind::Time => escape_into(out, &s.text(), false),
    }
}

/// Writes `text` with control characters escaped (JSON style), quoted when asked.
fn escape_into(out: &mut SecretText, text: &str, quoted: bool) {
    if quoted {
        out.push_str("\"");
    }
    let mut buf = [0u8; 4];
    for ch in text.chars() {
        match ch {
            '"' if quoted => out.push_str("\\\""),
            '\\' if quoted => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push_str(c.encode_utf8(&mut buf)),
        }
    }
    if quoted {
        out.push_str("\"");
    }
}

/// What [`reseal`] did.
pub enum Reseal {
    /// Sealed under the previous version's data key: unchanged values keep their ciphertext.
    Sealed(Box<(Tree, Metadata)>),
    /// The previous version is a sops file whose key is not reused, and why.
    Declined(String),
    /// The previous version is not a sops file.
    NotSops,
}

/// Encrypts a plaintext tree the way `shroud edit` would have changed `previous` (an earlier
/// encrypted version of the same file): under its data key, every unchanged value keeping its
/// exact ciphertext, a fresh MAC. Only when `previous` opens with `keyring` and is wrapped for
/// exactly the recipients (and encrypted under the rules) `spec` asks for; otherwise the caller
/// encrypts afresh.
pub async fn reseal(
    file: &str,
    format: Format,
    mut tree: Tree,
    previous: &[u8],
    spec: &EncryptSpec,
    keyring: &Keyring,
) -> Result<Reseal> {
    document::check_plain(file, format, &tree)?;
    if !is_sops(format, previous) {
        return Ok(Reseal::NotSops);
    }
    let (_, md) = document::load_encrypted(file, format, previous)?;
    let rules = if format == Format::Binary {
        RuleSpec::default().with_default()
    } else {
        spec.rules.clone().with_default()
    };
    if md.rules != rules {
        return Ok(Reseal::Declined(
            "its encryption rules differ from those asked for now".into(),
        ));
    }
    let plan = keysource::plan::plan(&md, &spec.groups, spec.shamir_threshold);
    if !plan.is_empty() {
        return Ok(Reseal::Declined(format!(
            "its recipients differ from those asked for now ({plan})"
        )));
    }
    let mut opened = match document::open_to_edit(file, format, previous, keyring, false).await {
        Ok(o) => o,
        Err(e) => return Ok(Reseal::Declined(format!("it cannot be opened: {e}"))),
    };
    document::seal(file, &mut tree, &mut opened.metadata, &mut opened.cipher)?;
    Ok(Reseal::Sealed(Box::new((tree, opened.metadata))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keysource::KeySpec;

    struct Id {
        secret: String,
        recipient: String,
    }

    fn id() -> Id {
        let (s, r) = keysource::age::generate();
        Id {
            secret: s.as_str().unwrap().to_owned(),
            recipient: r,
        }
    }

    fn ring(ids: &[&Id]) -> Keyring {
        let mut k = Keyring::default();
        for i in ids {
            k.age.add_text(&i.secret, "test").unwrap();
        }
        k
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn spec(ids: &[&Id]) -> EncryptSpec {
        EncryptSpec {
            groups: vec![
                ids.iter()
                    .map(|i| KeySpec::Age(i.recipient.clone()))
                    .collect(),
            ],
            ..Default::default()
        }
    }

    fn encrypt(plain: &str, ids: &[&Id]) -> Vec<u8> {
        let tree = document::load_plain("f.yaml", Format::Yaml, plain.as_bytes()).unwrap();
        let (t, md, _) = rt()
            .block_on(document::encrypt(
                "f.yaml",
                Format::Yaml,
                tree,
                &spec(ids),
                &Keyring::default(),
            ))
            .unwrap();
        document::emit_encrypted("f.yaml", Format::Yaml, t, &md, EmitOptions::default()).unwrap()
    }

    /// `shroud set`/`edit`: new plaintext sealed with the file's own key and IVs.
    fn edit(file: &[u8], plain: &str, ring: &Keyring) -> Vec<u8> {
        let mut o = rt()
            .block_on(document::open_to_edit(
                "f.yaml",
                Format::Yaml,
                file,
                ring,
                false,
            ))
            .unwrap();
        let mut tree = document::load_plain("f.yaml", Format::Yaml, plain.as_bytes()).unwrap();
        document::seal("f.yaml", &mut tree, &mut o.metadata, &mut o.cipher).unwrap();
        document::emit_encrypted(
            "f.yaml",
            Format::Yaml,
            tree,
            &o.metadata,
            EmitOptions::default(),
        )
        .unwrap()
    }

    /// `updatekeys` without a new data key (sops's behaviour): same key, new envelopes.
    fn rewrap(file: &[u8], ids: &[&Id], ring: &Keyring) -> Vec<u8> {
        let (tree, mut md) = document::load_encrypted("f.yaml", Format::Yaml, file).unwrap();
        let rt = rt();
        let key = rt.block_on(ring.unwrap_data_key(&md)).unwrap();
        let (groups, t) = rt
            .block_on(keysource::rewrap_groups(
                &Keyring::default(),
                &key,
                &spec(ids).groups,
                0,
                &md,
            ))
            .unwrap();
        md.key_groups = groups;
        md.shamir_threshold = t;
        document::emit_encrypted("f.yaml", Format::Yaml, tree, &md, EmitOptions::default()).unwrap()
    }

    fn plain(file: &[u8], ring: &Keyring) -> String {
        let o = rt()
            .block_on(document::open("f.yaml", Format::Yaml, file, ring, false))
            .unwrap();
        String::from_utf8(
            document::emit_plain("f.yaml", Format::Yaml, &o.tree, EmitOptions::default()).unwrap(),
        )
        .unwrap()
    }

    fn data_key(file: &[u8], ring: &Keyring) -> DataKey {
        let (_, md) = document::load_encrypted("f.yaml", Format::Yaml, file).unwrap();
        rt().block_on(ring.unwrap_data_key(&md)).unwrap()
    }

    fn run(b: &[u8], o: &[u8], t: &[u8], ring: &Keyring) -> Result<Merged> {
        rt().block_on(merge(
            "f.yaml",
            Format::Yaml,
            (b, o, t),
            ring,
            EmitOptions::default(),
        ))
    }

    fn line<'a>(file: &'a [u8], key: &str) -> &'a str {
        std::str::from_utf8(file)
            .unwrap()
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap()
    }

    #[test]
    fn different_values_merge_and_keep_both_sides_ciphertext() {
        let a = id();
        let r = ring(&[&a]);
        let base = encrypt("a: 1\nb: two\nc:\n    d: x\n    e: why\n", &[&a]);
        let ours = edit(&base, "a: 1\nb: TWO\nc:\n    d: x\n    e: why\n", &r);
        let theirs = edit(
            &base,
            "a: 1\nb: two\nc:\n    d: x\n    e: WHY\n    f: new\n",
            &r,
        );
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(
            plain(&m.bytes, &r),
            "a: 1\nb: TWO\nc:\n    d: x\n    e: WHY\n    f: new\n"
        );
        assert_eq!(line(&m.bytes, "a"), line(&base, "a"));
        assert_eq!(line(&m.bytes, "b"), line(&ours, "b"));
        assert_eq!(line(&m.bytes, "e"), line(&theirs, "e"));
        assert_eq!(line(&m.bytes, "f"), line(&theirs, "f"));
    }

    #[test]
    fn same_value_changed_differently_is_a_named_conflict_without_values() {
        let a = id();
        let r = ring(&[&a]);
        let base = encrypt("db:\n    password: old\nother: 1\n", &[&a]);
        let ours = edit(&base, "db:\n    password: ours-pw\nother: 1\n", &r);
        let theirs = edit(&base, "db:\n    password: theirs-pw\nother: 2\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert_eq!(m.conflicts, vec![r#"["db"]["password"]"#.to_owned()]);
        assert_eq!(
            plain(&m.bytes, &r),
            "db:\n    password: ours-pw\nother: 2\n"
        );
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        assert!(!text.contains("ours-pw") && !text.contains("theirs-pw"));
        // Changed on one side, removed (with its mapping) on the other.
        let theirs = edit(&base, "other: 1\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert_eq!(m.conflicts, vec![r#"["db"]"#.to_owned()]);
    }

    #[test]
    fn deletions_and_lists_merge_by_position() {
        let a = id();
        let r = ring(&[&a]);
        let base = encrypt("l:\n    - 1\n    - 2\n    - 3\ngone: x\nkeep: z\n", &[&a]);
        let ours = edit(&base, "l:\n    - 10\n    - 2\n    - 3\nkeep: z\n", &r);
        let theirs = edit(
            &base,
            "l:\n    - 1\n    - 2\n    - 30\ngone: x\nkeep: z\n",
            &r,
        );
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert!(m.conflicts.is_empty());
        assert_eq!(
            plain(&m.bytes, &r),
            "l:\n    - 10\n    - 2\n    - 30\nkeep: z\n"
        );
        let longer = edit(
            &base,
            "l:\n    - 1\n    - 2\n    - 3\n    - 4\ngone: x\nkeep: z\n",
            &r,
        );
        let m = run(&base, &ours, &longer, &r).unwrap();
        assert_eq!(m.conflicts, vec![r#"["l"]"#.to_owned()]);
    }

    #[test]
    fn a_rotation_on_one_side_is_kept() {
        let (a, b2) = (id(), id());
        let r = ring(&[&a]);
        let base = encrypt("x: 1\ny: 2\n", &[&a, &b2]);
        // Theirs: rotated and removed b2 (a new data key for a alone).
        let theirs = encrypt("x: 1\ny: 2\n", &[&a]);
        let ours = edit(&base, "x: 10\ny: 2\n", &r);
        for (o, t) in [(&ours, &theirs), (&theirs, &ours)] {
            let m = run(&base, o, t, &r).unwrap();
            assert_eq!(plain(&m.bytes, &r), "x: 10\ny: 2\n");
            let (_, md) = document::load_encrypted("f.yaml", Format::Yaml, &m.bytes).unwrap();
            assert_eq!(Recipients::of(&md).all().len(), 1);
            assert!(same_key(&data_key(&m.bytes, &r), &data_key(&theirs, &r)));
            assert!(
                rt().block_on(ring(&[&b2]).unwrap_data_key(&md)).is_err(),
                "the removed key opens the merge"
            );
        }
    }

    #[test]
    fn a_recipient_added_on_their_side_is_kept_with_its_envelope() {
        let (a, b2) = (id(), id());
        let r = ring(&[&a]);
        let base = encrypt("x: 1\ny: 2\n", &[&a]);
        let theirs = rewrap(&base, &[&a, &b2], &r); // updatekeys: +b2, same data key
        let ours = edit(&base, "x: 10\ny: 2\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert_eq!(plain(&m.bytes, &r), "x: 10\ny: 2\n");
        assert!(same_key(&data_key(&m.bytes, &r), &data_key(&base, &r)));
        let (_, md) = document::load_encrypted("f.yaml", Format::Yaml, &m.bytes).unwrap();
        let (_, their_md) = document::load_encrypted("f.yaml", Format::Yaml, &theirs).unwrap();
        assert_eq!(md.key_groups, their_md.key_groups);
        assert!(rt().block_on(ring(&[&b2]).unwrap_data_key(&md)).is_ok());
        assert!(
            m.notes
                .iter()
                .any(|n| n.contains("their version changed the recipients"))
        );
    }

    #[test]
    fn a_removal_without_a_new_data_key_gets_one_in_the_merge() {
        let (a, b2) = (id(), id());
        let r = ring(&[&a]);
        let base = encrypt("x: 1\ny: 2\n", &[&a, &b2]);
        // Ours: b2 removed but the data key kept (sops's updatekeys): b2 still holds it from
        // the base version's envelope.
        let ours = rewrap(&base, &[&a], &r);
        let theirs = edit(&base, "x: 1\ny: 20\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert_eq!(plain(&m.bytes, &r), "x: 1\ny: 20\n");
        let key = data_key(&m.bytes, &r);
        assert!(!same_key(&key, &data_key(&base, &r)), "b2 could open it");
        let (_, md) = document::load_encrypted("f.yaml", Format::Yaml, &m.bytes).unwrap();
        assert!(rt().block_on(ring(&[&b2]).unwrap_data_key(&md)).is_err());
        assert!(m.notes.iter().any(|n| n.contains("new data key")));
    }

    #[test]
    fn recipient_changes_on_both_sides_union_without_undoing_removals() {
        let (a, b2, c, d) = (id(), id(), id(), id());
        let r = ring(&[&a]);
        let base = encrypt("x: 1\n", &[&a, &b2]);
        let ours = rewrap(&base, &[&a, &b2, &c], &r); // +c
        let theirs = encrypt("x: 1\n", &[&a, &d]); // rotated, -b2 +d
        let m = run(&base, &ours, &theirs, &r).unwrap();
        let (_, md) = document::load_encrypted("f.yaml", Format::Yaml, &m.bytes).unwrap();
        let want: BTreeSet<String> = [&a, &c, &d]
            .iter()
            .map(|i| format!("age {}", i.recipient))
            .collect();
        let got: BTreeSet<String> = Recipients::of(&md).all().into_iter().cloned().collect();
        assert_eq!(got, want);
        assert!(rt().block_on(ring(&[&b2]).unwrap_data_key(&md)).is_err());
        assert!(rt().block_on(ring(&[&c]).unwrap_data_key(&md)).is_ok());
        assert!(same_key(&data_key(&m.bytes, &r), &data_key(&theirs, &r)));
    }

    #[test]
    fn their_rules_never_leave_our_values_in_plaintext() {
        let a = id();
        let r = ring(&[&a]);
        let base = encrypt("a: 1\nb: 2\n", &[&a]);
        let ours = edit(&base, "a: 1\nb: ours-secret\n", &r);
        // Theirs: the same recipients, re-encrypted with `b` left in plaintext.
        let tree = document::load_plain("f.yaml", Format::Yaml, b"a: 10\nb: 2\n").unwrap();
        let mut s = spec(&[&a]);
        s.rules.unencrypted_regex = Some("^b$".into());
        let (t, md, _) = rt()
            .block_on(document::encrypt(
                "f.yaml",
                Format::Yaml,
                tree,
                &s,
                &Keyring::default(),
            ))
            .unwrap();
        let theirs =
            document::emit_encrypted("f.yaml", Format::Yaml, t, &md, EmitOptions::default())
                .unwrap();
        for (o, t) in [(&ours, &theirs), (&theirs, &ours)] {
            let e = run(&base, o, t, &r).unwrap_err().to_string();
            assert!(e.contains(r#"stored encrypted (first at ["b"])"#), "{e}");
            assert!(!e.contains("ours-secret"));
        }
        // Their change elsewhere merges: `b` is what they stored in plaintext already.
        let ours = edit(&base, "a: 1\nb: 2\nc: 3\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert!(m.conflicts.is_empty());
        // A marker comment removed on one side does not unencrypt the other side's value.
        let mut s = spec(&[&a]);
        s.rules.encrypted_comment_regex = Some("sops:enc".into());
        let enc = |plain: &str| {
            let tree = document::load_plain("f.yaml", Format::Yaml, plain.as_bytes()).unwrap();
            let (t, md, _) = rt()
                .block_on(document::encrypt(
                    "f.yaml",
                    Format::Yaml,
                    tree,
                    &s,
                    &Keyring::default(),
                ))
                .unwrap();
            document::emit_encrypted("f.yaml", Format::Yaml, t, &md, EmitOptions::default())
                .unwrap()
        };
        let base = enc("# sops:enc\npw: old\nx: 1\n");
        let ours = edit(&base, "# sops:enc\npw: new-secret\nx: 1\n", &r);
        let theirs = edit(&base, "pw: old\nx: 1\n", &r);
        let e = run(&base, &ours, &theirs, &r).unwrap_err().to_string();
        assert!(e.contains(r#"(first at ["pw"])"#), "{e}");
    }

    #[test]
    fn comments_merge_and_mixed_versions_are_refused() {
        let a = id();
        let r = ring(&[&a]);
        let base = encrypt("# about a\na: 1\nb: 2 # note\n", &[&a]);
        let ours = edit(&base, "# about a, changed\na: 1\nb: 2 # note\n", &r);
        let theirs = edit(&base, "# about a\na: 1\nb: 3 # note\n", &r);
        let m = run(&base, &ours, &theirs, &r).unwrap();
        assert!(m.conflicts.is_empty());
        assert_eq!(
            plain(&m.bytes, &r),
            "# about a, changed\na: 1\nb: 3 # note\n"
        );
        assert_eq!(
            method("f.yaml", Format::Yaml, &ours, b"a: 1\n")
                .unwrap_err()
                .exit_code(),
            ExitCode::Generic
        );
        assert_eq!(
            method("f.md", Format::Binary, b"ENC[AES256_GCM,data:x] sops", b"x").unwrap(),
            Method::Text
        );
    }

    #[test]
    fn listing_names_paths_and_escapes_controls() {
        let a = id();
        let r = ring(&[&a]);
        let f = encrypt(
            "db:\n    pw: \"a\\u001b[31m\"\n    n: 5\nl:\n    - true\n",
            &[&a],
        );
        let o = rt()
            .block_on(document::open("f.yaml", Format::Yaml, &f, &r, false))
            .unwrap();
        let text = listing(&o).expose().to_owned();
        assert!(
            text.contains("[\"db\"][\"pw\"]: \"a\\u001b[31m\"\n"),
            "{text}"
        );
        assert!(text.contains("[\"db\"][\"n\"]: 5\n"));
        assert!(text.contains("[\"l\"][0]: true\n"));
        assert!(text.contains(&format!("sops recipient: age {}\n", a.recipient)));
    }

    #[test]
    fn reseal_reuses_key_and_ciphertext_only_for_matching_recipients() {
        let (a, b2) = (id(), id());
        let r = ring(&[&a]);
        let before = encrypt("a: 1\nb: 2\n", &[&a]);
        let tree = document::load_plain("f.yaml", Format::Yaml, b"a: 1\nb: 3\n").unwrap();
        let rt = rt();
        let Reseal::Sealed(sealed) = rt
            .block_on(reseal(
                "f.yaml",
                Format::Yaml,
                tree.clone(),
                &before,
                &spec(&[&a]),
                &r,
            ))
            .unwrap()
        else {
            panic!("not resealed")
        };
        let (t, md) = *sealed;
        let after =
            document::emit_encrypted("f.yaml", Format::Yaml, t, &md, EmitOptions::default())
                .unwrap();
        assert_eq!(line(&after, "a"), line(&before, "a"));
        assert_ne!(line(&after, "b"), line(&before, "b"));
        assert_eq!(plain(&after, &r), "a: 1\nb: 3\n");
        assert!(matches!(
            rt.block_on(reseal(
                "f.yaml",
                Format::Yaml,
                tree.clone(),
                &before,
                &spec(&[&a, &b2]),
                &r
            ))
            .unwrap(),
            Reseal::Declined(_)
        ));
        assert!(matches!(
            rt.block_on(reseal(
                "f.yaml",
                Format::Yaml,
                tree,
                b"a: 1\n",
                &spec(&[&a]),
                &r
            ))
            .unwrap(),
            Reseal::NotSops
        ));
    }
}
