//! Throughput on a ~5 MB YAML stream (hundreds of documents, thousands of values and comments):
//! plain parse + emit, in-process encrypt and decrypt, the `shroud` CLI end to end, and the
//! `rops` CLI (the Rust sops clone) on the same content when it is installed.
//!
//! Run: `cargo bench --bench yaml_throughput` (or `scripts/bench.sh`, which installs rops).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shroud::crypto::{self, Cipher, Rules};
use shroud::secret::DataKey;
use shroud::store::{self, EmitOptions, Format};

const RUNS: usize = 5;
const RECIPIENT: &str = "age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93";

fn document(i: usize, out: &mut String, single: bool) {
    let ind = if single { "    " } else { "" };
    if single {
        out.push_str(&format!("doc{i}:\n"));
    } else {
        out.push_str("---\n");
    }
    out.push_str(&format!("{ind}# service {i}: generated configuration\n"));
    out.push_str(&format!("{ind}apiVersion: v1\n{ind}kind: Secret\n{ind}metadata:\n{ind}    name: service-{i}\n{ind}    namespace: team-{}\n", i % 17));
    out.push_str(&format!(
        "{ind}    labels:\n{ind}        app: service-{i}\n{ind}        tier: backend # which tier\n"
    ));
    out.push_str(&format!("{ind}stringData:\n"));
    for j in 0..24 {
        if j % 4 == 0 {
            out.push_str(&format!("{ind}    # credential group {j}\n"));
        }
        out.push_str(&format!(
            "{ind}    key_{j}: value-{i}-{j}-{}\n",
            "x".repeat(60 + (i * j) % 90)
        ));
    }
    out.push_str(&format!(
        "{ind}    port: {}\n{ind}    ratio: 0.{}\n{ind}    enabled: true\n",
        8000 + i,
        i % 97
    ));
    out.push_str(&format!("{ind}    hosts:\n"));
    for j in 0..6 {
        out.push_str(&format!(
            "{ind}        - host-{j}.service-{i}.internal.example.com\n"
        ));
    }
    out.push_str(&format!("{ind}    certificate: |\n"));
    for j in 0..12 {
        out.push_str(&format!("{ind}        MIIC{j}{}\n", "A".repeat(56)));
    }
}

fn stream(single: bool) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 5_000_000 {
        document(i, &mut s, single);
        i += 1;
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<F: FnMut()>(mut f: F) -> Duration {
    f(); // warm up
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn run(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn line(name: &str, bytes: usize, d: Duration) {
    println!(
        "{name:<44} {:>9.1} ms {:>9.1} MB/s",
        d.as_secs_f64() * 1e3,
        mbps(bytes, d)
    );
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let text = stream(false);
    let input = dir.join("stream.yaml");
    std::fs::write(&input, &text).unwrap();
    let bytes = text.len();
    let docs = text.matches("\n---\n").count() + 1;
    let values = text
        .lines()
        .filter(|l| l.contains(": ") || l.trim_start().starts_with("- "))
        .count();
    let comments = text.matches('#').count();
    println!(
        "input: {:.2} MB, {docs} documents, ~{values} values, {comments} comments\n",
        bytes as f64 / 1e6
    );

    let parse_emit = time(|| {
        let t = store::load_plain(Format::Yaml, text.as_bytes()).unwrap();
        store::emit(Format::Yaml, &t, EmitOptions::default()).unwrap();
    });
    line("shroud parse + emit (no crypto)", bytes, parse_emit);

    let key = DataKey::generate();
    let rules = Rules::default_rules();
    let mut encrypted = Vec::new();
    let enc = time(|| {
        let mut t = store::load_plain(Format::Yaml, text.as_bytes()).unwrap();
        crypto::encrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap();
        encrypted = store::emit(Format::Yaml, &t, EmitOptions::default()).unwrap();
    });
    line("shroud encrypt in-process (parse+enc+emit)", bytes, enc);
    let dec = time(|| {
        let mut t = store::load_plain(Format::Yaml, &encrypted).unwrap();
        crypto::decrypt_tree(&mut t, &mut Cipher::new(&key), &rules).unwrap();
        store::emit(Format::Yaml, &t, EmitOptions::default()).unwrap();
    });
    line("shroud decrypt in-process (parse+dec+emit)", bytes, dec);
    println!(
        "{:<44} {:>9.2}x",
        "encrypt cost / plain parse+emit",
        enc.as_secs_f64() / parse_emit.as_secs_f64()
    );

    let shroud = env!("CARGO_BIN_EXE_shroud");
    let keyfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys/test-age.txt");
    let out = dir.join("stream.enc.yaml");
    let cli_enc = time(|| {
        let f = std::fs::File::create(&out).unwrap();
        let ok = Command::new(shroud)
            .args(["encrypt", "--age", RECIPIENT])
            .arg(&input)
            .stdout(f)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    });
    line("shroud CLI encrypt", bytes, cli_enc);
    let cli_dec = time(|| {
        assert!(run(Command::new(shroud)
            .env("SOPS_AGE_KEY_FILE", &keyfile)
            .arg("decrypt")
            .arg(&out)));
    });
    line("shroud CLI decrypt", bytes, cli_dec);

    // rops on the same content. rops reads one document per file, so it gets the same data as
    // a single document (every stream document under its own key); shroud is timed on that too.
    let rops_ok = Command::new("rops")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !rops_ok {
        println!("\nrops: not installed (cargo install rops-cli); skipped");
        return;
    }
    let single = stream(true);
    let sbytes = single.len();
    let sin = dir.join("single.yaml");
    std::fs::write(&sin, &single).unwrap();
    println!(
        "\nsingle-document variant: {:.2} MB (for rops, which reads one document per file)",
        sbytes as f64 / 1e6
    );
    let sout = dir.join("single.enc.yaml");
    let s_enc = time(|| {
        let f = std::fs::File::create(&sout).unwrap();
        assert!(
            Command::new(shroud)
                .args(["encrypt", "--age", RECIPIENT])
                .arg(&sin)
                .stdout(f)
                .status()
                .unwrap()
                .success()
        );
    });
    line("shroud CLI encrypt (single document)", sbytes, s_enc);
    let s_dec = time(|| {
        assert!(run(Command::new(shroud)
            .env("SOPS_AGE_KEY_FILE", &keyfile)
            .arg("decrypt")
            .arg(&sout)));
    });
    line("shroud CLI decrypt (single document)", sbytes, s_dec);
    let rout = dir.join("single.rops.yaml");
    let r_enc = time(|| {
        let f = std::fs::File::create(&rout).unwrap();
        let ok = Command::new("rops")
            .args(["encrypt", "--age", RECIPIENT])
            .arg(&sin)
            .stdout(f)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "rops encrypt failed");
    });
    line("rops CLI encrypt (single document)", sbytes, r_enc);
    let key_text = std::fs::read_to_string(&keyfile).unwrap();
    let secret = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .unwrap()
        .to_owned();
    let r_dec = time(|| {
        let ok = run(Command::new("rops")
            .env("ROPS_AGE", &secret)
            .arg("decrypt")
            .arg(&rout));
        assert!(ok, "rops decrypt failed");
    });
    line("rops CLI decrypt (single document)", sbytes, r_dec);
    println!(
        "\nshroud vs rops: encrypt {:.1}x faster, decrypt {:.1}x faster",
        r_enc.as_secs_f64() / s_enc.as_secs_f64(),
        r_dec.as_secs_f64() / s_dec.as_secs_f64()
    );
}
