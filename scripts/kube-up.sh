#!/usr/bin/env bash
# Starts etcd + kube-apiserver v1.20.2 on 127.0.0.1 in DIR (certificates from openssl, a static
# admin token, RBAC authorization, ServiceAccount tokens through the TokenRequest API) and
# kube-controller-manager v1.20.2 running the garbage collector and the namespace controller
# (ownerReferences and namespace deletion behave as in a cluster), and writes DIR/kubeconfig.
# `scripts/kube-down.sh DIR` stops them. Needs scripts/setup-kube.sh to have run.
# Usage: kube-up.sh DIR
set -euo pipefail
dir="${1:?usage: kube-up.sh DIR}"
cache="${SHROUD_KUBE_CACHE:-$HOME/.cache/shroud}"
apiserver="$cache/kube-apiserver-v1.20.2"
kcm="$cache/kube-controller-manager-v1.20.2"
for b in "$apiserver" "$kcm"; do
  [ -x "$b" ] || { echo "kube-up: $b missing; run scripts/setup-kube.sh" >&2; exit 1; }
done
mkdir -p "$dir" && dir="$(cd "$dir" && pwd)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)

cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shroud-test-ca" \
  -keyout ca.key -out ca.crt >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout server.key -out server.csr >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt >/dev/null 2>&1
openssl genrsa -out sa.key 2048 >/dev/null 2>&1
openssl rsa -in sa.key -pubout -out sa.pub >/dev/null 2>&1
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,admin,admin,system:masters" > tokens.csv

etcd --name test --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "test=http://127.0.0.1:$peer_port" --log-level error >etcd.log 2>&1 &
echo $! > etcd.pid

"$apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file server.crt --tls-private-key-file server.key \
  --token-auth-file tokens.csv --authorization-mode RBAC \
  --service-account-key-file sa.pub --service-account-signing-key-file sa.key \
  --service-account-issuer https://kubernetes.default.svc --api-audiences shroud-test \
  --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=false \
  --disable-admission-plugins ServiceAccount \
  --cert-dir "$dir/certs" --v 0 >apiserver.log 2>&1 &
echo $! > apiserver.pid

cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
KC
echo "https://127.0.0.1:$api_port" > server-url
echo "$token" > token

for i in $(seq 1 120); do
  if curl -sk --max-time 2 -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q '^ok'; then
    echo "kube-up: API server ready at https://127.0.0.1:$api_port after ${i}x0.5 s"
    "$kcm" --kubeconfig "$dir/kubeconfig" --leader-elect=false --port 0 --secure-port 0 \
      --controllers garbagecollector,namespace --concurrent-gc-syncs 5 --v 0 >kcm.log 2>&1 &
    echo $! > kcm.pid
    sleep 1
    kill -0 "$(cat kcm.pid)" 2>/dev/null || { echo "kube-up: kube-controller-manager exited" >&2; tail -30 kcm.log >&2; exit 1; }
    echo "kube-up: kube-controller-manager running (garbagecollector, namespace)"
    exit 0
  fi
  if ! kill -0 "$(cat apiserver.pid)" 2>/dev/null; then
    echo "kube-up: kube-apiserver exited" >&2; tail -30 apiserver.log >&2; exit 1
  fi
  sleep 0.5
done
echo "kube-up: API server not ready after 60 s" >&2; tail -30 apiserver.log >&2; exit 1
