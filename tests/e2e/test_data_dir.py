"""End to end: the data dir is private, and a lost store is not a first start.

A daemon that ran machines is stopped; its store.db is emptied (a disk mishap, a bad restore).
The next start must refuse (a new host id would orphan the machines still running) and say
how to recover; `--reset-store` is the deliberate way to begin again.
"""
import os
import re
import stat

import harness
from harness import deploy, require_root


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@require_root
class DataDir(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "keep", harness.HELLO, 80, auto_stop="off", ha=False)

    def test_private_modes_and_lost_store_refused_until_reset(self):
        d = self.h.data_dir
        self.assertEqual(mode(d), 0o700)
        for f in ("store.db", "store.db-wal", "store.db-shm"):
            if os.path.exists(os.path.join(d, f)):
                self.assertEqual(mode(os.path.join(d, f)), 0o600, f)
        with open(os.path.join(d, "host-id")) as f:
            host_id = f.read().strip()
        self.h.stop_daemon()
        for f in ("store.db-wal", "store.db-shm"):
            if os.path.exists(os.path.join(d, f)):
                os.unlink(os.path.join(d, f))
        open(os.path.join(d, "store.db"), "w").close()  # emptied
        self.h.start_daemon(wait=False)
        self.assertEqual(self.h.proc.wait(30), 1)
        log = self.h.daemon_log()
        self.assertIn("is empty or missing", log)
        self.assertIn(f"host-id {host_id}", log)
        self.assertIn("--reset-store", log)
        self.h.stop_daemon()
        self.h.extra_args.append("--reset-store")
        self.h.start_daemon()
        with open(os.path.join(d, "host-id")) as f:
            self.assertNotEqual(f.read().strip(), host_id)  # a new host, deliberately


WRITER = ("i=0; while [ $i -lt 60 ]; do head -c 16000 /dev/zero | tr '\\0' x; echo; i=$((i+1)); "
          "sleep 0.05; done; echo DONE; sleep 600")


@require_root
class MachineLogs(harness.HostTestCase):
    """A machine's log is rotated past --machine-log-max-size, keeping --machine-log-files copies."""
    HOST_ARGS = ["--machine-log-max-size", "64k", "--machine-log-files", "2"]

    @classmethod
    def setUpHost(cls):
        cls.h.cli(["apps", "create", "chatty"])

    def test_log_is_bounded_and_rotated(self):
        out = self.h.cli(["machine", "run", "-a", "chatty", "--", "sh", "-c", WRITER]).stdout
        mid = re.search(r"\b([0-9a-f]{14})\b", out).group(1)
        log = os.path.join(self.h.data_dir, "logs", mid + ".log")
        def done():  # a rotation may already have moved the last line into a copy
            return any("DONE" in open(p).read() for p in (log, log + ".1", log + ".2") if os.path.exists(p))

        harness.wait_for(done, timeout=60, what="the writer to finish")
        harness.wait_for(lambda: os.path.getsize(log) <= 64 * 1024, timeout=10, what="the last rotation")
        # ~960 kB written; on disk: the log and two rotated copies, each at most the limit plus
        # what was written during one check interval (0.5 s, ~160 kB here).
        self.assertTrue(os.path.exists(log + ".1") and os.path.exists(log + ".2"))
        self.assertFalse(os.path.exists(log + ".3"))
        total = sum(os.path.getsize(p) for p in (log, log + ".1", log + ".2"))
        self.assertLess(total, 3 * (64 + 200) * 1024, total)
        # Nothing is lost but the copytruncate window: the last lines are in the log or its
        # newest copy (a rotation may have run after them), and `privcast logs` still reads it.
        with open(log) as cur, open(log + ".1") as prev:
            self.assertIn("DONE", cur.read() + prev.read())
        self.h.cli(["logs", "-a", "chatty", "--no-tail", "--lines", "1000"])


if __name__ == "__main__":
    harness.main()
