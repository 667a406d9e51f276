//! Credentials recognised by their own shape, when the generic detector meets them as the value
//! of a key: provider tokens with a published prefix (Shopify `shpat_`, DigitalOcean `dop_v1_`,
//! Hugging Face `hf_`, Vault `hvs.`, …), Azure AD client secrets, and private keys written as
//! base64 DER without PEM armour (PKCS#1, PKCS#8, SEC1). A value that matches is reported under
//! the provider's rule id, whatever the scorer would say.
//!
//! They are not pattern rules: each would need a literal of its own in the keyword prefilter
//! (at most 64 for the packed searcher), and nearly all of them are written as the value of a
//! key that already names a credential (`SHOPIFY_TOKEN=shpat_…`), which the generic detector
//! reads anyway.
//!
//! Owns: the table of shapes and the check of one value. Must not know: candidates, files,
//! findings.

use super::validate::{entropy, is_placeholder};

/// The characters a token body may hold.
#[derive(Clone, Copy)]
enum Body {
    /// `[A-Za-z0-9]`.
    Alnum,
    /// `[A-Za-z0-9_-]`.
    Url,
    /// `[A-Za-z0-9+/=]`.
    B64,
    /// `[0-9a-f]`.
    Hex,
    /// `[A-Za-z0-9._-]`.
    Dotted,
}

impl Body {
    fn allows(self, b: u8) -> bool {
        match self {
            Body::Alnum => b.is_ascii_alphanumeric(),
            Body::Url => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Body::B64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=',
            Body::Hex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Body::Dotted => b.is_ascii_alphanumeric() || b"._-".contains(&b),
        }
    }
}

/// One credential shape: a literal prefix and a body.
pub struct Known {
    pub id: &'static str,
    pub description: &'static str,
    prefix: &'static str,
    body: Body,
    min: usize,
    max: usize,
}

const fn k(
    id: &'static str,
    description: &'static str,
    prefix: &'static str,
    body: Body,
    min: usize,
    max: usize,
) -> Known {
    Known {
        id,
        description,
        prefix,
        body,
        min,
        max,
    }
}

