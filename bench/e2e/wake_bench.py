#!/usr/bin/env python3
"""Wake benchmark: first byte from a stopped / suspended machine through flycast,
minus the app's own listen time, through a real privcastd in its own network namespace.

  bench/e2e/wake_bench.py --build-dir build [--runs 20]

The app (instant_listener) listens at once and logs its own main()→listen() time. A client
machine curls the flycast address (by IP: no DNS, no pre-warm) after each stop (or suspend);
curl's time_starttransfer is the first byte. overhead = first byte − app listen time.
Reports p50/p90 for both paths. Cleans up everything (namespaces, cgroups) on every path.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    b = harness.use_build_dir(a.build_dir)
    # Machines see the host's /usr, not the build dir: install the listener where they can.
    app_bin = harness.install_app("instant_listener", os.path.join(b, "bench", "e2e", "instant_listener"))
    results = {}
    with harness.Host() as h:
        extra = '\n[env]\nPORT = "8080"\n'
        harness.deploy(h, "wake", app_bin, 8080, ha=False, extra=extra)
        ip = harness.flycast_ip(h, "wake")
        mid = harness.machines(h, "wake")[0]["id"]
        listen_log = os.path.join(h.data_dir, "logs", mid + ".log")

        def app_times():
            if not os.path.exists(listen_log):
                return []
            return [l.split("=", 1)[1] for l in open(listen_log).read().split() if l.startswith("listen_us=")]
        # One long-lived client machine: a shell that curls on each line we send.
        for mode in ("running", "stop", "suspend"):
            want = {"running": "started", "stop": "stopped", "suspend": "suspended"}[mode]
            totals, apps = [], []
            for i in range(a.runs + 1):
                if mode != "running":
                    h.cli(["machine", mode, mid, "-a", "wake"])
                harness.wait_for(lambda: h.cli_json(["machine", "status", mid, "-a", "wake"])["state"] == want, 30, want)
                before = app_times()
                p = harness.shell(h, "wake", f"curl -s -o /dev/null -w '%{{time_starttransfer}}' --max-time 30 http://[{ip}]:80/")
                if p.returncode != 0:
                    raise SystemExit(f"curl failed: {p.stdout} {p.stderr}")
                after = app_times()
                app_us = int(after[-1]) if len(after) > len(before) else 0  # resume: the app does not restart
                if i == 0:
                    continue  # warm-up
                totals.append(float(p.stdout.strip()) * 1e6)
                apps.append(app_us)
            over = sorted(t - ap_ for t, ap_ in zip(totals, apps))
            results[mode] = (statistics.median(totals), statistics.median(apps), statistics.median(over),
                             over[int(len(over) * 0.9) - 1])
    base = results["running"][0]
    print(f"wake overhead vs the running baseline: stopped {(results['stop'][2] - base) / 1000:.2f} ms, "
          f"suspended {(results['suspend'][2] - base) / 1000:.2f} ms (p50)")
    print(f"{'path':<10} {'first byte p50':>15} {'app listen p50':>15} {'overhead p50':>13} {'overhead p90':>13}")
    for mode, (t, app, o50, o90) in results.items():
        name = {"running": "running", "stop": "stopped", "suspend": "suspended"}[mode]
        print(f"{name:<19} {t / 1000:>12.2f} ms {app / 1000:>12.3f} ms {o50 / 1000:>10.2f} ms {o90 / 1000:>10.2f} ms")


if __name__ == "__main__":
    main()
