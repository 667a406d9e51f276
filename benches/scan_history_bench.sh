#!/usr/bin/env bash
# `--all-history` side by side with Kingfisher on a generated repository of real source files:
# COMMITS commits (default 3000) over ~400 files taken from the local cargo registry sources,
# each commit editing a few files; 40 distinct fake credentials are planted and copied around
# (so the same secret appears in many blobs), the way leaked secrets spread in real history.
#
#   benches/scan_history_bench.sh [COMMITS]
#
# Reports wall and CPU time, findings, distinct secrets and findings without a commit. Needs
# Kingfisher from benches/scan_bench.sh's virtualenv (installed here when missing).
set -euo pipefail

COMMITS="${1:-3000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SHROUD_BENCH_DIR:-/tmp/shroud-bench}"
REPO="$WORK/history-$COMMITS"
TOOLS="$WORK/tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK" "$TOOLS"
(cd "$ROOT" && cargo build --release --quiet --bin shroud)
SHROUD="$CARGO_TARGET_DIR/release/shroud"
if [ ! -x "$TOOLS/venv/bin/kingfisher" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check kingfisher-bin
fi
KF="$TOOLS/venv/bin/kingfisher"

if [ ! -d "$REPO/.git" ]; then
    rm -rf "$REPO"
    mkdir -p "$REPO"
    git -C "$REPO" init -q -b main
    python3 - "$REPO" "$COMMITS" "${CARGO_HOME:-$HOME/.cargo}/registry/src" <<'PY' | git -C "$REPO" fast-import --quiet
import os, random, string, sys, zlib
repo, n, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
R = random.Random(3035)
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
files = []
for d, _, fs in os.walk(src):
    files += [os.path.join(d, f) for f in fs if f.endswith((".rs", ".toml", ".md"))]
files.sort()
R.shuffle(files)
files = files[:400]
content = {}
for i, f in enumerate(files):
    try:
        content["src/f%03d/%s" % (i, os.path.basename(f))] = open(f, "rb").read()[:8000]
    except OSError:
        pass
paths = sorted(content)
secrets = [gh() for _ in range(20)] + [
    "AKIA" + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) for _ in range(20)]
out = sys.stdout.buffer
def blob(data):
    out.write(b"data %d\n" % len(data)); out.write(data); out.write(b"\n")
for c in range(1, n + 1):
    out.write(b"commit refs/heads/main\nmark :%d\ncommitter B <b@example.com> %d +0000\n" % (c, 1600000000 + c * 60))
    blob(b"c%d" % c)
    if c > 1:
        out.write(b"from :%d\n" % (c - 1))
    todo = paths if c == 1 else R.sample(paths, 3)
    for p in todo:
        data = content[p] + b"\n// rev %d\n" % c
        if c > 1 and R.random() < 0.08:
            s = secrets[R.randrange(len(secrets))]
            data += b"// planted\nconst T: &str = \"%s\";\n" % s.encode()
        content[p] = data
        out.write(b"M 100644 inline %s\n" % p.encode())
        blob(data)
PY
    git -C "$REPO" reset -q --hard main
fi
echo "repository: $(git -C "$REPO" rev-list --count HEAD) commits, $(git -C "$REPO" rev-list --objects --all | wc -l) objects, $(du -sm "$REPO/.git" | cut -f1) MB .git"

timed() {  # name, command...: wall and CPU seconds
    local name="$1"
    shift
    /usr/bin/time -o "$WORK/htime.txt" -f "%e %U %S" "$@" > "$WORK/hout.json" 2>/dev/null || true
    read -r wall user sys < <(tail -1 "$WORK/htime.txt")
    printf "%-34s %7.2f s wall %7.2f CPU-s" "$name" "$wall" "$(echo "$user + $sys" | bc -l)"
}
timed "shroud scan --all-history" bash -c "cd '$REPO' && exec '$SHROUD' scan --all-history --format json --no-baseline"
python3 - "$WORK/hout.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
print("   %d findings (each a distinct secret), %d occurrences, %d without a commit"
      % (len(f), sum(x["occurrences"] for x in f), sum(1 for x in f if not x["commit"])))
PY
timed "Kingfisher (git history, no-validate)" "$KF" scan "$REPO" --git-history full --format json --no-validate --no-update-check
python3 - "$WORK/hout.json" <<'PY'
import json, sys
try:
    d, _ = json.JSONDecoder().raw_decode(open(sys.argv[1]).read())  # report, then a summary
    f = d.get("findings", [])
    print("   %d findings (%d distinct secrets)"
          % (len(f), len({x["finding"]["snippet"] for x in f if "finding" in x})))
except Exception as e:
    print("   (no JSON report: %s)" % e)
PY
