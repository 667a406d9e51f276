//! The generic detector's judgement: features of a candidate (key-name tokens, value length,
//! character classes, entropy, shape, placeholders, quoting, syntax, file type) and a linear
//! model over them whose weights `scripts/train-scan-scorer.py` fits on the credata-dev corpus
//! and writes to `weights.json` (compiled in).
//!
//! Owns: feature names and their computation, the weights, the decision threshold, and the
//! hard vetoes (UUIDs, sops ciphertext, empty values). Must not know: how candidates are found
//! (that is [`super::candidates`]), files on disk, git or output.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::candidates::{Candidate, Codec, Quote, array_bytes};
use super::rules::validate::PROVIDER_PREFIXES;
use super::rules::{entropy, is_placeholder, names_itself};

/// A feature: family, then up to two names (`""` when unused). Joined with `:` in the weights
/// file and in `--all-candidates` output.
pub type Feature = (&'static str, &'static str, &'static str);

const WEIGHTS: &str = include_str!("weights.json");

/// The linear model.
pub struct Model {
    bias: f64,
    threshold: f64,
    weights: HashMap<Feature, f64, std::hash::BuildHasherDefault<Fnv>>,
}

/// FNV-1a: the weight table is looked up ~50 times per candidate with short keys.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(serde::Deserialize)]
struct WeightsFile<'a> {
    bias: f64,
    threshold: f64,
    #[serde(borrow)]
    weights: HashMap<&'a str, f64>,
}

fn split3(k: &'static str) -> Feature {
    let mut it = k.splitn(3, ':');
    (
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
    )
}

/// The compiled-in model.
pub fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let w: WeightsFile<'static> =
            serde_json::from_str(WEIGHTS).expect("src/scan/weights.json parses");
        Model {
            bias: w.bias,
            threshold: w.threshold,
            weights: w.weights.into_iter().map(|(k, v)| (split3(k), v)).collect(),
        }
    })
}

impl Model {
    pub fn score(&self, features: &[Feature]) -> f64 {
        self.bias
            + features
                .iter()
                .filter_map(|f| self.weights.get(f))
                .sum::<f64>()
    }

    pub fn accepts(&self, score: f64) -> bool {
        score >= self.threshold
    }
}

/// `family:a:b` without empty parts.
pub fn feature_name(f: &Feature) -> String {
    let mut s = f.0.to_owned();
    for p in [f.1, f.2] {
        if !p.is_empty() {
            s.push(':');
            s.push_str(p);
        }
    }
    s
}

/// Key-name tokens with their own weight (anything else only counts through its group).
const KEY_VOCAB: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "pw",
    "passphrase",
    "passcode",
    "secret",
    "secrets",
    "token",
    "tokens",
    "key",
    "keys",
    "api",
    "apikey",
    "auth",
    "authorization",
    "oauth",
    "private",
    "priv",
    "access",
    "client",
    "consumer",
    "app",
    "salt",
    "nonce",
    "otp",
    "totp",
    "hotp",
    "seed",
    "sig",
    "signature",
    "signing",
    "credential",
    "credentials",
    "cred",
    "creds",
    "cookie",
    "session",
    "sid",
    "cipher",
    "hmac",
    "jwt",
    "bearer",
    "basic",
    "identified",
    "verifier",
    "refresh",
    "id",
    "name",
    "type",
    "url",
    "uri",
    "file",
    "path",
    "dir",
    "length",
    "len",
    "size",
    "min",
    "max",
    "count",
    "policy",
    "field",
    "label",
    "prompt",
    "hint",
    "placeholder",
    "message",
    "msg",
    "error",
    "header",
    "prefix",
    "suffix",
    "format",
    "version",
    "method",
    "mode",
    "enabled",
    "enable",
    "required",
    "expire",
    "expires",
    "expiry",
    "expiration",
    "ttl",
    "timeout",
    "hash",
    "hashed",
    "digest",
    "sha",
    "md5",
    "bcrypt",
    "encrypted",
    "enc",
    "public",
    "pub",
    "env",
    "var",
    "old",
    "new",
    "confirm",
    "current",
    "wrong",
    "bad",
    "invalid",
    "valid",
    "verify",
    "reset",
    "forgot",
    "change",
    "input",
    "form",
    "test",
    "fake",
    "dummy",
    "example",
    "mock",
    "sample",
    "default",
    "db",
    "database",
    "mysql",
    "postgres",
    "pg",
    "redis",
    "mongo",
    "ldap",
    "smtp",
    "mail",
    "root",
    "admin",
    "user",
    "username",
    "login",
    "master",
    "aws",
    "s3",
    "github",
    "slack",
    "google",
    "azure",
    "stripe",
    "twilio",
    "nkey",
    "xkey",
    "encryption",
    "decrypt",
    "encrypt",
    "store",
    "manager",
    "provider",
    "service",
    "set",
    "get",
    "with",
    "is",
    "has",
    "show",
    "toggle",
    "strength",
    "rule",
    "hmacsecret",
    "kty",
    "data",
    "value",
    "csrf",
    "xsrf",
    "state",
    "code",
    "pin",
    "cert",
    "certificate",
    "ssh",
    "rsa",
    "pem",
    "ca",
    "tls",
    "ssl",
    "webhook",
    "hook",
    "host",
    "port",
    "endpoint",
    "region",
    "bucket",
    "account",
    "tenant",
    "scope",
    "grant",
    "issuer",
    "audience",
    "realm",
    "domain",
    "cache",
    "lock",
    "map",
    "index",
    "list",
    "table",
    "column",
    "param",
    "params",
    "option",
    "options",
    "config",
    "setting",
    "settings",
    "attr",
    "storage",
    "registry",
    "docker",
    "npm",
    "pypi",
    "connection",
    "conn",
    "dsn",
    "string",
    "str",
    "bytes",
    "b64",
    "base64",
    "hex",
    "raw",
    "plain",
    "plaintext",
    "text",
    "random",
    "generated",
    "stp",
    "otpauth",
    "mfa",
    "twofactor",
    "recovery",
    "backup",
    "license",
    "serial",
];

/// The vocabulary entry equal to `t` (a hash lookup: keys are many, the vocabulary is large).
fn vocab_word(t: &str) -> Option<&'static str> {
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| KEY_VOCAB.iter().copied().collect())
        .get(t)
        .copied()
}

