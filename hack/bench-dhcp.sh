#!/usr/bin/env bash
# P3: perfdhcp (Debian's kea-admin) against flarecast's DHCP service and against Kea 2.2
# (memfile leases, a reservation per MAC), in the same two network namespaces, at the same
# rates: the highest rate each holds with 0 % drops in both exchanges (DISCOVER-OFFER and
# REQUEST-ACK). perfdhcp is given the server's address, so it acts as a relay (giaddr) and its
# clients' MACs are its base MAC plus a number below -R; test/dhcpbench puts exactly those
# MACs in both servers' tables. The sides take turns at each rate (the order flips every
# round) because other work shares the CPUs; every round is printed, then the spread.
#
#   sudo hack/bench-dhcp.sh                 # defaults below
#   ROUNDS=5 PERIOD=5 RATES="1000 2000 3000" SIDES="flarecast kea kea-mt" sudo -E hack/bench-dhcp.sh
set -euo pipefail
CLIENTS=${CLIENTS:-10000}
PERIOD=${PERIOD:-5}          # seconds of sending per run
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-"500 750 1000 1250 1500 1750 2000 2500 3000 3500 4000 5000 6000 8000 10000"}
SIDES=${SIDES:-"flarecast kea"}   # kea-mt: Kea with multi-threading on, 2 threads
BASE_MAC=00:0c:01:00:00:00

for tool in ip perfdhcp kea-dhcp4 go; do
  command -v "$tool" >/dev/null || { echo "bench-dhcp: $tool is missing (hack/debian-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench-dhcp: needs root (network namespaces)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bench-dhcp.XXXXXX)
srv=fc-p3-$$-srv
cli=fc-p3-$$-cli
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$srv"
ip netns add "$cli"
ip -n "$srv" link add s0 type veth peer name c0 netns "$cli"
ip -n "$srv" addr add 198.18.4.1/24 dev s0
ip -n "$cli" addr add 198.18.4.2/24 dev c0
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set s0 up
ip -n "$cli" link set c0 up

(cd "$root" && go build -o "$work/dhcpbench" ./test/dhcpbench)
gen=(-interface s0 -server 198.18.4.1 -relay 198.18.4.2 -base-mac "$BASE_MAC" -clients "$CLIENTS")
"$work/dhcpbench" "${gen[@]}" -kea "$work/kea.json" -kea-lease-file "$work/kea.leases"
"$work/dhcpbench" "${gen[@]}" -kea "$work/kea-mt.json" -kea-lease-file "$work/kea.leases" -kea-threads 2

start_server() {
  rm -f "$work"/leases.json "$work"/kea.leases*
  case "$1" in
  flarecast) ip netns exec "$srv" "$work/dhcpbench" "${gen[@]}" -lease-file "$work/leases.json" >"$work/server.log" 2>&1 & ;;
  kea) KEA_PIDFILE_DIR=$work KEA_LOCKFILE_DIR=$work ip netns exec "$srv" kea-dhcp4 -c "$work/kea.json" >"$work/server.log" 2>&1 & ;;
  kea-mt) KEA_PIDFILE_DIR=$work KEA_LOCKFILE_DIR=$work ip netns exec "$srv" kea-dhcp4 -c "$work/kea-mt.json" >"$work/server.log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do
    # Kea binds its socket before it is done starting: give every side the same second.
    ip netns exec "$srv" ss -Hulnp 'sport = :67' | grep -q . && sleep 1 && return 0
    sleep 0.1
  done
  echo "bench-dhcp: $1 did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

# rcvbuf NS: UDP datagrams the namespace's kernel dropped because a socket's queue was full.
rcvbuf() { ip netns exec "$1" awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; }

# cpu PID: CPU time the process has used, in clock ticks (user + system, all threads).
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run SIDE RATE prints "drops-DO drops-RA sent-DO queue-full-server queue-full-perfdhcp
# server-CPU-µs-per-exchange" for
# one run on a fresh server. A run in which perfdhcp itself fell short (it could not send at the
# rate, or its own socket queue overflowed: it is one process receiving for 10000 clients, on
# CPUs it shares) measured perfdhcp, not the server, and is run again, twice at most; the last
# try counts whatever it shows.
run() {
  local try out s0 c0 qs qc t0 t1
  for try in 1 2 3; do
    start_server "$1"
    s0=$(rcvbuf "$srv") c0=$(rcvbuf "$cli") t0=$(cpu "$server_pid")
    ip netns exec "$cli" perfdhcp -4 -l c0 -r "$2" -p "$PERIOD" -W 1000000 -R "$CLIENTS" -b mac="$BASE_MAC" 198.18.4.1 >"$work/perf.out" 2>&1 || true
    t1=$(cpu "$server_pid")
    stop_server
    qs=$(($(rcvbuf "$srv") - s0)) qc=$(($(rcvbuf "$cli") - c0))
    out=$(awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '/^sent packets:/ {s[++n]=$3} /^received packets:/ {r[++k]=$3} /^drops:/ {d[++m]=$2}
      END {print (d[1]==""?-1:d[1]), (d[2]==""?-1:d[2]), s[1]+0, (r[2] > 0 ? int(ticks * 1e6 / hz / r[2]) : -1)}' "$work/perf.out")
    read -r _ _ sent _ <<<"$out"
    [ "$sent" -ge $(($2 * PERIOD * 95 / 100)) ] && [ "$qc" = 0 ] && break
  done
  read -r a b sent us <<<"$out"
  echo "$a $b $sent $qs $qc $us"
}

declare -A best cpus
echo "round side rate drops(DO) drops(RA) sent(DO) queue-full(server) queue-full(perfdhcp) server-CPU-µs/exchange"
for round in $(seq "$ROUNDS"); do
  order=($SIDES)
  if [ $((round % 2)) = 0 ]; then order=($(printf '%s\n' "${order[@]}" | tac)); fi
  declare -A alive=()
  for s in "${order[@]}"; do alive[$s]=1; best[$round,$s]=0; done
  for rate in $RATES; do
    for s in "${order[@]}"; do
      [ "${alive[$s]}" = 1 ] || continue
      read -r dDO dRA sent qs qc us < <(run "$s" "$rate")
      echo "$round $s $rate $dDO $dRA $sent $qs $qc $us"
      cpus[$s]+=" $us"
      # Held: nothing dropped, and perfdhcp really sent at that rate (95 %).
      if [ "$dDO" = 0 ] && [ "$dRA" = 0 ] && [ "$sent" -ge $((rate * PERIOD * 95 / 100)) ]; then
        best[$round,$s]=$rate
      else
        alive[$s]=0
      fi
    done
    any=0; for s in "${order[@]}"; do [ "${alive[$s]}" = 1 ] && any=1; done
    [ $any = 1 ] || break
  done
done

echo
echo "highest rate with 0 % drops (exchanges/s), per round:"
for s in $SIDES; do
  line="$s:"; for round in $(seq "$ROUNDS"); do line+=" ${best[$round,$s]}"; done; echo "  $line"
done
echo "server CPU per completed 4-way exchange (µs), every run:"
for s in $SIDES; do echo "  $s:${cpus[$s]}"; done
first=${SIDES%% *}
for s in $SIDES; do
  [ "$s" = "$first" ] && continue
  line="ratio $first/$s per round:"
  for round in $(seq "$ROUNDS"); do
    line+=" $(awk -v a="${best[$round,$first]}" -v b="${best[$round,$s]}" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')"
  done
  echo "$line"
done
