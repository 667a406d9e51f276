#!/usr/bin/env bash
# The main job on an embedded default: build shroud, encrypt examples/secrets.yaml and a
# Kubernetes Secret for the PUBLISHED TEST KEY in keys/, show the result, decrypt, and check
# that the round trip is exact. Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin shroud   # a debug build: quick, and what the tests build
shroud="${CARGO_TARGET_DIR:-$PWD/target}/debug/shroud"
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
# Every byte comes back, except that an encrypted date decrypts in RFC 3339 form, as sops
# writes it (docs/format.md): the value is the same timestamp.
sed 's/^started: 2024-01-01$/started: 2024-01-01T00:00:00Z/' examples/secrets.yaml > "$work/expected.yaml"
if ! diff -u "$work/expected.yaml" "$work/round.yaml"; then
  echo "demo: the round trip changed the file" >&2
  exit 1
fi
echo "== round trip: identical (the date in RFC 3339, as sops decrypts it)"
"$shroud" decrypt --extract '["stringData"]["password"]' "$work/k8s/secret.yaml"; echo
echo "== done"
