#!/usr/bin/env bash
# The flarecast demo on one machine: a real kube-apiserver and etcd (test/controlplane), the
# flarecast manager, and the sample telco edge site, shown through kubectl; then the local
# install server boots nodes of the site to Running: m1 a qemu guest (TCG, OVMF, a sparse disk
# image), m2, dl3 and dl4 simulated nodes (the real agent in network namespaces, loop-file disks).
#   hack/demo.sh up     start everything, apply the samples, show them, boot the nodes; on a
#                       terminal it stays up until Ctrl-C, otherwise (CI) it tears down after
#   hack/demo.sh down   stop what `up` started and remove what it made (make demo-down)
# DEMO_NODES=0 skips the node boots (the rest takes a minute or two; the boots 10 to 25 more).
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
# The nodes the demo boots: m1 under qemu, the others simulated, each with its MAC of the
# sample (config/samples/machine.yaml, eth0) and its group.
qemu_node=m1
sim_nodes="m2 dl3 dl4"
declare -A mac=([m1]=52:54:00:fc:00:10 [m2]=52:54:00:fc:01:10 [dl3]=52:54:00:fc:00:20 [dl4]=52:54:00:fc:01:20)
declare -A serial=([m1]=S3EVNX0K812345)

netdown() {
  ip link del "$srv_if" 2>/dev/null || true
  for ns in "$node_ns" $(for n in $sim_nodes; do echo "fcdemo-$n"; done) "$lan_ns"; do
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

# nodesdown ends the node processes and releases what the simulated nodes hold: their mounts
# and loop devices. The disk images go with $state.
nodesdown() {
  local pid
  for f in "$state"/nodes/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  for d in "$state"/nodes/*.root; do
    [ -d "$d" ] || continue
    { grep -o " $PWD/$d[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  for img in "$state"/nodes/*.img; do
    [ -f "$img" ] || continue
    for dev in $(losetup -j "$img" 2>/dev/null | cut -d: -f1); do losetup -d "$dev" 2>/dev/null || true; done
  done
}

down() {
  [ "$(id -u)" = 0 ] && command -v losetup >/dev/null && nodesdown
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
  rm -rf "$state"
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
  # The diskful groups keep the samples' bootable Debian base: their nodes boot below.
  echo "\$ kubectl patch nodesgroups diskless   # spec.archiveRef: demo-base"
  k patch nodesgroups.flarecast.io diskless --type merge -p '{"spec":{"archiveRef":{"name":"demo-base"}}}'
  echo "# waiting for debian12-base (config/samples): the Debian base, pulled from the demo's registry"
  k wait --for=jsonpath='{.status.phase}'=Ready flasharchives.flarecast.io/debian12-base --timeout=600s >/dev/null
  k wait --for=condition=ArchivesReady clusters.flarecast.io/edge --timeout=300s >/dev/null
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
  # The deploy kernel and the agent's initramfs, when the nodes boot: this machine's Debian
  # kernel (hack/debian-deps.sh) and an image of `flarecast initramfs build`, /init the agent.
  local deploy=()
  if nodes_can_boot; then
    local kver
    kver=$(ls /lib/modules | sort -V | tail -1)
    echo "\$ flarecast initramfs build --init bin/flarecast-agent --kernel-version $kver --out $state/initramfs.img"
    bin/flarecast initramfs build --init bin/flarecast-agent --kernel-version "$kver" --out "$state/initramfs.img" >"$state/initramfs.log" 2>&1 ||
      { cat "$state/initramfs.log" >&2; echo "the initramfs did not build" >&2; exit 1; }
    deploy=(--boot-dir /usr/lib/ipxe --kernel "/boot/vmlinuz-$kver" --initramfs "$state/initramfs.img"
      --kernel-arg console=ttyS0,115200n8 --kernel-arg no_timer_check)
  fi
  echo "\$ flarecast installserver --site edge-dc --interface $srv_if --address $srv_addr --repo $state/repo ${deploy[*]}   # (logs: $state/installserver.log)"
  setsid bin/flarecast installserver --kubeconfig "$state/kubeconfig" --namespace default --site edge-dc \
    --interface "$srv_if" --address "$srv_addr" --repo "$state/repo" --state-dir "$state/installserver" "${deploy[@]}" \
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

# nodes_can_boot says whether this machine can boot the demo's nodes: DEMO_NODES is not 0, and
# root has qemu with OVMF, the disk tools and a Debian kernel with its modules.
nodes_can_boot() {
  [ "${DEMO_NODES:-1}" != 0 ] || return 1
  local t
  for t in qemu-system-x86_64 losetup sgdisk mkfs.ext4 mkfs.xfs mkfs.vfat mkswap busybox; do
    command -v "$t" >/dev/null || return 1
  done
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] && [ -e /usr/lib/ipxe/qemu/efi-virtio.rom ] && ls /boot/vmlinuz-* >/dev/null 2>&1
}

# token is a node's token, as the install server writes it in the node's iPXE script.
token() {
  curl -sf "http://$srv_addr:8080/ipxe/$1" | sed -n 's/.*flarecast\.token=\([^ ]*\).*/\1/p'
}

# qemunode powers on node $1 under qemu (TCG; OVMF, as its board's firmware says; a sparse disk
# image with the model's serial, first in the boot order, and the NIC second): it PXE-boots from
# the install server, installs, and boots its disk twice.
qemunode() {
  local n=$1 img="$state/nodes/$1.img"
  truncate -s 480G "$img"
  cp /usr/share/OVMF/OVMF_VARS_4M.fd "$state/nodes/$n.vars"
  ip -n "$lan_ns" tuntap add dev "tap-$n" mode tap
  ip -n "$lan_ns" link set "tap-$n" master br0 up
  echo "\$ qemu-system-x86_64 -machine q35 (OVMF) -drive $img (480G sparse, serial ${serial[$n]}) -device virtio-net-pci,mac=${mac[$n]}   # $n (console: $state/nodes/$n.console)"
  ip netns exec "$lan_ns" setsid qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -display none -monitor none \
    -serial "file:$state/nodes/$n.console" -machine q35 \
    -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
    -drive "if=pflash,format=raw,unit=1,file=$state/nodes/$n.vars" \
    -drive "if=none,id=d0,format=raw,file=$img" -device "virtio-blk-pci,drive=d0,serial=${serial[$n]},bootindex=1" \
    -netdev "tap,id=n0,ifname=tap-$n,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=${mac[$n]},bootindex=2" \
    >"$state/nodes/$n.qemu.log" 2>&1 &
  echo $! >"$state/nodes/$n.pid"
}

# partmount mounts the partition named $2 (the slice's name, as the agent names it in the GPT)
# of disk image $1 at $3, through a loop device that goes with the mount (no udev here makes
# the partitions' device nodes).
partmount() {
  local table part info first size
  table=$(sgdisk --print "$1")
  part=$(awk -v name="$2" '$1 ~ /^[0-9]+$/ && $NF == name {print $1}' <<<"$table")
  [ -n "$part" ] || { echo "$1 has no partition $2:" >&2; echo "$table" >&2; return 1; }
  info=$(sgdisk --info="$part" "$1")
  first=$(sed -n 's/^First sector: \([0-9]*\).*/\1/p' <<<"$info")
  size=$(sed -n 's/^Partition size: \([0-9]*\) sectors.*/\1/p' <<<"$info")
  mount -o "loop,offset=$((first * 512)),sizelimit=$((size * 512))" "$1" "$3"
}

# simnode runs node $1 as a simulated node: a network namespace on the bridge with the node's
# MAC, its lease from the install server, a sparse loop-file disk, and the real agent
# (bin/flarecast-agent) installing on it; then the stages the installed system would run at
# its two boots, with the agent the install left on the disk.
simnode() {
  local n=$1 ns="fcdemo-$1" img="$PWD/$state/nodes/$1.img" root="$PWD/$state/nodes/$1.root" log="$PWD/$state/nodes/$1.log"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$lan_ns" link add "$n" type veth peer name eth0 netns "$ns" address "${mac[$n]}"
  ip -n "$lan_ns" link set "$n" master br0 up
  ip -n "$ns" link set eth0 up
  local addr
  addr=$(ip netns exec "$ns" udhcpc -f -q -n -i eth0 -s "$state/udhcpc-hook.sh" -t 5 -T 1 2>/dev/null | sed -n 's/^lease: ip=\([^ ]*\) .*/\1/p')
  [ -n "$addr" ] || { echo "$n: no lease from the install server" >&2; return 1; }
  ip route add "$addr/32" dev "$srv_if"
  token "$n" >"$state/nodes/$n.token"
  truncate -s 480G "$img"
  mkdir -p "$root"
  echo "\$ ip netns exec $ns flarecast-agent --server http://$srv_addr:8080 --node default/edge/$n --disk-map disk0=$state/nodes/$n.img --no-boot-loader   # $n at $addr (log: $state/nodes/$n.log)"
  {
  set +e # the subshell's own -e holds only outside a condition
  (
    set -e
    ip netns exec "$ns" bin/flarecast-agent --server "http://$srv_addr:8080" --node "default/edge/$n" \
      --token-file "$state/nodes/$n.token" --cmdline /dev/null --disk-map "disk0=$img" --root "$root" \
      --no-boot-loader --on-failure exit
    # The installed system's boots: its root and /var (the stages' state) mounted again.
    partmount "$img" root "$root"
    partmount "$img" var "$root/var"
    for stage in BeforeServices BeforeServices AfterServices; do
      ip netns exec "$ns" "$root/usr/lib/flarecast/flarecast-agent" stage "$stage" --root "$root" --no-reboot
    done
    umount "$root/var" "$root"
  ) >"$log" 2>&1
  echo $? >"$state/nodes/$n.rc"
  } &
  echo $! >"$state/nodes/$n.pid"
}

# nodephases prints each node of the edge groups with its phase, step and message.
nodephases() {
  k get nodesgroups.flarecast.io -o jsonpath='{range .items[*]}{range .status.nodes[*]}{.name}{"\t"}{.phase}{"\t"}{.step}{"\t"}{.percent}{"\t"}{.message}{"\n"}{end}{end}' |
    awk -F'\t' -v want=" $qemu_node $sim_nodes " 'index(want, " " $1 " ") {printf "%-4s %-12s %-28s %4s  %s\n", $1, $2, $3, ($4 == "" ? "" : $4 "%"), substr($5, 1, 90)}'
}

# nodes boots the demo's nodes and follows them in NodesGroup status until every one is
# Running, one has Failed (named with its step and message), or DEMO_NODES_TIMEOUT seconds.
nodes() {
  echo
  if [ "$(id -u)" != 0 ] || ! nodes_can_boot; then
    echo "# booting nodes needs root, qemu with OVMF, the disk tools and a Debian kernel (hack/debian-deps.sh), and DEMO_NODES not 0: skipped"
    return 0
  fi
  # m1's namespace above showed its lease; qemu takes m1's MAC now.
  ip netns del "$node_ns"
  mkdir -p "$state/nodes"
  echo "# booting $qemu_node (qemu) and $sim_nodes (simulated) of the edge site from the install server"
  qemunode "$qemu_node"
  local n
  for n in $sim_nodes; do simnode "$n"; done
  echo
  echo "\$ kubectl get nodesgroups; kubectl get nodesgroups -o jsonpath=… (each node's phase, step, percent, message)"
  local last="" now table failed="" deadline=$((SECONDS + ${DEMO_NODES_TIMEOUT:-1800}))
  while :; do
    table=$(nodephases)
    if [ "$table" != "$last" ]; then
      now=$(date -u +%H:%M:%S)
      echo "--- $now"
      k get nodesgroups.flarecast.io
      echo "$table"
      last=$table
    fi
    failed=$(printf '%s\n' "$table" | awk '$2 == "Failed" {print $1}')
    [ -z "$failed" ] || break
    [ "$(printf '%s\n' "$table" | awk '$2 == "Running"' | wc -l)" -lt 4 ] || break
    if [ $SECONDS -ge $deadline ]; then
      echo "the nodes are not all Running after ${DEMO_NODES_TIMEOUT:-1800} s:" >&2
      printf '%s\n' "$table" | awk '$2 != "Running"' >&2
      return 1
    fi
    # A node whose agent (simulated) or qemu ended with an error, maybe before it could
    # report, has failed too.
    for n in $sim_nodes; do
      if [ -s "$state/nodes/$n.rc" ] && [ "$(cat "$state/nodes/$n.rc")" != 0 ]; then failed=$n; fi
    done
    kill -0 "$(cat "$state/nodes/$qemu_node.pid")" 2>/dev/null || failed="$failed $qemu_node"
    [ -z "$failed" ] || break
    sleep 2
  done
  if [ -n "$failed" ]; then
    for n in $failed; do
      echo "node $n failed: $(printf '%s\n' "$table" | awk -v n="$n" '$1 == n' | cut -c6-)" >&2
      [ "$n" != "$qemu_node" ] || kill -0 "$(cat "$state/nodes/$n.pid")" 2>/dev/null || echo "node $n: qemu ended: $(tail -n 3 "$state/nodes/$n.qemu.log")" >&2
      if [ "$n" = "$qemu_node" ]; then tail -n 20 "$state/nodes/$n.console" >&2; else tail -n 20 "$state/nodes/$n.log" >&2; fi
    done
    return 1
  fi
  echo "every node is Running: $qemu_node (qemu, UEFI) and $sim_nodes (simulated)"
}

up() {
  mkdir -p "$state"
  if [ -f "$state/controlplane.pid" ] && kill -0 "$(cat "$state/controlplane.pid")" 2>/dev/null; then
    echo "a demo is already running: make demo-down first" >&2
    exit 1
  fi
  # The sample site's addresses and host routes (198.18.0.1, 198.18.7.1) are the tests' too:
  # whoever puts them on this host holds this lock (netlab.SampleSiteLock), and the demo's
  # processes inherit it, so it is held while the demo is up. A test that runs the demo holds
  # it itself and says so.
  if [ -z "${FLARECAST_SAMPLE_SITE_LOCKED:-}" ]; then
    mkdir -p /run/lock
    exec 9>/run/lock/flarecast-sample-site.lock
    flock -n 9 || { echo "the sample site's addresses are in use by a test or another demo (/run/lock/flarecast-sample-site.lock): wait for it to end, or make demo-down" >&2; exit 1; }
  fi
  hack/envtest-assets.sh bin/k8s >/dev/null
  go build -o bin/flarecast .
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o bin/flarecast-agent ./cmd/flarecast-agent
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
  nodes

  if { [ -t 0 ] || [ -n "${DEMO_STAY:-}" ]; } && [ -z "${DEMO_EXIT:-}" ]; then
    echo
    echo "The demo stays up: KUBECONFIG=$PWD/$state/kubeconfig kubectl get flarecast"
    echo "Ctrl-C (or make demo-down in another terminal) stops it."
    trap 'exit 0' INT TERM
    while kill -0 "$(cat "$state/manager.pid" 2>/dev/null)" 2>/dev/null; do sleep 1; done
    # The manager went: make demo-down is taking the demo down (or it ended by itself, and
    # make demo-down is what cleans up).
    trap - EXIT
    echo "the demo's manager ended"
  fi
}

case "${1:-up}" in
  up) up ;;
  down) trap - EXIT; down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
