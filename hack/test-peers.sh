#!/usr/bin/env bash
# Builds the OCI peers that internal/repository's tests run against, from the Go module proxy,
# into DEST (default bin/), once; later runs reuse them:
#   registry  distribution/distribution v3 (only the filesystem storage driver and htpasswd auth)
#   crane     google/go-containerregistry's CLI, a second client no one here wrote
# Each is built in a throwaway module in a temp dir so the project's go.mod is never touched.
# Usage: hack/test-peers.sh [DEST] [DISTRIBUTION_VERSION] [GGCR_VERSION]
set -euo pipefail
dest=$(mkdir -p "${1:-bin}" && cd "${1:-bin}" && pwd)
distribution=${2:-3.1.2}
ggcr=${3:-0.22.1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

if [ ! -x "$dest/registry" ]; then
  echo "building registry (distribution v$distribution) into $dest (first time only)" >&2
  mkdir -p "$work/registry" && cd "$work/registry"
  # The upstream cmd/registry links every cloud storage driver; tests need only the filesystem.
  cat > main.go <<'GO'
package main

import (
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/distribution/distribution/v3/registry"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		panic(err)
	}
}
GO
  printf 'module local/registry\n\ngo 1.23\n\nrequire github.com/distribution/distribution/v3 v%s\n' "$distribution" > go.mod
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$dest/registry.tmp" . && mv "$dest/registry.tmp" "$dest/registry"
fi

if [ ! -x "$dest/crane" ]; then
  echo "building crane (go-containerregistry v$ggcr) into $dest (first time only)" >&2
  mkdir -p "$work/crane" && cd "$work/crane"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/google/go-containerregistry/cmd/crane"
GO
  printf 'module local/crane\n\ngo 1.23\n\nrequire github.com/google/go-containerregistry v%s\n' "$ggcr" > go.mod
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$dest/crane.tmp" github.com/google/go-containerregistry/cmd/crane \
    && mv "$dest/crane.tmp" "$dest/crane"
fi
echo "$dest"
