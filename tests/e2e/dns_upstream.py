"""A small upstream resolver for the e2e tests (not a test itself): UDP on ADDR:53 inside the
test's own network namespace. Names under ok.test get A 192.0.2.1, names under nx.test get
NXDOMAIN with a SOA (TTL 60, MINIMUM 30), names under slow.test are never answered (the
forwarder times out). Prints "ready" once bound; exits after --lifetime seconds at most."""
import argparse
import socket
import struct
import sys
import time


def qname_end(pkt):
    i = 12
    while i < len(pkt) and pkt[i] != 0:
        i += 1 + pkt[i]
    return i + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.2")
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.addr, 53))
    s.settimeout(0.5)
    print("ready", flush=True)
    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        try:
            pkt, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        if len(pkt) < 17:
            continue
        qe = qname_end(pkt)
        name = pkt[12:qe].lower()
        if name.endswith(b"\x04slow\x04test\x00"):
            continue
        qid, flags = struct.unpack("!HH", pkt[:4])
        question = pkt[12:qe + 4]
        rflags = 0x8000 | (flags & 0x0100) | 0x0080
        if name.endswith(b"\x02ok\x04test\x00") and pkt[qe:qe + 2] == b"\x00\x01":
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([192, 0, 2, 1])
            s.sendto(struct.pack("!HHHHHH", qid, rflags, 1, 1, 0, 0) + question + ans, peer)
        elif name.endswith(b"\x02nx\x04test\x00"):
            soa_rdata = (b"\x02ns\x04test\x00" + b"\x0ahostmaster\x04test\x00" +
                         struct.pack("!IIIII", 1, 3600, 600, 86400, 30))
            auth = b"\x04test\x00" + struct.pack("!HHIH", 6, 1, 60, len(soa_rdata)) + soa_rdata
            s.sendto(struct.pack("!HHHHHH", qid, rflags | 3, 1, 0, 1, 0) + question + auth, peer)
        else:  # NODATA for other types and names
            s.sendto(struct.pack("!HHHHHH", qid, rflags, 1, 0, 0, 0) + question, peer)


if __name__ == "__main__":
    sys.exit(main())
