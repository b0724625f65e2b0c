#!/usr/bin/env bash
# Kill -9 trials of the build path: a real kube-apiserver and etcd (test/controlplane), the
# flarecast manager with the local executor, and a root file system large enough that its
# build takes a few seconds. Each trial kills something at a random moment of a build and
# checks that the archive converges anyway, to the same binary section, and that nothing is
# left behind:
#   manager  kill -9 the manager while its build runs (the build dies with it), start it again;
#            the interrupted build runs again and the archive becomes Ready
#   build    kill -9 the build process; the archive is Failed ("signal: killed"), then the
#            rebuild annotation runs it again and it becomes Ready
# After each trial: the executor's state directory holds no request, progress or work file,
# and the manager's temporary directory (its TMPDIR) is empty. At the end every archive is
# verified (flarecast archive verify).
#   hack/kill-trials.sh [TRIALS]   (default 10 of each)
#   KILL_TRIALS_SOURCE=build hack/kill-trials.sh [TRIALS]   the same with a build source
#     (spec.source.build on the Debian base, hack/debian-base.sh, installing a NodesGroup's
#     package from an apt repository that busybox httpd serves on 127.0.0.1; its postinst takes
#     a few seconds; a manager with --allow-build-sources): odd trials kill while apt or dpkg
#     runs in the build root, even ones at a random moment (the base extracted, apt, the pack).
#     After each kill no process may run chrooted in the build root (apt, dpkg, the package's
#     script: they die with the build's PID namespace), and no build root may stay
#   KILL_TRIALS_SOURCE=image hack/kill-trials.sh [TRIALS]   the same with an image source: the
#     tarball as the one layer of an image in a registry on 127.0.0.1 (crane's), so the kill
#     lands while the layer is pulled, flattened or packed
source=${KILL_TRIALS_SOURCE:-rootfs}
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
state=$(mktemp -d "${TMPDIR:-/tmp}/flarecast-kill-trials.XXXXXX")
export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$PWD/bin/k8s}
kubectl="$KUBEBUILDER_ASSETS/kubectl"
k() { "$kubectl" --kubeconfig "$state/kubeconfig" "$@"; }
log() { printf '%s %s\n' "$(date -u +%T)" "$*"; }

manager_pid=
controlplane_pid=
registry_pid=
httpd_pid=
cleanup() {
  [ -n "$manager_pid" ] && kill -KILL "$manager_pid" 2>/dev/null || true
  [ -n "$registry_pid" ] && kill -KILL "$registry_pid" 2>/dev/null || true
  [ -n "$httpd_pid" ] && kill -KILL "$httpd_pid" 2>/dev/null || true
  if [ -n "$controlplane_pid" ]; then
    kill -TERM "$controlplane_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$controlplane_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$state"
}
trap cleanup EXIT

go build -o bin/flarecast .
go build -o bin/controlplane ./test/controlplane

# A root file system of 256 MiB of incompressible data in 64 files: hashing and packing it
# takes long enough to be interrupted.
mkdir -p "$state/src/tree/data" "$state/tmp"
for i in $(seq 64); do head -c 4M /dev/urandom >"$state/src/tree/data/f$i"; done
tar -C "$state/src/tree" -cf "$state/src/rootfs.tar" .
rm -rf "$state/src/tree"
digest="sha256:$(sha256sum "$state/src/rootfs.tar" | cut -d' ' -f1)"
if [ "$source" = image ]; then
  hack/test-peers.sh bin >/dev/null
  registry="127.0.0.1:$((20000 + RANDOM % 20000))"
  bin/crane registry serve --address "$registry" >"$state/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null && break; sleep 0.1; done
  DOCKER_CONFIG="$state/docker" bin/crane append --oci-empty-base -f "$state/src/rootfs.tar" -t "$registry/node:base" >/dev/null
  DOCKER_CONFIG="$state/docker" bin/crane mutate --set-platform linux/amd64 -t "$registry/node:v1" "$registry/node:base" >/dev/null
fi

