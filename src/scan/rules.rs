//! Detection rules: the built-in credential detectors, custom rules from the scan config, and
//! the validators that keep look-alikes out (checksums, entropy, placeholders).
//!
//! Owns: each rule's id, keywords (the literal prefilter), byte regex, which capture holds the
//! secret, and its validator; the placeholder list; Shannon entropy; GitHub CRC32 and bech32
//! checksums. Must not know: files, git, suppression, baselines or output.

use std::ops::Range;

use base64::Engine;
use regex::bytes::{Regex, RegexBuilder};

/// Checks a candidate: the whole buffer, the secret's byte range in it, and the file's path.
pub type Validator = fn(&[u8], Range<usize>, &str) -> bool;

/// Where a rule's regex runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Over the whole buffer, once, when any keyword occurs.
    Buffer,
    /// Only over the lines that contain a keyword (for the generic assignment rule).
    Line,
}

/// One detector.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    /// Literals (see [`keyword_variants`]); the rule runs only when one occurs. Empty: the rule
    /// always runs.
    pub keywords: Vec<String>,
    pub regex: LazyRegex,
    pub scope: Scope,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    pub entropy: Option<f64>,
    /// Reject secrets that look like placeholders (`changeme`, `${VAR}`, `xxxx`, …).
    pub placeholders: bool,
    pub validator: Option<Validator>,
    /// Only files whose path matches.
    pub paths: Option<regex::Regex>,
    /// Higher wins when two findings overlap.
    pub priority: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule {id}: invalid regex: {message}")]
    Regex { id: String, message: String },
}

/// A regex compiled on first use: a one-file staged scan only pays for the rules whose keywords
/// occur.
#[derive(Clone, Debug)]
pub struct LazyRegex {
    id: String,
    pattern: String,
    cell: std::sync::OnceLock<Regex>,
}

impl LazyRegex {
    /// A built-in pattern (known to compile; a unit test compiles them all).
    pub fn lazy(id: &str, pattern: &str) -> LazyRegex {
        LazyRegex {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
            cell: std::sync::OnceLock::new(),
        }
    }

    /// A user pattern, compiled now so errors surface at load time.
    pub fn eager(id: &str, pattern: &str) -> Result<LazyRegex, RuleError> {
        let re = compile(id, pattern)?;
        Ok(LazyRegex {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
            cell: std::sync::OnceLock::from(re),
        })
    }

    pub fn get(&self) -> &Regex {
        self.cell
            .get_or_init(|| compile(&self.id, &self.pattern).expect("built-in rules compile"))
    }
}

pub(crate) fn compile(id: &str, pattern: &str) -> Result<Regex, RuleError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(32 << 20)
        .build()
        .map_err(|e| RuleError::Regex {
            id: id.to_owned(),
            message: e.to_string().lines().last().unwrap_or_default().to_owned(),
        })
}

struct Def {
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
    scope: Scope,
    entropy: Option<f64>,
    validator: Option<Validator>,
    priority: u8,
    paths: Option<&'static str>,
}

const fn def(
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
) -> Def {
    Def {
        id,
        description,
        keywords,
        regex,
        scope: Scope::Buffer,
        entropy: None,
        validator: None,
        priority: 5,
        paths: None,
    }
}

/// End of a token made of `[A-Za-z0-9_-]`: the next byte is not one of those.
macro_rules! tok_end {
    () => {
        r"(?:[^A-Za-z0-9_\-]|$)"
    };
}

