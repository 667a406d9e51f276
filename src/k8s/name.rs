//! Kubernetes object names: the DNS-1123 rules the API server applies to `metadata.name`
//! (subdomains: Secrets, ExternalSecrets, stores) and to namespaces (labels), and turning free
//! text such as a file name into a valid label.
//!
//! Owns: the two syntax checks and their one-line reasons, and the name sanitiser.
//! Must not know: files, which object a name belongs to, the API server.

/// Longest DNS-1123 label (a namespace, or a name derived by [`to_label`]).
pub const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (most object names).
pub const SUBDOMAIN_MAX: usize = 253;

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn check_part(part: &str, what: &str) -> Result<(), String> {
    let bytes = part.as_bytes();
    if let Some(c) = part
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(format!(
            "{c:?} is not allowed in {what} (lowercase letters, digits and '-')"
        ));
    }
    if bytes.first().is_some_and(|&b| !alnum(b)) || bytes.last().is_some_and(|&b| !alnum(b)) {
        return Err(format!("{what} must start and end with a letter or digit"));
    }
    Ok(())
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending with a letter or digit
/// (namespaces).
pub fn check_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > LABEL_MAX {
        return Err(format!("it must be 1 to {LABEL_MAX} characters"));
    }
    check_part(name, "a namespace")
}

/// A DNS-1123 subdomain: 1–253 characters, dot-separated labels of `[a-z0-9-]` that start and
/// end with a letter or digit (`metadata.name` of Secrets and most other objects).
pub fn check_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > SUBDOMAIN_MAX {
        return Err(format!("it must be 1 to {SUBDOMAIN_MAX} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return Err(format!(
            "{c:?} is not allowed (lowercase letters, digits, '-' and '.')"
        ));
    }
    for part in name.split('.') {
        if part.is_empty() {
            return Err("it must not start or end with '.' or hold '..'".into());
        }
        check_part(part, "each dot-separated part")?;
    }
    Ok(())
}

/// Free text as a DNS-1123 label: ASCII letters lowercased, every other run of characters
/// (`_`, `.`, spaces, non-ASCII) one `-`, no `-` at either end, at most 63 characters.
/// Empty when nothing usable is left.
pub fn to_label(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out.truncate(LABEL_MAX);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(check_label("shop").is_ok());
        assert!(check_label("shop-1").is_ok());
        for bad in [
            "",
            "Shop",
            "-shop",
            "shop-",
            "sh.op",
            "sh_op",
            &"a".repeat(64),
        ] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
        assert!(check_subdomain("db").is_ok());
        assert!(check_subdomain("db.creds-1").is_ok());
        for bad in [
            "", ".env", "env.", "a..b", "DB", "db_creds", "-db", "a.-b", "a b",
        ] {
            assert!(check_subdomain(bad).is_err(), "{bad}");
        }
        assert!(check_subdomain(&"a".repeat(254)).is_err());
        assert!(
            check_subdomain(".env")
                .unwrap_err()
                .contains("must not start or end with '.'")
        );
    }

    #[test]
    fn sanitised_names_are_labels() {
        assert_eq!(to_label("DB_Creds"), "db-creds");
        assert_eq!(to_label(".env"), "env");
        assert_eq!(to_label("my app (prod)"), "my-app-prod");
        assert_eq!(to_label("ünïcode"), "n-code");
        assert_eq!(to_label("__"), "");
        let long = to_label(&format!("{}-x", "a".repeat(62)));
        assert_eq!(long, "a".repeat(62), "no trailing '-' after truncation");
        for t in ["DB_Creds", ".env", "a--b", "x.y.z", "ÄÖ9"] {
            let l = to_label(t);
            assert!(l.is_empty() || check_label(&l).is_ok(), "{t} -> {l}");
        }
    }
}
