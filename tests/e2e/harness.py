"""E2E harness: a real privcastd inside a network namespace this test creates.

Machines are sandboxed, so the programs they run (hello-nginx, the PostgreSQL and TLS apps) are
installed for the test process under /usr/local/libexec/privcast-test/<pid>/ (install_apps).

Every test host is:
  - a fresh netns `pce2e-<pid>-<n>` (lo up, unreachable routes for privcast's prefixes),
  - a temp data dir and API socket,
  - privcastd started inside the netns (`ip netns exec`), killed by pid on teardown.
Teardown is exhaustive and runs on every path: destroy apps through the CLI, SIGTERM the
daemon, kill any process left in this instance's cgroups (by pid), remove the cgroups,
unmount machine netns files, delete the netns (which removes its links, routes and nftables
table). Nothing is sent outside loopback or our own namespaces.
"""
import atexit
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("PRIVCAST_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PRIVCASTD = os.environ.get("PRIVCASTD", os.path.join(BUILD, "src", "daemon", "privcastd"))
PRIVCAST = os.environ.get("PRIVCAST", os.path.join(BUILD, "cli", "privcast"))

_counter = [0]


def use_build_dir(build_dir):
    """Points the harness at the binaries of a CMake build dir; returns its absolute path."""
    global PRIVCASTD, PRIVCAST
    b = os.path.abspath(build_dir)
    PRIVCASTD = os.path.join(b, "src", "daemon", "privcastd")
    PRIVCAST = os.path.join(b, "cli", "privcast")
    return b


def is_root():
    return os.geteuid() == 0


def run(cmd, check=True, timeout=60, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def wait_for(pred, timeout=20.0, what="condition"):
    """Waits for an observable event (not a fixed sleep): polls pred until true or deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Host:
    """One privcastd in its own netns."""

    def __init__(self, region="ams", extra_args=(), daemon_prefix=()):
        """daemon_prefix: argv that execs privcastd (e.g. taskset -c 1), so the pid stays its."""
        _counter[0] += 1
        self.name = f"pce2e-{os.getpid()}-{_counter[0]}"
        self.instance = self.name
        self.region = region
        self.extra_args = list(extra_args)
        self.daemon_prefix = list(daemon_prefix)
        self.tmp = tempfile.mkdtemp(prefix="privcast-e2e-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.sock = os.path.join(self.tmp, "api.sock")
        self.log_path = os.path.join(self.tmp, "privcastd.log")
        self.workdir = os.path.join(self.tmp, "work")
        os.makedirs(self.workdir)
        self.proc = None
        self._log = None

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self):
        try:
            install_apps()
            run(["ip", "netns", "add", self.name])
            self.nsexec(["ip", "link", "set", "lo", "up"])
            # docs/engineering.md "Safety": nothing for privcast's prefixes may follow a default route out.
            self.nsexec(["ip", "-6", "route", "add", "unreachable", "fdaa::/16"], check=False)
            self.nsexec(["ip", "route", "add", "unreachable", "172.19.0.0/16"], check=False)
            self.start_daemon()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def start_daemon(self, wait=True):
        self._log = open(self.log_path, "ab")
        cmd = ["ip", "netns", "exec", self.name] + self.daemon_prefix + [PRIVCASTD, "--data-dir", self.data_dir,
               "--region", self.region, "--api", "unix:" + self.sock, "--instance", self.instance,
               "--log-level", "debug"] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        if wait:
            wait_for(lambda: self.proc.poll() is not None or self.api_ready(), 30, "privcastd API socket")
            if self.proc.poll() is not None:
                raise AssertionError(f"privcastd exited {self.proc.returncode}:\n{self.daemon_log()}")

    def api_ready(self):
        if not os.path.exists(self.sock):
            return False
        return self.cli(["orgs", "list"], check=False).returncode == 0

    def stop_daemon(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def daemon_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        with contextlib.suppress(Exception):
            if self.proc and self.proc.poll() is None:
                for app in self.app_names():
                    self.cli(["apps", "destroy", app, "--yes"], check=False, timeout=60)
        with contextlib.suppress(Exception):
            self.stop_daemon(signal.SIGTERM)
        self._kill_cgroups()
        self._unmount_netns()
        run(["ip", "netns", "del", self.name], check=False)
        if os.environ.get("PRIVCAST_E2E_KEEP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _kill_cgroups(self):
        dirs = sorted(glob.glob(f"/sys/fs/cgroup/*/{self.instance}") +
                      glob.glob(f"/sys/fs/cgroup/*/privcast-{self.instance}") +
                      glob.glob(f"/sys/fs/cgroup/{self.instance}") +
                      glob.glob(f"/sys/fs/cgroup/privcast-{self.instance}"))
        for d in dirs:
            for _ in range(50):
                pids = []
                for procs in glob.glob(os.path.join(d, "**", "cgroup.procs"), recursive=True):
                    with contextlib.suppress(OSError), open(procs) as f:
                        pids += [int(x) for x in f.read().split()]
                if not pids:
                    break
                for fz in glob.glob(os.path.join(d, "**", "freezer.state"), recursive=True):
                    with contextlib.suppress(OSError), open(fz, "w") as f:
                        f.write("THAWED")
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.02)
            # Bottom-up, hidden dirs included (the supervisor's .freezer-pin).
            for root, _, _ in sorted(os.walk(d), key=lambda w: len(w[0]), reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(root)

    def _unmount_netns(self):
        for f in glob.glob(os.path.join(self.data_dir, "run", "netns", "*")):
            run(["umount", "-l", f], check=False)
            with contextlib.suppress(OSError):
                os.unlink(f)

    # -- helpers ---------------------------------------------------------------
    def nsexec(self, cmd, check=True, timeout=60, **kw):
        return run(["ip", "netns", "exec", self.name] + cmd, check=check, timeout=timeout, **kw)

    def env(self):
        e = dict(os.environ)
        e["PRIVCAST_API"] = "unix:" + self.sock
        return e

    def cli(self, args, check=True, timeout=60, cwd=None, input=None):
        return run([PRIVCAST] + args, check=check, timeout=timeout, cwd=cwd or self.workdir,
                   env=self.env(), input=input)

    def cli_json(self, args, **kw):
        p = self.cli(args + ["--json"], **kw)
        return json.loads(p.stdout)

    def metric(self, series):
        """The value of one /metrics series (name with its labels, as printed), 0 when absent."""
        out = self.nsexec(["curl", "-sS", "--unix-socket", self.sock, "http://privcastd/metrics"]).stdout
        m = re.search("^" + re.escape(series) + r" (\d+)$", out, re.M)
        return int(m.group(1)) if m else 0

    def local_ca(self):
        """The PEM of the daemon's local TLS CA (<data-dir>/tls/ca.crt), once it exists."""
        path = os.path.join(self.data_dir, "tls", "ca.crt")
        wait_for(lambda: os.path.exists(path), 30, "the local CA")
        with open(path) as f:
            return f.read()

    def app_names(self):
        p = self.cli(["apps", "list", "--json"], check=False, timeout=20)
        if p.returncode != 0:
            return []
        try:
            return [a.get("name") for a in json.loads(p.stdout)]
        except ValueError:
            return []


class HostTestCase(unittest.TestCase):
    """A suite sharing one Host (cls.h): HOST_ARGS are privcastd's extra flags (DAEMON_PREFIX what
    execs it); setUpHost()
    (a classmethod to override) prepares it once. The Host is cleaned up on every path,
    including a setUpHost that fails."""
    HOST_ARGS = ()
    DAEMON_PREFIX = ()  # argv that execs privcastd (Host's daemon_prefix)

    @classmethod
    def setUpClass(cls):
        cls.h = Host(extra_args=cls.HOST_ARGS, daemon_prefix=cls.DAEMON_PREFIX).__enter__()
        cls.addClassCleanup(cls.h.cleanup)
        cls.setUpHost()

    @classmethod
    def setUpHost(cls):
        pass


def require_root(test):
    """Root e2e tests: CI runs as root; elsewhere they are skipped with the reason."""
    return unittest.skipUnless(is_root(), "needs root for network namespaces, cgroups and nftables")(test)


def main():
    import sys
    runner = unittest.TextTestRunner(verbosity=2)
    result = unittest.main(module="__main__", testRunner=runner, exit=False).result
    passed = max(0, result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped))
    print(f"{passed} passed, {len(result.failures) + len(result.errors)} failed, {len(result.skipped)} skipped")
    sys.exit(0 if result.wasSuccessful() else 1)


# -- app helpers shared by the e2e suites ---------------------------------------------------
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Machines are sandboxed: they see the host's /usr read-only and nothing of this checkout.
# So the programs the tests run as machines are installed, for the duration of the test
# process, under /usr/local/libexec/privcast-test/<pid>/ (one directory per test process, so
# parallel runs never share or remove each other's), and removed at exit; directories of
# test processes that are gone are removed at the next install.
APPS_ROOT = "/usr/local/libexec/privcast-test"
APPS_DIR = os.path.join(APPS_ROOT, str(os.getpid()))
_APP_SOURCES = {
    "hello-nginx": os.path.join(REPO, "scripts", "demo", "hello-nginx"),
    "postgres-machine": os.path.join(REPO, "tests", "e2e", "apps", "postgres-machine"),
    "tls_backend.py": os.path.join(REPO, "tests", "e2e", "apps", "tls_backend.py"),
    "health_app.py": os.path.join(REPO, "tests", "e2e", "apps", "health_app.py"),
    "bad-interpreter": os.path.join(REPO, "tests", "e2e", "apps", "bad-interpreter"),
    "fair_share_client.py": os.path.join(REPO, "tests", "e2e", "apps", "fair_share_client.py"),
}
_installed = [False]


def app_path(name):
    """Where a test app is inside a machine (and on the host while the test runs)."""
    assert name in _APP_SOURCES, name
    return os.path.join(APPS_DIR, name)


def install_apps():
    if _installed[0]:
        return
    with contextlib.suppress(OSError):
        for d in os.listdir(APPS_ROOT):
            if d.isdigit() and not os.path.exists(f"/proc/{d}"):
                shutil.rmtree(os.path.join(APPS_ROOT, d), ignore_errors=True)
    os.makedirs(APPS_DIR, exist_ok=True)
    _installed[0] = True
    atexit.register(remove_apps)
    for name, src in _APP_SOURCES.items():
        install_app(name, src)


def install_app(name, src):
    """Copies a program into this process's app dir (see APPS_ROOT); returns its path."""
    install_apps()
    dst = os.path.join(APPS_DIR, name)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755)
    return dst


