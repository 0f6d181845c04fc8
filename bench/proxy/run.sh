#!/usr/bin/env bash
# Side-by-side proxy benchmark (method of docs/benchmarks.md).
#
# Topology (all namespaces created here, named pc-bench-<pid>-*, deleted on every exit path):
#   client netns ──veth── proxy netns ──veth── machine netns
#   fdaa:0:1:0:2:0:3:2     fdaa:0:1:0:1::5         10.77.2.2 (nginx backend :8080, iperf3 :5201)
#   10.77.1.2              10.77.1.1 / 10.77.2.1   (proxy netns forwards for the "direct" rows)
# In the proxy netns: privcast (:80 http, :5201 tcp), HAProxy 2.6 (:81 http-reuse always, :5202 tcp),
# nginx (:82, upstream keepalive 128). wrk / iperf3 clients pinned to CPU 0, every server to CPU 1.
# ONLY=tls adds privcast :443 (http+tls) and HAProxy :444 (`bind ... ssl crt`), one EC P-256
# certificate for both (made here with the openssl CLI), and runs only the https workloads.
# CPU µs per request of a proxy = Δ(utime+stime) of its pid during the run ÷ requests.
#
# Usage: bench/proxy/run.sh BUILD_DIR [seconds=3] [repeats=3]   (root; output: markdown on stdout)
# Env: PC_ARGS="--splice 0 --pipe-size N" extra privcast flags; ONLY=http|tcp|mem|tls to run one part
# (ONLY=keepalive: the keep-alive c50 table alone, ONLY=fresh: the two new-connection tables,
# for A/B runs)
# (tls runs only when asked: ONLY=tls). FLOOR=1 adds three rows: privcast-direct (:87, privcast
# with --batch-sends 0: one send() per write), floor-epoll (:83) and floor-uring (:84):
# privcast_floor_forwarder, a byte copier with no HTTP at all, i.e. the kernel's share.
# HOLD=N: set everything up, print the namespaces and pids, wait N seconds, tear down.
# ALT=path/to/privcast_proxy_bench_server adds a row privcast-alt (:88): another build (an older
# commit, say) measured in the same run.
# ONLY=h2: h2load -c50 -m10 against nginx's h2c listener (:8081 in the machine netns)
# directly, through privcast with h2_backend (:85), HAProxy h2 both sides (:86, `proto h2` on bind
# and server), the same HAProxy path adding the Fly request/response fields privcast adds (:97,
# row haproxy-h2-h2-fly: the like-for-like comparison), and HTTP/2 client → HTTP/1.1 backend
# through privcast (:80) and HAProxy (:89);
# then sequential gRPC unary calls (python3-grpcio, bench/proxy/grpc_latency.py) to the
# tests/e2e/apps/grpc_echo.py server directly, through privcast (:90, h2_backend) and through
# HAProxy (:93, `proto h2` both sides): added p50; the same with gRPC C++ on both ends
# (privcast_grpc_latency → privcast_grpc_echo_server :50052 in the machine netns; privcast :94,
# HAProxy :95).
# NEIGHBOUR=1 (with ONLY=h2): then the h2 latency and throughput with a CPU-bound process on the
# servers' core (the cost of not preempting it, ADR 0021).
# With ALT= too, the other build also serves h2c (:91, row alt-h2-h2c) and gRPC (:92 Python,
# :96 C++; rows alt).
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
BUILD=${1:?build dir}
DUR=${2:-3}
REP=${3:-3}
SERVER=$BUILD/bench/proxy/privcast_proxy_bench_server
[ -x "$SERVER" ] || { echo "missing $SERVER" >&2; exit 1; }
if [ "${ONLY:-}" = h2 ]; then
  for b in privcast_grpc_echo_server privcast_grpc_latency; do
    [ -x "$BUILD/bench/proxy/$b" ] || { echo "missing $BUILD/bench/proxy/$b" >&2; exit 1; }
  done
