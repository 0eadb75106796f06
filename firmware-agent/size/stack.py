#!/usr/bin/python3
"""stack.py - worst-case stack depth of the agent from GCC's call graph.

Usage: stack.py ENTRY_LIST CI_FILE...

CI_FILE: the VCG call graphs GCC writes with -fcallgraph-info=su (one per
translation unit).  A node with a label ending "N bytes (static)" (or
"(dynamic,bounded)") is a function defined in the agent, with its frame size
from -fstack-usage; any other node (an ellipse: PSA, libc, a function of
another unit, the "__indirect_call" placeholder) is resolved by name to an agent
function when one is defined under that name, else counts as 0 bytes: the
crypto library, libc and the port's callbacks are outside the agent's figure
(firmware-agent/size/README.md).  ENTRY_LIST: a file with the public entry points, one a
line (functions not defined in the agent are ignored).

Prints "stack=N", then "path=..." (the worst call path with each frame).  Exits 1 on
recursion (a cycle among agent functions) or an unbounded dynamic frame, 2 on
unreadable input.
"""
import re
import sys

NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]*)"\s*label:\s*"([^"]*)"')
EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]*)"\s*targetname:\s*"([^"]*)"')
FRAME = re.compile(r'\\n(\d+) bytes \(([a-z,]+)\)$')


def load(files):
    frames = {}      # title -> bytes
    dynamic = []     # unbounded frames
    edges = {}       # title -> set of callee titles
    for f in files:
        for line in open(f, encoding="utf-8", errors="replace"):
            m = NODE.search(line)
            if m:
                title, label = m.groups()
                fm = FRAME.search(label)
                if fm:
                    frames[title] = int(fm.group(1))
                    if fm.group(2) == "dynamic":
                        dynamic.append(title)
                continue
            m = EDGE.search(line)
            if m:
                edges.setdefault(m.group(1), set()).add(m.group(2))
    return frames, dynamic, edges


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    entries = [l.strip() for l in open(sys.argv[1]) if l.strip()]
    frames, dynamic, edges = load(sys.argv[2:])
    if dynamic:
        print("stack: unbounded dynamic stack (alloca/VLA) in: %s" % ", ".join(sorted(dynamic)),
              file=sys.stderr)
        sys.exit(1)
    memo = {}
    state = {}

    def depth(f, path):
        if state.get(f) == "busy":
            cyc = path[path.index(f):] + [f]
            print("stack: recursion: %s" % " -> ".join(cyc), file=sys.stderr)
            sys.exit(1)
        if f in memo:
            return memo[f]
        state[f] = "busy"
        best, best_path = 0, []
        for c in sorted(edges.get(f, ())):
            if c not in frames:
                continue          # outside the agent: 0 bytes
            d, p = depth(c, path + [f])
            if d > best:
                best, best_path = d, p
        state[f] = "done"
        memo[f] = (frames[f] + best, [f] + best_path)
        return memo[f]

    worst, worst_path = 0, []
    for e in entries:
        if e in frames:
            d, p = depth(e, [])
            if d > worst:
                worst, worst_path = d, p
    # Every defined function, reachable from an entry or not, must be free of
    # recursion too (a cycle outside the entries would still be a bug).
    for f in sorted(frames):
        depth(f, [])
    print("stack=%d" % worst)
    print("path=%s" % " -> ".join("%s(%d)" % (f, frames[f]) for f in worst_path))


main()
