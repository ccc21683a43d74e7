#!/bin/bash
# Boots one trial node container, waits for the node to be Ready and the one pod to be Running,
# prints the times. The container stays up (k8s/trial.sh down removes it).
#   k8s/trial.sh [up|down]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
name=${K8S_NODE_NAME:-k8s-trial-node}
if [ "${1:-up}" = down ]; then docker rm -f "$name" >/dev/null 2>&1 || true; exit 0; fi
# This Docker refuses --privileged ("unable to apply caps"); these are what a kubelet needs:
# all capabilities but SYS_RESOURCE, no seccomp/apparmor profile, every device, its own cgroup
# namespace (the entrypoint remounts the v1 hierarchies rw), containerd's root on a tmpfs
# (overlayfs cannot stack on the container's own overlay root). /proc/sys stays read-only:
# the host's vm.*/kernel.* tunables are never written (see node/entrypoint.sh).
flags=(--label io.testbed.k8s-trial=1 --name "$name" --hostname "$name"
  --cap-add ALL --cap-drop SYS_RESOURCE
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --device-cgroup-rule 'a *:* rwm' --cgroupns private
  --tmpfs /var/lib/containerd:rw,exec,mode=755 --tmpfs /run:rw,exec,mode=755
  --sysctl net.ipv4.ip_forward=1
  -e K8S_PROXY="${K8S_PROXY:-0}")
t0=$(date +%s.%N)
since() { awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}'; }
docker run -d "${flags[@]}" "k8s-trial-node:$K8S_VERSION" >/dev/null
echo "node container started"
k() { docker exec "$name" kubectl "$@"; }
for _ in $(seq 600); do
  logs=$(docker logs "$name" 2>&1)
  grep -q '\] node .* Ready$' <<<"$logs" && break
  grep -q 'TIMEOUT' <<<"$logs" && { echo "$logs" | tail -40; echo "node not Ready"; exit 1; }
  docker inspect -f '{{.State.Running}}' "$name" | grep -q true || { docker logs "$name" 2>&1 | tail -40; echo "node container exited"; exit 1; }
  sleep 0.5
done
echo "node Ready at $(since) s after docker run"
docker logs "$name" 2>&1 | grep '^\[k8s-node'
k version 2>&1 | sed 's/^/  /'
t1=$(date +%s.%N)
docker exec -i "$name" kubectl apply -f - < "$here/pod.yaml"
if k wait --for=jsonpath='{.status.phase}'=Running pod/hello --timeout=300s; then
  echo "pod Running at $(awk -v a="$(date +%s.%N)" -v b="$t1" 'BEGIN{printf "%.1f", a-b}') s after kubectl apply ($(since) s after docker run)"
  sleep 1; k get pods -o wide; k logs hello
else
  k describe pod hello | tail -30; exit 1
fi
