#!/usr/bin/env bash
# Stops the kube-controller-manager, kube-apiserver and etcd started by scripts/kube-up.sh DIR
# (by their recorded pids).
set -uo pipefail
dir="${1:?usage: kube-down.sh DIR}"
for p in kcm apiserver etcd; do
  if [ -f "$dir/$p.pid" ]; then
    pid=$(cat "$dir/$p.pid")
    kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/$p.pid"
  fi
done
