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
  # network sysctls are the node's own (its netns); set here because /proc/sys is read-only
  # inside: kube-proxy's "can't set sysctl net/ipv4/conf/all/route_localnet to 1"
  --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv4.conf.all.route_localnet=1
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
# the controller-manager creates the namespace's "default" service account a moment after it
# starts; a pod created before that is refused ("serviceaccount "default" not found")
for _ in $(seq 120); do
  k get serviceaccount default >/dev/null 2>&1 && break
  docker inspect -f '{{.State.Running}}' "$name" | grep -q true || { docker logs "$name" 2>&1 | tail -20; exit 1; }
  sleep 0.5
done
echo "serviceaccount default/default at $(since) s after docker run"
t1=$(date +%s.%N)
docker exec -i "$name" kubectl apply -f - < "$here/pod.yaml"
if k wait --for=jsonpath='{.status.phase}'=Running pod/hello --timeout=300s; then
  echo "pod Running at $(awk -v a="$(date +%s.%N)" -v b="$t1" 'BEGIN{printf "%.1f", a-b}') s after kubectl apply ($(since) s after docker run)"
  sleep 1; k get pods,svc -o wide; k logs hello
  ip=$(k get pod hello -o jsonpath='{.status.podIP}')
  for _ in $(seq 20); do
    out=$(docker exec "$name" bash -c "exec 3<>/dev/tcp/$ip/8080; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -1 <&3" 2>&1) && break; sleep 0.5
  done
  echo "pod $ip:8080 from the node: $out"
  if [ "${K8S_PROXY:-0}" = 1 ]; then
    svc=$(k get svc hello -o jsonpath='{.spec.clusterIP}')
    for _ in $(seq 60); do
      out=$(docker exec "$name" bash -c "exec 3<>/dev/tcp/$svc/80; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -1 <&3" 2>&1) && break; sleep 0.5
    done
    echo "service $svc:80 (kube-proxy, iptables) at $(since) s: $out"
  fi
else
  k describe pod hello | tail -30; exit 1
fi
