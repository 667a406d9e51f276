//! Interop with the Go `age` CLI, both directions, and with the real sops 3.11 for
//! post-quantum (`age1pq1…`) and plugin (`age1simplepq1…`) recipients, alone, mixed with X25519
//! ones and in key groups.

use std::io::Write;
use std::process::{Command, Stdio};

use shroud::keysource::age::Identities;
use shroud::metadata::AgeKey;

use crate::pq::{plugin_key, pq_key, sops_with_plugin, with_plugin};
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

/// Encrypts `plain` as `name` with shroud (`args`) and with the real sops (same `args`), then
/// checks that each opens in the other with `key_env` (environment of the decrypting side).
fn both_ways(sb: &Sandbox, name: &str, args: &[&str], key_env: &[(&str, String)]) {
    let plain = "db:\n  password: hunter2\nlist:\n  - 1\n  - two\n";
    sb.write(name, plain);
    let by_shroud = with_plugin(sb).args(["encrypt"]).args(args).arg(name).run();
    assert_code(&by_shroud, 0);
    let by_sops = sops_with_plugin(sb)
        .args(["encrypt"])
        .args(args)
        .arg(name)
        .run();
    assert_code(&by_sops, 0);
    let stem = name.trim_end_matches(".yaml");
    let (shroud_file, sops_file) = (format!("{stem}.shroud.yaml"), format!("{stem}.sops.yaml"));
    std::fs::write(sb.path(&shroud_file), &by_shroud.stdout).unwrap();
    std::fs::write(sb.path(&sops_file), &by_sops.stdout).unwrap();
    let mut sops = sops_with_plugin(sb);
    let mut shroud = with_plugin(sb);
    for (k, v) in key_env {
        sops.env(k, v);
        shroud.env(k, v);
    }
    let o = sops.args(["decrypt", &shroud_file]).run();
    assert_code(&o, 0);
    // sops indents by four: the same document.
    assert_eq!(
        sem("yaml", &o.stdout),
        sem("yaml", plain.as_bytes()),
        "the real sops opens shroud's {name}"
    );
    let o = shroud.args(["decrypt", &sops_file]).run();
    assert_code(&o, 0);
    assert_eq!(
        sem("yaml", &o.stdout),
        sem("yaml", plain.as_bytes()),
        "shroud opens the real sops's {name}"
    );
}

#[test]
fn post_quantum_recipients_interoperate_with_the_real_sops() {
    let sb = Sandbox::new();
    let (k, p) = pq_key(&sb, "pq.txt");
    let key = |p: &std::path::Path| ("SOPS_AGE_KEY_FILE", p.display().to_string());
    // Alone, and mixed with an X25519 recipient (either key opens it).
    both_ways(&sb, "alone.yaml", &["--age", &p], &[key(&k)]);
    let mixed = format!("{TEST_RECIPIENT},{p}");
    both_ways(&sb, "mixed.yaml", &["--age", &mixed], &[key(&k)]);
    both_ways(&sb, "mixed2.yaml", &["--age", &mixed], &[key(&test_key())]);
    // The post-quantum envelope is the hybrid stanza.
    let text = sb.read("alone.shroud.yaml");
    let env = envelopes(&text).remove(0);
    use base64::Engine;
    let body: String = env.lines().filter(|l| !l.starts_with("-----")).collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("\n-> mlkem768x25519 "));
    // Key groups: a post-quantum group and an X25519 group, both needed.
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: groups\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{p}]\n      - age: [{TEST_RECIPIENT}]\n"
        ),
    );
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&k).unwrap(),
        std::fs::read_to_string(test_key()).unwrap()
    );
    both_ways(&sb, "groups.yaml", &[], &[("SOPS_AGE_KEY", both)]);
    let o = sb
        .cmd()
        .env("SOPS_AGE_KEY_FILE", &k)
        .args(["decrypt", "groups.sops.yaml"])
        .run();
    assert_code(&o, 128);
}

#[test]
fn plugin_recipients_interoperate_with_the_real_sops() {
    let sb = Sandbox::new();
    let (id, plug) = plugin_key(&sb, "plugin.txt");
    let (k, p) = pq_key(&sb, "pq.txt");
    let key = |p: &std::path::Path| ("SOPS_AGE_KEY_FILE", p.display().to_string());
    both_ways(&sb, "alone.yaml", &["--age", &plug], &[key(&id)]);
    // Mixed with X25519 and post-quantum recipients: the plugin identity alone opens it.
    let mixed = format!("{TEST_RECIPIENT},{plug},{p}");
    both_ways(&sb, "mixed.yaml", &["--age", &mixed], &[key(&id)]);
    both_ways(&sb, "mixed-pq.yaml", &["--age", &mixed], &[key(&k)]);
    // Key groups: the plugin in one group, X25519 and post-quantum in the other.
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: groups\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{plug}]\n      - age: [{TEST_RECIPIENT}, {p}]\n"
        ),
    );
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&id).unwrap(),
        std::fs::read_to_string(&k).unwrap()
    );
    both_ways(&sb, "groups.yaml", &[], &[("SOPS_AGE_KEY", both)]);
}
