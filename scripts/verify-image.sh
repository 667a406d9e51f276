#!/usr/bin/env bash
# Verifies the OCI image scripts/build-image.sh wrote, the way a cluster would use it:
#  - its config (skopeo): user 65532:65532, entrypoint, labels, exposed port, no extra Env;
#  - unpacked (umoci): the runtime config's user and args, a rootfs holding only the expected
#    files (no shell), nothing writable but /tmp;
#  - its own binaries, run from the unpacked rootfs as the runtime config says (chroot as
#    65532:65532, no-new-privs, the rootfs bind-mounted read-only; this sandbox has no usable
#    cgroups for an OCI runtime): `--version`, `crd` (= deploy/base/crd.yaml), `shroud encrypt
#    --kind EncryptedSecret` (age, and PGP through the image's own gpg), then the controller
#    against the API server of KUBE_DIR (scripts/kube-up.sh; sa-kubeconfig = the manifests'
#    ServiceAccount) with an age key directory and a PGP key directory (imported into a private
#    keyring under /tmp, a writable directory as the Deployment's emptyDir) until both objects
#    are Ready, then SIGTERM: exit 0 within the grace period, the Lease released, the keyring
#    removed.
#  - the rotation job from the same rootfs (tests/it/job.rs `job::in_image`): the CronJob's
#    command against a real sshd on loopback, and the CronJob applied to the API server.
# Usage: verify-image.sh IMAGE_DIR KUBE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:?usage: verify-image.sh IMAGE_DIR KUBE_DIR}"
kube="${2:?usage: verify-image.sh IMAGE_DIR KUBE_DIR}"
cache="${SHROUD_KUBE_CACHE:-$HOME/.cache/shroud}"
kubectl=("$cache/kubectl-v1.20.2" --kubeconfig "$kube/kubeconfig")
for tool in skopeo umoci unshare chroot setpriv python3 curl gpg; do
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
need("/usr/bin" in cfg["Env"][0].split("=", 1)[1].split(":"), "PATH does not hold /usr/bin (gpg)")
labels = cfg.get("Labels", {})
for k in ["title", "description", "version", "revision", "base.name"]:
    need(labels.get("org.opencontainers.image." + k), f"label org.opencontainers.image.{k} missing")
need(labels["org.opencontainers.image.title"] == "shroud-controller", "wrong title label")
need(labels["org.opencontainers.image.version"] == version, "version label is not the crate version")
print(f"verify-image: config ok (user 65532:65532, entrypoint, labels; profile {labels.get('dev.shroud.profile')})")
PY
img_path=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["Env"][0].split("=", 1)[1])' "$work/config.json")

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
usr/share/doc/libssl3/copyright usr/share/doc/zlib1g/copyright
usr/bin/gpg usr/bin/gpg-agent usr/bin/gpgconf usr/bin/gpg-connect-agent lib/x86_64-linux-gnu/libpthread.so.0
lib/x86_64-linux-gnu/libbz2.so.1.0 lib/x86_64-linux-gnu/libgpg-error.so.0 lib/x86_64-linux-gnu/libreadline.so.8
lib/x86_64-linux-gnu/libtinfo.so.6 lib/x86_64-linux-gnu/libz.so.1 usr/lib/x86_64-linux-gnu/libassuan.so.0
usr/lib/x86_64-linux-gnu/libgcrypt.so.20 usr/lib/x86_64-linux-gnu/libnpth.so.0 usr/lib/x86_64-linux-gnu/libsqlite3.so.0
usr/share/doc/gpg/copyright usr/share/doc/gpg-agent/copyright usr/share/doc/gpgconf/copyright
usr/share/doc/libassuan0/copyright usr/share/doc/libbz2-1.0/copyright usr/share/doc/libgcrypt20/copyright
usr/share/doc/libgpg-error0/copyright usr/share/doc/libnpth0/copyright usr/share/doc/libreadline8/copyright
usr/share/doc/libsqlite3-0/copyright usr/share/doc/libtinfo6/copyright"
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
for kind in age pgp; do
  cat >"$root/var/run/shroud/secret-$kind.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: from-image-$kind, namespace: $ns}