fn defs() -> Vec<Def> {
    vec![
        Def {
            validator: Some(aws_key_id),
            ..def(
                "aws-access-key-id",
                "AWS access key ID",
                &["AKIA", "ASIA"],
                r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
            )
        },
        Def {
            scope: Scope::Line,
            entropy: Some(4.0),
            validator: Some(aws_secret),
            priority: 6,
            ..def(
                "aws-secret-access-key",
                "AWS secret access key",
                &["secret", "Secret", "SECRET", "aws", "AWS"],
                r"(?i:aws|secret)[^\n]{0,40}?\b([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
            )
        },
        Def {
            validator: Some(github_crc),
            priority: 8,
            ..def(
                "github-token",
                "GitHub token (personal, OAuth, user/server-to-server, refresh)",
                &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
                r"\b(gh[pousr]_[A-Za-z0-9]{36})\b",
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "github-fine-grained-pat",
                "GitHub fine-grained personal access token",
                &["github_pat_"],
                r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
            )
        },
        Def {
            entropy: Some(3.0),
            priority: 8,
            ..def(
                "gitlab-token",
                "GitLab personal/deploy/runner token",
                &["glpat-", "gldt-", "glrt-"],
                concat!(
                    r"\b((?:glpat|gldt|glrt|glptt)-[A-Za-z0-9_\-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)",
                    tok_end!()
                ),
            )
        },
        Def {
            entropy: Some(3.0),
            priority: 8,
            ..def(
                "slack-token",
                "Slack token",
                &["xox"],
                concat!(r"\b(xox[baprs]-[0-9]{6,}-[0-9A-Za-z\-]{10,})", tok_end!()),
            )
        },
        Def {
            validator: Some(last_segment_random),
            priority: 8,
            ..def(
                "slack-webhook",
                "Slack incoming webhook URL",
                &["hooks.slack.com"],
                r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_]{20,})",
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "stripe-live-key",
                "Stripe live secret or restricted key",
                &["sk_live_", "rk_live_"],
                r"\b((?:sk|rk)_live_[0-9A-Za-z]{24,})\b",
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "google-api-key",
                "Google API key",
                &["AIza"],
                concat!(r"\b(AIza[0-9A-Za-z_\-]{35})", tok_end!()),
            )
        },
        Def {
            validator: Some(private_key_body),
            priority: 9,
            ..def(
                "gcp-service-account",
                "Google Cloud service-account key (JSON with private_key)",
                &["service_account"],
                r#"(?s)"type"\s*:\s*"service_account".*?"private_key"\s*:\s*"(-----BEGIN PRIVATE KEY-----[^"]{64,}?-----END PRIVATE KEY-----[^"]*)""#,
            )
        },
        Def {
            entropy: Some(4.0),
            priority: 8,
            ..def(
                "azure-storage-key",
                "Azure storage account key / connection string",
                &["AccountKey="],
                r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)",
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "npm-token",
                "npm access token",
                &["npm_"],
                r"\b(npm_[A-Za-z0-9]{36})\b",
            )
        },
        Def {
            priority: 8,
            ..def(
                "pypi-token",
                "PyPI upload token",
                &["pypi-AgEIcHlwaS5vcmc"],
                concat!(r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})", tok_end!()),
            )
        },
        Def {
            entropy: Some(3.0),
            priority: 8,
            ..def(
                "twilio-api-key",
                "Twilio API key SID",
                &["twilio", "TWILIO"],
                r"\b(SK[0-9a-f]{32})\b",
            )
        },
        Def {
            scope: Scope::Line,
            entropy: Some(3.0),
            validator: Some(twilio_sid_nearby),
            priority: 8,
            ..def(
                "twilio-auth-token",
                "Twilio account SID with auth token",
                &["twilio", "TWILIO", "token", "TOKEN", "Token"],
                r"(?i:auth_?token)[^\n]{0,10}?\b([0-9a-f]{32})\b",
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "sendgrid-api-key",
                "SendGrid API key",
                &["SG."],
                concat!(
                    r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})",
                    tok_end!()
                ),
            )
        },
        Def {
            validator: Some(discord_bot),
            priority: 8,
            ..def(
                "discord-bot-token",
                "Discord bot token",
                &["discord", "Discord", "DISCORD"],
                concat!(
                    r"\b([MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})",
                    tok_end!()
                ),
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "discord-webhook",
                "Discord webhook URL",
                &["discord", "Discord", "DISCORD"],
                concat!(
                    r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68})",
                    tok_end!()
                ),
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "telegram-bot-token",
                "Telegram bot token",
                &[":AA"],
                concat!(r"\b([0-9]{8,10}:AA[0-9A-Za-z_\-]{33})", tok_end!()),
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 8,
            ..def(
                "anthropic-api-key",
                "Anthropic API key",
                &["sk-"],
                concat!(
                    r"\b(sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_\-]{80,120})",
                    tok_end!()
                ),
            )
        },
        Def {
            entropy: Some(3.5),
            priority: 7,
            ..def(
                "openai-api-key",
                "OpenAI API key",
                &["T3BlbkFJ", "sk-"],
                concat!(
                    r"\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))",
                    tok_end!()
                ),
            )
        },
        Def {
            validator: Some(private_key_body),
            priority: 9,
            ..def(
                "private-key",
                "PEM private key",
                &["PRIVATE KEY"],
                r"(?s)(-----BEGIN (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----.*?-----END (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----)",
            )
        },
        Def {
            validator: Some(private_key_body),
            priority: 9,
            ..def(
                "openssh-private-key",
                "OpenSSH private key",
                &["PRIVATE KEY"],
                r"(?s)(-----BEGIN OPENSSH PRIVATE KEY-----.*?-----END OPENSSH PRIVATE KEY-----)",
            )
        },
        Def {
            validator: Some(private_key_body),
            priority: 9,
            ..def(
                "pgp-private-key",
                "PGP private key block",
                &["PRIVATE KEY"],
                r"(?s)(-----BEGIN PGP PRIVATE KEY BLOCK-----.*?-----END PGP PRIVATE KEY BLOCK-----)",
            )
        },
        Def {
            validator: Some(age_bech32),
            priority: 9,
            ..def(
                "age-secret-key",
                "age secret key",
                &["AGE-SECRET-KEY-1"],
                r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
            )
        },
        Def {
            validator: Some(jwt),
            priority: 6,
            ..def(
                "jwt",
                "JSON Web Token",
                &["eyJ"],
                concat!(
                    r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})",
                    tok_end!()
                ),
            )
        },
        Def {
            scope: Scope::Line,
            validator: Some(url_password),
            priority: 4,
            ..def(
                "url-password",
                "URL or connection string with a password",
                &["://"],
                r#"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:@/'"<>()\[\]{}]{1,64}:([^\s:@/'"<>]{3,128})@[A-Za-z0-9._\-\[\]]+"#,
            )
        },
        Def {
            entropy: Some(3.0),
            paths: Some(r"(^|/)[._]?netrc$"),
            priority: 6,
            ..def(
                "netrc-password",
                "Password in a .netrc file",
                &["password"],
                r"(?m)(?:^|[ \t])password[ \t]+([^\s]{6,})",
            )
        },
        Def {
            scope: Scope::Line,
            entropy: Some(3.0),
            validator: Some(generic_value),
            priority: 1,
            ..def(
                "generic-secret",
                "Hard-coded password/secret/token assignment",
                &[
                    "password",
                    "Password",
                    "PASSWORD",
                    "passwd",
                    "PASSWD",
                    "secret",
                    "Secret",
                    "SECRET",
                    "token",
                    "Token",
                    "TOKEN",
                    "credential",
                    "CREDENTIAL",
                    "api_key",
                    "API_KEY",
                    "apiKey",
                    "ApiKey",
                    "apikey",
                    "APIKEY",
                    "api-key",
                    "access_key",
                    "ACCESS_KEY",
                    "accessKey",
                    "AccessKey",
                    "private_key",
                    "PRIVATE_KEY",
                    "privateKey",
                    "PrivateKey",
                ],
                r#"(?i)([a-z0-9_.\-]*(?:password|passwd|secret|token|api[_.\-]?key|access[_.\-]?key|private[_.\-]?key|credentials?|auth[_.\-]?key)[a-z0-9_.\-]*)["']?[ \t]*(?::=|=>|=|:)[ \t]*(?:"([^"\r\n]+)"|'([^'\r\n]+)'|([^\s"'`,;)\]}#&]+))"#,
            )
        },
    ]
}

