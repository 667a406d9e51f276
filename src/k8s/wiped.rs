//! Secrets whose plaintext is wiped: a Secret object whose `data` values are zeroized when it is
//! dropped ([`WipedSecret`]), the JSON body of a Secret write built in a zeroizing buffer of
//! exactly its size ([`body`]), and the reads and writes that carry them through the API client
//! without the copies kube-rs would make (`Api::patch`/`replace` serialise the object into a
//! buffer they free unwiped, and `k8s_openapi`'s `ByteString` serialises through an unwiped
//! base64 `String`; `Api::get` reads the response into an unwiped `String`).
//!
//! Writes ask the API server for the written object's metadata only (the response then holds
//! no values); reads land in a zeroizing buffer. What stays out of reach: the copies inside
//! hyper's and rustls's buffers, and the API server itself (docs/controller.md, "Memory").
//!
//! Owns: the wiping of Secret values on the controller's side of the API. Must not know:
//! reconciliation, ownership, why a Secret is written.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, HeaderValue};
use http_body_util::BodyExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{GetParams, Patch, PatchParams, PostParams};
use kube::core::{Request, Status};
use kube::{Client, Resource};
use zeroize::{Zeroize, Zeroizing};

use super::secret::LAST_APPLIED;
use crate::secret::SecretBytes;

/// The response a write asks for: the object's metadata only (no `data`), or plain JSON from an
/// API server that cannot transform the response.
pub const ACCEPT_METADATA: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/// A Secret whose `data` and `stringData` values are wiped when it is dropped. Prints its name
/// and keys, never values.
#[derive(Clone, Default, PartialEq)]
pub struct WipedSecret(Secret);

impl WipedSecret {
    pub fn new(secret: Secret) -> Self {
        WipedSecret(secret)
    }

    /// Zeroizes every value now, in place: each `data` value becomes as many zero bytes as its
    /// buffer holds (its whole capacity, so no byte is left behind its end); `stringData` values
    /// and kubectl's last-applied annotation (a copy of the values a `kubectl apply` wrote, on a
    /// live Secret being adopted) are wiped and emptied.
    pub fn wipe(&mut self) {
        for v in self.0.data.iter_mut().flat_map(|d| d.values_mut()) {
            let capacity = v.0.capacity();
            v.0.resize(capacity, 0);
            v.0.as_mut_slice().zeroize();
        }
        for v in self.0.string_data.iter_mut().flat_map(|d| d.values_mut()) {
            v.zeroize();
        }
        if let Some(copy) = self
            .0
            .metadata
            .annotations
            .as_mut()
            .and_then(|a| a.get_mut(LAST_APPLIED))
        {
            copy.zeroize();
        }
    }
}

