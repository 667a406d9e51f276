#!/usr/bin/env bash
# The default build (CLI only, what `cargo install` and the pre-commit source hook build) as a
# user meets it: no Kubernetes stack, and a cluster-only option named as such instead of clap's
# "pass it after --" tip. The rest of the suite runs the `cluster` build.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
# Built in the shared target directory (its dependencies are already compiled), copied aside,
# and the `cluster` binary the other scripts use is put back afterwards.
cargo build --quiet --bin shroud
mkdir -p "$target/cli-only"
cp "$target/debug/shroud" "$target/cli-only/shroud"
trap 'cargo build --quiet --features cluster --bin shroud' EXIT
bin="$target/cli-only/shroud"
"$bin" --version | grep -q 'features: none, CLI only' || {
  echo "test-cli-only: --version does not say CLI only" >&2
  exit 1
}
for args in "encrypt --kind EncryptedSecret --fetch-recipients f.yaml" \
  "encrypt --fetch-recipients=ns/name --kind EncryptedSecret f.yaml" \
  "keys backup --from-secret ns/name -o b.json" \
  "keys restore --to-secret ns/name b.json"; do
  set +e
  # shellcheck disable=SC2086
  err=$("$bin" $args 2>&1 >/dev/null)
  code=$?
  set -e
  if [ "$code" != 2 ] || ! grep -q 'needs cluster support' <<<"$err" || grep -q -- "-- " <<<"$err"; then
    echo "test-cli-only: \`shroud $args\` exited $code with: $err" >&2
    exit 1
  fi
done
echo "test-cli-only: the CLI-only build names cluster-only options"
