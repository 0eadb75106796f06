#!/usr/bin/python3
"""fw_map.py MAP - the firmware image's parts from its GNU ld map file.

Sums the input sections the link kept (after --gc-sections) by where they came
from, into the parts docs/firmware.md names: the agent (core, verify, store,
receipt), SMP (smp/), keygen, the flash store (its/), the board and firmware
glue (board/, port/, the signer table), Mbed TLS's PSA core (psa_crypto*.o),
its ECC (ecp, ecp_curves, bignum, ecdsa, ecdh), the rest of Mbed TLS
(AES, CCM, GCM, SHA-256, HKDF, DRBG, ...), and the C library with libgcc.

Flash: sections placed in FLASH (.isr_vector, .text with .rodata, .ARM.exidx,
and .data's initial values); RAM: .data and .bss.  The stack (.stack) and the
storage sectors (.storage, flash the store owns) are reported apart.
Prints one JSON object: {"parts": [[name, flash, ram], ...], "stack": N,
"storage": N, "largest": [[symbol-section, bytes, part], ...]}.
"""
import json
import re
import sys

PARTS = [
    ("agent (verify, store, receipt, core)", r"/obj/(core|verify|store|receipt)/"),
    ("SMP console (smp/)", r"/obj/smp/"),
    ("keygen and CSR (keygen/)", r"/obj/keygen/"),
    ("flash store (its/)", r"/obj/its/"),
    ("trust store (trust/)", r"/obj/trust/"),
    ("TLS image: adapter, application, link (tls/, link/, pa_fw_tls, UART1)",
     r"/obj/(tls|link)/|/obj/board/pa_fw_tls\.o|/obj/board/[^/]+/net/"),
    ("board and firmware (board/, port/, signer)", r"/obj/(board|port)/|\.signer\.o$"),
    ("Mbed TLS (D)TLS client (libmbedtls)", r"libmbedtls\.a\("),
    ("Mbed TLS X.509, PK, OID, RSA", r"libmbedx509\.a\(|libmbedcrypto\.a\((pk|pkparse|pkwrite|pk_wrap|oid|rsa|rsa_internal)\.o\)"),
    ("Mbed TLS PSA core", r"libmbedcrypto\.a\(psa_crypto[a-z_]*\.o\)"),
    ("Mbed TLS ECC (ecp, bignum, ecdsa, ecdh)",
     r"libmbedcrypto\.a\((ecp|ecp_curves|bignum|ecdsa|ecdh)\.o\)"),
    ("Mbed TLS other (AES, CCM, GCM, SHA-256, HKDF, DRBG, ...)", r"libmbedcrypto\.a\("),
    ("C library and libgcc", r"lib(c_nano|c|gcc|nosys)\.a\("),
]
FLASH_OUT = {".isr_vector", ".text", ".ARM.exidx"}
RAM_OUT = {".bss"}
BOTH_OUT = {".data"}   # initial values in flash, the variables in RAM

ENTRY = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
ENTRY_SAME = re.compile(r"^ (\.\S+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def part_of(path):
    for name, pat in PARTS:
        if re.search(pat, path):
            return name
    return "other"


def main(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
    except StopIteration:
        sys.exit("fw_map.py: %s: not a GNU ld map file" % path)
    flash = {name: 0 for name, _ in PARTS}
    ram = {name: 0 for name, _ in PARTS}
    flash["other"] = ram["other"] = 0
    out = None
    pending = None
    stack = storage = 0
    largest = []
    for l in lines[start:]:
        m = re.match(r"^(\.[A-Za-z_.]+)\s*(0x([0-9a-f]+)\s+0x([0-9a-f]+))?", l)
        if m and not l.startswith(" "):
            out = m.group(1)
            if out == ".stack" and m.group(4):
                stack = int(m.group(4), 16)
            if out == ".storage" and m.group(4):
                storage = int(m.group(4), 16)
            pending = None
            continue
        if out not in FLASH_OUT and out not in RAM_OUT and out not in BOTH_OUT:
            continue
        m = ENTRY_SAME.match(l)
        if m:
            sec, size, src = m.group(1), int(m.group(3), 16), m.group(4)
        else:
            if re.match(r"^ (\.\S+|COMMON)\s*$", l):
                pending = l.strip()
                continue
            m = ENTRY.match(l)
            if not m or pending is None:
                continue
            sec, size, src = pending, int(m.group(2), 16), m.group(3)
            pending = None
        if size == 0:
            continue
        p = part_of(src)
        if out in FLASH_OUT or out in BOTH_OUT:
            flash[p] += size
        if out in RAM_OUT or out in BOTH_OUT:
            ram[p] += size
        largest.append((sec, size, p))
    largest.sort(key=lambda x: -x[1])
    names = [n for n, _ in PARTS] + ["other"]
    print(json.dumps({
        "parts": [[n, flash[n], ram[n]] for n in names if flash[n] or ram[n]],
        "stack": stack,
        "storage": storage,
        "largest": largest[:12],
    }))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