if [ "$source" = build ]; then
  # The base with apt: the Debian base (cached in bin/); linked, never written.
  base_tar=$(hack/debian-base.sh bin)
  ln -f "$(readlink -f "$base_tar")" "$state/src/debian-base.tar" 2>/dev/null || cp "$(readlink -f "$base_tar")" "$state/src/debian-base.tar"
  base_digest="sha256:$(sha256sum "$state/src/debian-base.tar" | cut -d' ' -f1)"
  # One package whose postinst takes about 3 s, in a flat apt repository on 127.0.0.1.
  pkg="$state/pkg/flarecast-slow"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/flarecast-slow" "$state/apt"
  printf 'Package: flarecast-slow\nVersion: 1\nArchitecture: all\nMaintainer: flarecast <kill-trials@flarecast.invalid>\nDescription: kill trials\n' >"$pkg/DEBIAN/control"
  printf '#!/bin/sh\nfor i in 1 2 3 4 5 6; do sleep 0.5; echo "$i" >"/usr/share/flarecast-slow/step-$i"; done\n' >"$pkg/DEBIAN/postinst"
  chmod 0755 "$pkg/DEBIAN/postinst"
  echo "slow" >"$pkg/usr/share/flarecast-slow/README"
  SOURCE_DATE_EPOCH=1700000000 dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$state/apt/flarecast-slow_1_all.deb" >/dev/null
  deb="$state/apt/flarecast-slow_1_all.deb"
  printf 'Package: flarecast-slow\nVersion: 1\nArchitecture: all\nMaintainer: flarecast <kill-trials@flarecast.invalid>\nInstalled-Size: 1\nFilename: ./flarecast-slow_1_all.deb\nSize: %s\nSHA256: %s\nDescription: kill trials\n\n' \
    "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)" >"$state/apt/Packages"
  printf 'Origin: flarecast-kill-trials\nSuite: trials\nCodename: trials\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nSHA256:\n %s %s Packages\n' \
    "$(sha256sum "$state/apt/Packages" | cut -d' ' -f1)" "$(stat -c %s "$state/apt/Packages")" >"$state/apt/Release"
  apt_port=$((20000 + RANDOM % 20000))
  busybox httpd -f -p "127.0.0.1:$apt_port" -h "$state/apt" &
  httpd_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$apt_port/Release" >/dev/null && break; sleep 0.1; done
fi

setsid bin/controlplane --write-kubeconfig "$state/kubeconfig" >"$state/controlplane.log" 2>&1 &
controlplane_pid=$!
for _ in $(seq 300); do [ -s "$state/kubeconfig" ] && break; sleep 0.1; done
[ -s "$state/kubeconfig" ] || { cat "$state/controlplane.log" >&2; exit 1; }

start_manager() {
  TMPDIR="$state/tmp" bin/flarecast manager --kubeconfig "$state/kubeconfig" --metrics-bind-address 0 \
    --health-probe-bind-address 127.0.0.1:0 --repo "$state/repo" --executor local \
    --executor-state-dir "$state/builds" --allow-file-source "$state/src" \
    $([ "$source" = build ] && echo --allow-build-sources) >>"$state/manager.log" 2>&1 &
  manager_pid=$!
}

archive() { # name
  local src="{rootfs: {url: \"file://$state/src/rootfs.tar\", digest: \"$digest\"}}"
  [ "$source" = build ] && src="{build: {base: {rootfs: {url: \"file://$state/src/debian-base.tar\", digest: \"$base_digest\"}},
    nodesGroupRef: {name: slow}, repositories: [\"deb [trusted=yes] http://127.0.0.1:$apt_port/ ./\"]}}"
  [ "$source" = image ] && src="{image: {ref: \"$registry/node:v1\"}}"
  k apply -f - >/dev/null <<YAML
apiVersion: flarecast.io/v1alpha1
kind: FlashArchive
metadata: {name: $1, namespace: default}
spec:
  type: Generic
  arch: amd64
  source: $src
YAML
}

# build_pid NAME waits for the build process of archive NAME and prints its pid.
build_pid() {
  for _ in $(seq 600); do
    if p=$(pgrep -f -- "archive build --request $state/builds/default/$1-build-" | head -1) && [ -n "$p" ]; then
      echo "$p"
      return
    fi
    sleep 0.05
  done
  echo "no build process for $1" >&2
  return 1
}

wait_phase() { # name phase
  k wait --for=jsonpath='{.status.phase}'="$2" "flasharchives.flarecast.io/$1" --timeout=300s >/dev/null
}

section() { k get flasharchives.flarecast.io "$1" -o jsonpath='{.status.sections[?(@.name=="archive")].digest}'; }

leftovers() {
  local left
  left=$(find "$state/builds" \( -name request.json -o -name progress.json -o -name 'progress.json.tmp' -o -name work \) 2>/dev/null; find "$state/tmp" -mindepth 1 2>/dev/null)
  if [ -n "$left" ]; then
    echo "LEFT BEHIND:" >&2
    echo "$left" >&2
    return 1
  fi
}

random_delay() { sleep "0.$((RANDOM % 10))$((RANDOM % 10))"; }

# chrooted lists the processes whose root directory is under the state directory: a build
# root's apt, dpkg and maintainer scripts.
chrooted() {
  local p
  for p in $(find /proc/[0-9]*/root -maxdepth 0 -lname "$state/*" 2>/dev/null); do
    echo "${p%/root} $({ tr '\0' ' ' <"${p%/root}/cmdline"; } 2>/dev/null)"
  done
}

# kill_point TRIAL waits for where trial TRIAL's kill lands: with a build source, each odd
# trial waits for apt or dpkg running in the build root, then a random delay.
kill_point() { # TRIAL, for the build $pid of archive $name
  if [ "$source" = build ] && [ $(($1 % 2)) = 1 ]; then
    # As long as the base takes to extract on a loaded machine, while the build runs.
    # The install step, by the package's name (apt-get update runs dpkg too, and a gap
    # separates it from the install): apt-get install, dpkg unpacking it, its postinst, which
    # runs for about 3 s.
    local seen=
    for _ in $(seq 6000); do
      # Not `chrooted | grep -q`: grep's early exit is a SIGPIPE, which pipefail makes a miss.
      case "$(chrooted)" in *flarecast-slow*) seen=1; break ;; esac
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "trial $1: build $pid of $name ended before apt installed" >&2
        break
      fi
      sleep 0.1
    done
    [ -n "$seen" ] || { echo "trial $1: apt never installed in the build root" >&2; return 1; }
    sleep "0.$((RANDOM % 10))"
  else
    random_delay
  fi
}

