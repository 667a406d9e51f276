//! Rollout on change: an `EncryptedSecret` annotated `shroud.io/rollout-on-change: "true"`
//! restarts, when its Secret's data changes, the Deployments, StatefulSets and DaemonSets of
//! its namespace whose pod templates use that Secret (env `valueFrom.secretKeyRef`, `envFrom`,
//! `secret` volumes, projected volumes), by stamping a checksum annotation on their pod
//! template (`checksum.shroud.io/<secret>`), which makes their controllers roll them.
//!
//! The checksum is an HMAC-SHA256 of the Secret's type and data under a random salt kept on
//! the Secret (`shroud.io/checksum-salt`): it changes exactly when the data does and tells a
//! reader of the workload nothing about the values. Whether the current data was rolled out is
//! kept on the Secret too (`shroud.io/rolled-out`), so the decision is level-triggered: a
//! restart of the controller, or a retry after a failed patch, stamps what is still missing and
//! nothing else, and unchanged data restarts nothing.
//!
//! Owns: those annotations, the checksum, which pod templates use a Secret, which workloads to
//! stamp, and stamping them. Must not know: decryption, status, leader election.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use sha2::Sha256;

use crate::k8s::crd::EncryptedSecret;

/// The `EncryptedSecret` annotation that turns rollouts on.
pub const ROLLOUT_ANNOTATION: &str = "shroud.io/rollout-on-change";
/// The Secret annotations: the checksum's salt, and the checksum last rolled out.
pub const SALT_ANNOTATION: &str = "shroud.io/checksum-salt";
pub const ROLLED_OUT_ANNOTATION: &str = "shroud.io/rolled-out";
/// The prefix of the pod-template annotation (`checksum.shroud.io/<secret name>`).
pub const CHECKSUM_PREFIX: &str = "checksum.shroud.io/";

/// The longest name part of an annotation key.
const NAME_PART_MAX: usize = 63;

/// Whether `es` asks for rollouts (the annotation's value is exactly `true`).
pub fn wanted(es: &EncryptedSecret) -> bool {
    annotation(&es.metadata.annotations, ROLLOUT_ANNOTATION) == Some("true")
}

fn annotation<'a>(a: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    a.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// The pod-template annotation for Secret `name`: `checksum.shroud.io/NAME`, or for a name
/// longer than an annotation's name part allows, its start and a hash of the whole name.
pub fn checksum_key(name: &str) -> String {
    if name.len() <= NAME_PART_MAX {
        return format!("{CHECKSUM_PREFIX}{name}");
    }
    use sha2::Digest;
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let head = name[..NAME_PART_MAX - 17].trim_end_matches(['-', '.']);
    format!("{CHECKSUM_PREFIX}{head}-{hash}")
}

/// A new random salt (hex).
pub fn new_salt() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checksum of a Secret's type and data under `salt`: 32 hex digits of an HMAC-SHA256
/// over length-prefixed fields, so no two different contents share an input.
pub fn checksum(salt: &str, type_: &str, data: &BTreeMap<String, ByteString>) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).expect("HMAC takes any key");
    let mut field = |b: &[u8]| {
        mac.update(&(b.len() as u64).to_le_bytes());
        mac.update(b);
    };
    field(type_.as_bytes());
    for (k, v) in data {
        field(k.as_bytes());
        field(&v.0);
    }
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The rollout annotations the Secret should carry (salt, rolled-out checksum) given the live
/// Secret, and the checksum of the desired content. A new Secret (nothing ran with other
/// data) and a Secret first seen with rollouts on and unchanged data start rolled out; a live
/// Secret keeps its salt and what it says was rolled out; a change of data on a Secret that
/// never recorded a rollout is pending (empty).
pub struct Marks {
    pub salt: String,
    pub rolled_out: String,
    pub checksum: String,
}

pub fn marks(
    existing: Option<&Secret>,
    type_: &str,
    data: &BTreeMap<String, ByteString>,
    data_changed: bool,
) -> Marks {
    let live = existing.map(|s| &s.metadata.annotations);
    let salt = live
        .and_then(|a| annotation(a, SALT_ANNOTATION))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(new_salt);
    let checksum = checksum(&salt, type_, data);
    let rolled_out = match (
        existing,
        live.and_then(|a| annotation(a, ROLLED_OUT_ANNOTATION)),
    ) {
        (None, _) => checksum.clone(),
        (Some(_), Some(r)) => r.to_owned(),
        (Some(_), None) if data_changed => String::new(),
        (Some(_), None) => checksum.clone(),
    };
    Marks {
        salt,
        rolled_out,
        checksum,
    }
}

impl Marks {
    /// Whether workloads still have to be stamped with [`Marks::checksum`].
    pub fn pending(&self) -> bool {
        self.rolled_out != self.checksum
    }
}

