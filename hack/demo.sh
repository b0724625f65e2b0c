#!/usr/bin/env bash
# The flarecast demo on one machine: a real kube-apiserver and etcd (test/controlplane), the
# flarecast manager, and the sample telco edge site, shown through kubectl.
#   hack/demo.sh up     start everything, apply the samples, show them; on a terminal it stays
#                       up until Ctrl-C, otherwise (CI) it tears down after showing
#   hack/demo.sh down   stop what `up` started (make demo-down)
set -euo pipefail
cd "$(dirname "$0")/.."
state=.demo
export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$PWD/bin/k8s}
kubectl="$KUBEBUILDER_ASSETS/kubectl"

# The install server's network: a bridge in namespace $lan_ns, the server's veth ($srv_if, in
# this namespace, with a host address and host routes only), and node m1's namespace on the
# bridge with m1's MAC. Addresses are the sample's (198.18.0.0/16).
lan_ns=fcdemo-lan
node_ns=fcdemo-m1
srv_if=fcdemo0
srv_addr=198.18.0.1

netdown() {
  ip link del "$srv_if" 2>/dev/null || true
  for ns in "$node_ns" "$lan_ns"; do
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

down() {
  for p in installserver manager registry controlplane; do
    if [ -f "$state/$p.pid" ]; then
      pid=$(cat "$state/$p.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$state/$p.pid"
    fi
  done
  [ "$(id -u)" = 0 ] && command -v ip >/dev/null && netdown
  echo "demo stopped"
}

k() { "$kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

show() {
  echo
  echo "\$ kubectl get flarecast"
  k get flarecast
  echo
  echo "\$ kubectl get clusters -o custom-columns=… (conditions)"
  k get clusters.flarecast.io -o custom-columns='CLUSTER:.metadata.name,COMPLETE:.status.conditions[?(@.type=="ModelComplete")].status,VALID:.status.conditions[?(@.type=="Valid")].status,NODES:.status.nodes.total,WHY:.status.conditions[?(@.type=="ModelComplete")].message'
}

# archives builds a generic archive from a tiny root file system tarball written into $state,
# points the edge cluster's groups at it, and shows the deployable archives and the software
# load the controllers make from it.
archives() {
  local tree="$state/rootfs" tarball="$state/rootfs.tar"
  rm -rf "$tree" && mkdir -p "$tree/etc" "$tree/usr/bin"
  echo 'ID=flarecast-demo' >"$tree/etc/os-release"
  printf '#!/bin/sh\necho hello from a flash archive\n' >"$tree/usr/bin/hello" && chmod 755 "$tree/usr/bin/hello"
  tar -C "$tree" -cf "$tarball" .
  local digest="sha256:$(sha256sum "$tarball" | cut -d' ' -f1)"
  echo
  echo "\$ kubectl apply -f -   # a Generic archive from $tarball ($digest)"
  k apply -f - <<YAML
apiVersion: flarecast.io/v1alpha1
kind: FlashArchive
metadata:
  name: demo-base
spec:
  type: Generic
  arch: amd64
  os: {name: demo, version: "1"}
  source:
    rootfs:
      url: file://$PWD/$tarball
      digest: $digest
YAML
  k wait --for=jsonpath='{.status.phase}'=Ready flasharchives.flarecast.io/demo-base --timeout=120s >/dev/null
  echo "\$ kubectl patch nodesgroups masters dataless diskless   # spec.archiveRef: demo-base"
  for g in masters dataless diskless; do
    k patch nodesgroups.flarecast.io "$g" --type merge -p '{"spec":{"archiveRef":{"name":"demo-base"}}}'
  done
  k wait --for=condition=ArchivesReady clusters.flarecast.io/edge --timeout=120s >/dev/null
  echo "# waiting for debian12-base (config/samples): the Debian base, pulled from the demo's registry"
  k wait --for=jsonpath='{.status.phase}'=Ready flasharchives.flarecast.io/debian12-base --timeout=600s >/dev/null
  echo
  echo "\$ kubectl get flasharchives -o wide"
  k get flasharchives.flarecast.io -o wide
  echo "# debian12-base (config/samples): the Debian base, from the demo's registry on 127.0.0.1:5405"
  k get flasharchives.flarecast.io debian12-base -o jsonpath='#   {.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}{"\n"}'
  echo
  echo "\$ kubectl get clusters edge -o custom-columns=… (software load)"
  k get clusters.flarecast.io edge -o custom-columns='CLUSTER:.metadata.name,ARCHIVES-READY:.status.conditions[?(@.type=="ArchivesReady")].status,DESCRIPTOR:.status.softwareLoad.descriptorDigest'
  k get clusters.flarecast.io edge -o jsonpath='{range .status.softwareLoad.archives[*]}{.nodesGroup}{"\t"}{.flashArchive}{"\t"}{.digest}{"\n"}{end}'
  echo
  echo "\$ flarecast archive ls --repo $state/repo"
  bin/flarecast archive ls --repo "$state/repo"
}

# installserver starts `flarecast installserver` for site edge-dc on a bridge in a namespace it
# creates, and shows it answering: a DHCP client with node m1's MAC, in a namespace of its own
# on that bridge, gets m1's lease from the model; then m1's iPXE script and the agent API.
installserver() {
  echo
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v udhcpc >/dev/null || ! command -v curl >/dev/null; then
    echo "# the install server part of the demo needs root (network namespaces), ip, udhcpc and curl (hack/debian-deps.sh): skipped"
    return 0
  fi
  netdown
  ip netns add "$lan_ns"
  ip -n "$lan_ns" link add br0 type bridge
  ip -n "$lan_ns" link set br0 up
  ip link add "$srv_if" type veth peer name srv netns "$lan_ns"
  ip -n "$lan_ns" link set srv master br0 up
  ip addr add "$srv_addr/32" dev "$srv_if"
  ip link set "$srv_if" up
  ip netns add "$node_ns"
  ip -n "$node_ns" link set lo up
  ip -n "$lan_ns" link add m1 type veth peer name eth0 netns "$node_ns" address 52:54:00:fc:00:10
  ip -n "$lan_ns" link set m1 master br0 up
  ip -n "$node_ns" link set eth0 up
  ip route add 198.18.7.1/32 dev "$srv_if"
  echo "\$ flarecast installserver --site edge-dc --interface $srv_if --address $srv_addr --repo $state/repo   # (logs: $state/installserver.log)"
  setsid bin/flarecast installserver --kubeconfig "$state/kubeconfig" --namespace default --site edge-dc \
    --interface "$srv_if" --address "$srv_addr" --repo "$state/repo" --state-dir "$state/installserver" \
    --metrics-bind-address 0 --log-development --v 1 >"$state/installserver.log" 2>&1 &
  echo $! >"$state/installserver.pid"
  local base="http://$srv_addr:8080"
  for _ in $(seq 300); do curl -sf -o /dev/null "$base/ipxe/m1" && break; sleep 0.1; done
  curl -sf -o /dev/null "$base/ipxe/m1" || { cat "$state/installserver.log" >&2; echo "the install server did not start" >&2; exit 1; }

  local hook="$state/udhcpc-hook.sh"
  cat >"$hook" <<'HOOK'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/$subnet" dev "$interface"
echo "lease: ip=$ip subnet=$subnet hostname=$hostname boot_file=$boot_file siaddr=$siaddr serverid=$serverid lease=$lease"
HOOK
  chmod +x "$hook"
  echo
  echo "\$ ip netns exec $node_ns udhcpc -i eth0   # eth0 has m1's MAC, 52:54:00:fc:00:10"
  ip netns exec "$node_ns" udhcpc -f -q -n -i eth0 -s "$hook" -t 5 -T 1 2>/dev/null | grep '^lease:'
  echo
  echo "\$ ip netns exec $node_ns curl $base/ipxe/m1   # m1's iPXE script (its token shortened here)"
  local script token
  script=$(ip netns exec "$node_ns" curl -sf "$base/ipxe/m1")
  token=$(printf '%s\n' "$script" | sed -n 's/.*flarecast\.token=\([^ ]*\).*/\1/p')
  printf '%s\n' "$script" | sed "s/$token/${token:0:8}…/"
  echo
  echo "\$ ip netns exec $node_ns curl -H 'Authorization: Bearer <m1's token>' $base/agent/v1/nodes/default/edge/m1/plan"
  ip netns exec "$node_ns" curl -s -w ' (HTTP %{http_code})\n' -H "Authorization: Bearer $token" "$base/agent/v1/nodes/default/edge/m1/plan"
  echo "\$ ip netns exec $node_ns curl -H 'Authorization: Bearer <m1's token>' $base/agent/v1/nodes/default/edge/m2/plan"
  ip netns exec "$node_ns" curl -s -w ' (HTTP %{http_code})\n' -H "Authorization: Bearer $token" "$base/agent/v1/nodes/default/edge/m2/plan"
}

up() {
  mkdir -p "$state"
  if [ -f "$state/controlplane.pid" ] && kill -0 "$(cat "$state/controlplane.pid")" 2>/dev/null; then
    echo "a demo is already running: make demo-down first" >&2
    exit 1
  fi
  hack/envtest-assets.sh bin/k8s >/dev/null
  go build -o bin/flarecast .
  go build -o bin/controlplane ./test/controlplane
  rm -f "$state/kubeconfig"

  echo "starting kube-apiserver and etcd (logs: $state/controlplane.log)"
  setsid bin/controlplane --write-kubeconfig "$state/kubeconfig" >"$state/controlplane.log" 2>&1 &
  echo $! >"$state/controlplane.pid"
  trap 'down' EXIT
  for _ in $(seq 300); do [ -s "$state/kubeconfig" ] && break; sleep 0.1; done
  [ -s "$state/kubeconfig" ] || { cat "$state/controlplane.log" >&2; echo "the API server did not start" >&2; exit 1; }

  # The samples' debian12-base is the Debian base (hack/debian-base.sh, cached in bin/) as an
  # image in a registry of the demo's own: crane's, blobs under $state/registry.
  hack/test-peers.sh bin >/dev/null
  base=$(hack/debian-base.sh bin)
  echo "starting a registry on 127.0.0.1:5405 (logs: $state/registry.log)"
  rm -rf "$state/registry" && mkdir -p "$state/registry"
  setsid bin/crane registry serve --address 127.0.0.1:5405 --disk "$state/registry" >"$state/registry.log" 2>&1 &
  echo $! >"$state/registry.pid"
  for _ in $(seq 100); do curl -sf http://127.0.0.1:5405/v2/ >/dev/null && break; sleep 0.1; done
  echo "pushing $base as 127.0.0.1:5405/flarecast/debian-base:bookworm"
  bin/crane append -f "$base" -t 127.0.0.1:5405/flarecast/debian-base:bookworm >>"$state/registry.log" 2>&1
  # An image appended to nothing has no platform: the manager picks linux/amd64.
  bin/crane mutate --set-platform linux/amd64 127.0.0.1:5405/flarecast/debian-base:bookworm >>"$state/registry.log" 2>&1

  echo "starting flarecast manager (logs: $state/manager.log)"
  rm -rf "$state/repo" "$state/builds"
  setsid bin/flarecast manager --kubeconfig "$state/kubeconfig" --metrics-bind-address 127.0.0.1:0 \
    --health-probe-bind-address 127.0.0.1:0 --log-development \
    --repo "$state/repo" --executor local --executor-state-dir "$state/builds" \
    --allow-file-source "$PWD/$state" --allow-source-host 127.0.0.1 >"$state/manager.log" 2>&1 &
  echo $! >"$state/manager.pid"

  echo
  echo "\$ kubectl apply -k config/samples            # the telco edge site"
  k apply -k config/samples
  echo "\$ kubectl apply -f config/samples/partial/   # a partial model: its Network is not written yet"
  k apply -f config/samples/partial/
  k wait --for=condition=ModelComplete clusters.flarecast.io/edge --timeout=60s >/dev/null
  k wait --for=condition=Valid clusters.flarecast.io/edge --timeout=60s >/dev/null
  k wait --for=jsonpath='{.status.conditions[?(@.type=="ModelComplete")].status}'=False clusters.flarecast.io/lab --timeout=60s >/dev/null
  show

  echo
  echo "\$ kubectl apply -f config/samples/partial-completion/   # the lab's Network arrives"
  k apply -f config/samples/partial-completion/
  k wait --for=condition=ModelComplete clusters.flarecast.io/lab --timeout=60s >/dev/null
  show

  archives
  installserver

  if [ -t 0 ] && [ -z "${DEMO_EXIT:-}" ]; then
    echo
    echo "The demo stays up: KUBECONFIG=$PWD/$state/kubeconfig kubectl get flarecast"
    echo "Ctrl-C (or make demo-down in another terminal) stops it."
    trap 'exit 0' INT TERM
    while kill -0 "$(cat "$state/manager.pid" 2>/dev/null)" 2>/dev/null; do sleep 1; done
  fi
}

case "${1:-up}" in
  up) up ;;
  down) trap - EXIT; down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
