//! The built-in detector table: provider formats, key blocks, URLs with passwords, and the
//! generic assignment rule.
//!
//! Owns: each built-in rule's id, description, keywords, regex, scope, entropy floor, validator
//! and priority. Must not know: how validators work inside (that is [`super::validate`]),
//! files, git or output.

use super::validate::*;
use super::{LazyRegex, Rule, Scope, Validator};

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
    message: Option<&'static str>,
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
        message: None,
    }
}

/// What to do about a committed key-backup share.
const SHARE_ADVICE: &str = "this is a key-backup share (shroud keys backup --shares), and enough shares open the backup bundle: remove it from the repository and from its history (every clone still has it), then make a new backup with new shares and destroy the old bundle and all of its shares (docs/backup.md)";

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
            validator: Some(unencrypted_private_key),
            priority: 9,
            ..def(
                "private-key",
                "PEM private key",
                &["PRIVATE KEY"],
                r"(?s)(-----BEGIN (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----.*?-----END (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----)",
            )
        },
        Def {
            validator: Some(unencrypted_private_key),
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
                // X25519 and hybrid post-quantum (`AGE-SECRET-KEY-PQ-1…`, sops 3.12) identities.
                &["AGE-SECRET-KEY-"],
                r"\b(AGE-SECRET-KEY-(?:PQ-)?1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
            )
        },
        Def {
            validator: Some(shroud_share),
            priority: 9,
            message: Some(SHARE_ADVICE),
            ..def(
                "shroud-key-share",
                "shroud key-backup share",
                &["shroudshare1", "SHROUDSHARE1"],
                // The paper form (`shroudshare1 abcd efgh …`, as `keys backup` writes it) and
                // the compact one; the validator checks the bech32m checksum.
                r"(?i)\b(shroudshare1(?:[ \t]?[qpzry9x8gf2tvdw0s3jn54khce6mua7l]){20,})",
            )
        },
        Def {
            validator: Some(nkey_seed),
            priority: 8,
            ..def(
                "nats-nkey-seed",
                "NATS nkey seed (user, account, operator, server, cluster, curve)",
                &["SUA", "SAA", "SOA", "SNA", "SCA", "SXA"],
                r"\b(S[UAONCX][A-Z2-7]{56})\b",
            )
        },
        Def {
            scope: Scope::Line,
            validator: Some(basic_auth),
            priority: 7,
            ..def(
                "http-basic-auth",
                "HTTP Basic authorization with user:password",
                &["Basic", "basic", "BASIC"],
                r"(?i:basic)[ \t]+([A-Za-z0-9+/]{6,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
            )
        },
        Def {
            scope: Scope::Line,
            entropy: Some(3.3),
            validator: Some(bearer_token),
            priority: 5,
            ..def(
                "http-bearer-token",
                "HTTP Bearer token",
                &["Bearer", "bearer", "BEARER"],
                r"(?i:bearer)[ \t]+([A-Za-z0-9._~+/\-]{16,}={0,2})(?:[^A-Za-z0-9._~+/=\-]|$)",
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
                    r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{16,})",
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
                r#"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:@/'"<>()\[\]{}]{0,64}:([^\s:@/'"<>]{3,128})@[A-Za-z0-9._\-\[\]]+"#,
            )
        },
        Def {
            validator: Some(jwk_private),
            priority: 9,
            ..def(
                "jwk-private-key",
                "Private member of a JSON Web Key (d, p, q, dp, dq, qi, or k of an oct key)",
                &["kty"],
                r#"(?:^|[\s,{(\[])["']?(?:d|p|q|dp|dq|qi|k)["']?\s*(?:=>|[:=])\s*["']([A-Za-z0-9_\-]{22,}={0,2})["']"#,
            )
        },
        Def {
            scope: Scope::Line,
            validator: Some(curl_user),
            priority: 6,
            ..def(
                "curl-user-password",
                "curl -u/--user with a password",
                &["curl"],
                r#"(?:^|[\s;|&(`$])curl\s[^\n]*?(?:\s-u|--user)(?:\s+|=)["']?([^\s"':$]{1,64}:[^\s"']{3,128})["']?"#,
            )
        },
        Def {
            validator: Some(bootstrap_token),
            priority: 6,
            ..def(
                "kubernetes-bootstrap-token",
                "Kubernetes bootstrap token (kubeadm join --token)",
                &["kubeadm", "bootstrap"],
                r"(?i:token)[^\n]{0,24}?\b([a-z0-9]{6}\.[a-z0-9]{16})\b",
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
            // The URL rule judges its own values: `postgres:postgres@` is a password.
            placeholders: d.id != "url-password",
            validator: d.validator,
            paths: d
                .paths
                .map(|p| regex::Regex::new(p).expect("built-in path regexes compile")),
            priority: d.priority,
            secret_group: None,
            allowlists: Vec::new(),
            message: d.message.map(str::to_owned),
        })
        .collect()
}

/// The ids and descriptions of the built-in rules (for docs and SARIF).
pub fn builtin_ids() -> Vec<(&'static str, &'static str)> {
    defs().iter().map(|d| (d.id, d.description)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_builtins_compile() {
        let rules = builtin();
        assert!(rules.len() > 20);
        for r in &rules {
            super::super::compile(&r.id, r.regex.pattern()).unwrap();
        }
    }

    /// Teddy (the SIMD literal searcher) handles at most 64 patterns; stay under it.
    #[test]
    fn builtin_keywords_fit_the_packed_searcher() {
        let mut all: Vec<String> = builtin().into_iter().flat_map(|r| r.keywords).collect();
        all.sort();
        all.dedup();
        assert!(all.len() <= 64, "{} keywords", all.len());
    }
}