/// Whether a pod spec reads Secret `name`: env `valueFrom.secretKeyRef` and `envFrom`
/// of any container (init and ephemeral too), `secret` volumes and projected `secret` sources.
pub fn uses_secret(spec: &PodSpec, name: &str) -> bool {
    let named = |n: &Option<String>| n.as_deref() == Some(name);
    let env_uses =
        |env: &Option<Vec<k8s_openapi::api::core::v1::EnvVar>>,
         env_from: &Option<Vec<k8s_openapi::api::core::v1::EnvFromSource>>| {
            env.iter().flatten().any(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .is_some_and(|r| r.name == name)
            }) || env_from
                .iter()
                .flatten()
                .any(|e| e.secret_ref.as_ref().is_some_and(|r| r.name == name))
        };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| env_uses(&c.env, &c.env_from));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .any(|c| env_uses(&c.env, &c.env_from));
    let volumes = spec.volumes.iter().flatten().any(|v| {
        v.secret.as_ref().is_some_and(|s| named(&s.secret_name))
            || v.projected.as_ref().is_some_and(|p| {
                p.sources
                    .iter()
                    .flatten()
                    .any(|s| s.secret.as_ref().is_some_and(|s| s.name == name))
            })
    });
    containers || ephemeral || volumes
}

/// Whether a workload's pod template must be stamped: it uses the Secret and does not carry
/// the current checksum yet.
pub fn needs_stamp(template: &PodTemplateSpec, secret: &str, checksum: &str) -> bool {
    let Some(spec) = &template.spec else {
        return false;
    };
    let current = template
        .metadata
        .as_ref()
        .and_then(|m| annotation(&m.annotations, &checksum_key(secret)));
    uses_secret(spec, secret) && current != Some(checksum)
}

/// The merge patch that stamps a pod template.
pub fn stamp_patch(secret: &str, checksum: &str) -> serde_json::Value {
    json!({"spec": {"template": {"metadata": {"annotations": {checksum_key(secret): checksum}}}}})
}

/// `Deployment/a, StatefulSet/b and 3 more`: the stamped workloads for an Event.
pub fn summary(stamped: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = stamped
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if stamped.len() > SHOWN {
        out.push_str(&format!(" and {} more", stamped.len() - SHOWN));
    }
    out
}

