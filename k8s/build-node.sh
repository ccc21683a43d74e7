#!/bin/bash
# Builds the trial node image: k8s-trial-node-base:<hash> (Debian packages + configs, on the
# testbed's debootstrapped base image) then k8s-trial-node:<version> (+ the Kubernetes binaries
# from k8s/build.sh and the side-loaded images: pause, and the pod image).
#   k8s/build-node.sh [base-only]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
base=${TESTBED_BASE:-$(docker images --format '{{.Repository}}:{{.Tag}}' testbed-base | head -1)}
[ -n "$base" ] || { echo "no testbed-base image: run 'testbed images build' first" >&2; exit 1; }
tag=$(cd "$here/node" && cat Dockerfile entrypoint.sh $(find etc -type f | sort) | sha256sum | cut -c1-12)
node_base=k8s-trial-node-base:$tag
label=(--label io.testbed.k8s-trial=1)
if ! docker image inspect "$node_base" >/dev/null 2>&1; then
  t0=$(date +%s)
  nice -n 19 ionice -c3 docker build -q "${label[@]}" --build-arg BASE="$base" -t "$node_base" "$here/node"
  echo "built $node_base in $(( $(date +%s) - t0 )) s"
fi
[ "${1:-}" = base-only ] && exit 0

ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/images"
cp "$here/node/Dockerfile.bin" "$ctx/Dockerfile"
for c in $K8S_COMMANDS; do cp "$K8S_BIN/$c" "$ctx/bin/"; done
# the pod sandbox image, from C source
mkdir -p "$ctx/pause"; cp "$here/pause/Dockerfile" "$ctx/pause/"
nice -n 19 gcc -static -Os -Wall -o "$ctx/pause/pause" "$here/pause/pause.c"
docker build -q "${label[@]}" -t k8s-trial-pause:3.10 "$ctx/pause" >/dev/null
docker save k8s-trial-pause:3.10 -o "$ctx/images/pause.tar"
# the one pod's image: the testbed's own base, imported as docker.io/library/k8s-trial-pod:1
docker tag "$base" k8s-trial-pod:1
docker save k8s-trial-pod:1 -o "$ctx/images/pod.tar"
# the testbed names its node image after a hash of this recipe (testbed/k8s/image.py)
node_image=${NODE_IMAGE:-k8s-trial-node:$K8S_VERSION}
t0=$(date +%s)
nice -n 19 ionice -c3 docker build -q "${label[@]}" --build-arg NODE_BASE="$node_base" -t "$node_image" "$ctx"
echo "built $node_image in $(( $(date +%s) - t0 )) s"
