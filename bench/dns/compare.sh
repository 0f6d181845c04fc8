#!/usr/bin/env bash
# compare.sh: dnsperf against privcast's DNS server and unbound 1.17 in the same run, same
# pinning (docs/benchmarks.md): dnsperf on CPU 0, each server alone on CPU 1, 100 queries in
# flight, loopback of a network namespace this script creates (pcdns-bench-<pid>) and always
# deletes. Reports q/s, average latency and server CPU µs/query (/proc/PID/stat utime+stime).
#
#   bench/dns/compare.sh <build-dir> [seconds-per-run=10] [runs=3]
# Variants: "4"     — 4 apps, queries app0..app3.flycast AAAA
#           "10000" — 10 000 apps, queries over all 10 000 names
# Output: a Markdown table on stdout (medians of the runs), raw lines on stderr.
set -euo pipefail
BUILD=${1:?build dir}
SECS=${2:-10}
RUNS=${3:-3}
SERVER_BIN=$BUILD/bench_dns/dns_bench_server
[ -x "$SERVER_BIN" ] || SERVER_BIN=$BUILD/bench/dns/dns_bench_server
[ -x "$SERVER_BIN" ] || { echo "no dns_bench_server under $BUILD" >&2; exit 1; }
command -v dnsperf >/dev/null && command -v unbound >/dev/null || { echo "needs dnsperf and unbound" >&2; exit 1; }

NS=pcdns-bench-$$
TMP=$(mktemp -d /tmp/pcdns-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip -6 route add unreachable fdaa::/16 2>/dev/null || true
HZ=$(getconf CLK_TCK)
PORT_PC=5301
PORT_UB=5302

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

write_queries() {  # napps file
  : > "$2"
  local n=$1
  for ((i = 0; i < n; i++)); do echo "app$i.flycast AAAA" >> "$2"; done
}

write_unbound() {  # napps conf
  {
    echo "server:"
    echo "  interface: 127.0.0.1@$PORT_UB"
    echo "  port: $PORT_UB"
    echo "  num-threads: 1"
    echo "  do-daemonize: no"
    echo "  username: \"\""
    echo "  chroot: \"\""
    echo "  directory: \"$TMP\""
    echo "  pidfile: \"\""
    echo "  use-syslog: no"
    echo "  logfile: \"\""
    echo "  verbosity: 0"
    echo "  do-ip6: no"
    echo "  access-control: 127.0.0.0/8 allow"
    echo "  module-config: \"iterator\""
    echo "  local-zone: \"flycast.\" static"
    for ((i = 0; i < $1; i++)); do
      printf '  local-data: "app%d.flycast. 60 IN AAAA fdaa:0:10:0:1::%x"\n' "$i" $((i + 1))
    done
    echo "remote-control:"
    echo "  control-enable: no"
  } > "$2"
}

wait_ready() {  # port
  for _ in $(seq 100); do
    if ip netns exec "$NS" dig +tries=1 +time=1 @127.0.0.1 -p "$1" app0.flycast AAAA 2>/dev/null | grep "status: NOERROR" >/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}

# run_one <pid> <port> <queryfile> → "qps latency_us cpu_us_per_query"
run_one() {
  local pid=$1 port=$2 qf=$3
  ip netns exec "$NS" taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l 1 -q 100 >/dev/null 2>&1 || true  # warm-up
  local t0 t1 out
  t0=$(cpu_ticks "$pid")
  out=$(ip netns exec "$NS" taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l "$SECS" -q 100 2>&1)
  t1=$(cpu_ticks "$pid")
  local done qps lat lost
  done=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  lat=$(awk '/Average Latency/ {print $4}' <<<"$out")
  awk -v d="$done" -v q="$qps" -v l="$lat" -v c=$((t1 - t0)) -v hz="$HZ" -v lost="$lost" \
    'BEGIN { printf "%.0f %.1f %.2f %s\n", q, l * 1e6, c / hz * 1e6 / d, lost }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RES
for napps in 4 10000; do
  qf=$TMP/q$napps.txt
  write_queries "$napps" "$qf"
  write_unbound "$napps" "$TMP/unbound$napps.conf"
  unbound-checkconf "$TMP/unbound$napps.conf" >/dev/null
  for server in privcast unbound; do
    if [ $server = privcast ]; then
      ip netns exec "$NS" setsid taskset -c 1 "$SERVER_BIN" 127.0.0.1 $PORT_PC "$napps" > "$TMP/pc.out" 2> "$TMP/pc.err" &
      pid=$!; port=$PORT_PC
    else
      ip netns exec "$NS" setsid taskset -c 1 unbound -d -c "$TMP/unbound$napps.conf" > "$TMP/ub.out" 2>&1 &
      pid=$!; port=$PORT_UB
    fi
    PIDS+=("$pid")
    wait_ready "$port"
    for ((r = 1; r <= RUNS; r++)); do
      line=$(run_one "$pid" "$port" "$qf")
      echo "raw napps=$napps server=$server run=$r qps,lat_us,cpu_us,lost: $line" >&2
      RES[$napps,$server,$r]=$line
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); ${SECS}s per run, $RUNS runs"
echo
echo "| apps | server | q/s (median of $RUNS) | avg latency µs | CPU µs/query | q/s vs unbound | CPU vs unbound |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for napps in 4 10000; do
  declare -A M=()
  for server in privcast unbound; do
    for f in 1 2 3; do
      M[$server,$f]=$(for ((r = 1; r <= RUNS; r++)); do echo "${RES[$napps,$server,$r]}" | awk -v f=$f '{print $f}'; done | median)
    done
  done
  for server in privcast unbound; do
    awk -v a="$napps" -v s=$server -v q="${M[$server,1]}" -v l="${M[$server,2]}" -v c="${M[$server,3]}" \
        -v uq="${M[unbound,1]}" -v uc="${M[unbound,3]}" \
      'BEGIN { printf "| %s | %s | %.0f | %.1f | %.2f | %.2f× | %.2f× |\n", a, s, q, l, c, q/uq, c/uc }'
  done
done