/// The credential group a key belongs to (by its tokens), or `None` when nothing in it names a
/// credential.
fn key_group(tokens: &[String], whole: &str) -> Option<&'static str> {
    let any = |f: &dyn Fn(&str) -> bool| tokens.iter().any(|t| f(t));
    if any(&|t| {
        t != "getpass"
            && (t.contains("password")
                || t.contains("passwd")
                || t.contains("pwd")
                || t == "pw"
                || t == "pass"
                || t.ends_with("pass")
                || t.starts_with("passphrase")
                || t == "passcode"
                || t == "identified")
    }) {
        return Some("pw");
    }
    if any(&|t| t.contains("secret")) {
        return Some("secret");
    }
    if any(&|t| t.contains("token")) {
        return Some("token");
    }
    if any(&|t| {
        t == "basic"
            || t == "bearer"
            || (t.contains("auth")
                // `author`, `authenticator`, `authority`: words, not credentials.
                && (!t.starts_with("author") || t.starts_with("authoriz"))
                && !t.starts_with("authenticat")
                && !t.starts_with("authorit"))
    }) {
        return Some("auth");
    }
    if any(&|t| t == "salt" || t == "nonce" || t.contains("otp") || t == "seed" || t == "verifier")
    {
        return Some("salt");
    }
    if any(&|t| {
        t == "sig"
            || t.starts_with("signature")
            || t.starts_with("cred")
            || t == "cookie"
            || t == "session"
            || t == "sid"
            || t == "hmac"
            || t == "jwt"
            || t == "cipher"
            || t == "private"
    }) {
        return Some("other");
    }
    if any(&|t| t == "key" || t == "keys" || t.ends_with("key")) || whole.ends_with("key") {
        // `apiKey`, `access_key`, `client_key`: a credential; a bare `key` is often a map key.
        let qualified = any(&|t| {
            matches!(
                t,
                "api"
                    | "access"
                    | "client"
                    | "app"
                    | "consumer"
                    | "master"
                    | "signing"
                    | "encryption"
                    | "license"
                    | "account"
                    | "apikey"
                    | "accesskey"
                    | "secretkey"
                    | "privatekey"
                    | "masterkey"
                    | "appkey"
            )
        });
        return Some(if qualified { "apikey" } else { "key" });
    }
    None
}

/// Lowercase tokens of a key: split at non-alphanumerics and camelCase boundaries.
pub fn key_tokens(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let n = key.len();
    for i in 0..n {
        let b = key[i];
        if !b.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if !cur.is_empty() && b.is_ascii_uppercase() {
            let prev = key[i - 1];
            let next_lower = key.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(b.to_ascii_lowercase() as char);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A UUID (8-4-4-4-12 hex), optionally in braces: an identifier, never reported.
pub fn is_uuid(v: &[u8]) -> bool {
    let v = v.strip_prefix(b"{").unwrap_or(v);
    let v = v.strip_suffix(b"}").unwrap_or(v);
    v.len() == 36
        && v.iter().enumerate().all(|(i, &b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

fn ext_class(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "rs" | "go" | "java" | "kt" | "kts" | "scala" | "groovy" | "c" | "h" | "cc" | "cpp"
        | "cxx" | "hpp" | "cs" | "fs" | "vb" | "swift" | "m" | "mm" | "js" | "jsx" | "mjs"
        | "cjs" | "ts" | "tsx" | "py" | "pyi" | "rb" | "php" | "pl" | "pm" | "lua" | "dart"
        | "ex" | "exs" | "erl" | "hs" | "ml" | "zig" | "nim" | "jl" | "r" | "clj" | "elm"
        | "sol" | "vue" | "svelte" => "code",
        "yml" | "yaml" | "json" | "toml" | "ini" | "cfg" | "conf" | "config" | "properties"
        | "env" | "xml" | "plist" | "tf" | "tfvars" | "hcl" | "sample" | "template" | "tpl"
        | "j2" | "test" | "local" | "dist" | "cnf" => "config",
        "md" | "rst" | "txt" | "html" | "htm" | "adoc" | "textile" | "org" | "tex" => "doc",
        "sh" | "bash" | "zsh" | "ps1" | "bat" | "cmd" | "psm1" | "fish" => "shell",
        "sql" => "sql",
        "" if name.starts_with('.') || name == "dockerfile" || name == "makefile" => "config",
        "" => "none",
        _ => "other",
    }
}

fn len_bucket(n: usize) -> &'static str {
    match n {
        0..=3 => "1_3",
        4..=5 => "4_5",
        6..=7 => "6_7",
        8..=11 => "8_11",
        12..=15 => "12_15",
        16..=23 => "16_23",
        24..=31 => "24_31",
        32..=47 => "32_47",
        48..=63 => "48_63",
        64..=127 => "64_127",
        _ => "128_",
    }
}

fn entropy_bucket(e: f64) -> &'static str {
    if e < 2.0 {
        "0_2"
    } else if e < 2.5 {
        "2_25"
    } else if e < 3.0 {
        "25_3"
    } else if e < 3.5 {
        "3_35"
    } else if e < 4.0 {
        "35_4"
    } else if e < 4.5 {
        "4_45"
    } else if e < 5.0 {
        "45_5"
    } else {
        "5_"
    }
}

/// The coarse shape of a value, for crossing with the key group.
fn shape(v: &[u8]) -> &'static str {
    let lower = v.iter().filter(|b| b.is_ascii_lowercase()).count();
    let upper = v.iter().filter(|b| b.is_ascii_uppercase()).count();
    let digit = v.iter().filter(|b| b.is_ascii_digit()).count();
    let other = v.len() - lower - upper - digit;
    if is_uuid(v) {
        "uuid"
    } else if digit == v.len() {
        "digits"
    } else if v.len() >= 16 && v.iter().all(u8::is_ascii_hexdigit) {
        "hex"
    } else if other == 0 && digit == 0 {
        if upper == 0 || lower == 0 {
            "word"
        } else {
            "camel"
        }
    } else if v.len() >= 16
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(b))
    {
        "b64"
    } else if other == 0 {
        "alnum"
    } else if v
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(b))
    {
        "ident"
    } else {
        "sym"
    }
}

