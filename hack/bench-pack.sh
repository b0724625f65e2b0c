#!/usr/bin/env bash
# P1: packs and extracts a real tree with package tarball and, in the same run, with
# `tar -cf - . | zstd -T0 -3` and `zstd -d | tar -x`, alternating sides after one warm-up run
# each, and prints a markdown table of the medians.
# Usage: hack/bench-pack.sh [RUNS]   (default 5; env FLARECAST_BENCH_TREE picks the tree,
#        default $(go env GOROOT))
# Needs: zstd, GNU tar; libzstd-dev for the -tags libzstd row (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tree=${FLARECAST_BENCH_TREE:-$(go env GOROOT)}
export FLARECAST_BENCH_TREE=$tree

builds=("default (pure Go)|")
if [ -e /usr/include/zstd.h ]; then
  builds+=("-tags libzstd|-tags=libzstd")
fi

echo "Tree: \`$tree\` ($(du -sh "$tree" | cut -f1), $(find "$tree" | wc -l) entries); $runs runs per side; $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| benchmark | build | ours MB/s | theirs MB/s | speed (theirs time / ours) | CPU (theirs / ours) | ours CPU s | theirs CPU s | size (ours / theirs) |"
echo "|---|---|---|---|---|---|---|---|---|"
for b in "${builds[@]}"; do
  name=${b%%|*}
  tags=${b#*|}
  go test ${tags:+"$tags"} ./internal/tarball -run '^$' -bench 'P1' -benchtime "${runs}x" -count 1 |
    awk -v build="$name" '
      /^BenchmarkP1/ {
        delete m
        for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
        bench = $1; sub(/-[0-9]+$/, "", bench); sub(/^BenchmarkP1/, "", bench)
        size = ("size-x" in m) ? sprintf("%.4f (%d / %d bytes)", m["size-x"], m["ours-bytes"], m["theirs-bytes"]) : "n/a"
        printf "| %s | %s | %.0f | %.0f | %.2f× | %.2f× | %.2f | %.2f | %s |\n", bench, build, m["ours-MB/s"], m["theirs-MB/s"], m["speed-x"], m["cpu-x"], m["ours-cpu-s"], m["theirs-cpu-s"], size
      }'
done
echo
echo "Theirs: pack \`tar -C TREE -cf - . | zstd -T0 -3\`; extract \`zstd -dc | tar -xpf - --xattrs --xattrs-include='*' --numeric-owner\` of our archive. MB/s are of uncompressed tar."
