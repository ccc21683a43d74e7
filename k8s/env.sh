# Shared settings for the Kubernetes trial's scripts (sourced, not run).
K8S_VERSION=${K8S_VERSION:-v1.34.4}
# the staging modules (k8s.io/api, ...) are published as v0.N.P for Kubernetes v1.N.P
K8S_STAGING_VERSION=v0${K8S_VERSION#v1}
K8S_CACHE=${K8S_CACHE:-$HOME/.cache/testbed/k8s}
export GOMODCACHE=${GOMODCACHE_K8S:-$K8S_CACHE/gomod}
export GOCACHE=${GOCACHE_K8S:-$K8S_CACHE/go-build}
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
K8S_BIN=${K8S_BIN:-$K8S_CACHE/bin/$K8S_VERSION}
# what a one-node cluster needs
K8S_COMMANDS=${K8S_COMMANDS:-"kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy"}
