"""gRPC end to end through flycast: a real privcastd between Debian's python3-grpcio
client (in a machine of the org's network) and a gRPC server app deployed with
[http_service.http_options] h2_backend = true — the proxy speaks h2c to it over pooled,
multiplexed connections. All four call types, trailers (grpc-status / grpc-message), deadlines
(grpc-timeout), cancellation (RST_STREAM from the client reaches the server), 8 MiB messages,
200 concurrent calls on one channel, a stream the client does not read that does not stall
the others (flow control per stream), windows given back when streams end (35 MiB of responses
on one app connection), and a stopped app woken by calls with zero errors."""
import os

import harness
from harness import deploy, machines, require_root, shell

SRC = os.path.join(harness.REPO, "tests", "e2e", "apps")
SERVER = harness.install_app("grpc_echo.py", os.path.join(SRC, "grpc_echo.py"))
CLIENT = harness.install_app("grpc_client.py", os.path.join(SRC, "grpc_client.py"))
H2 = "\n[http_service.http_options]\nh2_backend = true\n"


@require_root
class Grpc(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "greeter", f"/usr/bin/python3 {SERVER} 50051", 50051, ha=False, extra=H2)

    def client(self, which="all"):
        return shell(self.h, "greeter", f"/usr/bin/python3 {CLIENT} greeter.flycast:80 {which}", timeout=240)

    def test_1_a_stopped_app_is_woken_by_calls_with_zero_errors(self):
        harness.wait_for(lambda: machines(self.h, "greeter")[0]["state"] == "started", 60, "started")
        mid = machines(self.h, "greeter")[0]["id"]
        self.h.cli(["machine", "stop", mid, "-a", "greeter"])
        harness.wait_for(lambda: machines(self.h, "greeter")[0]["state"] == "stopped", 60, "stopped")
        p = self.client("wake")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.split()[-3:], ["wake", "200", "0"], p.stdout + p.stderr)
        self.assertEqual(machines(self.h, "greeter")[0]["state"], "started")

    def test_2_every_call_type_through_flycast(self):
        p = self.client()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = dict(l.split(" ", 1) for l in p.stdout.strip().splitlines() if " " in l)
        self.assertEqual(lines.get("unary"), "hello", p.stdout + p.stderr)
        self.assertEqual(lines.get("status"), "INVALID_ARGUMENT no such thing")
        self.assertEqual(lines.get("deadline"), "DEADLINE_EXCEEDED")
        self.assertEqual(lines.get("server_stream"), "m0,m1,m2,m3,m4")
        self.assertEqual(lines.get("client_stream"), "3 6")
        self.assertEqual(lines.get("bidi"), "x,yy,zzz")
        self.assertEqual(lines.get("large"), "True")
        self.assertEqual(lines.get("large_stream"), "3 %d" % (3 * (8 << 20)))
        self.assertEqual(lines.get("cancel"), "2 yes")
        self.assertEqual(lines.get("flow_control"), "50 True")
        self.assertEqual(lines.get("concurrent"), "200")
        self.assertEqual(lines.get("window"), "150", p.stdout)  # the app's window never shrinks for good
        # Per-stream metrics: every call counted against the machine.
        mid = machines(self.h, "greeter")[0]["id"]
        self.assertGreater(self.h.metric(f'privcast_proxy_requests_total{{app="greeter",machine="{mid}",status="2xx"}}'),
                           200)


if __name__ == "__main__":
    harness.main()