/// Stamps every Deployment, StatefulSet and DaemonSet of `ns` that uses Secret `secret` and
/// lacks `checksum`. Returns `Kind/name` of each one stamped.
pub async fn stamp(
    client: &Client,
    ns: &str,
    secret: &str,
    checksum: &str,
    manager: &str,
) -> kube::Result<Vec<String>> {
    let mut out = Vec::new();
    let patch = stamp_patch(secret, checksum);
    let pp = PatchParams {
        field_manager: Some(manager.to_owned()),
        ..Default::default()
    };
    macro_rules! each {
        ($kind:ty, $label:literal) => {{
            let api: Api<$kind> = Api::namespaced(client.clone(), ns);
            for w in api.list(&ListParams::default()).await? {
                let uses = w
                    .spec
                    .as_ref()
                    .is_some_and(|s| needs_stamp(&s.template, secret, checksum));
                if uses {
                    api.patch(&w.name_any(), &pp, &Patch::Merge(&patch)).await?;
                    out.push(format!("{}/{}", $label, w.name_any()));
                }
            }
        }};
    }
    each!(Deployment, "Deployment");
    each!(StatefulSet, "StatefulSet");
    each!(DaemonSet, "DaemonSet");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn data(kv: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn every_way_a_pod_reads_a_secret_counts_and_nothing_else() {
        let uses = |v| uses_secret(&spec(v), "db");
        let c = |extra: serde_json::Value| {
            let mut c = json!({"name": "c", "image": "x"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            c
        };
        assert!(uses(json!({"containers": [c(json!({"env": [
            {"name": "A", "value": "db"},
            {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
        ]}))]})));
        assert!(uses(
            json!({"containers": [c(json!({}))], "initContainers": [
                c(json!({"envFrom": [{"secretRef": {"name": "db"}}]}))
            ]})
        ));
        assert!(uses(json!({"containers": [c(json!({}))],
            "volumes": [{"name": "v", "secret": {"secretName": "db"}}]})));
        assert!(uses(json!({"containers": [c(json!({}))],
        "volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "db"}}, {"secret": {"name": "db"}}
        ]}}]})));
        // Other Secrets, ConfigMaps of that name, image pull secrets: not a use.
        assert!(!uses(json!({"containers": [c(json!({"env": [
            {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db2", "key": "k"}}},
            {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "k"}}}
        ], "envFrom": [{"configMapRef": {"name": "db"}}]}))],
            "imagePullSecrets": [{"name": "db"}],
            "volumes": [{"name": "v", "configMap": {"name": "db"}},
                        {"name": "w", "secret": {"secretName": "dbx"}}]})));
    }

    #[test]
    fn checksums_change_with_the_data_only_and_hide_it() {
        let a = checksum("s1", "Opaque", &data(&[("k", "v")]));
        assert_eq!(a, checksum("s1", "Opaque", &data(&[("k", "v")])));
        assert_eq!(a.len(), 32);
        assert_ne!(a, checksum("s1", "Opaque", &data(&[("k", "w")])));
        assert_ne!(a, checksum("s1", "kubernetes.io/tls", &data(&[("k", "v")])));
        assert_ne!(a, checksum("s2", "Opaque", &data(&[("k", "v")])));
        // Field boundaries are part of the input.
        assert_ne!(
            checksum("s", "Opaque", &data(&[("ab", "c")])),
            checksum("s", "Opaque", &data(&[("a", "bc")]))
        );
        // Not a plain hash of the value a reader of the workload could try guesses against.
        use sha2::Digest;
        let plain: String = Sha256::digest(b"v")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!plain.starts_with(&a));
        assert_ne!(new_salt(), new_salt());
    }

    #[test]
    fn annotation_keys_are_valid_for_every_secret_name() {
        let name_part = regex::Regex::new(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$").unwrap();
        for n in [
            "db",
            "db.creds",
            &"a".repeat(63),
            &"a".repeat(64),
            &format!("{}.b", "a-".repeat(80)),
        ] {
            let k = checksum_key(n);
            let part = k.strip_prefix(CHECKSUM_PREFIX).unwrap();
            assert!(part.len() <= 63 && name_part.is_match(part), "{n} -> {k}");
        }
        assert_eq!(checksum_key("db"), "checksum.shroud.io/db");
        assert_ne!(checksum_key(&"a".repeat(64)), checksum_key(&"a".repeat(65)));
    }

    fn secret(annotations: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn rollouts_are_pending_only_after_a_change_of_data() {
        let d = data(&[("k", "v")]);
        // A new Secret: nothing to restart.
        let m = marks(None, "Opaque", &d, true);
        assert!(!m.pending());
        // Rollouts turned on for an existing Secret whose data is unchanged: nothing either.
        let m = marks(Some(&secret(&[])), "Opaque", &d, false);
        assert!(!m.pending());
        // ... and with changed data at the same time: pending.
        let m = marks(Some(&secret(&[])), "Opaque", &d, true);
        assert!(m.pending());
        // The salt is kept; unchanged data that was rolled out: nothing (a controller restart).
        let cs = checksum("salt", "Opaque", &d);
        let live = secret(&[(SALT_ANNOTATION, "salt"), (ROLLED_OUT_ANNOTATION, &cs)]);
        let m = marks(Some(&live), "Opaque", &d, false);
        assert_eq!(
            (m.salt.as_str(), m.checksum.as_str()),
            ("salt", cs.as_str())
        );
        assert!(!m.pending());
        // New data: pending until recorded, also when the previous attempt failed half-way
        // (the Secret already holds the new data: data_changed is false then).
        let d2 = data(&[("k", "v2")]);
        assert!(marks(Some(&live), "Opaque", &d2, true).pending());
        assert!(marks(Some(&live), "Opaque", &d2, false).pending());
    }

    #[test]
    fn only_templates_using_the_secret_without_the_checksum_are_stamped() {
        let t = |annotations: serde_json::Value, secret: &str| -> PodTemplateSpec {
            serde_json::from_value(json!({
                "metadata": {"annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": "x",
                    "envFrom": [{"secretRef": {"name": secret}}]}]}
            }))
            .unwrap()
        };
        assert!(needs_stamp(&t(json!({}), "db"), "db", "c1"));
        assert!(needs_stamp(
            &t(json!({"checksum.shroud.io/db": "c0"}), "db"),
            "db",
            "c1"
        ));
        assert!(!needs_stamp(
            &t(json!({"checksum.shroud.io/db": "c1"}), "db"),
            "db",
            "c1"
        ));
        assert!(!needs_stamp(&t(json!({}), "other"), "db", "c1"));
        assert!(!needs_stamp(&PodTemplateSpec::default(), "db", "c1"));
        let many: Vec<String> = (0..7).map(|i| format!("Deployment/w{i}")).collect();
        assert_eq!(summary(&many[..2]), "Deployment/w0, Deployment/w1");
        assert!(summary(&many).ends_with("Deployment/w4 and 2 more"));
        assert_eq!(
            stamp_patch("db", "c1"),
            json!({"spec": {"template": {"metadata": {"annotations": {"checksum.shroud.io/db": "c1"}}}}})
        );
    }
}
