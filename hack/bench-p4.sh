#!/usr/bin/env bash
# P4: flarecast's TFTP server against tftpd-hpa, and its HTTP blob handler against nginx, with
# curl clients on loopback (the iPXE binaries and a 64 MiB file; 1 and 20 clients at once;
# the same TFTP block size on both sides). Each round runs both sides of every case back to
# back, and every other round flips which side goes first, so the load of whatever else runs
# on the machine falls on both. Prints, per case, flarecast's throughput over the other
# server's (above 1.0 is faster), as the median and the range over the rounds.
# Needs curl, tftpd-hpa, nginx and Debian's ipxe (hack/debian-deps.sh); run as root (nginx
# and tftpd-hpa read the test's files as root).
# Usage: hack/bench-p4.sh [ROUNDS]   (default 4)
set -euo pipefail
rounds=${1:-4}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/tftp.test" ./internal/tftp/
go test -c -o "$work/httpboot.test" ./internal/httpboot/
for i in $(seq 1 "$rounds"); do
  rev=""
  [ $((i % 2)) -eq 0 ] && rev=1
  echo "round $i/$rounds${rev:+ (other side first)}" >&2
  (
    cd internal/tftp
    P4_REVERSE=$rev "$work/tftp.test" -test.run '^$' -test.bench 'P4TFTP/files=ipxe' -test.benchtime 5x
    P4_REVERSE=$rev "$work/tftp.test" -test.run '^$' -test.bench 'P4TFTP/files=64MiB' -test.benchtime 1x
    cd ../httpboot
    P4_REVERSE=$rev "$work/httpboot.test" -test.run '^$' -test.bench 'P4HTTP/files=ipxe' -test.benchtime 5x
    P4_REVERSE=$rev "$work/httpboot.test" -test.run '^$' -test.bench 'P4HTTP/files=64MiB' -test.benchtime 2x
  ) | grep '^BenchmarkP4' | tee -a "$work/out" >&2
done
awk '
  {
    name = $1; sub(/-[0-9]+$/, "", name)
    server = name; sub(/.*server=/, "", server)
    key = name; sub(/\/server=.*/, "", key); sub(/^BenchmarkP4/, "", key)
    mbs = $(NF-1)
    if (server == "flarecast") { ours[key, ++no[key]] = mbs } else { theirs[key, ++nt[key]] = mbs; other[key] = server }
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "%-26s %-10s %12s %12s %8s %15s\n", "case", "against", "flarecast", "other", "ratio", "range"
    for (k = 1; k <= nk; k++) {
      key = order[k]; n = no[key] < nt[key] ? no[key] : nt[key]
      delete r; delete a; delete b
      for (i = 1; i <= n; i++) { r[i] = ours[key, i] / theirs[key, i]; a[i] = ours[key, i]; b[i] = theirs[key, i] }
      min = max = r[1]; for (i = 2; i <= n; i++) { if (r[i] < min) min = r[i]; if (r[i] > max) max = r[i] }
      printf "%-26s %-10s %9.1f MB/s %7.1f MB/s %7.2fx %6.2f-%.2fx\n", key, other[key], median(a, n), median(b, n), median(r, n), min, max
    }
  }' "$work/out"
