#!/usr/bin/python3
"""A stand-in for a model server: a tiny bigram text model, trained at start from a paragraph
that ships with it (no download, a few milliseconds of CPU), answering prompts over HTTP.

  POST /generate   {"prompt": "...", "max_tokens": 24}  -> {"completion": "...", ...}
  GET  /generate?prompt=...&max_tokens=24                 (the same, for curl)
  GET  /healthz                                          -> "ok"

It listens on 0.0.0.0:$PORT (default 8080), as flycast needs, and says in every answer which
machine answered and when that machine's process started (so a wake is visible).
Python standard library only: it runs on the host's /usr in a privcast machine.
"""
import json
import os
import random
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CORPUS = """
private networks keep the model close to the code that calls it . the proxy wakes the model
when a request arrives and stops it when the model has been idle for a while . a request from
another organisation never reaches the model because its network has no address for it . the
front end asks a question and the model answers with a few words about private networks and
idle machines . small models answer quickly and large models answer slowly but every model
sleeps when nobody asks .
"""

STARTED = time.time()


def train(text):
    words = text.split()
    table = {}
    for a, b in zip(words, words[1:]):
        table.setdefault(a, []).append(b)
    return words, table


WORDS, TABLE = train(CORPUS)


def generate(prompt, max_tokens):
    # Deterministic per prompt: the same question gets the same answer on any machine.
    rng = random.Random(prompt)
    known = [w for w in prompt.lower().split() if w in TABLE]
    word = known[-1] if known else rng.choice(WORDS)
    out = []
    for _ in range(max_tokens):
        word = rng.choice(TABLE.get(word) or WORDS)
        out.append(word)
        if word == "." and len(out) > 4:
            break
    return " ".join(out)


class Handler(BaseHTTPRequestHandler):
    server_version = "stand-in-model/1"

    def _reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, prompt, max_tokens):
        t0 = time.perf_counter()
        completion = generate(prompt, max(1, min(int(max_tokens), 256)))
        self._reply(200, json.dumps({
            "model": "stand-in-bigram",
            "prompt": prompt,
            "completion": completion,
            "machine": os.environ.get("FLY_MACHINE_ID", os.uname().nodename),
            "process_group": os.environ.get("FLY_PROCESS_GROUP", ""),
            "machine_started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(STARTED)),
            "inference_ms": round((time.perf_counter() - t0) * 1000, 3),
        }) + "\n")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self._reply(200, "ok\n", "text/plain")
        if url.path != "/generate":
            return self._reply(404, json.dumps({"error": "try /generate?prompt=..."}) + "\n")
        q = urllib.parse.parse_qs(url.query)
        try:
            self._answer(q.get("prompt", [""])[0], q.get("max_tokens", ["24"])[0])
        except ValueError:
            self._reply(400, json.dumps({"error": "max_tokens must be a number"}) + "\n")

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/generate":
            return self._reply(404, json.dumps({"error": "POST /generate"}) + "\n")
        try:
            n = int(self.headers.get("Content-Length", "0"))
            if n > 1 << 20:
                return self._reply(413, json.dumps({"error": "prompt too large"}) + "\n")
            body = json.loads(self.rfile.read(n) or b"{}")
            self._answer(str(body.get("prompt", "")), body.get("max_tokens", 24))
        except (ValueError, TypeError, AttributeError):
            self._reply(400, json.dumps({"error": "expected JSON {\"prompt\": \"...\"}"}) + "\n")

    def log_message(self, fmt, *args):  # one line per request on stdout: `privcast logs` shows it
        print("model: " + fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    srv = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"model: stand-in-bigram serving on :{port} ({len(WORDS)} words of corpus)", flush=True)
    srv.serve_forever()