/// Three or more words joined by `-`, `_` or blanks (`long-and-random-alpha-numeric-string`,
/// `some_silly_password`): a description of a value.
fn is_phrase(v: &[u8]) -> bool {
    let words: Vec<&[u8]> = v
        .split(|b| matches!(b, b'-' | b'_' | b' '))
        .filter(|w| !w.is_empty())
        .collect();
    // Words, and at most a number or two among them (`GCM_AES_256_secret_shared_key_32`).
    let alpha = words
        .iter()
        .filter(|w| w.len() >= 2 && w.iter().all(u8::is_ascii_alphabetic))
        .count();
    let numbers = words
        .iter()
        .filter(|w| w.iter().all(u8::is_ascii_digit))
        .count();
    alpha >= 3 && alpha + numbers == words.len() && numbers <= 2
}

/// An RFC 4648 base32 string of at least 16 characters with letters and digits (TOTP seeds).
fn is_base32(v: &[u8]) -> bool {
    let body = v.strip_suffix(b"=").unwrap_or(v);
    let body = body.trim_ascii_end();
    body.len() >= 16
        && body
            .iter()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b) || *b == b'=')
        && body.iter().any(u8::is_ascii_digit)
        && body.iter().any(u8::is_ascii_uppercase)
}

/// Hash formats (`$2a$…`, `{SSHA}…`, `sha256:…`): stored digests, not credentials.
fn is_hash_format(v: &[u8]) -> bool {
    let l = v.to_ascii_lowercase();
    let l = l.strip_prefix(b"{crypt}").unwrap_or(&l);
    l.starts_with(b"$2a$")
        || l.starts_with(b"$y$")
        || l.starts_with(b"$7$")
        || l.starts_with(b"$apr1$")
        || l.starts_with(b"$sha1$")
        || l.starts_with(b"$md5")
        || l.starts_with(b"pbkdf2_sha")
        || l.starts_with(b"argon2$")
        || l.starts_with(b"bcrypt$")
        || l.starts_with(b"bcrypt_sha256$")
        || l.starts_with(b"$2a$")
        || l.starts_with(b"$2b$")
        || l.starts_with(b"$2y$")
        || l.starts_with(b"$argon2")
        || l.starts_with(b"$pbkdf2")
        || l.starts_with(b"$6$")
        || l.starts_with(b"$5$")
        || l.starts_with(b"$1$")
        || l.starts_with(b"{ssha")
        || l.starts_with(b"{sha")
        || l.starts_with(b"sha256:")
        || l.starts_with(b"sha512:")
        || l.starts_with(b"sha1:")
        || l.starts_with(b"md5")
        || l.starts_with(b"pbkdf2")
}

fn is_test_path(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    ["test", "spec", "fixture", "mock", "stub"]
        .iter()
        .any(|w| l.contains(w))
}

fn is_example_path(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    ["example", "sample", "demo", "doc", "tutorial", "readme"]
        .iter()
        .any(|w| l.contains(w))
}

/// Words on the candidate's line that say something about it.
const LINE_CONTEXT: &[(&str, &[&str])] = &[
    ("assert", &["assert", "expect(", "should", "mock"]),
    ("example", &["example", "e.g.", "your", "sample", "replace"]),
    ("docker", &["docker ", " -e "]),
    ("url", &["http://", "https://"]),
    ("env_ref", &["getenv", "environ", "process.env", "env("]),
    ("user", &["user", "login"]),
    ("hash_ctx", &["hash", "digest", "sha", "md5"]),
];

type Finders = Vec<(&'static str, Vec<memchr::memmem::Finder<'static>>)>;

/// [`LINE_CONTEXT`] as prebuilt substring searchers.
fn line_finders() -> &'static Finders {
    static F: OnceLock<Finders> = OnceLock::new();
    F.get_or_init(|| {
        LINE_CONTEXT
            .iter()
            .map(|(name, words)| {
                (
                    *name,
                    words
                        .iter()
                        .map(|w| memchr::memmem::Finder::new(w.as_bytes()))
                        .collect(),
                )
            })
            .collect()
    })
}

/// The candidate's line, clipped to 512 bytes around `at`.
fn line_around(hay: &[u8], at: usize) -> &[u8] {
    let lo = at.saturating_sub(256);
    let start = memchr::memrchr(b'\n', &hay[lo..at]).map_or(lo, |p| lo + p + 1);
    let hi = (at + 256).min(hay.len());
    let end = memchr::memchr(b'\n', &hay[at..hi]).map_or(hi, |p| at + p);
    &hay[start..end]
}

/// Key-name tokens that, last in a key, describe a credential's metadata rather than hold it
/// (`token_ttl`, `private_key_id`, `password_prompt`).
const METADATA_TOKENS: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "url",
    "uri",
    "file",
    "dir",
    "ttl",
    "timeout",
    "expire",
    "expires",
    "expiry",
    "expiration",
    "version",
    "format",
    "hint",
    "label",
    "prompt",
    "placeholder",
    "msg",
    "error",
    "field",
    "header",
    "prefix",
    "suffix",
    "policy",
    "required",
    "count",
    "size",
    "min",
    "max",
    "public",
    "pub",
    "enabled",
    "algorithm",
    "algorithms",
    "algo",
    "alg",
    "scheme",
    "type",
    "kind",
    "method",
    "mode",
    "length",
    "len",
    "rounds",
    "iterations",
    "strength",
    "regex",
    "pattern",
    "validator",
    "rule",
    "rules",
    "endpoint",
    "path",
    "route",
    "host",
    "port",
    "table",
    "column",
    "selector",
    "class",
    "handler",
    "factory",
    "strategy",
    "hasher",
    "encoder",
    "generator",
    "status",
    "event",
    "callback",
    "location",
    "provider",
    "attribute",
    "attr",
    "hash",
    "hashed",
    "digest",
    "checksum",
    "fingerprint",
    "within",
    "interval",
    "period",
    "lifetime",
    "duration",
    "age",
    "delay",
    "retries",
    "attempts",
    "limit",
];

