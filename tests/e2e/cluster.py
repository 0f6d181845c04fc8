"""Cluster pieces for the e2e suites (docs/cluster.md): an underlay "fabric" netns with
a bridge, etcd members on it, and privcastd hosts attached to it.

  Fabric:      netns `pcfab-<pid>-<n>` with bridge `br0` (fd00:77::1/64, no DAD);
               attach(netns, addr) adds a veth pair: one end in `netns` with `addr`/64, the
               other enslaved to br0.
  EtcdMember:  Debian's etcd-server inside the fabric netns on its own address
               (fd00:77::e<k>), data in a temp dir; started and killed by pid.
  ClusterHost: a harness.Host whose netns is attached to the fabric before privcastd starts.
  Cluster:     all of it at once: a fabric, 3 etcd members and one ClusterHost per region (the
               one setup of tests/e2e/cluster_harness.py, scripts/quickstart --cluster and
               bench/cluster/*); a context manager.
  Poller:      a client machine asking a URL every 50 ms, one log line per request.
Everything is torn down on every path (the fabric netns deleted, processes killed by pid).
Traffic stays inside these namespaces.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import harness
from harness import run, wait_for

ETCD = os.environ.get("PRIVCAST_ETCD", shutil.which("etcd") or "/usr/bin/etcd")
_n = [0]


class Fabric:
    def __init__(self):
        _n[0] += 1
        self.name = f"pcfab-{os.getpid()}-{_n[0]}"
        self.links = 0

    def __enter__(self):
        try:
            run(["ip", "netns", "add", self.name])
            self.ns(["ip", "link", "set", "lo", "up"])
            self.ns(["ip", "link", "add", "br0", "type", "bridge"])
            self.ns(["ip", "link", "set", "br0", "up"])
            self.ns(["ip", "-6", "addr", "add", "fd00:77::1/64", "dev", "br0", "nodad"])
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        run(["ip", "netns", "del", self.name], check=False)

    def ns(self, cmd, check=True):
        return run(["ip", "netns", "exec", self.name] + cmd, check=check)

    def attach(self, netns, addr, ifname="fab0"):
        """A veth from `netns` (named ifname, with addr/64) to the bridge."""
        self.links += 1
        peer = f"fb{os.getpid() % 10000}x{self.links}"
        run(["ip", "link", "add", peer, "netns", self.name, "type", "veth", "peer", "name", ifname, "netns", netns])
        self.ns(["ip", "link", "set", peer, "master", "br0"])
        self.ns(["ip", "link", "set", peer, "up"])
        run(["ip", "netns", "exec", netns, "ip", "link", "set", ifname, "up"])
        run(["ip", "netns", "exec", netns, "ip", "-6", "addr", "add", f"{addr}/64", "dev", ifname, "nodad"])


class EtcdMember:
    """One etcd member in the fabric netns. cluster: {name: addr} of every member."""

    def __init__(self, fabric, name, addr, cluster):
        self.fabric, self.name, self.addr, self.cluster = fabric, name, addr, cluster
        self.tmp = tempfile.mkdtemp(prefix="privcast-etcd-")
        self.proc = None

    @property
    def client_url(self):
        return f"http://[{self.addr}]:2379"

    def start(self):
        self.fabric.ns(["ip", "-6", "addr", "add", f"{self.addr}/128", "dev", "br0", "nodad"], check=False)
        initial = ",".join(f"{n}=http://[{a}]:2380" for n, a in self.cluster.items())
        cmd = ["ip", "netns", "exec", self.fabric.name, ETCD, "--name", self.name,
               "--data-dir", os.path.join(self.tmp, "data"),
               "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
               "--listen-peer-urls", f"http://[{self.addr}]:2380",
               "--initial-advertise-peer-urls", f"http://[{self.addr}]:2380",
               "--initial-cluster", initial, "--initial-cluster-state", "new",
               "--heartbeat-interval", "50", "--election-timeout", "500"]
        self.log = open(os.path.join(self.tmp, "etcd.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        return self

    def healthy(self):
        p = run(["ip", "netns", "exec", self.fabric.name, "etcdctl", "--endpoints", self.client_url,
                 "--command-timeout=1s", "endpoint", "health"], check=False, env={**os.environ, "ETCDCTL_API": "3"})
        return p.returncode == 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(Exception):
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ClusterHost(harness.Host):
    """A Host on the fabric at `addr`; extra privcastd flags in extra_args."""

    def __init__(self, fabric, addr, region="ams", extra_args=()):
        super().__init__(region=region, extra_args=extra_args)
        self.fabric, self.addr = fabric, addr
        self._attached = False

    def start_daemon(self, wait=True):
        if not self._attached:
            self.fabric.attach(self.name, self.addr)
            self._attached = True
        super().start_daemon(wait)


def etcd_url(members):
    return "etcd://" + ",".join(f"[{m.addr}]:2379" for m in members)


# Underlay addresses of the hosts, by region.
HOST_ADDRS = {"ams": "fd00:77::a1", "fra": "fd00:77::a2", "syd": "fd00:77::a3", "iad": "fd00:77::a4",
              "nrt": "fd00:77::a5"}


class Cluster:
    """etcd x3 + one host per region (privcastd --store etcd://... --host-ttl ttl --underlay ADDR
    + host_args). Torn down on every path: daemons stopped first (so that none of them tries to
    destroy the cluster's apps one by one: a machine on a host a test killed would hold each
    `apps destroy` for its whole timeout), then hosts, etcd, fabric and temp dir."""

    def __init__(self, regions=("ams", "fra", "syd"), ttl=2, host_args=()):
        self.regions, self.ttl, self.host_args = list(regions), ttl, list(host_args)
        self.stack = contextlib.ExitStack()
        self.hosts, self.etcd = {}, []

    def __enter__(self):
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
                addr = HOST_ADDRS[region]
                h = ClusterHost(self.fab, addr, region=region,
                                extra_args=["--store", self.url, "--host-ttl", str(self.ttl), "--underlay", addr]
                                + self.host_args)
                self.stack.callback(h.cleanup)
                h.__enter__()
                self.hosts[region] = h
            self.stack.callback(self.stop_daemons)  # runs first
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.stack.close()

    def stop_daemons(self):
        for h in self.hosts.values():
            h.stop_daemon(signal.SIGTERM, timeout=10)

    def etcdctl(self, *args, member=None):
        """etcdctl against `member` (default: the first one running)."""
        m = member or next((e for e in self.etcd if e.proc and e.proc.poll() is None), self.etcd[0])
        return run(["ip", "netns", "exec", self.fab.name, "etcdctl", "--endpoints", m.client_url, "--command-timeout=3s"]
                   + list(args), env={**os.environ, "ETCDCTL_API": "3"}, check=False)

    def live(self, member=None):
        """The hosts registered under a lease (etcd /live/), as records."""
        out = self.etcdctl("get", "--prefix", "/live/", "--print-value-only", member=member).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip().startswith("{")]

    def live_regions(self, member=None):
        return sorted(h["region"] for h in self.live(member))

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


# A client machine asking URL every PERIOD s with HEADER, each request on its own (a slow one
# delays no other): "S <unix time sent>" when one leaves, "T <that time> <body's first 200
# bytes, or FAIL>" when it ends (curl -m 1: at most a second later).
POLLER = """#!/bin/sh
url=$1 period=$2 header=${3:-X-Privcast-Poller: 1}
while :; do (t=$(date +%s.%N); echo "S $t"; r=$(curl -s -m 1 -H "$header" "$url" | tr -d '\\n' | cut -c1-200); echo "T $t ${r:-FAIL}") & sleep "$period"; done
"""


class Poller:
    """A POLLER machine of `app` on the host of `region`; parse(body) is what lines() reports."""

    def __init__(self, cluster, region, app, url, period=0.05, parse=lambda body: body, header=""):
        h = cluster.hosts[region]
        prog = cluster.script("poller.sh", POLLER)
        out = h.cli(["machine", "run", "-a", app, "--", prog, url, str(period), header]).stdout
        self.host, self.app, self.parse = h, app, parse
        self.id = re.search(r"\b([0-9a-f]{14})\b", out).group(1)
        self.log = os.path.join(h.data_dir, "logs", f"{self.id}.log")

    def _rows(self, kind):
        try:
            with open(self.log, errors="replace") as f:
                return [ln.rstrip("\n").split(" ", 2) for ln in f if ln.startswith(kind + " ")]
        except OSError:
            return []

    def lines(self):
        """[(time sent, parsed result or 'FAIL')] of the requests that ended, oldest first."""
        out = []
        for r in self._rows("T"):
            if len(r) == 3:
                with contextlib.suppress(ValueError):
                    out.append((float(r[1]), "FAIL" if r[2] == "FAIL" else self.parse(r[2])))
        return out

    def first_after(self, t, want):
        return min((ts for ts, r in self.lines() if r == want and ts > t), default=None)

    def settled(self, until, timeout=10):
        """Waits until every request sent before `until` has ended (answered or FAIL) and one sent
        after it has too, so lines() holds all of them: the observable end of the window."""
        def done():
            ended = {r[1] for r in self._rows("T")}
            sent = [r[1] for r in self._rows("S") if len(r) >= 2]
            return (any(float(t) > until for t in ended)
                    and all(t in ended for t in sent if float(t) < until))
        wait_for(done, timeout, f"every request sent before {until:.2f} answered")

    def stop(self):
        self.host.cli(["machine", "destroy", "-a", self.app, "--force", self.id], check=False)
