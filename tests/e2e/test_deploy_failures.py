"""What a deploy says when its machines cannot run.

Item 2: a command a machine cannot see (a checkout under the host's /tmp; sandboxed machines see
only the host's /usr) is refused at deploy and at `machine run`, saying why, and nothing is created.
Item 3: a deploy whose machines fail to start fails (exit 1, each distinct reason once), and
`status` shows those machines as failed with the reason."""
import json
import os
import shutil

import harness
from harness import require_root, write_fly_toml

BAD_INTERPRETER = harness.app_path("bad-interpreter")
NOT_VISIBLE = ("does not exist inside the machine: a machine sees only the host's /usr (read-only; /bin, /sbin "
               "and /lib* as the host links them) and its own /etc, /tmp, /run and /var (docs/security.md); "
               "install the program under /usr/local, e.g. /usr/local/libexec/<app>/")


@require_root
class DeployFailures(harness.HostTestCase):
    def test_a_command_under_the_hosts_tmp_is_refused_at_deploy_and_machine_run(self):
        # The test's work dir is under /tmp, like a checkout cloned there.
        prog = os.path.join(self.h.workdir, "checkout", "scripts", "demo", "hello-nginx")
        os.makedirs(os.path.dirname(prog))
        shutil.copy(harness.HELLO, prog)
        self.assertTrue(prog.startswith("/tmp/"), prog)
        d = os.path.join(self.h.workdir, "tmpcmd")
        write_fly_toml(d, "tmpcmd", prog)
        self.h.cli(["apps", "create", "tmpcmd"])
        p = self.h.cli(["deploy", "--flycast"], cwd=d, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        why = (f'command "{prog}" {NOT_VISIBLE}')
        self.assertIn(f"Error: [processes] app: {why}", p.stderr)
        self.assertNotIn("deployed", p.stdout)
        app = json.loads(self.h.cli(["apps", "list", "--json"]).stdout)
        self.assertEqual([a.get("current_release") for a in app if a["name"] == "tmpcmd"], [0], "no release stored")
        self.assertEqual(self.h.cli_json(["machine", "list", "-a", "tmpcmd"]), [])
        self.assertEqual(self.h.cli_json(["ips", "list", "-a", "tmpcmd"]), [], "nothing changed")
        for shell in ([], ["--shell"]):
            p = self.h.cli(["machine", "run", "-a", "tmpcmd"] + shell + ["--", prog], check=False)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn(f"Error: {why}", p.stderr)
        self.assertEqual(self.h.cli_json(["machine", "list", "-a", "tmpcmd"]), [])

    def test_a_deploy_whose_machines_cannot_start_fails_and_status_says_why(self):
        d = os.path.join(self.h.workdir, "nostart")
        write_fly_toml(d, "nostart", BAD_INTERPRETER)
        self.h.cli(["apps", "create", "nostart"])
        p = self.h.cli(["deploy", "--flycast"], cwd=d, check=False, timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        reason = f"machine setup: execve {BAD_INTERPRETER}: No such file or directory"
        self.assertIn("Error: release v1 of nostart did not start: 2 of 2 machines failed to start: " + reason,
                      p.stderr)
        self.assertEqual(p.stderr.count(reason), 1, "each distinct reason once:\n" + p.stderr)
        self.assertNotIn("deployed", p.stdout)
        ms = self.h.cli_json(["machine", "list", "-a", "nostart"])
        self.assertEqual(len(ms), 2)
        for m in ms:
            self.assertEqual(m["state"], "failed", m)
            self.assertIn(m["id"], p.stderr)
        st = self.h.cli(["status", "-a", "nostart"]).stdout
        self.assertIn("Failed machines", st)
        for m in ms:
            self.assertRegex(st, rf"{m['id']}\s.*failed")
            self.assertIn(f"{m['id']} failed to start: {reason}", st)
        # A failed machine is never woken by a request; the app is simply unavailable.
        p = self.h.cli(["machine", "run", "--shell", "-a", "nostart", "--", "sh", "-c",
                        "curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://nostart.flycast"],
                       check=False, timeout=60)
        self.assertEqual(p.stdout.strip(), "503", p.stdout + p.stderr)
        for m in self.h.cli_json(["machine", "list", "-a", "nostart"]):
            self.assertEqual(m["state"], "failed", m)


if __name__ == "__main__":
    harness.main()
