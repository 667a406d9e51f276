//! Who can open what: recipients of key groups under a Shamir threshold.
//!
//! A file's data key is split into one share per key group; any master key of a group
//! recovers that group's share, and `threshold` shares recover the key. So a set of
//! recipients opens a file when it touches at least `threshold` groups: one recipient alone
//! opens it when it appears in that many groups.
//!
//! Owns: that arithmetic — whether one recipient opens a file alone, and the smallest sets of
//! recipients that open it. Must not know: metadata layouts, names, or output.

use std::collections::BTreeSet;

/// The most combinations listed per file; more are reported as truncated.
pub const MAX_COMBINATIONS: usize = 50;
/// Candidate sets examined before giving up on listing them all.
const MAX_CANDIDATES: usize = 20_000;

/// How many of `groups` contain `recipient`.
pub fn groups_held(groups: &[BTreeSet<String>], recipient: &str) -> usize {
    groups.iter().filter(|g| g.contains(recipient)).count()
}

/// Whether `recipient` alone opens a file with these groups and threshold.
pub fn opens_alone(groups: &[BTreeSet<String>], threshold: usize, recipient: &str) -> bool {
    threshold >= 1 && groups_held(groups, recipient) >= threshold
}

/// The minimal sets of recipients that together hold `threshold` groups, smallest first, at
/// most [`MAX_COMBINATIONS`]; `true` when more exist than are returned.
pub fn combinations(groups: &[BTreeSet<String>], threshold: usize) -> (Vec<Vec<String>>, bool) {
    let usable: Vec<&BTreeSet<String>> = groups.iter().filter(|g| !g.is_empty()).collect();
    if threshold == 0 || threshold > usable.len() {
        return (Vec::new(), false);
    }
    let mut found: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    let mut truncated = false;
    let mut candidates = 0usize;
    for chosen in index_combinations(usable.len(), threshold) {
        // One recipient from each chosen group.
        let mut picks: Vec<BTreeSet<String>> = vec![BTreeSet::new()];
        for &g in &chosen {
            let mut next = Vec::new();
            for p in &picks {
                for r in usable[g] {
                    let mut q = p.clone();
                    q.insert(r.clone());
                    next.push(q);
                }
            }
            picks = next;
            if picks.len() > MAX_CANDIDATES {
                truncated = true;
                picks.truncate(MAX_CANDIDATES);
            }
        }
        candidates += picks.len();
        found.extend(picks);
        if candidates > MAX_CANDIDATES {
            truncated = true;
            break;
        }
    }
    // A set opens the file iff it touches `threshold` groups; keep only minimal ones.
    let opens = |s: &BTreeSet<String>| {
        usable
            .iter()
            .filter(|g| g.iter().any(|r| s.contains(r)))
            .count()
            >= threshold
    };
    let mut sets: Vec<BTreeSet<String>> = found.into_iter().filter(|s| opens(s)).collect();
    sets.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    let mut minimal: Vec<BTreeSet<String>> = Vec::new();
    for s in sets {
        if !minimal.iter().any(|m| m.is_subset(&s)) {
            minimal.push(s);
        }
    }
    if minimal.len() > MAX_COMBINATIONS {
        truncated = true;
        minimal.truncate(MAX_COMBINATIONS);
    }
    (
        minimal
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect(),
        truncated,
    )
}

/// Every `k`-subset of `0..n`, in lexicographic order.
fn index_combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..k).collect();
    if k == 0 || k > n {
        return out;
    }
    loop {
        out.push(cur.clone());
        let mut i = k;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            if cur[i] != i + n - k {
                break;
            }
            if i == 0 {
                return out;
            }
        }
        cur[i] += 1;
        for j in i + 1..k {
            cur[j] = cur[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(rs: &[&str]) -> BTreeSet<String> {
        rs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn two_of_three() {
        let groups = vec![g(&["a", "b"]), g(&["c"]), g(&["d", "a"])];
        assert!(opens_alone(&groups, 2, "a"), "a is in two groups");
        assert!(!opens_alone(&groups, 2, "c"));
        let (combos, truncated) = combinations(&groups, 2);
        assert!(!truncated);
        assert_eq!(
            combos,
            vec![
                vec!["a".to_string()],
                vec!["b".into(), "c".into()],
                vec!["b".into(), "d".into()],
                vec!["c".into(), "d".into()],
            ]
        );
    }

    #[test]
    fn single_group_and_impossible_thresholds() {
        let one = vec![g(&["x", "y"])];
        assert_eq!(combinations(&one, 1).0, vec![vec!["x"], vec!["y"]]);
        assert!(opens_alone(&one, 1, "y"));
        assert_eq!(combinations(&one, 2).0, Vec::<Vec<String>>::new());
        let with_empty = vec![g(&["x"]), g(&[])];
        assert!(combinations(&with_empty, 2).0.is_empty());
        assert_eq!(index_combinations(4, 2).len(), 6);
        assert_eq!(index_combinations(3, 3), vec![vec![0, 1, 2]]);
        assert!(index_combinations(2, 3).is_empty());
    }

    #[test]
    fn large_groups_are_truncated() {
        let big: Vec<BTreeSet<String>> = (0..4)
            .map(|i| (0..20).map(|j| format!("r{i}-{j}")).collect())
            .collect();
        let (combos, truncated) = combinations(&big, 3);
        assert!(truncated);
        assert_eq!(combos.len(), MAX_COMBINATIONS);
        assert!(combos.iter().all(|c| c.len() == 3));
    }
}
