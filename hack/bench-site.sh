#!/usr/bin/env bash
# Benchmark P5 (docs/benchmarks.md): a generated site of 10,000 nodes in 100 NodesGroups over
# 80 Machines, applied to a real kube-apiserver (bin/k8s, hack/envtest-assets.sh) with the
# flarecast manager running, timed from the apply's return to convergence; then the quiet
# reconciles, a manager restart, one node readdressed, the largest object and the manager's
# peak memory (test/sitebench says how each is measured).
#
#   hack/bench-site.sh                      # the full P5 site
#   hack/bench-site.sh -nodes 1000 -groups 10 -machines 8 -quiet 20s
#
# Arguments go to test/sitebench. The machine's load average is printed before and after:
# on a shared machine the timings are only as good as the load lets them be.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t bench-site.XXXXXX)
# BENCH_SITE_KEEP=1 keeps the work directory (manager logs, the site's manifest, the builds).
if [ -z "${BENCH_SITE_KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
go build -o "$work/flarecast" .
go build -o "$work/sitebench" ./test/sitebench
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$PWD/bin/k8s}" "$work/sitebench" -manager "$work/flarecast" \
	-kubectl "${KUBECTL:-$PWD/bin/k8s/kubectl}" -work "$work" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