/// Words in a key that describe a state or a condition of a credential (`NERR_PasswordTooShort`,
/// `STATUS_PASSWORD_EXPIRED`, `wrong_password_count`): with a number as the value, an error
/// code or a setting, not a credential.
const STATE_WORDS: &[&str] = &[
    "error", "err", "nerr", "status", "invalid", "wrong", "bad", "expired", "expire", "expires",
    "too", "short", "long", "must", "cant", "not", "mismatch", "required", "history", "complex",
    "reset", "changed", "change", "code", "codes", "failed", "failure", "count", "min", "max",
    "attempt", "attempts", "retry", "retries", "timeout", "policy", "strength", "level",
];

/// Algorithm, hash and scheme names: what a `password_hash`/`auth`/`secret` setting names
/// when it is not a credential (`Password.Algorithm = "sha512"`, `auth: bearer`).
const ALGORITHMS: &[&str] = &[
    "md5",
    "sha1",
    "sha-1",
    "sha2",
    "sha224",
    "sha256",
    "sha-256",
    "sha384",
    "sha-384",
    "sha512",
    "sha-512",
    "sha3",
    "sha3-256",
    "sha3-512",
    "bcrypt",
    "scrypt",
    "argon2",
    "argon2i",
    "argon2d",
    "argon2id",
    "pbkdf2",
    "pbkdf2-sha1",
    "pbkdf2-sha256",
    "pbkdf2-sha512",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "pbkdf2sha256",
    "crypt",
    "sha256crypt",
    "sha512crypt",
    "md5crypt",
    "ssha",
    "ssha256",
    "ssha512",
    "hmac",
    "hmac-sha1",
    "hmac-sha256",
    "hmac-sha512",
    "hmacsha1",
    "hmacsha256",
    "hmacsha512",
    "hmac_sha256",
    "hs256",
    "hs384",
    "hs512",
    "rs256",
    "rs384",
    "rs512",
    "es256",
    "es384",
    "es512",
    "ps256",
    "ps384",
    "ps512",
    "eddsa",
    "ed25519",
    "x25519",
    "rsa",
    "ecdsa",
    "dsa",
    "aes",
    "aes128",
    "aes192",
    "aes256",
    "aes-128",
    "aes-256",
    "aes-128-cbc",
    "aes-256-cbc",
    "aes-128-gcm",
    "aes-256-gcm",
    "aes256-gcm",
    "aes-gcm",
    "chacha20",
    "chacha20-poly1305",
    "xchacha20-poly1305",
    "des",
    "3des",
    "des3",
    "blowfish",
    "plain",
    "plaintext",
    "clear",
    "cleartext",
    "basic",
    "bearer",
    "digest",
    "ntlm",
    "negotiate",
    "kerberos",
    "oauth",
    "oauth1",
    "oauth2",
    "oidc",
    "saml",
    "ldap",
    "jwt",
    "jwe",
    "jws",
    "totp",
    "hotp",
    "nthash",
    "lmhash",
    "hex",
    "base64",
    "base32",
    "utf8",
    "utf-8",
    "ascii",
];

/// Whether `v` names an algorithm or scheme.
fn is_algorithm(v: &[u8]) -> bool {
    v.len() <= 24 && {
        let l = String::from_utf8_lossy(v).to_ascii_lowercase();
        ALGORITHMS.contains(&l.as_str())
    }
}

/// A JWE (encrypted JWT) in compact form: five dot-separated base64url parts whose header is a
/// JSON object naming an `enc` algorithm. It is ciphertext, not a credential.
fn is_jwe(v: &[u8]) -> bool {
    use base64::Engine as _;
    let parts: Vec<&[u8]> = v.split(|&b| b == b'.').collect();
    if parts.len() != 5 || !v.starts_with(b"eyJ") {
        return false;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0].trim_ascii_end())
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("enc").is_some())
}

/// Placeholders that say so: templates, references, masks and "put yours here" words.
fn is_stated_placeholder(v: &[u8]) -> bool {
    let l = v.to_ascii_lowercase();
    let has = |w: &[u8]| memchr::memmem::find(&l, w).is_some();
    let distinct = {
        let mut seen = [false; 256];
        let mut n = 0;
        for &b in l.iter().filter(|b| b.is_ascii_alphanumeric()) {
            if !seen[usize::from(b)] {
                seen[usize::from(b)] = true;
                n += 1;
            }
        }
        n
    };
    has(b"${")
        || has(b"{{")
        || has(b"#{")
        || has(b"%(")
        || has(b"%s")
        || has(b"%d")
        || has(b"<%")
        || (l.starts_with(b"<") && l.ends_with(b">"))
        || l.starts_with(b"$(")
        || has(b"xxx")
        || has(b"***")
        || has(b"changeme")
        || has(b"change_me")
        || has(b"change-me")
        || has(b"changeit")
        || has(b"placeholder")
        || has(b"replace_me")
        || has(b"replaceme")
        || has(b"replace-me")
        || has(b"redacted")
        || l.starts_with(b"your_")
        || l.starts_with(b"your-")
        || has(b"<your")
        || v.ends_with(b"EXAMPLE")
        || v.ends_with(b"EXAMPLEKEY")
        || (distinct <= 1 || l.len() >= 8 && distinct <= 2)
        // Public halves: age recipients, SSH public keys.
        || l.starts_with(b"age1") && l.len() == 62
        || l.starts_with(b"ssh-rsa ")
        || l.starts_with(b"ssh-ed25519 ")
        || matches!(
            l.as_slice(),
            b"null"
                | b"nil"
                | b"none"
                | b"true"
                | b"false"
                | b"undefined"
                | b"yes"
                | b"no"
                | b"on"
                | b"off"
        )
}

/// Common English letter pairs: what a human-chosen word is made of (`supersecret`,
/// `letmein`), and a random string rarely is.
const BIGRAMS: &[&[u8; 2]] = &[
    b"th", b"he", b"in", b"er", b"an", b"re", b"on", b"at", b"en", b"nd", b"ti", b"es", b"or",
    b"te", b"of", b"ed", b"is", b"it", b"al", b"ar", b"st", b"to", b"nt", b"ng", b"se", b"ha",
    b"as", b"ou", b"io", b"le", b"ve", b"co", b"me", b"de", b"hi", b"ri", b"ro", b"ic", b"ne",
    b"ea", b"ra", b"ce", b"li", b"ch", b"ll", b"be", b"ma", b"si", b"om", b"ur", b"ca", b"el",
    b"ta", b"la", b"ns", b"ge", b"ly", b"ei", b"os", b"no", b"pe", b"do", b"su", b"pa", b"ec",
    b"ac", b"ot", b"di", b"ol", b"tr", b"sh", b"ss", b"wo", b"rd", b"us", b"ad", b"ke", b"mi",
    b"un", b"ut", b"ow", b"ai", b"ee", b"oo", b"wa", b"ct", b"pr", b"ck", b"am", b"lo", b"et",
];

