#!/bin/bash
# A Kubernetes node's PID 1: with K8S_ROLE=control-plane (the default) etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy; with
# K8S_ROLE=worker only containerd, kubelet and kube-proxy, joining the control plane with the
# bundle it wrote for this node (/etc/kubernetes/nodes/<name>/, copied in by the testbed before
# the start). Run directly, no kubeadm, no systemd (trixie's systemd refuses cgroup v1).
# Logs: /var/log/k8s/<name>.log; phases stamped on stdout.
#   K8S_WORKERS  names of the worker nodes to write bundles for (control plane)
#   K8S_POD_SUBNET  this node's pod addresses (default 10.244.0.0/24)
#   K8S_POOL  the node's testbed.io/pool label (system | tasks)
set -euo pipefail
LOG=/var/log/k8s; PKI=/etc/kubernetes/pki; K=/etc/kubernetes
mkdir -p "$LOG" "$PKI"
T0=$(date +%s.%N)
phase() { printf '[k8s-node %6.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*"; }
NODE=$(hostname | tr 'A-Z_' 'a-z-')
IP=$(ip -4 -o addr show scope global | awk '{split($4,a,"/"); print a[1]; exit}')
phase "node $NODE ip $IP"
K8S_ROLE=${K8S_ROLE:-control-plane}
KC=/root/.kube/config   # kubectl's credentials here: the admin's, or on a worker its kubelet's
[ "$K8S_ROLE" = worker ] && KC=$K/kubelet.conf
export KUBECONFIG=$KC
# this node's share of the pod network (each node its own /24; the testbed adds the routes)
sed -i "s#10.244.0.0/24#${K8S_POD_SUBNET:-10.244.0.0/24}#" /etc/cni/net.d/10-bridge.conflist

# --- the container as a node ---------------------------------------------------------------
mount --make-rshared /
# Docker mounts the (private-namespace) cgroup v1 hierarchies read-only; the kubelet writes them
mount -o remount,rw /sys/fs/cgroup   # the tmpfs above the hierarchies
for d in /sys/fs/cgroup/*; do mountpoint -q "$d" && mount -o remount,bind,rw "$d"; done   # plain remount: "mount point is busy"
# the kubelet reads a system UUID from here (else "Failed to get system UUID")
[ -s /etc/machine-id ] || tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id
# the kubelet's OOM watcher reads /dev/kmsg
[ -e /dev/kmsg ] || mknod /dev/kmsg c 1 11 || ln -s /dev/console /dev/kmsg
# The kubelet wants these kernel tunables (protectKernelDefaults: true makes it only check).
# vm.* and kernel.* are the host's and shared with everyone on it: never write them; show the
# kubelet a private file with the value it expects instead (bind-mounted in this mount namespace).
mkdir -p /run/k8s-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%=*} v=${kv#*=}
  if [ "$(cat /proc/sys/$k)" != "$v" ]; then
    f=/run/k8s-sysctl/${k//\//_}; echo "$v" > "$f"; mount --bind "$f" "/proc/sys/$k"
  fi
done

# --- certificates and kubeconfigs (openssl; EC P-256) ---------------------------------------
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
cert() { # name subject eku [san]
  local n=$1 subj=$2 eku=$3 san=${4:-}
  key "$PKI/$n.key"
  openssl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "subjectKeyIdentifier=hash"; echo "authorityKeyIdentifier=keyid"
    echo "extendedKeyUsage=$eku"; [ -n "$san" ] && echo "subjectAltName=$san"; } > "$PKI/$n.ext"
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/${CA:-ca}.crt" -CAkey "$PKI/${CA:-ca}.key" -CAcreateserial \
    -days 30 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
}
kubeconfig() { # file user [folder]
  cat > "${3:-$K}/$1.conf" <<KC
apiVersion: v1
kind: Config
clusters:
- name: trial
  cluster: {server: "https://$IP:6443", certificate-authority: $PKI/ca.crt}
users:
- name: $2
  user: {client-certificate: $PKI/$2.crt, client-key: $PKI/$2.key}
contexts:
- name: trial
  context: {cluster: trial, user: $2}
current-context: trial
KC
}
node_bundle() { # worker: its kubelet's certificate, kube-proxy's, the CA, both kubeconfigs
  local w=$1 d=$K/nodes/$1
  mkdir -p "$d/pki"
  cert "kubelet-$w" "/O=system:nodes/CN=system:node:$w" clientAuth
  cp "$PKI/ca.crt" "$PKI/kube-proxy.crt" "$PKI/kube-proxy.key" "$d/pki/"
  cp "$PKI/kubelet-$w.crt" "$d/pki/kubelet.crt"; cp "$PKI/kubelet-$w.key" "$d/pki/kubelet.key"
  kubeconfig kubelet kubelet "$d"; kubeconfig kube-proxy kube-proxy "$d"
}
if [ "$K8S_ROLE" = control-plane ] && [ ! -f "$PKI/ca.crt" ]; then
  key "$PKI/ca.key"
  # keyUsage on the CA: Python 3.13's ssl verifies strictly (the scheduler's Kubernetes client
  # refused the CA otherwise: "CA cert does not include key usage extension")
  openssl req -x509 -new -key "$PKI/ca.key" -subj /CN=k8s-trial-ca -days 30 -out "$PKI/ca.crt" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
  cert apiserver /CN=kube-apiserver serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE,IP:10.96.0.1,IP:127.0.0.1,IP:$IP"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  cert controller-manager /CN=system:kube-controller-manager clientAuth
  cert scheduler /CN=system:kube-scheduler clientAuth
  cert kube-proxy /CN=system:kube-proxy clientAuth
  cert kubelet "/O=system:nodes/CN=system:node:$NODE" clientAuth
  # the aggregation layer's front proxy (--requestheader-*): without it every component logs
  # "missing content for CA bundle ...requestheader-client-ca-file" at start
  key "$PKI/front-proxy-ca.key"
  openssl req -x509 -new -key "$PKI/front-proxy-ca.key" -subj /CN=front-proxy-ca -days 30 -out "$PKI/front-proxy-ca.crt" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
  CA=front-proxy-ca cert front-proxy-client /CN=front-proxy-client clientAuth
  key "$PKI/sa.key"; openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  for u in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$u" "$u"; done
  for w in ${K8S_WORKERS:-}; do node_bundle "$w"; done
  phase "certificates and kubeconfigs written${K8S_WORKERS:+ (and bundles for $K8S_WORKERS)}"
fi
[ "$K8S_ROLE" = control-plane ] && mkdir -p /root/.kube && cp "$K/admin.conf" /root/.kube/config
if [ "$K8S_ROLE" = worker ] && [ ! -f "$K/kubelet.conf" ]; then
  phase "no bundle from the control plane in $K (kubelet.conf)"; exit 1
fi

PIDS=()
start() { # name command...
  local n=$1; shift
  "$@" >"$LOG/$n.log" 2>&1 & PIDS+=($!)
  echo "$!" > "/run/$n.pid"
  phase "started $n (pid $!)"
}
wait_for() { # what seconds command...
  local what=$1 t=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && { phase "$what"; return 0; }; sleep 0.2; done
  phase "TIMEOUT waiting for $what"; return 1
}

# --- containerd and the side-loaded images ---------------------------------------------------
start containerd containerd --config /etc/containerd/config.toml
wait_for "containerd answers" 60 ctr version
# the node image's own (pause, the trial's pod) and those mounted under /opt/images/<dir>/ by
# the testbed (the Airflow image, `docker save`d on the host)
# imported in the background while the control plane starts (a 1 GB image takes ~12 s);
# "images imported" is stamped when done (the testbed waits for it before creating pods)
import_images() {
  for t in /opt/images/*.tar /opt/images/*/*.tar; do
    [ -e "$t" ] && { ctr -n k8s.io images import "$t" >>"$LOG/images.log" 2>&1 || phase "image import failed: $t (see $LOG/images.log)"; }
  done
  phase "images imported: $(ctr -n k8s.io images ls -q | grep -v sha256 | tr '\n' ' ')"
}
import_images &