/// The built-in rules, compiled.
pub fn builtin() -> Vec<Rule> {
    defs()
        .into_iter()
        .map(|d| Rule {
            id: d.id.to_owned(),
            description: d.description.to_owned(),
            keywords: d.keywords.iter().map(|k| (*k).to_owned()).collect(),
            regex: LazyRegex::lazy(d.id, d.regex),
            scope: d.scope,
            entropy: d.entropy,
            placeholders: true,
            validator: d.validator,
            paths: d
                .paths
                .map(|p| regex::Regex::new(p).expect("built-in path regexes compile")),
            priority: d.priority,
        })
        .collect()
}

/// The spellings a custom rule's keyword is searched for. Keywords are case-sensitive (so the
/// prefilter can use a packed SIMD searcher); a keyword that is all lowercase letters (and `_`,
/// `-`) also matches its UPPER and Capitalized forms: `acme_` → `ACME_`, `Acme_`.
pub fn keyword_variants(k: &str) -> Vec<String> {
    let wordy = k.bytes().any(|b| b.is_ascii_lowercase())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b"_-".contains(&b));
    if !wordy {
        return vec![k.to_owned()];
    }
    let mut c = k.chars();
    let cap = c
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default();
    let mut v = vec![k.to_owned(), k.to_ascii_uppercase(), cap];
    v.sort();
    v.dedup();
    v
}

