#!/usr/bin/env bash
# The whole test suite: setup, format and lint checks, unit + integration + property tests,
# bounded fuzzing, and a scan of this repository. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures="${SHROUD_SOPS_FIXTURES:-$PWD/../shared/fixtures/sops}"
if [ ! -f "$fixtures/README.md" ]; then
  echo "test: the real sops fixtures are missing at $fixtures (set SHROUD_SOPS_FIXTURES)" >&2
  exit 1
fi
export SHROUD_SOPS_FIXTURES="$fixtures"

bash scripts/setup.sh
cargo fmt --check
# At most three functions over 150 lines in src/ (a long function is split along its concepts).
python3 scripts/long-functions.py --max 3
# The default build is the CLI alone (what `cargo install` and the pre-commit source hook
# build): it must stand on its own, warning-free.
cargo clippy --all-targets -- -D warnings
# Everything else uses one feature set (with the Kubernetes stack), so nothing compiles twice.
cargo clippy --all-targets --features cluster -- -D warnings
# The cluster tests need the API server scripts/test-controller.sh starts (below); under CI they
# fail rather than skip without it, so this run leaves them to that script.
cargo test --all-targets --features cluster -- --skip controller:: \
  --skip eso::the_real_api_server --skip backup::backup_from_and_restore --skip job::in_image
cargo test --doc --features cluster
# README's "Develop" block runs the demo (tests/it/docs.rs counts it as run by CI).
bash scripts/demo.sh
for extra in scripts/test-*.sh; do
  [ -e "$extra" ] && bash "$extra"
done
echo "test: all checks passed"
