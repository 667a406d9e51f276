//! Text for one-line messages: an error and its causes on one line, without the `Debug`
//! dumps (HTTP headers, request ids) some libraries append.
//!
//! Owns: flattening error chains. Must not know: which library an error came from.

/// `error: cause: deeper cause`, each distinct message once, on one line, at most 300 bytes.
pub(crate) fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string().replace(['\n', '\r'], " ");
        let msg = msg.trim().to_owned();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = e.source();
    }
    let mut out = parts.join(": ");
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn flattens_causes_once() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused\n(os error 111)",
        ));
        assert_eq!(
            one_line(&e),
            "dispatch failure: Connection refused (os error 111)"
        );
    }
}
