#!/usr/bin/env bash
# Verifies the OCI image scripts/build-image.sh wrote, the way a cluster would use it:
#  - its config (skopeo): user 65532:65532, entrypoint, labels, exposed port, no extra Env;
#  - unpacked (umoci): the runtime config's user and args, a rootfs holding only the expected
#    files (no shell), nothing writable but /tmp;
#  - its own binaries, run from the unpacked rootfs as the runtime config says (chroot as
#    65532:65532, no-new-privs, the rootfs bind-mounted read-only; this sandbox has no usable
#    cgroups for an OCI runtime): `--version`, `crd` (= deploy/base/crd.yaml), `shroud encrypt
#    --kind EncryptedSecret`, then the controller against the API server of KUBE_DIR
#    (scripts/kube-up.sh; sa-kubeconfig = the manifests' ServiceAccount) until the object is
#    Ready, then SIGTERM: exit 0 within the grace period and the Lease released.
#  - the rotation job from the same rootfs (tests/it/job.rs `job::in_image`): the CronJob's
#    command against a real sshd on loopback, and the CronJob applied to the API server.
# Usage: verify-image.sh IMAGE_DIR KUBE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:?usage: verify-image.sh IMAGE_DIR KUBE_DIR}"
kube="${2:?usage: verify-image.sh IMAGE_DIR KUBE_DIR}"
cache="${SHROUD_KUBE_CACHE:-$HOME/.cache/shroud}"
kubectl=("$cache/kubectl-v1.20.2" --kubeconfig "$kube/kubeconfig")
for tool in skopeo umoci unshare chroot setpriv python3 curl; do
  command -v "$tool" >/dev/null || { echo "verify-image: $tool missing" >&2; exit 1; }
done
fail() { echo "verify-image: $*" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ref="oci:$image:$version"

work="$(mktemp -d)"
pid=""; ns="image-test-$$"; lease="image-test-$$"
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  "${kubectl[@]}" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The image config.
skopeo inspect --config "$ref" >"$work/config.json"
python3 - "$work/config.json" "$version" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))["config"]
version = sys.argv[2]
def need(cond, what):
    if not cond:
        sys.exit(f"verify-image: image config: {what} (config: {json.dumps(cfg)})")
need(cfg.get("User") == "65532:65532", "User is not 65532:65532")
need(cfg.get("Entrypoint") == ["/usr/local/bin/shroud-controller"], "unexpected Entrypoint")
need(not cfg.get("Cmd"), "unexpected Cmd")
need(list(cfg.get("ExposedPorts", {})) == ["8080/tcp"], "ExposedPorts is not 8080/tcp")
need([e.split("=")[0] for e in cfg.get("Env", [])] == ["PATH"], "Env holds more than PATH")
labels = cfg.get("Labels", {})
for k in ["title", "description", "version", "revision", "base.name"]:
    need(labels.get("org.opencontainers.image." + k), f"label org.opencontainers.image.{k} missing")
need(labels["org.opencontainers.image.title"] == "shroud-controller", "wrong title label")
need(labels["org.opencontainers.image.version"] == version, "version label is not the crate version")
print(f"verify-image: config ok (user 65532:65532, entrypoint, labels; profile {labels.get('dev.shroud.profile')})")
PY

# 2. Unpacked: runtime config and rootfs content.
if [ "$(id -u)" = 0 ]; then umoci unpack --image "$image:$version" "$work/bundle" >/dev/null
else umoci unpack --rootless --image "$image:$version" "$work/bundle" >/dev/null; fi
root="$work/bundle/rootfs"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["process"]
if (p["user"]["uid"], p["user"]["gid"]) != (65532, 65532) or p["args"] != ["/usr/local/bin/shroud-controller"]:
    sys.exit(f"verify-image: runtime config: user {p['user']} args {p['args']}")