/// The ids and descriptions of the built-in rules (for docs and SARIF).
pub fn builtin_ids() -> Vec<(&'static str, &'static str)> {
    defs().iter().map(|d| (d.id, d.description)).collect()
}

// ---------------------------------------------------------------------------------------------
// Validators and helpers.

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "placeholder",
    "your_",
    "your-",
    "yourapi",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "yourpassword",
    "<your",
    "dummy",
    "redacted",
    "replace_me",
    "replaceme",
    "replace-me",
    "insert_",
    "insert-",
    "xxxx",
    "****",
    "....",
    "____",
    "todo",
    "fixme",
    "notasecret",
    "not_a_secret",
    "not-a-secret",
    "fake",
    "sample",
    "lorem",
    "secret_here",
    "token_here",
    "key_here",
    "password_here",
    "supersecret",
    "enc[aes256_gcm",
    // printf / format templates.
    "%s",
    "%d",
    "%v",
    "{}",
];

const PLACEHOLDER_EXACT: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "admin",
    "root",
    "user",
    "username",
    "null",
    "nil",
    "none",
    "true",
    "false",
    "undefined",
    "string",
    "empty",
    "default",
    "test",
    "testing",
    "pass",
    "apikey",
    "api_key",
    "secretkey",
    "12345678",
    "123456789",
    "1234567890",
    "abcdefgh",
    "abcdefghij",
    "abc123",
    "qwerty",
    "letmein",
    "hunter2",
    "required",
    "optional",
    "value",
    "public",
    "private",
    "demo",
    "guest",
    "postgres",
    "mysql",
];

/// Prefixes owned by a specific rule with a validator: a value with one of these that the
/// specific rule rejected (bad checksum, placeholder) is not re-reported as a generic secret.
const PROVIDER_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "sk_live_",
    "rk_live_",
    "sk_test_",
    "npm_",
    "pypi-",
    "AKIA",
    "ASIA",
    "AIza",
    "SG.",
    "sk-",
    "AGE-SECRET-KEY-",
    "eyJ",
];

/// Whether a free-form value names what it stands for (`hunter2-secret`, `my-password`): a
/// fixture, not a credential. Only for the free-form rules (generic, URL, Kubernetes); provider
/// formats such as `AGE-SECRET-KEY-1…` contain such words legitimately.
pub fn names_itself(s: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(s).to_ascii_lowercase();
    ["secret", "password", "passw0rd", "hunter2", "token"]
        .iter()
        .any(|w| lower.contains(w))
}

