//! Format stores: bytes to and from the tree, for YAML, JSON, dotenv, INI and binary files.
//!
//! Owns: choosing a format (by flag or file extension, as sops does: everything unknown is
//! binary), and each format's parser and emitter. A store treats the `sops` key like any other;
//! splitting metadata off is `metadata::layout`'s job.
//! Must not know: encryption, keys, metadata semantics.

pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;

use std::path::Path;

use crate::secret::SecretBytes;
use crate::tree::{Map, Tree, Value};

/// A file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// sops's rule: `.yaml`/`.yml`, `.json`, `.env`, `.ini`; everything else is binary.
    pub fn from_path(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses a `--input-type`/`--output-type` value.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" | "bin" | "raw" => Format::Binary,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// A format-level failure. Messages name keys and lines, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("syntax error{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Syntax {
        line: Option<usize>,
        message: String,
    },
    #[error(
        "the top level is a sequence; sops formats need a mapping at the top (encrypt the whole file with --input-type binary instead)"
    )]
    TopLevelSequence,
    #[error(
        "the top level is a scalar; sops formats need a mapping at the top (use --input-type binary for opaque files)"
    )]
    TopLevelScalar,
    #[error("duplicate key {key:?}{}", line.map(|l| format!(" (mapping ending at line {l})")).unwrap_or_default())]
    DuplicateKey { key: String, line: Option<usize> },
    #[error("YAML aliases expand to more than {budget} nodes; refusing (possible alias bomb)")]
    AliasBudget { budget: usize },
    #[error(
        "value at key {key:?} is not valid UTF-8 and cannot be written as text (use --output-type binary)"
    )]
    NotUtf8 { key: String },
    #[error("value at key {key:?} is a mapping or list, which {format} cannot hold")]
    NotFlat { key: String, format: &'static str },
    #[error("{format} holds one document; this tree has several")]
    MultipleDocuments { format: &'static str },
    #[error("key {key:?} holds an integer that is not a decimal number; JSON cannot write it")]
    NotANumber { key: String },
    #[error("key {key:?} holds a boolean that is not true or false; JSON cannot write it")]
    NotABool { key: String },
    #[error("key {key:?} holds a comment where a value belongs; JSON cannot write it")]
    CommentAsValue { key: String },
    #[error("an encrypted binary file must be a JSON object with a string \"data\" key")]
    BadBinaryContainer,
}

/// The widest indentation a store writes (flags and `.sops.yaml` are checked against it).
pub const MAX_INDENT: usize = 32;

/// Options for writing text formats.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmitOptions {
    /// Indentation override (`--indent` / `.sops.yaml` `stores`); otherwise the source's, then
    /// the sops default (4 for YAML, a tab for JSON).
    pub indent: Option<usize>,
}

/// A file's bytes as a store reads them: borrowed, or handed over by a caller that is done with
/// them, so that a store keeping its source (the YAML layout) need not copy it.
pub enum Source<'a> {
    Borrowed(&'a [u8]),
    Owned(SecretBytes),
}

impl<'a> From<&'a [u8]> for Source<'a> {
    fn from(b: &'a [u8]) -> Self {
        Source::Borrowed(b)
    }
}

impl<'a> From<&'a Vec<u8>> for Source<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Source::Borrowed(b)
    }
}

impl From<SecretBytes> for Source<'_> {
    fn from(b: SecretBytes) -> Self {
        Source::Owned(b)
    }
}

impl Source<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Source::Borrowed(b) => b,
            Source::Owned(b) => b.expose(),
        }
    }
}

/// Parses a plaintext file.
pub fn load_plain(format: Format, input: &[u8]) -> Result<Tree, StoreError> {
    load_plain_from(format, Source::Borrowed(input))
}

