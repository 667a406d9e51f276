#!/usr/bin/env bash
# What the age plugin tests (tests/it/pq.rs) need beyond scripts/setup.sh: a real age plugin
# binary, `age-plugin-simplepq` from crates.io (software only, no hardware). It is built once
# with `cargo install --locked` into a cache ($SHROUD_CI_CACHE, default ~/.cache/shroud-ci) and
# linked onto PATH (/usr/local/bin when writable, else ~/.local/bin); later runs only check it.
# The first build takes about two minutes on two cores; the tests also find the binary in the
# cache when PATH does not have it. Idempotent.
set -euo pipefail

VERSION=0.1.2
CACHE="${SHROUD_CI_CACHE:-$HOME/.cache/shroud-ci}/age-plugin-simplepq-$VERSION"
BIN_NAME=age-plugin-simplepq

if [ ! -x "$CACHE/bin/$BIN_NAME" ]; then
  echo "setup-age-plugin: cargo install --locked $BIN_NAME@$VERSION (cached in $CACHE)"
  # A private target directory under the cache: the build never touches the project's target/.
  CARGO_TARGET_DIR="$CACHE/build" nice -n 10 cargo install --locked --quiet \
    --root "$CACHE" --version "$VERSION" "$BIN_NAME"
  rm -rf "$CACHE/build"
fi

if [ -w /usr/local/bin ]; then
  BIN=/usr/local/bin
else
  BIN="$HOME/.local/bin"
  mkdir -p "$BIN"
fi
ln -sf "$CACHE/bin/$BIN_NAME" "$BIN/$BIN_NAME"
# The binary must start and speak the age plugin protocol's key generation.
"$BIN/$BIN_NAME" --help >/dev/null
echo "setup-age-plugin: $BIN_NAME $VERSION at $BIN/$BIN_NAME"