# --- control plane ---------------------------------------------------------------------------
if [ "$K8S_ROLE" = control-plane ]; then
start etcd etcd --name "$NODE" --data-dir /var/lib/etcd \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$NODE=http://127.0.0.1:2380"
wait_for "etcd healthy" 60 etcdctl --endpoints http://127.0.0.1:2379 endpoint health

start kube-apiserver kube-apiserver --advertise-address="$IP" --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.96.0.0/16 \
  --client-ca-file=$PKI/ca.crt --tls-cert-file=$PKI/apiserver.crt --tls-private-key-file=$PKI/apiserver.key \
  --kubelet-client-certificate=$PKI/apiserver-kubelet-client.crt --kubelet-client-key=$PKI/apiserver-kubelet-client.key \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-key-file=$PKI/sa.pub --service-account-signing-key-file=$PKI/sa.key \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --requestheader-client-ca-file=$PKI/front-proxy-ca.crt --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file=$PKI/front-proxy-client.crt --proxy-client-key-file=$PKI/front-proxy-client.key \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
  --profiling=false
wait_for "kube-apiserver ready" 180 kubectl get --raw /readyz

start kube-controller-manager kube-controller-manager --kubeconfig=$K/controller-manager.conf \
  --authentication-kubeconfig=$K/controller-manager.conf --authorization-kubeconfig=$K/controller-manager.conf \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --node-monitor-grace-period="${K8S_NODE_GRACE:-8s}" --node-monitor-period=2s \
  --service-account-private-key-file=$PKI/sa.key --root-ca-file=$PKI/ca.crt \
  --cluster-signing-cert-file=$PKI/ca.crt --cluster-signing-key-file=$PKI/ca.key --profiling=false
