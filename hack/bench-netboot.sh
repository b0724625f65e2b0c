#!/usr/bin/env bash
# Benchmark P7: a qemu TCG guest (SeaBIOS, the NIC's iPXE ROM) from power-on to its /init
# running, booted by dnsmasq + a static HTTP server and by flarecast's DHCP and HTTP boot
# services, with the same kernel, initramfs (flarecast initramfs build) and iPXE script.
# The two sides alternate in one run, each on a fresh namespace, bridge and tap; every other
# round the other side goes first. Prints each boot, each side's median (with where the time
# goes, from the servers' view) and the ratio flarecast/dnsmasq (below 1.0 is faster).
# One qemu at a time. Needs root and hack/debian-deps.sh.
# FLARECAST_P7_RA=1 adds a third side: flarecast with IPv6 router advertisements on the link,
# which end iPXE's wait for IPv6 autoconf (an experiment: flarecast itself sends none yet).
# FLARECAST_DNSMASQ_ARGS adds options to dnsmasq.
# Usage: hack/bench-netboot.sh [ROUNDS]   (default 3 boots per side)
set -euo pipefail
rounds=${1:-3}
cd "$(dirname "$0")/.."
hack/debian-deps.sh
FLARECAST_E2E=1 FLARECAST_BENCH_P7=1 FLARECAST_P7_ROUNDS="$rounds" \
  go test -count=1 -timeout 60m -run '^TestBenchP7$' -v ./test/e2e/ | grep -E 'P7|DHCP ACK|^(--- |ok|FAIL)'
