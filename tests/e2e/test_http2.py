"""HTTP/2 on `http` ports end to end: a real privcastd between real HTTP/2 clients
(curl, h2load from nghttp2-client) in machines of the org's network and an HTTP/1.1 app.

h2c with prior knowledge on port 80, ALPN h2 on 443 (http + tls); each stream is relayed to
the app as an HTTP/1.1 request with the Fly headers; a stopped app is woken by an HTTP/2
request with zero errors."""
import os
import re

import harness
from harness import deploy, machines, require_root, shell, with_ca

APP = harness.install_app("h1_echo.py", os.path.join(harness.REPO, "tests", "e2e", "apps", "h1_echo.py"))


@require_root
class Http2(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", f"python3 {APP} 8080", 8080, ha=False)
        cls.ca = cls.h.local_ca()

    def test_h2c_prior_knowledge_reaches_the_app_as_http11_with_fly_headers(self):
        p = shell(self.h, "web", "curl -sS --max-time 60 --http2-prior-knowledge -H 'cookie: a=1' -H 'cookie: b=2' "
                                 "-w '\\n%{http_code} %{http_version}\\n' http://web.flycast/head")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.lower()
        self.assertIn("get /head http/1.1", out)
        self.assertIn("host: web.flycast", out)
        self.assertIn("fly-client-ip: fdaa:", out)
        self.assertIn("fly-request-id: ", out)
        self.assertIn("x-forwarded-proto: http", out)
        self.assertIn("cookie: a=1; b=2", out)
        self.assertTrue(p.stdout.rstrip().endswith("200 2"), p.stdout)

    def test_bodies_both_ways_and_a_chunked_response(self):
        script = ("head -c 3000000 /dev/urandom > /tmp/in && "
                  "curl -sS --max-time 60 --http2-prior-knowledge --data-binary @/tmp/in -o /tmp/out "
                  "http://web.flycast/echo && cmp /tmp/in /tmp/out && echo same && "
                  "curl -sS --max-time 60 --http2-prior-knowledge -H 'transfer-encoding:' -T /tmp/in -o /tmp/out2 "
                  "http://web.flycast/echo && cmp /tmp/in /tmp/out2 && echo same2 && "
                  "curl -sS --max-time 60 --http2-prior-knowledge http://web.flycast/big?n=5000000 | wc -c")
        p = shell(self.h, "web", script)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.split(), ["same", "same2", "5000000"], p.stdout)

    def test_h2load_many_streams_on_few_connections(self):
        p = shell(self.h, "web", "h2load -n 3000 -c 10 -m 10 http://web.flycast/x", timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("3000 succeeded, 0 failed, 0 errored", p.stdout, p.stdout)
        self.assertRegex(p.stdout, r"status codes: 3000 2xx", p.stdout)

    def test_alpn_h2_over_tls_and_http11_still_offered(self):
        p = shell(self.h, "web", with_ca(self.ca, "curl -sS --max-time 60 --cacert /tmp/ca.crt --http2 "
                                                  "-w '\\n%{http_version}\\n' https://web.flycast/head; "
                                                  "curl -sS --max-time 60 --cacert /tmp/ca.crt --http1.1 "
                                                  "-o /dev/null -w '%{http_version}\\n' https://web.flycast/head"))
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.lower()
        self.assertIn("x-forwarded-proto: https", out)
        self.assertEqual(p.stdout.split()[-2:], ["2", "1.1"], p.stdout)

    def test_upgrade_h2c_serves_the_request_as_stream_1_then_more_streams(self):
        # curl --http2 on http:// sends Upgrade: h2c + HTTP2-Settings; the second URL reuses the
        # upgraded connection as HTTP/2.
        p = shell(self.h, "web", "curl -sS --max-time 60 --http2 -w '\\n%{http_version} %{num_connects}\\n' "
                                 "http://web.flycast/head http://web.flycast/head")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.lower()
        self.assertEqual(out.count("get /head http/1.1"), 2, p.stdout)
        self.assertNotIn("http2-settings", out)
        self.assertNotIn("upgrade:", out)
        self.assertIn("fly-request-id: ", out)
        self.assertEqual(re.findall(r"^(2|1\.1) (\d)$", p.stdout, re.M), [("2", "1"), ("2", "0")], p.stdout)

    def test_a_stopped_app_is_woken_by_http2_streams_with_zero_errors(self):
        mid = machines(self.h, "web")[0]["id"]
        self.h.cli(["machine", "stop", mid, "-a", "web"])
        harness.wait_for(lambda: machines(self.h, "web")[0]["state"] == "stopped", 60, "stopped")
        p = shell(self.h, "web", "h2load -n 200 -c 4 -m 10 http://web.flycast/x", timeout=180)
        self.assertIn("200 succeeded, 0 failed, 0 errored", p.stdout, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"status codes: 200 2xx", p.stdout)
        self.assertEqual(machines(self.h, "web")[0]["state"], "started")

    def test_garbage_after_the_preface_gets_goaway_and_the_port_keeps_serving(self):
        script = ("python3 - <<'PY'\n"
                  "import socket\n"
                  "s = socket.create_connection(('web.flycast', 80), timeout=30)\n"
                  "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + b'\\x00\\x00\\x04\\x09\\x00\\x00\\x00\\x00\\x01abcd')\n"
                  "data = b''\n"
                  "while True:\n"
                  "    b = s.recv(4096)\n"
                  "    if not b: break\n"
                  "    data += b\n"
                  "i = 0\n"
                  "while i + 9 <= len(data):\n"
                  "    n = int.from_bytes(data[i:i+3], 'big'); t = data[i+3]\n"
                  "    if t == 7: print('goaway', int.from_bytes(data[i+13:i+17], 'big'))\n"
                  "    i += 9 + n\n"
                  "PY\n"
                  "curl -sS --max-time 60 --http2-prior-knowledge -o /dev/null -w '%{http_code}\\n' http://web.flycast/x")
        p = shell(self.h, "web", script)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.split(), ["goaway", "1", "200"], p.stdout)  # PROTOCOL_ERROR


if __name__ == "__main__":
    harness.main()
