#!/usr/bin/env bash
# What the audit tests (tests/it/audit.rs) need beyond scripts/setup.sh: Debian's headless
# Chromium, which renders the HTML report for the screenshot test, and a font for it to draw
# text with. Idempotent; apt lists are refreshed only when apt does not know the package yet.
# On a fresh machine this downloads ~85 MB (chromium, chromium-common and ~25 libraries) and
# takes about 45 s.
set -euo pipefail

need=()
command -v chromium >/dev/null || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update -qq
  fi
  echo "setup-audit: apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
chromium --version >/dev/null 2>&1 || { echo "setup-audit: chromium does not run" >&2; exit 1; }
echo "setup-audit: $(chromium --version 2>/dev/null)"