# no_chrooted fails when a process still runs in a build root a second after a kill.
no_chrooted() {
  for _ in $(seq 20); do [ -z "$(chrooted)" ] && return; sleep 0.05; done
  echo "OUTLIVED THE BUILD:" >&2
  chrooted >&2
  return 1
}

if [ "$source" = build ]; then
  k apply -f - >/dev/null <<YAML
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: slow, namespace: default}
spec:
  clusterRef: {name: nowhere}
  role: NonMasterEligible
  nodeType: Diskfull
  os: {name: debian, version: "12"}
  arch: amd64
  software:
    packages: [{name: flarecast-slow, version: "1"}]
YAML
fi
start_manager
sections=()
failures=0
during_apt=0
outlived=0
for i in $(seq "$trials"); do
  name="manager-kill-$i"
  archive "$name"
  pid=$(build_pid "$name")
  kill_point "$i" || failures=$((failures + 1))
  apt=$(chrooted | grep -cE 'apt-get|dpkg|flarecast-slow' || true)
  kill -KILL "$manager_pid"
  wait "$manager_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then echo "trial $name: build $pid outlived its manager" >&2; failures=$((failures + 1)); fi
  no_chrooted || { failures=$((failures + 1)); outlived=$((outlived + 1)); }
  [ "$apt" = 0 ] || during_apt=$((during_apt + 1))
  start_manager
  wait_phase "$name" Ready
  sections+=("$(section "$name")")
  leftovers || failures=$((failures + 1))
  log "manager trial $i: Ready, archive section ${sections[-1]}$([ "$apt" = 0 ] || echo ", killed while apt/dpkg ran ($apt processes)")"
done

for i in $(seq "$trials"); do
  name="build-kill-$i"
  archive "$name"
  pid=$(build_pid "$name")
  kill_point "$i" || failures=$((failures + 1))
  apt=$(chrooted | grep -cE 'apt-get|dpkg|flarecast-slow' || true)
  kill -KILL "$pid"
  no_chrooted || { failures=$((failures + 1)); outlived=$((outlived + 1)); }
  [ "$apt" = 0 ] || during_apt=$((during_apt + 1))
  wait_phase "$name" Failed
  msg=$(k get flasharchives.flarecast.io "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')
  case "$msg" in *killed*) ;; *) echo "trial $name: Failed with $msg" >&2; failures=$((failures + 1)) ;; esac
  leftovers || failures=$((failures + 1))
  k annotate flasharchives.flarecast.io "$name" flarecast.io/rebuild=1 --overwrite >/dev/null
  wait_phase "$name" Ready
  sections+=("$(section "$name")")
  leftovers || failures=$((failures + 1))
  log "build trial $i: Failed ($msg), then Ready, archive section ${sections[-1]}$([ "$apt" = 0 ] || echo ", killed while apt/dpkg ran ($apt processes)")"
done

distinct=$(printf '%s\n' "${sections[@]}" | sort -u | wc -l)
[ "$distinct" = 1 ] || { echo "the trials built $distinct different binary sections" >&2; failures=$((failures + 1)); }
verify=$(bin/flarecast archive verify --repo "$state/repo" $(k get flasharchives.flarecast.io -o jsonpath='{range .items[*]}{.metadata.namespace}.{.metadata.name} {end}') 2>&1) ||
  { echo "$verify" >&2; failures=$((failures + 1)); }
log "$((2 * trials)) trials of $source sources, $distinct distinct binary section(s), archive verify: $(echo "$verify" | grep -c ': ok (') of $((2 * trials)) ok"
[ "$source" = build ] && log "killed while apt or dpkg ran in the build root: $during_apt of $((2 * trials)); kills that a process in the build root outlived: $outlived"
# Temporary files of the repository's own writes (an ingest the kill cut short) are the
# repository's to report and collect (archive gc), not the executor's; counted here.
log "repository temporary files left by killed writes: $(find "$state/repo" -name '.tmp-*' -o -name 'ingest-*' | wc -l)"
log "left in the state directory (the failed builds' records): $(find "$state/builds" -type f -printf '%f\n' | sort | uniq -c | tr -s ' \n' ' ')"
log "left in TMPDIR: $(find "$state/tmp" -mindepth 1 | wc -l) entries"
[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
log "all trials passed"
