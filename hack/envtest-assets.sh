#!/usr/bin/env bash
# Builds envtest's kube-apiserver and etcd from the Go module proxy into DEST (default bin/k8s),
# once; later runs reuse them. Machines that can download envtest's prebuilt binaries may point
# KUBEBUILDER_ASSETS elsewhere; this script exists for those that only reach the module proxy.
# Usage: hack/envtest-assets.sh [DEST] [K8S_VERSION] [ETCD_VERSION]
# Cold caches on 2 cores: about 6 minutes for both; seconds once built.
set -euo pipefail
dest=$(mkdir -p "${1:-bin/k8s}" && cd "${1:-bin/k8s}" && pwd)
k8s=${2:-1.37.2}
etcd=${3:-3.5.17}
staging=0.${k8s#1.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Build outside the project's module so its go.mod is never touched.
export GOFLAGS=-mod=mod GOWORK=off

if [ ! -x "$dest/kube-apiserver" ]; then
  echo "building kube-apiserver v$k8s into $dest (first time only)" >&2
  mkdir -p "$work/apiserver" && cd "$work/apiserver"
  cat > main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
  printf 'module local/kubeapiserver\n\ngo 1.23\n\nrequire k8s.io/kubernetes v%s\n' "$k8s" > go.mod
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local paths;
  # as a dependency it needs each one replaced by its published twin.
  for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
    cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
    kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
    mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
    echo "replace k8s.io/$m => k8s.io/$m v$staging" >> go.mod
  done
  go mod tidy >/dev/null 2>&1 || go mod tidy
  # Stamp the version, or /version reports v0.0.0-master and kubectl warns of skew.
  v=k8s.io/component-base/version
  go build -trimpath -ldflags "-s -w -X $v.gitVersion=v$k8s -X $v.gitMajor=${k8s%%.*} -X $v.gitMinor=$(echo "$k8s" | cut -d. -f2) -X $v.gitTreeState=clean" \
    -o "$dest/kube-apiserver.tmp" . && mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
fi

if [ ! -x "$dest/etcd" ]; then
  echo "building etcd v$etcd into $dest (first time only)" >&2
  mkdir -p "$work/etcd" && cd "$work/etcd"
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module local/etcd\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$etcd" > go.mod
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$dest/etcd.tmp" . && mv "$dest/etcd.tmp" "$dest/etcd"
fi

# kubectl: the one on PATH, else built from k8s.io/kubectl (a user's machine may lack it).
if [ ! -e "$dest/kubectl" ]; then
  if command -v kubectl >/dev/null; then
    ln -s "$(command -v kubectl)" "$dest/kubectl"
  else
    echo "building kubectl v$k8s into $dest (first time only)" >&2
    mkdir -p "$work/kubectl" && cd "$work/kubectl"
    cat > main.go <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
GO
    printf 'module local/kubectl\n\ngo 1.23\n\nrequire k8s.io/kubectl v%s\n' "$staging" > go.mod
    go mod tidy >/dev/null 2>&1 || go mod tidy
    v=k8s.io/component-base/version
    go build -trimpath -ldflags "-s -w -X $v.gitVersion=v$k8s -X $v.gitMajor=${k8s%%.*} -X $v.gitMinor=$(echo "$k8s" | cut -d. -f2) -X $v.gitTreeState=clean" \
      -o "$dest/kubectl.tmp" . && mv "$dest/kubectl.tmp" "$dest/kubectl"
  fi
fi
echo "$dest"
