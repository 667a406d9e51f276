//! How the live Secret is brought to the decrypted one, decided without the API server:
//! nothing, a server-side apply, one replace (PUT) of the whole object, or (for a type change,
//! which Kubernetes refuses in place) a delete and apply. And whose the live Secret is: ours
//! (our controller ownerReference, a leftover of a deleted EncryptedSecret of the same name, or
//! our managed-by label), or someone else's, which is left untouched unless the EncryptedSecret
//! is annotated `shroud.io/adopt: "true"`: then it is taken over in one write (ownerReference
//! set, data replaced), unless another controller owns it.
//!
//! Owns: ownership, adoption and the choice of write. Must not know: decryption, the client.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use super::owned::{MANAGED_BY_LABEL, MANAGER, Reason};
use crate::k8s::crd::{API_VERSION, EncryptedSecret, KIND, LAST_APPLIED_ANNOTATION};
use crate::k8s::wiped::WipedSecret;

/// The `EncryptedSecret` annotation that allows taking over an existing Secret.
pub const ADOPT_ANNOTATION: &str = "shroud.io/adopt";

/// What to write.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// The live Secret already is the desired one.
    Keep,
    /// Server-side apply of the desired Secret (create, or update of ours).
    Apply,
    /// One replace of the whole object (`resourceVersion` precondition): an adoption, or data
    /// keys to remove that apply cannot remove (they were written by someone else).
    Replace(Box<WipedSecret>),
    /// Delete (with `uid` and `resourceVersion` preconditions), then apply: the type changed.
    Recreate,
}

/// Why the Secret is left untouched.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

/// Whose a live Secret is.
#[derive(Debug, PartialEq)]
pub enum Owner {
    /// Written by this controller for this EncryptedSecret, or left by a deleted one of the
    /// same name (the garbage collector would delete it), or labelled as ours.
    Ours,
    /// Another controller owns it (`kind`, `name` of its controller ownerReference).
    Controller(String, String),
    /// Nobody: made by hand, `kubectl apply`, or orphaned.
    Nobody,
}

fn is_es_ref(o: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference) -> bool {
    o.kind == KIND && o.api_version == API_VERSION
}

/// Whose `live` is, seen from `es`.
pub fn owner(live: &Secret, es: &EncryptedSecret) -> Owner {
    let uid = es.uid().unwrap_or_default();
    let refs = live.metadata.owner_references.iter().flatten();
    let controller = refs
        .clone()
        .find(|o| o.controller == Some(true) && !(is_es_ref(o) && o.uid != uid));
    match controller {
        Some(o) if is_es_ref(o) => Owner::Ours,
        Some(o) => Owner::Controller(o.kind.clone(), o.name.clone()),
        None if refs
            .clone()
            .any(|o| is_es_ref(o) && o.controller == Some(true))
            || labelled(live) =>
        {
            Owner::Ours
        }
        None => Owner::Nobody,
    }
}

fn labelled(s: &Secret) -> bool {
    s.metadata
        .labels
        .iter()
        .flatten()
        .any(|(k, v)| k == MANAGED_BY_LABEL && v == MANAGER)
}

/// Whether `es` allows adoption (the annotation's value is exactly `true`).
pub fn adopt_wanted(es: &EncryptedSecret) -> bool {
    es.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ADOPT_ANNOTATION))
        .is_some_and(|v| v == "true")
}

fn type_of(s: &Secret) -> &str {
    s.type_.as_deref().unwrap_or("Opaque")
}

/// Whether two Secrets hold the same data (absent = empty), compared in place: no copy of a
/// value is made.
fn same_data(a: &Secret, b: &Secret) -> bool {
    let empty = BTreeMap::new();
    a.data.as_ref().unwrap_or(&empty) == b.data.as_ref().unwrap_or(&empty)
}

/// Whether every entry of `want` is in `have` with the same value.
fn subset(
    want: &Option<BTreeMap<String, String>>,
    have: &Option<BTreeMap<String, String>>,
) -> bool {
    let empty = BTreeMap::new();
    let have = have.as_ref().unwrap_or(&empty);
    want.iter().flatten().all(|(k, v)| have.get(k) == Some(v))
}

