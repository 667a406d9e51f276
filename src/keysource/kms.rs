//! AWS KMS entries: `arn`, optional `role`, encryption `context`, `aws_profile`, `created_at`
//! and the base64 `enc` ciphertext blob, as sops writes them.
//!
//! Must not know: trees, stores.

/// One `kms` metadata entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKey {
    pub arn: String,
    pub role: Option<String>,
    /// The KMS encryption context, in file order.
    pub context: Vec<(String, String)>,
    pub aws_profile: Option<String>,
    pub created_at: String,
    /// Standard base64 of the KMS `CiphertextBlob`.
    pub enc: String,
}

impl KmsKey {
    /// sops's identity string: `arn[+role][|k:v,… sorted][|profile]`.
    pub fn identity(&self) -> String {
        let mut s = self.arn.clone();
        if let Some(r) = &self.role {
            s.push('+');
            s.push_str(r);
        }
        if !self.context.is_empty() {
            let mut ctx: Vec<String> = self
                .context
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            ctx.sort();
            s.push('|');
            s.push_str(&ctx.join(","));
        }
        if let Some(p) = &self.aws_profile {
            s.push('|');
            s.push_str(p);
        }
        s
    }
}
