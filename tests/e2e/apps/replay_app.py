#!/usr/bin/env python3
"""A Fly-Replay test app (tests/e2e/test_replay.py, test_cluster_replay.py), dual-stack on :8080.

A request carrying `x-replay: <value>` and no fly-replay-src is answered with
`fly-replay: <value>` (and the body "not replayed": the client must never see it); with
`x-replay-always: 1` it is answered so every time (a loop). Any other request is answered with
one line: `<app> <region> <machine id> src=<fly-replay-src or -> body=<request body>`."""
import http.server
import os
import socket
import socketserver


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def serve(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        src = self.headers.get("fly-replay-src")
        want = self.headers.get("x-replay")
        if want and (src is None or self.headers.get("x-replay-always")):
            out, extra = b"not replayed\n", [("fly-replay", want)]
        else:
            line = f"{os.environ.get('FLY_APP_NAME')} {os.environ.get('FLY_REGION')} " \
                   f"{os.environ.get('FLY_MACHINE_ID')} src={src or '-'} body={body.decode(errors='replace')}\n"
            out, extra = line.encode(), []
        self.send_response(200)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = serve

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


Server(("::", 8080), Handler).serve_forever()
