//! Changing a `.sops.yaml` in place: removing keys from its creation rules (`keys revoke`,
//! `rotate --rm-*`) while every comment, blank line, anchor and the layout of everything else
//! stay as they were.
//!
//! The edit is textual: the lines (or the part of a line) where a key is written are removed,
//! and an alias of a removed anchored key goes with it. Then it is proved: the edited text must
//! parse to exactly the original rules minus the removed keys, with every other setting equal,
//! or nothing is returned and the caller is told to edit by hand. A rule or key group left with
//! no key is refused with why (a key group is never removed, so a Shamir threshold stays met).
//!
//! Owns: the removal and its proof. Must not know: files encrypted under the rules, or
//! where the result is written.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, CreationRule};
use crate::keysource::{KeySpec, Named};

/// Why keys cannot be removed from a config.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{config}: creation_rules[{rule}]{group} would have no key left after removing {removed}; add the replacement key to it first (or remove the rule), then run this again"
    )]
    Emptied {
        config: String,
        rule: usize,
        /// ` key group N`, or empty for a rule without key groups.
        group: String,
        removed: String,
    },
    #[error(
        "{config}: could not remove {removed} without changing anything else ({detail}); remove it by hand from creation_rules {rules}, then run this again"
    )]
    Unproven {
        config: String,
        removed: String,
        rules: String,
        detail: String,
    },
}

/// One key removed from one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    pub rule: usize,
    /// The key group (0 for a rule without key groups).
    pub group: usize,
    /// `type identity`, as plans print a key.
    pub key: String,
    /// The key's identity (recipient, fingerprint, KMS identity string).
    pub identity: String,
}

/// A proved edit of one `.sops.yaml`.
#[derive(Clone, Debug)]
pub struct Edit {
    pub path: PathBuf,
    /// The new text.
    pub text: String,
    pub removed: Vec<Removed>,
}

