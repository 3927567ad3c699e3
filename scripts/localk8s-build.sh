#!/usr/bin/env bash
# Builds the local Kubernetes test bed's binaries from their Go modules, once.
#
# Three tool modules (tools/localk8s/{kubernetes,etcd,kwok}) pin the versions; the binaries
# go to a cache directory keyed by a hash of those modules, so a second run builds nothing
# and a version bump builds afresh. Prints the bin directory on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/localk8s"
K8S_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$TOOLS/kubernetes/go.mod")"
KEY="$(cat "$TOOLS"/*/go.mod "$TOOLS"/*/go.sum "$0" | sha256sum | cut -c1-12)"
CACHE="${CIBOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cibot}"
BIN="$CACHE/localk8s/$K8S_VERSION-$KEY/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)

all_present() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
}

if all_present; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { echo "localk8s-build: $*" >&2; }

stamp() {  # ldflags that make the binaries report their real version, as upstream does
  local v="$1" major minor pkg flags=""
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$flags"
}

build() {  # build <module dir> <output name> <package> [ldflags]
  local dir="$1" out="$2" pkg="$3" ldflags="${4:--s -w}"
  [[ -x "$BIN/$out" ]] && return 0
  log "building $out ($pkg)"
  (cd "$dir" && go build -trimpath -tags selinux,notest,grpcnotrace \
      -ldflags "$ldflags" -o "$BIN/.$out.tmp" "$pkg")
  mv "$BIN/.$out.tmp" "$BIN/$out"
}

KFLAGS="$(stamp "$K8S_VERSION")"
build "$TOOLS/kwok" kwokctl sigs.k8s.io/kwok/cmd/kwokctl
build "$TOOLS/kwok" kwok sigs.k8s.io/kwok/cmd/kwok
build "$TOOLS/etcd" etcd go.etcd.io/etcd/server/v3
for cmd in kubectl kube-apiserver kube-controller-manager kube-scheduler; do
  build "$TOOLS/kubernetes" "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$KFLAGS"
done
all_present
echo "$BIN"
