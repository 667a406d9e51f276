#!/usr/bin/env bash
# The main job on an embedded default: build shroud, encrypt examples/secrets.yaml and a
# Kubernetes Secret for the PUBLISHED TEST KEY in keys/, show the result, decrypt, and check
# that the round trip is exact. Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin shroud
shroud="${CARGO_TARGET_DIR:-$PWD/target}/release/shroud"
export SOPS_AGE_KEY_FILE="$PWD/keys/test-age.txt"   # published test key, never for real secrets
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/k8s"
cp examples/secrets.yaml examples/.sops.yaml "$work/"
cp examples/k8s/secret.yaml "$work/k8s/"

echo "== shroud encrypt -i secrets.yaml   (recipient from examples/.sops.yaml)"
"$shroud" encrypt -i "$work/secrets.yaml"
cat "$work/secrets.yaml"

echo; echo "== shroud encrypt -i k8s/secret.yaml   (only data/stringData encrypted)"
"$shroud" encrypt -i "$work/k8s/secret.yaml"
sed -n '1,12p' "$work/k8s/secret.yaml"

echo; echo "== shroud decrypt secrets.yaml"
"$shroud" decrypt "$work/secrets.yaml" | tee "$work/round.yaml"
diff -u examples/secrets.yaml "$work/round.yaml" && echo "== round trip: identical"
"$shroud" decrypt --extract '["stringData"]["password"]' "$work/k8s/secret.yaml"; echo
echo "== done"
