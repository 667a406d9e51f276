//! The fast scanner against granit-parser: on every input the scanner takes, both must give
//! the same tree, hints and layout records. Inputs are generated block YAML with the layout
//! variety people write (blank lines, comments at any column, right comments, quoting, block
//! scalars with every chomping, indentless sequences, compact mappings in lists, documents),
//! plus every YAML file of the repository's tests and the shared sops fixtures.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::parse::{parse_fast, parse_granit};

/// Checks one input; `Some(true)` when the fast scanner took it.
fn agree(src: &str) -> Option<bool> {
    let fast = parse_fast(src);
    let slow = parse_granit(src);
    match (fast, slow) {
        (None, _) => Some(false),
        (Some((ft, fl)), Ok((gt, gl))) => {
            assert_eq!(ft, gt, "trees differ on:\n{src}");
            assert_eq!(fl, gl, "layouts differ on:\n{src}");
            Some(true)
        }
        (Some(_), Err(e)) => panic!("the fast scanner took what granit refuses ({e}):\n{src}"),
    }
}

const WORDS: &[&str] = &[
    "a",
    "key",
    "user_name",
    "x-y.z",
    "ключ",
    "日本",
    "😀",
    "yes",
    "No",
    "on",
    "y",
    "~",
    "null",
    "true",
    "123",
    "0x1F",
    "1_000",
    "1:20",
    "2024-01-01",
    "a b",
    "a:b",
    "a#b",
    "<<",
    "=",
    "-x",
    "k'q",
    "http://h/p?q=1",
    "1.5",
    ".inf",
    "a,b",
    "a  b",
    "é",
    "x]",
    "y}",
    "a&b",
    "a*b",
    "a!b",
    "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
    "2024-01-02T03:04:05Z",
    "-1",
    "+1",
    "0o17",
];

/// Words the scanner declines (granit reads them): rare, so that most files are taken.
const EXOTIC: &[&str] = &[
    "-",
    "%",
    "@a",
    "`b",
    "[x]",
    "{y}",
    "*z",
    "&w",
    "!t",
    "tab\there",
];

fn word(r: &mut StdRng) -> &'static str {
    if r.gen_bool(0.01) {
        EXOTIC[r.gen_range(0..EXOTIC.len())]
    } else {
        WORDS[r.gen_range(0..WORDS.len())]
    }
}

fn scalar(r: &mut StdRng) -> String {
    let w = word(r);
    match r.gen_range(0..10) {
        0..=4 => w.to_owned(),
        5 => format!("{w} {}", word(r)),
        6 => format!("'{}'", w.replace('\'', "''")),
        7 => format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\"")),
        8 => [
            "\"a\\tb\\u00e9\\x41\\n\"",
            "\"\\\"q\\\"\"",
            "''",
            "\"\"",
            "'it''s'",
            "\"\\U0001F600\"",
        ][r.gen_range(0..6)]
        .to_owned(),
        _ if r.gen_bool(0.8) => ["[]", "{}"][r.gen_range(0..2)].to_owned(),
        _ => ["[ ]", "{a: 1}", "[1, 2]", "&a x", "*a", "!!str 1", "|", ">"][r.gen_range(0..8)]
            .to_owned(),
    }
}

fn comment(r: &mut StdRng) -> String {
    ["# c", "#", "# a: b", "#  spaced  ", "# ключ", "## x"][r.gen_range(0..6)].to_owned()
}

struct Gen {
    r: StdRng,
    out: String,
}

