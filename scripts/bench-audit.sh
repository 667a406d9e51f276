#!/usr/bin/env bash
# `shroud audit` on a generated 10,000-file git repository, without --history: 6,000 sops files
# (age for two recipients; Shamir 2-of-3 under vault/), 4,000 plaintext configs and sources,
# one .sops.yaml; two commits, the second rotating 500 files and editing values of 500 more,
# so that envelope dating has to read and compare old versions. Prints each run and the
# median. Usage: scripts/bench-audit.sh [FILES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
runs="${2:-5}"
cargo build --release --quiet --bin shroud
shroud="${CARGO_TARGET_DIR:-$PWD/target}/release/shroud"
# SHROUD_BENCH_DIR=DIR keeps the generated repository in DIR (must not exist) for inspection.
if [ -n "${SHROUD_BENCH_DIR:-}" ]; then
  work="$SHROUD_BENCH_DIR"
  mkdir "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
r1="age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93"
r2="age1nefd6cryw7v2ac4s4vwlzercmrpw9m9j057ne9gp509zdct4pssshhtt7a"
r3="$("$shroud" keygen -o "$work/k3.txt" 2>&1 | grep -o 'age1[0-9a-z]*' | head -1)"
export SOPS_AGE_KEY_FILE="$PWD/keys/test-age.txt"

# Templates, each written by shroud itself.
t="$work/templates"
mkdir -p "$t"
printf 'db:\n    user: app\n    password: pw-secret\n    port: 5432\napi_token: tok-1\nfeatures:\n    - a\n    - b\n' > "$t/app.yaml"
cp "$t/app.yaml" "$t/vault.yaml"
"$shroud" encrypt --age "$r1,$r2" -i "$t/app.yaml"
cp "$t/app.yaml" "$t/app-edited.yaml"
"$shroud" set "$t/app-edited.yaml" '["db"]["password"]' '"pw-changed"'
cp "$t/app.yaml" "$t/app-rotated.yaml"
"$shroud" rotate -i "$t/app-rotated.yaml"
printf 'creation_rules:\n  - path_regex: ^vault\n    shamir_threshold: 2\n    key_groups:\n      - age: [%s]\n      - age: [%s]\n      - age: [%s]\n' "$r1" "$r2" "$r3" > "$t/.sops.yaml"
(cd "$t" && "$shroud" encrypt -i vault.yaml)

repo="$work/repo"
mkdir -p "$repo"
printf 'creation_rules:\n  - path_regex: /vault/\n    shamir_threshold: 2\n    key_groups:\n      - age: [%s]\n      - age: [%s]\n      - age: [%s]\n  - path_regex: /secrets/.*\\.yaml$\n    age: %s,%s\naudit:\n  max_key_age: 90d\n' "$r1" "$r2" "$r3" "$r1" "$r2" > "$repo/.sops.yaml"
python3 - "$t" "$repo" "$n" <<'PY'
import os, sys
t, repo, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = open(os.path.join(t, "app.yaml")).read()
vault = open(os.path.join(t, "vault.yaml")).read()
config = "replicas: 3\nimage: registry.example/app:1.2.3\nresources:\n  cpu: 500m\n  memory: 512Mi\n" * 8
source = "fn main() {\n    println!(\"hello\");\n}\n" * 30
sops_n = n * 6 // 10
i = 0
while i < n - 1:  # .sops.yaml is the last file
    team, env = i % 50, (i // 50) % 3
    base = os.path.join(repo, f"team{team:02}", ["dev", "staging", "prod"][env])
    if i < sops_n:
        sub, body = ("vault", vault) if i % 10 == 0 else ("secrets", app)
        path = os.path.join(base, sub, f"s{i}.yaml")
    elif i % 2:
        path, body = os.path.join(base, "config", f"c{i}.yaml"), config
    else:
        path, body = os.path.join(base, "src", f"m{i}.rs"), source
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body)
    i += 1
PY
g() { git -C "$repo" -c user.name=bench -c user.email=bench@example.com -c commit.gpgsign=false "$@"; }
g init -q
g add -A
GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z g commit -q -m "initial"
mapfile -t secrets < <(cd "$repo" && find . -path '*/secrets/*.yaml' | sort | head -1000)
for f in "${secrets[@]:0:500}"; do cp "$t/app-rotated.yaml" "$repo/$f"; done
for f in "${secrets[@]:500:500}"; do cp "$t/app-edited.yaml" "$repo/$f"; done
g add -A
g commit -q -m "rotate 500, edit 500"
files=$(cd "$repo" && find . -path ./.git -prune -o -type f -print | wc -l)
echo "== shroud audit on $files files ($(du -sh --exclude=.git "$repo" | cut -f1)), $runs runs"
"$shroud" audit "$repo" --format json -o "$work/report.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print('   ', {k: s[k] for k in ('files_seen','sops_files','recipients','drift','stale','plaintext','integrity')})" "$work/report.json"
times=()
for _ in $(seq 1 "$runs"); do
  t0=$(date +%s.%N)
  "$shroud" audit "$repo" --format json -o /dev/null
  t1=$(date +%s.%N)
  times+=("$(echo "$t1 - $t0" | bc)")
done
printf '  json runs: %s s\n' "${times[*]}"
python3 -c "import statistics,sys; print(f'  median {statistics.median(map(float, sys.argv[1:])):.3f} s (target < 2 s)')" "${times[@]}"
for fmt in text markdown html; do
  t0=$(date +%s.%N); "$shroud" audit "$repo" --format "$fmt" -o "$work/report.$fmt"; t1=$(date +%s.%N)
  printf '  --format %-8s %.3f s, %s bytes\n' "$fmt" "$(echo "$t1 - $t0" | bc)" "$(wc -c < "$work/report.$fmt")"
done
