//! The matching engine: the literal keyword prefilter, then the regexes of the rules whose
//! keywords occurred, then validation, inline suppression and overlap resolution; then the
//! generic detector (candidates judged by the scorer) on lines no specific rule claimed.
//!
//! Owns: turning one buffer into findings for the pattern rules and the generic detector (the
//! secrets-aware checks live in `kube` and `sops`). Every step is linear in the buffer and in
//! the number of matches. Must not know: where the buffer came from (files, git), ignore
//! files, baselines or output formats.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::rules::{self, Rule, Scope};
use super::{Finding, candidates, scorer};

/// The rule id of the generic detector (candidates judged by the scorer).
pub const GENERIC: &str = "generic-secret";
const GENERIC_DESCRIPTION: &str = "Hard-coded password/secret/token/key assignment";

/// What the generic detector reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generic {
    Off,
    /// Candidates the model accepts.
    On,
    /// Every candidate, with its score and features in the message (for training).
    All,
}

/// Compiled rules plus the prefilter over all their keywords.
pub struct Engine {
    rules: Vec<Rule>,
    prefilter: Prefilter,
    /// Rules without keywords: always run.
    always: Vec<usize>,
    /// Secrets matching any of these are ignored.
    allow_secrets: Vec<regex::bytes::Regex>,
    /// Global gitleaks allowlists (regexes and stopwords; paths are the scanner's).
    allowlists: Vec<super::rules::Allowlist>,
    generic: Generic,
}

/// Same-line markers that suppress a finding.
const ALLOW_SAME_LINE: &[&[u8]] = &[
    b"shroud:allow",
    b"gitleaks:allow",
    b"pragma: allowlist secret",
];
/// Markers on the previous line that suppress findings on the next.
const ALLOW_NEXT_LINE: &[&[u8]] = &[
    b"shroud:allow-next-line",
    b"pragma: allowlist nextline secret",
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The 1-based line number of `offset` and the byte range of that line.
pub fn line_at(hay: &[u8], offset: usize) -> (usize, Range<usize>) {
    let offset = offset.min(hay.len());
    let start = hay[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = hay[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(hay.len(), |p| offset + p);
    let line = 1 + hay[..start].iter().filter(|&&b| b == b'\n').count();
    (line, start..end)
}

/// How far around a finding inline markers are looked for (bounds the work on huge lines).
const MARKER_WINDOW: usize = 4096;

/// The line around `offset`, clipped to [`MARKER_WINDOW`] bytes on each side.
fn line_near(hay: &[u8], offset: usize) -> Range<usize> {
    let offset = offset.min(hay.len());
    let lo = offset.saturating_sub(MARKER_WINDOW);
    let hi = (offset + MARKER_WINDOW).min(hay.len());
    let start = memchr::memrchr(b'\n', &hay[lo..offset]).map_or(lo, |p| lo + p + 1);
    let end = memchr::memchr(b'\n', &hay[offset..hi]).map_or(hi, |p| offset + p);
    start..end
}

/// Whether the line holding `offset` (or the line before it) carries an allow marker.
pub fn inline_allowed(hay: &[u8], offset: usize) -> bool {
    let line = line_near(hay, offset);
    let text = &hay[line.clone()];
    for m in ALLOW_SAME_LINE {
        for p in memchr::memmem::find_iter(text, m) {
            // `shroud:allow-next-line` on the same line is not a same-line allow.
            if !text[p + m.len()..].starts_with(b"-next-line") {
                return true;
            }
        }
    }
    if line.start > 0 && hay[line.start - 1] == b'\n' {
        let prev = &hay[line_near(hay, line.start - 1)];
        if ALLOW_NEXT_LINE.iter().any(|m| contains(prev, m)) {
            return true;
        }
    }
    false
}

/// [`inline_allowed`] memoised per line: many findings on one long line look once.
#[derive(Default)]
struct AllowCache {
    line: usize,
    allowed: bool,
}

impl AllowCache {
    fn get(&mut self, hay: &[u8], line: usize, offset: usize) -> bool {
        if self.line != line {
            self.line = line;
            self.allowed = inline_allowed(hay, offset);
        }
        self.allowed
    }
}

/// Line numbers for many offsets of one buffer.
pub struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub fn new(hay: &[u8]) -> LineIndex {
        LineIndex {
            newlines: memchr::memchr_iter(b'\n', hay).collect(),
        }
    }

    /// The 1-based line of `offset` and the offset where that line starts.
    pub fn line(&self, offset: usize) -> (usize, usize) {
        let i = self.newlines.partition_point(|&p| p < offset);
        let start = if i == 0 { 0 } else { self.newlines[i - 1] + 1 };
        (i + 1, start)
    }
}

/// Line numbers for offsets of one buffer asked mostly in increasing order (findings,
/// candidates): the newlines between one offset and the next are counted, no table is built;
/// the first step back builds the [`LineIndex`].
pub struct Lines<'a> {
    hay: &'a [u8],
    /// The last offset asked, its line and the offset where that line starts.
    at: usize,
    line: usize,
    start: usize,
    index: Option<LineIndex>,
}

impl<'a> Lines<'a> {
    pub fn new(hay: &'a [u8]) -> Lines<'a> {
        Lines {
            hay,
            at: 0,
            line: 1,
            start: 0,
            index: None,
        }
    }

    /// The 1-based line of `offset` and the offset where that line starts.
    pub fn line(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.hay.len());
        if offset < self.at && self.index.is_none() {
            self.index = Some(LineIndex::new(self.hay));
        }
        if let Some(index) = &self.index {
            return index.line(offset);
        }
        let seg = &self.hay[self.at..offset];
        if let Some(p) = memchr::memrchr(b'\n', seg) {
            self.line += 1 + memchr::memchr_iter(b'\n', &seg[..p]).count();
            self.start = self.at + p + 1;
        }
        self.at = offset;
        (self.line, self.start)
    }
}

/// The length of the well-formed sops value at the start of `hay`
/// (`ENC[AES256_GCM,data:B64,iv:B64,tag:B64,type:WORD]`, strict standard base64), if any.
/// Anything else that starts with `ENC[` (an unclosed `ENC[`, a token in place of the base64)
/// is not ciphertext.
pub fn sops_value_len(hay: &[u8]) -> Option<usize> {
    static SOPS_VALUE: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(
            r"\AENC\[AES256_GCM,data:(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?,iv:(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?,tag:(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?,type:[a-z]+\]",
        )
        .expect("the sops value pattern compiles")
    });
    if !hay.starts_with(b"ENC[AES256_GCM,") {
        return None;
    }
    SOPS_VALUE.find(hay).map(|m| m.end())
}

