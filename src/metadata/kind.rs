//! The key types a sops file can hold, and everything decided per type, in one table: the
//! metadata and `.sops.yaml` field names, the name for people and the name for machines
//! (`--decryption-order`, JSON reports), sops's command-line flag and environment variable,
//! and whether shroud can use the type.
//!
//! Owns: [`KeyKind`] and [`KINDS`]. Adding a key source starts with a row here (then its
//! record in [`super::envelope`], its layout in [`super::layout`], its rule parsing in
//! `config`, and its behaviour in a `keysource` file). Must not know: how keys are used.

/// A key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    Age,
    Pgp,
    Kms,
    GcpKms,
    AzureKv,
    HcVault,
    HuaweiKms,
}

/// One row of the table.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: KeyKind,
    /// The field in sops metadata (`sops.age`, `sops.kms`, …), and sops's name for the type
    /// in `--decryption-order` and reports (machine name).
    pub field: &'static str,
    /// The `.sops.yaml` creation-rule fields that list keys of this type.
    pub rule_fields: &'static [&'static str],
    /// The name for people.
    pub label: &'static str,
    /// sops's command-line option and environment variable for recipients of this type.
    pub flag: &'static str,
    pub env: &'static str,
    /// What shroud supports of it (`None`: entries are kept as written, never used).
    pub supported: Option<&'static str>,
}

/// Every key type, in sops's metadata order. The one table.
pub const KINDS: [KindInfo; 7] = [
    KindInfo {
        kind: KeyKind::Age,
        field: "age",
        rule_fields: &["age"],
        label: "age",
        flag: "--age",
        env: "SOPS_AGE_RECIPIENTS",
        supported: Some(
            "X25519, post-quantum (age1pq1…), SSH (ed25519, RSA) and plugin (age1NAME1…) recipients",
        ),
    },
    KindInfo {
        kind: KeyKind::Kms,
        field: "kms",
        rule_fields: &["kms"],
        label: "AWS KMS",
        flag: "--kms",
        env: "SOPS_KMS_ARN",
        supported: Some("with roles, encryption contexts and profiles"),
    },
    KindInfo {
        kind: KeyKind::Pgp,
        field: "pgp",
        rule_fields: &["pgp"],
        label: "PGP",
        flag: "--pgp",
        env: "SOPS_PGP_FP",
        supported: Some("through GnuPG"),
    },
    KindInfo {
        kind: KeyKind::GcpKms,
        field: "gcp_kms",
        rule_fields: &["gcp_kms"],
        label: "GCP KMS",
        flag: "--gcp-kms",
        env: "SOPS_GCP_KMS_IDS",
        supported: None,
    },
    KindInfo {
        kind: KeyKind::AzureKv,
        field: "azure_kv",
        rule_fields: &["azure_keyvault"],
        label: "Azure Key Vault",
        flag: "--azure-kv",
        env: "SOPS_AZURE_KEYVAULT_URLS",
        supported: None,
    },
    KindInfo {
        kind: KeyKind::HcVault,
        field: "hc_vault",
        rule_fields: &["hc_vault_transit_uri", "hc_vault"],
        label: "HashiCorp Vault",
        flag: "--hc-vault-transit",
        env: "SOPS_VAULT_URIS",
        supported: None,
    },
    KindInfo {
        kind: KeyKind::HuaweiKms,
        field: "hckms",
        rule_fields: &["hckms"],
        label: "HuaweiCloud KMS",
        flag: "--hckms",
        env: "SOPS_HUAWEICLOUD_KMS_IDS",
        supported: None,
    },
];

/// sops's default decryption order: age, then PGP, then every other key type.
pub const DEFAULT_ORDER: [KeyKind; 3] = [KeyKind::Age, KeyKind::Pgp, KeyKind::Kms];

impl KeyKind {
    /// Every kind, in metadata order.
    pub fn all() -> impl Iterator<Item = KeyKind> {
        KINDS.iter().map(|k| k.kind)
    }

    /// This kind's row.
    pub fn info(self) -> &'static KindInfo {
        KINDS
            .iter()
            .find(|k| k.kind == self)
            .expect("every kind has a row")
    }

    pub fn field(self) -> &'static str {
        self.info().field
    }

    pub fn label(self) -> &'static str {
        self.info().label
    }

    pub fn is_supported(self) -> bool {
        self.info().supported.is_some()
    }

    /// The kind whose metadata field (or machine name) is `field`.
    pub fn from_field(field: &str) -> Option<KeyKind> {
        KINDS.iter().find(|k| k.field == field).map(|k| k.kind)
    }

    /// The kind a `.sops.yaml` rule field lists.
    pub fn from_rule_field(field: &str) -> Option<KeyKind> {
        KINDS
            .iter()
            .find(|k| k.rule_fields.contains(&field))
            .map(|k| k.kind)
    }
}

/// Reports name a type by its machine name (`age`, `kms`, …).
impl serde::Serialize for KeyKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.field())
    }
}

/// Parses `--decryption-order` / `SOPS_DECRYPTION_ORDER` (`age,pgp,kms`; sops's names).
pub fn parse_order(s: &str) -> Result<Vec<KeyKind>, String> {
    let mut out = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let t = KeyKind::from_field(word).ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.field).collect();
            format!("unknown key type {word:?} (use {})", names.join(", "))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The key sources shroud supports, as one sentence for messages and help:
/// `age (X25519 and SSH …), AWS KMS (…) and PGP (…)`.
pub fn supported_sentence() -> String {
    let parts: Vec<String> = KINDS
        .iter()
        .filter_map(|k| k.supported.map(|what| format!("{} ({what})", k.label)))
        .collect();
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The supported key sources' names: `age, AWS KMS and PGP`.
pub fn supported_names() -> String {
    let names: Vec<&str> = KINDS
        .iter()
        .filter(|k| k.supported.is_some())
        .map(|k| k.label)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_and_distinct_names() {
        let mut fields: Vec<&str> = KINDS.iter().map(|k| k.field).collect();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), KINDS.len());
        for k in KeyKind::all() {
            assert_eq!(k.info().kind, k);
            assert_eq!(KeyKind::from_field(k.field()), Some(k));
            for f in k.info().rule_fields {
                assert_eq!(KeyKind::from_rule_field(f), Some(k));
            }
        }
    }

    #[test]
    fn order_parses_sops_names() {
        assert_eq!(
            parse_order("kms, age,kms").unwrap(),
            vec![KeyKind::Kms, KeyKind::Age]
        );
        let e = parse_order("aws").unwrap_err();
        assert!(e.contains("age, kms, pgp, gcp_kms"), "{e}");
        assert_eq!(supported_names(), "age, AWS KMS and PGP");
        assert!(supported_sentence().starts_with("age (X25519, post-quantum (age1pq1…)"));
        assert!(supported_sentence().contains("plugin (age1NAME1…) recipients)"));
    }
}
