#!/usr/bin/env bash
# YAML throughput benchmark (issue: SOPS-compatible core): shroud in-process and CLI, plain
# parse+emit, and the rops CLI side by side. Installs rops (cargo install rops-cli) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rops >/dev/null || cargo install rops-cli --locked
cargo bench --bench yaml_throughput
