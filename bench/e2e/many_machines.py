#!/usr/bin/env python3
"""Many machines on one host: start N small machines (`sleep`), list them, stop them
all, through a real privcastd in its own network namespace; report wall times and the
daemon's memory (VmRSS) before and with N machines.

  bench/e2e/many_machines.py --build-dir build [-n 1000] [--image]

--image: the machines run the e2e test image (tests/e2e/oci_image.py, busybox; `[build] image =
"oci:..."`); then the disk the image store and the machines' writable layers use is reported
too (N machines of one image ≈ one image plus their writable layers).
"""
import subprocess
import argparse
import concurrent.futures
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e"))
import harness  # noqa: E402
import oci_image  # noqa: E402


def du_bytes(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--image", action="store_true")
    a = ap.parse_args()
    b = harness.use_build_dir(a.build_dir)
    with harness.Host() as h:
        pid = int(open(os.path.join(h.data_dir, "lock")).read().split()[0])
        rss0 = harness.rss_kib(pid)
        d = os.path.join(h.workdir, "many")
        extra = ""
        if a.image:
            layout = os.path.join(h.tmp, "image-layout")
            oci_image.build_hello(layout)
            extra = f'\n[build]\n  image = "oci:{layout}:v1"\n'
        harness.write_fly_toml(d, "many", "sleep 100000", http_service=False, extra=extra)
        h.cli(["apps", "create", "many"])
        h.cli(["deploy", "--ha=false"], cwd=d, timeout=120)
        t = time.monotonic()
        h.cli(["scale", "count", str(a.n), "-a", "many"], cwd=d, timeout=3600)
        harness.wait_for(lambda: sum(m["state"] == "started" for m in harness.machines(h, "many")) == a.n, 3600,
                         f"{a.n} machines started")
        t_start = time.monotonic() - t
        t = time.monotonic()
        ms = harness.machines(h, "many")
        t_list = time.monotonic() - t
        rss1 = harness.rss_kib(pid)
        t = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda m: h.cli(["machine", "stop", m["id"], "-a", "many"], timeout=600), ms))
        harness.wait_for(lambda: all(m["state"] == "stopped" for m in harness.machines(h, "many")), 3600,
                         "all stopped")
        t_stop = time.monotonic() - t
        print(f"machines: {a.n}")
        print(f"start all (scale count {a.n} → every machine started): {t_start:.1f} s "
              f"({t_start / a.n * 1000:.1f} ms per machine)")
        print(f"list ({len(ms)} machines, privcast machine list --json): {t_list * 1000:.0f} ms")
        print(f"stop all (8 CLI clients in parallel): {t_stop:.1f} s")
        if a.image:
            img = du_bytes(os.path.join(h.data_dir, "images"))
            mach = du_bytes(os.path.join(h.data_dir, "machines"))
            print(f"disk: image store {img / 1e6:.2f} MB (blobs + unpacked layers, once), machines' state dirs "
                  f"with their writable layers {mach / 1e6:.2f} MB ({mach / a.n / 1024:.1f} KiB per machine)")
        print(f"privcastd VmRSS: {rss0 / 1024:.1f} MiB idle, {rss1 / 1024:.1f} MiB with {a.n} machines "
              f"({(rss1 - rss0) / a.n:.1f} KiB per machine)")
        h.cli(["scale", "count", "0", "-a", "many"], cwd=d, timeout=3600)
        harness.wait_for(lambda: not harness.machines(h, "many"), 3600, "all destroyed")


if __name__ == "__main__":
    main()
