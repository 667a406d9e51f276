#!/usr/bin/env bash
# Throughput of `shroud scan` on a few hundred MB of real source code (the local cargo registry
# sources, copied until the target size is reached) with planted secrets, side by side with
# ripsecrets, detect-secrets and ripgrep running the provider regexes (the ceiling).
#
#   benches/scan_bench.sh [TARGET_MB]      (default 300)
#
# Installs what is missing: ripgrep and ripsecrets with `cargo install`, detect-secrets into a
# virtualenv. detect-secrets is pure Python and slow, so it runs over a 20 MB slice and its
# MB/s is computed on that slice. Numbers are wall-clock, page cache warm, all cores.
set -euo pipefail

TARGET_MB="${1:-300}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SHROUD_BENCH_DIR:-/tmp/shroud-bench}"
DATA="$WORK/data"
SLICE="$WORK/slice"
TOOLS="$WORK/tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK" "$TOOLS"

# --- tools -------------------------------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet --bin shroud)
SHROUD="$CARGO_TARGET_DIR/release/shroud"
if ! command -v rg >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        apt-get install -y -qq ripgrep >/dev/null || cargo install --quiet --locked ripgrep
    else
        cargo install --quiet --locked ripgrep
    fi
fi
command -v ripsecrets >/dev/null 2>&1 || cargo install --quiet --locked ripsecrets
if [ ! -x "$TOOLS/venv/bin/detect-secrets" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check detect-secrets
fi
DETECT="$TOOLS/venv/bin/detect-secrets"

# --- data --------------------------------------------------------------------------------------
if [ ! -f "$DATA/.complete" ]; then
    rm -rf "$DATA" "$SLICE"
    mkdir -p "$DATA"
    SRC="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    i=0
    while [ "$(du -sm "$DATA" | cut -f1)" -lt "$TARGET_MB" ]; do
        i=$((i + 1))
        cp -r "$SRC" "$DATA/copy$i"
    done
    # Plant 100 secrets (fake, valid formats) in random existing files.
    python3 - "$DATA" <<'PY'
import os, random, string, sys, zlib
root = sys.argv[1]
R = random.Random(7)
A = string.ascii_letters + string.digits
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n):
    s = ""
    for _ in range(6):
        s = B62[n % 62] + s; n //= 62
    return s
def gh():
    r = "".join(R.choice(A) for _ in range(30))
    return "ghp_" + r + b62(zlib.crc32(r.encode()))
files = []
for d, _, fs in os.walk(root):
    files += [os.path.join(d, f) for f in fs if f.endswith((".rs", ".toml", ".md"))]
R.shuffle(files)
for f in files[:100]:
    with open(f, "a") as fh:
        k = R.randrange(3)
        if k == 0:
            fh.write(f'\n// planted\nconst T: &str = "{gh()}";\n')
        elif k == 1:
            fh.write("\n// planted\n// AKIA" + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) + "\n")
        else:
            fh.write("\n// planted\n// postgres://app:" + "".join(R.choice(A) for _ in range(16)) + "@db.internal/app\n")
PY
    touch "$DATA/.complete"
fi
if [ ! -d "$SLICE" ]; then
    mkdir -p "$SLICE"
    # ~20 MB slice of the same data for the slow tool.
    first="$(ls -d "$DATA"/copy1/*/ | head -1)"
    for d in "$first"*/; do
        cp -r "$d" "$SLICE/"
        [ "$(du -sm "$SLICE" | cut -f1)" -ge 20 ] && break
    done
fi
BYTES=$(find "$DATA" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
SLICE_BYTES=$(find "$SLICE" -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
find "$DATA" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache

# Provider regexes for the ripgrep ceiling (the same shapes shroud's built-in rules use).
PATTERNS="$WORK/patterns.txt"
cat > "$PATTERNS" <<'PAT'
(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}
gh[pousr]_[A-Za-z0-9]{36}
github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}
glpat-[A-Za-z0-9_-]{20,}
xox[baprs]-[0-9]{6,}-[0-9A-Za-z-]{10,}
hooks\.slack\.com/services/[A-Za-z0-9+/_]{20,}
(sk|rk)_live_[0-9A-Za-z]{24,}
AIza[0-9A-Za-z_-]{35}
AccountKey=[A-Za-z0-9+/]{86}==
npm_[A-Za-z0-9]{36}
pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}
SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}
[0-9]{8,10}:AA[0-9A-Za-z_-]{33}
sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_-]{80,120}
sk-(proj|svcacct|admin)-[A-Za-z0-9_-]{40,}
-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----
AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}
eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}
[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:@/]{1,64}:[^\s:@/]{3,128}@
PAT

run() {  # name, bytes, command...  (wall MB/s, and MB per CPU-second: fair under load)
    local name="$1" bytes="$2"
    shift 2
    local t wall cpu
    /usr/bin/time -o "$WORK/time.txt" -f "%e %U %S" "$@" > /dev/null 2>&1 || true
    t=$(tail -1 "$WORK/time.txt")
    wall=$(echo "$t" | cut -d' ' -f1)
    cpu=$(echo "$t" | awk '{print $2 + $3}')
    printf "%-28s %8.2f s wall %9.1f MB/s   %7.2f CPU-s %9.1f MB/CPU-s\n" "$name" "$wall" \
        "$(echo "$bytes / 1000000 / $wall" | bc -l)" "$cpu" "$(echo "$bytes / 1000000 / $cpu" | bc -l)"
}

echo "data: $((BYTES / 1000000)) MB in $(find "$DATA" -type f | wc -l) files; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
run "shroud scan"                 "$BYTES" bash -c "cd '$DATA' && exec '$SHROUD' scan --format json --no-baseline"
run "rg (provider regexes)"       "$BYTES" rg --no-ignore --hidden -c -f "$PATTERNS" "$DATA"
run "ripsecrets"                  "$BYTES" ripsecrets "$DATA"
run "detect-secrets (20MB slice)" "$SLICE_BYTES" "$DETECT" scan --all-files "$SLICE"
run "shroud scan (same slice)"    "$SLICE_BYTES" bash -c "cd '$SLICE' && exec '$SHROUD' scan --format json --no-baseline"
