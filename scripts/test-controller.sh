#!/usr/bin/env bash
# shroud-controller against a real control plane (etcd, kube-apiserver and
# kube-controller-manager v1.20.2; scripts/setup-kube.sh builds them once and caches them):
#  1. the checked-in CRD matches the one generated from the Rust types;
#  2. the kustomize bases render (kubectl v1.20.2's built-in kustomize) and the API server
#     accepts deploy/kube-1.20 (applied, then a server-side dry-run of the same);
#  3. the controller suite (tests/it/controller.rs) runs every controller as the ServiceAccount
#     those manifests create (a TokenRequest token; RBAC authorization): every documented mode,
#     leader election and failover, RBAC denials, key reload, recipients, AWS KMS (moto), alert
#     rules (promtool) — then the all-namespaces modes alone, after deleting the test namespaces;
#  4. the ESO and key-backup cluster tests;
#  5. the OCI image (scripts/build-image.sh) is unpacked and checked, and its binary runs
#     against the same API server (scripts/verify-image.sh).
# A missing component fails the run (CI=true makes the Rust tests fail instead of skipping).
#
#   scripts/test-controller.sh --only FILTER...   steps 1-2 and the cluster, then only the tests
#                                                 matching each FILTER (e.g. controller::rollout),
#                                                 one `cargo test` each; no image
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
only=()
if [ "${1:-}" = "--only" ]; then
  shift
  only=("$@")
  [ ${#only[@]} -gt 0 ] || { echo "usage: test-controller.sh [--only FILTER...]" >&2; exit 2; }
fi

bash scripts/setup-kube.sh
bash scripts/setup-kms.sh
cache="${SHROUD_KUBE_CACHE:-$HOME/.cache/shroud}"
kubectl="$cache/kubectl-v1.20.2"
cargo build --quiet --features cluster --bin shroud-controller --bin shroud
if ! diff -u deploy/base/crd.yaml <(./target/debug/shroud-controller crd); then
  echo "test-controller: deploy/base/crd.yaml differs from \`shroud-controller crd\`; regenerate it" >&2
  exit 1
fi

dir="$(mktemp -d)"
trap 'bash scripts/kube-down.sh "$dir"; rm -rf "$dir"' EXIT

# The bases render; deploy/ and deploy/kube-1.20 differ only in the PDB's API version.
"$kubectl" kustomize deploy >"$dir/deploy.yaml"
"$kubectl" kustomize deploy/kube-1.20 >"$dir/deploy-1.20.yaml"
"$kubectl" kustomize deploy/monitoring >"$dir/monitoring.yaml"
if ! diff <(sed 's|^apiVersion: policy/v1$|apiVersion: policy/v1beta1|' "$dir/deploy.yaml") "$dir/deploy-1.20.yaml"; then
  echo "test-controller: deploy/ and deploy/kube-1.20 differ in more than the PDB apiVersion" >&2
  exit 1
fi
for kind in Namespace CustomResourceDefinition ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding \
    Deployment Service PodDisruptionBudget NetworkPolicy; do
  grep -q "^kind: $kind$" "$dir/deploy.yaml" || { echo "test-controller: deploy/ renders no $kind" >&2; exit 1; }
done
grep -q '^kind: PrometheusRule$' "$dir/monitoring.yaml"

bash scripts/kube-up.sh "$dir"
export KUBECONFIG="$dir/kubeconfig"
"$kubectl" apply --server-side -f "$dir/deploy-1.20.yaml"
"$kubectl" apply --server-side --dry-run=server -f "$dir/deploy-1.20.yaml" >/dev/null
"$kubectl" wait --for condition=established --timeout=60s crd/encryptedsecrets.shroud.dev
unset KUBECONFIG

# A token of the ServiceAccount the manifests created, and a kubeconfig using it.
url="$(cat "$dir/server-url")"
token=$(curl -sS --fail --cacert "$dir/ca.crt" -H "Authorization: Bearer $(cat "$dir/token")" \
  -H 'Content-Type: application/json' -X POST \
  "$url/api/v1/namespaces/shroud-system/serviceaccounts/shroud-controller/token" \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["shroud-test"],"expirationSeconds":7200}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["token"])')
sed -e "s|^- name: admin|- name: shroud-controller|" -e "s|user: admin|user: shroud-controller|" \
  -e "s|token: .*|token: $token|" "$dir/kubeconfig" >"$dir/sa-kubeconfig"
export SHROUD_TEST_KUBECONFIG="$dir/kubeconfig" SHROUD_TEST_SA_KUBECONFIG="$dir/sa-kubeconfig"

if [ ${#only[@]} -gt 0 ]; then
  for f in "${only[@]}"; do
    t=$(date +%s)
    cargo test --features cluster --test it "$f" -- --test-threads "${SHROUD_CONTROLLER_TEST_THREADS:-3}"
    echo "test-controller: $f in $(( $(date +%s) - t )) s"
  done
  echo "test-controller: --only passed in $(( $(date +%s) - start )) s"
  exit 0
fi

t=$(date +%s)
cargo test --features cluster --test it controller:: -- --skip all_namespaces --test-threads "${SHROUD_CONTROLLER_TEST_THREADS:-3}"
echo "test-controller: namespaced suite in $(( $(date +%s) - t )) s"
# The all-namespaces modes see every object: delete the other tests' namespaces first (the
# namespace controller empties them) and run those tests one at a time.
KUBECONFIG="$dir/kubeconfig" "$kubectl" delete namespace -l shroud.dev/test=true --wait --timeout=180s >/dev/null
t=$(date +%s)
cargo test --features cluster --test it controller::all_namespaces -- --test-threads 1
echo "test-controller: all-namespaces suite in $(( $(date +%s) - t )) s"
cargo test --features cluster --test it eso::the_real_api_server -- --test-threads 1
cargo test --features cluster --test it backup::backup_from_and_restore -- --test-threads 1

t=$(date +%s)
bash scripts/build-image.sh --profile "${SHROUD_IMAGE_PROFILE:-dev}" --output "$dir/image"
bash scripts/verify-image.sh "$dir/image" "$dir"
echo "test-controller: image built and verified in $(( $(date +%s) - t )) s"
echo "test-controller: passed in $(( $(date +%s) - start )) s"
