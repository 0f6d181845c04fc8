"""The `tls` handler end to end: a real privcastd terminates TLS for an app deployed with
[http_service] (port 443 = http + tls) and a raw [[services]] port with handlers = ["tls"], with
certificates from its local CA (<data-dir>/tls/ca.crt). Clients are curl and Python's ssl
module inside machines of the org's network."""
import os
import re
import stat

import harness
from harness import deploy, flycast_ip, require_root, shell, with_ca

APP = harness.app_path("tls_backend.py")

RAW_TLS_SERVICE = """
[[services]]
  protocol = "tcp"
  internal_port = 9000
  auto_stop_machines = "off"
  [[services.ports]]
    port = 9443
    handlers = ["tls"]
"""


@require_root
class Tls(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", f"python3 {APP}", 8080, extra=RAW_TLS_SERVICE)
        cls.ip = flycast_ip(cls.h, "web")
        cls.ca = cls.h.local_ca()

    def test_ca_files_live_in_the_data_dir_with_a_private_key(self):
        key = os.path.join(self.h.data_dir, "tls", "ca.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertIn("BEGIN CERTIFICATE", self.ca)

    def test_https_with_the_ca_reaches_the_app_with_forwarded_headers(self):
        p = shell(self.h, "web", with_ca(self.ca, "curl -sS --max-time 30 --cacert /tmp/ca.crt "
                                                  "-w '\\n%{http_code} %{http_version}\\n' https://web.flycast/hello"))
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.lower()
        self.assertIn("get /hello http/1.1", out)
        self.assertIn("x-forwarded-proto: https", out)
        self.assertIn("x-forwarded-ssl: on", out)
        self.assertIn("x-forwarded-port: 443", out)
        # curl offers h2 first and the http handler takes it (ALPN h2): HTTP/2 from the
        # client, HTTP/1.1 to the app.
        self.assertTrue(p.stdout.rstrip().endswith("200 2"), p.stdout)

    def test_https_without_the_ca_fails_verification_and_is_counted(self):
        before = self.h.metric('privcast_proxy_tls_handshake_failures_total{app="web"}')
        p = shell(self.h, "web", "curl -sS --max-time 30 https://web.flycast/; echo exit=$?")
        self.assertIn("exit=60", p.stdout, p.stdout + p.stderr)
        harness.wait_for(lambda: self.h.metric('privcast_proxy_tls_handshake_failures_total{app="web"}') > before,
                         10, "the failed handshake in the metrics")
        self.assertIn('msg="tls handshake failed" app=web', self.h.daemon_log())

    def test_raw_tls_port_carries_bytes_to_a_plain_tcp_app(self):
        script = with_ca(self.ca, "python3 - <<'PY'\n"
                                  "import socket, ssl\n"
                                  "ctx = ssl.create_default_context(cafile='/tmp/ca.crt')\n"
                                  "raw = socket.create_connection(('web.flycast', 9443), timeout=30)\n"
                                  "s = ctx.wrap_socket(raw, server_hostname='web.flycast')\n"
                                  "s.sendall(b'ping over tls\\n')\n"
                                  "got = b''\n"
                                  "while len(got) < 14:\n"
                                  "    got += s.recv(100)\n"
                                  "print(s.version(), got.decode().strip())\n"
                                  "PY\n")
        p = shell(self.h, "web", script)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("TLSv1.3 ping over tls", p.stdout)

    def test_a_new_flycast_address_gets_into_the_certificate(self):
        self.h.cli(["orgs", "create", "partner"], check=False)
        out = self.h.cli(["ips", "allocate-v6", "--private", "--org", "partner", "-a", "web"]).stdout
        other = re.search(r"fdaa:[0-9a-f:]+", out).group(0)
        # Verified by IP: only a certificate issued after the allocation names that address.
        script = with_ca(self.ca, f"curl -sS --max-time 30 --cacert /tmp/ca.crt -o /dev/null -w '%{{http_code}}' "
                                  f"https://[{other}]/")
        harness.wait_for(lambda: shell(self.h, "web", script, org="partner").stdout == "200", 60,
                         "https to the partner's flycast address verified by IP")


if __name__ == "__main__":
    harness.main()
