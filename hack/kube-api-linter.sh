#!/usr/bin/env bash
# Builds kube-api-linter's golangci-lint (sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter:
# golangci-lint v2 with the Kubernetes API conventions compiled in) into DEST (default bin/) at
# VERSION, from the Go module proxy. `go install mod@version` builds it with the linter's own
# go.mod, so the project's go.mod never takes its (large) dependency tree. A binary of another
# version is rebuilt. The project has no releases to pin to yet: VERSION is a pseudo-version.
# Usage: hack/kube-api-linter.sh [DEST] VERSION
set -euo pipefail
dest=$(mkdir -p "${1:-bin}" && cd "${1:-bin}" && pwd)
version=${2:?usage: hack/kube-api-linter.sh DEST VERSION}
bin="$dest/golangci-lint-kube-api-linter"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "sigs.k8s.io/kube-api-linter[[:space:]]*$version"; then
  exit 0
fi
echo "building kube-api-linter $version into $dest (first time only)" >&2
export GOWORK=off GOFLAGS=
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GOBIN="$work" go install -trimpath "sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter@$version"
mv "$work/golangci-lint-kube-api-linter" "$bin"
