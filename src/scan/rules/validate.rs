//! Validators and value checks: Shannon entropy, the placeholder list, checksums (GitHub CRC32,
//! bech32), JWT/Discord decoding, and the generic rule's key/value judgement.
//!
//! Owns: deciding whether a matched byte range is a plausible secret. Must not know: which
//! rule uses which validator (that is [`super::builtin`]), files, git or output.

use std::ops::Range;

use base64::Engine;

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
    "foobar",
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
    "foo",
    "bar",
    "baz",
    "asdf",
];

/// Prefixes owned by a specific rule with a validator: a value with one of these that the
/// specific rule rejected (bad checksum, placeholder) is not re-reported as a generic secret.
pub const PROVIDER_PREFIXES: &[&str] = &[
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

/// [`PLACEHOLDER_WORDS`] as one ASCII-case-insensitive automaton (checked once per value).
fn placeholder_words() -> &'static aho_corasick::AhoCorasick {
    static AC: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    AC.get_or_init(|| {
        aho_corasick::AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(PLACEHOLDER_WORDS)
            .expect("placeholder words build")
    })
}

/// Whether a value is a known placeholder, template or reference rather than a secret.
/// Called for every candidate value: no allocation for values up to 256 bytes.
pub fn is_placeholder(s: &[u8]) -> bool {
    let t = s.trim_ascii();
    if t.is_empty() {
        return true;
    }
    let mut buf = [0u8; 256];
    let owned;
    let lower: &[u8] = if t.len() <= buf.len() {
        buf[..t.len()].copy_from_slice(t);
        buf[..t.len()].make_ascii_lowercase();
        &buf[..t.len()]
    } else {
        owned = t.to_ascii_lowercase();
        &owned
    };
    let has = |w: &[u8]| memchr::memmem::find(lower, w).is_some();
    // Templates and references: ${VAR}, $VAR, {{ .Values.x }}, <password>, %(x)s, #{x}, @x@.
    let first = lower[0];
    let last = lower[lower.len() - 1];
    if matches!(
        first,
        b'$' | b'{' | b'%' | b'#' | b'e' | b'v' | b'r' | b'o' | b's' | b'<' | b'@' | b'['
    ) && (lower.starts_with(b"${")
        || lower.starts_with(b"$(")
        || lower.starts_with(b"{{")
        || lower.starts_with(b"{%")
        || lower.starts_with(b"%(")
        || lower.starts_with(b"#{")
        || lower.starts_with(b"%{")
        || lower.starts_with(b"enc[")
        || lower.starts_with(b"vault:")
        || lower.starts_with(b"ref+")
        || lower.starts_with(b"op://")
        || lower.starts_with(b"secretref:")
        || (first == b'<' && last == b'>')
        || (first == b'@' && last == b'@')
        || (first == b'{' && last == b'}')
        || (first == b'[' && last == b']')
        || (first == b'%' && last == b'%'))
    {
        return true;
    }
    if has(b"{{") || has(b"${") {
        return true;
    }
    if let Some(rest) = t.strip_prefix(b"$")
        && rest.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return true;
    }
    if lower.len() <= 12 && PLACEHOLDER_EXACT.iter().any(|w| w.as_bytes() == lower) {
        return true;
    }
    // Long values (key blocks, blobs) contain short words by chance.
    if placeholder_words()
        .find_iter(lower)
        .any(|m| lower.len() <= 100 || m.len() >= 7)
    {
        return true;
    }
    // AWS documentation keys.
    if t.ends_with(b"EXAMPLE") || t.ends_with(b"EXAMPLEKEY") {
        return true;
    }
    // One repeated character (ignoring separators), or very few distinct characters.
    let mut seen = [false; 256];
    let (mut distinct, mut len) = (0, 0);
    for &b in lower.iter().filter(|b| b.is_ascii_alphanumeric()) {
        len += 1;
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            distinct += 1;
        }
    }
    if distinct <= 1 || (len >= 12 && distinct <= 3) || periodic(lower) {
        return true;
    }
    // Ascending runs such as 0123456789 or abcdefgh, or two of them (`abcdef1234`, `abc123`).
    if (6..=64).contains(&len) {
        let mut body = [0u8; 64];
        let mut n = 0;
        for &b in lower.iter().filter(|b| b.is_ascii_alphanumeric()) {
            body[n] = b;
            n += 1;
        }
        if ascending_runs(&body[..n]) <= 2 {
            return true;
        }
    }
    false
}

