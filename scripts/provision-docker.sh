#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the host tools the image build needs are here.
# Idempotent: an engine that already answers is never touched. Needs root only to install.
set -euo pipefail
LOG=${DOCKERD_LOG:-/var/log/testbed-dockerd.log}

say() { echo "provision: $*" >&2; }
die() { say "$*"; exit 1; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)  # for compose/ (by hand)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)  # the report's browser test
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need_pkgs[*]}; run as root or: sudo apt-get install -y ${need_pkgs[*]}"
  command -v apt-get >/dev/null 2>&1 || die "missing ${need_pkgs[*]} and no apt-get here; install them by hand"
  say "installing ${need_pkgs[*]} from Debian (apt-get)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || say "warning: no Go toolchain; building MinIO and Toxiproxy needs it (https://go.dev/doc/install)"

if timeout 10 docker info >/dev/null 2>&1; then
  exit 0  # an engine answers: leave it alone
fi
[ "$(id -u)" -eq 0 ] || die "no Docker engine answers and starting dockerd needs root; start your engine (e.g. sudo systemctl start docker)"
say "starting dockerd in the background (log: $LOG)"
nohup dockerd >>"$LOG" 2>&1 &
for _ in $(seq 1 60); do
  if timeout 5 docker info >/dev/null 2>&1; then say "Docker engine is up"; exit 0; fi
  sleep 1
done
tail -n 20 "$LOG" >&2 || true
die "dockerd did not answer within 60s; its log is $LOG"
