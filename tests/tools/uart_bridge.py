#!/usr/bin/python3
"""uart_bridge.py - the host's end of the emulated device's UARTs.

    uart_bridge.py tcp PTY HOST:PORT [--log PREFIX] [--stats FILE]
    uart_bridge.py udp PTY HOST:PORT [--log PREFIX] [--stats FILE]
    uart_bridge.py tap PTY [--log PREFIX] [--stats FILE]

tcp: the device's link UART (UART1, scripts/qemu-device.sh --net) carries a
TLS byte stream; the bridge relays it to a TCP server.  The stream has no
connection boundaries of its own: the bridge reads it as TLS records and opens
a new TCP connection for each ClientHello the device sends (a plaintext
handshake record of type 1; an encrypted record of the AEAD suites the device
uses starts with its 8-byte explicit nonce, never with a handshake header that
matches its record length).  When the server closes, the next ClientHello
opens the next connection.

udp: the UART carries datagrams in SLIP frames (RFC 1055: END 0xC0, ESC 0xDB,
ESC_END 0xDC, ESC_ESC 0xDD); each is sent as one UDP datagram, each datagram
from the server goes back as one frame.  A new UDP socket (a new source port)
for each first ClientHello of a DTLS handshake (epoch 0, handshake type 1,
message_seq 0), so the server sees each connection as a new peer.

tap: a new pty for the host, relayed to PTY both ways (the console, so its
bytes can be logged: prov install and smp_client open the tap's pty).

Prints "ready" (tcp, udp) or the host side's pty path (tap) as its first
line, then serves until SIGTERM.  --log PREFIX appends every byte to
PREFIX.to-dev and PREFIX.from-dev as it passes (raw, what the UART carried);
--stats FILE gets counters as JSON at exit.  Written from RFC 1055 and the
TLS/DTLS 1.2 record formats (RFC 5246 6.2, RFC 6347 4.1, 4.2.2); shares no
code with the firmware.
"""
import json
import os
import select
import signal
import socket
import sys
import time
import tty

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
MAX_RECORD = 5 + 18432  # TLS 1.2: 2^14 + 2048 of ciphertext expansion at most


def usage():
    print(__doc__, file=sys.stderr)
    sys.exit(2)


def slip_encode(d):
    out = bytearray([END])
    for b in d:
        if b == END:
            out += bytes([ESC, ESC_END])
        elif b == ESC:
            out += bytes([ESC, ESC_ESC])
        else:
            out.append(b)
    out.append(END)
    return bytes(out)


class SlipDecoder:
    """Bytes in, frames out; a frame with a bad escape is dropped whole."""

    def __init__(self):
        self.cur, self.esc, self.bad, self.dropped = bytearray(), False, False, 0

    def feed(self, data):
        frames = []
        for b in data:
            if b == END:
                if self.bad or self.esc:
                    self.dropped += 1
                elif self.cur:
                    frames.append(bytes(self.cur))
                self.cur, self.esc, self.bad = bytearray(), False, False
            elif self.esc:
                self.esc = False
                if b == ESC_END:
                    self.cur.append(END)
                elif b == ESC_ESC:
                    self.cur.append(ESC)
                else:
                    self.bad = True
            elif b == ESC:
                self.esc = True
            else:
                self.cur.append(b)
        return frames


def tls_client_hello(rec):
    """A TLS record that is a plaintext ClientHello (RFC 5246 7.4.1.2)."""
    if len(rec) < 9 or rec[0] != 22 or rec[1] != 3:
        return False
    n = int.from_bytes(rec[3:5], "big")
    return rec[5] == 1 and int.from_bytes(rec[6:9], "big") + 4 == n


def dtls_first_client_hello(d):
    """A DTLS datagram whose first record is a ClientHello with message_seq 0
    (the first of a handshake: the one after HelloVerifyRequest has 1)."""
    return (len(d) >= 25 and d[0] == 22 and d[1] == 0xFE and d[3:5] == b"\0\0"
            and d[13] == 1 and d[17:19] == b"\0\0")