impl Edit {
    /// Writes the edited text in place: locked against other shroud processes, atomically,
    /// keeping the file's mode.
    pub fn write(&self) -> std::io::Result<()> {
        let _lock = crate::fsutil::try_lock(&self.path)?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another shroud process is changing this file; try again when it has finished",
            )
        })?;
        crate::fsutil::write_atomic(
            &self.path,
            self.text.as_bytes(),
            crate::fsutil::Mode::KeepOr(0o644),
        )
    }

    /// `creation_rules[0]: -age age1…; creation_rules[2] key group 1: -PGP F00…`.
    pub fn summary(&self) -> String {
        self.removed
            .iter()
            .map(|r| {
                format!(
                    "creation_rules[{}] key group {}: -{}",
                    r.rule, r.group, r.key
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The rules of `cfg` without the keys `named` matches, with what was removed, or an error when
/// a rule or group would be left unusable.
fn expected(cfg: &Config, named: &Named) -> Result<(Vec<CreationRule>, Vec<Removed>), EditError> {
    let mut rules = cfg.creation_rules.clone();
    let mut removed = Vec::new();
    let display = cfg.path.display().to_string();
    for (ri, rule) in rules.iter_mut().enumerate() {
        let groups = rule.groups.len();
        for (gi, group) in rule.groups.iter_mut().enumerate() {
            let before = group.len();
            let mut gone: Vec<KeySpec> = Vec::new();
            group.retain(|k| {
                let hit = named.matches_spec(k);
                if hit {
                    gone.push(k.clone());
                }
                !hit
            });
            if group.is_empty() && before > 0 && rule.unsupported.is_empty() {
                return Err(EditError::Emptied {
                    config: display,
                    rule: ri,
                    group: if groups > 1 {
                        format!(" key group {gi}")
                    } else {
                        String::new()
                    },
                    removed: gone
                        .iter()
                        .map(KeySpec::shown)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            removed.extend(gone.into_iter().map(|k| Removed {
                rule: ri,
                group: gi,
                key: k.shown(),
                identity: k.identity(),
            }));
        }
    }
    Ok((rules, removed))
}

/// Removes the keys `named` matches from every creation rule of the config at `path` whose
/// text is `text`. `Ok(None)` when no rule lists any of them.
pub fn remove_keys(path: &Path, text: &str, named: &Named) -> Result<Option<Edit>, EditError> {
    let cfg = super::parse(path, text.as_bytes())?;
    let (want, removed) = expected(&cfg, named)?;
    if removed.is_empty() {
        return Ok(None);
    }
    let edited = remove_text(text, named);
    let unproven = |detail: String| {
        let mut rules: Vec<String> = removed.iter().map(|r| r.rule.to_string()).collect();
        rules.dedup();
        EditError::Unproven {
            config: path.display().to_string(),
            removed: named.given().join(", "),
            rules: rules.join(", "),
            detail,
        }
    };
    let got = super::parse(path, edited.as_bytes())
        .map_err(|e| unproven(format!("the edited file does not parse: {e}")))?;
    if let Some(diff) = difference(&want, &cfg, &got) {
        return Err(unproven(diff));
    }
    Ok(Some(Edit {
        path: path.to_path_buf(),
        text: edited,
        removed,
    }))
}

/// What differs between the wanted rules (and the original's other settings) and a parsed
/// edit, if anything.
fn difference(want: &[CreationRule], orig: &Config, got: &Config) -> Option<String> {
    if want.len() != got.creation_rules.len() {
        return Some(format!(
            "{} creation rules instead of {}",
            got.creation_rules.len(),
            want.len()
        ));
    }
    for (i, (w, g)) in want.iter().zip(&got.creation_rules).enumerate() {
        let regex = |r: &CreationRule| r.path_regex.as_ref().map(|x| x.as_str().to_owned());
        let groups = |r: &CreationRule| -> Vec<Vec<KeySpec>> {
            r.groups.iter().filter(|g| !g.is_empty()).cloned().collect()
        };
        if regex(w) != regex(g)
            || groups(w) != groups(g)
            || w.shamir_threshold != g.shamir_threshold
            || w.rules != g.rules
            || w.unsupported != g.unsupported
        {
            return Some(format!("creation_rules[{i}] would change otherwise"));
        }
    }
    if orig.yaml_indent != got.yaml_indent
        || orig.json_indent != got.json_indent
        || orig.external_secrets != got.external_secrets
        || orig.audit != got.audit
    {
        return Some("settings outside creation_rules would change".into());
    }
    None
}

/// One line, split into its indentation, its content and its comment.
struct Line<'a> {
    indent: usize,
    /// Without indentation, comment or line end.
    code: &'a str,
    /// The comment with the whitespace before it, and the line end.
    tail: &'a str,
}

fn split_line(line: &str) -> Line<'_> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let body = &line[indent..];
    let mut quote: Option<char> = None;
    let mut cut = body.len();
    let mut prev = ' ';
    for (i, c) in body.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && (prev == ' ' || prev == '\t' || i == 0) => {
                cut = i;
                break;
            }
            None if c == '\n' || c == '\r' => {
                cut = i;
                break;
            }
            None => {}
        }
        prev = c;
    }
    let code = body[..cut].trim_end_matches([' ', '\t']);
    Line {
        indent,
        code,
        tail: &body[code.len()..],
    }
}

/// Characters that end a key token in a line of YAML.
fn is_delim(c: char) -> bool {
    matches!(c, ' ' | '\t' | ',' | '[' | ']' | '{' | '}' | '"' | '\'')
}

/// The tokens of a line's code part: `(start, end)` byte ranges.
fn tokens(code: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code.char_indices() {
        match (start, is_delim(c)) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, code.len()));
    }
    out
}

/// The key a token names, if it is a key value (not a mapping key like `age:`).
fn key_token(tok: &str) -> Option<&str> {
    (!tok.ends_with(':')).then_some(tok)
}

/// Removes the keys from the text (unproved; see [`remove_keys`]).
fn remove_text(text: &str, named: &Named) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Anchors on removed keys: their aliases are removed too.
    let mut anchors: Vec<String> = Vec::new();
    for line in &lines {
        let l = split_line(line);
        for (s, e) in tokens(l.code) {
            let tok = &l.code[s..e];
            if let Some(name) = tok.strip_prefix('&') {
                let next = tokens(l.code).into_iter().find(|(ns, _)| *ns > s);
                if let Some((ns, ne)) = next
                    && key_token(&l.code[ns..ne]).is_some_and(|k| named.matches_identity(k))
                {
                    anchors.push(name.to_owned());
                }
            }
        }
    }
    let hit = |tok: &str| -> bool {
        match tok.strip_prefix('*') {
            Some(alias) => anchors.iter().any(|a| a == alias),
            None => key_token(tok).is_some_and(|k| named.matches_identity(k)),
        }
    };
    let mut out: Vec<Option<String>> = lines.iter().map(|l| Some((*l).to_owned())).collect();
    let mut i = 0;
    while i < lines.len() {
        let l = split_line(lines[i]);
        let toks: Vec<(usize, usize)> = tokens(l.code)
            .into_iter()
            .filter(|(s, e)| hit(&l.code[*s..*e]))
            .collect();
        if toks.is_empty() {
            i += 1;
            continue;
        }
        let item = l.code.strip_prefix("- ").map(str::trim_start);
        let item_value = item.map(|v| strip_anchor(v).trim_matches(['"', '\'']));
        // `- KEY` (a list item that is the key), or `- arn: KEY` (a KMS entry that starts here).
        let whole_item = item_value.is_some_and(&hit)
            || item
                .and_then(|v| v.strip_prefix("arn:"))
                .is_some_and(|v| hit(strip_anchor(v.trim()).trim_matches(['"', '\''])));
        if whole_item {
            let end = block_end(&lines, i, l.indent);
            for slot in out.iter_mut().take(end).skip(i) {
                *slot = None;
            }
            i = end;
            continue;
        }
        // `arn: KEY` inside a KMS entry whose `- ` is on an earlier line.
        if let Some(v) = l.code.strip_prefix("arn:")
            && hit(strip_anchor(v.trim()).trim_matches(['"', '\'']))
            && let Some(start) = item_start(&lines, i, l.indent)
        {
            let dash = split_line(lines[start]).indent;
            let end = block_end(&lines, start, dash);
            for slot in out.iter_mut().take(end).skip(start) {
                *slot = None;
            }
            i = end;
            continue;
        }
        // Keys inside a scalar or a flow list: remove each with one neighbouring comma.
        let mut code = l.code.to_owned();
        for (s, e) in toks.into_iter().rev() {
            code = remove_token(&code, s, e);
        }
        let code = code.trim_end().to_owned();
        let blank_continuation = code.is_empty() && !l.code.trim().is_empty();
        out[i] = if blank_continuation {
            None
        } else {
            Some(format!("{}{code}{}", " ".repeat(l.indent), l.tail))
        };
        i += 1;
    }
    // A key field left with no value (`age:` or `age: ""` or `age: []` with nothing below it)
    // goes, so that no empty field is left where a key was.
    let kept: Vec<String> = out.into_iter().flatten().collect();
    let mut result = Vec::with_capacity(kept.len());
    for (i, line) in kept.iter().enumerate() {
        let l = split_line(line);
        let field = l
            .code
            .trim_start_matches("- ")
            .split_once(':')
            .map(|(k, v)| (k.trim(), v.trim()));
        let emptied = field.is_some_and(|(k, v)| {
            matches!(k, "age" | "pgp" | "kms")
                && matches!(v, "" | "\"\"" | "''" | "[]" | ">-" | ">" | "|" | "|-")
        });
        let has_body = kept[i + 1..]
            .iter()
            .map(|n| split_line(n))
            .find(|n| !n.code.is_empty())
            .is_some_and(|n| n.indent > l.indent + usize::from(l.code.starts_with("- ")) * 2);
        if emptied && !has_body && !l.code.starts_with("- ") {
            continue;
        }
        result.push(line.clone());
    }
    result.concat()
}