start kube-scheduler kube-scheduler --kubeconfig=$K/scheduler.conf \
  --authentication-kubeconfig=$K/scheduler.conf --authorization-kubeconfig=$K/scheduler.conf \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false
fi

# --- the node ---------------------------------------------------------------------------------
start kubelet kubelet --config=$K/kubelet.yaml --kubeconfig=$K/kubelet.conf \
  --hostname-override="$NODE" --node-ip="$IP" --node-labels="testbed.io/pool=${K8S_POOL:-system}"
if [ "${K8S_PROXY:-1}" = 1 ] && command -v kube-proxy >/dev/null; then
  cat > $K/kube-proxy.yaml <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $K/kube-proxy.conf}
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $NODE
nodePortAddresses: [primary]
oomScoreAdj: 0
# 0 = leave the kernel's value: /proc/sys stays read-only in the node, and nf_conntrack_max
# is the host's ("open /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established:
# read-only file system" otherwise)
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KP
  start kube-proxy kube-proxy --config=$K/kube-proxy.yaml
fi
wait_for "node $NODE Ready" 300 sh -c "kubectl get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True" || true

# --- the pod network between nodes: a route to each peer's pod subnet via the peer, looked up
# by name on the Docker network every few seconds (a restarted peer may come back elsewhere)
route_peers() {
  while sleep 3; do
    for p in ${K8S_PEERS:-}; do
      name=${p%%=*} subnet=${p#*=}
      [ "$name" = "$NODE" ] && continue
      peer=$(getent hosts "$name" | awk '{print $1; exit}') || true
      [ -n "$peer" ] && { ip route replace "$subnet" via "$peer" 2>/dev/null || true; }
    done
  done
}
[ -n "${K8S_PEERS:-}" ] && { route_peers & }

# --- stay up while every process does ---------------------------------------------------------
set +e
wait -n "${PIDS[@]}"
rc=$?
for n in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  [ -f /run/$n.pid ] && ! kill -0 "$(cat /run/$n.pid)" 2>/dev/null && { phase "$n exited; its last lines:"; tail -n 20 "$LOG/$n.log"; }
done
phase "a node process exited (rc $rc); stopping"
exit 1
