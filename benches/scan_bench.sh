#!/usr/bin/env bash
# shroud scan side by side with Kingfisher and detect-secrets, in one run:
#   1. accuracy on the labelled real-code corpus ../shared/corpora/credata-dev (score.py: recall,
#      precision, F1 over (file, line) findings);
#   2. throughput on >= TARGET_MB of real source code (the local cargo registry sources, copied
#      until the target size is reached): wall seconds, MB/s, CPU seconds, MB per CPU-second;
#   3. one-file staged latency (`--staged` with one modified file; median and p90 of 30 runs).
#
#   benches/scan_bench.sh [TARGET_MB]      (default 300)
#
# Installs what it needs from PyPI into a virtualenv: kingfisher-bin (the Kingfisher binary in
# a wheel) and detect-secrets. detect-secrets is pure Python and slow, so its throughput is
# measured on a 20 MB slice of the same data. Page cache warm; all tools use all cores.
set -euo pipefail

TARGET_MB="${1:-300}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SHROUD_BENCH_DIR:-/tmp/shroud-bench}"
DATA="$WORK/data"
SLICE="$WORK/slice"
TOOLS="$WORK/tools"
CORPUS="${SHROUD_CREDATA:-$ROOT/../shared/corpora/credata-dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK" "$TOOLS"
[ -f "$CORPUS/score.py" ] || { echo "bench: corpus missing at $CORPUS" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet --bin shroud)
SHROUD="$CARGO_TARGET_DIR/release/shroud"
if [ ! -x "$TOOLS/venv/bin/detect-secrets" ] || [ ! -x "$TOOLS/venv/bin/kingfisher" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check detect-secrets kingfisher-bin
fi
KF="$TOOLS/venv/bin/kingfisher"
DS="$TOOLS/venv/bin/detect-secrets"
DSHOOK="$TOOLS/venv/bin/detect-secrets-hook"
NPROC=$(nproc)
echo "tools: $("$SHROUD" --version 2>/dev/null | head -1), $("$KF" --version), detect-secrets $("$DS" --version)"
echo "machine: $NPROC cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. accuracy on credata-dev -----------------------------------------------------------------
echo
echo "== accuracy: credata-dev ($(du -sm "$CORPUS/files" | cut -f1) MB, labelled lines) =="
FILES="$CORPUS/files"
(cd "$FILES" && "$SHROUD" scan --format json --no-baseline . > "$WORK/acc-shroud.json" || true)
(cd "$FILES" && "$KF" scan . --format json --no-validate --git-history none --no-update-check \
    -o "$WORK/acc-kf.json" > /dev/null 2>&1 || true)
(cd "$FILES" && "$DS" scan --all-files . > "$WORK/acc-ds-raw.json" 2>/dev/null || true)
# detect-secrets keys results by file name: flatten to {file, line} objects for score.py.
python3 - "$WORK/acc-ds-raw.json" "$WORK/acc-ds.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
json.dump([{"file": f, "line": x["line_number"]} for f, xs in r.items() for x in xs], open(sys.argv[2], "w"))
PY
for t in shroud kf ds; do
    name=$([ $t = shroud ] && echo shroud || ([ $t = kf ] && echo Kingfisher || echo detect-secrets))
    printf "%-16s %s\n" "$name" "$(python3 "$CORPUS/score.py" --findings "$WORK/acc-$t.json" | tail -1)"
done

# --- 2. throughput on real code -----------------------------------------------------------------
if [ ! -f "$DATA/.complete" ]; then
    rm -rf "$DATA" "$SLICE"
    mkdir -p "$DATA"
    SRC="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    i=0
    while [ "$(du -sm "$DATA" | cut -f1)" -lt "$TARGET_MB" ]; do
        i=$((i + 1))
        cp -r "$SRC" "$DATA/copy$i"
    done
    touch "$DATA/.complete"
fi
if [ ! -d "$SLICE" ]; then
    mkdir -p "$SLICE"
    first="$(ls -d "$DATA"/copy1/*/ | head -1)"
    for d in "$first"*/; do
        cp -r "$d" "$SLICE/"
        [ "$(du -sm "$SLICE" | cut -f1)" -ge 20 ] && break
    done
fi
BYTES=$(find "$DATA" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
SLICE_BYTES=$(find "$SLICE" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
find "$DATA" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache

run() {  # name, bytes, command...  (wall MB/s, and MB per CPU-second: fair under load)
    local name="$1" bytes="$2"
    shift 2
    local t wall cpu
    /usr/bin/time -o "$WORK/time.txt" -f "%e %U %S" "$@" > /dev/null 2>&1 || true
    t=$(tail -1 "$WORK/time.txt")
    wall=$(echo "$t" | cut -d' ' -f1)
    cpu=$(echo "$t" | awk '{print $2 + $3}')
    printf "%-30s %8.2f s wall %9.1f MB/s   %7.2f CPU-s %9.1f MB/CPU-s\n" "$name" "$wall" \
        "$(echo "$bytes / 1000000 / $wall" | bc -l)" "$cpu" "$(echo "$bytes / 1000000 / $cpu" | bc -l)"
}

echo
echo "== throughput: $((BYTES / 1000000)) MB of real source in $(find "$DATA" -type f | wc -l) files =="
run "shroud scan" "$BYTES" bash -c "cd '$DATA' && exec '$SHROUD' scan --format json --no-baseline ."
run "Kingfisher (--no-validate)" "$BYTES" "$KF" scan "$DATA" --format json --no-validate \
    --git-history none --no-update-check -j "$NPROC"
# detect-secrets takes a directory only as the working directory (a path argument is a file).
run "detect-secrets (20 MB slice)" "$SLICE_BYTES" bash -c "cd '$SLICE' && exec '$DS' scan --all-files ."
run "shroud scan (same slice)" "$SLICE_BYTES" bash -c "cd '$SLICE' && exec '$SHROUD' scan --format json --no-baseline ."

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
print("%-30s median %7.1f ms   p90 %7.1f ms" % (name, ts[15], ts[26]))
PY
}
echo
echo "== one staged file ($(git -C "$STAGE" ls-files | wc -l) files in the repository) =="
cd "$STAGE"
latency "shroud scan --staged" "$SHROUD" scan --staged
latency "Kingfisher --staged" "$KF" scan . --staged --no-validate --no-update-check
latency "detect-secrets-hook (1 file)" "$DSHOOK" "$(cat "$WORK/staged-file")"