/// `&anchor value` → `value`.
fn strip_anchor(v: &str) -> &str {
    match v.strip_prefix('&') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r.trim_start()),
        None => v,
    }
}

/// The line after the list item that starts at `start` with its `- ` at column `dash`: every
/// following line indented deeper (or blank, when deeper lines follow it) belongs to it.
fn block_end(lines: &[&str], start: usize, dash: usize) -> usize {
    let mut end = start + 1;
    let mut j = start + 1;
    while j < lines.len() {
        let l = split_line(lines[j]);
        if l.code.is_empty() && l.tail.trim().is_empty() {
            j += 1;
            continue;
        }
        if l.indent > dash {
            j += 1;
            end = j;
        } else {
            break;
        }
    }
    end
}

/// The `- ` line of the list item that line `at` (indented `indent`) continues.
fn item_start(lines: &[&str], at: usize, indent: usize) -> Option<usize> {
    (0..at)
        .rev()
        .find_map(|j| {
            let l = split_line(lines[j]);
            if l.code.is_empty() {
                return None;
            }
            if l.code.starts_with("- ") && l.indent + 2 == indent {
                return Some(j);
            }
            if l.indent < indent {
                // A parent that is not the item: give up (the proof would fail anyway).
                return Some(usize::MAX);
            }
            None
        })
        .filter(|j| *j != usize::MAX)
}

