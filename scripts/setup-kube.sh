#!/usr/bin/env bash
# A real Kubernetes control plane for the controller tests, from Debian packages only:
# etcd-server (bookworm) and kube-apiserver + kube-controller-manager v1.20.2 built from bookworm's
# `kubernetes` source package with Debian's Go; kubectl v1.20.2 (kustomize built in) unpacked
# from bookworm's kubernetes-client package (not installed: it would replace another kubectl);
# promtool (prometheus) for the alert rules; buildah, umoci and skopeo for the image.
# Idempotent; the binaries are cached in $SHROUD_KUBE_CACHE.
set -euo pipefail

KVER="1.20.5+really1.20.2-1.1+deb12u1"
cache="${SHROUD_KUBE_CACHE:-$HOME/.cache/shroud}"
apiserver="$cache/kube-apiserver-v1.20.2"
kcm="$cache/kube-controller-manager-v1.20.2"
mkdir -p "$cache"

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
need_apt=()
command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || need_apt+=(etcd-server)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v buildah >/dev/null || need_apt+=(buildah)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v skopeo >/dev/null || need_apt+=(skopeo)
if [ ! -x "$apiserver" ] || [ ! -x "$kcm" ]; then
  command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_apt+=(golang-go)
  command -v rsync >/dev/null || need_apt+=(rsync)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_apt+=(golang-github-modern-go-reflect2-dev)
  command -v dpkg-source >/dev/null || need_apt+=(dpkg-dev)
  command -v make >/dev/null || need_apt+=(make)
fi
if ((${#need_apt[@]})); then
  echo "setup-kube: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

kubectl="$cache/kubectl-v1.20.2"
if [ ! -x "$kubectl" ]; then
  echo "setup-kube: kubectl v1.20.2 from kubernetes-client=$KVER"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download -qq "kubernetes-client=$KVER" >/dev/null && dpkg-deb -x ./*.deb root)
  cp "$tmp/root/usr/bin/kubectl" "$kubectl.tmp" && mv "$kubectl.tmp" "$kubectl"
  rm -rf "$tmp"
fi

if [ -x "$apiserver" ] && [ -x "$kcm" ]; then
  exit 0
fi

# deb-src for bookworm next to the existing deb entries.
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup-kube: adding deb-src for bookworm"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $SUDO tee /etc/apt/sources.list.d/shroud-deb-src.sources >/dev/null
  $SUDO apt-get update -qq
fi

work="$cache/kubernetes-src"
if [ ! -d "$work/src/vendor" ]; then
  rm -rf "$work" && mkdir -p "$work"
  echo "setup-kube: apt-get source kubernetes=$KVER"
  (cd "$work" && apt-get source -qq --download-only "kubernetes=$KVER" >/dev/null \
     && dpkg-source -x ./*.dsc src >/dev/null)
fi
src="$work/src"
# reflect2 1.0.1 crashes under Go >= 1.18 ("fatal error: fault") on the first CR request.
if ! grep -q 'reflect2 1.0.2' "$src/vendor/modules.txt" 2>/dev/null || [ ! -e "$src/vendor/github.com/modern-go/reflect2/.debian-1.0.2" ]; then
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$src/vendor/github.com/modern-go/reflect2"
  rm -rf "$src/vendor/github.com/modern-go/reflect2/"*_test.go "$src/vendor/github.com/modern-go/reflect2/test"* 2>/dev/null || true
  touch "$src/vendor/github.com/modern-go/reflect2/.debian-1.0.2"
fi
export PATH="/usr/lib/go/bin:$PATH" GOPROXY=off GOFLAGS=-mod=vendor GO111MODULE=on GOTOOLCHAIN=local
echo "setup-kube: building kube-apiserver and kube-controller-manager v1.20.2 (about 9 minutes cold on 2 cores)"
start=$(date +%s)
(cd "$src" && make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" KUBE_BUILD_PLATFORMS=linux/amd64 \
   >"$cache/kube-build.log" 2>&1) || { tail -40 "$cache/kube-build.log" >&2; exit 1; }
for bin in kube-apiserver kube-controller-manager; do
  built=$(find "$src/_output" -type f -name "$bin" -perm -u+x | head -1)
  [ -n "$built" ] || { echo "setup-kube: $bin not found after build" >&2; exit 1; }
  cp "$built" "$cache/$bin-v1.20.2.tmp" && mv "$cache/$bin-v1.20.2.tmp" "$cache/$bin-v1.20.2"
done
echo "setup-kube: kube-apiserver and kube-controller-manager built in $(( $(date +%s) - start )) s"