stringData: {greeting: image-plain-$kind-4e1d}
YAML
done
# What a pod has and the unpacked rootfs lacks: the runtime's /dev (gpg opens /dev/null) and the
# Deployment's emptyDir at /tmp (the private PGP keyring): mount points made here, outside the
# image, bound at run time; the root stays read-only.
mkdir -p "$root/dev" "$work/tmp"
for d in null zero random urandom; do : >"$root/dev/$d"; done
chown 65532:65532 "$work/tmp"
chmod 0700 "$work/tmp"
chroot_bin=$(command -v chroot)
in_image() { # ENV... -- ARGS...
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  # exec: run in the background (`in_image ... &`), $! is the image's process itself.
  ${IN_IMAGE_EXEC:+exec} unshare --mount sh -c '
    r=$1 t=$2; shift 2
    mount --bind "$r" "$r" || exit 1
    for d in null zero random urandom; do mount --bind "/dev/$d" "$r/dev/$d" || exit 1; done
    mount -o remount,bind,ro "$r" && mount --bind "$t" "$r/tmp" && exec "$@"' in_image "$root" "$work/tmp" \
    setpriv --no-new-privs env -i PATH="$img_path" "${envs[@]}" "$chroot_bin" --userspec=65532:65532 "$root" "$@"
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
in_image -- /usr/local/bin/shroud encrypt --kind EncryptedSecret --age "$recipient" /var/run/shroud/secret-age.yaml \
  | "${kubectl[@]}" apply -f - >/dev/null
# PGP: a key (no passphrase) made by the host's gpg; its secret key in the directory the
# controller imports, its public key imported by the image's gpg into a home under /tmp, which
# the image's shroud encrypts with: a PGP-only object.
ghome="$work/gnupg-host"
mkdir -m 0700 "$ghome"
gpg --homedir "$ghome" --batch --pinentry-mode loopback --passphrase '' \
  --quick-gen-key "shroud image test <image-test@example.com>" default default never 2>/dev/null
fpr=$(gpg --homedir "$ghome" --list-secret-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}')
mkdir -p "$root/var/run/shroud/pgp"
gpg --homedir "$ghome" --batch --armor --export-secret-keys "$fpr" >"$root/var/run/shroud/pgp/key.asc"
gpg --homedir "$ghome" --batch --export "$fpr" >"$root/var/run/shroud/pub.gpg"
gpgconf --homedir "$ghome" --kill gpg-agent
chmod 0444 "$root/var/run/shroud/pgp/key.asc" "$root/var/run/shroud/pub.gpg"
install -d -m 0700 -o 65532 -g 65532 "$work/tmp/enc-home"
in_image GNUPGHOME=/tmp/enc-home -- /usr/bin/gpg --batch --quiet --import /var/run/shroud/pub.gpg 2>/dev/null \
  || fail "the image's gpg does not import a public key"
in_image GNUPGHOME=/tmp/enc-home -- /usr/local/bin/shroud encrypt --kind EncryptedSecret --pgp "$fpr" \
  /var/run/shroud/secret-pgp.yaml >"$work/pgp.yaml" || fail "the image's shroud does not encrypt with its gpg"
grep -q "fp: $fpr" "$work/pgp.yaml" && ! grep -q 'recipient: age1' "$work/pgp.yaml" || fail "not a PGP-only object"
"${kubectl[@]}" apply -f "$work/pgp.yaml" >/dev/null
in_image GNUPGHOME=/tmp/enc-home -- /usr/bin/gpgconf --kill gpg-agent
rm -rf "$work/tmp/enc-home"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
IN_IMAGE_EXEC=1 in_image KUBECONFIG=/var/run/shroud/kubeconfig POD_NAME=image-test POD_NAMESPACE=shroud-system -- \
  /usr/local/bin/shroud-controller --age-key-dir /var/run/shroud/age --pgp-key-dir /var/run/shroud/pgp \
  --namespace "$ns" --lease-name "$lease" \
  --recipients-configmap= --metrics-addr "127.0.0.1:$port" 2>"$work/controller.log" &
pid=$!
for kind in age pgp; do
  reason=""
  for _ in $(seq 1 120); do
    reason=$("${kubectl[@]}" -n "$ns" get encryptedsecret "from-image-$kind" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}' 2>/dev/null || true)
    [ "$reason" = Decrypted ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/controller.log" >&2; fail "the controller exited"; }
    sleep 0.5
  done
  [ "$reason" = Decrypted ] || { tail -20 "$work/controller.log" >&2; fail "$kind object not Ready (reason: $reason)"; }
  got=$("${kubectl[@]}" -n "$ns" get secret "from-image-$kind" -o jsonpath='{.data.greeting}' | base64 -d)
  [ "$got" = "image-plain-$kind-4e1d" ] || fail "the $kind Secret holds the wrong value"
done
homes=$(find "$work/tmp" -mindepth 1 -maxdepth 1 -name 'shroud-gnupg-*' | wc -l)
[ "$homes" = 1 ] || fail "$homes private keyrings under /tmp, not 1"
curl -s "http://127.0.0.1:$port/metrics" | grep -q '^shroud_leader 1$' || fail "/metrics does not report the leader"
! grep -q 'image-plain-\|PRIVATE KEY' "$work/controller.log" || fail "a decrypted value or key is in the log"
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
[ -z "$(ls -A "$work/tmp")" ] || fail "left in /tmp after exit: $(ls -A "$work/tmp")"
echo "verify-image: the image's controller decrypted an age and a PGP object (the image's gpg) on the API server as the ServiceAccount; SIGTERM -> exit 0 in $ms ms, Lease released, keyring removed"

# 4. The rotation job (examples/rotation/cronjob.yaml) from this rootfs, as the pod runs it.
t0=$(date +%s)
SHROUD_TEST_IMAGE_ROOT="$root" SHROUD_TEST_KUBECONFIG="$kube/kubeconfig" \
  cargo test --quiet --features cluster --test it job::in_image -- --test-threads 1
echo "verify-image: the rotation job ran from the image in $(( $(date +%s) - t0 )) s"