impl Drop for WipedSecret {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl Deref for WipedSecret {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl DerefMut for WipedSecret {
    fn deref_mut(&mut self) -> &mut Secret {
        &mut self.0
    }
}

impl std::fmt::Debug for WipedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WipedSecret")
            .field("name", &self.0.metadata.name)
            .field(
                "keys",
                &self
                    .0
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// `data` for a Secret from decrypted values: one exact-size copy of each (no reallocation that
/// would free an unwiped buffer), to be held in a [`WipedSecret`].
pub fn data(values: &BTreeMap<String, SecretBytes>) -> BTreeMap<String, ByteString> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
        .collect()
}

/// The JSON body of a Secret write, wiped on drop.
pub struct Body(Zeroizing<Vec<u8>>);

impl Body {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The allocated size (equal to the length: the buffer was never reallocated).
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The JSON of `secret` in one zeroizing buffer of exactly its size: everything but `data`
/// serialised by serde (no values), then each value base64-encoded in place. `stringData` is
/// not written (the controller sets `data` only).
pub fn body(secret: &Secret) -> Result<Body, serde_json::Error> {
    let Secret {
        metadata,
        type_,
        immutable,
        data,
        string_data: _,
    } = secret;
    let head = serde_json::to_vec(&Secret {
        metadata: metadata.clone(),
        type_: type_.clone(),
        immutable: *immutable,
        data: None,
        string_data: None,
    })?;
    let Some(data) = data else {
        let mut out = Zeroizing::new(Vec::with_capacity(head.len()));
        out.extend_from_slice(&head);
        return Ok(Body(out));
    };
    let keys: Vec<Vec<u8>> = data
        .keys()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    // head without its closing brace, `,"data":{`, `KEY:"B64"` joined by commas, `}}`.
    const OPEN: &[u8] = b",\"data\":{";
    let entries: usize = keys
        .iter()
        .zip(data.values())
        .map(|(k, v)| k.len() + 3 + base64::encoded_len(v.0.len(), true).unwrap_or(usize::MAX))
        .fold(0usize, usize::saturating_add);
    let size = (head.len() - 1)
        .saturating_add(OPEN.len())
        .saturating_add(entries)
        .saturating_add(keys.len().saturating_sub(1))
        .saturating_add(2);
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    out.extend_from_slice(&head[..head.len() - 1]);
    out.extend_from_slice(OPEN);
    for (i, (key, value)) in keys.iter().zip(data.values()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.extend_from_slice(b":\"");
        let start = out.len();
        out.resize(
            start + base64::encoded_len(value.0.len(), true).unwrap_or(0),
            0,
        );
        let written = B64
            .encode_slice(&value.0, &mut out[start..])
            .map_err(|e| serde::ser::Error::custom(e.to_string()))?;
        out.truncate(start + written);
        out.push(b'"');
    }
    out.extend_from_slice(b"}}");
    debug_assert_eq!(out.len(), out.capacity(), "the body was sized exactly");
    Ok(Body(out))
}

fn secrets(namespace: &str) -> Request {
    Request::new(Secret::url_path(&(), Some(namespace)))
}

/// Server-side apply of `secret` (the field manager `manager`, conflicts forced).
pub async fn apply(
    client: &Client,
    namespace: &str,
    name: &str,
    manager: &str,
    secret: &Secret,
) -> Result<(), kube::Error> {
    let pp = PatchParams::apply(manager).force();
    let req = secrets(namespace)
        .patch(name, &pp, &Patch::Apply(()))
        .map_err(kube::Error::BuildRequest)?;
    write(client, req, body(secret).map_err(kube::Error::SerdeError)?).await
}

/// Replace (PUT) of the whole object, `metadata.resourceVersion` as the precondition.
pub async fn replace(
    client: &Client,
    namespace: &str,
    name: &str,
    manager: Option<&str>,
    secret: &Secret,
) -> Result<(), kube::Error> {
    let pp = PostParams {
        field_manager: manager.map(str::to_owned),
        ..Default::default()
    };
    let req = secrets(namespace)
        .replace(name, &pp, Vec::new())
        .map_err(kube::Error::BuildRequest)?;
    write(client, req, body(secret).map_err(kube::Error::SerdeError)?).await
}

/// Creates `secret` (POST); an existing one of its name is an API error with code 409.
pub async fn create(client: &Client, namespace: &str, secret: &Secret) -> Result<(), kube::Error> {
    let req = secrets(namespace)
        .create(&PostParams::default(), Vec::new())
        .map_err(kube::Error::BuildRequest)?;
    write(client, req, body(secret).map_err(kube::Error::SerdeError)?).await
}

/// Sends `req` (built by kube's request builder, its placeholder body dropped) with `body`,
/// which is wiped when the client lets go of it; only metadata comes back.
async fn write(
    client: &Client,
    req: http::Request<Vec<u8>>,
    body: Body,
) -> Result<(), kube::Error> {
    let (mut parts, _) = req.into_parts();
    parts
        .headers
        .insert(ACCEPT, HeaderValue::from_static(ACCEPT_METADATA));
    let body = kube::client::Body::from(into_bytes(body));
    let res = client.send(http::Request::from_parts(parts, body)).await?;
    read(res).await.map(drop)
}

/// The body as the client's `Bytes`, without a copy: they point into the zeroizing buffer,
/// which is wiped when the last of them is dropped.
fn into_bytes(body: Body) -> Bytes {
    Bytes::from_owner(body)
}

/// Secret `namespace/name`, `None` when it does not exist.
pub async fn get(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<WipedSecret>, kube::Error> {
    let req = secrets(namespace)
        .get(name, &GetParams::default())
        .map_err(kube::Error::BuildRequest)?;
    let res = client.send(req.map(kube::client::Body::from)).await?;
    if res.status() == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let text = read(res).await?;
    let secret = serde_json::from_slice::<Secret>(&text).map_err(kube::Error::SerdeError)?;
    Ok(Some(WipedSecret::new(secret)))
}

/// The response body in a zeroizing buffer, or the API error it holds.
async fn read(res: http::Response<kube::client::Body>) -> Result<Zeroizing<Vec<u8>>, kube::Error> {
    let status = res.status();
    let hint = res
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 << 20);
    let mut body = res.into_body();
    let mut buf = Zeroizing::new(Vec::with_capacity(hint));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            append(&mut buf, &data);
        }
    }
    if status.is_client_error() || status.is_server_error() {
        let api = serde_json::from_slice::<Status>(&buf).unwrap_or_else(|_| {
            Status::failure(&String::from_utf8_lossy(&buf), "Failed to parse error data")
                .with_code(status.as_u16())
        });
        return Err(kube::Error::Api(api.boxed()));
    }
    Ok(buf)
}

/// Appends `more` to `buf`, growing it by copying into a larger zeroizing buffer (the old one
/// is wiped as it drops), never by a reallocation that would free it unwiped.
pub fn append(buf: &mut Zeroizing<Vec<u8>>, more: &[u8]) {
    let need = buf.len().saturating_add(more.len());
    if need > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(
            need.max(buf.capacity().saturating_mul(2)),
        ));
        bigger.extend_from_slice(buf);
        *buf = bigger;
    }
    buf.extend_from_slice(more);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn secret(values: &[(&str, &[u8])]) -> Secret {
        let values: BTreeMap<String, SecretBytes> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::from_slice(v)))
            .collect();
        Secret {
            metadata: ObjectMeta {
                name: Some("db".into()),
                namespace: Some("app".into()),
                labels: Some([("a\"b".to_owned(), "c".to_owned())].into()),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data(&values)),
            ..Default::default()
        }
    }

    #[test]
    fn a_wiped_secret_zeroes_every_value_in_place() {
        let mut s = WipedSecret::new(secret(&[("password", b"hunter2"), ("user", b"admin")]));
        let caps: Vec<(*const u8, usize)> = s
            .data
            .iter()
            .flatten()
            .map(|(_, v)| (v.0.as_ptr(), v.0.capacity()))
            .collect();
        assert!(caps.iter().all(|(_, c)| *c > 0));
        assert!(
            !format!("{s:?}").contains("104"),
            "Debug shows no bytes: {s:?}"
        );
        s.wipe();
        for ((_, v), (ptr, cap)) in s.data.iter().flatten().zip(&caps) {
            assert_eq!(v.0.as_ptr(), *ptr, "wiped in place, not replaced");
            assert_eq!(v.0, vec![0u8; *cap], "the whole buffer is zero");
        }
        // A value with room behind its end (as base64 decoding leaves) is wiped to its capacity.
        let mut roomy = Vec::with_capacity(64);
        roomy.extend_from_slice(b"pw");
        s.data
            .as_mut()
            .unwrap()
            .insert("roomy".into(), ByteString(roomy));
        s.wipe();
        assert_eq!(s.data.as_ref().unwrap()["roomy"].0.len(), 64);
        assert!(s.data.as_ref().unwrap()["roomy"].0.iter().all(|b| *b == 0));
        let keys: Vec<_> = s.data.iter().flatten().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["password", "roomy", "user"]);
        // kubectl's plaintext copy on a live Secret, and stringData, go too; other annotations stay.
        let applied = "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"; // shroud:allow
        s.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_owned(), applied.to_owned()),
                ("note".to_owned(), "kept".to_owned()),
            ]
            .into(),
        );
        s.string_data = Some([("token".to_owned(), "t0ken".to_owned())].into());
        s.wipe();
        let a = s.metadata.annotations.as_ref().unwrap();
        assert_eq!((a[LAST_APPLIED].as_str(), a["note"].as_str()), ("", "kept"));
        assert_eq!(s.string_data.as_ref().unwrap()["token"], "");
    }

    #[test]
    fn the_body_is_the_secret_as_json_in_a_buffer_of_exactly_its_size() {
        for values in [
            vec![],
            vec![("password", &b"hunter2"[..])],
            vec![
                ("a", &b""[..]),
                ("b.c", &[0u8, 255, 10][..]),
                ("d", &[b'x'; 1000][..]),
            ],
        ] {
            let s = secret(&values);
            let b = body(&s).unwrap();
            assert_eq!(b.capacity(), b.bytes().len(), "no reallocation left a copy");
            let back: Secret = serde_json::from_slice(b.bytes()).unwrap();
            assert_eq!(back, s);
            let json: serde_json::Value = serde_json::from_slice(b.bytes()).unwrap();
            assert_eq!(
                (json["apiVersion"].as_str(), json["kind"].as_str()),
                (Some("v1"), Some("Secret"))
            );
        }
        let mut none = secret(&[]);
        none.data = None;
        let b = body(&none).unwrap();
        assert_eq!(b.capacity(), b.bytes().len());
        assert_eq!(serde_json::from_slice::<Secret>(b.bytes()).unwrap(), none);
    }

    #[test]
    fn the_client_gets_the_body_without_a_copy() {
        let b = body(&secret(&[("password", b"hunter2")])).unwrap();
        let (ptr, len) = (b.bytes().as_ptr(), b.bytes().len());
        let bytes = into_bytes(b);
        assert_eq!(
            (bytes.as_ptr(), bytes.len()),
            (ptr, len),
            "the same, zeroizing, buffer"
        );
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(clone.as_ptr(), ptr, "shared until the last reference goes");
    }

    #[test]
    fn append_grows_by_copy_and_keeps_the_bytes() {
        let mut buf = Zeroizing::new(Vec::with_capacity(4));
        let first = buf.as_ptr();
        append(&mut buf, b"abc");
        assert_eq!(buf.as_ptr(), first, "fits: no new buffer");
        append(&mut buf, b"defgh");
        assert_eq!(&buf[..], b"abcdefgh");
        assert!(buf.capacity() >= 8);
        let mut many = Zeroizing::new(Vec::new());
        for i in 0..1000u32 {
            append(&mut many, &i.to_le_bytes());
        }
        assert_eq!(many.len(), 4000);
        assert_eq!(&many[4..8], &1u32.to_le_bytes());
    }
}