impl Gen {
    fn pad(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    fn extras(&mut self, col: usize) {
        if self.r.gen_bool(0.15) {
            self.out.push('\n');
        }
        if self.r.gen_bool(0.2) {
            let c = col.saturating_sub(2) + self.r.gen_range(0..5);
            self.pad(c);
            let text = comment(&mut self.r);
            self.out.push_str(&text);
            self.out.push('\n');
        }
    }

    fn right_comment(&mut self) {
        if self.r.gen_bool(0.2) {
            let n = self.r.gen_range(1..4);
            self.pad(n);
            let text = comment(&mut self.r);
            self.out.push_str(&text);
        }
    }

    fn literal(&mut self, col: usize) {
        let chomp = ["", "-", "+"][self.r.gen_range(0..3)];
        self.out.push('|');
        self.out.push_str(chomp);
        self.right_comment();
        self.out.push('\n');
        let ind = col + self.r.gen_range(1..4);
        if self.r.gen_bool(0.2) {
            self.out.push('\n');
        }
        for i in 0..self.r.gen_range(1..4) {
            if i > 0 && self.r.gen_bool(0.2) {
                self.out.push('\n');
            }
            let extra = if self.r.gen_bool(0.2) { 2 } else { 0 };
            self.pad(ind + extra);
            let w = word(&mut self.r);
            self.out.push_str(w);
            self.out.push('\n');
        }
        if self.r.gen_bool(0.3) {
            self.out.push('\n');
        }
    }

    /// A value after `key:` (in a mapping at `col`) or `-` (a dash at `col`).
    fn value(&mut self, col: usize, depth: u32, in_map: bool) {
        let pick = if depth == 0 {
            0
        } else {
            self.r.gen_range(0..10)
        };
        match pick {
            0..=4 => {
                self.out.push(' ');
                let s = scalar(&mut self.r);
                self.out.push_str(&s);
                self.right_comment();
                self.out.push('\n');
            }
            5 => {
                self.out.push(' ');
                self.literal(col);
            }
            6 => {
                if self.r.gen_bool(0.5) {
                    self.out.push(' ');
                }
                self.right_comment();
                self.out.push('\n');
            }
            7 | 8 => {
                self.right_comment();
                self.out.push('\n');
                self.extras(col + 2);
                let inner = col + self.r.gen_range(1..5);
                self.map(inner, depth - 1);
            }
            _ => {
                self.right_comment();
                self.out.push('\n');
                self.extras(col + 2);
                let inner = if in_map && self.r.gen_bool(0.5) {
                    col
                } else {
                    col + self.r.gen_range(1..5)
                };
                self.seq(inner, depth - 1);
            }
        }
    }

    fn map(&mut self, col: usize, depth: u32) {
        let n = self.r.gen_range(1..5);
        for i in 0..n {
            if i > 0 {
                self.extras(col);
            }
            self.pad(col);
            self.key();
            self.value(col, depth, true);
        }
    }

    fn key(&mut self) {
        let k = word(&mut self.r);
        match self.r.gen_range(0..6) {
            0 => self.out.push_str(&format!("'{}'", k.replace('\'', "''"))),
            1 => self
                .out
                .push_str(&format!("\"{}\"", k.replace('"', "\\\""))),
            _ => self.out.push_str(k),
        }
        if self.r.gen_range(0..4) == 3 {
            self.out.push(' ');
        }
        self.out.push(':');
    }

    fn seq(&mut self, col: usize, depth: u32) {
        let n = self.r.gen_range(1..4);
        for i in 0..n {
            if i > 0 {
                self.extras(col);
            }
            self.pad(col);
            self.out.push('-');
            if depth > 0 && self.r.gen_bool(0.3) {
                // A compact mapping: `- key: value` and its siblings under the key.
                self.out.push(' ');
                let kcol = col + 2;
                self.key();
                self.value(kcol, depth - 1, true);
                for _ in 0..self.r.gen_range(0..3) {
                    self.extras(kcol);
                    self.pad(kcol);
                    self.key();
                    self.value(kcol, depth - 1, true);
                }
            } else {
                self.value(col, depth, false);
            }
        }
    }

    fn stream(&mut self) {
        let docs = self.r.gen_range(1..3);
        if self.r.gen_bool(0.2) {
            let c = comment(&mut self.r);
            self.out.push_str(&c);
            self.out.push('\n');
        }
        for d in 0..docs {
            if d > 0 || self.r.gen_bool(0.3) {
                self.out.push_str("---");
                self.right_comment();
                self.out.push('\n');
            }
            self.extras(0);
            let col = if self.r.gen_bool(0.1) { 2 } else { 0 };
            self.map(col, 3);
            self.extras(0);
        }
    }
}

fn generated(seed: u64) -> String {
    let mut g = Gen {
        r: StdRng::seed_from_u64(seed),
        out: String::new(),
    };
    g.stream();
    if g.r.gen_bool(0.1) {
        g.out.pop();
    }
    g.out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn fast_scanner_agrees_with_granit(seed in any::<u64>()) {
        agree(&generated(seed));
    }
}

/// The generator is not vacuous: the scanner takes most of what it writes.
#[test]
fn fast_scanner_takes_most_generated_files() {
    let taken = (0..400u64)
        .filter(|&s| agree(&generated(s)) == Some(true))
        .count();
    assert!(
        taken >= 200,
        "the fast scanner took only {taken} of 400 generated files"
    );
}

/// Every YAML file under `tests/` and among the shared sops fixtures.
#[test]
fn fast_scanner_agrees_on_real_files() {
    let mut roots = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")];
    if let Some(d) = std::env::var_os("SHROUD_SOPS_FIXTURES") {
        roots.push(d.into());
    }
    let (mut seen, mut taken) = (0, 0);
    while let Some(dir) = roots.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                roots.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                seen += 1;
                if agree(&text) == Some(true) {
                    taken += 1;
                }
            }
        }
    }
    assert!(seen == 0 || taken > 0, "no file taken of {seen}");
}

#[test]
fn fast_scanner_takes_typical_files() {
    let src = "# service: generated\napiVersion: v1\nkind: Secret\nmetadata:\n    name: s\n    labels:\n        app: x # tier\nstringData:\n    # group\n    key_1: value-1\n    port: 8000\n    ratio: 0.5\n    enabled: true\n    hosts:\n        - h1.example.com\n        - h2\n    certificate: |\n        MIIC\n        AAAA\n    empty: ''\n    q: \"a\\tb\"\nlist:\n- a: 1\n  b: []\n- x\n---\nother: doc\n";
    assert_eq!(agree(src), Some(true));
}
