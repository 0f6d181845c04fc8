#!/usr/bin/env python3
"""Clients of the hostile-tenant test (tests/e2e/test_fair_share.py), run inside machines.

  fair_share_client.py measure IP N        N requests, one fresh connection each, one at a time;
                                           prints JSON {ok, failed, p50_ms, p99_ms, errors}
  fair_share_client.py slowloris IP C S    holds up to C connections with unfinished request
                                           heads (a header line every 2 s each, reopened when
                                           the proxy ends one, at most 500 opened a second)
                                           for S seconds; prints "ramped" once C were tried,
                                           then JSON counts
  fair_share_client.py rate IP R S         new connections at up to R per second for S seconds,
                                           each half-open (an unfinished head) for HOLD_S
                                           seconds, then closed; prints JSON counts

Every run is bounded in time and count; traffic goes only to IP (a flycast address on the
daemon's host), port 80.
"""
import collections
import json
import resource
import selectors
import socket
import sys
import time

PORT = 80
TOP_UP = 100
HOLD_S = 2
REQ = b"GET / HTTP/1.1\r\nHost: fair\r\nConnection: close\r\n\r\n"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(ip, n):
    lat, errors = [], {}
    ok = 0
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            with socket.create_connection((ip, PORT), timeout=5) as s:
                s.sendall(REQ)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                ok += 1
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                key = data.split(b"\r\n", 1)[0].decode(errors="replace") or "empty"
                errors[key] = errors.get(key, 0) + 1
        except OSError as e:
            key = type(e).__name__
            errors[key] = errors.get(key, 0) + 1
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None
    print(json.dumps({"ok": ok, "failed": n - ok, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": errors}))


def slowloris(ip, count, seconds):
    raise_nofile()
    sel = selectors.DefaultSelector()
    opened = reset = ended = attempts = 0
    ramped = False
    conns = {}  # socket -> next send time
    end = time.monotonic() + seconds

    def open_one():
        nonlocal opened, reset, attempts
        attempts += 1
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((ip, PORT))
            s.sendall(b"GET / HTTP/1.1\r\nHost: fair\r\n")
        except OSError:
            reset += 1
            s.close()
            return
        s.setblocking(False)
        opened += 1
        conns[s] = time.monotonic() + 2
        sel.register(s, selectors.EVENT_READ)

    tick = time.monotonic()
    while time.monotonic() < end:
        # Top up, at most TOP_UP a 0.2 s tick: refused ones are reset at once, so this is also
        # a steady connection-rate flood (5 × TOP_UP per second), not a spin.
        tick += 0.2
        for _ in range(min(count - len(conns), TOP_UP)):
            open_one()
        if not ramped and attempts >= count:
            print("ramped", flush=True)  # every connection tried once: the attack is at full strength
            ramped = True
        for key, _ in sel.select(timeout=max(0, tick - time.monotonic())):  # answered (408) or reset
            s = key.fileobj
            sel.unregister(s)
            conns.pop(s, None)
            s.close()
            ended += 1
        now = time.monotonic()
        if now < tick:
            time.sleep(tick - now)
            now = tick
        for s, due in list(conns.items()):
            if due <= now:
                try:
                    s.send(b"X-Slow: 1\r\n")
                    conns[s] = now + 2
                except OSError:
                    sel.unregister(s)
                    conns.pop(s)
                    s.close()
                    ended += 1
    held = len(conns)
    for s in conns:
        s.close()
    print(json.dumps({"opened": opened, "refused": reset, "ended_by_proxy": ended, "held_at_end": held}))


def rate(ip, per_second, seconds):
    raise_nofile()
    done = refused = 0
    held = collections.deque()  # (close time, socket): each connection is half-open for HOLD_S
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        due = start + done / per_second if per_second else 0
        now = time.monotonic()
        while held and held[0][0] <= now:
            held.popleft()[1].close()
        if due > now:
            time.sleep(due - now)
        done += 1
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect((ip, PORT))
            s.sendall(b"GET / HTTP/1.1\r\nHost: fair\r\n")  # never finished
            held.append((time.monotonic() + HOLD_S, s))
        except OSError:
            refused += 1
            s.close()
    for _, s in held:
        s.close()
    print(json.dumps({"attempts": done, "refused": refused}))


if __name__ == "__main__":
    mode, ip = sys.argv[1], sys.argv[2]
    if mode == "measure":
        measure(ip, int(sys.argv[3]))
    elif mode == "slowloris":
        slowloris(ip, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "rate":
        rate(ip, float(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")
