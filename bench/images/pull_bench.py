#!/usr/bin/env python3
"""First pull of a ~30 MB image from a local registry (docs/benchmarks.md, ADR 0009).

Builds the e2e test image (tests/e2e/oci_image.py) with an extra 30 MB layer of random data,
starts Debian's docker-registry on loopback inside a test netns, pushes the image with skopeo,
and times `privcast images pull` into an empty store N times (images rm + prune between runs,
so every pull is a first pull). Then times machine starts from the cached image: `machine run
IMAGE -- true` end to end through the CLI, and the supervisor's own start-to-exec from the
daemon's debug log ("machine exec'd" latency_us). Last, the cold flycast request: an app
deployed from the image (`[build] image`, busybox httpd on 8080, --ha=false) is stopped, and a
client machine curls its flycast address (by IP); curl's time_starttransfer is the first byte.
The same for the walkthrough's nginx image (scripts/demo/build-hello-image, built offline once
into <build>/demo like the quickstart does; --no-nginx skips it).

  PRIVCASTD=... PRIVCAST=... python3 bench/images/pull_bench.py [--runs 5] [--starts 30]
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e"))
import harness  # noqa: E402
import oci_image  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def nginx_layout():
    """The walkthrough's nginx image (scripts/demo/build-hello-image), built offline once per
    build directory, as the quickstart does (<build>/demo/hello-nginx.oci)."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(harness.PRIVCASTD))))
    layout = os.environ.get("PRIVCAST_DEMO_IMAGE") or os.path.join(build, "demo", "hello-nginx.oci")
    script = os.path.join(harness.REPO, "scripts", "demo", "build-hello-image")
    want = subprocess.run([script, "--recipe-hash"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        with open(os.path.join(layout, "privcast-recipe")) as f:
            have = f.read().strip()
    except OSError:
        have = ""
    if have != want:
        subprocess.run([script, layout, "v1"], check=True, timeout=600)
    return layout


def push_nginx(h, port):
    ref = f"127.0.0.1:{port}/bench/hello-nginx:v1"
    h.nsexec(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
              f"oci:{nginx_layout()}:v1", f"docker://{ref}"], timeout=300)
    return ref


def cold_requests(h, wakes, app, ref, port, what, command=None):
    """Deploys `app` from image `ref` (one machine, flycast), then `wakes` times: stop it, and a
    client machine curls its flycast IP; prints curl's time to first byte (p50/p90/max) and the
    proxy's own "started in" figures from the logs."""
    app_dir = os.path.join(h.workdir, app)
    procs = f'\n[processes]\napp = "{command}"\n' if command else ""
    os.makedirs(app_dir, exist_ok=True)
    with open(os.path.join(app_dir, "fly.toml"), "w") as f:
        f.write(f'app = "{app}"\nprimary_region = "ams"\n\n[build]\nimage = "{ref}"\n{procs}'
                f'\n[http_service]\ninternal_port = {port}\nforce_https = false\nauto_stop_machines = "stop"\n'
                f'auto_start_machines = true\nmin_machines_running = 0\n')
    h.cli(["apps", "create", app])
    h.cli(["deploy", "--flycast", "--ha=false"], cwd=app_dir, timeout=120)
    ip = harness.flycast_ip(h, app)
    mid = harness.machines(h, app)[0]["id"]
    cold = []
    for _ in range(wakes):
        h.cli(["machine", "stop", "-a", app, mid], timeout=60)
        out = harness.shell(h, app, f"curl -s -o /dev/null -w '%{{time_starttransfer}}' http://[{ip}]:80/").stdout
        try:
            cold.append(float(out) * 1000)
        except ValueError:
            pass
    logs = h.cli(["logs", "-a", app, "--no-tail"], check=False).stdout
    started = [float(x) for x in re.findall(r"machine " + mid + r" started in ([0-9.]+) ms", logs)]
    if cold:
        print(f"cold flycast request to a stopped image machine ({what}), n={len(cold)}: "
              f"p50={statistics.median(cold):.1f} ms  p90={pct(cold, 0.9):.1f} ms  max={max(cold):.1f} ms")
    if started:
        print(f"  proxy's 'started in' (start → app listening) for it, n={len(started)}: "
              f"p50={statistics.median(started):.1f} ms  max={max(started):.1f} ms")
    execs = [int(x) / 1000 for x in
             re.findall(r"machine exec'd\" machine=" + mid + r"[^\n]*?latency_us=(\d+)", h.daemon_log())]
    if execs:
        print(f"  its supervisor start → exec (daemon log), n={len(execs)}: p50={statistics.median(execs):.1f} ms  "
              f"max={max(execs):.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", help="a CMake build dir (default: $PRIVCASTD/$PRIVCAST, else ./build)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--starts", type=int, default=30)
    ap.add_argument("--mb", type=int, default=30)
    ap.add_argument("--wakes", type=int, default=15)
    ap.add_argument("--no-nginx", action="store_true", help="skip the nginx image's cold requests")
    ap.add_argument("--cold-only", action="store_true", help="only the nginx image's cold requests")
    a = ap.parse_args()
    if a.build_dir:
        harness.use_build_dir(a.build_dir)
    with harness.Host() as h:
        d = tempfile.mkdtemp(prefix="privcast-pullbench-", dir=h.tmp)
        layout = os.path.join(d, "layout")
        oci_image.build_hello(layout, extra_layer_bytes=a.mb * 1000 * 1000)
        size = sum(os.path.getsize(os.path.join(layout, "blobs", "sha256", f))
                   for f in os.listdir(os.path.join(layout, "blobs", "sha256")))
        port = random.randint(20000, 60000)
        conf = os.path.join(d, "registry.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {d}/registry\n"
                    f"http:\n  addr: 127.0.0.1:{port}\n")
        reg = subprocess.Popen(["ip", "netns", "exec", h.name, "docker-registry", "serve", conf],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            harness.wait_for(lambda: h.nsexec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                               f"http://127.0.0.1:{port}/v2/"], check=False).stdout == "200",
                             20, "docker-registry")
            ref = f"127.0.0.1:{port}/bench/big:v1"
            h.nsexec(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:v1",
                      f"docker://{ref}"], timeout=300)
            pulls = []
            for _ in range(0 if a.cold_only else a.runs):
                t0 = time.monotonic()
                h.cli(["images", "pull", ref], timeout=300)
                pulls.append((time.monotonic() - t0) * 1000)
                h.cli(["images", "prune"])
            if a.cold_only:
                h.cli(["images", "pull", ref], timeout=300)
                cold_requests(h, a.wakes, "coldnginx", push_nginx(h, port), 80, "nginx, the walkthrough's hello image")
                return
            print(f"image: {size / 1e6:.1f} MB in 3 gzip layers (busybox, app, {a.mb} MB random)")
            print(f"first pull (registry → store, layers unpacked), n={len(pulls)}: "
                  f"p50={statistics.median(pulls):.0f} ms  min={min(pulls):.0f}  max={max(pulls):.0f}")
            h.cli(["images", "pull", ref], timeout=300)
            h.cli(["apps", "create", "bench"])
            cli = []
            for _ in range(a.starts):
                t0 = time.monotonic()
                h.cli(["machine", "run", "-a", "bench", "--rm", ref, "--", "true"], timeout=60)
                cli.append((time.monotonic() - t0) * 1000)
            lat = [int(x) / 1000 for x in re.findall(r'machine exec\'d.*?latency_us=(\d+)', h.daemon_log())]
            print(f"machine run IMAGE -- true through the CLI (create + start, cached image), n={len(cli)}: "
                  f"p50={statistics.median(cli):.1f} ms  p99={pct(cli, 0.99):.1f} ms")
            if lat:
                print(f"supervisor start → app exec (daemon log), n={len(lat)}: p50={statistics.median(lat):.2f} ms  "
                      f"p99={pct(lat, 0.99):.2f} ms  max={max(lat):.2f} ms")
            cold_requests(h, a.wakes, "cold", ref, 8080, "busybox httpd", command="httpd -f -p 8080 -h /www")
            if not a.no_nginx:
                cold_requests(h, a.wakes, "coldnginx", push_nginx(h, port), 80, "nginx, the walkthrough's hello image")
        finally:
            reg.kill()
            reg.wait()


if __name__ == "__main__":
    main()