class Bridge:
    def __init__(self, args):
        self.mode = args["mode"]
        self.stats = dict(to_dev=0, from_dev=0, connections=0, units_up=0, units_down=0,
                          dropped=0, slip_dropped=0)
        self.logs = None
        if args.get("log"):
            self.logs = (open(args["log"] + ".to-dev", "ab", buffering=0),
                         open(args["log"] + ".from-dev", "ab", buffering=0))
        self.dev = os.open(args["pty"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.dev)
        self.to_dev = bytearray()
        self.target = args.get("target")
        self.sock = None
        self.to_sock = bytearray()
        self.rec = bytearray()  # tcp: device bytes not yet a whole record
        self.slip = SlipDecoder()
        self.host = None
        self.to_host = bytearray()
        self.host_dead_until = 0.0
        if self.mode == "tap":
            self.host, hs = os.openpty()
            tty.setraw(hs)
            os.set_blocking(self.host, False)
            self.host_slave = hs  # kept open: the host side may come and go
            print(os.ttyname(hs), flush=True)
        else:
            print("ready", flush=True)

    # ---- the device side ----
    def from_device(self, data):
        self.stats["from_dev"] += len(data)
        if self.logs:
            self.logs[1].write(data)
        if self.mode == "tap":
            self.to_host += data
        elif self.mode == "tcp":
            self.rec += data
            while len(self.rec) >= 5:
                n = int.from_bytes(self.rec[3:5], "big")
                if 5 + n > MAX_RECORD or self.rec[1] != 3:
                    self.stats["dropped"] += len(self.rec)  # not TLS: resynchronise nothing
                    self.rec.clear()
                    break
                if len(self.rec) < 5 + n:
                    break
                record, self.rec = bytes(self.rec[:5 + n]), self.rec[5 + n:]
                self.up(record, tls_client_hello(record))
        else:
            for d in self.slip.feed(data):
                self.up(d, dtls_first_client_hello(d))
            self.stats["slip_dropped"] = self.slip.dropped

    def up(self, unit, new):
        if new:
            self.close_sock()
            self.to_dev.clear()  # the old connection's bytes the device has not taken
            kind = socket.SOCK_STREAM if self.mode == "tcp" else socket.SOCK_DGRAM
            self.sock = socket.socket(socket.AF_INET, kind)
            try:
                self.sock.connect(self.target)
            except OSError:
                self.close_sock()
                self.stats["dropped"] += len(unit)
                return
            self.sock.setblocking(False)
            self.stats["connections"] += 1
        if self.sock is None:
            self.stats["dropped"] += len(unit)
            return
        self.stats["units_up"] += 1
        if self.mode == "udp":
            try:
                self.sock.send(unit)
            except OSError:
                self.stats["dropped"] += len(unit)
        else:
            self.to_sock += unit

    def close_sock(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.to_sock.clear()

    def from_sock(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if self.mode == "tcp" and not data:
            self.close_sock()  # the server closed: the next ClientHello reconnects
            return
        if not data:
            return
        self.stats["units_down"] += 1
        self.to_dev += data if self.mode == "tcp" else slip_encode(data)

    # ---- the loop ----
    def write_some(self, fd, buf, log=None):
        try:
            n = os.write(fd, bytes(buf[:65536]))
        except (BlockingIOError, InterruptedError):
            return
        if log:
            log.write(bytes(buf[:n]))
        del buf[:n]

    def run(self):
        done = []
        signal.signal(signal.SIGTERM, lambda *_: done.append(1))
        signal.signal(signal.SIGINT, lambda *_: done.append(1))
        while not done:
            rd, wr = [self.dev], []
            if self.to_dev:
                wr.append(self.dev)
            if self.sock is not None:
                rd.append(self.sock)
                if self.to_sock:
                    wr.append(self.sock)
            if self.host is not None and time.monotonic() >= self.host_dead_until:
                rd.append(self.host)
                if self.to_host:
                    wr.append(self.host)
            try:
                r, w, _ = select.select(rd, wr, [], 0.05)
            except InterruptedError:
                continue
            for fd in r:
                if fd is self.sock:
                    self.from_sock()
                    continue
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    # the host closed its side of the tap (EIO until reopened)
                    self.host_dead_until = time.monotonic() + 0.02
                    continue
                if fd == self.dev:
                    self.from_device(data)
                elif data:
                    self.to_dev += data
            for fd in w:
                if fd is self.sock and self.sock is not None:
                    try:
                        n = self.sock.send(bytes(self.to_sock))
                        del self.to_sock[:n]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self.close_sock()
                elif fd == self.dev:
                    before = len(self.to_dev)
                    self.write_some(self.dev, self.to_dev, self.logs[0] if self.logs else None)
                    self.stats["to_dev"] += before - len(self.to_dev)
                elif fd == self.host:
                    try:
                        self.write_some(self.host, self.to_host)
                    except OSError:
                        self.host_dead_until = time.monotonic() + 0.02


def main(argv):
    if len(argv) < 3 or argv[1] not in ("tcp", "udp", "tap"):
        usage()
    args = {"mode": argv[1], "pty": argv[2]}
    rest = argv[3:]
    if argv[1] != "tap":
        if not rest:
            usage()
        host, _, port = rest.pop(0).rpartition(":")
        if not host or not port.isdigit():
            usage()
        args["target"] = (host, int(port))
    while rest:
        if rest[0] in ("--log", "--stats") and len(rest) >= 2:
            args[rest[0][2:]] = rest[1]
            rest = rest[2:]
        else:
            usage()
    b = Bridge(args)
    try:
        b.run()
    finally:
        if args.get("stats"):
            with open(args["stats"], "w") as f:
                json.dump(b.stats, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