/// Prefixed tokens. Bodies are checked for their characters and length, and must look random.
const TABLE: &[Known] = &[
    k(
        "shopify-token",
        "Shopify access token or shared secret",
        "shpat_",
        Body::Hex,
        32,
        32,
    ),
    k(
        "shopify-token",
        "Shopify access token or shared secret",
        "shpca_",
        Body::Hex,
        32,
        32,
    ),
    k(
        "shopify-token",
        "Shopify access token or shared secret",
        "shppa_",
        Body::Hex,
        32,
        32,
    ),
    k(
        "shopify-token",
        "Shopify access token or shared secret",
        "shpss_",
        Body::Hex,
        32,
        32,
    ),
    k(
        "square-token",
        "Square access token or OAuth secret",
        "sq0atp-",
        Body::Url,
        22,
        60,
    ),
    k(
        "square-token",
        "Square access token or OAuth secret",
        "sq0csp-",
        Body::Url,
        40,
        60,
    ),
    k(
        "digitalocean-token",
        "DigitalOcean token",
        "dop_v1_",
        Body::Hex,
        64,
        64,
    ),
    k(
        "digitalocean-token",
        "DigitalOcean token",
        "doo_v1_",
        Body::Hex,
        64,
        64,
    ),
    k(
        "digitalocean-token",
        "DigitalOcean token",
        "dor_v1_",
        Body::Hex,
        64,
        64,
    ),
    k(
        "doppler-token",
        "Doppler token",
        "dp.pt.",
        Body::Alnum,
        40,
        50,
    ),
    k(
        "doppler-token",
        "Doppler token",
        "dp.st.",
        Body::Alnum,
        40,
        50,
    ),
    k(
        "doppler-token",
        "Doppler token",
        "dp.sa.",
        Body::Alnum,
        40,
        50,
    ),
    k(
        "databricks-token",
        "Databricks personal access token",
        "dapi",
        Body::Hex,
        32,
        34,
    ),
    k(
        "linear-api-key",
        "Linear API key",
        "lin_api_",
        Body::Alnum,
        40,
        40,
    ),
    k(
        "postman-api-key",
        "Postman API key",
        "PMAK-",
        Body::Url,
        59,
        59,
    ),
    k(
        "grafana-token",
        "Grafana Cloud or service-account token",
        "glc_",
        Body::B64,
        32,
        400,
    ),
    k(
        "grafana-token",
        "Grafana Cloud or service-account token",
        "glsa_",
        Body::Url,
        41,
        41,
    ),
    k(
        "vault-token",
        "HashiCorp Vault token",
        "hvs.",
        Body::Url,
        24,
        200,
    ),
    k(
        "vault-token",
        "HashiCorp Vault token",
        "hvb.",
        Body::Url,
        24,
        300,
    ),
    k(
        "pulumi-token",
        "Pulumi access token",
        "pul-",
        Body::Hex,
        40,
        40,
    ),
    k(
        "sentry-token",
        "Sentry auth token",
        "sntrys_",
        Body::B64,
        50,
        300,
    ),
    k(
        "sentry-token",
        "Sentry auth token",
        "sntryu_",
        Body::Hex,
        64,
        64,
    ),
    k(
        "newrelic-key",
        "New Relic user API key",
        "NRAK-",
        Body::Alnum,
        27,
        27,
    ),
    k(
        "huggingface-token",
        "Hugging Face access token",
        "hf_",
        Body::Alnum,
        34,
        34,
    ),
    k(
        "replicate-token",
        "Replicate API token",
        "r8_",
        Body::Alnum,
        37,
        37,
    ),
    k("groq-api-key", "Groq API key", "gsk_", Body::Alnum, 52, 52),
    k(
        "perplexity-api-key",
        "Perplexity API key",
        "pplx-",
        Body::Alnum,
        48,
        48,
    ),
    k("xai-api-key", "xAI API key", "xai-", Body::Alnum, 80, 80),
    k(
        "notion-token",
        "Notion integration token",
        "secret_",
        Body::Alnum,
        43,
        43,
    ),
    k(
        "notion-token",
        "Notion integration token",
        "ntn_",
        Body::Alnum,
        46,
        46,
    ),
    k(
        "figma-token",
        "Figma personal access token",
        "figd_",
        Body::Url,
        40,
        40,
    ),
    k(
        "render-api-key",
        "Render API key",
        "rnd_",
        Body::Alnum,
        32,
        32,
    ),
    k(
        "supabase-token",
        "Supabase access token",
        "sbp_",
        Body::Hex,
        40,
        40,
    ),
    k(
        "netlify-token",
        "Netlify access token",
        "nfp_",
        Body::Alnum,
        36,
        36,
    ),
    k(
        "planetscale-token",
        "PlanetScale token or password",
        "pscale_tkn_",
        Body::Url,
        32,
        64,
    ),
    k(
        "planetscale-token",
        "PlanetScale token or password",
        "pscale_pw_",
        Body::Url,
        32,
        64,
    ),
    k(
        "planetscale-token",
        "PlanetScale token or password",
        "pscale_oauth_",
        Body::Url,
        32,
        64,
    ),
    k(
        "readme-api-key",
        "ReadMe API key",
        "rdme_",
        Body::Alnum,
        70,
        70,
    ),
    k(
        "rubygems-api-key",
        "RubyGems API key",
        "rubygems_",
        Body::Hex,
        48,
        48,
    ),
    k(
        "clojars-token",
        "Clojars deploy token",
        "CLOJARS_",
        Body::Alnum,
        60,
        60,
    ),
    k(
        "slack-app-token",
        "Slack app-level or configuration token",
        "xapp-",
        Body::Url,
        30,
        200,
    ),
    k(
        "slack-app-token",
        "Slack app-level or configuration token",
        "xoxe.xoxp-",
        Body::Url,
        30,
        200,
    ),
    k(
        "slack-app-token",
        "Slack app-level or configuration token",
        "xoxe-",
        Body::Url,
        30,
        200,
    ),
    k(
        "google-oauth-secret",
        "Google OAuth client secret",
        "GOCSPX-",
        Body::Url,
        28,
        28,
    ),
    k(
        "google-oauth-token",
        "Google OAuth access token",
        "ya29.",
        Body::Url,
        30,
        2048,
    ),
    k(
        "artifactory-api-key",
        "JFrog Artifactory API key",
        "AKCp",
        Body::Alnum,
        69,
        69,
    ),
    k(
        "stripe-key",
        "Stripe secret, restricted or webhook key",
        "sk_test_",
        Body::Alnum,
        24,
        247,
    ),
    k(
        "stripe-key",
        "Stripe secret, restricted or webhook key",
        "rk_test_",
        Body::Alnum,
        24,
        247,
    ),
    k(
        "stripe-key",
        "Stripe secret, restricted or webhook key",
        "whsec_",
        Body::B64,
        32,
        64,
    ),
    k(
        "mailgun-api-key",
        "Mailgun API key",
        "key-",
        Body::Hex,
        32,
        32,
    ),
    k(
        "brevo-api-key",
        "Brevo (Sendinblue) API key",
        "xkeysib-",
        Body::Url,
        81,
        81,
    ),
    k(
        "mapbox-secret-token",
        "Mapbox secret token",
        "sk.eyJ",
        Body::Dotted,
        60,
        300,
    ),
    k(
        "dynatrace-token",
        "Dynatrace API token",
        "dt0c01.",
        Body::Dotted,
        90,
        90,
    ),
    k(
        "easypost-api-key",
        "EasyPost API key",
        "EZAK",
        Body::Alnum,
        54,
        54,
    ),
    k(
        "duffel-token",
        "Duffel access token",
        "duffel_live_",
        Body::Url,
        43,
        43,
    ),
    k(
        "duffel-token",
        "Duffel access token",
        "duffel_test_",
        Body::Url,
        43,
        43,
    ),
    k(
        "flutterwave-secret",
        "Flutterwave secret key",
        "FLWSECK_TEST-",
        Body::Url,
        33,
        40,
    ),
    k(
        "flutterwave-secret",
        "Flutterwave secret key",
        "FLWSECK-",
        Body::Url,
        33,
        40,
    ),
    k(
        "atlassian-api-token",
        "Atlassian API token",
        "ATATT3",
        Body::Url,
        180,
        200,
    ),
    k(
        "dropbox-token",
        "Dropbox access token",
        "sl.",
        Body::Url,
        130,
        1400,
    ),
    k(
        "flyio-token",
        "Fly.io access token",
        "fo1_",
        Body::Url,
        43,
        43,
    ),
    k(
        "typeform-token",
        "Typeform personal access token",
        "tfp_",
        Body::Dotted,
        59,
        70,
    ),
    k("gitlab-token", "GitLab token", "glcbt-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "glimt-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "glptt-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "gloas-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "glsoat-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "glffct-", Body::Url, 20, 64),
    k("gitlab-token", "GitLab token", "glft-", Body::Url, 20, 64),
    k(
        "gitlab-token",
        "GitLab token",
        "glagent-",
        Body::Url,
        20,
        64,
    ),
    k("nuget-api-key", "NuGet API key", "oy2", Body::Alnum, 43, 43),
    k(
        "docker-hub-token",
        "Docker Hub personal access token",
        "dckr_pat_",
        Body::Url,
        27,
        27,
    ),
    k(
        "onepassword-token",
        "1Password service account token",
        "ops_eyJ",
        Body::Dotted,
        200,
        1200,
    ),
    k(
        "alibaba-access-key-id",
        "Alibaba Cloud AccessKey ID",
        "LTAI",
        Body::Alnum,
        20,
        20,
    ),
    k(
        "tencent-secret-id",
        "Tencent Cloud SecretId",
        "AKID",
        Body::Alnum,
        32,
        32,
    ),
    k(
        "github-token",
        "GitHub installation access token (v1)",
        "v1.",
        Body::Hex,
        40,
        40,
    ),
    k(
        "facebook-access-token",
        "Facebook access token",
        "EAACEdEose0cBA",
        Body::Alnum,
        50,
        300,
    ),
];

/// Base64 DER private keys without PEM armour: PKCS#8 RSA (`MII…IBADANBgkqhkiG9w0BAQEFAASC`),
/// PKCS#1 RSA/DSA (`MII…IBAAK`), SEC1 EC (`MHcCAQEE`, `MIHcAgEBBE`), PKCS#8 EC and Ed25519.
pub const DER_KEY: Known = k(
    "private-key-der",
    "Private key as base64 DER (PKCS#1, PKCS#8, SEC1)",
    "",
    Body::B64,
    64,
    usize::MAX,
);

fn der_private_key(v: &[u8]) -> bool {
    let starts = |p: &[u8]| v.starts_with(p);
    let mii = v.len() > 16 && v.starts_with(b"MII");
    let rsa8 = mii && v[6..].starts_with(b"IBADANBgkqhkiG9w0BAQEFAASC");
    let rsa1 = mii && v[6..].starts_with(b"IBAAK");
    (rsa8
        || rsa1
        || starts(b"MHcCAQEE")
        || starts(b"MIHcAgEBBE")
        || starts(b"MIGHAgEAMBMGByqGSM49")
        || starts(b"MIG2AgEAMBAGByqGSM49")
        || starts(b"MC4CAQAwBQYDK2Vw")
        || starts(b"MFECAQEwBQYDK2Vw"))
        && v.len() >= 64
        && v.iter().all(|&b| Body::B64.allows(b))
}

/// An Azure AD (Entra ID) client secret: 3 characters, a digit, `Q~`, then 31–34 more.
fn azure_client_secret(v: &[u8]) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b"_~.-".contains(b);
    (40..=40).contains(&v.len())
        && v[3].is_ascii_digit()
        && &v[4..6] == b"Q~"
        && v.iter().all(ok)
        && v[6..].iter().any(u8::is_ascii_digit)
        && v[6..].iter().any(u8::is_ascii_uppercase)
}

