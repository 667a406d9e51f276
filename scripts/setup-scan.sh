#!/bin/sh
# Installs what the scanner tests (tests/it/scan.rs, scripts/test-scan.sh) need on a fresh Debian machine: git and the
# `pre-commit` framework from PyPI. Idempotent: re-running changes nothing once installed.
#
# pre-commit goes into a virtualenv ($SHROUD_CI_VENV, default ~/.cache/shroud-ci/venv) and is
# linked onto PATH (/usr/local/bin when writable, else ~/.local/bin). The test also honours
# PRE_COMMIT_BIN=/path/to/pre-commit.
set -eu

apt_install() {
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
    else
        echo "scan-setup: please install: $*" >&2
        exit 1
    fi
}

command -v git >/dev/null 2>&1 || apt_install git ca-certificates
command -v python3 >/dev/null 2>&1 || apt_install python3
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv

if command -v pre-commit >/dev/null 2>&1; then
    echo "scan-setup: $(pre-commit --version) already installed"
    exit 0
fi

VENV="${SHROUD_CI_VENV:-$HOME/.cache/shroud-ci/venv}"
if [ ! -x "$VENV/bin/pre-commit" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'pre-commit>=3,<5'
fi

if [ -w /usr/local/bin ]; then
    BIN=/usr/local/bin
else
    BIN="$HOME/.local/bin"
    mkdir -p "$BIN"
    echo "scan-setup: add $BIN to PATH (or export PRE_COMMIT_BIN=$VENV/bin/pre-commit)" >&2
fi
ln -sf "$VENV/bin/pre-commit" "$BIN/pre-commit"
echo "scan-setup: $("$BIN/pre-commit" --version) installed at $BIN/pre-commit"
