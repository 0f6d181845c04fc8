#!/usr/bin/env python3
# Opens N keep-alive connections to HOST:PORT, sends one GET on each, reads the response, then
# holds them idle and prints "ready" until stdin closes. Used by run.sh to measure memory per
# idle keep-alive client connection (RSS delta of the proxy ÷ N).
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    cl = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            cl = int(line.split(b":")[1])
    while len(body) < cl:
        body += s.recv(4096)
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