/// Whether the live Secret (ours) already is what we want: same type and data, our labels and
/// annotations present, our controller ownerReference.
pub fn up_to_date(live: &Secret, desired: &Secret, es: &EncryptedSecret) -> bool {
    let uid = es.uid().unwrap_or_default();
    type_of(live) == type_of(desired)
        && same_data(live, desired)
        && subset(&desired.metadata.labels, &live.metadata.labels)
        && subset(&desired.metadata.annotations, &live.metadata.annotations)
        && live
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid && o.controller == Some(true))
}

/// Whether the data of `live` and `desired` differ (what a rollout follows).
pub fn data_changed(live: Option<&Secret>, desired: &Secret) -> bool {
    live.is_none_or(|l| !same_data(l, desired) || type_of(l) != type_of(desired))
}

/// The whole object a replace writes: the live metadata (its resourceVersion as the
/// precondition, other tools' labels and annotations) with ours merged in, every ownerReference
/// but stale EncryptedSecret ones plus ours, kubectl's last-applied annotation dropped (it
/// holds the replaced values), and exactly the desired type and data (a copy, wiped on drop).
pub fn replacement(live: &Secret, desired: &Secret, es: &EncryptedSecret) -> WipedSecret {
    let uid = es.uid().unwrap_or_default();
    let mut meta = live.metadata.clone();
    meta.managed_fields = None;
    let mut labels = meta.labels.take().unwrap_or_default();
    labels.extend(desired.metadata.labels.clone().unwrap_or_default());
    meta.labels = Some(labels);
    let mut annotations = meta.annotations.take().unwrap_or_default();
    annotations.remove(LAST_APPLIED_ANNOTATION);
    annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
    meta.annotations = Some(annotations);
    let mut refs: Vec<_> = meta
        .owner_references
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| !is_es_ref(o))
        .collect();
    refs.extend(
        desired
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default(),
    );
    debug_assert!(
        refs.iter().filter(|o| o.controller == Some(true)).count() <= 1 || uid.is_empty()
    );
    meta.owner_references = Some(refs);
    WipedSecret::new(Secret {
        metadata: meta,
        type_: desired.type_.clone(),
        data: desired.data.clone(),
        immutable: live.immutable,
        ..Default::default()
    })
}

