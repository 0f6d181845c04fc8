#!/usr/bin/env python3
"""A registry token server for the tests, shaped like Docker Hub's (auth.docker.io/token):
Debian's docker-registry with `auth: token:` sends clients here; this answers
GET /token?service=S&scope=repository:NAME:ACTIONS with {"token": JWT, "access_token": JWT}.

With the right HTTP Basic credentials the token grants the scope's actions; without any it is
an anonymous token granting nothing (the registry then says 401, as Hub does for a private
repository); wrong credentials get 401 here. JWTs are RS256, signed with `openssl dgst` by the
key whose self-signed certificate the registry trusts (rootcertbundle), the certificate in the
x5c header. No third-party Python modules.

  token_server.py PORT KEY.pem CERT.pem ISSUER SERVICE USER PASSWORD
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_handler(key, cert_der, issuer, service, user, password):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path != "/token":
                self.send_error(404)
                return
            q = urllib.parse.parse_qs(url.query)
            auth = self.headers.get("Authorization", "")
            granted = False
            if auth.startswith("Basic "):
                try:
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    u, p = "", ""
                if (u, p) != (user, password):
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"details":"incorrect username or password"}')
                    return
                granted = True
            access = []
            for scope in q.get("scope", []):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind == "repository" and granted:
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(cert_der).decode()]}
            claims = {"iss": issuer, "sub": user if granted else "", "aud": q.get("service", [service])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
            signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                                 capture_output=True, check=True).stdout
            token = signing_input.decode() + "." + b64url(sig)
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300,
                               "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main():
    port, key, cert, issuer, service, user, password = sys.argv[1:8]
    cert_der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True,
                              check=True).stdout
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)),
                                          make_handler(key, cert_der, issuer, service, user, password))
    srv.serve_forever()


if __name__ == "__main__":
    main()
