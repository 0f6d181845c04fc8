"""A whole privcast cluster on one machine, for the cluster quickstart and the cluster
benchmarks (scripts/quickstart --cluster, bench/cluster/*): three etcd members and one
privcastd host per region, in network namespaces joined by a "fabric" bridge.

The cluster itself is tests/e2e/cluster.py's Cluster and Poller (the one setup the e2e
cluster suites use too, so the quickstart, the benchmarks and the tests start clusters the same
way); this module adds what scripts need: SIGTERM/SIGHUP turned into SystemExit so the teardown
runs for them too, an API client, RSS and percentiles. Everything is torn down on every path.

  with Cluster(["ams", "fra", "syd"], ttl=2) as c:
      c.hosts["ams"].cli([...]); c.live_regions(); c.kill_host("fra"); c.revive_host("fra")
      p = Poller(c, "ams", "tokens", "http://tokens.flycast/"); p.lines()

Root only; traffic stays in our namespaces (fd00:77::/64 on the fabric)."""
import contextlib
import json
import os
import signal
import sys

_E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e")
sys.path.insert(0, os.path.abspath(_E2E))

import cluster  # noqa: E402
import harness  # noqa: E402
from cluster import Poller  # noqa: E402,F401  (re-exported for the scripts)
from harness import rss_kib  # noqa: E402,F401  (re-exported for the scripts)


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


class Cluster(cluster.Cluster):
    """tests/e2e/cluster.py's Cluster, for a script: SIGTERM and SIGHUP end it through its
    teardown (SystemExit) instead of killing the script with the cluster still up."""

    def __enter__(self):
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _exit_on_signal)
        return super().__enter__()


def deploy_idle_app(host, app):
    """Creates `app` on `host` with one machine that only sleeps (no service); returns its id."""
    d = os.path.join(host.workdir, app)
    harness.write_fly_toml(d, app, "sleep 100000", http_service=False)
    host.cli(["apps", "create", app])
    host.cli(["deploy", "--ha=false", "--strategy", "immediate"], cwd=d, timeout=120)
    return harness.machines(host, app)[0]["id"]


class Api:
    """privcastd's HTTP API over its unix socket, one keep-alive connection (no CLI exec: the
    benchmarks time the call itself)."""

    def __init__(self, host):
        import http.client
        import socket

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(host.sock)
        self.conn = Conn("privcastd")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = self.conn.getresponse()
        text = r.read().decode(errors="replace")
        return r.status, text

    def metrics(self):
        """{name: value} of the numeric lines of /metrics."""
        _, text = self.call("GET", "/metrics")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[k] = float(v)
        return out


def percentiles(values, qs=(0.5, 0.99)):
    v = sorted(values)
    return [v[min(len(v) - 1, int(q * len(v)))] for q in qs] if v else [float("nan")] * len(qs)
