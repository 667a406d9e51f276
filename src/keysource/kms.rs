//! The AWS KMS key source: wrap and unwrap a data key with `aws-sdk-kms`, exactly as sops does
//! (region from the ARN, the encryption context sent on both calls, an optional role assumed
//! through STS with session name `sops@<host>`, an optional shared-config profile).
//!
//! Owns: creating and opening `kms` entries, one SDK client per (region, profile, role) created lazily
//! and reused, every call bounded by `SHROUD_KMS_TIMEOUT` (an endpoint that accepts and never
//! answers must not hang a command), and turning SDK failures into one-line, actionable errors.
//! Credentials and endpoints come from the standard AWS chain (`AWS_ENDPOINT_URL[_KMS]`,
//! profiles, web identity for IRSA), so the same code runs on a laptop, in CI and in a pod.
//! Must not know: trees, stores.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::KeyError;
use crate::external::{self, Service};
use crate::metadata::KmsKey;
use crate::secret::SecretBytes;

/// The region of a KMS key or alias ARN (`arn:aws[-partition]:kms:REGION:ACCOUNT:key/…`).
pub(crate) fn region_of(arn: &str) -> Result<&str, KeyError> {
    let bad = || KeyError::BadRecipient {
        recipient: arn.to_owned(),
        reason: "not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME)"
            .into(),
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || !parts[1].starts_with("aws")
        || parts[2] != "kms"
        || parts[3].is_empty()
        || parts[4].is_empty()
        || !parts[4].bytes().all(|b| b.is_ascii_digit())
        || !(parts[5].starts_with("key/") || parts[5].starts_with("alias/"))
        || parts[5].ends_with('/')
    {
        return Err(bad());
    }
    Ok(parts[3])
}

/// sops's STS session name: `sops@<hostname>`, restricted characters, at most 64.
fn session_name() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let name: String = format!("sops@{host}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@_-".contains(*c))
        .take(64)
        .collect();
    name
}

type ClientKey = (String, Option<String>, Option<String>);

/// KMS clients, created on first use and reused for every file of a run.
#[derive(Default)]
pub struct Clients {
    cache: tokio::sync::Mutex<HashMap<ClientKey, Client>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kms::Clients")
    }
}

impl Clients {
    async fn client(&self, region: &str, profile: Option<&str>, role: Option<&str>) -> Client {
        let key = (
            region.to_owned(),
            profile.map(str::to_owned),
            role.map(str::to_owned),
        );
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(&key) {
            return c.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let base = loader.load().await;
        let mut conf = aws_sdk_kms::config::Builder::from(&base);
        if let Some(role) = role {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(session_name())
                .configure(&base)
                .build()
                .await;
            conf = conf.credentials_provider(provider);
        }
        let client = Client::from_conf(conf.build());
        cache.insert(key, client.clone());
        client
    }
}

/// A one-line explanation of an SDK failure, with what to do about it.
fn explain<E, R>(err: &SdkError<E, R>, service: impl FnOnce(&E) -> Option<String>) -> String
where
    E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    let chain = crate::text::one_line(err);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            if let Some(m) = service(e) {
                return m;
            }
            let code = e.code().unwrap_or("error");
            let msg = e.message().unwrap_or("");
            match code {
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId" => {
                    format!(
                        "access denied by AWS KMS ({code}: {msg}); check the credentials, profile or role"
                    )
                }
                _ => format!("AWS KMS refused the request ({code}: {msg})"),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            if chain.contains("credentials") || chain.contains("Credentials") {
                format!(
                    "no usable AWS credentials ({chain}); set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use a role"
                )
            } else {
                format!("cannot reach AWS KMS ({chain}); check the network or AWS_ENDPOINT_URL")
            }
        }
        SdkError::ConstructionFailure(_) => {
            format!(
                "cannot build the KMS request ({chain}); are AWS credentials configured (AWS_PROFILE, AWS_ACCESS_KEY_ID)?"
            )
        }
        _ => format!("AWS KMS call failed ({chain})"),
    }
}

fn context_map(ctx: &[(String, String)]) -> Option<HashMap<String, String>> {
    (!ctx.is_empty()).then(|| ctx.iter().cloned().collect())
}

