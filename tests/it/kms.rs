//! AWS KMS through `aws-sdk-kms` against a real `moto_server` on 127.0.0.1 (no mocks).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};

use crate::util::*;

/// A `moto_server` on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "moto_server is required (pip install 'moto[server]'; scripts/setup.sh does this)",
            );
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Environment for shroud so the standard AWS chain finds moto.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }

    pub fn client(&self, region: &str) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    pub fn create_key(&self, region: &str) -> String {
        rt().block_on(async {
            let out = self.client(region).create_key().send().await.unwrap();
            out.key_metadata().unwrap().arn().unwrap().to_owned()
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn shroud(sb: &Sandbox, moto: &Moto) -> Command {
    let mut c = sb.cmd();
    moto.env(&mut c);
    c
}

#[test]
fn kms_round_trip_with_and_without_context() {
    let moto = Moto::start();
    let arn = moto.create_key("eu-west-1");
    let sb = Sandbox::new();
    sb.write("a.yaml", "password: hunter2\n");
    sb.write("b.yaml", "password: hunter2\n");
    assert_code(
        &shroud(&sb, &moto)
            .args(["encrypt", "-i", "--kms", &arn, "a.yaml"])
            .run(),
        0,
    );
    let out = shroud(&sb, &moto)
        .args([
            "encrypt",
            "-i",
            "--kms",
            &arn,
            "--encryption-context",
            "Env:prod,App:shroud",
            "b.yaml",
        ])
        .run();
    assert_code(&out, 0);
    let b = sb.read("b.yaml");
    assert!(
        b.contains("arn: ")
            && b.contains("context:")
            && b.contains("Env: prod")
            && b.contains("created_at:"),
        "{b}"
    );
    for f in ["a.yaml", "b.yaml"] {
        let out = shroud(&sb, &moto).args(["decrypt", f]).run();
        assert_code(&out, 0);
        assert_eq!(stdout(&out), "password: hunter2\n");
    }
    // An altered context fails clearly as damage (it is not covered by the MAC; KMS checks it).
    std::fs::write(sb.path("b.yaml"), b.replace("Env: prod", "Env: dev")).unwrap();
    let out = shroud(&sb, &moto).args(["decrypt", "b.yaml"]).run();
    assert_code(&out, 51);
    assert!(
        stderr(&out).contains("encryption context"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
}

/// A loopback HTTP server answering every request with one AWS JSON-protocol error, for the
/// key states moto does not model (it keeps disabled and pending-deletion keys usable).
fn kms_error_server(error_type: &'static str, message: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Read headers and the body announced by Content-Length.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_lowercase();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= h + 4 + len {
                        break;
                    }
                }
            }
            let body = format!("{{\"__type\":\"{error_type}\",\"message\":\"{message}\"}}");
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn disabled_and_deleted_keys_fail_clearly() {
    // Encrypt against moto, then decrypt against endpoints that report the key's state.
    let moto = Moto::start();
    let arn = moto.create_key("us-east-1");
    let sb = Sandbox::new();
    sb.write("s.yaml", "k: v\n");
    assert_code(
        &shroud(&sb, &moto)
            .args(["encrypt", "-i", "--kms", &arn, "s.yaml"])
            .run(),
        0,
    );
    for (kind, msg, expect) in [
        ("DisabledException", "key is disabled", "disabled"),
        (
            "KMSInvalidStateException",
            "key is pending deletion",
            "pending deletion",
        ),
    ] {
        let endpoint = kms_error_server(kind, msg);
        let out = sb
            .cmd()
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["decrypt", "s.yaml"])
            .run();
        assert_code(&out, 128);
        assert!(stderr(&out).contains(expect), "{kind}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1);
        let out = sb
            .cmd()
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["encrypt", "--kms", &arn, "s.yaml"])
            .run();
        assert_ne!(out.status.code(), Some(0));
    }
    // A key that no longer exists at all (deleted): moto reports it as not found.
    let gone = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let text = sb.read("s.yaml").replace(&arn, gone);
    std::fs::write(sb.path("gone.yaml"), text).unwrap();
    let out = shroud(&sb, &moto).args(["decrypt", "gone.yaml"]).run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).contains("not found")
            || stderr(&out).contains("different KMS key")
            || stderr(&out).contains("rejected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn assumes_a_role_before_calling_kms() {
    let moto = Moto::start();
    let arn = moto.create_key("us-east-1");
    let role = "arn:aws:iam::123456789012:role/shroud-decrypt";
    let sb = Sandbox::new();
    sb.write("s.yaml", "k: v\n");
    let out = shroud(&sb, &moto)
        .args(["encrypt", "-i", "--kms", &format!("{arn}+{role}"), "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert!(sb.read("s.yaml").contains(&format!("role: {role}")));
    let out = shroud(&sb, &moto).args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "k: v\n");
}

#[test]
fn age_and_kms_recipients_each_open_the_file_alone() {
    let moto = Moto::start();
    let arn = moto.create_key("us-east-1");
    let sb = Sandbox::new();
    sb.write("s.yaml", "k: v\n");
    let out = shroud(&sb, &moto)
        .args([
            "encrypt",
            "-i",
            "--kms",
            &arn,
            "--age",
            TEST_RECIPIENT,
            "s.yaml",
        ])
        .run();
    assert_code(&out, 0);
    // age alone: no AWS environment at all.
    let out = sb.with_key().args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 0);
    // KMS alone: no age identity.
    let out = shroud(&sb, &moto).args(["decrypt", "s.yaml"]).run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "k: v\n");
}

#[test]
fn bad_kms_input_gives_one_line_errors_and_touches_nothing() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    sb.write("s.yaml", "k: v\n");
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let out = shroud(&sb, &moto)
        .args(["encrypt", "-i", "--kms", missing, "s.yaml"])
        .run();
    assert_code(&out, 128);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = shroud(&sb, &moto)
        .args(["encrypt", "-i", "--kms", "arn:aws:kms:nope", "s.yaml"])
        .run();
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("not a KMS key ARN"),
        "{}",
        stderr(&out)
    );
    // Unreachable endpoint.
    let arn = moto.create_key("us-east-1");
    let out = sb
        .cmd()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["encrypt", "-i", "--kms", &arn, "s.yaml"])
        .run();
    assert_code(&out, 128);
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    // No credentials anywhere.
    let out = sb
        .cmd()
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["encrypt", "-i", "--kms", &arn, "s.yaml"])
        .run();
    assert_code(&out, 128);
    assert!(
        stderr(&out).to_lowercase().contains("credentials"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.read("s.yaml"), "k: v\n", "the file is untouched");
}

/// A KMS endpoint that accepts connections and never answers: the call stops at
/// SHROUD_KMS_TIMEOUT with one line naming AWS KMS and the variable; nothing is written.
#[test]
fn a_kms_endpoint_that_never_answers_fails_at_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(64) {
            held.push(c);
        }
    });
    let sb = Sandbox::new();
    sb.write("s.yaml", "k: v\n");
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let out = crate::hardening::run_bounded(
        sb.cmd()
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SHROUD_KMS_TIMEOUT", "1")
            .args(["encrypt", "-i", "--kms", arn, "s.yaml"]),
        120,
    );
    assert_code(&out, 128);
    let err = stderr(&out);
    assert!(
        err.contains("AWS KMS did not answer within 1 s") && err.contains("SHROUD_KMS_TIMEOUT"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(sb.read("s.yaml"), "k: v\n");
}
