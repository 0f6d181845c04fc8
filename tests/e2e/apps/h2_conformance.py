#!/usr/bin/python3
"""h2spec-style conformance cases written from RFC 9113, with raw frames, against the proxy's
HTTP/2 (tests/e2e/test_h2_conformance.py). Run inside a machine: argv[1] = host, argv[2] = port.
Prints one line per case: "<name> <what happened>", where what happened is one of
"goaway <code>", "rst <code>", "status <code>", "ping-ack <payload ok>", "closed", "timeout".
"""
import socket
import struct
import sys
import time

HOST, PORT = sys.argv[1], int(sys.argv[2])
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(t, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload


def hpack_int(v, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if v < limit:
        return bytes([first | v])
    out = [first | limit]
    v -= limit
    while v >= 128:
        out.append(v % 128 + 128)
        v //= 128
    out.append(v)
    return bytes(out)


def hpack(fields):
    """Literal header fields without indexing, new names (RFC 7541 §6.2.2), no Huffman."""
    out = b""
    for n, v in fields:
        n, v = n.encode(), v.encode()
        out += b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


def request(path="/x", extra=(), method="GET"):
    return [(":method", method), (":scheme", "http"), (":authority", HOST), (":path", path)] + list(extra)


def connect():
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return s


def read_frames(s, until, deadline=10):
    """Reads frames until `until(type, flags, sid, payload)` returns a result, EOF or timeout."""
    buf = b""
    end = time.time() + deadline
    while time.time() < end:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            t, fl, sid, p = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]
            buf = buf[9 + n:]
            if t == SETTINGS and not fl & ACK:
                s.sendall(frame(SETTINGS, ACK, 0))
            r = until(t, fl, sid, p)
            if r:
                return r
        s.settimeout(max(0.05, end - time.time()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return "closed"
        if not b:
            return "closed"
        buf += b
    return "timeout"


def outcome(t, fl, sid, p):
    if t == GOAWAY:
        return "goaway %d" % int.from_bytes(p[4:8], "big")
    if t == RST:
        return "rst %d" % int.from_bytes(p[:4], "big")
    if t == HEADERS and sid:
        return "status %s" % decode_status(p)
    return None


def decode_status(block):
    # The proxy's HPACK: ":status" is static-table indexed (0x88 = 200...) or literal with index 8.
    table = {0x88: "200", 0x89: "204", 0x8a: "206", 0x8b: "304", 0x8c: "400", 0x8d: "404", 0x8e: "500"}
    if block and block[0] in table:
        return table[block[0]]
    if block and block[0] & 0x0F == 8 and block[0] < 0x20:  # literal, indexed name :status
        return block[2:2 + block[1]].decode()
    if block and block[0] == 0x48:  # literal with incremental indexing, name index 8
        return block[2:2 + block[1]].decode()
    return "?"


def case(name, frames, raw=None, deadline=10):
    try:
        s = socket.create_connection((HOST, PORT), timeout=10)
        s.sendall(raw if raw is not None else PREFACE + frame(SETTINGS, 0, 0) + b"".join(frames))
        print(name, read_frames(s, outcome, deadline), flush=True)
        s.close()
    except OSError as e:
        print(name, "error", e, flush=True)


H = lambda sid, fields, flags=END_STREAM | END_HEADERS: frame(HEADERS, flags, sid, hpack(fields))

# §3.4: a preface that is not the preface.
case("bad_preface", [], raw=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS, 0, 0))
# §6.5: SETTINGS length not a multiple of 6 → FRAME_SIZE_ERROR (6).
case("settings_bad_length", [frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00")])
# §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 → FLOW_CONTROL_ERROR (3).
case("settings_window_too_big", [frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0x80000000))])
# §6.5.2: SETTINGS_ENABLE_PUSH other than 0 or 1 → PROTOCOL_ERROR (1).
case("settings_enable_push_2", [frame(SETTINGS, 0, 0, struct.pack(">HI", 2, 2))])
# §6.5: SETTINGS on a stream → PROTOCOL_ERROR.
case("settings_on_stream", [frame(SETTINGS, 0, 1)])
# §6.7: PING of 7 bytes → FRAME_SIZE_ERROR.
case("ping_bad_length", [frame(PING, 0, 0, b"1234567")])
# §6.8: GOAWAY on a stream → PROTOCOL_ERROR.
case("goaway_on_stream", [frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0))])
# §5.1.1: a client stream with an even id → PROTOCOL_ERROR.
case("headers_even_stream", [H(2, request())])
# §5.1: DATA on an idle stream → PROTOCOL_ERROR.
case("data_idle_stream", [frame(DATA, END_STREAM, 1, b"x")])
# §6.9: WINDOW_UPDATE of 0 on the connection → PROTOCOL_ERROR.
case("window_update_zero", [frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0))])
# §6.9.1: a window over 2^31-1 → FLOW_CONTROL_ERROR.
case("window_overflow", [frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF))])
# §6.10: CONTINUATION without HEADERS → PROTOCOL_ERROR.
case("continuation_alone", [frame(CONTINUATION, END_HEADERS, 1, hpack(request()))])
# §6.2: HEADERS then a frame other than CONTINUATION → PROTOCOL_ERROR.
case("headers_interrupted", [H(1, request(), END_STREAM), frame(PING, 0, 0, b"12345678")])
# §8.2.2: a connection-specific field → stream error PROTOCOL_ERROR.
case("connection_header", [H(1, request(extra=[("connection", "keep-alive")]))])
# §8.2: an upper-case field name → stream error PROTOCOL_ERROR.
case("uppercase_name", [H(1, request(extra=[("X-Upper", "1")]))])
# §8.3.1: no :path → stream error PROTOCOL_ERROR.
case("missing_path", [H(1, [(":method", "GET"), (":scheme", "http"), (":authority", HOST)])])
# §8.3.1: a pseudo-header after a regular field → stream error PROTOCOL_ERROR.
case("pseudo_after_regular", [H(1, [(":method", "GET"), ("x-a", "1"), (":scheme", "http"), (":path", "/")])])
# §8.1.1: content-length that does not match the DATA → stream error PROTOCOL_ERROR.
case("content_length_mismatch", [H(1, request(method="POST", extra=[("content-length", "5")]), END_HEADERS),
                                 frame(DATA, END_STREAM, 1, b"abc")])