def remove_apps():
    shutil.rmtree(APPS_DIR, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(APPS_ROOT)  # only when no other test process uses it


HELLO = app_path("hello-nginx")


def write_fly_toml(dirpath, app, command, internal_port=80, extra="", http_service=True,
                   auto_stop="stop", min_running=0):
    os.makedirs(dirpath, exist_ok=True)
    text = f'app = "{app}"\nprimary_region = "ams"\n\n[processes]\napp = "{command}"\n'
    if http_service:
        text += (f"\n[http_service]\ninternal_port = {internal_port}\nforce_https = false\n"
                 f'auto_stop_machines = "{auto_stop}"\nauto_start_machines = true\n'
                 f"min_machines_running = {min_running}\nprocesses = [\"app\"]\n")
    text += extra
    with open(os.path.join(dirpath, "fly.toml"), "w") as f:
        f.write(text)
    return os.path.join(dirpath, "fly.toml")


def deploy(host, app, command, internal_port=80, ha=True, strategy="immediate", **kw):
    """Creates the app, writes its fly.toml and deploys with a flycast address; returns its dir.
    strategy "immediate" (the default here) returns once the machines started, as deploy did
    before it waited for health checks; "rolling" is privcast deploy's own default."""
    d = os.path.join(host.workdir, app)
    write_fly_toml(d, app, command, internal_port, **kw)
    host.cli(["apps", "create", app], check=False)
    args = ["deploy", "--flycast", "--strategy", strategy] + ([] if ha else ["--ha=false"])
    host.cli(args, cwd=d, timeout=120)
    return d


def shell(host, app, script, org=None, network=None, timeout=120, check=False):
    """Runs `sh -c script` in a throwaway machine of `app` (optionally in another org's network)."""
    args = ["machine", "run", "--shell", "-a", app]
    if org:
        args += ["--org", org]
    if network:
        args += ["--network", network]
    return host.cli(args + ["--", "sh", "-c", script], check=check, timeout=timeout)


def cgroup_pids(instance, machine_id):
    """Host pids of every process in a machine's cgroups."""
    pids = set()
    for procs in glob.glob(f"/sys/fs/cgroup/freezer/**/privcast-{instance}/{machine_id}/cgroup.procs", recursive=True) + \
            glob.glob(f"/sys/fs/cgroup/**/privcast-{instance}/{machine_id}/cgroup.procs", recursive=True):
        with open(procs) as f:
            pids |= {int(x) for x in f.read().split()}
    return pids


def rss_kib(pid):
    """VmRSS of a process (KiB): what the benchmarks report as a daemon's memory."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def with_ca(ca_pem, script):
    """A shell script for a machine that first writes the CA into its private /tmp/ca.crt."""
    return f"cat > /tmp/ca.crt <<'PEM'\n{ca_pem}PEM\n{script}"


def machines(host, app):
    return [m for m in host.cli_json(["machine", "list", "-a", app]) if not m.get("auto_destroy")]


def flycast_ip(host, app, org=None, service=""):
    """The app's flycast address (or, with `service`, that service's: <service>.svc.<app>.flycast)."""
    for ip in host.cli_json(["ips", "list", "-a", app]):
        if (org is None or ip.get("org") == org) and (ip.get("service") or "") == service:
            return ip.get("ip") or ip.get("address")
    return None
