#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (idempotent).
# Only package registries are used: Debian (apt), PyPI (pip), crates.io (cargo).
set -euo pipefail

need_apt=()
command -v age >/dev/null || need_apt+=(age)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
if ((${#need_apt[@]})); then
  echo "setup: apt-get install ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Extra setup steps of other components (scanner, KMS, controller) live next to this file.
for extra in "$(dirname "$0")"/setup-*.sh; do
  [ -e "$extra" ] && bash "$extra"
done
echo "setup: done (age $(age --version))"
