#!/usr/bin/env bash
# Builds the shroud-controller OCI image from Containerfile with Debian's buildah (no daemon, no
# registry, no RUN step: the rootfs is staged here), and writes it as an OCI image layout.
#   --profile release   the image to ship (default; cargo build --release)
#   --profile dev       the test build's binaries, stripped (CI checks the Containerfile, the
#                       layout and the binaries without a second, optimised build of every crate)
#   --output DIR        OCI layout directory (default target/image), tag = the crate version
#   SHROUD_IMAGE_PROFILE (environment) the default --profile (the controller suite runs
#                       docs/controller.md's install block with dev)
# Load it elsewhere with e.g. `skopeo copy oci:target/image:0.1.0 docker://REGISTRY/shroud-controller:0.1.0`.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${SHROUD_IMAGE_PROFILE:-release} out=target/image
while (($#)); do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --output) out="$2"; shift 2 ;;
    *) echo "usage: build-image.sh [--profile release|dev] [--output DIR]" >&2; exit 2 ;;
  esac
done
for tool in buildah strip ldd apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool missing (scripts/setup-kube.sh installs buildah)" >&2; exit 1; }
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
case "$profile" in
  release) cargo build --quiet --release --features cluster --bin shroud-controller --bin shroud; bin=${CARGO_TARGET_DIR:-target}/release ;;
  dev) cargo build --quiet --features cluster --bin shroud-controller --bin shroud; bin=${CARGO_TARGET_DIR:-target}/debug ;;
  *) echo "build-image: unknown profile $profile" >&2; exit 2 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/home/nonroot" "$root/tmp"
for b in shroud-controller shroud; do
  strip -o "$root/usr/local/bin/$b" "$bin/$b"
done
# The C libraries the binaries link, from the build host (Debian's glibc and libgcc_s), at the
# paths the dynamic loader looks in; with their copyright files. OpenSSL and zlib (the rotation
# job's in-process git, `shroud rotate --git`) are linked statically from their sources; their
# licences travel with them.
# GnuPG, for PGP-encrypted EncryptedSecrets (docs/controller.md, "PGP keys"): gpg, gpg-agent
# (gpg starts it), gpgconf and gpg-connect-agent (`gpgconf --kill gpg-agent` stops it), and the
# libraries they link, from Debian's packages for the build host's release (apt-get download,
# the host's apt sources), with their copyright files.
gnupg_pkgs="gpg gpg-agent gpgconf libassuan0 libbz2-1.0 libgcrypt20 libgpg-error0 libnpth0 libreadline8 libsqlite3-0 libtinfo6 zlib1g"
gnupg="$work/gnupg"
mkdir -p "$work/debs" "$gnupg" "$root/usr/bin"
# shellcheck disable=SC2086
fetch_gnupg() { (cd "$work/debs" && apt-get download $gnupg_pkgs >"$work/apt.log" 2>&1); }
# A fresh machine may have no package lists yet: read them once, then try again.
if ! fetch_gnupg; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >>"$work/apt.log" 2>&1 || true
fi
if ! fetch_gnupg; then
  cat "$work/apt.log" >&2
  echo "build-image: cannot download GnuPG's Debian packages ($gnupg_pkgs); run apt-get update" >&2
  exit 1
fi
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$gnupg"; done
gnupg_bins="gpg gpg-agent gpgconf gpg-connect-agent"
for g in $gnupg_bins; do install -m 0755 "$gnupg/usr/bin/$g" "$root/usr/bin/$g"; done
for pkg in $gnupg_pkgs; do
  install -D -m 0644 "$gnupg/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
done
# Every library at the path the loader looks in: GnuPG's from the packages, glibc's from the host.
gnupg_lib_path="$gnupg/lib/x86_64-linux-gnu:$gnupg/usr/lib/x86_64-linux-gnu"
libs=$( (ldd "$root/usr/local/bin/shroud-controller" "$root/usr/local/bin/shroud"
  for g in $gnupg_bins; do LD_LIBRARY_PATH="$gnupg_lib_path" ldd "$gnupg/usr/bin/$g"; done) \
  | grep -o '/[^ ]*\.so[^ ]*' | sort -u)
for l in $libs; do
  dest=${l#"$gnupg"}
  [ -e "$root$dest" ] && continue
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$l" "$root$dest"
done
for pkg in libc6 libgcc-s1 libssl3 zlib1g; do
  [ -f "/usr/share/doc/$pkg/copyright" ] && install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
chmod -R go-w "$root"
chmod 1777 "$root/tmp"

store="$work/storage"
b=(buildah --storage-driver vfs --root "$store/root" --runroot "$store/run")
tag="localhost/shroud-controller:$version"
"${b[@]}" bud --quiet --isolation chroot --timestamp "$epoch" --layers=false \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "PROFILE=$profile" \
  -f "$PWD/Containerfile" -t "$tag" "$work/ctx" >/dev/null
rm -rf "$out"
mkdir -p "$(dirname "$out")"
"${b[@]}" push --quiet "$tag" "oci:$out:$version"
"${b[@]}" rmi --all --force >/dev/null 2>&1 || true
size=$(du -sh "$out" | cut -f1)
echo "build-image: $tag ($profile binaries, revision $revision) -> oci:$out:$version ($size)"
