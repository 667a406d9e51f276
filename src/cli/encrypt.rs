//! `shroud encrypt`: encrypt a plaintext file for the recipients of the flags or `.sops.yaml`.

use shroud::config;
use shroud::document;
use shroud::error::{Error, Result};
use shroud::fsutil::Mode;

use super::Global;
use super::common::{self, KeyFlags, Outcome, RuleFlags};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub io: common::IoArgs,
    /// Produce a Kubernetes object of this kind from a plain manifest. `EncryptedSecret`: read a
    /// Secret manifest, write a shroud.dev/v1alpha1 EncryptedSecret for shroud-controller.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// With --kind: the namespace the object is bound to (default: the manifest's).
    #[arg(long, value_name = "NAMESPACE", requires = "kind")]
    pub namespace: Option<String>,
    /// With --kind EncryptedSecret: also encrypt for the age recipients shroud-controller
    /// publishes in the cluster (ConfigMap NAMESPACE/NAME, default
    /// shroud-system/shroud-controller-recipients; KUBECONFIG or in-cluster credentials).
    #[cfg(feature = "cluster")]
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = super::recipients::DEFAULT,
        requires = "kind"
    )]
    pub fetch_recipients: Option<String>,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
}

pub fn run(#[allow(unused_mut)] mut a: Args, g: &Global) -> Result<Outcome> {
    #[cfg(feature = "cluster")]
    if let Some(from) = &a.fetch_recipients {
        a.keys.age = Some(super::recipients::merge(a.keys.age.take(), from)?);
    }
    let common::ReadInput {
        input,
        name,
        in_fmt,
        out_fmt,
        lock: _lock,
    } = a.io.read()?;
    let cfg = config::discover(g.config.as_deref(), name.as_deref())?;
    let spec = common::encrypt_spec(
        &input.label,
        name.as_deref(),
        &a.keys,
        &a.rules,
        cfg.as_ref(),
    )?;
    if let Some(kind) = &a.kind {
        let bytes = encrypted_secret(
            &a,
            kind,
            &input.label,
            (in_fmt, out_fmt),
            input.bytes.expose(),
            &spec,
            g,
        )?;
        a.io.write(&input, &bytes, Mode::KeepOr(0o644))?;
        return Ok(Outcome::Done);
    }
    let tree = document::load_plain(&input.label, in_fmt, input.bytes.expose())?;
    let (tree, md, _key) = common::block_on(document::encrypt(
        &input.label,
        in_fmt,
        tree,
        &spec,
        &common::keyring_for_encrypt(),
    ))?;
    let opts = common::emit_options(g, out_fmt, cfg.as_ref());
    let bytes = document::emit_encrypted(&input.label, out_fmt, tree, &md, opts)?;
    a.io.write(&input, &bytes, Mode::KeepOr(0o644))?;
    Ok(Outcome::Done)
}

/// `--kind EncryptedSecret`: a plain Secret manifest becomes an EncryptedSecret whose payload
/// is encrypted and whose name and namespace are MAC-covered (see docs/controller.md).
fn encrypted_secret(
    a: &Args,
    kind: &str,
    label: &str,
    (in_fmt, out_fmt): (shroud::store::Format, shroud::store::Format),
    bytes: &[u8],
    spec: &document::EncryptSpec,
    g: &Global,
) -> Result<Vec<u8>> {
    use shroud::k8s::manifest::{self, ManifestError};
    use shroud::store::{EmitOptions, Format};
    if kind != "EncryptedSecret" {
        return Err(Error::Usage(format!(
            "--kind {kind:?} is not supported (supported: EncryptedSecret)"
        )));
    }
    if !matches!(in_fmt, Format::Yaml | Format::Json)
        || !matches!(out_fmt, Format::Yaml | Format::Json)
    {
        return Err(Error::Usage(
            "--kind EncryptedSecret reads and writes YAML or JSON manifests".into(),
        ));
    }
    let tree = document::load_plain(label, in_fmt, bytes)?;
    let secret = match tree.branches.as_slice() {
        [one] => one,
        _ => {
            return Err(Error::Usage(format!(
                "{label}: --kind EncryptedSecret takes exactly one Secret document"
            )));
        }
    };
    let opts = EmitOptions {
        indent: g.indent.or(Some(2)),
    };
    common::block_on(manifest::encrypt_secret(
        label,
        secret,
        a.namespace.as_deref(),
        spec,
        &common::keyring_for_encrypt(),
        out_fmt,
        opts,
    ))
    .map_err(|e| match e {
        ManifestError::Document(d) => d,
        other => Error::Usage(format!("{label}: {other}")),
    })
}