fi
P=pc-bench-$$
NC=$P-c; NP=$P-p; NM=$P-m
TMP=$(mktemp -d /tmp/pc-bench-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  for n in $NC $NP $NM; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
# Leftovers of earlier runs of this script whose shell is gone.
for n in $(ip netns list | awk '{print $1}' | grep '^pc-bench-' || true); do
  owner=${n#pc-bench-}; owner=${owner%%-*}
  kill -0 "$owner" 2>/dev/null || ip netns del "$n" 2>/dev/null || true
done

ip netns add $NC; ip netns add $NP; ip netns add $NM
ip link add c0 netns $NC type veth peer name p0 netns $NP
ip link add p1 netns $NP type veth peer name m0 netns $NM
for n in $NC $NP $NM; do ip -n $n link set lo up; done
ip -n $NC link set c0 up; ip -n $NP link set p0 up; ip -n $NP link set p1 up; ip -n $NM link set m0 up
ip -n $NC -6 addr add fdaa:0:1:0:2:0:3:2/64 dev c0 nodad
ip -n $NP -6 addr add fdaa:0:1:0:1::5/64 dev p0 nodad
ip -n $NC addr add 10.77.1.2/24 dev c0
ip -n $NP addr add 10.77.1.1/24 dev p0
ip -n $NP addr add 10.77.2.1/24 dev p1
ip -n $NM addr add 10.77.2.2/24 dev m0
ip -n $NC route add 10.77.2.0/24 via 10.77.1.1
ip -n $NM route add 10.77.1.0/24 via 10.77.2.1
ip netns exec $NP sysctl -qw net.ipv4.ip_forward=1
# Nothing may leave towards a default route (docs/engineering.md "Safety").
for n in $NC $NP $NM; do ip -n $n -6 route add unreachable fdaa::/16 metric 4096 2>/dev/null || true; done
for n in $NC $NP $NM; do ip netns exec $n sysctl -qw net.ipv4.ip_local_port_range="1024 65000"; \
  ip netns exec $n sysctl -qw net.ipv4.tcp_tw_reuse=1; done

want() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }
BODY=$(head -c 100 /dev/zero | tr '\0' 'x')
mkdir -p $TMP/be $TMP/ng $TMP/ha
cat > $TMP/be/nginx.conf <<CONF
daemon off; master_process off; worker_processes 1; pid $TMP/be/pid; error_log $TMP/be/err.log;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 100000000; client_body_temp_path $TMP/be; proxy_temp_path $TMP/be;
  fastcgi_temp_path $TMP/be; uwsgi_temp_path $TMP/be; scgi_temp_path $TMP/be;
  server { listen 10.77.2.2:8080 backlog=4096 reuseport; location / { return 200 "$BODY"; } }
  server { listen 10.77.2.2:8081 http2 backlog=4096 reuseport; http2_max_requests 100000000;
    location / { return 200 "$BODY"; } } }
CONF
cat > $TMP/ng/nginx.conf <<CONF
daemon off; master_process off; worker_processes 1; pid $TMP/ng/pid; error_log $TMP/ng/err.log;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 100000000; client_body_temp_path $TMP/ng; proxy_temp_path $TMP/ng;
  fastcgi_temp_path $TMP/ng; uwsgi_temp_path $TMP/ng; scgi_temp_path $TMP/ng;
  upstream app { server 10.77.2.2:8080; keepalive 128; keepalive_requests 100000000; }
  server { listen [fdaa:0:1:0:1::5]:82 backlog=4096; location / { proxy_pass http://app; proxy_http_version 1.1;
    proxy_set_header Connection ""; } } }
CONF
cat > $TMP/ha/haproxy.cfg <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe_http
  mode http
  bind [fdaa:0:1:0:1::5]:81
  option http-keep-alive
  default_backend be_http
backend be_http
  mode http
  http-reuse always
  server app 10.77.2.2:8080
frontend fe_tcp
  mode tcp
  bind [fdaa:0:1:0:1::5]:5202
  default_backend be_tcp
backend be_tcp
  mode tcp
  server app 10.77.2.2:5201
CONF
if [ "${ONLY:-}" = h2 ]; then
  cat >> $TMP/ha/haproxy.cfg <<CONF
frontend fe_h2
  mode http
  bind [fdaa:0:1:0:1::5]:86 proto h2
  default_backend be_h2
backend be_h2
  mode http
  http-reuse always
  server app 10.77.2.2:8081 proto h2
