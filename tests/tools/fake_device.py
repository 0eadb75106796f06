#!/usr/bin/python3
"""fake_device.py - a hostile device on a pty: it answers the provisioning
group's info request (docs/serial-protocol.md, section 4) with whatever ID it
is given, byte for byte, to show what `prov install` prints of it.

    fake_device.py --dev-hex HEX [--ver-hex HEX]

Prints the path of its terminal as its first line, then serves until killed
(SIGTERM).  Every other request is answered with error rc 60.  The framing
(console lines, base64, CRC) is tests/py/smp_client.py's, written from the
specification, not prov's.  The identity key `pub` is a fresh P-256 SPKI and
the nonce 16 random bytes, so only the ID is wrong.
"""
import argparse
import os
import select
import signal
import sys
import tty

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
from smp_client import Deframer, frame  # noqa: E402

GROUP_PROV = 80
OP_READ, OP_WRITE = 0, 2


class RawText:
    """A CBOR text string of arbitrary bytes: a hostile device does not care
    whether they are UTF-8 (cbor2 would refuse to write them as text)."""

    def __init__(self, raw):
        self.raw = raw


def encode_map(m):
    """A definite CBOR map with text keys; RawText values written byte for byte."""
    out = bytes([0xA0 | len(m)])
    for k, v in m.items():
        out += cbor2.dumps(k)
        if isinstance(v, RawText):
            n = len(v.raw)
            out += (bytes([0x60 | n]) if n < 24 else bytes([0x78, n])) + v.raw
        else:
            out += cbor2.dumps(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev-hex", required=True)
    ap.add_argument("--ver-hex", default="302e31")  # "0.1"
    a = ap.parse_args()

    dev = RawText(bytes.fromhex(a.dev_hex))
    ver = RawText(bytes.fromhex(a.ver_hex))
    assert len(dev.raw) < 256 and len(ver.raw) < 256
    pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {"dev": dev, "ver": ver, "mtu": 512, "max": 16384, "slots": 16, "pub": pub,
            "nonce": os.urandom(16), "ctr": 0}

    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deframer = Deframer()
    while True:
        r, _, _ = select.select([master], [], [], 1.0)
        if not r:
            continue
        try:
            data = os.read(master, 4096)
        except OSError:
            continue
        for pkt in deframer.feed(data):
            if len(pkt) < 8:
                continue
            op, version = pkt[0] & 7, (pkt[0] >> 3) & 3
            group, seq, cmd = int.from_bytes(pkt[4:6], "big"), pkt[6], pkt[7]
            if op not in (OP_READ, OP_WRITE):
                continue
            if group == GROUP_PROV and cmd == 0 and op == OP_READ:
                body = encode_map(info)
            else:
                body = cbor2.dumps({"err": {"group": group, "rc": 60}})
            hdr = bytes([(version << 3) | (op + 1), 0]) + len(body).to_bytes(2, "big") + \
                group.to_bytes(2, "big") + bytes([seq, cmd])
            os.write(master, frame(hdr + body))


main()