/// The known credential a value is, if any.
pub fn classify(v: &[u8]) -> Option<(&'static str, &'static str)> {
    if v.len() < 20 {
        return None;
    }
    let found = if der_private_key(v) {
        (entropy(v) >= 5.0).then_some((DER_KEY.id, DER_KEY.description))
    } else if azure_client_secret(v) {
        (entropy(v) >= 4.0).then_some(("azure-client-secret", "Azure AD client secret"))
    } else {
        TABLE.iter().find_map(|t| {
            let body = v.strip_prefix(t.prefix.as_bytes())?;
            (body.len() >= t.min
                && body.len() <= t.max
                && body.iter().all(|&b| t.body.allows(b))
                && body.iter().any(u8::is_ascii_digit)
                && entropy(body) >= 3.0)
                .then_some((t.id, t.description))
        })
    };
    found.filter(|_| !is_placeholder(v))
}

/// Every id and description this module reports (for SARIF rule lists).
pub fn ids() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = TABLE
        .iter()
        .map(|t| (t.id, t.description))
        .chain([
            (DER_KEY.id, DER_KEY.description),
            ("azure-client-secret", "Azure AD client secret"),
        ])
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random-looking body of `n` characters from `alphabet`, from a seed.
    fn body(seed: u64, n: usize, alphabet: &[u8]) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize] as char
            })
            .collect()
    }

    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const HEX: &[u8] = b"0123456789abcdef";

    #[test]
    fn provider_tokens_are_recognised_and_look_alikes_are_not() {
        let shop = format!("shp{}_{}", "at", body(1, 32, HEX));
        assert_eq!(
            classify(shop.as_bytes()).map(|k| k.0),
            Some("shopify-token")
        );
        let hf = format!("h{}_{}", "f", body(2, 34, ALNUM));
        assert_eq!(
            classify(hf.as_bytes()).map(|k| k.0),
            Some("huggingface-token")
        );
        let dop = format!("dop_{}_{}", "v1", body(3, 64, HEX));
        assert_eq!(
            classify(dop.as_bytes()).map(|k| k.0),
            Some("digitalocean-token")
        );
        // Wrong length, wrong alphabet, a placeholder, no randomness.
        assert_eq!(
            classify(format!("shpat_{}", body(1, 31, HEX)).as_bytes()),
            None
        );
        assert_eq!(
            classify(format!("hf_{}-x", body(2, 32, ALNUM)).as_bytes()),
            None
        );
        assert_eq!(classify(b"hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), None);
        assert_eq!(
            classify(b"secret_key_for_the_development_environment_"),
            None
        );
    }

    #[test]
    fn der_private_keys_and_azure_secrets() {
        let pkcs8 = format!("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}", body(4, 200, ALNUM));
        assert_eq!(
            classify(pkcs8.as_bytes()).map(|k| k.0),
            Some("private-key-der")
        );
        // A certificate (public) is not a private key.
        let cert = format!("MIIDXTCCAkWgAwIBAgIJ{}", body(5, 200, ALNUM));
        assert_eq!(classify(cert.as_bytes()), None);
        let azure = format!("Ab{}8Q~{}", "c", body(6, 34, ALNUM));
        assert_eq!(
            classify(azure.as_bytes()).map(|k| k.0),
            Some("azure-client-secret")
        );
    }
}