PY
expected="etc/group etc/nsswitch.conf etc/passwd etc/ssl/certs/ca-certificates.crt lib/x86_64-linux-gnu/libc.so.6
lib/x86_64-linux-gnu/libgcc_s.so.1 lib/x86_64-linux-gnu/libm.so.6 lib64/ld-linux-x86-64.so.2
usr/local/bin/shroud usr/local/bin/shroud-controller usr/share/doc/libc6/copyright usr/share/doc/libgcc-s1/copyright
usr/share/doc/libssl3/copyright usr/share/doc/zlib1g/copyright"
got=$(cd "$root" && find . -type f -o -type l | sed 's|^\./||' | sort | tr '\n' ' ')
want=$(echo $expected | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "rootfs files differ: got [$got] want [$want]"
[ ! -e "$root/bin/sh" ] || fail "the image has a shell"
writable=$(cd "$root" && find . -perm -o+w ! -path ./tmp | tr '\n' ' ')
[ -z "$writable" ] || fail "world-writable paths: $writable"
echo "verify-image: rootfs ok ($(du -sh "$root" | cut -f1), $(echo $expected | wc -w) files, no shell)"

# 3. The image's binaries, as the runtime config runs them, on a read-only root.
mkdir -p "$root/var/run/shroud/age"
cp "$kube/sa-kubeconfig" "$root/var/run/shroud/kubeconfig"
cp keys/test-age.txt "$root/var/run/shroud/age/keys.txt"
chmod 0444 "$root/var/run/shroud/kubeconfig" "$root/var/run/shroud/age/keys.txt"
cat >"$root/var/run/shroud/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: from-image, namespace: $ns}
stringData: {greeting: image-plain-4e1d}
YAML
chroot_bin=$(command -v chroot)
in_image() { # ENV... -- ARGS...
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  # exec: run in the background (`in_image ... &`), $! is the image's process itself.
  ${IN_IMAGE_EXEC:+exec} unshare --mount sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"' "$root" \
    setpriv --no-new-privs env -i PATH=/usr/local/bin "${envs[@]}" "$chroot_bin" --userspec=65532:65532 "$root" "$@"
}
# `NAME VERSION (commit REV; features: cluster)`: the build's commit and features (build.rs).
built="\(commit ([0-9a-f]{12}(-dirty)?|unknown); features: cluster, job\)"
v=$(in_image -- /usr/local/bin/shroud-controller --version)
[[ "$v" =~ ^shroud-controller\ ${version//./\\.}\ $built$ ]] || fail "shroud-controller --version printed: $v"
v=$(in_image -- /usr/local/bin/shroud --version)
[[ "$v" =~ ^shroud\ ${version//./\\.}\ $built$ ]] || fail "shroud --version printed: $v"
in_image -- /usr/local/bin/shroud-controller crd | diff -u deploy/base/crd.yaml - >/dev/null || fail "the image's CRD differs from deploy/base/crd.yaml"
# The one directory the image user owns is still read-only at run time.
if in_image -- /usr/local/bin/shroud keygen -o /home/nonroot/k.txt >/dev/null 2>&1; then
  fail "the root filesystem is writable"
fi
echo "verify-image: binaries run from the read-only rootfs as 65532 ($v)"

"${kubectl[@]}" create namespace "$ns" >/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' keys/test-age.txt | head -1)
in_image -- /usr/local/bin/shroud encrypt --kind EncryptedSecret --age "$recipient" /var/run/shroud/secret.yaml \
  | "${kubectl[@]}" apply -f - >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
IN_IMAGE_EXEC=1 in_image KUBECONFIG=/var/run/shroud/kubeconfig POD_NAME=image-test POD_NAMESPACE=shroud-system -- \
  /usr/local/bin/shroud-controller --age-key-dir /var/run/shroud/age --namespace "$ns" --lease-name "$lease" \
  --recipients-configmap= --metrics-addr "127.0.0.1:$port" 2>"$work/controller.log" &
pid=$!
reason=""
for _ in $(seq 1 120); do
  reason=$("${kubectl[@]}" -n "$ns" get encryptedsecret from-image -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}' 2>/dev/null || true)
  [ "$reason" = Decrypted ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/controller.log" >&2; fail "the controller exited"; }
  sleep 0.5
done
[ "$reason" = Decrypted ] || { tail -20 "$work/controller.log" >&2; fail "not Ready (reason: $reason)"; }
got=$("${kubectl[@]}" -n "$ns" get secret from-image -o jsonpath='{.data.greeting}' | base64 -d)
[ "$got" = image-plain-4e1d ] || fail "the Secret holds the wrong value"
curl -s "http://127.0.0.1:$port/metrics" | grep -q '^shroud_leader 1$' || fail "/metrics does not report the leader"
! grep -q image-plain-4e1d "$work/controller.log" || fail "the decrypted value is in the log"
holder=$("${kubectl[@]}" -n shroud-system get lease "$lease" -o jsonpath='{.spec.holderIdentity}')
[ "$holder" = image-test ] || fail "Lease holder is '$holder'"
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
[ "$ms" -lt 20000 ] || fail "SIGTERM took $ms ms"
holder=$("${kubectl[@]}" -n shroud-system get lease "$lease" -o jsonpath='{.spec.holderIdentity}')
[ -z "$holder" ] || fail "Lease still held by $holder after SIGTERM"
echo "verify-image: the image's controller reconciled on the API server as the ServiceAccount; SIGTERM -> exit 0 in $ms ms, Lease released"

# 4. The rotation job (examples/rotation/cronjob.yaml) from this rootfs, as the pod runs it.
t0=$(date +%s)
SHROUD_TEST_IMAGE_ROOT="$root" SHROUD_TEST_KUBECONFIG="$kube/kubeconfig" \
  cargo test --quiet --features cluster --test it job::in_image -- --test-threads 1
echo "verify-image: the rotation job ran from the image in $(( $(date +%s) - t0 )) s"
