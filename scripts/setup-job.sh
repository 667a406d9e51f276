#!/usr/bin/env bash
# The rotation job's end-to-end test (tests/it/job.rs) serves a repository from a real SSH
# server on loopback: Debian's OpenSSH sshd, started by the test on a high port with its own
# host key and config (no system service is enabled or started). Idempotent.
set -euo pipefail
# The job's in-process git builds OpenSSL and zlib from source (linked statically): OpenSSL's
# build needs perl and make before cargo builds the `job` feature (the test suite's `cluster`).
need=()
# (OpenSSL's Configure needs the full perl, not perl-base: IPC::Cmd, FindBin, File::Compare.)
perl -MIPC::Cmd -MFindBin -MFile::Compare -e 1 2>/dev/null || need+=(perl)
command -v make >/dev/null || need+=(make)
if ((${#need[@]})); then
  echo "setup-job: apt-get install ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x /usr/sbin/sshd ]; then
  echo "setup-job: apt-get install openssh-server"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # policy-rc.d 101: the package's postinst must not start a system sshd.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d.shroud >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d.shroud
  [ -e /usr/sbin/policy-rc.d ] || $SUDO ln -s /usr/sbin/policy-rc.d.shroud /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
  [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.shroud ] && $SUDO rm -f /usr/sbin/policy-rc.d
  $SUDO rm -f /usr/sbin/policy-rc.d.shroud
fi
# sshd started as root needs its privilege-separation directory.
if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
  mkdir -p /run/sshd && chmod 0755 /run/sshd
fi
echo "setup-job: $(/usr/sbin/sshd -V 2>&1 | head -1)"