/// A short unit repeated at least three times (`deadbeefdeadbeefdeadbeef`, `abcabcabcabc`):
/// typed, not generated. At most 16 comparisons per byte.
fn periodic(v: &[u8]) -> bool {
    v.len() >= 12
        && (1..=16)
            .filter(|p| v.len() >= 3 * p)
            .any(|p| v.iter().enumerate().all(|(i, b)| *b == v[i % p]))
}

/// How many ascending runs (`abc`, `123`) `body` is made of; a run is at least 3 long, and
/// anything else counts as many runs.
fn ascending_runs(body: &[u8]) -> usize {
    let mut runs = 0;
    let mut i = 0;
    while i < body.len() {
        let mut j = i + 1;
        while j < body.len() && body[j] == body[j - 1] + 1 {
            j += 1;
        }
        if j - i < 3 {
            return usize::MAX;
        }
        runs += 1;
        i = j;
    }
    runs
}

/// The character before `r.start` and after `r.end`, if any.
fn around(hay: &[u8], r: &Range<usize>) -> (Option<u8>, Option<u8>) {
    (
        r.start.checked_sub(1).map(|i| hay[i]),
        hay.get(r.end).copied(),
    )
}

pub(super) fn aws_key_id(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    !s.ends_with(b"EXAMPLE") && entropy(&s[4..]) >= 2.5
}

