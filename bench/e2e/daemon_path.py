#!/usr/bin/env python3
"""HTTP through the real privcastd beside HAProxy 2.6 in the same run (method: docs/benchmarks.md, "HTTP through privcastd").

  bench/e2e/daemon_path.py --build-dir build [--runs 3] [--dur 5] [--long 60] [--privcastd PATH] [--etcd]

Layout: privcastd in its own netns (harness.Host), pinned to CPU 1; one nginx machine as the
backend (bench/e2e/bench_nginx, inherits CPU 1); HAProxy 2.6 (`nbthread 1`, `http-reuse always`,
CPU 1) in the daemon's netns, bound to the app's flycast address on port 81
(`net.ipv6.ip_nonlocal_bind=1` there) and forwarding to the machine's link address; wrk pinned to
CPU 0 inside a client machine of the same org (a `machine run --shell` of another app, fed
commands on its stdin), dialling the flycast address: port 80 = privcastd, 81 = HAProxy.
No other sysctl is changed: the daemon runs with the kernel's defaults, as users run it.

CPU per request = Δ(utime+stime) of the whole process (privcastd: every thread) ÷ requests wrk
completed; "app CPU" is the nginx machine's, the other half of the shared core's
req/s ≈ 1e6 / (proxy µs + app µs). Workloads: keep-alive (1 s warm-up, then --dur s), `Connection: close` (--dur s, no
warm-up, runs back to back so a leak shows as decay), and one long `Connection: close` run per
target split in 10 s segments (wrk restarted each segment, no pause between them): first vs
last segment; privcastd's long run sits between two of HAProxy's, compared with their mean.
After each close run the TIME-WAIT sockets in the daemon's netns towards machine link addresses
are counted (`ss`), i.e. upstream connections the proxy closed first.
Markdown on stdout. Cleans up everything (namespaces, cgroups, HAProxy by pid) on every path.
"""
import argparse
import contextlib
import glob
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")
APP_PORT = 8080


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