# The same h2 path with the work privcast does per request (the BRIEF's Fly request fields and
# the three response fields): the like-for-like row (haproxy-h2-h2-fly, :97). unique-id gives a
# per-request id of Fly-Request-Id's length; the rest are the values privcast sends here.
frontend fe_h2_fly
  mode http
  bind [fdaa:0:1:0:1::5]:97 proto h2
  unique-id-format %{+X}o%Ts%rt%pid%ms
  http-request set-header Fly-Client-IP %[src]
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-SSL off
  http-request set-header Fly-Forwarded-Port %[dst_port]
  http-request set-header Fly-Region ams
  http-request set-header Fly-Request-Id %[unique-id]
  http-request set-header Via "1.1 haproxy"
  http-request set-header X-Request-Start t=%[date(0,us)]
  http-response set-header Fly-Request-Id %[unique-id]
  http-response set-header Via "1.1 haproxy"
  http-response set-header Server haproxy
  default_backend be_h2
frontend fe_h2_h1
  mode http
  bind [fdaa:0:1:0:1::5]:89 proto h2
  default_backend be_http
frontend fe_grpc
  mode http
  bind [fdaa:0:1:0:1::5]:93 proto h2
  default_backend be_grpc
backend be_grpc
  mode http
  http-reuse always
  server app 10.77.2.2:50051 proto h2
frontend fe_grpc_cc
  mode http
  bind [fdaa:0:1:0:1::5]:95 proto h2
  default_backend be_grpc_cc
backend be_grpc_cc
  mode http
  http-reuse always
  server app 10.77.2.2:50052 proto h2
