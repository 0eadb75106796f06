#!/usr/bin/python3
"""smp_vectors.py [OUT] - the console framing's line vectors (docs/serial-protocol.md
section 1), written from this file's own framing (base64 + binascii.crc_hqx, which
is CRC-16/XMODEM), not from provkit's C code.  One table for both sides: the host's
test (tests/unit/test_smp.c, libprov's decoder) and the agent's
(firmware-agent/tests/test_agent_smp.c) read the same file, push each wire whole,
byte by byte and split in two at every position, and expect the same packets.

Output (default tests/fixtures/smp-console/vectors.txt), one vector a line:

    name <TAB> wire <TAB> packets <TAB> drops <TAB> sent

wire: the bytes on the line, printable ASCII as is, escapes \\n \\r \\\\ \\xHH;
packets: the packets delivered, in order, as hex separated by ',' ('-': none);
drops: how many packets the decoder started and lost (its drop counter);
sent: "sent" if the wire is exactly what a sender writes for those packets (the
encoders are checked against it), else "-".
"""
import base64
import binascii
import os
import struct
import sys

LINE_B64 = 124   # base64 characters per line: 127 - 2 marker bytes - '\n'


def packet(op, group, seq, cmd, body):
    return struct.pack(">BBHHBB", 0x08 | op, 0, len(body), group, seq, cmd) + body


# echo {"d": "hello"} (write, seq 0x2a); a status read {} (seq 7); a 150-byte
# packet that takes two lines (an upload-sized body of counting bytes).
P = packet(2, 0, 0x2A, 0, bytes.fromhex("a1616465") + b"hello")
R = packet(0, 80, 7, 4, bytes.fromhex("a0"))
Q = packet(2, 80, 9, 2, bytes.fromhex("a1646461746158") + bytes([0x86]) + bytes(range(134)))
assert len(Q) == 150


def frame(pkt, length=None, crc=None):
    """The framed lines of pkt, optionally with a lying length or CRC."""
    crc = binascii.crc_hqx(pkt, 0) if crc is None else crc
    raw = struct.pack(">H", len(pkt) + 2 if length is None else length) + pkt + struct.pack(">H", crc)
    b = base64.b64encode(raw)
    return [(b"\x06\x09" if i == 0 else b"\x04\x14") + b[i:i + LINE_B64] + b"\n"
            for i in range(0, len(b), LINE_B64)]


def wire(pkt, **kw):
    return b"".join(frame(pkt, **kw))


FP, FR, FQ = wire(P), wire(R), wire(Q)
Q1, Q2 = frame(Q)
assert len(Q1) == 127 and Q2.startswith(b"\x04\x14")
crlf = lambda w: w.replace(b"\n", b"\r\n")
SHORT = packet(2, 0, 1, 0, b"")[:7]   # 7 bytes: less than an SMP header

V = [
    # well-formed
    ("first-frame-alone", FP, [P], 0),
    ("two-line-frame", FQ, [Q], 0),
    ("two-frames-in-one-read", FP + FR, [P, R], 0),
    ("crlf-line-ends", crlf(FQ), [Q], 0),
    ("cr-before-marker", b"\r" + FP, [P], 0),
    # other text on the line (logs, boot messages)
    ("log-lines-around", b"*** Booting Zephyr OS ***\n" + FP + b"[00:00:01.000] <inf> agent: up\n", [P], 0),
    ("log-line-between-frame-lines", Q1 + b"[00:00:02.000] <wrn> tick\n" + Q2, [Q], 0),
    ("marker-mid-line-after-log-text", b"[00:00:03.000] <inf> no newline here " + FP, [P], 0),
    ("marker-mid-line-after-control-bytes", b"\x00\xff\x1b[0m\x07" + FP, [P], 0),
    ("marker-mid-line-after-utf8-text", "d\u00e9marrage ".encode() + FP, [P], 0),
    ("marker-first-byte-repeated", b"\x06" + FP, [P], 0),
    ("marker-first-byte-then-newline", b"\x06\n" + FP, [P], 0),
    ("continuation-marker-in-log-text", b"a\x04\x14b\n" + FP, [P], 0),
    ("nul-bytes-line", b"\x00\x00\x00\n" + FP, [P], 0),
    # frames out of place
    ("continuation-without-first-frame", Q2, [], 0),
    ("first-frame-restarts-a-packet", Q1 + FP, [P], 1),
    ("frame-line-lost-its-newline", Q1[:-1] + Q2, [], 1),
    ("last-line-lost-its-newline-then-frame", FP[:-1] + FR, [R], 1),
    ("log-text-inside-a-frame-line", Q1[:60] + b"<inf> x" + Q1[60:] + Q2, [], 1),
    ("continuation-marker-inside-a-frame-line", Q1[:60] + b"\x04\x14" + Q1[60:] + Q2, [], 1),
    ("empty-frame-line", b"\x06\x09\n" + FP, [P], 1),
    # damaged content
    ("crc-bad", wire(P, crc=binascii.crc_hqx(P, 0) ^ 1), [], 1),
    ("length-below-an-smp-header", wire(SHORT), [], 1),
    ("length-above-any-buffer", wire(P, length=0xFFFF), [], 1),
    ("length-shorter-than-the-data", wire(P, length=len(P) + 1), [], 1),
    ("length-longer-then-a-new-frame", wire(P, length=len(P) + 4) + FR, [R], 1),
    ("bad-base64-character", FP[:10] + b"*" + FP[11:], [], 1),
    ("padding-mid-line", FP[:6] + b"=" + FP[7:], [], 1),
    ("base64-not-a-multiple-of-4", FP[:10] + FP[11:], [], 1),
    ("overlong-line", Q1[:-1] + b"AAAA\n" + Q2, [], 1),
    ("damaged-then-good-frame", FP[:10] + b"*" + FP[11:] + FR, [R], 1),
]


def esc(b):
    out = []
    for c in b:
        if c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def main():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "tests/fixtures/smp-console/vectors.txt")
    names = set()
    with open(out, "w") as f:
        f.write("# SMP console framing: line vectors for the host's and the agent's decoder\n"
                "# (made by tests/py/smp_vectors.py; docs/serial-protocol.md section 1).\n"
                "# name<TAB>wire<TAB>packets (hex, ',' between; '-' none)<TAB>drops<TAB>sent\n")
        for name, w, pkts, drops in V:
            assert name not in names and "\t" not in esc(w)
            names.add(name)
            sent = "sent" if pkts and w == b"".join(wire(p) for p in pkts) else "-"
            f.write("%s\t%s\t%s\t%d\t%s\n" % (name, esc(w), ",".join(p.hex() for p in pkts) or "-",
                                               drops, sent))
    print("%d vectors -> %s" % (len(V), out))


if __name__ == "__main__":
    main()
