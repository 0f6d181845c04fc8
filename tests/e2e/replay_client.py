"""Shared by the Fly-Replay e2e suites (test_replay.py, test_cluster_replay.py): the app and a
batch of curl requests run in one throwaway machine (one machine start for many requests)."""
import os
import re
import shlex

import harness

APP_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "replay_app.py")


def install():
    return harness.install_app("replay_app.py", APP_SRC)


class Reply:
    def __init__(self, text):
        text = text.replace("\r\n", "\n")  # (subprocess text mode may have done it already)
        head, _, body = text.partition("\n\n")
        while re.match(r"HTTP/[0-9.]+ 1\d\d", head):  # 100 Continue & co
            head, _, body = body.partition("\n\n")
        lines = head.split("\n")
        m = re.match(r"HTTP/[0-9.]+ (\d+)", lines[0] if lines else "")
        self.status = int(m.group(1)) if m else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = body.strip()
        parts = self.body.split(" ", 4)  # <app> <region> <machine> src=... body=...
        self.app, self.region, self.machine = (parts + ["", "", ""])[:3]
        m = re.search(r"src=(\S+)", self.body)
        self.src = dict(kv.split("=", 1) for kv in m.group(1).split(";")) if m and m.group(1) != "-" else {}
        m = re.search(r"body=(.*)$", self.body)
        self.req_body = m.group(1) if m else ""

    def __repr__(self):
        return f"Reply({self.status}, {self.headers}, {self.body!r})"


def requests(host, app, url, reqs, org=None):
    """reqs: lists of extra curl arguments (a first one "PIPE:<cmd>" feeds curl's stdin from
    <cmd>); returns one Reply per request, in order."""
    def one(r):
        pipe = ""
        if r and r[0].startswith("PIPE:"):
            pipe, r = r[0][5:] + " | ", r[1:]
        return f"{pipe}curl -sS -i -m 10 {' '.join(shlex.quote(a) for a in r)} {url}; echo; echo '@@END@@'"
    script = "; ".join(one(r) for r in reqs)
    p = harness.shell(host, app, script, org=org)
    chunks = p.stdout.split("@@END@@")[:len(reqs)]
    assert len(chunks) == len(reqs), p.stdout + p.stderr
    return [Reply(c.lstrip("\n")) for c in chunks]
