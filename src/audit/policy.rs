//! The audit policy a repository writes down: the `audit:` section of `.sops.yaml`.
//!
//! ```yaml
//! audit:
//!   max_key_age: 90d        # data keys older than this are stale (d, w or y)
//!   names: recipients.yaml  # recipient → name mapping, relative to this .sops.yaml
//! ```
//!
//! Owns: the section's fields and the key-age syntax. Must not know: files or findings.

use std::path::PathBuf;

use crate::config::Config;
use crate::tree::Value;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Parses a key age: a whole number of days (`90d`), weeks (`12w`) or years of 365 days
/// (`1y`). Returns days.
pub fn parse_max_age(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let days = match unit {
        'd' => n,
        'w' => n.checked_mul(7)?,
        'y' => n.checked_mul(365)?,
        _ => return None,
    };
    (days > 0).then_some(days)
}

/// A `.sops.yaml`'s `audit:` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// `max_key_age`, in days.
    pub max_key_age_days: Option<u64>,
    /// `names`, resolved against the config's directory.
    pub names: Option<PathBuf>,
}

/// A field of the section that cannot be used: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub field: &'static str,
    pub value: String,
}

/// Reads the `audit:` section of `config` (empty when it has none).
pub fn section(config: &Config) -> Result<Section, BadField> {
    let Some(m) = &config.audit else {
        return Ok(Section::default());
    };
    let text = |field: &'static str| -> Result<Option<String>, BadField> {
        match m.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_text().map(Some).ok_or(BadField {
                field,
                value: "(not text)".into(),
            }),
        }
    };
    let max_key_age_days = match text("max_key_age")? {
        None => None,
        Some(v) => Some(parse_max_age(&v).ok_or(BadField {
            field: "max_key_age",
            value: v,
        })?),
    };
    let names = text("names")?.map(|n| config.dir().join(n));
    Ok(Section {
        max_key_age_days,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_max_age("90d"), Some(90));
        assert_eq!(parse_max_age(" 12w"), Some(84));
        assert_eq!(parse_max_age("1y"), Some(365));
        assert_eq!(parse_max_age("0d"), None);
        assert_eq!(parse_max_age("90"), None);
        assert_eq!(parse_max_age("3m"), None);
        assert_eq!(parse_max_age("d"), None);
        assert_eq!(parse_max_age("99999999999999999999y"), None);
    }

    #[test]
    fn section_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".sops.yaml");
        std::fs::write(
            &p,
            "creation_rules: []\naudit:\n  max_key_age: 30d\n  names: team/names.yaml\n",
        )
        .unwrap();
        let s = section(&crate::config::load(&p).unwrap()).unwrap();
        assert_eq!(s.max_key_age_days, Some(30));
        assert!(s.names.unwrap().ends_with("team/names.yaml"));
        std::fs::write(&p, "audit:\n  max_key_age: soon\n").unwrap();
        let bad = section(&crate::config::load(&p).unwrap()).unwrap_err();
        assert_eq!(bad.field, "max_key_age");
    }
}
