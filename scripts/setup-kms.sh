#!/usr/bin/env bash
# moto_server (PyPI moto[server]) for the AWS KMS tests: a real KMS API on 127.0.0.1.
set -euo pipefail
if ! command -v moto_server >/dev/null; then
  echo "setup: pip install moto[server]"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5,<6"
  hash -r
fi
command -v moto_server >/dev/null || { echo "setup: moto_server not on PATH after install" >&2; exit 1; }
# The real AWS CLI, for the runbook step that disables and schedules deletion of a KMS key
# (docs/compromised-key.md), against moto_server.
if ! command -v aws >/dev/null; then
  echo "setup: pip install awscli"
  python3 -m pip install --quiet --disable-pip-version-check "awscli>=1.32,<2"
  hash -r
fi
command -v aws >/dev/null || { echo "setup: aws not on PATH after install" >&2; exit 1; }