/// Whether a value is a known placeholder, template or reference rather than a secret.
pub fn is_placeholder(s: &[u8]) -> bool {
    let t = String::from_utf8_lossy(s);
    let t = t.trim();
    if t.is_empty() {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    // Templates and references: ${VAR}, $VAR, {{ .Values.x }}, <password>, %(x)s, #{x}, @x@.
    if lower.starts_with("${")
        || lower.starts_with("$(")
        || lower.starts_with("{{")
        || lower.starts_with("{%")
        || lower.starts_with("%(")
        || lower.starts_with("#{")
        || lower.starts_with("%{")
        || lower.starts_with("enc[")
        || lower.starts_with("vault:")
        || lower.starts_with("ref+")
        || lower.starts_with("op://")
        || lower.starts_with("secretref:")
        || (lower.starts_with('<') && lower.ends_with('>'))
        || (lower.starts_with('@') && lower.ends_with('@'))
        || (lower.starts_with('{') && lower.ends_with('}'))
        || (lower.starts_with('[') && lower.ends_with(']'))
        || (lower.starts_with('%') && lower.ends_with('%'))
        || lower.contains("{{")
        || lower.contains("${")
    {
        return true;
    }
    if let Some(rest) = t.strip_prefix('$')
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return true;
    }
    if PLACEHOLDER_EXACT.contains(&lower.as_str()) {
        return true;
    }
    // Long values (key blocks, blobs) contain short words by chance.
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| (lower.len() <= 100 || w.len() >= 7) && lower.contains(w))
    {
        return true;
    }
    // AWS documentation keys.
    if t.ends_with("EXAMPLE") || t.ends_with("EXAMPLEKEY") {
        return true;
    }
    // One repeated character (ignoring separators), or very few distinct characters.
    let body: Vec<u8> = lower
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric())
        .collect();
    let mut distinct = body.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 1 || (body.len() >= 12 && distinct.len() <= 3) {
        return true;
    }
    // Ascending runs such as 0123456789 or abcdefgh.
    if body.len() >= 6 && body.windows(2).all(|w| w[1] == w[0] + 1) {
        return true;
    }
    false
}

/// The character before `r.start` and after `r.end`, if any.
fn around(hay: &[u8], r: &Range<usize>) -> (Option<u8>, Option<u8>) {
    (
        r.start.checked_sub(1).map(|i| hay[i]),
        hay.get(r.end).copied(),
    )
}

fn aws_key_id(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    !s.ends_with(b"EXAMPLE") && entropy(&s[4..]) >= 2.5
}

fn aws_secret(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let (before, _) = around(hay, &r);
    if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+') {
        return false;
    }
    let s = &hay[r];
    s.iter().any(u8::is_ascii_uppercase)
        && s.iter().any(u8::is_ascii_lowercase)
        && s.iter().any(u8::is_ascii_digit)
        && !s.ends_with(b"EXAMPLEKEY")
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base62, left-padded with `0` to six characters (GitHub's token checksum encoding).
pub fn base62_6(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// GitHub's checksum: the last 6 characters are base62(CRC32(the 30 random characters)).
pub fn github_checksum_ok(token: &[u8]) -> bool {
    let Some(pos) = token.iter().position(|&b| b == b'_') else {
        return false;
    };
    let body = &token[pos + 1..];
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_6(crc32fast::hash(random)) == check
}

fn github_crc(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    github_checksum_ok(&hay[r])
}

fn last_segment_random(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let last = s.rsplit(|&b| b == b'/').next().unwrap_or(s);
    last.len() >= 16 && !is_placeholder(last) && entropy(last) >= 3.0
}

fn private_key_body(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    // Drop the header/footer lines and JSON `\n` escapes; what is left must look like key data.
    let body: Vec<u8> = s
        .split(|&b| b == b'\n')
        .flat_map(|l| l.split(|&b| b == b'\\'))
        .filter(|l| !l.starts_with(b"-----") && !l.contains(&b':'))
        .flat_map(|l| l.iter().copied())
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    body.len() >= 64 && !is_placeholder(&body) && entropy(&body) >= 4.5
}

/// bech32 checksum of an age secret key (case-insensitive HRP `age-secret-key-`).
pub fn age_bech32_ok(s: &[u8]) -> bool {
    const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let lower = s.to_ascii_lowercase();
    let Some(sep) = lower.iter().rposition(|&b| b == b'1') else {
        return false;
    };
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    let mut values = Vec::with_capacity(hrp.len() * 2 + 1 + data.len());
    values.extend(hrp.iter().map(|b| b >> 5));
    values.push(0);
    values.extend(hrp.iter().map(|b| b & 31));
    for b in data {
        match CHARSET.iter().position(|c| c == b) {
            Some(v) => values.push(v as u8),
            None => return false,
        }
    }
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk == 1
}

fn age_bech32(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    age_bech32_ok(&hay[r])
}

fn b64url(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = s.iter().copied().filter(|&b| b != b'=').collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
}

fn jwt(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let mut parts = s.split(|&b| b == b'.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Some(h), Some(p)) = (b64url(h), b64url(p)) else {
        return false;
    };
    let is_obj =
        |v: &[u8]| serde_json::from_slice::<serde_json::Value>(v).is_ok_and(|j| j.is_object());
    is_obj(&h) && is_obj(&p) && String::from_utf8_lossy(&h).contains("\"alg\"")
}

fn discord_bot(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let first = s.split(|&b| b == b'.').next().unwrap_or_default();
    b64url(first)
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit))
}