/// Whether `value` is exactly one well-formed sops value ([`sops_value_len`]).
pub fn is_sops_value(value: &[u8]) -> bool {
    sops_value_len(value) == Some(value.len())
}

/// Byte ranges of well-formed sops values ([`sops_value_len`]): ciphertext, never a finding.
fn enc_ranges(hay: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&hay[i..], b"ENC[") {
        let start = i + p;
        // Anchored: the match stops at the first byte no sops value holds.
        match sops_value_len(&hay[start..]) {
            Some(len) => {
                out.push(start..start + len);
                i = start + len;
            }
            None => i = start + 1,
        }
        if i >= hay.len() {
            break;
        }
    }
    out
}

/// The keyword prefilter: two packed SIMD searches (Teddy), one over the keywords shorter than
/// four bytes and one over the rest. Teddy fingerprints the first min(4, shortest) bytes of its
/// patterns: one search over all keywords fingerprints only three bytes of each and stops at
/// many false candidates (half the speed of the two searches together, on real code).
struct Prefilter {
    /// Each search, with the rules each of its patterns enables.
    parts: Vec<(AhoCorasick, Vec<Vec<usize>>)>,
}

/// Keywords shorter than this go to the short-keyword search.
const SHORT_KEYWORD: usize = 4;

impl Prefilter {
    /// `keywords[i]` enables `rules[i]`; no keyword contains another.
    fn new(keywords: Vec<String>, rules: Vec<Vec<usize>>) -> Prefilter {
        let (short, long): (Vec<_>, Vec<_>) = keywords
            .into_iter()
            .zip(rules)
            .partition(|(k, _)| k.len() < SHORT_KEYWORD);
        let parts = [short, long]
            .into_iter()
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (keywords, rules): (Vec<String>, Vec<Vec<usize>>) = part.into_iter().unzip();
                let ac = AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&keywords)
                    .expect("keyword prefilter builds");
                (ac, rules)
            })
            .collect();
        Prefilter { parts }
    }

    /// Calls `hit(rules, offset)` for every keyword hit in `hay`, in offset order (the hits of
    /// each search are non-overlapping; the two searches' hits are merged).
    fn each(&self, hay: &[u8], mut hit: impl FnMut(&[usize], usize)) {
        let mut iters: Vec<_> = self
            .parts
            .iter()
            .map(|(ac, rules)| (ac.find_iter(hay).peekable(), rules))
            .collect();
        loop {
            let next = iters
                .iter_mut()
                .enumerate()
                .filter_map(|(i, (it, _))| it.peek().map(|m| (m.start(), i)))
                .min();
            let Some((_, i)) = next else {
                return;
            };
            let (it, rules) = &mut iters[i];
            if let Some(m) = it.next() {
                hit(&rules[m.pattern().as_usize()], m.start());
            }
        }
    }
}

