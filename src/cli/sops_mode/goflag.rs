//! The command-line parser sops 3.11 is built on, reproduced: Go's `flag` package (`-f`,
//! `--f`, `-f=x`, `--f=x`, `-f x`; a boolean takes a value only as `-f=v`, read by
//! `strconv.ParseBool`; `--` ends the flags; the last of repeated scalar flags wins) under
//! urfave/cli v1.22 (flags given after the arguments of a command are moved before them; two
//! names of one flag may not both be used; environment variables bound to flags are read, and a
//! boolean one that does not parse is an error; string-slice flags accumulate).
//!
//! Owns: turning one argument list into flag values and positional arguments, and rendering a
//! flag list the way urfave's help does. Must not know: what any flag means.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The type of a flag, which decides how its value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `BoolFlag`/`BoolTFlag`: no value, or `=v` with `strconv.ParseBool` syntax.
    Bool,
    /// `StringFlag`: the next argument (or `=v`); the last occurrence wins.
    Str,
    /// `StringSliceFlag`: every occurrence is kept; its variable splits on commas.
    Slice,
    /// `IntFlag`: `strconv.ParseInt(v, 0, 64)` (decimal, `0x`, `0o`, `0b`, leading-0 octal).
    Int,
}

/// One flag of a flag set: its names (long first), type, environment variable and help line.
#[derive(Debug)]
pub struct Def {
    pub names: &'static [&'static str],
    pub kind: Kind,
    pub env: Option<&'static str>,
    pub usage: &'static str,
}

/// A flag's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Bool(bool),
    Str(OsString),
    Slice(Vec<OsString>),
    Int(i64),
}

/// A parsed flag set: values given on the command line, values from the environment, and the
/// positional arguments.
#[derive(Debug)]
pub struct Parsed {
    pub defs: &'static [&'static Def],
    given: Vec<Option<Val>>,
    from_env: Vec<Option<Val>>,
    pub args: Vec<OsString>,
}

impl Parsed {
    fn index(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.names.contains(&name))
    }

    /// Whether this flag set defines `name` (urfave reads a flag from the innermost context
    /// that defines it, set or not).
    pub fn defines(&self, name: &str) -> bool {
        self.index(name).is_some()
    }

    /// The value given on the command line.
    pub fn given(&self, name: &str) -> Option<&Val> {
        self.index(name).and_then(|i| self.given[i].as_ref())
    }

    /// The value given on the command line, else the one from the flag's environment variable.
    pub fn value(&self, name: &str) -> Option<&Val> {
        self.index(name)
            .and_then(|i| self.given[i].as_ref().or(self.from_env[i].as_ref()))
    }

    /// Whether the boolean flag `name` was set to true on the command line.
    pub fn is_true(&self, name: &str) -> bool {
        matches!(self.given(name), Some(Val::Bool(true)))
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &[u8]) -> Option<bool> {
    match s {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then a `0x`/`0o`/`0b` prefix, a
/// leading `0` (octal) or decimal digits, with `_` between digits. The error is Go `flag`'s.
pub fn parse_int(s: &str) -> Result<i64, &'static str> {
    const SYNTAX: &str = "parse error";
    const RANGE: &str = "value out of range";
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    if b.is_empty() {
        return Err(SYNTAX);
    }
    let (base, digits): (u64, &[u8]) = match (b[0], b.get(1).map(u8::to_ascii_lowercase)) {
        (b'0', Some(b'b')) if b.len() >= 3 => (2, &b[2..]),
        (b'0', Some(b'o')) if b.len() >= 3 => (8, &b[2..]),
        (b'0', Some(b'x')) if b.len() >= 3 => (16, &b[2..]),
        (b'0', _) => (8, &b[1..]),
        _ => (10, b),
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return Err(SYNTAX),
        };
        if d >= base {
            return Err(SYNTAX);
        }
        n = n
            .checked_mul(base)
            .and_then(|n| n.checked_add(d))
            .ok_or(RANGE)?;
    }
    if underscores && !underscore_ok(b) {
        return Err(SYNTAX);
    }
    if neg {
        if n > i64::MAX as u64 + 1 {
            return Err(RANGE);
        }
        Ok((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).map_err(|_| RANGE)
    }
}

/// Go's `underscoreOK`: every `_` sits between digits (a base prefix counts as one).
fn underscore_ok(s: &[u8]) -> bool {
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_owned()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// urfave's `argIsFlag`: whether `arg` names one of `defs` (`-x`, `--x`, `--x=v`).
fn arg_is_flag(defs: &[&Def], arg: &[u8]) -> bool {
    if arg == b"-" || arg == b"--" || !arg.starts_with(b"-") {
        return false;
    }
    let mut name = arg;
    if let Some(rest) = name.strip_prefix(b"--") {
        name = rest;
    }
    if let Some(rest) = name.strip_prefix(b"-") {
        name = rest;
    }
    let name = name.split(|&b| b == b'=').next().unwrap_or_default();
    defs.iter()
        .any(|d| d.names.iter().any(|n| n.as_bytes() == name))
}

/// urfave/cli v1.22's `reorderArgs` for commands: flags this command defines (with the
/// argument after one that has no `=`, unless that argument is itself such a flag) move before
/// the other arguments; a `--` goes first with every argument after it kept in place.
fn reorder(defs: &[&Def], args: &[OsString]) -> Vec<OsString> {
    let mut flags: Vec<OsString> = Vec::new();
    let mut rest: Vec<OsString> = Vec::new();
    let mut next_may_be_value = false;
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes();
        if next_may_be_value && !arg_is_flag(defs, b) {
            next_may_be_value = false;
            flags.push(a.clone());
        } else if b == b"--" {
            rest.insert(0, a.clone());
            rest.extend(args[i + 1..].iter().cloned());
            break;
        } else if arg_is_flag(defs, b) {
            flags.push(a.clone());
            next_may_be_value = !b.contains(&b'=');
        } else {
            rest.push(a.clone());
        }
    }
    flags.extend(rest);
    flags
}

/// How a flag set is parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The top level (`sops [flags] FILE`) or a command with subcommands: flags end at the
    /// first argument that is not one; the two-forms check comes before a parse error.
    App,
    /// A command (`sops decrypt …`): flags after arguments are moved before them first.
    Command,
}

