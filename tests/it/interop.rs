//! Interop with the Go `age` CLI, both directions.

use std::io::Write;
use std::process::{Command, Stdio};

use shroud::keysource::age::Identities;
use shroud::metadata::AgeKey;

use crate::util::*;

/// Pulls every `enc: |` armored block out of an encrypted YAML file.
fn envelopes(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in yaml.lines() {
        let t = line.trim();
        if t == "-----BEGIN AGE ENCRYPTED FILE-----" {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(t);
            c.push('\n');
        }
        if t == "-----END AGE ENCRYPTED FILE-----" {
            out.push(cur.take().unwrap());
        }
    }
    out
}

#[test]
fn go_age_opens_stanzas_written_by_shroud() {
    let age = age_cli();
    let sb = Sandbox::new();
    sb.write("s.yaml", "a: 1\nb: two\n");
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age"])
        .arg(format!("{TEST_RECIPIENT},{TEST_RECIPIENT2}"))
        .arg("s.yaml")
        .run();
    assert_code(&out, 0);
    let envs = envelopes(&sb.read("s.yaml"));
    assert_eq!(envs.len(), 2, "one age entry per recipient");
    let mut keys = Vec::new();
    for (env, key) in envs.iter().zip([test_key(), test_key2()]) {
        std::fs::write(sb.path("e.age"), env).unwrap();
        let o = Command::new(age)
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg(sb.path("e.age"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "age -d failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout.len(), 32, "the payload is the 32-byte data key");
        keys.push(o.stdout);
    }
    assert_eq!(keys[0], keys[1], "both recipients wrap the same data key");
}

#[test]
fn shroud_opens_envelopes_written_by_go_age() {
    let age = age_cli();
    let mut child = Command::new(age)
        .args(["-a", "-r", TEST_RECIPIENT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&[42u8; 32]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let mut ids = Identities::default();
    ids.add_text(&std::fs::read_to_string(test_key()).unwrap(), "test")
        .unwrap();
    let key = AgeKey {
        recipient: TEST_RECIPIENT.into(),
        enc: String::from_utf8(out.stdout).unwrap(),
    };
    assert_eq!(ids.unwrap(&key).unwrap().expose(), &[42u8; 32]);
}

#[test]
fn ssh_ed25519_recipients_work_end_to_end() {
    let sb = Sandbox::new();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(sb.path("id"))
        .status()
        .expect("ssh-keygen is required (apt-get install openssh-client)");
    assert!(st.success());
    let pubkey = sb.read("id.pub");
    sb.write("s.yaml", "token: abc\n");
    let out = sb
        .cmd()
        .args(["encrypt", "-i", "--age", pubkey.trim(), "s.yaml"])
        .run();
    assert_code(&out, 0);
    let out = sb
        .cmd()
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sb.path("id"))
        .args(["decrypt", "s.yaml"])
        .run();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "token: abc\n");
    // The Go CLI opens it with the same SSH key.
    let env = envelopes(&sb.read("s.yaml")).remove(0);
    std::fs::write(sb.path("e.age"), env).unwrap();
    let o = Command::new(age_cli())
        .arg("-d")
        .arg("-i")
        .arg(sb.path("id"))
        .arg(sb.path("e.age"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), 32);
}
