//! The `EncryptedSecret` custom resource (`shroud.dev/v1alpha1`): Rust types, the generated
//! CustomResourceDefinition, and the status shape.
//!
//! Owns: the wire shape of the resource and its schema (structural, no CEL, accepted by a 1.20
//! API server). Must not know: cryptography, the API client, or how reconciliation works.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{NamespaceResourceScope, Resource};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::manifest::{API_VERSION, GROUP, KIND, VERSION};

/// The payload of the target Secret. Every value is an `ENC[...]` string written by
/// `shroud encrypt --kind EncryptedSecret`; the schema only checks shapes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "shroud.dev",
    version = "v1alpha1",
    kind = "EncryptedSecret",
    root = "EncryptedSecretSchema",
    namespaced,
    status = "EncryptedSecretStatus",
    shortname = "esec",
    category = "shroud",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct EncryptedSecretSpec {
    /// Encrypted Secret type (`Opaque` when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Encrypted labels of the target Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Encrypted annotations of the target Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Encrypted base64 values, as in a Secret's `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    /// Encrypted plain-text values, as in a Secret's `stringData`.
    #[serde(
        rename = "stringData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub string_data: Option<BTreeMap<String, String>>,
}

/// Observed state: which generation was processed and the `Ready` condition.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedSecretStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A standard Kubernetes condition (messages never contain secret values).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The object as the controller reads it: the spec and the top-level `sops` block (kept
/// verbatim; they are what the data key and MAC are read from) and the status.
///
/// The controller's watch cache holds every object, so the object is kept lean: `spec` and
/// `sops` as compact JSON text (a parsed tree costs several times its text; they are parsed
/// again for each reconcile), and `metadata` without `managedFields` and kubectl's
/// last-applied annotation (a second copy of the whole object), which the controller never
/// reads.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct EncryptedSecret {
    #[serde(deserialize_with = "lean_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JsonText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sops: Option<JsonText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EncryptedSecretStatus>,
}

/// kubectl's client-side-apply annotation: the whole object as last applied (one name, kept
/// by the Secret reader).
pub use super::secret::LAST_APPLIED as LAST_APPLIED_ANNOTATION;

fn lean_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let mut m = ObjectMeta::deserialize(d)?;
    m.managed_fields = None;
    if let Some(a) = &mut m.annotations {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
    Ok(m)
}

/// A JSON value kept as its compact text.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonText(Box<str>);

impl JsonText {
    /// The value, parsed.
    pub fn value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(v: &serde_json::Value) -> JsonText {
        JsonText(v.to_string().into_boxed_str())
    }
}

impl Default for JsonText {
    fn default() -> JsonText {
        JsonText("null".into())
    }
}

/// Ciphertext and sops metadata only (an EncryptedSecret holds no plaintext); shown by length.
impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonText({} bytes)", self.0.len())
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonText, D::Error> {
        Ok(JsonText::from(&serde_json::Value::deserialize(d)?))
    }
}

impl Resource for EncryptedSecret {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        EncryptedSecretSchema::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        EncryptedSecretSchema::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        EncryptedSecretSchema::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        EncryptedSecretSchema::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The CustomResourceDefinition: the derived schema plus a top-level `sops` object whose
/// content is preserved as is (its layout belongs to the sops format, not to this schema).
pub fn crd() -> CustomResourceDefinition {
    let mut crd = EncryptedSecretSchema::crd();
    for v in &mut crd.spec.versions {
        let Some(schema) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        schema.description = Some(
            "A Secret whose payload is encrypted with shroud (sops format). metadata.name and metadata.namespace are covered by the MAC (strict scope).".into(),
        );
        let props = schema.properties.get_or_insert_with(BTreeMap::new);
        props.insert(
            "sops".into(),
            JSONSchemaProps {
                description: Some("sops metadata: wrapped data keys, rules, MAC.".into()),
                type_: Some("object".into()),
                x_kubernetes_preserve_unknown_fields: Some(true),
                ..Default::default()
            },
        );
        schema.required = Some(vec!["spec".into(), "sops".into()]);
    }
    crd
}

/// The CRD as JSON (what the API server takes without a YAML parser).
pub fn crd_json() -> String {
    let mut s = serde_json::to_string_pretty(&crd()).unwrap_or_default();
    s.push('\n');
    s
}

/// The CRD as YAML (what `shroud-controller crd` prints and `deploy/base/crd.yaml` holds).
pub fn crd_yaml() -> Result<String, crate::store::StoreError> {
    use crate::store::{self, EmitOptions, Format};
    let json = serde_json::to_vec(&crd()).map_err(|e| crate::store::StoreError::Syntax {
        line: None,
        message: e.to_string(),
    })?;
    let tree = store::load_plain(Format::Json, &json)?;
    let out = store::emit_plain(Format::Yaml, &tree, EmitOptions { indent: Some(2) })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_object_is_lean_and_round_trips() {
        let raw = serde_json::json!({
            "apiVersion": "shroud.dev/v1alpha1", "kind": "EncryptedSecret",
            "metadata": {
                "name": "db", "namespace": "app",
                "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"},
                "managedFields": [{"manager": "kubectl", "operation": "Update",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"stringData": {"password": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}},
            "sops": {"version": "3.9.0", "mac": "ENC[...]"}
        });
        let es: EncryptedSecret = serde_json::from_value(raw.clone()).unwrap();
        assert!(es.metadata.managed_fields.is_none());
        let ann = es.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann["keep"], "me");
        assert_eq!(es.spec.value().unwrap(), raw["spec"]);
        assert_eq!(es.sops.as_ref().unwrap().value().unwrap(), raw["sops"]);
        assert_eq!(serde_json::to_value(&es).unwrap()["spec"], raw["spec"]);
        assert!(!format!("{es:?}").contains("ENC["));
        let none: EncryptedSecret =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        assert!(none.sops.is_none());
        assert_eq!(none.spec.value().unwrap(), serde_json::Value::Null);
    }
}