/// Parses `args` (without the program or command name) for the flags `defs`, reading bound
/// environment variables through `env`. The error is the message sops prints after
/// "Incorrect Usage".
pub fn parse(
    defs: &'static [&'static Def],
    args: &[OsString],
    mode: Mode,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Parsed, String> {
    let mut from_env: Vec<Option<Val>> = vec![None; defs.len()];
    for (i, d) in defs.iter().enumerate() {
        let Some(var) = d.env else { continue };
        let Some(v) = env(var) else { continue };
        let bytes = v.as_bytes();
        from_env[i] = Some(match d.kind {
            Kind::Bool if bytes.is_empty() => Val::Bool(false),
            Kind::Bool => Val::Bool(parse_bool(bytes).ok_or_else(|| {
                format!(
                    "could not parse {} as bool value for flag {}: strconv.ParseBool: parsing {:?}: invalid syntax",
                    show(bytes),
                    d.names[0],
                    show(bytes)
                )
            })?),
            Kind::Str => Val::Str(v.clone()),
            Kind::Slice => Val::Slice(
                bytes
                    .split(|&b| b == b',')
                    .map(|p| os(p.trim_ascii()))
                    .collect(),
            ),
            Kind::Int => Val::Int(parse_int(&show(bytes)).map_err(|e| {
                format!(
                    "could not parse {} as int value for flag {}: {e}",
                    show(bytes),
                    d.names[0]
                )
            })?),
        });
    }
    let args = match mode {
        Mode::Command => reorder(defs, args),
        Mode::App => args.to_vec(),
    };
    let mut given: Vec<Option<Val>> = vec![None; defs.len()];
    // Which names were used, per flag (for urfave's two-forms check).
    let mut used: Vec<Vec<&'static str>> = vec![Vec::new(); defs.len()];
    let parsed = go_parse(defs, &args, &mut given, &mut used);
    let two_forms = || -> Result<(), String> {
        for (i, d) in defs.iter().enumerate() {
            let forms: Vec<&str> = d
                .names
                .iter()
                .copied()
                .filter(|n| used[i].contains(n))
                .collect();
            if let [first, second, ..] = forms.as_slice() {
                return Err(format!(
                    "Cannot use two forms of the same flag: {second} {first}"
                ));
            }
        }
        Ok(())
    };
    let rest = match (parsed, mode) {
        (Ok(rest), _) => {
            two_forms()?;
            rest
        }
        (Err(e), Mode::App) => {
            two_forms()?;
            return Err(e);
        }
        (Err(e), Mode::Command) => return Err(e),
    };
    Ok(Parsed {
        defs,
        given,
        from_env,
        args: args[rest..].to_vec(),
    })
}

