#!/usr/bin/python3
"""Sequential gRPC unary calls (Debian's python3-grpcio; raw bytes, no protobuf) against
tests/e2e/apps/grpc_echo.py, for bench/proxy/run.sh ONLY=h2: prints "p50_us p99_us calls".

  grpc_latency.py TARGET CALLS   (one channel, one call at a time, after 200 warm-up calls)
"""
import os
import sys
import time

os.environ.setdefault("GRPC_DNS_RESOLVER", "native")
import grpc  # noqa: E402

target, calls = sys.argv[1], int(sys.argv[2])
ch = grpc.insecure_channel(target)
unary = ch.unary_unary("/test.Echo/Unary")
for _ in range(200):
    unary(b"warm", timeout=10)
lat = []
for _ in range(calls):
    t = time.perf_counter_ns()
    unary(b"x" * 100, timeout=10)
    lat.append(time.perf_counter_ns() - t)
lat.sort()
print("%.0f %.0f %d" % (lat[len(lat) // 2] / 1000, lat[len(lat) * 99 // 100] / 1000, calls))