/// The write that brings `live` to `desired` for `es`, or why the Secret is left untouched.
/// `generation_current`: the live Secret records the EncryptedSecret's current generation.
pub fn plan(
    live: Option<&Secret>,
    desired: &Secret,
    es: &EncryptedSecret,
    generation_current: bool,
) -> Result<Plan, Refusal> {
    let Some(live) = live else {
        return Ok(Plan::Apply);
    };
    let name = es.name_any();
    let refuse = |why: String| Refusal {
        reason: Reason::SecretNotOwned,
        message: format!("a Secret named {name} exists and {why}; it was left untouched"),
    };
    let adopting = match owner(live, es) {
        Owner::Ours => false,
        Owner::Controller(kind, owner) => {
            return Err(refuse(format!(
                "is controlled by {kind} {owner}{}",
                if adopt_wanted(es) {
                    format!(
                        ", which would fight over it; remove that owner first (e.g. `kubectl -n NAMESPACE delete {} {owner} --cascade=orphan`), then it is adopted",
                        kind.to_ascii_lowercase()
                    )
                } else {
                    String::new()
                }
            )));
        }
        Owner::Nobody if !adopt_wanted(es) => {
            return Err(refuse(format!(
                "no EncryptedSecret owns it; to take it over (ownerReference set, data replaced by this EncryptedSecret's) annotate the EncryptedSecret {ADOPT_ANNOTATION}=true, or delete the Secret, or rename the EncryptedSecret"
            )));
        }
        Owner::Nobody => true,
    };
    let type_differs = type_of(live) != type_of(desired);
    let data_differs = !same_data(live, desired);
    if adopting {
        if type_differs {
            return Err(refuse(format!(
                "is of type {}, not {} as the EncryptedSecret says, and a Secret's type cannot change in place; delete the Secret (it is then created) or encrypt a Secret of its type",
                type_of(live),
                type_of(desired)
            )));
        }
        if live.immutable == Some(true) && data_differs {
            return Err(refuse(
                "is immutable and its data differs; delete it (it is then created)".into(),
            ));
        }
        return Ok(Plan::Replace(Box::new(replacement(live, desired, es))));
    }
    if up_to_date(live, desired, es) && generation_current {
        return Ok(Plan::Keep);
    }
    if type_differs || (live.immutable == Some(true) && data_differs) {
        return Ok(Plan::Recreate);
    }
    let extra_keys = live
        .data
        .iter()
        .flatten()
        .any(|(k, _)| !desired.data.iter().flatten().any(|(d, _)| d == k));
    let stale_owner = live
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| is_es_ref(o) && o.uid != es.uid().unwrap_or_default());
    if extra_keys || stale_owner {
        return Ok(Plan::Replace(Box::new(replacement(live, desired, es))));
    }
    Ok(Plan::Apply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use serde_json::json;

    fn es(annotations: serde_json::Value) -> EncryptedSecret {
        serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "app", "uid": "es-uid",
                         "generation": 2, "annotations": annotations},
            "spec": {}, "sops": {}
        }))
        .unwrap()
    }

    fn owner_ref(kind: &str, api: &str, name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: api.into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn secret(
        refs: Vec<OwnerReference>,
        data: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("db".into()),
                namespace: Some("app".into()),
                resource_version: Some("7".into()),
                labels: Some([("team".to_owned(), "a".to_owned())].into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                owner_references: Some(refs),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn desired(data: &[(&str, &str)]) -> Secret {
        let mut s = secret(
            vec![owner_ref(KIND, API_VERSION, "db", "es-uid")],
            data,
            &[("shroud.dev/generation", "2")],
        );
        s.metadata.resource_version = None;
        s.metadata.labels = Some([(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into());
        s
    }

    fn ours() -> OwnerReference {
        owner_ref(KIND, API_VERSION, "db", "es-uid")
    }

    #[test]
    fn ownership() {
        let e = es(json!({}));
        assert_eq!(owner(&secret(vec![ours()], &[], &[]), &e), Owner::Ours);
        // A deleted EncryptedSecret of the same name left it: ours to take over.
        let stale = owner_ref(KIND, API_VERSION, "db", "old-uid");
        assert_eq!(owner(&secret(vec![stale], &[], &[]), &e), Owner::Ours);
        let sealed = owner_ref("SealedSecret", "bitnami.com/v1alpha1", "db", "ss-uid");
        assert_eq!(
            owner(&secret(vec![sealed], &[], &[]), &e),
            Owner::Controller("SealedSecret".into(), "db".into())
        );
        assert_eq!(owner(&secret(vec![], &[], &[]), &e), Owner::Nobody);
        let mut labelled = secret(vec![], &[], &[]);
        labelled.metadata.labels = Some([(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into());
        assert_eq!(owner(&labelled, &e), Owner::Ours);
        // A non-controller reference owns nothing.
        let mut weak = owner_ref("ConfigMap", "v1", "x", "cm");
        weak.controller = None;
        assert_eq!(owner(&secret(vec![weak], &[], &[]), &e), Owner::Nobody);
    }

    #[test]
    fn a_secret_nobody_owns_is_left_alone_without_the_annotation() {
        let live = secret(vec![], &[("password", "old")], &[]);
        let r = plan(
            Some(&live),
            &desired(&[("password", "new")]),
            &es(json!({})),
            true,
        )
        .unwrap_err();
        assert_eq!(r.reason, Reason::SecretNotOwned);
        assert!(
            r.message.contains("no EncryptedSecret owns it"),
            "{}",
            r.message
        );
        assert!(r.message.contains("shroud.io/adopt=true"), "{}", r.message);
        assert!(r.message.contains("left untouched"));
        // Only "true" adopts.
        let r = plan(
            Some(&live),
            &desired(&[("password", "new")]),
            &es(json!({ADOPT_ANNOTATION: "yes"})),
            true,
        );
        assert!(r.is_err());
    }

    #[test]
    fn adoption_is_one_replace_with_our_owner_and_exactly_our_data() {
        let live = secret(
            vec![],
            &[("password", "old"), ("extra", "x")],
            &[
                (
                    LAST_APPLIED_ANNOTATION,
                    "{\"data\":{\"password\":\"b2xk\"}}",
                ),
                ("keep", "me"),
            ],
        );
        let e = es(json!({ADOPT_ANNOTATION: "true"}));
        let want = desired(&[("password", "new")]);
        let Plan::Replace(s) = plan(Some(&live), &want, &e, false).unwrap() else {
            panic!("not a replace");
        };
        assert_eq!(s.data, want.data, "data replaced, the extra key gone");
        assert_eq!(s.metadata.resource_version.as_deref(), Some("7"));
        let refs = s.metadata.owner_references.clone().unwrap();
        assert_eq!(refs, vec![ours()]);
        let a = s.metadata.annotations.clone().unwrap();
        assert!(
            !a.contains_key(LAST_APPLIED_ANNOTATION),
            "it holds the old values"
        );
        assert_eq!(a["keep"], "me");
        assert_eq!(a["shroud.dev/generation"], "2");
        let l = s.metadata.labels.clone().unwrap();
        assert_eq!(
            (l["team"].as_str(), l[MANAGED_BY_LABEL].as_str()),
            ("a", MANAGER)
        );
        // The replacement's copy of the values is its own and is wiped with it.
        let mut s = *s;
        s.wipe();
        assert_eq!(s.data.as_ref().unwrap()["password"].0, [0, 0, 0]);
        assert_eq!(want.data.as_ref().unwrap()["password"].0, b"new");
    }

    #[test]
    fn adoption_refused_when_another_controller_owns_it_or_it_cannot_change() {
        let e = es(json!({ADOPT_ANNOTATION: "true"}));
        let sealed = owner_ref("SealedSecret", "bitnami.com/v1alpha1", "db", "ss-uid");
        let live = secret(vec![sealed], &[("password", "old")], &[]);
        let r = plan(Some(&live), &desired(&[("password", "new")]), &e, true).unwrap_err();
        assert!(
            r.message.contains("controlled by SealedSecret db"),
            "{}",
            r.message
        );
        assert!(r.message.contains("--cascade=orphan"), "{}", r.message);
        // Without the annotation the message does not suggest removing the owner.
        let r = plan(
            Some(&live),
            &desired(&[("password", "new")]),
            &es(json!({})),
            true,
        )
        .unwrap_err();
        assert!(!r.message.contains("--cascade"));
        let mut tls = secret(vec![], &[("password", "old")], &[]);
        tls.type_ = Some("kubernetes.io/tls".into());
        let r = plan(Some(&tls), &desired(&[("password", "new")]), &e, true).unwrap_err();
        assert!(
            r.message.contains("type cannot change in place"),
            "{}",
            r.message
        );
        let mut frozen = secret(vec![], &[("password", "old")], &[]);
        frozen.immutable = Some(true);
        let r = plan(Some(&frozen), &desired(&[("password", "new")]), &e, true).unwrap_err();
        assert!(r.message.contains("immutable"));
    }

    #[test]
    fn writes_of_our_own_secret() {
        let e = es(json!({}));
        let want = desired(&[("password", "pw")]);
        assert_eq!(plan(None, &want, &e, false).unwrap(), Plan::Apply);
        let mut same = want.clone();
        same.metadata.resource_version = Some("9".into());
        assert_eq!(plan(Some(&same), &want, &e, true).unwrap(), Plan::Keep);
        assert_eq!(plan(Some(&same), &want, &e, false).unwrap(), Plan::Apply);
        let edited = desired(&[("password", "hacked")]);
        assert_eq!(plan(Some(&edited), &want, &e, true).unwrap(), Plan::Apply);
        // A key apply cannot remove (someone else wrote it): one replace removes it.
        let extra = desired(&[("password", "pw"), ("added", "by hand")]);
        assert!(matches!(
            plan(Some(&extra), &want, &e, true).unwrap(),
            Plan::Replace(_)
        ));
        let mut typed = want.clone();
        typed.type_ = Some("kubernetes.io/basic-auth".into());
        assert_eq!(plan(Some(&typed), &want, &e, true).unwrap(), Plan::Recreate);
        // Left by a deleted EncryptedSecret of the same name: replaced, its reference dropped.
        let mut stale = want.clone();
        stale.metadata.owner_references = Some(vec![owner_ref(KIND, API_VERSION, "db", "old")]);
        let Plan::Replace(s) = plan(Some(&stale), &want, &e, true).unwrap() else {
            panic!("not a replace");
        };
        assert_eq!(s.metadata.owner_references.clone().unwrap(), vec![ours()]);
        assert!(data_changed(None, &want));
        assert!(data_changed(Some(&edited), &want));
        assert!(!data_changed(Some(&same), &want));
    }
}
