"""Volumes, end to end through the CLI and a real privcastd: volumes create/list/
show/destroy; deploy with [mounts] attaches the app's volume (and creates a missing one); what
the machine writes survives stop/start, a redeploy and a daemon restart while its root stays
ephemeral; the attach rules (missing volume, attached elsewhere, another app's) and destroy
refused while attached; a machine of another org cannot reach the volume's files."""
import json
import os
import unittest

import harness
from harness import machines, require_root, wait_for, write_fly_toml

# Each start appends a line to the volume and to the (ephemeral) root, then sleeps.
CMD = "sh -c 'echo boot >> /data/boots; echo boot >> /root-boots; echo root-boots=$(wc -l < /root-boots); exec sleep 100000'"
MOUNTS = '\n[mounts]\nsource = "data"\ndestination = "/data"\n'


@require_root
class Volumes(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        h = cls.h
        h.cli(["apps", "create", "notes"])
        cls.vol = json.loads(h.cli(["volumes", "create", "data", "-a", "notes", "--size", "2", "-y", "--json"]).stdout)
        cls.dir = os.path.join(h.workdir, "notes")
        write_fly_toml(cls.dir, "notes", CMD, http_service=False, extra=MOUNTS)

    def storage(self, vol_id):
        return os.path.join(self.h.data_dir, "volumes", vol_id, "data")

    def boots(self, vol_id):
        try:
            with open(os.path.join(self.storage(vol_id), "boots")) as f:
                return f.read().count("boot")
        except OSError:
            return 0

    def wait_boots(self, vol_id, n, machine_id=None):
        wait_for(lambda: self.boots(vol_id) == n, 30, f"{n} boots on the volume")
        if machine_id:  # and the start's last line is out (a stop right after could cut it)
            wait_for(lambda: self.log(machine_id).count("root-boots=") == n, 30, f"{n} starts in the log")

    def log(self, machine_id):
        try:
            with open(os.path.join(self.h.data_dir, "logs", machine_id + ".log")) as f:
                return f.read()
        except OSError:
            return ""

    def the_machine(self):
        ms = machines(self.h, "notes")
        self.assertEqual(len(ms), 1, ms)
        return ms[0]

    def test_1_create_list_show(self):
        v = self.vol
        self.assertRegex(v["id"], r"^vol_[0-9a-z]{16}$")
        self.assertEqual((v["name"], v["size_gb"], v["region"], v["state"]), ("data", 2, "ams", "created"))
        self.assertIsNone(v["attached_machine_id"])
        listed = self.h.cli_json(["volumes", "list", "-a", "notes"])
        self.assertEqual([x["id"] for x in listed], [v["id"]])
        for k in ("id", "name", "state", "size_gb", "region", "attached_machine_id", "created_at"):
            self.assertIn(k, listed[0])
        table = self.h.cli(["volumes", "list", "-a", "notes"]).stdout
        self.assertIn("ATTACHED VM", table)
        self.assertIn(v["id"], table)
        self.assertIn("2GB", table)
        self.assertIn(v["id"], self.h.cli(["volumes", "show", v["id"]]).stdout)

    def test_2_data_survives_stop_start_deploy_and_daemon_restart(self):
        h, vid = self.h, self.vol["id"]
        h.cli(["deploy"], cwd=self.dir, timeout=120)
        m = self.the_machine()  # one machine for a group with [mounts] (no HA pair)
        vols = h.cli_json(["volumes", "list", "-a", "notes"])
        self.assertEqual(len(vols), 1, "the existing volume is used, none created")
        self.assertEqual(vols[0]["attached_machine_id"], m["id"])
        self.wait_boots(vid, 1, m["id"])
        st = os.stat(os.path.join(self.storage(vid), "boots"))
        self.assertEqual((st.st_uid, st.st_gid), (0, 0), "canonical ids on disk (idmapped mount)")
        self.assertEqual(os.stat(os.path.join(h.data_dir, "volumes")).st_mode & 0o777, 0o700)

        h.cli(["machine", "stop", m["id"], "-a", "notes"])
        h.cli(["machine", "start", m["id"], "-a", "notes"])
        self.wait_boots(vid, 2, m["id"])

        # A new release: the machine is replaced in place and keeps its volume.
        write_fly_toml(self.dir, "notes", CMD, http_service=False, extra=MOUNTS + '\n[env]\nREV = "2"\n')
        h.cli(["deploy"], cwd=self.dir, timeout=120)
        self.wait_boots(vid, 3, m["id"])
        self.assertEqual(self.the_machine()["id"], m["id"])

        h.stop_daemon()
        h.start_daemon()
        h.cli(["machine", "stop", m["id"], "-a", "notes"])
        h.cli(["machine", "start", m["id"], "-a", "notes"])
        self.wait_boots(vid, 4, m["id"])
        self.assertEqual(h.cli_json(["volumes", "show", vid])["attached_machine_id"], m["id"])

        # The root stays ephemeral: the machine's own file had one line at every start.
        self.assertEqual(self.log(m["id"]).count("root-boots=1"), 4, self.log(m["id"]))
        p = h.cli(["machine", "run", "--shell", "-a", "notes", "--", "sh", "-c", "test -e /data && echo has-data || echo no-data"])
        self.assertEqual(p.stdout.strip(), "no-data", "a machine without a mount sees nothing of the volume")

    def test_3_attach_rules_and_errors(self):
        h, vid = self.h, self.vol["id"]
        # No volume name: a usage error.
        p = h.cli(["volumes", "create", "-a", "notes"], check=False)
        self.assertEqual(p.returncode, 1)  # usage errors exit 1, as flyctl
        self.assertIn("name is required", p.stderr)
        # Missing volume by name.
        p = h.cli(["machine", "run", "-a", "notes", "-v", "nope:/data", "--", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('has no volume named "nope"', p.stderr)
        # Attached elsewhere (the deployed machine has it).
        p = h.cli(["machine", "run", "-a", "notes", "-v", vid + ":/data", "--", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is attached to machine", p.stderr)
        # Another app's volume.
        h.cli(["apps", "create", "other"], check=False)
        p = h.cli(["machine", "run", "-a", "other", "-v", vid + ":/data", "--", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('belongs to app "notes"', p.stderr)
        # Bad spec, bad destination.
        p = h.cli(["machine", "run", "-a", "notes", "-v", "data", "--", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NAME_OR_ID:/path", p.stderr)
        # Destroy refused while attached.
        p = h.cli(["volumes", "destroy", vid, "-y"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("destroy that machine first", p.stderr)
        # [mounts] without source: file:line:col.
        bad = os.path.join(h.workdir, "bad")
        write_fly_toml(bad, "notes", CMD, http_service=False, extra='\n[mounts]\ndestination = "/data"\n')
        p = h.cli(["config", "validate"], cwd=bad, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr + p.stdout, r"fly\.toml:\d+:\d+: mounts\[0\]: missing source")

    def test_4_machine_run_volume_and_other_org(self):
        h = self.h
        spare = h.cli_json(["volumes", "create", "scratch", "-a", "notes", "-y"])
        p = h.cli(["machine", "run", "--shell", "-a", "notes", "-v", "scratch:/var/lib/scratch", "--", "sh", "-c",
                   "echo secret > /var/lib/scratch/s; stat -c '%u' /var/lib/scratch/s"])
        self.assertEqual(p.stdout.strip(), "0")
        # The --shell machine is gone, so the volume is free again and kept its data.
        wait_for(lambda: h.cli_json(["volumes", "show", spare["id"]])["attached_machine_id"] is None, 20, "detach")
        with open(os.path.join(self.storage(spare["id"]), "s")) as f:
            self.assertEqual(f.read(), "secret\n")
        # A machine of another org looks for the volume's files: nothing of the data dir exists.
        h.cli(["orgs", "create", "evil"], check=False)
        h.cli(["apps", "create", "evil-app", "--org", "evil"], check=False)
        store = self.storage(spare["id"])
        p = h.cli(["machine", "run", "--shell", "-a", "evil-app", "--", "sh", "-c",
                   f"cat {store}/s; ls {h.data_dir}/volumes; find / -xdev -name s -path '*scratch*' 2>/dev/null; "
                   f"grep -c volumes /proc/self/mountinfo; echo end"], check=False)
        self.assertNotIn("secret", p.stdout)
        self.assertTrue(p.stdout.strip().endswith("0\nend"), p.stdout)
        # And it cannot take the volume by id either.
        p = h.cli(["machine", "run", "-a", "evil-app", "-v", spare["id"] + ":/data", "--", "true"], check=False)
        self.assertIn('belongs to app "notes"', p.stderr)
        # Destroy: the record and the storage go.
        h.cli(["volumes", "destroy", spare["id"], "-y"])
        wait_for(lambda: not os.path.exists(os.path.dirname(store)), 20, "storage removed")

    def test_5_deploy_creates_missing_volumes_and_app_destroy_removes_them(self):
        h = self.h
        d = os.path.join(h.workdir, "fresh")
        h.cli(["apps", "create", "fresh"])
        write_fly_toml(d, "fresh", CMD, http_service=False,
                       extra='\n[mounts]\nsource = "cache"\ndestination = "/data"\ninitial_size = "3gb"\n')
        h.cli(["deploy"], cwd=d, timeout=120)
        vols = h.cli_json(["volumes", "list", "-a", "fresh"])
        self.assertEqual([(v["name"], v["size_gb"]) for v in vols], [("cache", 3)])
        self.wait_boots(vols[0]["id"], 1)
        for m in machines(h, "fresh"):
            h.cli(["machine", "stop", m["id"], "-a", "fresh"])
        h.cli(["apps", "destroy", "fresh", "-y"])
        wait_for(lambda: not os.path.exists(os.path.dirname(self.storage(vols[0]["id"]))), 20, "storage removed")


if __name__ == "__main__":
    harness.main()