# A header list over the proxy's limit (max_head_bytes, 16 KiB) → 431 on that stream.
big = hpack(request(extra=[("x-big%d" % i, "v" * 4000) for i in range(5)]))  # > one 16 KiB frame
case("header_list_too_large", [frame(HEADERS, END_STREAM, 1, big[:16000]),
                               frame(CONTINUATION, END_HEADERS, 1, big[16000:])])
# A valid request gets 200 (the app), and PING gets its ACK with the same payload.
case("valid_request", [H(1, request())])
s = connect()
s.sendall(frame(PING, 0, 0, b"abcdefgh"))
print("ping", read_frames(s, lambda t, fl, sid, p: ("ping-ack %s" % (p == b"abcdefgh")) if t == PING and fl & ACK
                          else None), flush=True)
s.close()
# Rapid reset (CVE-2023-44487): HEADERS + RST_STREAM pairs → GOAWAY (nghttp2's rate limit says
# INTERNAL_ERROR, 2) and the connection ends.
s = connect()
burst = b"".join(H(1 + 2 * i, request()) + frame(RST, 0, 1 + 2 * i, struct.pack(">I", 8)) for i in range(3000))
try:
    s.sendall(burst)
except OSError:
    pass
print("rapid_reset", read_frames(s, lambda t, fl, sid, p: "goaway %d" % int.from_bytes(p[4:8], "big")
                                 if t == GOAWAY else None), flush=True)
s.close()
# SETTINGS with more entries than the proxy takes (32) → GOAWAY ENHANCE_YOUR_CALM.
case("settings_flood", [frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100) * 40)])
# More streams than SETTINGS_MAX_CONCURRENT_STREAMS (100): stream 101 is refused or an error.
s = connect()
read_frames(s, lambda t, fl, sid, p: t == SETTINGS and fl & ACK, 5)  # our SETTINGS acked: theirs applied
opens = b"".join(H(1 + 2 * i, request(method="POST", path="/echo"), END_HEADERS) for i in range(101))
s.sendall(opens)
print("max_concurrent_streams", read_frames(s, lambda t, fl, sid, p: outcome(t, fl, sid, p) if t in (RST, GOAWAY)
                                            else None), flush=True)
s.close()
# PING flood (CVE-2019-9512) from a client that never reads: the proxy stops reading it once 1 MiB
# of acks wait (and nghttp2 caps queued acks), so it costs bounded memory, and another client
# on the same worker is still served at once.
flood = connect()
flood.setblocking(False)
ping = frame(PING, 0, 0, b"floodflo") * 4096
sent, end = 0, time.time() + 3
while time.time() < end:
    try:
        sent += flood.send(ping)
    except BlockingIOError:
        time.sleep(0.01)
    except OSError:
        break
t0 = time.time()
case("ping_flood_other_client", [H(1, request())])
print("ping_flood_bounded", sent < 64 << 20, "other_served_in_s %.1f" % (time.time() - t0), flush=True)
flood.close()

