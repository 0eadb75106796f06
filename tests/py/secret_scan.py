#!/usr/bin/python3
"""secret_scan.py - look for a secret in captured serial traffic.

  secret_scan.py SECRET-HEX [--console FILE]... [--slip FILE]... [--raw FILE]...

Each FILE is what one direction of a UART carried (tests/tools/uart_bridge.py
--log).  The secret is looked for in the raw bytes as they passed (the bytes
themselves, lowercase and uppercase hex, base64), and in what the framing
carried once unwrapped: --console files are also cut into SMP packets (the
console framing of docs/serial-protocol.md: base64 lines, decoded here with
tests/py/smp_client.py's deframer), --slip files into datagrams (RFC 1055).
Prints one line per file; exit 0 if the secret is nowhere, 1 if it was found
(where is printed), 2 usage.
"""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from smp_client import Deframer  # noqa: E402
from uart_bridge import SlipDecoder  # noqa: E402


def forms(secret):
    out = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    # base64 of the secret at each of the three alignments it can take inside
    # a longer base64 text (the whole groups only)
    # (the groups that hold secret bytes only)
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + secret)
        out["base64+%d" % shift] = enc[4 if shift else 0:(shift + len(secret)) // 3 * 4]
    return out


def units(kind, data):
    yield "bytes", data
    if kind == "console":
        d = Deframer()
        for i, pkt in enumerate(d.feed(data)):
            yield "packet %d" % i, pkt
    elif kind == "slip":
        for i, dgram in enumerate(SlipDecoder().feed(data)):
            yield "datagram %d" % i, dgram


def main(argv):
    if len(argv) < 4 or len(argv) % 2 != 0:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        secret = bytes.fromhex(argv[1])
    except ValueError:
        print(__doc__, file=sys.stderr)
        return 2
    if len(secret) < 8:
        print("secret_scan: a secret of at least 8 bytes", file=sys.stderr)
        return 2
    found = False
    for opt, path in zip(argv[2::2], argv[3::2]):
        kind = {"--console": "console", "--slip": "slip", "--raw": "raw"}.get(opt)
        if kind is None:
            print(__doc__, file=sys.stderr)
            return 2
        data = open(path, "rb").read()
        hits, n = [], 0
        for where, unit in units(kind, data):
            n += 1
            for name, pattern in forms(secret).items():
                if pattern and pattern in unit:
                    hits.append("%s in %s" % (name, where))
        print("%s: %d bytes, %d units: %s" % (path, len(data), n, "; ".join(hits) or "absent"))
        found = found or bool(hits)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