/// Whether the letters of a value read as words (`Some(true)`: most letter pairs are common
/// English ones), as random (`Some(false)`: few are), or neither / too few letters (`None`).
/// One pass over the value; `None` past 256 bytes (blobs are judged by other features).
fn wordlike(v: &[u8]) -> Option<bool> {
    if v.len() > 256 {
        return None;
    }
    let (mut pairs, mut common) = (0usize, 0usize);
    for w in v.windows(2) {
        if w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic() {
            pairs += 1;
            let p = [w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase()];
            common += usize::from(BIGRAMS.iter().any(|b| **b == p));
        }
    }
    if pairs < 5 {
        return None;
    }
    if common * 2 >= pairs {
        Some(true)
    } else if common * 5 <= pairs {
        Some(false)
    } else {
        None
    }
}

/// A UUID under a key that names a credential itself (`access_token`, `SetAuthToken`,
/// `api_key`), not an identifier (`client_id`, `tenant_guid`): many services issue UUIDs as
/// tokens. Everywhere else a UUID is an identifier and never a candidate.
fn uuid_credential(features: &[Feature], key: &[u8]) -> bool {
    let named = features
        .iter()
        .any(|f| f.0 == "kg" && matches!(f.1, "pw" | "secret" | "token" | "apikey" | "auth"));
    named
        && key_tokens(key).last().is_some_and(|t| {
            !(t.ends_with("id") || t.ends_with("ids") || t.ends_with("guid") || t == "uuid")
        })
}

/// Why a candidate is never reported, whatever the model says: not a value (UUIDs, sops
/// ciphertext, a provider prefix its own rule rejected), a placeholder (`password`,
/// `changeme`, `<token>`), a name of an algorithm, ciphertext (JWE), a stored hash, a public
/// key or a path.
pub fn vetoed(v: &[u8]) -> bool {
    is_uuid(v) || vetoed_value(v)
}

/// [`vetoed`] but for UUIDs (judged by their key: [`uuid_credential`]).
fn vetoed_value(v: &[u8]) -> bool {
    v.is_empty()
        || v.starts_with(b"ENC[")
        || PROVIDER_PREFIXES
            .iter()
            .any(|p| v.starts_with(p.as_bytes()))
        || is_placeholder(v)
        || is_algorithm(v)
        || is_jwe(v)
        || is_hash_format(v)
        || is_nkey_public(v)
        || is_path(v)
}

/// `name(…)` or `a.b(…)` (an unquoted value ends before its closing parenthesis): a call
/// expression written where a value could be.
fn is_call(v: &[u8]) -> bool {
    let Some(open) = memchr::memchr(b'(', v) else {
        return false;
    };
    open > 0
        && (v[0].is_ascii_alphabetic() || v[0] == b'_')
        && v[..open]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.".contains(b))
}

/// A NATS public nkey (user, account, operator, server, cluster, curve): 56 base32 characters
/// after its role letter. Seeds start with `S` and have their own rule.
fn is_nkey_public(v: &[u8]) -> bool {
    v.len() == 56
        && b"UAONCX".contains(&v[0])
        && v.iter()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b))
}

