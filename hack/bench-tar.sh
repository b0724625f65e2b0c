#!/usr/bin/env bash
# P1b: packs one tar (default: the Debian base, hack/debian-base.sh) with `flarecast archive
# create --from-tar FILE` (streamed), the same from a pipe (`--from-tar -`, spooled: what every
# tar was before), and `zstd -T0 -3` of the same tar, in one run, alternating sides after one
# warm-up run each (the tar is in the page cache for all of them); prints a markdown table of
# the medians and checks that the file and the pipe give one digest.
# Usage: hack/bench-tar.sh [RUNS] [TAR]   (default 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tar=${2:-$(hack/debian-base.sh bin)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$work/flarecast" .
fc=$work/flarecast

# run NAME CMD…: wall, user and system seconds of one run, appended to $work/NAME.
run() {
  local name=$1; shift
  rm -rf "$work/repo" "$work/out.zst"
  /usr/bin/time -f "%e %U %S" -o "$work/t" "$@" >/dev/null
  cat "$work/t" >>"$work/$name"
}
sides=(
  "streamed|$fc archive --repo $work/repo create base --from-tar $tar"
  "pipe|sh -c 'cat $tar | $fc archive --repo $work/repo create base --from-tar -'"
  "zstd|zstd -T0 -3 -q -f $tar -o $work/out.zst"
)
cat "$tar" >/dev/null
for i in $(seq 0 "$runs"); do
  for s in "${sides[@]}"; do
    name=${s%%|*}
    if [ "$i" = 0 ]; then eval "${s#*|}" >/dev/null 2>&1; rm -rf "$work/repo"; continue; fi
    eval run "$name" "${s#*|}"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1" | median; }
zs=$(col zstd 1)
size=$(stat -c %s "$tar")
echo "Tar: \`$tar\` ($((size / 1000000)) MB, $(tar -tf "$tar" | wc -l) entries); $runs runs per side; $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| side | wall s (median) | user s | system s | speed vs zstd -T0 -3 (zstd time / this) |"
echo "|---|---|---|---|---|"
for name in streamed pipe zstd; do
  w=$(col $name 1)
  printf '| %s | %.2f | %.2f | %.2f | %.2f× |\n' "$name" "$w" "$(col $name 2)" "$(col $name 3)" "$(echo "$zs / $w" | bc -l)"
done
a=$("$fc" archive --repo "$work/r1" create base --from-tar "$tar" | tail -1)
b=$(cat "$tar" | "$fc" archive --repo "$work/r2" create base --from-tar - | tail -1)
echo
if [ "$a" = "$b" ]; then echo "Same digest from the file and from the pipe: $a"; else echo "DIGESTS DIFFER: file $a, pipe $b"; exit 1; fi