/// [`load_plain`] of bytes that may be handed over.
pub fn load_plain_from(format: Format, input: Source<'_>) -> Result<Tree, StoreError> {
    match format {
        Format::Yaml => yaml::parse_from(input),
        Format::Json => json::parse(input.bytes()),
        Format::Dotenv => dotenv::parse(input.bytes()),
        Format::Ini => ini::parse(input.bytes()),
        Format::Binary => {
            let data = match input {
                Source::Borrowed(b) => SecretBytes::from_slice(b),
                Source::Owned(b) => b,
            };
            let mut map = Map::new();
            map.insert("data", Value::Scalar(crate::tree::Scalar::string(data)));
            Ok(Tree {
                branches: vec![map],
                ..Default::default()
            })
        }
    }
}

/// Parses an encrypted file (binary files are stored as JSON).
pub fn load_encrypted(format: Format, input: &[u8]) -> Result<Tree, StoreError> {
    load_encrypted_from(format, Source::Borrowed(input))
}

/// [`load_encrypted`] of bytes that may be handed over.
pub fn load_encrypted_from(format: Format, input: Source<'_>) -> Result<Tree, StoreError> {
    match format {
        Format::Binary => json::parse(input.bytes()),
        other => load_plain_from(other, input),
    }
}

/// Writes a tree in a text format.
pub fn emit(format: Format, tree: &Tree, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Yaml => yaml::emit(
            tree,
            yaml::EmitOptions {
                indent: opts
                    .indent
                    .or(tree.hints.indent)
                    .unwrap_or(4)
                    .clamp(1, MAX_INDENT),
                // An indentation asked for that differs from the source's re-indents the file.
                splice: opts.indent.is_none() || opts.indent == tree.hints.indent,
            },
        ),
        Format::Json | Format::Binary => {
            let indent = match opts.indent.or(if tree.hints.json_tabs {
                None
            } else {
                tree.hints.json_indent
            }) {
                Some(n) => json::Indent::Spaces(n.min(MAX_INDENT)),
                None => json::Indent::Tab,
            };
            json::emit(tree, indent)
        }
        Format::Dotenv => dotenv::emit(tree),
        Format::Ini => ini::emit(tree),
    }
}

/// Writes a decrypted tree. For binary, that is the raw `data` bytes.
pub fn emit_plain(format: Format, tree: &Tree, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Binary => {
            let data = tree
                .branches
                .first()
                .and_then(|b| b.get("data"))
                .and_then(Value::as_scalar)
                .ok_or(StoreError::BadBinaryContainer)?;
            Ok(data.bytes().to_vec())
        }
        other => emit(other, tree, opts),
    }
}

/// Writes one extracted value (`decrypt --extract`) as sops does: a string as its raw bytes
/// with no newline; anything else through the output format's value writer (YAML: always a
/// trailing newline; JSON, dotenv, INI: JSON, with a newline only after a mapping).
pub fn emit_value(format: Format, value: &Value) -> Result<Vec<u8>, StoreError> {
    if let Value::Scalar(s) = value
        && matches!(s.kind, crate::tree::Kind::Str | crate::tree::Kind::Bytes)
    {
        return Ok(s.bytes().to_vec());
    }
    match format {
        Format::Yaml => yaml::emit_value(
            value,
            yaml::EmitOptions {
                indent: 4,
                splice: false,
            },
        ),
        _ => json::emit_value(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.yml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("x.JSON")), Format::Json);
        assert_eq!(Format::from_path(Path::new(".env")), Format::Dotenv);
        assert_eq!(Format::from_path(Path::new("prod.env")), Format::Dotenv);
        assert_eq!(Format::from_path(Path::new("cert.pem")), Format::Binary);
    }

    #[test]
    fn binary_round_trip_keeps_bytes() {
        let raw = [0u8, 159, 146, 150, b'\n'];
        let t = load_plain(Format::Binary, &raw).unwrap();
        assert_eq!(
            emit_plain(Format::Binary, &t, EmitOptions::default()).unwrap(),
            raw
        );
    }
}