/// A candidate before it becomes a [`Finding`].
struct Hit {
    rule: usize,
    secret: Range<usize>,
}

impl Engine {
    pub fn new(
        rules: Vec<Rule>,
        allow_secrets: Vec<regex::bytes::Regex>,
        generic: Generic,
    ) -> Engine {
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.keywords {
                match patterns.iter().position(|p| p == k) {
                    Some(j) => keyword_rules[j].push(i),
                    None => {
                        patterns.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        // A keyword that contains another (`auth_token` ⊃ `token`) is redundant: the shorter one
        // is found wherever the longer one is, so it takes over the longer one's rules. The
        // rest are searched non-overlapping (fast, and Teddy-friendly).
        let mut merged_rules: Vec<Vec<usize>> = Vec::new();
        let mut merged: Vec<String> = Vec::new();
        let mut order: Vec<usize> = (0..patterns.len()).collect();
        order.sort_by_key(|&i| patterns[i].len());
        for i in order {
            match merged.iter().position(|m| patterns[i].contains(m.as_str())) {
                Some(j) => merged_rules[j].extend(keyword_rules[i].iter().copied()),
                None => {
                    merged.push(patterns[i].clone());
                    merged_rules.push(keyword_rules[i].clone());
                }
            }
        }
        for r in &mut merged_rules {
            r.sort_unstable();
            r.dedup();
        }
        let prefilter = Prefilter::new(merged, merged_rules);
        Engine {
            rules,
            prefilter,
            always,
            allow_secrets,
            allowlists: Vec::new(),
            generic,
        }
    }

    pub fn set_allowlists(&mut self, a: Vec<super::rules::Allowlist>) {
        self.allowlists = a;
    }

    /// Whether `secret` at `at` is allowed by an allow pattern or a global allowlist.
    fn allowed(&self, hay: &[u8], path: &str, secret: &[u8], at: usize) -> bool {
        self.allow_secrets.iter().any(|a| a.is_match(secret))
            || !self.allowlists.is_empty() && {
                let line = &hay[line_near(hay, at)];
                self.allowlists
                    .iter()
                    .any(|a| a.allows(secret, line, path, None))
            }
    }

    pub fn set_generic(&mut self, g: Generic) {
        self.generic = g;
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// All findings in `hay` for the file at `path`: pattern rules, then the generic detector
    /// on lines they did not claim.
    pub fn scan(&self, path: &str, hay: &[u8]) -> Vec<Finding> {
        let mut found = self.scan_rules(path, hay);
        if self.generic != Generic::Off {
            self.scan_generic(path, hay, &mut found);
        }
        found
    }

    fn scan_generic(&self, path: &str, hay: &[u8], found: &mut Vec<Finding>) {
        let cands = candidates::extract(hay);
        if cands.is_empty() {
            return;
        }
        let claimed: std::collections::HashSet<usize> = found.iter().map(|f| f.line).collect();
        let mut index = Lines::new(hay);
        let mut allowed = AllowCache::default();
        let mut last_line = 0;
        for c in cands {
            let (line, start) = index.line(c.value.start);
            if claimed.contains(&line) || (self.generic == Generic::On && line == last_line) {
                continue;
            }
            let secret = &hay[c.value.clone()];
            // A value known by its shape (a provider token, a DER private key) is reported
            // under its own rule, whatever the scorer would say.
            if let Some((id, description)) = rules::providers::classify(secret) {
                if self.allowed(hay, path, secret, c.value.start)
                    || allowed.get(hay, line, c.value.start)
                {
                    continue;
                }
                last_line = line;
                found.push(Finding::new(
                    id,
                    description,
                    path,
                    line,
                    1 + c.value.start - start,
                    secret,
                    None,
                ));
                continue;
            }
            let Some(j) = scorer::judge(&c, hay, path) else {
                continue;
            };
            let message = match self.generic {
                Generic::All => Some(format!(
                    "score {:.3}: {}{}",
                    j.score,
                    if j.prior { "prior " } else { "" },
                    j.features
                        .iter()
                        .map(scorer::feature_name)
                        .collect::<Vec<_>>()
                        .join(" ")
                )),
                _ if j.accepted => None,
                _ => continue,
            };
            if self.allowed(hay, path, secret, c.value.start)
                || allowed.get(hay, line, c.value.start)
            {
                continue;
            }
            last_line = line;
            found.push(Finding::new(
                GENERIC,
                GENERIC_DESCRIPTION,
                path,
                line,
                1 + c.value.start - start,
                secret,
                message,
            ));
        }
    }

    /// The pattern rules' findings.
    fn scan_rules(&self, path: &str, hay: &[u8]) -> Vec<Finding> {
        let n = self.rules.len();
        let mut enabled = vec![false; n];
        // Line-scoped rules: the start offsets of lines with a keyword.
        let mut lines: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &i in &self.always {
            enabled[i] = true;
        }
        // The start of the line holding the previous hit, and where that hit was: line starts
        // are found by searching back only as far as the previous hit (linear overall, even for
        // one huge line with many hits).
        let (mut prev_hit, mut prev_line) = (0usize, 0usize);
        self.prefilter.each(hay, |keyword_rules, at| {
            for &r in keyword_rules {
                match self.rules[r].scope {
                    Scope::Buffer => enabled[r] = true,
                    Scope::Line => {
                        if at > prev_hit {
                            if let Some(p) = memchr::memrchr(b'\n', &hay[prev_hit..at]) {
                                prev_line = prev_hit + p + 1;
                            }
                            prev_hit = at;
                        }
                        let start = prev_line;
                        if lines[r].last() != Some(&start) {
                            lines[r].push(start);
                        }
                        enabled[r] = true;
                    }
                }
            }
        });
        if !enabled.iter().any(|&e| e) {
            return Vec::new();
        }
        let mut hits = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !enabled[i] || rule.paths.as_ref().is_some_and(|p| !p.is_match(path)) {
                continue;
            }
            match rule.scope {
                Scope::Buffer => self.run(i, path, hay, 0..hay.len(), &mut hits),
                Scope::Line => {
                    for &start in &lines[i] {
                        let end = hay[start..]
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(hay.len(), |p| start + p);
                        self.run(i, path, hay, start..end, &mut hits);
                    }
                }
            }
        }
        if hits.is_empty() {
            return Vec::new();
        }
        // Overlaps: keep the higher-priority rule (earlier on ties).
        hits.sort_by_key(|h| {
            (
                h.secret.start,
                std::cmp::Reverse(self.rules[h.rule].priority),
            )
        });
        // Sorted by start, drop hits inside sops ciphertext (the `ENC[…]` ranges are sorted
        // too: one merge pass).
        let enc = enc_ranges(hay);
        let mut e = 0;
        hits.retain(|h| {
            while e < enc.len() && enc[e].end <= h.secret.start {
                e += 1;
            }
            !(e < enc.len() && enc[e].contains(&h.secret.start))
        });
        // Kept hits do not overlap and are sorted, so their ends increase: a new hit can only
        // overlap the last one kept.
        let mut kept: Vec<Hit> = Vec::new();
        for h in hits {
            match kept.last_mut() {
                Some(k) if k.secret.start < h.secret.end && h.secret.start < k.secret.end => {
                    if self.rules[h.rule].priority > self.rules[k.rule].priority {
                        *k = h;
                    }
                }
                _ => kept.push(h),
            }
        }
        let mut index = Lines::new(hay);
        let mut allowed = AllowCache::default();
        kept.into_iter()
            .filter_map(|h| {
                let (line, start) = index.line(h.secret.start);
                if allowed.get(hay, line, h.secret.start) {
                    return None;
                }
                let rule = &self.rules[h.rule];
                // Columns count bytes (cheap on huge single-line files).
                let column = 1 + h.secret.start - start;
                Some(Finding::new(
                    &rule.id,
                    &rule.description,
                    path,
                    line,
                    column,
                    &hay[h.secret.clone()],
                    rule.message.clone(),
                ))
            })
            .collect()
    }

    fn run(&self, i: usize, path: &str, hay: &[u8], within: Range<usize>, hits: &mut Vec<Hit>) {
        let rule = &self.rules[i];
        let base = within.start;
        let slice = &hay[within];
        for caps in rule.regex.get().captures_iter(slice) {
            // The secret is the configured group, else the last capture group that took part,
            // else the whole match.
            let m = match rule.secret_group {
                Some(g) => caps.get(g),
                None => (1..caps.len())
                    .rev()
                    .find_map(|g| caps.get(g))
                    .or_else(|| caps.get(0)),
            };
            let Some(m) = m else {
                continue;
            };
            let secret = base + m.start()..base + m.end();
            let s = &hay[secret.clone()];
            if s.is_empty()
                || rule.placeholders && rules::is_placeholder(s)
                || rule.entropy.is_some_and(|floor| rules::entropy(s) < floor)
                || rule
                    .validator
                    .is_some_and(|v| !v(hay, secret.clone(), path))
                || self.allowed(hay, path, s, secret.start)
                || !rule.allowlists.is_empty() && {
                    let line = line_near(hay, secret.start);
                    rule.allowlists
                        .iter()
                        .any(|a| a.allows(s, &hay[line.clone()], path, None))
                }
            {
                continue;
            }
            hits.push(Hit { rule: i, secret });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(rules::builtin(), Vec::new(), Generic::On)
    }

    #[test]
    fn only_well_formed_sops_values_are_ciphertext() {
        let ok = b"ENC[AES256_GCM,data:aGVsbG8=,iv:MTIzNDU2Nzg5MDEy,tag:MTIzNDU2Nzg5MDEyMzQ1Ng==,type:str]";
        assert!(is_sops_value(ok));
        assert!(is_sops_value(
            b"ENC[AES256_GCM,data:,iv:MTIz,tag:MTIz,type:str]"
        ));
        let with_tail = [&ok[..], b" rest"].concat();
        assert_eq!(sops_value_len(&with_tail), Some(ok.len()));
        assert_eq!(enc_ranges(&with_tail), vec![0..ok.len()]);
        for bad in [
            &b"ENC["[..],
            b"ENC[ TOKEN=x",
            b"ENC[AES256_GCM,data:ghp_abc,iv:MTIz,tag:MTIz,type:str]",
            b"ENC[AES256_GCM,data:aGVsbG8=,iv:x,tag:y,type:str]",
            b"ENC[AES256_GCM,data:aGVsbG8,iv:MTIz,tag:MTIz,type:str]",
            b"ENC[AES256_GCM,data:aGVsbG8=,iv:MTIz,tag:MTIz,type:str",
        ] {
            assert_eq!(
                sops_value_len(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(enc_ranges(bad).is_empty());
        }
    }

    /// age identities, X25519 and hybrid post-quantum (sops 3.12), are found; a mistyped one
    /// (checksum) is not.
    #[test]
    fn age_identities_of_both_kinds_are_found() {
        let e = engine();
        for post_quantum in [false, true] {
            let (text, _) = crate::keysource::age::generate_kind(post_quantum);
            let hay = text.as_str().unwrap().as_bytes().to_vec();
            let found = e.scan("keys.txt", &hay);
            assert!(
                found.iter().any(|f| f.rule_id == "age-secret-key"),
                "{post_quantum}: {found:?}"
            );
            let mut bad = hay.clone();
            let at = bad.len() - 3;
            bad[at] = if bad[at] == b'Q' { b'P' } else { b'Q' };
            assert!(
                !e.scan("keys.txt", &bad)
                    .iter()
                    .any(|f| f.rule_id == "age-secret-key")
            );
        }
    }

    /// `n` distinct valid-looking AWS key ids and generic assignments, all on one line (the
    /// worst case for per-line work) or one per line.
    fn many(n: usize, sep: &str) -> Vec<u8> {
        const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut out = String::with_capacity(n * 40);
        for i in 0..n {
            let mut id = String::from("AKIA");
            for _ in 0..16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                id.push(B32[(x % 32) as usize] as char);
            }
            if i % 2 == 0 {
                out.push_str(&id);
            } else {
                out.push_str(&format!("db_pw='{}'", &id[4..]));
            }
            out.push_str(sep);
        }
        out.into_bytes()
    }

    fn time(e: &Engine, hay: &[u8]) -> (f64, usize) {
        let t = std::time::Instant::now();
        let n = e.scan("x.txt", hay).len();
        (t.elapsed().as_secs_f64(), n)
    }

    /// Matches per file cost linear time: 8× the matches may not cost 64× the time (it did
    /// before: 25k matches took 0.26 s, 200k took 15–22 s).
    #[test]
    fn many_matches_scale_linearly() {
        let e = engine();
        for sep in ["\n", " "] {
            let small = many(25_000, sep);
            let big = many(200_000, sep);
            let (ts, ns) = time(&e, &small);
            let (tb, nb) = time(&e, &big);
            assert!(ns >= 12_000 && nb >= 96_000, "{ns} {nb}");
            assert!(
                tb < 20.0 * ts.max(0.005),
                "sep {sep:?}: 25k matches {ts:.3}s, 200k matches {tb:.3}s"
            );
        }
    }

    proptest::proptest! {
        /// [`Lines`] answers as [`line_at`] does, for offsets in any order (forward it counts,
        /// the first step back builds the table).
        #[test]
        fn lines_agree_with_line_at(
            hay in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'a')], 0..200),
            offsets in proptest::collection::vec(0usize..220, 0..20),
        ) {
            let mut lines = Lines::new(&hay);
            for o in offsets {
                let o = o.min(hay.len());
                let (line, range) = line_at(&hay, o);
                proptest::prop_assert_eq!(lines.line(o), (line, range.start));
            }
        }
    }

    /// The prefilter's two searches (short and long keywords) hand over every hit in offset
    /// order, whichever search found it.
    #[test]
    fn prefilter_hits_come_in_offset_order() {
        let p = Prefilter::new(
            vec!["aws".into(), "token".into(), "://".into(), "AKIA".into()],
            vec![vec![0], vec![1], vec![2], vec![3]],
        );
        assert_eq!(p.parts.len(), 2);
        let hay = b"AKIA token aws https://x aws AKIA";
        let mut hits = Vec::new();
        p.each(hay, |rules, at| hits.push((rules[0], at)));
        assert_eq!(hits, [(3, 0), (1, 5), (0, 11), (2, 20), (0, 25), (3, 29)]);
    }

    #[test]
    fn generic_findings_skip_lines_a_rule_claimed_and_honour_allow() {
        let e = engine();
        let hay = b"password = 'Vq8#rT3x!Lm9wZ'\nkey = 'AKIAQ3RX7KZL2MPW4NYB' # x\npassword = 'Vq8#rT3x!Lm9wZ' # shroud:allow\n";
        let f = e.scan("a.cfg", hay);
        let rules: Vec<(&str, usize)> = f.iter().map(|f| (f.rule_id.as_str(), f.line)).collect();
        assert!(rules.contains(&(GENERIC, 1)), "{rules:?}");
        assert!(rules.contains(&("aws-access-key-id", 2)), "{rules:?}");
        assert!(!rules.iter().any(|r| r.1 == 3), "{rules:?}");
        assert_eq!(rules.iter().filter(|r| r.1 == 2).count(), 1, "{rules:?}");
    }

    /// The classes issue 22 found missed on unseen repositories: private JWK members, TOTP
    /// seeds (an otpauth URI, a base32 seed given to a TOTP constructor), key material in
    /// byte-array, hex-decode and base64-decode literals, provider tokens without a pattern
    /// rule, base64 DER private keys, `curl -u`, bootstrap tokens. Values are assembled at run
    /// time so this file scans clean.
    #[test]
    fn classes_found_on_unseen_repositories() {
        let e = engine();
        let rules_in = |path: &str, s: &str| -> Vec<String> {
            e.scan(path, s.as_bytes())
                .into_iter()
                .map(|f| f.rule_id)
                .collect()
        };
        let b64u = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = format!(
            "{{\"kty\":\"RSA\",\"n\":\"{b64u}\",\"e\":\"AQAB\",\n \"{}\":\"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q\"}}\n",
            "d"
        );
        assert!(rules_in("jwks.json", &jwk).contains(&"jwk-private-key".to_owned()));
        // The public members alone are not a finding.
        let public = jwk.replace("\"d\"", "\"x5t\"");
        assert!(!rules_in("jwks.json", &public).contains(&"jwk-private-key".to_owned()));

        let seed = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"; // shroud:allow
        let otp = format!(
            "url = \"otpauth://totp/ACME:alice?{}={seed}&issuer=ACME\"\n",
            "secret"
        );
        assert!(!rules_in("a.py", &otp).is_empty(), "otpauth secret");
        let ctor = format!("totp = pyotp.TOTP(\"{seed}\")\n");
        assert!(!rules_in("a.py", &ctor).is_empty(), "TOTP constructor");

        let bytes = "static readonly byte[] Key = new byte[] { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c };\n"; // shroud:allow
        assert!(!rules_in("Crypto.cs", bytes).is_empty(), "byte array");
        let hex = "SIGNING_KEY = bytes.fromhex(\"8f3a9c2e71d04b56a9e3c7f21b8d4e6a\")\n";
        assert!(!rules_in("k.py", hex).is_empty(), "hex-decoded key");
        let b64 =
            "byte[] secret = Base64.getDecoder().decode(\"q3Vt9ZkP2xL8mW4rT7yB1nC6hJ0sF5dA\");\n";
        assert!(!rules_in("K.java", b64).is_empty(), "base64-decoded secret");

        let shop = format!(
            "SHOPIFY_TOKEN={}_{}\n",
            "shpat", "9f86d081884c7d659a2feaa0c55ad015"
        );
        assert_eq!(rules_in(".env", &shop), ["shopify-token"]);
        let der = format!(
            "privateKey = \"{}IBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4ypbH7R4eVGJZ5yO4NmBXQJ7pDLc3sK8ZwvM9T2kH6fQ1xR5yL0oN3eU7iA4mG2\"\n",
            "MIIEvQ"
        );
        assert_eq!(rules_in("Keys.java", &der), ["private-key-der"]);

        let curl = "curl -s --user \"deploy:Zq8rT3xLm9\" https://registry.internal/v2/\n";
        assert_eq!(rules_in("run.sh", curl), ["curl-user-password"]);
        assert!(rules_in("run.sh", "curl -u \"$USER:$PASS\" https://x/\n").is_empty());
        let join = "kubeadm join 10.0.0.1:6443 --token 8tpo9l.jlw135r8559kaad4 --discovery-token-ca-cert-hash sha256:x\n"; // shroud:allow
        assert!(rules_in("notes.md", join).contains(&"kubernetes-bootstrap-token".to_owned()));
    }

    /// The false-positive classes issue 22 found: placeholder passwords in URLs, JWE blobs,
    /// algorithm or scheme names under password keys, code expressions read as literals.
    #[test]
    fn look_alikes_found_on_unseen_repositories() {
        let e = engine();
        let none = |path: &str, s: &str| {
            let f = e.scan(path, s.as_bytes());
            assert!(f.is_empty(), "{s}: {f:?}");
        };
        let at = "@";
        none(
            "a.env",
            &format!("DATABASE_URL=postgres://user:password{at}localhost/app\n"),
        );
        none(
            "a.env",
            &format!("DATABASE_URL=mysql://:pass{at}db:3306/app\n"),
        );
        none(
            "a.env",
            &format!("DATABASE_URL=postgres://user:<password>{at}localhost/app\n"),
        );
        let jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ";
        none("a.yaml", &format!("token: {jwe}\n"));
        none(
            "a.yaml",
            "password_hash_algorithm: argon2id\npassword: bcrypt\nauth: bearer\n",
        );
        none("a.py", "password = os.getenv(\"DB_PASSWORD\")\n");
        none(
            "a.ts",
            "password: typeof o.password === 'string' ? o.password : undefined,\n",
        );
        none("a.js", "const token = \"Bearer \" + accessToken;\n");
        none(
            "a.yaml",
            "password: \"$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY\"\n",
        );
    }

    #[test]
    fn url_passwords() {
        let e = engine();
        let found = |s: &str| {
            e.scan("a.env", s.as_bytes())
                .iter()
                .any(|f| f.rule_id == "url-password")
        };
        let at = "@";
        // An empty user and a password equal to the user are still passwords.
        assert!(found(&format!("R=redis://:Zq3vX9k2{at}cache:6379\n")));
        assert!(found(&format!(
            "D=postgres://postgres:postgres{at}db/app\n"
        )));
        // References, documentation hosts, URL tricks and ports are not.
        assert!(!found(&format!("D=postgres://u:${{PW}}{at}db/app\n")));
        assert!(!found(&format!(
            "P=http://john:Zq3vX9k2{at}proxy.example.com\n"
        )));
        assert!(!found(&format!("U=http://google.com:80#{at}evil.tld/\n")));
        assert!(!found(&format!("U=http://u:8080{at}host/\n")));
    }
}
