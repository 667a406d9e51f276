#!/usr/bin/env bash
# The project's own repository must scan clean: the working tree and the whole history. The
# published test keys and the scanner's labeled corpus are allowlisted by name in .shroudignore.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --bin shroud -- scan .
if git rev-parse --git-dir >/dev/null 2>&1; then
  cargo run --quiet --bin shroud -- scan --all-history
fi
echo "scan: repository clean"