class Client:
    """A shell in a client machine; each command's output is read up to a marker line."""

    def __init__(self, h, app):
        self.p = subprocess.Popen([harness.PRIVCAST, "machine", "run", "--shell", "-a", app, "--", "/bin/sh"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=h.env(), cwd=h.workdir)

    def run(self, cmd):
        self.p.stdin.write(f"{cmd} 2>&1; echo __done__ $?\n")
        self.p.stdin.flush()
        out = []
        for line in self.p.stdout:
            if line.startswith("__done__"):
                return int(line.split()[1]), "".join(out)
            out.append(line)
        raise RuntimeError("client machine ended: " + "".join(out))

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
                self.p.wait(30)
            except Exception:
                self.p.kill()
                self.p.wait()


def parse_wrk(out):
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return reqs, rps, errors


def app_pid(h):
    """The nginx of this Host's app machine: found through the Host's own cgroups."""
    procs = glob.glob(f"/sys/fs/cgroup/*/privcast-{h.instance}/**/cgroup.procs", recursive=True) + \
        glob.glob(f"/sys/fs/cgroup/privcast-{h.instance}/**/cgroup.procs", recursive=True)
    for f in procs:
        for pid in open(f).read().split():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "nginx":
                    return int(pid)
            except OSError:
                pass
    raise SystemExit("no nginx in the app machine's cgroup")


class Bench:
    def __init__(self, h, client, targets, app):
        self.h, self.c, self.targets, self.app = h, client, targets, app

    def wrk(self, name, secs, close):
        url, pid = self.targets[name]
        hdr = ' -H "Connection: close"' if close else ""
        t0, b0 = cpu_ticks(pid), cpu_ticks(self.app)
        rc, out = self.c.run(f"taskset -c 0 wrk -t1 -c50 -d{secs}s{hdr} {url}")
        t1, b1 = cpu_ticks(pid), cpu_ticks(self.app)
        if rc != 0 or "requests in" not in out:
            raise RuntimeError(f"wrk against {name} failed ({rc}): {out}")
        reqs, rps, errors = parse_wrk(out)
        return {"reqs": reqs, "rps": rps, "errors": errors,
                "cpu_us": (t1 - t0) * 1e6 / HZ / max(reqs, 1), "app_us": (b1 - b0) * 1e6 / HZ / max(reqs, 1)}

    def time_wait(self):
        p = self.h.nsexec(["ss", "-Htan", "state", "time-wait", "dst", "172.19.0.0/16"], check=False)
        return len([line for line in p.stdout.splitlines() if line.strip()])


def fmt(x):
    return f"{x:,.0f}".replace(",", " ")


def make_host(a, stack):
    """The daemon's Host: plain (SQLite store), or with --etcd attached to a fabric netns with one
    etcd member and started with --store etcd://... (tests/e2e/cluster.py); torn down by `stack`."""
    if not a.etcd:
        return harness.Host(daemon_prefix=["taskset", "-c", "1"], extra_args=a.daemon_arg)
    from cluster import ClusterHost, EtcdMember, Fabric, etcd_url
    fab = stack.enter_context(Fabric())
    member = EtcdMember(fab, "e1", "fd00:77::e1", {"e1": "fd00:77::e1"}).start()
    stack.callback(member.cleanup)
    harness.wait_for(member.healthy, 30, "etcd healthy")
    h = ClusterHost(fab, "fd00:77::11", extra_args=a.daemon_arg + ["--store", etcd_url([member])])
    h.daemon_prefix = ["taskset", "-c", "1"]
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--privcastd", help="another privcastd binary (e.g. an older build) to measure")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dur", type=int, default=5, help="seconds per keep-alive / close run")
    ap.add_argument("--long", type=int, default=60, help="seconds of the long close run (0: skip)")
    ap.add_argument("--segment", type=int, default=10)
    ap.add_argument("--daemon-arg", action="append", default=[], help="extra privcastd flag (repeatable)")
    ap.add_argument("--etcd", action="store_true",
                    help="privcastd on the etcd store: a one-member etcd in a fabric netns")
    a = ap.parse_args()
    harness.use_build_dir(a.build_dir)
    if a.privcastd:
        harness.PRIVCASTD = os.path.abspath(a.privcastd)
    ha_pid = None
    client = None
    with contextlib.ExitStack() as stack, make_host(a, stack) as h:
        try:
            extra = f'\n[env]\nPORT = "{APP_PORT}"\n'
            nginx = harness.install_app("bench_nginx", os.path.join(HERE, "bench_nginx"))  # sandboxed machines see /usr only
            harness.deploy(h, "web", nginx, APP_PORT, ha=False, auto_stop="off",
                           min_running=1, extra=extra)
            ip = harness.flycast_ip(h, "web")
            # The machine's IPv4 link address: the host side of its /31 is on the daemon's side
            # of the veth, the machine's is the next address (common/addr: 2·slot, 2·slot+1).
            addrs = h.nsexec(["ip", "-4", "-o", "addr", "show"]).stdout
            host_side = re.findall(r"inet (172\.19\.\d+\.\d+)/31", addrs)
            if len(host_side) != 1:
                raise SystemExit(f"expected one machine link, got: {addrs}")
            o = [int(x) for x in host_side[0].split(".")]
            link = f"172.19.{o[2]}.{o[3] + 1}"
            h.nsexec(["sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"])
            # A flycast address admits only its services' ports: admit HAProxy's 81 on
            # it through the same set and rule as privcastd's 80 (the same packet path for both),
            # for this benchmark only.
            h.nsexec(["nft", "add", "element", "inet", "privcast", "flycast_tcp", "{", f"{ip} . 81", "}"])
            cfg = os.path.join(h.tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(f"""global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind [{ip}]:81
  option http-keep-alive
  default_backend be
backend be
  http-reuse always
  server m {link}:{APP_PORT}
""")
            ha_log = open(os.path.join(h.tmp, "haproxy.log"), "wb")
            ha = subprocess.Popen(["ip", "netns", "exec", h.name, "taskset", "-c", "1", "haproxy", "-db", "-f", cfg],
                                  stdout=ha_log, stderr=ha_log, stdin=subprocess.DEVNULL, start_new_session=True)
            ha_pid = ha.pid
            h.cli(["apps", "create", "loadgen"])
            client = Client(h, "loadgen")
            targets = {"privcastd": (f"http://[{ip}]:80/", h.proc.pid), "HAProxy": (f"http://[{ip}]:81/", ha_pid)}
            for name, (url, _) in targets.items():
                try:
                    harness.wait_for(lambda: client.run(f"curl -sf -m 2 -o /dev/null {url}")[0] == 0, 30, f"{name} answering")
                except AssertionError:
                    ha_log.flush()
                    print(open(ha_log.name).read(), client.run(f"curl -sv {url}")[1], file=sys.stderr)
                    raise
            b = Bench(h, client, targets, app_pid(h))
            order = list(targets)
            print(f"HTTP through privcastd vs HAProxy 2.6: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                  f"load {' '.join(open('/proc/loadavg').read().split()[:3])} at the start, daemon {harness.PRIVCASTD}")

            ka = {n: [] for n in order}
            for _ in range(a.runs):
                for n in order:
                    b.wrk(n, 1, False)  # warm-up
                    ka[n].append(b.wrk(n, a.dur, False))
            cl = {n: [] for n in order}
            tw = {n: [] for n in order}
            for _ in range(a.runs):
                for n in order:
                    cl[n].append(b.wrk(n, a.dur, True))
                    tw[n].append(b.time_wait())

            def med(rs, k):
                return statistics.median(r[k] for r in rs)
            print(f"\n### wrk -t1 -c50, {a.dur} s × {a.runs} (interleaved), medians\n")
            print("| workload | target | req/s | × HAProxy | CPU µs/req | app CPU µs/req | errors | runs (req/s) | "
                  "TIME-WAIT towards machines in the netns after each run |")
            print("|---|---|---:|---:|---:|---:|---:|---|---|")
            for title, res in (("keep-alive", ka), ("`Connection: close`", cl)):
                ha_rps = med(res["HAProxy"], "rps")
                for n in order:
                    rs = res[n]
                    runs = ", ".join(fmt(r["rps"]) for r in rs)
                    tws = ", ".join(str(x) for x in tw[n]) if res is cl else "-"
                    print(f"| {title} | {n} | {fmt(med(rs, 'rps'))} | {med(rs, 'rps') / ha_rps:.2f}× | "
                          f"{med(rs, 'cpu_us'):.1f} | {med(rs, 'app_us'):.1f} | {sum(r['errors'] for r in rs)} | "
                          f"{runs} | {tws} |")

            if a.long:
                # privcastd's minute is bracketed by two HAProxy minutes (HAProxy first, so that it
                # is not penalised by leftovers of a broken privcastd): on a shared machine the
                # load drifts from one minute to the next, and the mean of the two brackets it.
                segs = max(1, a.long // a.segment)
                secs = segs * a.segment
                print(f"\n### `Connection: close`, {secs} s per run ({segs} back-to-back {a.segment} s wrk runs): "
                      f"HAProxy, privcastd, HAProxy\n")
                print("| run | req/s over the run | × HAProxy (mean of its two runs) | CPU µs/conn | app CPU µs/conn | errors | "
                      f"first {a.segment} s req/s | last {a.segment} s req/s | last ÷ first | "
                      "TIME-WAIT towards machines in the netns at the end |")
                print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
                long = []
                for label, n in (("HAProxy, before", "HAProxy"), ("privcastd", "privcastd"), ("HAProxy, after", "HAProxy")):
                    rs = [b.wrk(n, a.segment, True) for _ in range(segs)]
                    long.append((label, rs, b.time_wait()))
                ha_mean = (sum(r["reqs"] for r in long[0][1]) + sum(r["reqs"] for r in long[2][1])) / (2 * secs)
                for label, rs, t in (long[1], long[0], long[2]):
                    reqs = sum(r["reqs"] for r in rs)
                    cpu = sum(r["cpu_us"] * r["reqs"] for r in rs) / max(reqs, 1)
                    app = sum(r["app_us"] * r["reqs"] for r in rs) / max(reqs, 1)
                    rps = reqs / secs
                    print(f"| {label} | {fmt(rps)} | {rps / ha_mean:.2f}× | {cpu:.1f} | {app:.1f} | {sum(r['errors'] for r in rs)} | "
                          f"{fmt(rs[0]['rps'])} | {fmt(rs[-1]['rps'])} | {rs[-1]['rps'] / rs[0]['rps']:.2f} | {t} |")
                print(f"\nPer {a.segment} s (req/s): " + "; ".join(
                    f"{label} " + ", ".join(fmt(r["rps"]) for r in rs) for label, rs, _ in long))
        finally:
            if client:
                client.close()
            if ha_pid:
                try:
                    os.kill(ha_pid, signal.SIGTERM)
                    os.waitpid(ha_pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass


if __name__ == "__main__":
    main()
