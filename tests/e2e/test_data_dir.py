"""Issue 14 item 6 end to end: the data dir is private, and a lost store is not a first start.

A daemon that ran machines is stopped; its store.db is emptied (a disk mishap, a bad restore).
The next start must refuse (a new host id would orphan the machines still running) and say
how to recover; `--reset-store` is the deliberate way to begin again.
"""
import os
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


if __name__ == "__main__":
    harness.main()