/// Go's `FlagSet.Parse`: returns the index of the first positional argument.
fn go_parse(
    defs: &[&'static Def],
    args: &[OsString],
    given: &mut [Option<Val>],
    used: &mut [Vec<&'static str>],
) -> Result<usize, String> {
    let mut i = 0;
    while i < args.len() {
        let s = args[i].as_bytes();
        if s.len() < 2 || s[0] != b'-' {
            return Ok(i);
        }
        let mut minuses = 1;
        if s[1] == b'-' {
            minuses = 2;
            if s.len() == 2 {
                return Ok(i + 1);
            }
        }
        let body = &s[minuses..];
        if body.is_empty() || body[0] == b'-' || body[0] == b'=' {
            return Err(format!("bad flag syntax: {}", show(s)));
        }
        i += 1;
        let (name, inline) = match body.iter().position(|&b| b == b'=') {
            Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
            None => (body, None),
        };
        let found = defs.iter().enumerate().find_map(|(k, d)| {
            d.names
                .iter()
                .find(|n| n.as_bytes() == name)
                .map(|n| (k, *d, *n))
        });
        let Some((k, def, form)) = found else {
            return Err(format!("flag provided but not defined: -{}", show(name)));
        };
        if !used[k].contains(&form) {
            used[k].push(form);
        }
        let value = match def.kind {
            Kind::Bool => {
                let v = match inline {
                    Some(v) => parse_bool(v).ok_or_else(|| {
                        format!(
                            "invalid boolean value {:?} for -{}: parse error",
                            show(v),
                            show(name)
                        )
                    })?,
                    None => true,
                };
                given[k] = Some(Val::Bool(v));
                continue;
            }
            _ => match inline {
                Some(v) => v.to_vec(),
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].as_bytes().to_vec()
                }
                None => {
                    return Err(format!("flag needs an argument: -{}", show(name)));
                }
            },
        };
        given[k] = Some(match def.kind {
            Kind::Int => Val::Int(parse_int(&show(&value)).map_err(|e| {
                format!(
                    "invalid value {:?} for flag -{}: {e}",
                    show(&value),
                    show(name)
                )
            })?),
            Kind::Slice => {
                let mut all = match given[k].take() {
                    Some(Val::Slice(v)) => v,
                    _ => Vec::new(),
                };
                all.push(os(&value));
                Val::Slice(all)
            }
            _ => Val::Str(os(&value)),
        });
    }
    Ok(i)
}

