#!/usr/bin/env bash
# The install server's boot-file benchmarks, flarecast against the server a site would run
# instead, with curl clients on loopback:
#   P4  TFTP against tftpd-hpa (the iPXE binaries and a 64 MiB file, 1 and 20 clients, the same
#       block size), HTTP blobs against nginx (the same files, 1 and 20 clients)
#   P6  50 clients at once download a 1 GiB blob and check its sha256 (curl | sha256sum),
#       against nginx serving the same file
# Each round runs both sides of every case back to back, after a warm-up fetch from both, and
# every other round flips which side goes first, so the load of whatever else runs on the
# machine falls on both. Prints, per case, flarecast's throughput over the other server's
# (above 1.0 is faster): the median over the rounds and the range.
# Needs curl, tftpd-hpa, nginx and Debian's ipxe (hack/debian-deps.sh), and root (nginx and
# tftpd-hpa read the test's files as root).
# Usage: hack/bench-boot.sh P4|P6 [ROUNDS]   (default 4 rounds)
set -euo pipefail
which=${1:?usage: hack/bench-boot.sh P4|P6 [ROUNDS]}
rounds=${2:-4}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/tftp.test" ./internal/tftp/
go test -c -o "$work/httpboot.test" ./internal/httpboot/
round() {
  case $which in
  P4)
    (cd internal/tftp &&
      "$work/tftp.test" -test.run '^$' -test.bench 'P4TFTP/files=ipxe' -test.benchtime 5x &&
      "$work/tftp.test" -test.run '^$' -test.bench 'P4TFTP/files=64MiB' -test.benchtime 1x)
    (cd internal/httpboot &&
      "$work/httpboot.test" -test.run '^$' -test.bench 'P4HTTP/files=ipxe' -test.benchtime 5x &&
      "$work/httpboot.test" -test.run '^$' -test.bench 'P4HTTP/files=64MiB' -test.benchtime 2x)
    ;;
  P6)
    (cd internal/httpboot && "$work/httpboot.test" -test.run '^$' -test.bench '^BenchmarkP6$' -test.benchtime 1x -test.timeout 30m)
    ;;
  *) echo "unknown benchmark $which; use P4 or P6" >&2; exit 2 ;;
  esac
}
for i in $(seq 1 "$rounds"); do
  P4_REVERSE=""
  [ $((i % 2)) -eq 0 ] && P4_REVERSE=1
  export P4_REVERSE
  echo "round $i/$rounds${P4_REVERSE:+ (other side first)}" >&2
  round | grep '^BenchmarkP' | tee -a "$work/out" >&2
done
awk '
  {
    name = $1; sub(/-[0-9]+$/, "", name)
    server = name; sub(/.*server=/, "", server)
    key = name; sub(/\/server=.*/, "", key); sub(/^Benchmark/, "", key)
    mbs = $(NF-1)
    if (server == "flarecast") { ours[key, ++no[key]] = mbs } else { theirs[key, ++nt[key]] = mbs; other[key] = server }
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "%-28s %-10s %14s %14s %7s %12s\n", "case", "against", "flarecast", "other", "ratio", "range"
    for (k = 1; k <= nk; k++) {
      key = order[k]; n = no[key] < nt[key] ? no[key] : nt[key]
      delete r; delete a; delete b
      for (i = 1; i <= n; i++) { r[i] = ours[key, i] / theirs[key, i]; a[i] = ours[key, i]; b[i] = theirs[key, i] }
      min = max = r[1]; for (i = 2; i <= n; i++) { if (r[i] < min) min = r[i]; if (r[i] > max) max = r[i] }
      printf "%-28s %-10s %9.1f MB/s %9.1f MB/s %6.2fx %5.2f-%.2fx\n", key, other[key], median(a, n), median(b, n), median(r, n), min, max
    }
  }' "$work/out"
