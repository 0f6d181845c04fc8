#!/usr/bin/python3
"""gRPC client of the gRPC e2e test (tests/e2e/test_grpc.py): every call type through flycast
to tests/e2e/apps/grpc_echo.py; prints one "name result" line per check. argv[1] = target
(host:port), argv[2] = which checks ("all" or "wake": unary calls only, counting errors)."""
import os
import sys
import threading

os.environ.setdefault("GRPC_DNS_RESOLVER", "native")  # getaddrinfo: the machine's resolv.conf
import grpc  # noqa: E402

target = sys.argv[1]
which = sys.argv[2] if len(sys.argv) > 2 else "all"
opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
ch = grpc.insecure_channel(target, options=opts)
unary = ch.unary_unary("/test.Echo/Unary")
sstream = ch.unary_stream("/test.Echo/ServerStream")
cstream = ch.stream_unary("/test.Echo/ClientStream")
bidi = ch.stream_stream("/test.Echo/Bidi")
cancelled = ch.unary_unary("/test.Echo/Cancelled")

if which == "wake":
    errors, oks = 0, 0
    lock = threading.Lock()

    def worker(k):
        global errors, oks
        for i in range(25):
            try:
                ok = unary(b"w%d-%d" % (k, i), timeout=60) == b"w%d-%d" % (k, i)
            except grpc.RpcError:
                ok = False
            with lock:
                oks += ok
                errors += not ok

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("wake", oks, errors)
    sys.exit(0)

print("unary", unary(b"hello", timeout=30).decode())
try:
    unary(b"fail:no such thing", timeout=30)
except grpc.RpcError as e:
    print("status", e.code().name, e.details())
try:
    unary(b"sleep", timeout=0.5)
except grpc.RpcError as e:
    print("deadline", e.code().name)
print("server_stream", b",".join(sstream(b"5", timeout=30)).decode())
print("client_stream", cstream(iter([b"ab", b"cde", b"f"]), timeout=30).decode())
print("bidi", b",".join(bidi(iter([b"x", b"yy", b"zzz"]), timeout=30)).decode())
big = os.urandom(8 << 20)
print("large", unary(big, timeout=60) == big)
print("large_stream", cstream(iter([big] * 3), timeout=60).decode())
call = sstream(b"forever", timeout=30)
got = [next(call), next(call)]
call.cancel()
print("cancel", len(got), cancelled(b"?", timeout=30).decode())
# Flow control: a stream whose 16 MiB the client does not read yet must not stall the others
# on the same connection (per-stream windows on both sides of the proxy).
slow = sstream(b"big", timeout=60)
quick = sum(unary(b"q%d" % i, timeout=10) == b"q%d" % i for i in range(50))
print("flow_control", quick, sum(len(m) for m in slow) == 16 << 20)
# Many concurrent calls on the one channel (one HTTP/2 connection): multiplexed both sides.
fs = [unary.future(b"c%d" % i, timeout=30) for i in range(200)]
print("concurrent", sum(f.result() == b"c%d" % i for i, f in enumerate(fs)))
# Windows given back when a stream ends: 150 responses of 240 KiB on one channel whose client
# window stays small (no BDP probing), so each response is still mostly in the proxy when the
# app's stream ends — 35 MiB in all, twice the app connection's 16 MiB window.
small = grpc.insecure_channel(target, options=opts + [("grpc.http2.bdp_probe", 0)])
echo, msg, ok = small.unary_unary("/test.Echo/Unary"), os.urandom(240 << 10), 0
try:
    for i in range(150):
        ok += echo(msg, timeout=10) == msg
except grpc.RpcError as e:
    print("window_error", e.code().name)
print("window", ok)