CONF
fi
TLS_ARGS=()
if [ "${ONLY:-}" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.flycast \
    -addext "subjectAltName=DNS:bench.flycast,IP:fdaa:0:1:0:1::5" \
    -keyout $TMP/key.pem -out $TMP/cert.pem 2>/dev/null
  cat $TMP/cert.pem $TMP/key.pem > $TMP/ha/site.pem
  cat >> $TMP/ha/haproxy.cfg <<CONF
frontend fe_https
  mode http
  bind [fdaa:0:1:0:1::5]:444 ssl crt $TMP/ha/site.pem alpn http/1.1
  option http-keep-alive
  default_backend be_http
CONF
  TLS_ARGS=(--tls-port 443 --tls-cert $TMP/cert.pem --tls-key $TMP/key.pem)
fi

start() {  # start NETNS LOGFILE CMD...: a server pinned to CPU 1, pid appended to PIDS
  local ns=$1 log=$2; shift 2
  ip netns exec "$ns" setsid taskset -c 1 "$@" >"$log" 2>&1 &
  PIDS+=($!)
}
start $NM $TMP/be/out.log nginx -p $TMP/be -c $TMP/be/nginx.conf
BE_PID=${PIDS[-1]}
start $NM $TMP/iperf.log iperf3 -s -B 10.77.2.2 -p 5201
start $NP $TMP/pc.log $SERVER --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 8080 \
  --http-port 80 --tcp-port 5201 --tcp-internal-port 5201 --workers 1 "${TLS_ARGS[@]}" ${PC_ARGS:-}
PC_PID=${PIDS[-1]}
start $NP $TMP/ha/out.log haproxy -db -f $TMP/ha/haproxy.cfg
HA_PID=${PIDS[-1]}
start $NP $TMP/ng/out.log nginx -p $TMP/ng -c $TMP/ng/nginx.conf
NG_PID=${PIDS[-1]}
if [ -n "${FLOOR:-}" ]; then
  start $NP $TMP/fe.log $BUILD/bench/proxy/privcast_floor_forwarder epoll fdaa:0:1:0:1::5 83 10.77.2.2 8080
  FE_PID=${PIDS[-1]}
  start $NP $TMP/fu.log $BUILD/bench/proxy/privcast_floor_forwarder uring fdaa:0:1:0:1::5 84 10.77.2.2 8080
  FU_PID=${PIDS[-1]}
  start $NP $TMP/pcd.log $SERVER --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 8080 \
    --http-port 87 --tcp-port 5203 --tcp-internal-port 5201 --workers 1 --batch-sends 0 ${PC_ARGS:-}
  PD_PID=${PIDS[-1]}
fi
if [ -n "${ALT:-}" ]; then  # another build of the bench server, for A/B in the same run
  start $NP $TMP/alt.log "$ALT" --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 8080 \
    --http-port 88 --tcp-port 5204 --tcp-internal-port 5201 --workers 1 ${PC_ARGS:-}
  ALT_PID=${PIDS[-1]}
fi
if [ "${ONLY:-}" = h2 ]; then
  start $NP $TMP/pc2.log $SERVER --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 8081 \
    --http-port 85 --tcp-port 5205 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
  PC2_PID=${PIDS[-1]}
  start $NM $TMP/grpc.log /usr/bin/python3 "$(dirname "$0")/../../tests/e2e/apps/grpc_echo.py" 50051
  start $NP $TMP/pc3.log $SERVER --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 50051 \
    --http-port 90 --tcp-port 5206 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
  PC3_PID=${PIDS[-1]}
  # gRPC C++ on both ends (privcast_grpc_echo_server, privcast_grpc_latency): the same service.
  start $NM $TMP/grpc_cc.log $BUILD/bench/proxy/privcast_grpc_echo_server 50052
  start $NP $TMP/pc4.log $SERVER --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 50052 \
    --http-port 94 --tcp-port 5209 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
  if [ -n "${ALT:-}" ]; then  # the other build with h2_backend too: rows alt-h2-h2c (:91), gRPC alt (:92)
    start $NP $TMP/alt2.log "$ALT" --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 8081 \
      --http-port 91 --tcp-port 5207 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
    ALT2_PID=${PIDS[-1]}
    start $NP $TMP/alt3.log "$ALT" --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 50051 \
      --http-port 92 --tcp-port 5208 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
    start $NP $TMP/alt4.log "$ALT" --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2 --internal-port 50052 \
      --http-port 96 --tcp-port 5210 --tcp-internal-port 5201 --workers 1 --h2-backend 1 ${PC_ARGS:-}
  fi
fi
sleep 1
for t in "http://10.77.2.2:8080/" "http://[fdaa:0:1:0:1::5]:80/" "http://[fdaa:0:1:0:1::5]:81/" "http://[fdaa:0:1:0:1::5]:82/"; do
  ip netns exec $NC curl -sf -o /dev/null "$t" || { echo "target $t not answering" >&2; cat $TMP/*.log $TMP/*/*.log >&2; exit 1; }
done
if [ "${ONLY:-}" = tls ]; then
  for t in "https://[fdaa:0:1:0:1::5]:443/" "https://[fdaa:0:1:0:1::5]:444/"; do
    ip netns exec $NC curl -sf --cacert $TMP/cert.pem -o /dev/null "$t" || { echo "target $t not answering" >&2; cat $TMP/*.log $TMP/*/*.log >&2; exit 1; }
  done
fi

cpu_ticks() { awk '{print $14+$15}' /proc/$1/stat; }
ctx_switches() { cat /proc/$1/task/*/status 2>/dev/null | awk '/ctxt_switches/{n+=$2} END{print n}'; }  # every thread
HZ=$(getconf CLK_TCK)

# run_wrk NAME URL PID CONNS EXTRA... → prints "reqs rps p50us p99us cpu_us_per_req switches_per_req
# backend_cpu_us_per_req"
run_wrk() {
  local url=$1 pid=$2 conns=$3; shift 3
  [ "$conns" -gt 1 ] && ip netns exec $NC taskset -c 0 wrk -t1 -c$conns -d1s "$@" "$url" >/dev/null 2>&1 || true
  local t0=0 s0=0 b0; [ "$pid" != 0 ] && t0=$(cpu_ticks $pid) && s0=$(ctx_switches $pid)
  b0=$(cpu_ticks $BE_PID)
  local out; out=$(ip netns exec $NC taskset -c 0 wrk -t1 -c$conns -d${DUR}s --latency "$@" "$url" 2>&1)
  local t1=0 s1=0 b1; [ "$pid" != 0 ] && t1=$(cpu_ticks $pid) && s1=$(ctx_switches $pid)
  b1=$(cpu_ticks $BE_PID)
  local reqs; reqs=$(echo "$out" | awk '/requests in/{print $1}')
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  local p50; p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  local p99; p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  local cpu="-"; [ "$pid" != 0 ] && cpu=$(awk -v d=$((t1-t0)) -v hz=$HZ -v r=$reqs 'BEGIN{printf "%.1f", d*1e6/hz/r}')
  local sw="-"; [ "$pid" != 0 ] && sw=$(awk -v d=$((s1-s0)) -v r=$reqs 'BEGIN{printf "%.3f", d/r}')
  local be; be=$(awk -v d=$((b1-b0)) -v hz=$HZ -v r=$reqs 'BEGIN{printf "%.1f", d*1e6/hz/r}')
  echo "$reqs $rps $(to_us $p50) $(to_us $p99) $cpu $sw $be"
}
to_us() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us/,"",v); print v+0} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1e6} else print v }'; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

declare -A TARGET=( [direct]="http://10.77.2.2:8080/" [privcast]="http://[fdaa:0:1:0:1::5]:80/" [haproxy]="http://[fdaa:0:1:0:1::5]:81/" [nginx]="http://[fdaa:0:1:0:1::5]:82/" )
declare -A PIDOF=( [direct]=0 [privcast]=$PC_PID [haproxy]=$HA_PID [nginx]=$NG_PID )
ORDER="direct privcast haproxy nginx"
if [ -n "${FLOOR:-}" ]; then
  TARGET[floor-epoll]="http://[fdaa:0:1:0:1::5]:83/"; PIDOF[floor-epoll]=$FE_PID
  TARGET[floor-uring]="http://[fdaa:0:1:0:1::5]:84/"; PIDOF[floor-uring]=$FU_PID
  TARGET[privcast-direct]="http://[fdaa:0:1:0:1::5]:87/"; PIDOF[privcast-direct]=$PD_PID
  ORDER="${XORDER:-$ORDER privcast-direct floor-epoll floor-uring}"
fi
if [ -n "${ALT:-}" ]; then
  TARGET[privcast-alt]="http://[fdaa:0:1:0:1::5]:88/"; PIDOF[privcast-alt]=$ALT_PID
  ORDER="$ORDER privcast-alt"
fi

workload() {  # workload TITLE CONNS EXTRA...
  local title=$1 conns=$2; shift 2
  echo
  echo "### $title"
  echo
  echo "| target | req/s | ratio to HAProxy | p50 µs | p99 µs | proxy CPU µs/req | proxy context switches/req | backend CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  # Repeats are interleaved (every target once per round) so that drift in the shared VM's speed
  # during the run lands on every target alike; medians per target.
  declare -A R RS P50 P99 CPU SW BE
  for i in $(seq $REP); do
    for name in $ORDER; do
      read -r _ a b c d e f < <(run_wrk "${TARGET[$name]}" "${PIDOF[$name]}" $conns "$@")
      RS[$name]+="$a "; P50[$name]+="$b "; P99[$name]+="$c "; CPU[$name]+="$d "; SW[$name]+="$e "; BE[$name]+="$f "
    done
  done
  for name in $ORDER; do
    R[$name]="$(tr ' ' '\n' <<<"${RS[$name]}" | grep . | median) $(tr ' ' '\n' <<<"${P50[$name]}" | grep . | median) $(tr ' ' '\n' <<<"${P99[$name]}" | grep . | median) $(tr ' ' '\n' <<<"${CPU[$name]}" | grep . | median) $(tr ' ' '\n' <<<"${SW[$name]}" | grep . | median) $(tr ' ' '\n' <<<"${BE[$name]}" | grep . | median)"
  done
  local ha_rps; ha_rps=$(echo ${R[haproxy]} | awk '{print $1}')
  for name in $ORDER; do
    read -r a b c d e f <<<"${R[$name]}"
    echo "| $name | $a | $(awk -v x=$a -v y=$ha_rps 'BEGIN{printf "%.2f×", x/y}') | $b | $c | ${d:--} | ${e:--} | ${f:--} |"
  done
}

if [ -n "${HOLD:-}" ]; then  # keep the topology up for profiling by hand (strace, perf), then exit
  echo "holding ${HOLD}s: client netns $NC, proxy netns $NP; pids privcast=$PC_PID haproxy=$HA_PID" \
    "nginx=$NG_PID backend=$BE_PID ${PD_PID:+privcast-direct=$PD_PID} ${ALT_PID:+privcast-alt=$ALT_PID}" \
    "${PC2_PID:+privcast-h2c(:85)=$PC2_PID} ${ALT2_PID:+alt-h2c(:91)=$ALT2_PID}" >&2
  sleep "$HOLD"
  exit 0
fi
echo "## Proxy benchmark run $(date -u +%Y-%m-%dT%H:%MZ) — ${DUR}s × $REP, medians; $(nproc) CPUs, $(uname -r) ${PC_ARGS:-}"
if [ "${ONLY:-}" = keepalive ]; then workload "HTTP keep-alive, wrk -t1 -c50" 50; fi
if [ "${ONLY:-}" = fresh ]; then
workload "New connection per request, c50 (Connection: close)" 50 -H "Connection: close"
workload "One fresh connection at a time (Connection: close, c1)" 1 -H "Connection: close"
fi
if want http; then
workload "HTTP keep-alive, wrk -t1 -c50" 50
workload "HTTP keep-alive, 1 connection (latency)" 1
workload "New connection per request, c50 (Connection: close)" 50 -H "Connection: close"
workload "One fresh connection at a time (Connection: close, c1)" 1 -H "Connection: close"
fi
if want tcp; then

echo
echo "### Raw TCP, iperf3 1 stream, ${DUR}s"
echo
echo "| target | Gbit/s | proxy CPU % of a core | Gbit/s per proxy core |"
echo "|---|---:|---:|---:|"
iperf_run() {  # host port pid
  local t0=0; [ "$3" != 0 ] && t0=$(cpu_ticks $3)
  local out; out=$(ip netns exec $NC taskset -c 0 iperf3 -c "$1" -p "$2" -t $DUR -J 2>/dev/null)
  local t1=0; [ "$3" != 0 ] && t1=$(cpu_ticks $3)
  local gbps; gbps=$(echo "$out" | python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')
  local cpu="-"; [ "$3" != 0 ] && cpu=$(awk -v d=$((t1-t0)) -v hz=$HZ -v s=$DUR 'BEGIN{printf "%.0f", d*100/hz/s}')
  echo "$gbps $cpu"
}
for spec in "direct 10.77.2.2 5201 0" "privcast fdaa:0:1:0:1::5 5201 $PC_PID" "haproxy fdaa:0:1:0:1::5 5202 $HA_PID"; do
  read -r name host port pid <<<"$spec"
  g=(); c=()
  for i in $(seq $REP); do read -r a b < <(iperf_run $host $port $pid); g+=("$a"); c+=("$b"); done
  gm=$(printf '%s\n' "${g[@]}" | median); cm=$(printf '%s\n' "${c[@]}" | median)
  per="-"; [ "$cm" != "-" ] && per=$(awk -v g=$gm -v c=$cm 'BEGIN{ if (c>0) printf "%.1f", g*100/c; else print "-"}')
  echo "| $name | $gm | $cm | $per |"
done
fi
if want mem; then
echo
echo "### Memory per idle keep-alive client connection (RSS delta ÷ 2000 connections)"
echo
echo "| proxy | KiB per idle connection |"
echo "|---|---:|"
rss() { awk '/VmRSS/{print $2}' /proc/$1/status; }
for spec in "privcast 80 $PC_PID" "haproxy 81 $HA_PID" "nginx 82 $NG_PID"; do
  read -r name port pid <<<"$spec"
  r0=$(rss $pid)
  coproc IDLE { ip netns exec $NC python3 "$(dirname "$0")/idle_conns.py" fdaa:0:1:0:1::5 $port 2000; }
  read -r _ <&"${IDLE[0]}"
  r1=$(rss $pid)
  exec {IDLE[1]}>&-; wait $IDLE_PID 2>/dev/null || true
  echo "| $name | $(awk -v a=$r0 -v b=$r1 'BEGIN{printf "%.2f", (b-a)/2000}') |"
done
fi
if [ "${ONLY:-}" = h2 ]; then
for t in "http://10.77.2.2:8081/" "http://[fdaa:0:1:0:1::5]:85/" "http://[fdaa:0:1:0:1::5]:86/" "http://[fdaa:0:1:0:1::5]:89/" \
  "http://[fdaa:0:1:0:1::5]:97/"; do
  ip netns exec $NC curl -sf --http2-prior-knowledge -o /dev/null "$t" || { echo "target $t not answering" >&2; cat $TMP/*.log $TMP/*/*.log >&2; exit 1; }
done
# run_h2load URL PID → "reqs rps proxy_cpu_us_per_req backend_cpu_us_per_req"
run_h2load() {
  ip netns exec $NC taskset -c 0 h2load -c50 -m10 -t1 -D 1 "$1" >/dev/null 2>&1 || true
  local t0=0 b0; [ "$2" != 0 ] && t0=$(cpu_ticks $2)
  b0=$(cpu_ticks $BE_PID)
  local out; out=$(ip netns exec $NC taskset -c 0 h2load -c50 -m10 -t1 -D $DUR "$1" 2>&1)
  local t1=0 b1; [ "$2" != 0 ] && t1=$(cpu_ticks $2)
  b1=$(cpu_ticks $BE_PID)
  local reqs; reqs=$(echo "$out" | awk '/^requests:/{print $8}')
  local rps; rps=$(echo "$out" | awk '/^finished in/{print $4}')
  local cpu="-"; [ "$2" != 0 ] && cpu=$(awk -v d=$((t1-t0)) -v hz=$HZ -v r=$reqs 'BEGIN{printf "%.1f", d*1e6/hz/r}')
  local be; be=$(awk -v d=$((b1-b0)) -v hz=$HZ -v r=$reqs 'BEGIN{printf "%.1f", d*1e6/hz/r}')
  echo "$reqs $rps $cpu $be"
}
echo
echo "### HTTP/2, h2load -c50 -m10 -t1 (${DUR}s × $REP, interleaved, medians)"
echo
echo "| target | req/s | ratio to HAProxy h2→h2 | proxy CPU µs/req | backend CPU µs/req |"
echo "|---|---:|---:|---:|---:|"
H2ORDER="direct-h2c privcast-h2-h2c haproxy-h2-h2 haproxy-h2-h2-fly privcast-h2-h1 haproxy-h2-h1"
declare -A H2URL=( [direct-h2c]="http://10.77.2.2:8081/" [privcast-h2-h2c]="http://[fdaa:0:1:0:1::5]:85/"
  [haproxy-h2-h2]="http://[fdaa:0:1:0:1::5]:86/" [privcast-h2-h1]="http://[fdaa:0:1:0:1::5]:80/"
  [haproxy-h2-h1]="http://[fdaa:0:1:0:1::5]:89/" [haproxy-h2-h2-fly]="http://[fdaa:0:1:0:1::5]:97/" )
declare -A H2PID=( [direct-h2c]=0 [privcast-h2-h2c]=$PC2_PID [haproxy-h2-h2]=$HA_PID [privcast-h2-h1]=$PC_PID
  [haproxy-h2-h1]=$HA_PID [haproxy-h2-h2-fly]=$HA_PID )
if [ -n "${ALT:-}" ]; then
  H2ORDER="direct-h2c privcast-h2-h2c alt-h2-h2c haproxy-h2-h2 haproxy-h2-h2-fly privcast-h2-h1 haproxy-h2-h1"
  H2URL[alt-h2-h2c]="http://[fdaa:0:1:0:1::5]:91/"; H2PID[alt-h2-h2c]=$ALT2_PID
fi
declare -A HR HC HB
for i in $(seq $REP); do
  for name in $H2ORDER; do
    read -r _ a b c < <(run_h2load "${H2URL[$name]}" "${H2PID[$name]}")
    HR[$name]+="$a "; HC[$name]+="$b "; HB[$name]+="$c "
  done
done
ha=$(tr ' ' '\n' <<<"${HR[haproxy-h2-h2]}" | grep . | median)
for name in $H2ORDER; do
  r=$(tr ' ' '\n' <<<"${HR[$name]}" | grep . | median)
  c=$(tr ' ' '\n' <<<"${HC[$name]}" | grep . | median)
  b=$(tr ' ' '\n' <<<"${HB[$name]}" | grep . | median)
  echo "| $name | $r | $(awk -v x=$r -v y=$ha 'BEGIN{printf "%.2f×", x/y}') | $c | $b |"
done
hf=$(tr ' ' '\n' <<<"${HR[haproxy-h2-h2-fly]}" | grep . | median)
pc=$(tr ' ' '\n' <<<"${HR[privcast-h2-h2c]}" | grep . | median)
echo
echo "privcast-h2-h2c vs haproxy-h2-h2-fly (HAProxy adding the same request and response fields):" \
  "$(awk -v x=$pc -v y=$hf 'BEGIN{printf "%.2f×", x/y}')"
if [ -n "${NEIGHBOUR:-}" ]; then
# A CPU-bound neighbour on the servers' core (a machine that spins): what a worker that does not
# preempt on wakeup (SCHED_BATCH under load, ADR 0021) costs the requests. One request at a
# time, a moderate paced load, and the saturating one; privcast, ALT's build if given (say the
# same binary with --batch-when-busy 0), HAProxy.
setsid taskset -c 1 sh -c 'while :; do :; done' &
NB_PID=$!; PIDS+=($NB_PID)
echo
echo "### With a CPU-bound neighbour on CPU 1 (h2load, ${DUR}s each, one run)"
echo
echo "| target | load | req/s | mean µs | sd µs |"
echo "|---|---|---:|---:|---:|"
NBORDER="privcast-h2-h2c haproxy-h2-h2"; [ -n "${ALT:-}" ] && NBORDER="privcast-h2-h2c alt-h2-h2c haproxy-h2-h2"
for load in "-c1 -m1" "-c10 -m1 --rps 500" "-c50 -m10"; do
  for name in $NBORDER; do
    # shellcheck disable=SC2086
    out=$(ip netns exec $NC taskset -c 0 h2load $load -t1 -D $DUR "${H2URL[$name]}" 2>&1)
    rps=$(echo "$out" | awk '/^finished in/{print $4}')
    echo "$out" | awk -v n=$name -v l="$load" -v r=$rps 'function us(x){ if (x ~ /ms$/) return x*1000; if (x ~ /us$/) return x+0; return x*1e6 }
      /^time for request:/{ printf "| %s | %s | %s | %.0f | %.0f |\n", n, l, r, us($6), us($7) }'
  done
done
kill $NB_PID 2>/dev/null || true
fi
# grpc_rows TITLE CLIENT... : sequential unary calls (2000 × REP, interleaved) to the specs in
# GSPECS ("name target"), a markdown table of medians, and the p50 each proxy adds to direct's.
grpc_rows() {
  local title=$1; shift
  echo
  echo "### gRPC unary, sequential calls: $title (client on CPU 0, server on CPU 1; 2000 calls × $REP)"
  echo
  echo "| target | p50 µs | p99 µs | added p50 µs |"
  echo "|---|---:|---:|---:|"
  declare -A G50 G99
  local i spec name tgt a b
  for i in $(seq $REP); do
    for spec in "${GSPECS[@]}"; do
      read -r name tgt <<<"$spec"
      read -r a b _ < <(ip netns exec $NC taskset -c 0 "$@" "$tgt" 2000)
      G50[$name]+="$a "; G99[$name]+="$b "
    done
  done
  local d; d=$(tr ' ' '\n' <<<"${G50[direct]}" | grep . | median)
  for spec in "${GSPECS[@]}"; do
    name=${spec%% *}
    a=$(tr ' ' '\n' <<<"${G50[$name]}" | grep . | median)
    b=$(tr ' ' '\n' <<<"${G99[$name]}" | grep . | median)
    echo "| $name | $a | $b | $([ "$name" = direct ] && echo - || echo $((a - d))) |"
  done
}
# python3-grpcio both ends (bench/proxy/grpc_latency.py → tests/e2e/apps/grpc_echo.py :50051).
GSPECS=("direct 10.77.2.2:50051" "privcast [fdaa:0:1:0:1::5]:90" "haproxy [fdaa:0:1:0:1::5]:93")
[ -n "${ALT:-}" ] && GSPECS+=("alt [fdaa:0:1:0:1::5]:92")
grpc_rows "python3-grpcio client and server" /usr/bin/python3 "$(dirname "$0")/grpc_latency.py"
# gRPC C++ both ends (privcast_grpc_latency → privcast_grpc_echo_server :50052).
GSPECS=("direct 10.77.2.2:50052" "privcast [fdaa:0:1:0:1::5]:94" "haproxy [fdaa:0:1:0:1::5]:95")
[ -n "${ALT:-}" ] && GSPECS+=("alt [fdaa:0:1:0:1::5]:96")
grpc_rows "gRPC C++ client and server" $BUILD/bench/proxy/privcast_grpc_latency
fi
if [ "${ONLY:-}" = tls ]; then
# TLS termination: the same backend behind privcast :443 (http+tls) and HAProxy :444 (ssl crt),
# TLS 1.3, EC P-256 certificate, ALPN http/1.1. wrk does no session resumption, so
# "Connection: close" measures one full handshake per request.
TARGET[privcast]="https://[fdaa:0:1:0:1::5]:443/"
TARGET[haproxy]="https://[fdaa:0:1:0:1::5]:444/"
ORDER="privcast haproxy"
workload "HTTPS keep-alive, wrk -t1 -c50" 50
workload "HTTPS keep-alive, 1 connection (latency)" 1
workload "HTTPS new connection per request (full TLS 1.3 handshake), c50" 50 -H "Connection: close"
fi
