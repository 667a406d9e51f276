#!/usr/bin/env bash
# moto_server (PyPI moto[server]) for the AWS KMS tests: a real KMS API on 127.0.0.1.
set -euo pipefail
if ! command -v moto_server >/dev/null; then
  echo "setup: pip install moto[server]"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5,<6"
  hash -r
fi
command -v moto_server >/dev/null || { echo "setup: moto_server not on PATH after install" >&2; exit 1; }
