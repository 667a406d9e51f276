#!/usr/bin/env bash
# Repository-wide rotation throughput: shroud rotate --recursive (one process, parallel files)
# versus the same work done one process per file (how sops users rotate today, sops #1079).
# age: 1,000 small files. AWS KMS: 200 files against moto_server on 127.0.0.1, counting KMS
# requests per file (rotation needs exactly 3: one Decrypt of the old key, one Encrypt of the
# new one, one Decrypt that checks the new envelope before the file is written).
# Usage: scripts/bench-rotate.sh [AGE_FILES] [KMS_FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
n_age="${1:-1000}"
n_kms="${2:-200}"
cargo build --release --quiet --bin shroud
shroud="${CARGO_TARGET_DIR:-$PWD/target}/release/shroud"
recipient="age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93"
export SOPS_AGE_KEY_FILE="$PWD/keys/test-age.txt"
work="$(mktemp -d)"
moto_pid=""
cleanup() { [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
rate() { python3 -c "import sys; n,t=float(sys.argv[1]),float(sys.argv[2]); print(f'{n/t:8.1f} files/s  ({t:6.2f} s)')" "$1" "$2"; }

make_files() { # dir count args...
  local dir="$1" count="$2"; shift 2
  mkdir -p "$dir"
  for i in $(seq 1 "$count"); do
    printf 'db:\n    user: app%s\n    password: pw-%s-secret\n    port: %s\napi_token: tok-%s\n' "$i" "$i" "$((5000 + i))" "$i" > "$dir/s$i.yaml"
  done
  "$shroud" encrypt "$@" -i "$dir"/s1.yaml >/dev/null
  for f in "$dir"/*.yaml; do [ "$f" = "$dir/s1.yaml" ] || "$shroud" encrypt "$@" -i "$f"; done
}

echo "== age: $n_age files"
make_files "$work/age/secrets" "$n_age" --age "$recipient"
printf 'creation_rules:\n  - path_regex: secrets/.*\n    age: %s\n' "$recipient" > "$work/age/.sops.yaml"
t0=$(now); "$shroud" rotate -i -y --recursive "$work/age" 2>/dev/null; t1=$(now)
printf 'shroud rotate --recursive (1 process) : '; rate "$n_age" "$(echo "$t1 - $t0" | bc)"
t0=$(now); for f in "$work"/age/secrets/*.yaml; do "$shroud" rotate -i "$f" 2>/dev/null; done; t1=$(now)
printf 'one process per file                   : '; rate "$n_age" "$(echo "$t1 - $t0" | bc)"

echo "== AWS KMS (moto): $n_kms files"
command -v moto_server >/dev/null || python3 -m pip install --quiet "moto[server]>=5,<6"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
arn=$(python3 - "$AWS_ENDPOINT_URL" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/", data=b"{}", headers={
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=x"})
print(json.load(urllib.request.urlopen(req))["KeyMetadata"]["Arn"])
PY
)
unset SOPS_AGE_KEY_FILE
make_files "$work/kms/secrets" "$n_kms" --kms "$arn"
printf 'creation_rules:\n  - path_regex: secrets/.*\n    kms: %s\n' "$arn" > "$work/kms/.sops.yaml"
before=$(grep -c 'POST / ' "$work/moto.log" || true)
t0=$(now); "$shroud" rotate -i -y --recursive "$work/kms" 2>/dev/null; t1=$(now)
after=$(grep -c 'POST / ' "$work/moto.log" || true)
printf 'shroud rotate --recursive (1 process) : '; rate "$n_kms" "$(echo "$t1 - $t0" | bc)"
python3 -c "import sys; print(f'  KMS requests per file: {(int(sys.argv[2])-int(sys.argv[1]))/int(sys.argv[3]):.2f} (Decrypt, Encrypt, Decrypt to check the new envelope)')" "$before" "$after" "$n_kms"
t0=$(now); for f in "$work"/kms/secrets/*.yaml; do "$shroud" rotate -i "$f" 2>/dev/null; done; t1=$(now)
printf 'one process per file                   : '; rate "$n_kms" "$(echo "$t1 - $t0" | bc)"
