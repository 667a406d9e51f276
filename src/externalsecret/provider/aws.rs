//! AWS Secrets Manager (`--provider aws`, the default): names are 1–512 characters of
//! `A-Za-z0-9/_+=.@-` and are used as the key template renders them (a name outside that set
//! is refused, not rewritten: `/` paths are the store's own hierarchy); the one store `--push`
//! writes, idempotently, each request bounded by `SHROUD_SECRETS_MANAGER_TIMEOUT`.
//!
//! Owns: the name rule, the store skeleton, the push. Must not know: manifests, the CLI.

use aws_sdk_secretsmanager::Client;

use super::{Provider, StoreSettings, comment, pair, text};
use crate::external::{self, Service};
use crate::externalsecret::EsoError;
use crate::secret::SecretBytes;
use crate::tree::Map;

#[derive(Debug)]
pub struct Aws;

/// The longest name Secrets Manager accepts.
const MAX: usize = 512;

impl Provider for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn title(&self) -> &'static str {
        "AWS Secrets Manager"
    }

    fn default_store(&self) -> &'static str {
        "aws-secrets-manager"
    }

    fn remote_key(&self, rendered: &str) -> Result<String, String> {
        if rendered.is_empty() || rendered.len() > MAX {
            return Err(format!("it must be 1 to {MAX} characters"));
        }
        if let Some(c) = rendered
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
        {
            return Err(format!("{c:?} is not allowed"));
        }
        Ok(rendered.to_owned())
    }

    fn store_block(&self, settings: &StoreSettings) -> Map {
        let mut m = Map::new();
        pair(&mut m, "service", text("SecretsManager"));
        comment(&mut m, "The region that holds the secrets (--region).");
        pair(
            &mut m,
            "region",
            text(settings.region.as_deref().unwrap_or("us-east-1")),
        );
        for line in [
            "Authentication: fill in. Without `auth`, ESO uses the credentials of its own pod",
            "(IRSA: the role annotated on the external-secrets ServiceAccount). It needs",
            "secretsmanager:GetSecretValue and DescribeSecret on the referenced names.",
            "A ServiceAccount of your own (IRSA):",
            "auth:",
            "  jwt:",
            "    serviceAccountRef:",
            "      name: external-secrets",
            "      namespace: external-secrets   # ClusterSecretStore only",
            "Or access keys kept in a Secret:",
            "auth:",
            "  secretRef:",
            "    accessKeyIDSecretRef: {name: aws-credentials, key: access-key-id}",
            "    secretAccessKeySecretRef: {name: aws-credentials, key: secret-access-key}",
        ] {
            comment(&mut m, line);
        }
        m
    }
}

/// What a push did (or would do) for one remote key.
#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Created,
    Updated,
    Unchanged,
}

fn sm_err<E: std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    e: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    let chain = crate::text::one_line(e);
    if chain.contains("credentials") || chain.contains("Credentials") {
        format!(
            "{chain}; configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role)"
        )
    } else {
        chain
    }
}

/// Bounds one Secrets Manager request by `SHROUD_SECRETS_MANAGER_TIMEOUT`: an endpoint that
/// accepts the connection and never answers must not hang `--push`.
async fn bounded<T>(
    what: String,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, EsoError> {
    external::timed(Service::SecretsManager, &what, fut)
        .await
        .map_err(|e| EsoError::Push(e.to_string()))
}

/// Creates or updates one secret, idempotently.
pub async fn push(
    client: &Client,
    key: &str,
    value: &SecretBytes,
    dry_run: bool,
) -> Result<PushOutcome, EsoError> {
    let wanted = value.as_str().unwrap_or_default();
    let current = bounded(
        format!("reading {key}"),
        client.get_secret_value().secret_id(key).send(),
    )
    .await?;
    let outcome = match current {
        Ok(cur) => {
            if cur.secret_string() == Some(wanted) {
                PushOutcome::Unchanged
            } else {
                PushOutcome::Updated
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            PushOutcome::Created
        }
        Err(e) => return Err(EsoError::Push(format!("reading {key}: {}", sm_err(&e)))),
    };
    if dry_run {
        return Ok(outcome);
    }
    match outcome {
        PushOutcome::Created => {
            bounded(
                format!("creating {key}"),
                client
                    .create_secret()
                    .name(key)
                    .secret_string(wanted)
                    .send(),
            )
            .await?
            .map_err(|e| EsoError::Push(format!("creating {key}: {}", sm_err(&e))))?;
        }
        PushOutcome::Updated => {
            bounded(
                format!("updating {key}"),
                client
                    .put_secret_value()
                    .secret_id(key)
                    .secret_string(wanted)
                    .send(),
            )
            .await?
            .map_err(|e| EsoError::Push(format!("updating {key}: {}", sm_err(&e))))?;
        }
        PushOutcome::Unchanged => {}
    }
    Ok(outcome)
}

/// A Secrets Manager client from the standard AWS chain (`AWS_ENDPOINT_URL`, profiles, IRSA).
pub async fn client(region: Option<String>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    Client::new(&loader.load().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_used_as_rendered_or_refused() {
        assert_eq!(Aws.remote_key("prod/demo/db").unwrap(), "prod/demo/db");
        assert_eq!(Aws.remote_key("a_b+c=d.e@f-g").unwrap(), "a_b+c=d.e@f-g");
        assert!(Aws.remote_key("prod demo").unwrap_err().contains("' '"));
        assert!(Aws.remote_key("").is_err());
        assert!(Aws.remote_key(&"a".repeat(513)).is_err());
        assert!(Aws.remote_key(&"a".repeat(512)).is_ok());
        assert!(Aws.push_unavailable().is_none());
    }
}
