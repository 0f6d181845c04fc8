"""A whole privcast cluster on one machine, for the cluster quickstart and the cluster
benchmarks (scripts/quickstart --cluster, bench/cluster/*): three etcd members and one
privcastd host per region, in network namespaces joined by a "fabric" bridge.

Built from the e2e pieces (tests/e2e/cluster.py: Fabric, EtcdMember, ClusterHost; harness.py:
Host, install_app, wait_for) so the quickstart, the benchmarks and tests/e2e/test_cluster.py
start clusters the same way. Everything is torn down on every path (Cluster is a context
manager; SIGTERM/SIGHUP are turned into SystemExit so the teardown runs for them too).

  with Cluster(["ams", "fra", "syd"], ttl=2) as c:
      c.hosts["ams"].cli([...]); c.live_regions(); c.kill_host("fra"); c.revive_host("fra")
      p = Poller(c, "ams", "tokens", "http://tokens.flycast/"); p.lines()

Root only; traffic stays in our namespaces (fd00:77::/64 on the fabric)."""
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

_E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e")
sys.path.insert(0, os.path.abspath(_E2E))

import harness  # noqa: E402
from cluster import ClusterHost, EtcdMember, Fabric, etcd_url  # noqa: E402
from harness import run, wait_for  # noqa: E402

ADDRS = {"ams": "fd00:77::a1", "fra": "fd00:77::a2", "syd": "fd00:77::a3", "iad": "fd00:77::a4", "nrt": "fd00:77::a5"}


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


class Cluster:
    """etcd x3 + one host per region. host_args: extra privcastd flags for every host."""

    def __init__(self, regions=("ams", "fra", "syd"), ttl=2, host_args=()):
        self.regions, self.ttl, self.host_args = list(regions), ttl, list(host_args)
        self.stack = contextlib.ExitStack()
        self.hosts, self.etcd = {}, []

    def __enter__(self):
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _exit_on_signal)
        try:
            self.tmp = tempfile.mkdtemp(prefix="privcast-cluster-")
            self.stack.callback(shutil.rmtree, self.tmp, True)
            self.fab = Fabric().__enter__()
            self.stack.callback(self.fab.cleanup)
            members = {f"e{i}": f"fd00:77::e{i}" for i in (1, 2, 3)}
            self.etcd = [EtcdMember(self.fab, n, a, members) for n, a in members.items()]
            for m in self.etcd:
                self.stack.callback(m.cleanup)
                m.start()
            for m in self.etcd:
                wait_for(m.healthy, 60, f"etcd {m.name} healthy")
            self.url = etcd_url(self.etcd)
            for region in self.regions:
                addr = ADDRS[region]
                h = ClusterHost(self.fab, addr, region=region,
                                extra_args=["--store", self.url, "--host-ttl", str(self.ttl), "--underlay", addr] + self.host_args)
                self.stack.callback(h.cleanup)
                h.__enter__()
                self.hosts[region] = h
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self.stack.close()
        return False

    def etcdctl(self, *args, member=None):
        m = member or next((e for e in self.etcd if e.proc and e.proc.poll() is None), self.etcd[0])
        return run(["ip", "netns", "exec", self.fab.name, "etcdctl", "--endpoints", m.client_url, "--command-timeout=3s"]
                   + list(args), env={**os.environ, "ETCDCTL_API": "3"}, check=False)

    def live_regions(self):
        out = self.etcdctl("get", "--prefix", "/live/", "--print-value-only").stdout
        return sorted(json.loads(x)["region"] for x in out.splitlines() if x.strip().startswith("{"))

    def script(self, name, text):
        """A program for machines (installed where their sandbox sees it); returns its path."""
        src = os.path.join(self.tmp, name)
        with open(src, "w") as f:
            f.write(text)
        return harness.install_app(name, src)

    def kill_host(self, region):
        """The host dies: its daemon SIGKILLed, its underlay link down (its machines unreachable)."""
        h = self.hosts[region]
        h.proc.send_signal(signal.SIGKILL)
        h.proc.wait()
        run(["ip", "netns", "exec", h.name, "ip", "link", "set", "fab0", "down"])

    def revive_host(self, region):
        """The host returns: link up (a link going down drops its addresses), daemon restarted."""
        h = self.hosts[region]
        run(["ip", "netns", "exec", h.name, "ip", "link", "set", "fab0", "up"])
        run(["ip", "netns", "exec", h.name, "ip", "-6", "addr", "replace", f"{h.addr}/64", "dev", "fab0", "nodad"])
        h.stop_daemon()
        h.start_daemon()


# A client machine asking `url` every `period` s, each request on its own (a slow one delays no
# other), one line per request: "T <unix time sent> <body's first word or FAIL>".
POLLER = """#!/bin/sh
while :; do (t=$(date +%s.%N); r=$(curl -s -m 1 "$1" | tr -d '\\n' | cut -c1-200); echo "T $t ${r:-FAIL}") & sleep "$2"; done
"""


class Poller:
    def __init__(self, cluster, region, app, url, period=0.05, parse=lambda body: body):
        h = cluster.hosts[region]
        prog = cluster.script("poller.sh", POLLER)
        out = h.cli(["machine", "run", "-a", app, "--", prog, url, str(period)]).stdout
        self.host, self.app, self.parse = h, app, parse
        self.id = re.search(r"\b([0-9a-f]{14})\b", out).group(1)
        self.log = os.path.join(h.data_dir, "logs", f"{self.id}.log")

    def lines(self):
        """[(time sent, parsed result or 'FAIL')], oldest first."""
        try:
            with open(self.log, errors="replace") as f:
                rows = [ln.rstrip("\n").split(" ", 2) for ln in f if ln.startswith("T ")]
        except OSError:
            return []
        out = []
        for r in rows:
            if len(r) == 3:
                with contextlib.suppress(ValueError):
                    out.append((float(r[1]), "FAIL" if r[2] == "FAIL" else self.parse(r[2])))
        return out

    def first_after(self, t, want):
        return min((ts for ts, r in self.lines() if r == want and ts > t), default=None)

    def stop(self):
        self.host.cli(["machine", "destroy", "-a", self.app, "--force", self.id], check=False)


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


def daemon_pid(host):
    return host.proc.pid


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentiles(values, qs=(0.5, 0.99)):
    v = sorted(values)
    return [v[min(len(v) - 1, int(q * len(v)))] for q in qs] if v else [float("nan")] * len(qs)
