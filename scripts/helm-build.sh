#!/usr/bin/env bash
# Builds helm from its Go module, once, for the chart's tests (charts/cibot).
#
# The tool module tools/helm pins the version; the binary goes to a cache directory keyed by
# a hash of that module (like scripts/localk8s-build.sh), so a second run builds nothing and
# a version bump builds afresh. Prints the path of the helm binary on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/tools/helm"
VERSION="$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" {print $3}' "$TOOL/go.mod")"
KEY="$(cat "$TOOL/go.mod" "$TOOL/go.sum" "$0" | sha256sum | cut -c1-12)"
CACHE="${CIBOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cibot}"
BIN="$CACHE/helm/$VERSION-$KEY/bin"

if [[ ! -x "$BIN/helm" ]]; then
  mkdir -p "$BIN"
  echo "helm-build: building helm $VERSION (helm.sh/helm/v4/cmd/helm)" >&2
  # Stamped as upstream does, so `helm version` tells the truth.
  pkg=helm.sh/helm/v4/internal/version
  (cd "$TOOL" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X $pkg.version=$VERSION -X $pkg.gitTreeState=clean" \
      -o "$BIN/.helm.tmp" helm.sh/helm/v4/cmd/helm)
  mv "$BIN/.helm.tmp" "$BIN/helm"
fi
echo "$BIN/helm"