/// Removes the token at `s..e` (and quotes around it) with one neighbouring comma.
fn remove_token(code: &str, s: usize, e: usize) -> String {
    let bytes = code.as_bytes();
    let (mut s, mut e) = (s, e);
    // Quotes around the token itself (`"age1…"` in a flow list).
    if s > 0 && e < bytes.len() && bytes[s - 1] == bytes[e] && matches!(bytes[e], b'"' | b'\'') {
        // Only when the quotes hold this token alone.
        s -= 1;
        e += 1;
    }
    // A following comma (and the spaces after it), else a preceding one (and the spaces before).
    let mut after = e;
    while after < bytes.len() && bytes[after] == b' ' {
        after += 1;
    }
    if after < bytes.len() && bytes[after] == b',' {
        let mut end = after + 1;
        while end < bytes.len() && bytes[end] == b' ' {
            end += 1;
        }
        return format!("{}{}", &code[..s], &code[end..]);
    }
    let mut before = s;
    while before > 0 && bytes[before - 1] == b' ' {
        before -= 1;
    }
    if before > 0 && bytes[before - 1] == b',' {
        return format!("{}{}", &code[..before - 1], &code[e..]);
    }
    format!("{}{}", &code[..s], &code[e..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    const B: &str = "age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93";
    const C: &str = "age1nefd6cryw7v2ac4s4vwlzercmrpw9m9j057ne9gp509zdct4pssshhtt7a";

    fn edit(text: &str, named: &[&str]) -> Result<Option<Edit>, EditError> {
        remove_keys(Path::new("/r/.sops.yaml"), text, &Named::new(named))
    }

    fn removed_text(text: &str, named: &[&str]) -> String {
        edit(text, named).unwrap().expect("something removed").text
    }

    #[test]
    fn comma_separated_strings_keep_their_layout() {
        let t = format!(
            "# team keys\ncreation_rules:\n  # prod\n  - path_regex: prod/.*\n    age: {A},{B}  # alice, bob\n  - age: \"{B}, {C}\"\n"
        );
        let out = removed_text(&t, &[B]);
        assert_eq!(
            out,
            format!(
                "# team keys\ncreation_rules:\n  # prod\n  - path_regex: prod/.*\n    age: {A}  # alice, bob\n  - age: \"{C}\"\n"
            )
        );
    }

    #[test]
    fn list_items_flow_lists_and_kms_entries() {
        let t = format!(
            "creation_rules:\n  - path_regex: a\n    age:\n      - {A}   # alice\n      - {B}\n    pgp: [\"85D77543B3D624B63CEA9E6DBC17301B491B3F21\", 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4']\n  - key_groups:\n      - kms:\n          - arn: arn:aws:kms:us-east-1:1:key/old\n            role: arn:aws:iam::1:role/r\n          - arn: arn:aws:kms:us-east-1:1:key/new\n        age: [{C}]\n"
        );
        let out = removed_text(
            &t,
            &[
                A,
                "fbc7 b9e2 a4f9 289a c0c1 d484 3d16 cee4 a273 81b4",
                "arn:aws:kms:us-east-1:1:key/old",
            ],
        );
        assert_eq!(
            out,
            format!(
                "creation_rules:\n  - path_regex: a\n    age:\n      - {B}\n    pgp: [\"85D77543B3D624B63CEA9E6DBC17301B491B3F21\"]\n  - key_groups:\n      - kms:\n          - arn: arn:aws:kms:us-east-1:1:key/new\n        age: [{C}]\n"
            )
        );
    }

    #[test]
    fn anchors_and_aliases_go_together() {
        let t = format!(
            "keys:\n  - &alice {A}\n  - &bob {B}\ncreation_rules:\n  - path_regex: x\n    age:\n      - *alice\n      - *bob\n"
        );
        let out = removed_text(&t, &[A]);
        assert_eq!(
            out,
            format!(
                "keys:\n  - &bob {B}\ncreation_rules:\n  - path_regex: x\n    age:\n      - *bob\n"
            )
        );
    }

    #[test]
    fn an_emptied_rule_or_group_is_refused() {
        let t = format!("creation_rules:\n  - path_regex: x\n    age: {A}\n");
        let e = edit(&t, &[A]).unwrap_err();
        assert!(matches!(e, EditError::Emptied { .. }), "{e}");
        let t = format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{A}]\n      - age: [{B}]\n"
        );
        let e = edit(&t, &[A]).unwrap_err();
        assert!(matches!(e, EditError::Emptied { .. }), "{e}");
        assert!(e.to_string().contains("key group 0"), "{e}");
    }

    #[test]
    fn a_whole_field_goes_when_its_last_key_does() {
        let t = format!(
            "creation_rules:\n  - path_regex: x\n    age: {A}\n    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n"
        );
        let out = removed_text(&t, &[A]);
        assert_eq!(
            out,
            "creation_rules:\n  - path_regex: x\n    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n"
        );
    }

    #[test]
    fn nothing_to_remove_is_none_and_folded_scalars_work() {
        let t = format!("creation_rules:\n  - age: {A}\n");
        assert!(edit(&t, &[B]).unwrap().is_none());
        let t = format!("creation_rules:\n  - age: >-\n      {A},\n      {B}\n");
        let out = removed_text(&t, &[A]);
        let cfg = crate::config::parse(Path::new("/r/.sops.yaml"), out.as_bytes()).unwrap();
        assert_eq!(
            cfg.creation_rules[0].groups,
            vec![vec![KeySpec::Age(B.into())]]
        );
    }
}
