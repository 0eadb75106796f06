#!/usr/bin/python3
"""lineshim.py - a damaged serial line between `prov install` and a device.

    lineshim.py [--baud N] [--drop P] [--flip P] [--log-every S] [--reset-after N]
                [--seed N] [--stats FILE] -- DEVICE-COMMAND...

Starts DEVICE-COMMAND (e.g. `agent-sim --storage DIR --pty`), which must print
the path of its terminal as its first line, opens that terminal, and makes a new
pty for the host; prints the host side's path as its first line, then forwards
both ways until killed (SIGTERM), writing counters to --stats as JSON.

  --baud N         throttle each direction to N/10 bytes per second (8N1)
  --drop P         drop each byte with probability P (both directions)
  --flip P         flip one random bit of each byte with probability P
  --log-every S    insert a log line into the device's output every S seconds,
                   at the next line boundary (as a console that serialises its
                   writers does)
  --reset-after N  after N bytes from the host, kill the device (SIGKILL), start
                   it again on the same command (same storage) and reconnect: a
                   device reset mid-transfer.  Once.
  --seed N         random seed (default 1): runs are reproducible
"""
import argparse, json, os, random, select, signal, subprocess, sys, time, tty

ap = argparse.ArgumentParser()
ap.add_argument("--baud", type=int, default=0)
ap.add_argument("--drop", type=float, default=0.0)
ap.add_argument("--flip", type=float, default=0.0)
ap.add_argument("--log-every", type=float, default=0.0)
ap.add_argument("--reset-after", type=int, default=0)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--stats")
ap.add_argument("cmd", nargs="+")
a = ap.parse_args()
rng = random.Random(a.seed)
stats = dict(h2d=0, d2h=0, dropped=0, flipped=0, logs=0, resets=0)


def start_device():
    p = subprocess.Popen(a.cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    path = p.stdout.readline().decode().strip()
    if not path:
        sys.exit("lineshim: the device printed no terminal path")
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return p, fd


dev, dfd = start_device()
hm, hs = os.openpty()
tty.setraw(hs)
os.set_blocking(hm, False)
print(os.ttyname(hs), flush=True)

done = False


def finish(*_):
    global done
    done = True


signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGINT, finish)

rate = a.baud / 10.0 if a.baud else 0.0
# Per direction: queue of bytes waiting for the wire, and the wire's credit.
q = {"h2d": bytearray(), "d2h": bytearray()}
credit = {"h2d": 0.0, "d2h": 0.0}
last = time.monotonic()
next_log = last + a.log_every if a.log_every else None
log_pending = 0
at_line_start = True
reset_done = False


def damage(data):
    out = bytearray()
    for b in data:
        if a.drop and rng.random() < a.drop:
            stats["dropped"] += 1
            continue
        if a.flip and rng.random() < a.flip:
            b ^= 1 << rng.randrange(8)
            stats["flipped"] += 1
        out.append(b)
    return out


def add_d2h(data):
    """Device output: logs go in at line boundaries."""
    global at_line_start, log_pending
    for b in data:
        q["d2h"].append(b)
        at_line_start = b == 0x0A
        if at_line_start and log_pending:
            emit_logs()


def emit_logs():
    global log_pending
    while log_pending:
        stats["logs"] += 1
        line = b"[%010.3f] <inf> agent: tick %d, heap ok\n" % (time.monotonic(), stats["logs"])
        q["d2h"].extend(line)
        log_pending -= 1


while not done:
    now = time.monotonic()
    for d in q:
        if rate:
            credit[d] = min(credit[d] + (now - last) * rate, 64.0)
    last = now
    if next_log is not None and now >= next_log:
        next_log += a.log_every
        log_pending += 1
        if at_line_start:
            emit_logs()
    if a.reset_after and not reset_done and stats["h2d"] >= a.reset_after:
        reset_done = True
        stats["resets"] += 1
        dev.kill()
        dev.wait()
        os.close(dfd)
        q["h2d"].clear()
        dev, dfd = start_device()
    rfds = [hm, dfd]
    try:
        r, _, _ = select.select(rfds, [], [], 0.002)
    except InterruptedError:
        continue
    for fd in r:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            continue
        if fd == hm:
            stats["h2d"] += len(data)
            q["h2d"].extend(damage(data))
        else:
            stats["d2h"] += len(data)
            add_d2h(damage(data))
    for d, fd in (("h2d", dfd), ("d2h", hm)):
        if not q[d]:
            continue
        n = len(q[d]) if not rate else int(credit[d])
        if n <= 0:
            continue
        try:
            w = os.write(fd, bytes(q[d][:n]))
        except (BlockingIOError, OSError):
            continue
        del q[d][:w]
        if rate:
            credit[d] -= w

dev.kill()
dev.wait()
if a.stats:
    with open(a.stats, "w") as f:
        json.dump(stats, f)
