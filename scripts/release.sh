#!/usr/bin/env bash
# Release archives: scripts/release.sh [--profile release|dev] [--out DIR]
#
# Builds shroud and shroud-controller (features: cluster), then packs
#   DIR/shroud-VERSION-TARGET.tar.gz   bin/{shroud,shroud-controller}, share/man/man1/*.1,
#                                      bash/zsh/fish completions, share/doc/shroud (README, docs,
#                                      deploy/ manifests)
#   DIR/SHA256SUMS
# The archive is reproducible for a commit: sorted entries, the commit's time as every mtime,
# owner 0, gzip without a timestamp. The binaries link only glibc (TLS is rustls; the rotation
# job's libgit2 links OpenSSL and zlib statically, built from source), so they
# run on any x86_64 Linux with glibc as new as the build machine's.
# `--profile dev` packs unoptimised binaries: what CI's install test uses (the same archive
# layout, without a second optimised build of every crate).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "release: unknown argument $1 (use --profile release|dev, --out DIR)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) build=(--release); bindir=target/release ;;
  dev) build=(); bindir=target/debug ;;
  *) echo "release: --profile must be release or dev" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
name="shroud-$version-$target"

cargo build --locked --quiet "${build[@]}" --features cluster \
  --bin shroud --bin shroud-controller

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/$name"
mkdir -p "$stage/bin" "$stage/share/man/man1" "$stage/share/bash-completion/completions" \
  "$stage/share/zsh/site-functions" "$stage/share/fish/vendor_completions.d" "$stage/share/doc/shroud"
install -m 0755 "$bindir/shroud" "$bindir/shroud-controller" "$stage/bin/"
strip "$stage/bin/shroud" "$stage/bin/shroud-controller"
"$stage/bin/shroud" man "$stage/share/man/man1" 2>/dev/null
"$stage/bin/shroud" completion bash >"$stage/share/bash-completion/completions/shroud"
"$stage/bin/shroud" completion zsh >"$stage/share/zsh/site-functions/_shroud"
"$stage/bin/shroud" completion fish >"$stage/share/fish/vendor_completions.d/shroud.fish"
cp README.md "$stage/share/doc/shroud/"
cp -R docs deploy "$stage/share/doc/shroud/"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f ! -path "$stage/bin/*" -exec chmod 0644 {} +

# Only glibc may be needed at run time.
for b in "$stage"/bin/*; do
  extra=$(ldd "$b" | awk '{print $1}' | grep -Ev '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|libc\.so|libm\.so|libgcc_s\.so|libdl\.so|libpthread\.so|librt\.so)' || true)
  if [ -n "$extra" ]; then
    echo "release: $(basename "$b") needs libraries beyond glibc: $extra" >&2
    exit 1
  fi
done

mkdir -p "$out"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$name" |
  gzip -n -9 >"$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" >SHA256SUMS)
size=$(du -k "$out/$name.tar.gz" | cut -f1)
echo "release: $out/$name.tar.gz (${size} KiB, $profile build of $commit) and $out/SHA256SUMS"
