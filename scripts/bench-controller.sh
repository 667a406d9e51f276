#!/usr/bin/env bash
# Converges N EncryptedSecrets (default 1000) on a local kube-apiserver v1.20.2 and reports:
# time from controller start to all Ready, writes issued (controller metrics and the API
# server's own request counters), and the controller's peak RSS; then restarts the controller
# and counts the writes it issues for N unchanged objects (expected: none).
# Usage: bench-controller.sh [N]   (1000 and 10000 are the numbers in docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
bash scripts/setup-kube.sh
cargo build --release --quiet --features cluster --bin shroud-controller --bin shroud
dir="$(mktemp -d)"
ctl_pid=""
cleanup() {
  rc=$?
  if [ "$rc" != 0 ]; then
    for f in apiserver.log etcd.log controller.log; do
      [ -f "$dir/$f" ] && { echo "bench: --- $f (last lines) ---"; tail -15 "$dir/$f"; }
    done
  fi
  [ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null
  bash scripts/kube-down.sh "$dir"; rm -rf "$dir"
}
trap cleanup EXIT
bash scripts/kube-up.sh "$dir"
url="$(cat "$dir/server-url")"; token="$(cat "$dir/token")"
k() { curl -sS --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" "$@"; }
ns=bench
k -X POST -H 'Content-Type: application/json' "$url/api/v1/namespaces" \
  -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" >/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' keys/test-age.txt | head -1)
echo "bench: generating $n EncryptedSecrets"
mkdir -p "$dir/es"
start_gen=$(date +%s)
seq 1 "$n" | xargs -P 2 -I{} sh -c '
  printf "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s{}\",\"namespace\":\"'"$ns"'\"},\"stringData\":{\"password\":\"value-{}\",\"user\":\"u{}\"}}" > "'"$dir"'/es/s{}.plain.json"
  ./target/release/shroud encrypt --kind EncryptedSecret --age '"$recipient"' --output-type json "'"$dir"'/es/s{}.plain.json" > "'"$dir"'/es/s{}.json"'
echo "bench: generated in $(( $(date +%s) - start_gen )) s; installing the CRD"
./target/release/shroud-controller crd --json > "$dir/crd.json"
k -X POST -H 'Content-Type: application/json' "$url/apis/apiextensions.k8s.io/v1/customresourcedefinitions" \
  --data-binary @"$dir/crd.json" >/dev/null
for _ in $(seq 1 60); do
  k -f "$url/apis/shroud.dev/v1alpha1/namespaces/$ns/encryptedsecrets" >/dev/null 2>&1 && break; sleep 0.5
done
echo "bench: creating $n objects"
seq 1 "$n" | xargs -P 8 -I{} curl -sS --retry 5 --retry-connrefused --retry-delay 1 -o /dev/null --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -X POST --data-binary @"$dir/es/s{}.json" \
  "$url/apis/shroud.dev/v1alpha1/namespaces/$ns/encryptedsecrets"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
count_api_writes() {
  k "$url/metrics" | grep '^apiserver_request_total{' | grep -E 'verb="(POST|PUT|PATCH|DELETE|APPLY|CREATE|UPDATE)"' \
    | grep -E 'resource="(secrets|encryptedsecrets|events)"' | awk '{s+=$NF} END {print s+0}'
}
api_writes_before=$(count_api_writes)
t0=$(date +%s.%N)
KUBECONFIG="$dir/kubeconfig" SHROUD_LOG=warn ./target/release/shroud-controller --namespace "$ns" --lease-namespace "$ns" \
  --metrics-addr "127.0.0.1:$port" --age-key-file keys/test-age.txt --concurrency 16 2>"$dir/controller.log" &
ctl_pid=$!
count_ready() {
  k "$url/apis/shroud.dev/v1alpha1/namespaces/$ns/encryptedsecrets" | python3 -c '
import json,sys
items=json.load(sys.stdin)["items"]
print(sum(1 for i in items for c in i.get("status",{}).get("conditions",[]) if c["type"]=="Ready" and c["status"]=="True" and i["status"].get("observedGeneration")==i["metadata"]["generation"]))'
}
# Poll the controller's own gauge (cheap), then confirm on the API server (one list).
limit=$(( n / 20 > 300 ? n / 20 : 300 ))
ready=0
while :; do
  d=$(curl -s "http://127.0.0.1:$port/metrics" | awk -F' ' '/^shroud_objects\{reason="Decrypted"\}/ {print $2}' || true)
  if [ "${d:-0}" -ge "$n" ]; then
    ready=$(count_ready)
    [ "$ready" -ge "$n" ] && break
  fi
  if awk -v t0="$t0" -v now="$(date +%s.%N)" -v l="$limit" 'BEGIN{exit !(now-t0>l)}'; then
    ready=$(count_ready); echo "bench: timeout ($ready/$n ready)"; break
  fi
  sleep 0.2
done
t1=$(date +%s.%N)
sleep 3
m=$(curl -s "http://127.0.0.1:$port/metrics")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$ctl_pid/status")
rss_now=$(awk '/VmRSS/ {print $2}' "/proc/$ctl_pid/status")
api_writes=$(( $(count_api_writes) - api_writes_before ))
echo "bench: objects=$n ready=$ready time_to_all_ready_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
echo "bench: controller writes: $(echo "$m" | grep '^shroud_api_writes_total' | tr '\n' ' ')"
echo "bench: api server write requests (secrets, encryptedsecrets, events): $api_writes"
echo "bench: controller peak RSS: $((rss / 1024)) MiB ($rss kB); RSS after convergence: $((rss_now / 1024)) MiB"
echo "bench: decrypt: $(echo "$m" | grep -E '^shroud_decrypt_duration_seconds_(sum|count)' | tr '\n' ' ')"
# Restart: no writes for unchanged objects.
kill "$ctl_pid"; wait "$ctl_pid" 2>/dev/null || true
KUBECONFIG="$dir/kubeconfig" SHROUD_LOG=warn ./target/release/shroud-controller --namespace "$ns" --lease-namespace "$ns" \
  --metrics-addr "127.0.0.1:$port" --age-key-file keys/test-age.txt --concurrency 16 2>>"$dir/controller.log" &
ctl_pid=$!
for _ in $(seq 1 $(( limit * 2 ))); do
  r=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^shroud_reconciles_total/ {print $2}' || true)
  [ "${r:-0}" -ge "$n" ] && break; sleep 0.5
done
sleep 2
echo "bench: after restart: reconciles=${r:-0} $(curl -s "http://127.0.0.1:$port/metrics" | grep '^shroud_api_writes_total' | tr '\n' ' ')"
echo "bench: after restart: peak RSS $(( $(awk '/VmHWM/ {print $2}' "/proc/$ctl_pid/status") / 1024 )) MiB"