fn twilio_sid_nearby(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let lo = r.start.saturating_sub(2048);
    let hi = (r.end + 2048).min(hay.len());
    let window = &hay[lo..hi];
    window.windows(34).any(|w| {
        w.starts_with(b"AC")
            && w[2..]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    })
}

fn url_password(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    // `scheme://user:pass@`: the user is between `//` and the `:` before the password.
    let user_start = hay[..r.start.saturating_sub(1)]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |p| p + 1);
    let user = &hay[user_start..r.start.saturating_sub(1)];
    let s = &hay[r];
    if user == s {
        return false;
    }
    if is_placeholder(s)
        || names_itself(s)
        || s.starts_with(b"$")
        || s.starts_with(b"%")
        || s.starts_with(b":")
    {
        return false;
    }
    // `user:pass@` where pass is a port-like number is usually `host:port@` noise; require a
    // letter or symbol besides digits, and skip `*`-masked values.
    !s.iter().all(u8::is_ascii_digit) && !s.contains(&b'*')
}

/// Key-name fragments that describe a secret's metadata rather than hold one.
const GENERIC_KEY_NOISE: &[&str] = &[
    "name", "type", "url", "uri", "file", "path", "length", "len", "min", "max", "policy", "field",
    "label", "prompt", "hint", "regex", "pattern", "format", "expir", "ttl", "timeout", "count",
    "size", "header", "prefix", "suffix", "endpoint", "ref", "env", "var", "mode", "enabled",
    "required", "kind", "id", "hash", "digest", "checksum", "version", "manager", "provider",
    "store", "source", "mount", "dir", "key_id", "keyid", "_at", "rotation",
];

/// Programming-language sources (by extension), where secrets are string literals.
fn is_code_path(path: &str) -> bool {
    const CODE: &[&str] = &[
        "rs", "go", "java", "kt", "kts", "scala", "groovy", "c", "h", "cc", "cpp", "cxx", "hpp",
        "hh", "cs", "fs", "vb", "swift", "m", "mm", "js", "jsx", "mjs", "cjs", "ts", "tsx", "py",
        "pyi", "rb", "php", "pl", "pm", "lua", "dart", "ex", "exs", "erl", "hs", "ml", "zig",
        "nim", "jl", "r", "clj", "cljs", "elm", "sol", "vue", "svelte",
    ];
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| CODE.contains(&ext.to_ascii_lowercase().as_str()))
}