/// Wraps `secret` with a KMS key.
pub async fn wrap(
    clients: &Clients,
    arn: &str,
    role: Option<&str>,
    context: &[(String, String)],
    profile: Option<&str>,
    secret: &[u8],
) -> Result<KmsKey, KeyError> {
    let region = region_of(arn)?;
    let out = external::timed(Service::Kms, &format!("Encrypt with {arn}"), async {
        let client = clients.client(region, profile, role).await;
        client
            .encrypt()
            .key_id(arn)
            .plaintext(Blob::new(secret.to_vec()))
            .set_encryption_context(context_map(context))
            .send()
            .await
    })
    .await
    .map_err(|e| KeyError::Wrap {
        key: arn.to_owned(),
        reason: e.to_string(),
    })?
    .map_err(|e| KeyError::Wrap {
        key: arn.to_owned(),
        reason: explain(&e, |se| match se {
            aws_sdk_kms::operation::encrypt::EncryptError::NotFoundException(_) => {
                Some(format!("KMS key not found in {region}; check the ARN"))
            }
            aws_sdk_kms::operation::encrypt::EncryptError::DisabledException(_) => {
                Some("the KMS key is disabled; enable it or use another key".into())
            }
            aws_sdk_kms::operation::encrypt::EncryptError::KmsInvalidStateException(_) => {
                Some("the KMS key is pending deletion or unavailable".into())
            }
            _ => None,
        }),
    })?;
    let blob = out.ciphertext_blob().ok_or_else(|| KeyError::Wrap {
        key: arn.to_owned(),
        reason: "AWS KMS returned no ciphertext".into(),
    })?;
    Ok(KmsKey {
        arn: arn.to_owned(),
        role: role.map(str::to_owned),
        context: context.to_vec(),
        aws_profile: profile.map(str::to_owned),
        created_at: crate::timestamp::Timestamp::now_utc().to_rfc3339(),
        enc: B64.encode(blob.as_ref()),
    })
}

/// Unwraps the data key (or share) held by a `kms` entry.
pub async fn unwrap(clients: &Clients, key: &KmsKey) -> Result<SecretBytes, KeyError> {
    let fail = |reason: String| KeyError::Unwrap {
        key: format!("AWS KMS {}", key.arn),
        reason,
    };
    let region = region_of(&key.arn)?;
    let blob = B64.decode(key.enc.trim()).map_err(|_| KeyError::Envelope {
        key: format!("AWS KMS {}", key.arn),
        reason: "the enc field is not base64: it was altered".into(),
    })?;
    let out = external::timed(Service::Kms, &format!("Decrypt with {}", key.arn), async {
        let client = clients
            .client(region, key.aws_profile.as_deref(), key.role.as_deref())
            .await;
        client
            .decrypt()
            .key_id(&key.arn)
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(context_map(&key.context))
            .send()
            .await
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(|e| {
            use aws_sdk_kms::operation::decrypt::DecryptError as D;
            if let SdkError::ServiceError(se) = &e
                && matches!(se.err(), D::InvalidCiphertextException(_))
            {
                return KeyError::Envelope {
                    key: format!("AWS KMS {}", key.arn),
                    reason: "AWS KMS rejected the ciphertext: the enc field or its encryption context was altered".into(),
                };
            }
            fail(explain(&e, |se| match se {
                aws_sdk_kms::operation::decrypt::DecryptError::IncorrectKeyException(_) => {
                    Some("the ciphertext was encrypted under a different KMS key".into())
                }
                aws_sdk_kms::operation::decrypt::DecryptError::NotFoundException(_) => {
                    Some(format!("KMS key not found in {region}; check the ARN"))
                }
                aws_sdk_kms::operation::decrypt::DecryptError::DisabledException(_) => {
                    Some("the KMS key is disabled; enable it to decrypt".into())
                }
                aws_sdk_kms::operation::decrypt::DecryptError::KmsInvalidStateException(_) => {
                    Some("the KMS key is pending deletion or unavailable; cancel the deletion to decrypt".into())
                }
                _ => None,
            }))
        })?;
    let plain = out
        .plaintext()
        .ok_or_else(|| fail("AWS KMS returned no plaintext".into()))?;
    Ok(SecretBytes::from_slice(plain.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_arns() {
        assert_eq!(
            region_of("arn:aws:kms:eu-north-1:822284028627:key/a219f9b1").unwrap(),
            "eu-north-1"
        );
        assert_eq!(
            region_of("arn:aws-us-gov:kms:us-gov-west-1:1:alias/x").unwrap(),
            "us-gov-west-1"
        );
        for bad in [
            "arn:aws:kms:us-east-1:abc:key/x",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:1:key/",
            "key/x",
        ] {
            assert!(region_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_name_is_bounded() {
        assert!(session_name().starts_with("sops@") && session_name().len() <= 64);
    }
}
