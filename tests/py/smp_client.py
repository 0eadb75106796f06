#!/usr/bin/python3
"""smp_client.py - an SMP client written from docs/serial-protocol.md alone.

It shares no code with the agent (firmware-agent/smp/) or with prov's client:
the console framing (markers, base64 lines of at most 127 bytes, length field,
CRC-16/XMODEM), the SMP v2 header and the CBOR bodies (python3-cbor2) are
implemented here from the specification, so a test that talks to agent-sim
with it shows the agent speaks the standard framing.

  smp_client.py PORT echo TEXT
  smp_client.py PORT info | status
  smp_client.py PORT keygen SLOT CN --out CSR.der
  smp_client.py PORT upload FILE [--chunk N]          (no commit)
  smp_client.py PORT commit FILE [--receipt OUT]       (the SHA-256 of FILE)
  smp_client.py PORT install FILE [--chunk N] [--receipt OUT]
  smp_client.py PORT raw GROUP ID OP CBOR-HEX          (a request as given)
  smp_client.py PORT connect [SLOT] [--send TEXT | --echo N] [--fresh] [--wait S]
                               [--tls-timeout MS]

connect (the TLS image): the device connects for SLOT on its link UART and
answers when the connection is over; the request carries a random "id", so a
retransmission gets the same answer instead of a second connection.  The line
is brought up with an echo first (short timeouts), then connect waits up to
--wait seconds (default 60) per try.  --tls-timeout: how long the device
waits for its peer (the request's "timeout").

Answers are printed as one JSON object (byte strings in hex).  Exit 0 ok,
1 the device answered an error ({"err": ...}, printed), 2 usage, 3 no answer,
4 connect ran and the connection failed ("res" is not 0; printed).
"""
import base64
import binascii
import hashlib
import json
import os
import select
import sys
import termios
import time
import tty

import cbor2

FIRST, CONT = b"\x06\x09", b"\x04\x14"
MAX_LINE = 127  # marker + base64 + newline


def crc16_xmodem(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


assert crc16_xmodem(b"123456789") == 0x31C3


def frame(packet):
    raw = (len(packet) + 2).to_bytes(2, "big") + packet + crc16_xmodem(packet).to_bytes(2, "big")
    text = base64.b64encode(raw)
    per_line = (MAX_LINE - 3) // 4 * 4  # 124 characters
    out = b""
    for i in range(0, len(text), per_line):
        out += (FIRST if i == 0 else CONT) + text[i:i + per_line] + b"\n"
    return out


class Deframer:
    """Lines in, packets out; everything that is not a framed line is skipped."""

    def __init__(self):
        self.line = b""
        self.buf = None
        self.skipped = 0

    def feed(self, data):
        packets = []
        self.line += data
        while b"\n" in self.line:
            line, self.line = self.line.split(b"\n", 1)
            pkt = self._line(line)
            if pkt is not None:
                packets.append(pkt)
        return packets

    def _line(self, line):
        if line.startswith(FIRST):
            self.buf = b""
        elif not (line.startswith(CONT) and self.buf is not None):
            self.skipped += 1
            return None
        try:
            self.buf += base64.b64decode(line[2:], validate=True)
        except (binascii.Error, ValueError):
            self.buf = None
            return None
        if len(self.buf) < 2:
            return None
        want = int.from_bytes(self.buf[:2], "big")
        if len(self.buf) - 2 < want:
            return None
        data, self.buf = self.buf[2:], None
        if len(data) != want or crc16_xmodem(data[:-2]) != int.from_bytes(data[-2:], "big"):
            return None
        return data[:-2]


class SmpError(Exception):
    def __init__(self, body):
        super().__init__(repr(body))
        self.body = body


class Client:
    def __init__(self, path, timeout=1.0, tries=8, fd=None):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY) if fd is None else fd
        if os.isatty(self.fd):
            tty.setraw(self.fd)
            termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.deframer = Deframer()
        self.seq = int.from_bytes(os.urandom(1), "big")
        self.timeout = timeout
        self.tries = tries
        self.sent = 0
        self.retransmits = 0

    def close(self):
        os.close(self.fd)

    def request(self, group, cmd, op, body, raw_body=None):
        self.seq = (self.seq + 1) & 0xFF
        payload = cbor2.dumps(body) if raw_body is None else raw_body
        # SMP v2 header: res 0, version 1, op; flags; length; group; seq; id
        hdr = bytes([(1 << 3) | op, 0]) + len(payload).to_bytes(2, "big") + \
            group.to_bytes(2, "big") + bytes([self.seq, cmd])
        wire = frame(hdr + payload)
        wait = self.timeout
        for attempt in range(self.tries):
            if attempt:
                self.retransmits += 1
            os.write(self.fd, wire)
            self.sent += len(wire)
            deadline = time.monotonic() + wait
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([self.fd], [], [], left)
                if not r:
                    continue
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    time.sleep(0.02)
                    continue
                for pkt in self.deframer.feed(data):
                    if len(pkt) < 8 or pkt[6] != self.seq or pkt[0] & 7 != op + 1 or \
                            int.from_bytes(pkt[4:6], "big") != group or pkt[7] != cmd:
                        continue
                    n = int.from_bytes(pkt[2:4], "big")
                    if n != len(pkt) - 8:
                        continue
                    rsp = cbor2.loads(pkt[8:]) if n else {}
                    if isinstance(rsp, dict) and ("err" in rsp or "rc" in rsp and len(rsp) == 1):
                        raise SmpError(rsp)
                    return rsp
            wait = min(wait * 2, 8.0)
        raise TimeoutError("no answer to group %d command %d" % (group, cmd))

    # the commands of docs/serial-protocol.md
    def echo(self, text):
        return self.request(0, 0, 2, {"d": text})

    def info(self):
        return self.request(80, 0, 0, {})

    def keygen(self, slot, cn):
        return self.request(80, 1, 2, {"slot": slot, "cn": cn})

    def upload(self, data, chunk=256):
        sha = hashlib.sha256(data).digest()
        off = 0
        while off < len(data):
            req = {"off": off, "data": data[off:off + chunk]}
            if off == 0:
                req.update({"len": len(data), "sha": sha})
            off = self.request(80, 2, 2, req)["off"]
        return sha

    def commit(self, sha):
        return self.request(80, 3, 2, {"sha": sha})

    def status(self):
        return self.request(80, 4, 0, {})

    def connect(self, slot=None, send=None, echo=None, fresh=False, wait=60.0, timeout=None):
        self.echo("")  # the line is up (QEMU notices a newly opened pty late)
        req = {"id": os.urandom(8)}
        if slot is not None:
            req["slot"] = slot
        if send is not None:
            req["send"] = send
        if echo is not None:
            req["echo"] = echo
        if fresh:
            req["fresh"] = True
        if timeout is not None:
            req["timeout"] = timeout
        self.timeout, self.tries = wait, 3
        return self.request(80, 5, 2, req)


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    return v