fn generic_value(hay: &[u8], r: Range<usize>, path: &str) -> bool {
    // The key is on the same line before the value.
    let lo = r.start.saturating_sub(256);
    let line_start = hay[lo..r.start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(lo, |p| lo + p + 1);
    let before = String::from_utf8_lossy(&hay[line_start..r.start]).to_ascii_lowercase();
    let key: String = before
        .trim_end_matches(|c: char| " \t\"':=>".contains(c))
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
        .next()
        .unwrap_or_default()
        .to_owned();
    let leaf = key.rsplit('.').next().unwrap_or(&key).to_owned();
    if GENERIC_KEY_NOISE.iter().any(|n| {
        leaf.ends_with(n) || leaf.starts_with(&format!("{n}_")) || leaf.contains(&format!("_{n}_"))
    }) {
        return false;
    }
    let quoted = matches!(around(hay, &r).0, Some(b'"' | b'\''));
    let v = &hay[r];
    if PROVIDER_PREFIXES
        .iter()
        .any(|p| v.starts_with(p.as_bytes()))
    {
        return false;
    }
    if v.len() < 8 || is_placeholder(v) || names_itself(v) {
        return false;
    }
    let text = String::from_utf8_lossy(v);
    // File system paths.
    if text.starts_with(['/', '~']) || text.starts_with("./") || text.starts_with("../") {
        return false;
    }
    // Code, not data: calls, member access on identifiers, interpolation, comparisons.
    if text.contains('(') || text.contains(' ') && !quoted {
        return false;
    }
    let ident_path = text
        .split(['.', ':'])
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        && text.contains('.');
    if ident_path {
        return false;
    }
    // UUIDs are identifiers far more often than secrets.
    if text.len() == 36 && text.bytes().filter(|&b| b == b'-').count() == 4 {
        return false;
    }
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    let others = v.len() - letters - digits;
    // Prose or identifiers: only lowercase letters and separators, or words with spaces.
    if digits == 0
        && v.iter()
            .all(|b| b.is_ascii_lowercase() || b"_-. ".contains(b))
    {
        return false;
    }
    if text.contains(' ') && text.split(' ').count() > 2 {
        return false;
    }
    if !quoted {
        // In source code an unquoted right-hand side is an expression or a type, not data.
        if is_code_path(path) || text.starts_with([':', '=']) {
            return false;
        }
        // Type annotations and expressions: `Vec<u8>`, `a::b`, `&x`, `*p`, `x?`.
        if text.contains("::")
            || text.contains('<') && text.contains('>')
            || text.starts_with(['&', '*', '!'])
            || text.ends_with(['?', '.'])
        {
            return false;
        }
        // Constant and environment-variable names: `LSA_UNICODE_STRING`, `DB_PASSWORD_2`.
        if v.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"_-.".contains(b))
        {
            return false;
        }
        // Unquoted values must look random: letters and digits mixed, or symbols.
        return letters > 0 && (digits > 0 || others > 0);
    }
    digits + others > 0 || entropy(v) >= 3.5
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn github_token(prefix: &str, random: &str) -> String {
        assert_eq!(random.len(), 30);
        let check = base62_6(crc32fast::hash(random.as_bytes()));
        format!("{prefix}_{random}{}", std::str::from_utf8(&check).unwrap())
    }

    #[test]
    fn github_checksum() {
        let t = github_token("ghp", "Zq3vXk9LmP2rT7wY4bN8cD1fG6hJ0s");
        assert!(github_checksum_ok(t.as_bytes()));
        let mut bad = t.into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(!github_checksum_ok(&bad));
    }

    #[test]
    fn placeholders() {
        for p in [
            "changeme",
            "${DB_PASSWORD}",
            "{{ .Values.password }}",
            "<password>",
            "xxxxxxxx",
            "your-api-key",
            "aaaaaaaaaaaa",
            "$SECRET",
            "AKIAIOSFODNN7EXAMPLE",
            "ENC[AES256_GCM,data:x]",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for s in ["hQ8vN2kLp9Zr4Wt1", "Tr0ub4dor&3xK9"] {
            assert!(!is_placeholder(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn entropy_bounds() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn all_builtins_compile() {
        let rules = builtin();
        assert!(rules.len() > 20);
        for r in &rules {
            compile(&r.id, r.regex.pattern.as_str()).unwrap();
        }
    }
}
#[cfg(test)]
mod prefilter_size {
    /// Teddy (the SIMD literal searcher) handles at most 64 patterns; stay under it.
    #[test]
    fn builtin_keywords_fit_the_packed_searcher() {
        let mut all: Vec<String> = super::builtin()
            .into_iter()
            .flat_map(|r| r.keywords)
            .collect();
        all.sort();
        all.dedup();
        assert!(all.len() <= 64, "{} keywords", all.len());
    }
}