/// The OPTIONS block of urfave's help for `defs`.
pub fn render_flags(defs: &[&Def]) -> String {
    let lines: Vec<(String, String)> = defs
        .iter()
        .map(|d| {
            let value = if d.kind == Kind::Bool { "" } else { " value" };
            let names = d
                .names
                .iter()
                .map(|n| {
                    let dash = if n.len() == 1 { "-" } else { "--" };
                    format!("{dash}{n}{value}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut usage = d.usage.to_owned();
            if let Some(env) = d.env {
                usage.push_str(&format!(" [${env}]"));
            }
            (names, usage)
        })
        .collect();
    let width = lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(n, u)| format!("   {n:width$}  {u}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Def = Def {
        names: &["in-place", "i"],
        kind: Kind::Bool,
        env: None,
        usage: "",
    };
    const S: Def = Def {
        names: &["extract"],
        kind: Kind::Str,
        env: None,
        usage: "",
    };
    const L: Def = Def {
        names: &["age"],
        kind: Kind::Slice,
        env: None,
        usage: "",
    };
    const N: Def = Def {
        names: &["indent"],
        kind: Kind::Int,
        env: None,
        usage: "",
    };
    const E: Def = Def {
        names: &["local"],
        kind: Kind::Bool,
        env: Some("LOCAL"),
        usage: "",
    };
    static DEFS: &[&Def] = &[&B, &S, &L, &N, &E];

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn p(a: &[&str], mode: Mode) -> Result<Parsed, String> {
        parse(DEFS, &args(a), mode, &|_| None)
    }

    #[test]
    fn booleans_follow_strconv_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            let r = p(&[&format!("-i={t}"), "f"], Mode::App).unwrap();
            assert!(r.is_true("in-place"), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            let r = p(&[&format!("--in-place={f}"), "f"], Mode::App).unwrap();
            assert_eq!(r.given("i"), Some(&Val::Bool(false)), "{f}");
        }
        for bad in ["yes", "no", "tRUE", "", "2", "y"] {
            let e = p(&[&format!("-i={bad}"), "f"], Mode::App).unwrap_err();
            assert!(e.starts_with("invalid boolean value"), "{bad}: {e}");
        }
        // A boolean never takes the next argument.
        let r = p(&["-i", "false", "f"], Mode::App).unwrap();
        assert!(r.is_true("i"));
        assert_eq!(r.args, args(&["false", "f"]));
    }

    #[test]
    fn go_flag_syntax() {
        let r = p(&["--extract", "x", "-extract=y", "f"], Mode::App).unwrap();
        assert_eq!(r.given("extract"), Some(&Val::Str("y".into())));
        let r = p(&["-age", "a", "--age=b", "f"], Mode::App).unwrap();
        assert_eq!(r.given("age"), Some(&Val::Slice(args(&["a", "b"]))));
        assert_eq!(
            p(&["---i", "f"], Mode::App).unwrap_err(),
            "bad flag syntax: ---i"
        );
        assert_eq!(
            p(&["-=x", "f"], Mode::App).unwrap_err(),
            "bad flag syntax: -=x"
        );
        assert_eq!(
            p(&["--nope", "f"], Mode::App).unwrap_err(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            p(&["--extract"], Mode::App).unwrap_err(),
            "flag needs an argument: -extract"
        );
        // A value may start with a dash; `-` and `--` end the flags.
        let r = p(&["--extract", "-i", "-", "-i"], Mode::App).unwrap();
        assert_eq!(r.given("extract"), Some(&Val::Str("-i".into())));
        assert_eq!(r.args, args(&["-", "-i"]));
        let r = p(&["--", "-i"], Mode::App).unwrap();
        assert_eq!(r.given("i"), None);
        assert_eq!(r.args, args(&["-i"]));
        assert_eq!(
            p(&["-i", "--in-place", "f"], Mode::App).unwrap_err(),
            "Cannot use two forms of the same flag: i in-place"
        );
        // -i and --i are one form.
        assert!(p(&["-i", "--i", "f"], Mode::App).is_ok());
    }

    #[test]
    fn commands_move_flags_before_arguments() {
        let r = p(&["f", "-i"], Mode::Command).unwrap();
        assert!(r.is_true("i"));
        assert_eq!(r.args, args(&["f"]));
        // The argument after a boolean moves with it (urfave cannot tell).
        let r = p(&["f", "-i", "x"], Mode::Command).unwrap();
        assert_eq!(r.args, args(&["x", "f"]));
        // Unknown flags after the file are positional.
        let r = p(&["f", "--nope"], Mode::Command).unwrap();
        assert_eq!(r.args, args(&["f", "--nope"]));
        let r = p(&["f", "--extract", "--nope"], Mode::Command).unwrap();
        assert_eq!(r.given("extract"), Some(&Val::Str("--nope".into())));
        let r = p(&["f", "--", "-i"], Mode::Command).unwrap();
        assert_eq!(r.given("i"), None);
        assert_eq!(r.args, args(&["f", "-i"]));
        let r = p(&["f", "cmd", "--", "x"], Mode::Command).unwrap();
        assert_eq!(r.args, args(&["f", "cmd", "x"]));
        // The top level does not reorder.
        let r = p(&["f", "-i"], Mode::App).unwrap();
        assert_eq!(r.given("i"), None);
        assert_eq!(r.args, args(&["f", "-i"]));
    }

    #[test]
    fn ints_and_environment() {
        let r = p(&["--indent=0x10", "--indent", "0o7", "f"], Mode::App).unwrap();
        assert_eq!(r.given("indent"), Some(&Val::Int(7)));
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("-3"), Ok(-3));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert_eq!(parse_int("1__0"), Err("parse error"));
        assert_eq!(parse_int("0x"), Err("parse error"));
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("0x1_0"), Ok(16));
        assert!(parse_int("abc").is_err());
        assert!(parse_int("99999999999999999999").is_err());
        let e = p(&["--indent", "x", "f"], Mode::App).unwrap_err();
        assert_eq!(e, "invalid value \"x\" for flag -indent: parse error");
        let env = |k: &str| (k == "LOCAL").then(|| OsString::from("yes"));
        assert!(parse(DEFS, &args(&["f"]), Mode::App, &env).is_err());
        let env = |k: &str| (k == "LOCAL").then(|| OsString::from("T"));
        let r = parse(DEFS, &args(&["f"]), Mode::App, &env).unwrap();
        assert_eq!(r.value("local"), Some(&Val::Bool(true)));
        assert_eq!(r.given("local"), None);
    }
}
