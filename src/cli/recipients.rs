//! `encrypt --kind EncryptedSecret --fetch-recipients`: the age recipients shroud-controller
//! publishes in its ConfigMap, fetched from the cluster (the `kubeseal --fetch-cert` of shroud).
//!
//! Owns: parsing `NAMESPACE/NAME` and merging the fetched recipients with `--age`. Must not
//! know: how the controller publishes them (that is `k8s::cluster`), encryption.

use shroud::error::{Error, ExitCode, Result};
use shroud::k8s::cluster;

use super::common;

/// `shroud-system/shroud-controller-recipients`, where deploy/ runs the controller.
pub const DEFAULT: &str = "shroud-system/shroud-controller-recipients";

/// `--age` (if any) followed by the recipients published in ConfigMap `from` (`NAMESPACE/NAME`),
/// comma-separated, without duplicates.
pub fn merge(age: Option<String>, from: &str) -> Result<String> {
    let (ns, name) = from
        .split_once('/')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--fetch-recipients takes NAMESPACE/NAME (default {DEFAULT}), got {from:?}"
            ))
        })?;
    let fetched = common::block_on(async {
        let client = cluster::client().await?;
        cluster::read_recipients(client, ns, name).await
    })
    .map_err(|e| Error::Reported {
        message: e.to_string(),
        code: ExitCode::Generic,
    })?;
    let mut all: Vec<String> = shroud::file::key_list(age.as_deref())?;
    for r in fetched {
        if !all.contains(&r) {
            all.push(r);
        }
    }
    Ok(all.join(","))
}