/// A file-system path (`/run/secrets/db`, `./key.pem`, `~/.ssh/id`): where a secret is, not the
/// secret.
fn is_path(v: &[u8]) -> bool {
    // `@/dev/stdin`, `@./secret.txt`: curl's and many tools' "read it from this file".
    let v = v.strip_prefix(b"@").unwrap_or(v);
    let v = v.strip_prefix(b"file://").unwrap_or(v);
    (v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/"))
        && !v.contains(&b' ')
        && v.iter().skip(1).any(|b| b.is_ascii_alphabetic())
}

/// The features of one candidate, or `None` when its key names no credential.
pub fn features(c: &Candidate, hay: &[u8], path: &str) -> Option<Vec<Feature>> {
    let key = &hay[c.key.clone()];
    let raw = &hay[c.value.clone()];
    // A byte array is judged by its bytes.
    let elements;
    let v: &[u8] = if c.codec == Codec::Bytes {
        elements = array_bytes(raw);
        &elements
    } else {
        raw
    };
    let file = ext_class(path);
    // In source code an unquoted right-hand side is an expression, not data — unless the
    // whole thing sits in a string (a URL's `?token=v`) or a comment, or is a byte array.
    if file == "code"
        && c.quote == Quote::None
        && c.codec != Codec::Bytes
        && !c.commented
        && !c.in_string
    {
        return None;
    }
    let tokens = key_tokens(key);
    let whole = String::from_utf8_lossy(key).to_ascii_lowercase();
    let group = key_group(&tokens, &whole)?;
    let state_number = v.iter().all(u8::is_ascii_digit)
        && tokens.iter().any(|t| STATE_WORDS.contains(&t.as_str()));
    // `iam:ChangePassword`, `pkg.auth.Token`: a qualified name that contains its own key.
    let qualified_name = key.len() >= 8 && c.codec == Codec::None && {
        let lk = key.to_ascii_lowercase();
        let lv = v.to_ascii_lowercase();
        memchr::memmem::find(&lv, &lk)
            .is_some_and(|p| p > 0 && matches!(lv[p - 1], b':' | b'.' | b'/' | b'_' | b'-'))
    };
    // `PublicKeyToken`, `pwdPublicKey`, `public_key`: published on purpose.
    let public = tokens.iter().any(|t| t == "public");
    if state_number
        || qualified_name
        || public
        || tokens.last().is_some_and(|t| {
            METADATA_TOKENS.contains(&t.as_str())
                || t.len() > 4
                    && ["type", "kind", "mode", "name"]
                        .iter()
                        .any(|m| t.ends_with(m) && !t.ends_with("username"))
        })
        || (c.codec != Codec::Bytes && is_stated_placeholder(v))
        || (c.codec == Codec::Bytes && {
            let mut d = v.to_vec();
            d.sort_unstable();
            d.dedup();
            d.len() <= 2
        })
    {
        return None;
    }
    let mut f: Vec<Feature> = Vec::with_capacity(48);
    f.push(("kg", group, ""));
    for t in &tokens {
        if let Some(w) = vocab_word(t) {
            f.push(("kt", w, ""));
        }
    }
    if tokens.len() == 1 {
        f.push(("k", "single", ""));
    }
    if key.iter().all(|b| !b.is_ascii_lowercase()) {
        f.push(("k", "upper", ""));
    }
    if key.contains(&b'.') {
        f.push(("k", "dotted", ""));
    }
    if c.flag {
        f.push(("k", "flag", ""));
    }
    if c.key_quoted {
        f.push(("k", "quoted", ""));
    }
    if c.commented {
        f.push(("c", "comment", ""));
    }
    if c.wrapped {
        f.push(("c", "wrapped", ""));
    }
    if c.in_string {
        f.push(("c", "in_string", ""));
    }
    match c.codec {
        Codec::None => {}
        Codec::Hex => f.push(("c", "codec_hex", "")),
        Codec::Base64 => f.push(("c", "codec_b64", "")),
        Codec::Bytes => f.push(("c", "bytes", "")),
    }
    if c.concat {
        f.push(("c", "concat", ""));
    }
    if c.env_default {
        f.push(("c", "env_default", ""));
    }
    if let Some(pk) = &c.parent {
        let pt = key_tokens(&hay[pk.clone()]);
        let whole = String::from_utf8_lossy(&hay[pk.clone()]).to_ascii_lowercase();
        f.push(("c", "parent", key_group(&pt, &whole).unwrap_or("none")));
    }
    let line = line_around(hay, c.key.start);
    let ll = line.to_ascii_lowercase();
    for (name, finders) in line_finders() {
        if finders.iter().any(|w| w.find(&ll).is_some()) {
            f.push(("c", name, ""));
        }
    }
    if line.len() > 400 {
        f.push(("c", "long_line", ""));
    }
    if c.key.start > 0 && hay[c.key.start - 1] == b'$' {
        f.push(("k", "dollar", ""));
    }
    f.push(("s", c.syntax.name(), ""));
    f.push(("q", c.quote.name(), ""));
    f.push(("f", file, ""));
    if is_test_path(path) {
        f.push(("f", "test", ""));
    }
    if is_example_path(path) {
        f.push(("f", "example", ""));
    }
    // The value.
    let n = v.len();
    f.push(("vl", len_bucket(n), ""));
    let e = entropy(v);
    f.push(("ve", entropy_bucket(e), ""));
    let sh = if c.codec == Codec::Bytes {
        "bytes"
    } else {
        shape(v)
    };
    f.push(("vs", sh, ""));
    f.push(("x", group, sh));
    f.push(("xl", group, len_bucket(n)));
    f.push(("xq", group, c.quote.name()));
    f.push(("xs", group, c.syntax.name()));
    f.push(("xe", group, entropy_bucket(e)));
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    let sym = v.iter().any(|b| !b.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, sym].iter().filter(|&&x| x).count();
    f.push(("vc", ["0", "1", "2", "3", "4"][classes], ""));
    if c.codec == Codec::Bytes {
        return Some(f);
    }
    let text = String::from_utf8_lossy(v);
    let l = text.to_ascii_lowercase();
    let words = wordlike(v);
    let flags: [(&'static str, bool); 35] = [
        ("placeholder", is_placeholder(v)),
        ("names_itself", names_itself(v)),
        ("hash_format", is_hash_format(v)),
        ("dollar", v.starts_with(b"$")),
        (
            "template",
            l.contains("{{") || l.contains("${") || l.contains("%(") || l.contains("#{"),
        ),
        ("angle", v.starts_with(b"<") || l.contains("<%")),
        ("brace", v.starts_with(b"{") || v.starts_with(b"[")),
        (
            "percent",
            v.starts_with(b"%") || l.contains("%s") || l.contains("%d"),
        ),
        ("paren", v.contains(&b'(')),
        ("space", v.contains(&b' ')),
        ("many_words", text.split_whitespace().count() > 2),
        (
            "path",
            v.starts_with(b"/")
                || v.starts_with(b"./")
                || v.starts_with(b"~")
                || v.starts_with(b"../"),
        ),
        ("url", l.contains("://")),
        ("email", v.contains(&b'@') && v.contains(&b'.')),
        ("dot", v.contains(&b'.')),
        (
            "ident_path",
            v.contains(&b'.')
                && v.split(|&b| b == b'.').all(|p| {
                    !p.is_empty() && p.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                }),
        ),
        ("colons", l.contains("::")),
        (
            "mask",
            l.contains("***") || l.contains("xxx") || l.contains("..."),
        ),
        (
            "bool_null",
            matches!(
                l.as_str(),
                "true" | "false" | "null" | "nil" | "none" | "undefined" | "yes" | "no"
            ),
        ),
        (
            "upper_const",
            v.iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
                && v.contains(&b'_'),
        ),
        (
            "snake",
            lower
                && !upper
                && v.contains(&b'_')
                && v.iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_'),
        ),
        (
            "key_in_value",
            tokens
                .iter()
                .any(|t| t.len() >= 4 && l.contains(t.as_str())),
        ),
        ("pad", v.ends_with(b"=")),
        ("non_ascii", v.iter().any(|b| !b.is_ascii())),
        ("backslash", v.contains(&b'\\')),
        ("starts_digit", v.first().is_some_and(u8::is_ascii_digit)),
        ("urlenc", l.contains("%2") || l.contains("%3")),
        (
            "hex_len_hash",
            v.iter().all(u8::is_ascii_hexdigit) && matches!(n, 32 | 40 | 64 | 128),
        ),
        (
            "random",
            n >= 20 && e >= 4.0 && classes >= 3 && !v.contains(&b' '),
        ),
        ("base32", is_base32(v)),
        ("phrase", is_phrase(v)),
        ("wordlike", words == Some(true)),
        ("gibberish", words == Some(false)),
        // As random as a string of its length can be: a 20-character random token has about
        // 4 bits of entropy per character, a 64-character one about 5.5.
        (
            "random_for_len",
            n >= 16 && e >= 3.5 && e >= (n as f64).log2() - 0.75 && classes >= 2,
        ),
        (
            "slash_words",
            v.contains(&b'/')
                && v.split(|&b| b == b'/').all(|p| {
                    !p.is_empty()
                        && p.iter()
                            .all(|b| b.is_ascii_lowercase() || b"-_.".contains(b))
                }),
        ),
    ];
    for (name, on) in flags {
        if on {
            f.push(("v", name, ""));
        }
    }
    Some(f)
}

/// Disqualifiers for [`strong`]: the value is code, a reference, a location or a hash.
const NOT_STRONG: &[&str] = &[
    "space",
    "paren",
    "url",
    "path",
    "dollar",
    "ident_path",
    "hash_format",
    "key_in_value",
    "placeholder",
    "names_itself",
    "email",
    "colons",
    "slash_words",
    "template",
    "percent",
    "angle",
    "brace",
];

/// The hand-set prior on top of the learned model (it generalises across repositories better
/// than any weight fitted to a few of them): a machine-made value — 16 to 127 characters, at
/// least 4 bits of entropy per character, mixed case, digits or symbols, not hex — under a key
/// that names a password, secret, token, API key, authorization or signature/session/private
/// value is reported whatever the weights say; so is key material a program decodes (a byte
/// array, a hex or base64 literal) or a base32 seed under a key, secret, password or OTP key.
/// Never for values that read as code, references, locations or hashes, or in a comment.
fn strong(f: &[Feature]) -> bool {
    let (mut group, mut len, mut ent, mut shape) = (false, false, false, false);
    let (mut material, mut keyish, mut key_len, mut key_ent, mut base32) =
        (false, false, false, false, false);
    for x in f {
        match x.0 {
            "kg" => {
                group |= matches!(x.1, "pw" | "secret" | "token" | "apikey" | "auth" | "other");
                keyish |= matches!(x.1, "pw" | "secret" | "token" | "apikey" | "key");
            }
            "kt" => keyish |= matches!(x.1, "otp" | "totp" | "hotp" | "seed" | "mfa" | "twofactor"),
            "vl" => {
                len |= matches!(x.1, "16_23" | "24_31" | "32_47" | "48_63" | "64_127");
                key_len |= matches!(x.1, "16_23" | "24_31" | "32_47" | "48_63" | "64_127");
            }
            "ve" => {
                ent |= matches!(x.1, "4_45" | "45_5" | "5_");
                key_ent |= matches!(x.1, "35_4" | "4_45" | "45_5" | "5_");
            }
            "vs" => shape |= matches!(x.1, "camel" | "b64" | "alnum" | "sym"),
            "c" if x.1 == "comment" || x.1 == "concat" => return false,
            "c" => material |= matches!(x.1, "bytes" | "codec_hex" | "codec_b64"),
            "v" if x.1 == "base32" => base32 = true,
            "v" if NOT_STRONG.contains(&x.1) => return false,
            _ => {}
        }
    }
    (group && len && ent && shape) || (keyish && key_len && key_ent && (material || base32))
}

/// The judgement of one candidate.
pub struct Judgement {
    pub score: f64,
    pub features: Vec<Feature>,
    /// The model's threshold or the [`strong`] prior accepts it.
    pub accepted: bool,
    /// The [`strong`] prior holds (reported as `prior` in `--all-candidates` output).
    pub prior: bool,
}

/// A flag named in documentation prose and followed by an ordinary word (``--to-secret`
/// writes it``): the word is the sentence going on, not the flag's value.
fn prose_after_flag(c: &Candidate, hay: &[u8], path: &str) -> bool {
    let v = &hay[c.value.clone()];
    c.flag
        && ext_class(path) == "doc"
        && matches!(c.quote, Quote::None)
        && c.value.start > 0
        && hay[c.value.start - 1].is_ascii_whitespace()
        && !v.is_empty()
        && v.iter().all(u8::is_ascii_lowercase)
}

/// An unquoted lowercase word followed by more words on its line (`secret: an input it
/// cannot turn`): a sentence that names a credential, not an assignment of one.
fn prose_value(c: &Candidate, hay: &[u8]) -> bool {
    let v = &hay[c.value.clone()];
    if !matches!(c.quote, Quote::None) || v.is_empty() || !v.iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let rest = &hay[c.value.end..];
    let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
    let mut words = line.split(|&b| b == b' ');
    // The value ends at a space, and the next two words are plain words too.
    words.next().is_some_and(<[u8]>::is_empty)
        && words
            .take(2)
            .filter(|w| w.len() >= 2 && w.iter().all(u8::is_ascii_alphabetic))
            .count()
            == 2
}

/// Whether the candidate is a secret: vetoes, features, model and threshold, prior.
pub fn judge(c: &Candidate, hay: &[u8], path: &str) -> Option<Judgement> {
    // Most candidates' keys name no credential: `features` says so first, cheaply.
    let features = features(c, hay, path)?;
    let v = &hay[c.value.clone()];
    let uuid = is_uuid(v) && !uuid_credential(&features, &hay[c.key.clone()]);
    // An unquoted value that opens a brace is an object or a template (`{value}`); one that
    // reads `name(…)` is a call (`b64encode(cPickle.dumps(h))`).
    if uuid
        || vetoed_value(v)
        || (c.quote == Quote::None && c.codec != Codec::Bytes && v.starts_with(b"{"))
        || (c.quote == Quote::None && c.codec == Codec::None && is_call(v))
        || prose_after_flag(c, hay, path)
        || prose_value(c, hay)
    {
        return None;
    }
    let score = model().score(&features);
    let prior = strong(&features);
    Some(Judgement {
        score,
        accepted: prior || model().accepts(score),
        features,
        prior,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_camel_and_snake() {
        assert_eq!(
            key_tokens(b"setJWTSecretKey"),
            ["set", "jwt", "secret", "key"]
        );
        assert_eq!(
            key_tokens(b"MYSQL_ROOT_PASSWORD"),
            ["mysql", "root", "password"]
        );
        assert_eq!(key_tokens(b"api-key2"), ["api", "key2"]);
    }

    #[test]
    fn stated_placeholders_and_metadata_keys_are_not_candidates() {
        let f = |line: &str| {
            let c = &super::super::candidates::extract(line.as_bytes())[0];
            features(c, line.as_bytes(), "a.yaml")
        };
        assert!(f("password: changeme\n").is_none());
        assert!(f("password: ${DB_PW}\n").is_none());
        assert!(f("password: pw-%s-x\n").is_none());
        assert!(f("token: xxxxxxxxxxxx\n").is_none());
        assert!(f("tokenTTL: 3600s\n").is_none());
        assert!(f("private_key_id: 340b85797\n").is_none());
        assert!(f("password: Vq8rT3xLm9\n").is_some());
    }

    #[test]
    fn prose_after_a_flag_in_docs_is_not_a_value() {
        let line = b"`shroud keys restore --to-secret` writes it\n";
        let c = super::super::candidates::extract(line)
            .into_iter()
            .find(|c| c.flag)
            .expect("the flag is a candidate");
        assert!(judge(&c, line, "docs/controller.md").is_none());
        // The same words in a shell script are judged by the model as usual.
        assert!(!prose_after_flag(&c, line, "run.sh"));
    }

    #[test]
    fn a_sentence_after_a_credential_word_is_not_a_value() {
        let first = |line: &[u8]| {
            super::super::candidates::extract(line)
                .into_iter()
                .next()
                .expect("a candidate")
        };
        for line in [
            &b"secret: an input it cannot turn into a Secret\n"[..],
            b"- `external-secret`: an input it cannot turn\n",
        ] {
            let c = first(line);
            assert!(prose_value(&c, line), "{}", String::from_utf8_lossy(line));
            assert!(judge(&c, line, "docs/x.md").is_none());
        }
        // One word, a comment, or a value that is not a plain word: judged as usual.
        for line in [
            &b"password = hunter\n"[..],
            b"password: s3cret and more\n",
            b"password: hunter # the old one\n",
        ] {
            assert!(
                !prose_value(&first(line), line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn uuids_are_vetoed() {
        assert!(vetoed(b"1a6fdba2-f42d-4358-a798-b74d745926c5"));
        assert!(vetoed(b"{1A6FDBA2-F42D-4358-A798-B74D745926C5}"));
        assert!(!vetoed(b"1a6fdba2f42d4358a798b74d745926c5"));
    }

    #[test]
    fn the_weights_load_and_separate_obvious_cases() {
        let m = model();
        let accepted = |line: &str, path: &str| {
            super::super::candidates::extract(line.as_bytes())
                .first()
                .and_then(|c| judge(c, line.as_bytes(), path))
                .is_some_and(|j| j.accepted)
        };
        assert!(m.threshold.is_finite());
        assert!(accepted(
            "password: \"Vq8#rT3x!Lm9wZ\"\n", // shroud:allow
            "config/app.yaml"
        ));
        assert!(!accepted(
            "password: \"${DB_PASSWORD}\"\n",
            "config/app.yaml"
        ));
        assert!(!accepted("password: \"\"\n", "config/app.yaml"));
        // The prior: random values under credential keys, in code and config alike.
        assert!(accepted(
            "api_key = \"Xk9mQ2vL7pR4wZtA8sD3fG\"\n", // shroud:allow
            "app.yaml"
        ));
        assert!(accepted("db_password = \"Xk9#mQ2vL7pR4wZt\"\n", "s.py")); // shroud:allow
        let prior = |line: &str| {
            super::super::candidates::extract(line.as_bytes())
                .first()
                .and_then(|c| judge(c, line.as_bytes(), "app.yaml"))
                .is_some_and(|j| j.prior)
        };
        assert!(prior("api_key = \"Xk9mQ2vL7pR4wZtA8sD3fG\"\n")); // shroud:allow
        assert!(!prior(
            "api_key = \"https://Xk9mQ2vL7pR4wZtA8sD3fG.org/\"\n" // shroud:allow
        ));
        assert!(!prior("api_key = \"Xk9mQ2vL7pR4 wZtA8sD3fG\"\n"));
        assert!(!prior("session_name = \"Xk9mQ2vL7pR4wZtA8sD3fG\"\n"));
    }
    /// Whether the first candidate of `line` survives the vetoes (is judged at all).
    fn judged(line: &str, path: &str) -> bool {
        super::super::candidates::extract(line.as_bytes())
            .first()
            .and_then(|c| judge(c, line.as_bytes(), path))
            .is_some()
    }

    #[test]
    fn uuids_are_judged_only_under_keys_that_name_a_credential() {
        assert!(judged(
            "access_token: \"bc594900-518b-4f7e-ac75-bd37f019e08f\"\n", // shroud:allow
            "a.yaml"
        ));
        assert!(judged(
            "SetAuthToken(\"C6A79608-782F-4ED0-A11D-BD82FAD829CD\")\n", // shroud:allow
            "a.md"
        ));
        assert!(!judged(
            "oauthClientId: \"bc594900-518b-4f7e-ac75-bd37f019e08f\"\n",
            "a.yaml"
        ));
        assert!(!judged(
            "session: \"bc594900-518b-4f7e-ac75-bd37f019e08f\"\n",
            "a.yaml"
        ));
    }

    #[test]
    fn calls_file_references_and_public_values_are_not_candidates() {
        assert!(!judged(
            "auth_token = b64encode(cPickle.dumps(h))\n",
            "a.md"
        ));
        assert!(!judged("jwt-secret = \"@/dev/stdin\"\n", "a.conf"));
        assert!(!judged("PublicKeyToken=b03f5f7f11d50a3a\n", "a.config"));
        assert!(!judged("MYSQL_RANDOM_ROOT_PASSWORD: \"yes\"\n", "a.yaml"));
        assert!(!judged("token: deadbeefdeadbeefdeadbeef\n", "a.yaml"));
        assert!(!judged("{ secret: 'foobar' }\n", "a.yaml"));
        assert!(judged("token: dEa4bEefd3adb7efdeadbeef\n", "a.yaml")); // shroud:allow
    }

    #[test]
    fn word_likeness() {
        assert_eq!(wordlike(b"mysupersecretpassword"), Some(true));
        assert_eq!(wordlike(b"qXzkvBwJmPfgYh"), Some(false));
        assert_eq!(wordlike(b"a1b2"), None);
    }
}