pub(super) fn aws_secret(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
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

pub(super) fn github_crc(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    github_checksum_ok(&hay[r])
}

pub(super) fn last_segment_random(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let last = s.rsplit(|&b| b == b'/').next().unwrap_or(s);
    last.len() >= 16 && !is_placeholder(last) && entropy(last) >= 3.0
}

pub(super) fn private_key_body(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
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

/// A PEM or OpenSSH private key that is not encrypted with a passphrase; PKCS#8
/// `ENCRYPTED PRIVATE KEY` blocks, legacy PEM with `Proc-Type: 4,ENCRYPTED` and OpenSSH keys
/// whose cipher is not `none` are ciphertext (like a JWE), not a usable key.
pub(super) fn unencrypted_private_key(hay: &[u8], r: Range<usize>, path: &str) -> bool {
    let s = &hay[r.clone()];
    if s.starts_with(b"-----BEGIN ENCRYPTED")
        || memchr::memmem::find(s, b"Proc-Type: 4,ENCRYPTED").is_some()
        || openssh_cipher(s).is_some_and(|c| c != b"none")
    {
        return false;
    }
    private_key_body(hay, r, path)
}

/// The cipher name of an `openssh-key-v1` block, when its body decodes.
fn openssh_cipher(block: &[u8]) -> Option<Vec<u8>> {
    if !block.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----") {
        return None;
    }
    let body: Vec<u8> = block
        .split(|&b| b == b'\n')
        .flat_map(|l| l.split(|&b| b == b'\\'))
        .filter(|l| !l.starts_with(b"-----"))
        .flat_map(|l| l.iter().copied())
        .filter(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
        .collect();
    // The magic and the cipher name are in the first 64 bytes.
    let head = &body[..body.len().min(88) / 4 * 4];
    let raw = base64::engine::general_purpose::STANDARD
        .decode(head)
        .ok()?;
    let rest = raw.strip_prefix(b"openssh-key-v1\0")?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest.get(4..4 + len).map(<[u8]>::to_vec)
}

/// bech32 checksum of an age secret key (case-insensitive HRP `age-secret-key-`).
pub fn age_bech32_ok(s: &[u8]) -> bool {
    bech32_residue(s) == Some(1)
}

/// The bech32 checksum residue of `hrp1data` (1: bech32, `BECH32M`: bech32m), `None` when it
/// is not bech32 at all. Case-insensitive.
fn bech32_residue(s: &[u8]) -> Option<u32> {
    const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let lower = s.to_ascii_lowercase();
    let sep = lower.iter().rposition(|&b| b == b'1')?;
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    let mut values = Vec::with_capacity(hrp.len() * 2 + 1 + data.len());
    values.extend(hrp.iter().map(|b| b >> 5));
    values.push(0);
    values.extend(hrp.iter().map(|b| b & 31));
    for b in data {
        values.push(CHARSET.iter().position(|c| c == b)? as u8);
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
    Some(chk)
}

/// The bech32m checksum constant (BIP 350).
const BECH32M: u32 = 0x2bc8_30a3;

/// A `shroudshare1…` key-backup share (see `backup::share`): the bech32m checksum holds over
/// the characters without the paper layout's spaces. Words that follow the share on its line
/// and happen to be bech32 characters are dropped one by one until the checksum holds.
pub(super) fn shroud_share(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let mut s = &hay[r];
    for _ in 0..4 {
        let compact: Vec<u8> = s.iter().copied().filter(|b| !b" \t".contains(b)).collect();
        // hrp + separator + at least the version, backup id, k, n and a checksum.
        if compact.len() < "shroudshare1".len() + 20 {
            return false;
        }
        if bech32_residue(&compact) == Some(BECH32M) {
            return true;
        }
        match s.iter().rposition(|b| b" \t".contains(b)) {
            Some(cut) => s = s[..cut].trim_ascii_end(),
            None => return false,
        }
    }
    false
}

pub(super) fn age_bech32(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    age_bech32_ok(&hay[r])
}

fn b64url(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = s.iter().copied().filter(|&b| b != b'=').collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
}

pub(super) fn jwt(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
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

/// A private member of a JSON Web Key (`d`, `p`, `q`, `dp`, `dq`, `qi`; `k` of an `oct` key):
/// a `kty` nearby, and a base64url value of at least 16 bytes that looks random.
pub(super) fn jwk_private(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let lo = r.start.saturating_sub(1024);
    let hi = (r.end + 1024).min(hay.len());
    let window = &hay[lo..hi];
    let Some(kty) = memchr::memmem::find(window, b"kty") else {
        return false;
    };
    // `k` is the whole key of a symmetric (`oct`) JWK only.
    let member = hay[..r.start]
        .iter()
        .rposition(|b| b.is_ascii_alphabetic())
        .map(|p| hay[p]);
    let symmetric = memchr::memmem::find(&window[kty..], b"oct").is_some_and(|p| p < 16);
    if member == Some(b'k') && !symmetric {
        return false;
    }
    let s = &hay[r];
    b64url(s.trim_ascii_end()).is_some_and(|raw| raw.len() >= 16)
        && !is_placeholder(s)
        && entropy(s) >= 4.0
}

/// `curl -u user:password`: a password that is not a reference, a prompt (`user:` alone) or a
/// placeholder.
pub(super) fn curl_user(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let Some(colon) = s.iter().position(|&b| b == b':') else {
        return false;
    };
    let pass = &s[colon + 1..];
    pass.len() >= 3
        && !pass.starts_with(b"$")
        && !pass.starts_with(b"%")
        && !pass.starts_with(b"<")
        && !pass.starts_with(b"{")
        && !pass.contains(&b'*')
        && memchr::memmem::find(&pass.to_ascii_lowercase(), b"xxx").is_none()
        && !matches!(
            pass.to_ascii_lowercase().as_slice(),
            b"password"
                | b"pass"
                | b"passwd"
                | b"pwd"
                | b"secret"
                | b"token"
                | b"apikey"
                | b"api_key"
        )
        && !pass.starts_with(b"your")
}

/// A Kubernetes bootstrap token (`abcdef.0123456789abcdef`) that is not all one character
/// class or a documentation sample.
pub(super) fn bootstrap_token(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let secret = &s[7..];
    !is_placeholder(s)
        && s != b"abcdef.0123456789abcdef"
        && secret.iter().any(u8::is_ascii_digit)
        && secret.iter().any(u8::is_ascii_lowercase)
        && entropy(secret) >= 3.0
}

pub(super) fn discord_bot(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let first = s.split(|&b| b == b'.').next().unwrap_or_default();
    b64url(first)
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit))
}

pub(super) fn twilio_sid_nearby(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
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

pub(super) fn url_password(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r.clone()];
    // References and templates, not values: `${PW}`, `$PW`, `%s`, `<password>`, `{{ pw }}`,
    // masks (`****`, `xxxx`). A password equal to the user name (`postgres:postgres@`) or a
    // plain word (`user:password@`) is still a password someone can log in with.
    let lower = s.to_ascii_lowercase();
    if s.starts_with(b"$")
        || s.starts_with(b"%")
        || s.starts_with(b":")
        || s.starts_with(b"<")
        || s.starts_with(b"{")
        || s.starts_with(b"[")
        || s.contains(&b'*')
        || memchr::memmem::find(&lower, b"xxx").is_some()
        || memchr::memmem::find(&lower, b"{{").is_some()
        || memchr::memmem::find(&lower, b"${").is_some()
        || lower.starts_with(b"your")
        || lower.starts_with(b"enc[")
    {
        return false;
    }
    // A generic user with a generic password (`user:password@`, `myname:password@`,
    // `:pass@`): a template to fill in.
    let user_start = hay[..r.start.saturating_sub(1)]
        .iter()
        .rposition(|b| b"/@".contains(b))
        .map_or(0, |p| p + 1);
    let user = hay[user_start..r.start.saturating_sub(1)].to_ascii_lowercase();
    let generic_pw = matches!(
        lower.as_slice(),
        b"pass" | b"password" | b"passwd" | b"pwd" | b"mypassword" | b"yourpassword" | b"secret"
    );
    let generic_user = matches!(
        user.as_slice(),
        b"" | b"user"
            | b"username"
            | b"userid"
            | b"myname"
            | b"myuser"
            | b"myusername"
            | b"name"
            | b"login"
            | b"usr"
            | b"u"
    );
    if lower.as_slice() == b"pass" || generic_pw && generic_user {
        return false;
    }
    // URL tricks (`http://a:80#@b/`), constant names (`USER:DB_PASSWORD@`).
    if s.iter().any(|b| b"#?\\".contains(b))
        || s.contains(&b'_') && s.iter().all(|b| b.is_ascii_uppercase() || *b == b'_')
    {
        return false;
    }
    // Documentation hosts (`user:pass@example.com`, `proxy.example.org`).
    let host_end = hay[r.end..]
        .iter()
        .take(256)
        .position(|b| b"/:?#'\" \t\n<>".contains(b))
        .map_or(hay.len().min(r.end + 256), |p| r.end + p);
    let host = hay[(r.end + 1).min(host_end)..host_end].to_ascii_lowercase();
    if memchr::memmem::find(&host, b"example").is_some() {
        return false;
    }
    // `host:port@` noise: a short all-digit "password" is a port.
    !(s.len() < 6 && s.iter().all(u8::is_ascii_digit))
}

/// `Basic <base64>` whose payload decodes to printable `user:password` with a real password.
pub(super) fn basic_auth(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(s) else {
        return false;
    };
    let Some(colon) = raw.iter().position(|&b| b == b':') else {
        return false;
    };
    let pass = &raw[colon + 1..];
    // Printable text (UTF-8 allowed: `josé:sécret`), no control characters.
    std::str::from_utf8(&raw).is_ok_and(|t| !t.chars().any(char::is_control))
        && !pass.is_empty()
        && !pass.starts_with(b"$")
        && !pass.starts_with(b"<")
        && !pass.starts_with(b"{")
        && !pass.contains(&b'*')
}

/// `Bearer <token>`: random-looking (letters and digits mixed), not a placeholder.
pub(super) fn bearer_token(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    let s = &hay[r];
    let letters = s.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = s.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = s.iter().any(u8::is_ascii_uppercase);
    let lower = s.iter().any(u8::is_ascii_lowercase);
    letters > 0 && (digits > 0 || upper && lower) && !is_placeholder(s) && !names_itself(s)
}

/// Base32 (RFC 4648, no padding) decoding.
fn base32(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// CRC-16/XMODEM, as NATS nkeys use.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// An nkey (seed or public key) whose trailing little-endian CRC-16 matches.
pub fn nkey_checksum_ok(s: &[u8]) -> bool {
    match base32(s) {
        Some(raw) if raw.len() > 2 => {
            let (body, crc) = raw.split_at(raw.len() - 2);
            crc16(body) == u16::from_le_bytes([crc[0], crc[1]])
        }
        _ => false,
    }
}

pub(super) fn nkey_seed(hay: &[u8], r: Range<usize>, _path: &str) -> bool {
    nkey_checksum_ok(&hay[r])
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

    /// Shares made by `backup::create`, in their paper layout (with and without words after
    /// them) and compact; one changed character fails the checksum.
    #[test]
    fn shroud_shares() {
        use age::secrecy::ExposeSecret;
        let (text, _) = crate::keysource::age::generate();
        let created = crate::backup::create(
            &[crate::backup::Source {
                label: "test".into(),
                text,
            }],
            &[],
            &crate::backup::Protection {
                shares: Some((3, 2)),
                ..Default::default()
            },
        )
        .unwrap();
        let check = |s: &str| shroud_share(s.as_bytes(), 0..s.len(), "x");
        for (i, share) in created.shares.iter().enumerate() {
            let block = crate::backup::share_block(&created.manifest, i, share);
            let line = block.lines().nth(1).unwrap();
            assert!(check(line), "{line}");
            assert!(check(&format!("{line} keep safe")), "{line}");
            assert!(check(share.expose_secret()));
            assert!(check(&share.expose_secret().to_ascii_uppercase()));
            let mut typo = line.to_owned();
            let c = typo.pop().unwrap();
            typo.push(if c == 'q' { 'p' } else { 'q' });
            assert!(!check(&typo), "{typo}");
        }
        assert!(!check("shroudshare1 qqqq pppp qqqq pppp qqqq pppp"));
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

    fn base32_encode(raw: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let (mut acc, mut bits, mut out) = (0u32, 0u32, String::new());
        for &b in raw {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(A[((acc >> bits) & 31) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    #[test]
    fn nkey_checksum() {
        let mut raw: Vec<u8> = (0u8..34)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let crc = crc16(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        let good = base32_encode(&raw);
        assert!(nkey_checksum_ok(good.as_bytes()), "{good}");
        let mut bad = good.into_bytes();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        assert!(!nkey_checksum_ok(&bad));
        assert!(!nkey_checksum_ok(b"not base32!"));
    }

    #[test]
    fn basic_and_bearer() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let check =
            |f: fn(&[u8], Range<usize>, &str) -> bool, v: &str| f(v.as_bytes(), 0..v.len(), "");
        assert!(check(basic_auth, &b64("alice:Zq3-vX9")));
        assert!(!check(basic_auth, &b64("alice:$PASSWORD")));
        assert!(!check(basic_auth, &b64("no colon here")));
        assert!(!check(basic_auth, "login_and_password_removed"));
        assert!(check(bearer_token, "WhCDvq4VPpYhrcfmF6ei7V9q"));
        assert!(!check(bearer_token, "your-access-token-here"));
        assert!(!check(bearer_token, "aaaaaaaaaaaaaaaaaaaa"));
    }
}
