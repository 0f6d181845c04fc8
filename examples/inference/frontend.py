#!/usr/bin/python3
"""The front end of the inference example: takes a user's question and asks the private model
over flycast ($MODEL_URL, e.g. http://generate.svc.llm.flycast/generate). The model may be
stopped: the flycast proxy wakes it, so the first answer takes a cold start.

  GET /ask?prompt=...   -> the model's JSON answer plus how long the call took
Listens on 0.0.0.0:$PORT (default 8080). Python standard library only.
"""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_URL = os.environ.get("MODEL_URL", "http://generate.svc.llm.flycast/generate")


class Handler(BaseHTTPRequestHandler):
    server_version = "inference-frontend/1"

    def _reply(self, code, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self._reply(200, {"ok": True})
        if url.path != "/ask":
            return self._reply(404, {"error": "try /ask?prompt=..."})
        prompt = urllib.parse.parse_qs(url.query).get("prompt", [""])[0]
        body = json.dumps({"prompt": prompt, "max_tokens": 24}).encode()
        req = urllib.request.Request(MODEL_URL, data=body, headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            return self._reply(502, {"error": f"model unreachable at {MODEL_URL}: {e}"})
        answer["model_call_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        answer["model_url"] = MODEL_URL
        self._reply(200, answer)

    def log_message(self, fmt, *args):
        print("frontend: " + fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"frontend: serving on :{port}, model at {MODEL_URL}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
