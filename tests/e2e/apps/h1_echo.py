#!/usr/bin/env python3
"""HTTP/1.1 backend of the HTTP/2 e2e tests (tests/e2e/test_http2.py), run inside a machine.

  GET  /head      200, body = the request head the app received (the proxy's Fly headers show)
  POST /echo      200, body = the request body (Content-Length or chunked), Content-Length set
  GET  /big?n=N   200, N bytes, chunked (a body the proxy must de-chunk for HTTP/2)
  else            200 "ok <path>"
Keep-alive, one thread per connection. Port from argv[1] (default 8080).
"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def read_body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(headers.get("content-length", "0"))
        return self.rfile.read(n) if n else b""

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
            method, path = lines[0].split()[:2]
            headers = {}
            for l in lines[1:]:
                if b":" in l:
                    k, v = l.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = self.read_body(headers)
            if path == b"/head":
                self.send(head)
            elif path == b"/echo":
                self.send(body)
            elif path.startswith(b"/big"):
                n = int(path.split(b"n=")[1])
                self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                left = n
                while left:
                    k = min(left, 65536)
                    self.wfile.write(b"%x\r\n" % k + b"x" * k + b"\r\n")
                    left -= k
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send(b"ok " + path)
            self.wfile.flush()

    def send(self, body):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
                         + body)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    Server(("0.0.0.0", int(sys.argv[1]) if len(sys.argv) > 1 else 8080), Handler).serve_forever()
