//! One file's key history from git: every version read once (old versions through one
//! `cat-file --batch`, summarised and remembered by blob), the changes between them analysed
//! ([`super::history`]), and the result as the report states it: events with their commits,
//! the commit that made today's data key, and the versions that share it.
//!
//! Owns: joining git's changes ([`super::git`]) with version summaries. Must not know: names,
//! policies, findings or output.

use std::collections::HashMap;
use std::sync::Arc;

use super::git::{FileChanges, GitError, Repo};
use super::history::{self, Edge, Made, Version};
use super::model::{self, Commit, KeyEvent};
use super::walk::SopsFound;
use crate::store::Format;

/// A version (other than today's) that shares today's data key, and the commits it was
/// committed in.
pub struct SameKey {
    pub version: Arc<Version>,
    pub commits: Vec<String>,
}

/// What the history says of one file's keys.
#[derive(Default)]
pub struct FileKeys {
    pub git: Option<model::FileGit>,
    /// When today's data key was made, from git (None: git does not date it).
    pub made: Option<Commit>,
    /// Versions in history that share today's data key.
    pub same_key: Vec<SameKey>,
    /// Versions in history whose data key has since been replaced.
    pub older_keys: Vec<Arc<Version>>,
    /// The history starts at a shallow clone's boundary.
    pub first_seen: bool,
}

/// Reads the key history of files, remembering every version it read.
pub struct Timeline<'r> {
    repo: &'r Repo,
    blobs: crate::git::Blobs,
    cache: HashMap<String, Option<Arc<Version>>>,
}

impl<'r> Timeline<'r> {
    pub fn new(repo: &'r Repo) -> Timeline<'r> {
        Timeline {
            repo,
            blobs: repo.blobs(),
            cache: HashMap::new(),
        }
    }

    /// A version by blob id; `None` when the object is not in the repository.
    fn version(&mut self, id: &str, path: &str) -> Result<Option<Arc<Version>>, GitError> {
        if let Some(v) = self.cache.get(id) {
            return Ok(v.clone());
        }
        let bytes = self.blobs.read(id).map_err(|e| GitError::Failed {
            args: "cat-file --batch".into(),
            stderr: crate::text::one_line(&e),
        })?;
        let v = bytes.map(|b| {
            let format = Format::from_path(std::path::Path::new(path));
            Arc::new(Version::read(path, format, &b))
        });
        self.cache.insert(id.to_owned(), v.clone());
        Ok(v)
    }

    /// The key history of one file of the walk.
    pub fn file(&mut self, s: &SopsFound) -> Result<FileKeys, GitError> {
        let fc = self.repo.file(&s.rel);
        let today = Arc::new(s.version.clone().unwrap_or_else(Version::not_sops));
        let mut g = Graph::default();
        let current = match (&fc.head_blob, fc.tracked && !fc.modified) {
            (Some(head), true) => {
                self.cache
                    .entry(head.clone())
                    .or_insert_with(|| Some(today.clone()));
                g.node(head, today.clone())
            }
            _ => g.add(today.clone()),
        };
        for c in &fc.changes {
            let Some(new) = self.version(&c.new, &c.path)? else {
                continue;
            };
            let new = g.node(&c.new, new);
            let (old, first_seen) = match &c.old {
                None => (None, c.first_seen),
                Some(id) => match self.version(id, &c.path)? {
                    Some(v) => (Some(g.node(id, v)), false),
                    // Not in the clone: what came before is unknown.
                    None => (None, true),
                },
            };
            g.edges.push(Edge {
                commit: Some(c.commit),
                old,
                new,
                first_seen,
            });
        }
        if fc.tracked && fc.modified {
            let old = match &fc.head_blob {
                Some(id) => self.version(id, &s.rel)?.map(|v| g.node(id, v)),
                None => None,
            };
            g.edges.push(Edge {
                commit: None,
                old,
                new: current,
                first_seen: false,
            });
        }
        Ok(self.conclude(&fc, &g, current))
    }

    fn conclude(&self, fc: &FileChanges, g: &Graph, current: usize) -> FileKeys {
        let repo = self.repo;
        let versions: Vec<&Version> = g.versions.iter().map(|v| v.as_ref()).collect();
        let time = |c: usize| repo.commit(c).unix;
        let a = history::analyse(&versions, &g.edges, current, &time);
        let commit = |c: Option<usize>| c.map(|c| repo.commit(c).clone());
        let mut events: Vec<(Option<usize>, KeyEvent)> = g
            .edges
            .iter()
            .zip(a.events)
            .map(|(e, ev)| {
                (
                    e.commit,
                    KeyEvent {
                        commit: commit(e.commit),
                        kind: ev.kind,
                        added: ev.added,
                        removed: ev.removed,
                    },
                )
            })
            .collect();
        // Oldest first; the working copy last.
        events.sort_by_key(|(c, _)| match c {
            Some(c) => (0, repo.commit(*c).unix, std::cmp::Reverse(*c)),
            None => (1, 0, std::cmp::Reverse(0)),
        });
        let mut same_key = Vec::new();
        let mut older_keys = Vec::new();
        for (i, v) in g.versions.iter().enumerate().filter(|(i, _)| *i != current) {
            if a.same_key[i] {
                let mut commits: Vec<String> = g
                    .edges
                    .iter()
                    .filter(|e| e.new == i)
                    .filter_map(|e| e.commit.map(|c| repo.commit(c).id.clone()))
                    .collect();
                commits.sort();
                commits.dedup();
                same_key.push(SameKey {
                    version: v.clone(),
                    commits,
                });
            } else {
                older_keys.push(v.clone());
            }
        }
        let made = match a.made {
            Some(Made::Commit(c)) => Some(repo.commit(c).clone()),
            _ => None,
        };
        FileKeys {
            git: Some(model::FileGit {
                tracked: fc.tracked,
                modified: fc.modified,
                last_commit: commit(fc.last_commit),
                last_rekey: made.clone(),
                last_rewrap: commit(a.last_rewrap),
                events: events.into_iter().map(|(_, e)| e).collect(),
            }),
            made,
            same_key,
            older_keys,
            first_seen: g.edges.iter().any(|e| e.first_seen),
        }
    }
}

/// Versions (by blob id, plus the working copy) and the changes between them.
#[derive(Default)]
struct Graph {
    versions: Vec<Arc<Version>>,
    by_blob: HashMap<String, usize>,
    edges: Vec<Edge>,
}

impl Graph {
    fn add(&mut self, v: Arc<Version>) -> usize {
        self.versions.push(v);
        self.versions.len() - 1
    }

    fn node(&mut self, blob: &str, v: Arc<Version>) -> usize {
        if let Some(&i) = self.by_blob.get(blob) {
            return i;
        }
        let i = self.add(v);
        self.by_blob.insert(blob.to_owned(), i);
        i
    }
}
