#!/usr/bin/env python3
"""A machine app whose health check can be made to fail and recover.

  GET /healthz  → 200 "ok", or 500 while failing
  GET /fail     → starts failing;  GET /recover → stops failing
  anything else → 200 "<FLY_MACHINE_ID>"
Usage: health_app.py [PORT [failing]] ("failing": start failing, for deploys that never get healthy).
Binds [::]:PORT dual-stack (flycast connects over IPv4 to the link address; the test reaches a
single machine over its 6PN address to flip it).
"""
import http.server
import os
import socket
import sys

FAILING = [len(sys.argv) > 2 and sys.argv[2] == "failing"]
MACHINE = os.environ.get("FLY_MACHINE_ID", "?")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status, body = 200, MACHINE
        if self.path == "/healthz":
            status, body = (500, "failing") if FAILING[0] else (200, "ok")
        elif self.path == "/fail":
            FAILING[0], body = True, "now failing"
        elif self.path == "/recover":
            FAILING[0], body = False, "recovered"
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass  # quiet: the test reads the app's log for the proxy's health events


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


if __name__ == "__main__":
    Server(("::", int(sys.argv[1]) if len(sys.argv) > 1 else 8080), Handler).serve_forever()
