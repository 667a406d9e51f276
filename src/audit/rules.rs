//! Creation rules that can never apply. The first rule whose `path_regex` matches a file wins,
//! so a rule is dead when an earlier rule matches every path it matches: a catch-all rule (no
//! `path_regex`) before it, or a broader pattern (`^secrets/` before `^secrets/prod/`).
//!
//! Decided exactly, not by pattern text: both patterns become lazy DFAs (regex-automata, the
//! engine under the `regex` crate that compiles `path_regex`), and their product is searched
//! for a path the later rule matches and the earlier one does not. None found: the later rule
//! is shadowed. A pattern the lazy DFA cannot run (a Unicode word boundary), or a search too
//! large, is not judged; only proven shadowing is reported.
//!
//! Owns: that decision. Must not know: files, findings or output.

use std::collections::HashSet;

use regex_automata::Input;
use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};

use crate::config::Config;

/// State pairs examined per pair of rules before giving up.
const MAX_STATES: usize = 20_000;

/// Every rule of `config` that an earlier rule shadows: `(rule, earlier rule)`.
pub fn shadowed(config: &Config) -> Vec<(usize, usize)> {
    let patterns: Vec<Option<&str>> = config
        .creation_rules
        .iter()
        .map(|r| r.path_regex.as_ref().map(|re| re.as_str()))
        .collect();
    let mut out = Vec::new();
    for (j, later) in patterns.iter().enumerate() {
        if let Some(i) = (0..j).find(|&i| covers(patterns[i], *later) == Some(true)) {
            out.push((j, i));
        }
    }
    out
}

/// Whether every path `later` matches is matched by `earlier` (None: a missing `path_regex`,
/// which matches everything). `None` when it cannot be decided.
pub fn covers(earlier: Option<&str>, later: Option<&str>) -> Option<bool> {
    let Some(earlier) = earlier else {
        return Some(true);
    };
    Product::new(earlier, later.unwrap_or(""))?.covers()
}

struct Side {
    dfa: DFA,
    cache: Cache,
}

impl Side {
    fn new(pattern: &str) -> Option<Side> {
        let dfa = DFA::builder()
            .configure(DFA::config().cache_capacity(16 << 20))
            .build(pattern)
            .ok()?;
        let cache = Cache::new(&dfa);
        Some(Side { dfa, cache })
    }

    fn start(&mut self) -> Option<LazyStateID> {
        self.dfa
            .start_state_forward(&mut self.cache, &Input::new(""))
            .ok()
    }

    fn next(&mut self, s: LazyStateID, b: u8) -> Option<LazyStateID> {
        let n = self.dfa.next_state(&mut self.cache, s, b).ok()?;
        (!n.is_quit() && self.cache.clear_count() == 0).then_some(n)
    }

    /// Whether the path matched once it ends in state `s`.
    fn matches_at_end(&mut self, s: LazyStateID) -> Option<bool> {
        let n = self.dfa.next_eoi_state(&mut self.cache, s).ok()?;
        (!n.is_quit()).then_some(n.is_match())
    }
}

/// The earlier rule's and the later rule's automata, run side by side.
struct Product {
    earlier: Side,
    later: Side,
    /// One byte per pair of byte classes: the only inputs that can lead somewhere new.
    bytes: Vec<u8>,
}

impl Product {
    fn new(earlier: &str, later: &str) -> Option<Product> {
        let (earlier, later) = (Side::new(earlier)?, Side::new(later)?);
        let (ce, cl) = (earlier.dfa.byte_classes(), later.dfa.byte_classes());
        let mut seen = HashSet::new();
        let bytes = (0..=255u8)
            .filter(|&b| seen.insert((ce.get(b), cl.get(b))))
            .collect();
        Some(Product {
            earlier,
            later,
            bytes,
        })
    }

    /// Searches every state pair reachable by a path the earlier rule has not matched yet:
    /// `(earlier state, later state, later has matched)`. A match state is entered one byte
    /// after the match (or at the end), and a match before the end holds for every longer
    /// path.
    fn covers(mut self) -> Option<bool> {
        let start = (self.earlier.start()?, self.later.start()?, false);
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some((e, l, later_matched)) = stack.pop() {
            if !seen.insert((e, l, later_matched)) {
                continue;
            }
            if seen.len() > MAX_STATES {
                return None;
            }
            let later_here = later_matched || self.later.matches_at_end(l)?;
            if later_here && !self.earlier.matches_at_end(e)? {
                // A path the later rule matches and the earlier one does not.
                return Some(false);
            }
            for i in 0..self.bytes.len() {
                let b = self.bytes[i];
                let ne = self.earlier.next(e, b)?;
                if ne.is_match() {
                    continue;
                }
                let nl = self.later.next(l, b)?;
                let m = later_matched || nl.is_match();
                if nl.is_dead() && !m {
                    continue;
                }
                stack.push((ne, nl, m));
            }
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_inclusion_of_path_patterns() {
        let yes = [
            (None, Some(r"^prod/")),
            (None, None),
            (Some(r"^secrets/"), Some(r"^secrets/prod/")),
            (Some(r"\.yaml$"), Some(r"^k8s/.*\.yaml$")),
            (Some(r".*"), None),
            (Some(r""), Some(r"anything")),
            (Some(r"secrets"), Some(r"^a/secrets/b$")),
            (Some(r"(dev|prod)/"), Some(r"^prod/db\.ya?ml$")),
        ];
        for (e, l) in yes {
            assert_eq!(covers(e, l), Some(true), "{e:?} covers {l:?}");
        }
        let no = [
            (Some(r"^prod/"), None),
            (Some(r"^secrets/prod/"), Some(r"^secrets/")),
            (Some(r"^k8s/.*\.yaml$"), Some(r"\.yaml$")),
            (Some(r"\.yaml$"), Some(r"\.ya?ml$")),
            (Some(r"^prod/"), Some(r"^dev/")),
            (Some(r"^a$"), Some(r"^a")),
        ];
        for (e, l) in no {
            assert_eq!(covers(e, l), Some(false), "{e:?} does not cover {l:?}");
        }
        // A Unicode word boundary is not run by the lazy DFA on non-ASCII input: not judged.
        assert_ne!(covers(Some(r"\bprod\b"), Some(r"^prod/x")), Some(false));
    }

    #[test]
    fn reports_shadowed_rules_of_a_config() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".sops.yaml");
        std::fs::write(
            &p,
            "creation_rules:\n  - path_regex: ^secrets/\n    age: age1a\n  - path_regex: ^secrets/prod/\n    age: age1b\n  - path_regex: ^k8s/\n    age: age1a\n  - age: age1c\n  - path_regex: ^other/\n    age: age1a\n",
        )
        .unwrap();
        let c = crate::config::load(&p).unwrap();
        assert_eq!(shadowed(&c), [(1, 0), (4, 3)]);
    }
}
