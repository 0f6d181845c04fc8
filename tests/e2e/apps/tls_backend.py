#!/usr/bin/env python3
"""Backend app of the TLS e2e tests, run inside a privcast machine (plaintext only: the proxy
terminates TLS in front of it).

  :8080  HTTP/1.1: every request gets 200 with the request head it received as the body, so a
         test can see the headers the proxy added (X-Forwarded-Proto, ...).
  :9000  raw TCP: echoes every byte back until the client closes.
"""
import socket
import socketserver
import threading


class Head(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            lines = []
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                lines.append(line)
                if line in (b"\r\n", b"\n"):
                    break
            head = b"".join(lines)
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                             % len(head) + head)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET


if __name__ == "__main__":
    echo = Server(("0.0.0.0", 9000), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    print("tls_backend: http on :8080, echo on :9000", flush=True)
    Server(("0.0.0.0", 8080), Head).serve_forever()
