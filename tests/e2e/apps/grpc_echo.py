#!/usr/bin/python3
"""gRPC server of the gRPC e2e test (tests/e2e/test_grpc.py), run inside a machine with Debian's
python3-grpcio. Service test.Echo, raw bytes (no protobuf), insecure (h2c) on argv[1]:

  Unary         echoes; b"fail:<msg>" aborts INVALID_ARGUMENT with <msg>; b"sleep" sleeps 5 s
  ServerStream  b"<n>": n messages b"m<i>"; b"forever": one every 50 ms until cancelled;
                b"big": 16 messages of 1 MiB
  ClientStream  b"<count> <total bytes>" of what the client sent
  Bidi          echoes each message as it comes
  Cancelled     b"yes" once a ServerStream "forever" call saw its client cancel
"""
import sys
import threading
import time
from concurrent import futures

import grpc

cancelled = threading.Event()


def unary(req, ctx):
    if req.startswith(b"fail:"):
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, req[5:].decode())
    if req == b"sleep":
        time.sleep(5)
    return req


def server_stream(req, ctx):
    if req == b"forever":
        ctx.add_callback(lambda: cancelled.set() if not ctx.is_active() else None)
        i = 0
        while ctx.is_active():
            yield b"m%d" % i
            i += 1
            time.sleep(0.05)
        cancelled.set()
        return
    if req == b"big":
        for i in range(16):
            yield bytes([65 + i]) * (1 << 20)
        return
    for i in range(int(req)):
        yield b"m%d" % i


def client_stream(it, ctx):
    n = total = 0
    for m in it:
        n += 1
        total += len(m)
    return b"%d %d" % (n, total)


def bidi(it, ctx):
    for m in it:
        yield m


def was_cancelled(req, ctx):
    return b"yes" if cancelled.wait(10) else b"no"


handlers = {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
    "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    "Cancelled": grpc.unary_unary_rpc_method_handler(was_cancelled),
}
opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=opts)
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
server.add_insecure_port("0.0.0.0:%s" % (sys.argv[1] if len(sys.argv) > 1 else "50051"))
server.start()
server.wait_for_termination()
