#!/usr/bin/env bash
# shroud-controller against a real API server: checks that the checked-in CRD matches the one
# generated from the Rust types, starts etcd + kube-apiserver v1.20.2 (scripts/setup-kube.sh
# builds it once and caches it), and runs the controller integration tests against it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-kube.sh
cargo build --quiet --bin shroud-controller --bin shroud
if ! diff -u examples/k8s/crd.yaml <(./target/debug/shroud-controller crd); then
  echo "test-controller: examples/k8s/crd.yaml differs from \`shroud-controller crd\`; regenerate it" >&2
  exit 1
fi

dir="$(mktemp -d)"
trap 'bash scripts/kube-down.sh "$dir"; rm -rf "$dir"' EXIT
bash scripts/kube-up.sh "$dir"
SHROUD_TEST_KUBECONFIG="$dir/kubeconfig" cargo test --test it controller:: -- --test-threads 2
SHROUD_TEST_KUBECONFIG="$dir/kubeconfig" cargo test --test it eso::the_real_api_server -- --test-threads 1
SHROUD_TEST_KUBECONFIG="$dir/kubeconfig" cargo test --test it backup::backup_from_and_restore -- --test-threads 1
echo "test-controller: passed"