def main(argv):
    args = list(argv[1:])
    opts = {}
    flags = set()
    for name in ("--fresh",):
        if name in args:
            flags.add(name)
            args.remove(name)
    for name in ("--chunk", "--receipt", "--out", "--timeout", "--send", "--echo", "--wait",
                 "--tls-timeout"):
        if name in args:
            i = args.index(name)
            if i + 1 >= len(args):
                return usage()
            opts[name] = args[i + 1]
            del args[i:i + 2]
    if len(args) < 2:
        return usage()
    port, cmd, rest = args[0], args[1], args[2:]
    c = Client(port, timeout=float(opts.get("--timeout", 1.0)))
    chunk = int(opts.get("--chunk", 256))
    try:
        if cmd == "echo" and len(rest) == 1:
            out = c.echo(rest[0])
        elif cmd in ("info", "status") and not rest:
            out = getattr(c, cmd)()
        elif cmd == "keygen" and len(rest) == 2:
            out = c.keygen(int(rest[0]), rest[1])
            if "--out" in opts:
                open(opts["--out"], "wb").write(out["csr"])
        elif cmd in ("upload", "install", "commit") and len(rest) == 1:
            data = open(rest[0], "rb").read()
            if cmd == "commit":
                out = c.commit(hashlib.sha256(data).digest())
            else:
                sha = c.upload(data, chunk)
                out = {"off": len(data)}
                if cmd == "install":
                    out = c.commit(sha)
            if "receipt" in out and "--receipt" in opts:
                open(opts["--receipt"], "wb").write(out["receipt"])
        elif cmd == "connect" and len(rest) <= 1 and not ("--send" in opts and "--echo" in opts):
            out = c.connect(int(rest[0]) if rest else None, opts.get("--send"),
                            int(opts["--echo"]) if "--echo" in opts else None,
                            "--fresh" in flags, float(opts.get("--wait", 60)),
                            int(opts["--tls-timeout"]) if "--tls-timeout" in opts else None)
            if out.get("res", 0) != 0:
                print(json.dumps(jsonable(out), sort_keys=True))
                return 4
        elif cmd == "raw" and len(rest) == 4:
            out = c.request(int(rest[0]), int(rest[1]), int(rest[2]), None,
                            raw_body=bytes.fromhex(rest[3]))
        else:
            return usage()
    except SmpError as e:
        print(json.dumps(jsonable(e.body), sort_keys=True))
        return 1
    except TimeoutError as e:
        print("smp_client: %s" % e, file=sys.stderr)
        return 3
    finally:
        c.close()
    print(json.dumps(jsonable(out), sort_keys=True))
    return 0


def usage():
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
