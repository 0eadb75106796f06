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

An image linked with LTO (the provisioning image) has its code in the link's
own ltrans objects, so the map cannot say where it came from.  Then the ELF
beside the map (same name, .elf) is read instead: each symbol's size
(arm-none-eabi-nm -S) and its source file, from the line table for code
(nm -l) or from the compile unit that declares it in the debug information
for data.  Code that LTO inlined counts where it was inlined to (a function
of the agent inlined into the SMP command that calls it counts as SMP);
bytes no symbol covers (alignment) are "other".
"""
import json
import os
import re
import subprocess
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


# The same parts by source file (the LTO path): firmware-agent/ folders, Mbed
# TLS's library/ files, newlib and libgcc.
SRC_PARTS = [
    ("agent (verify, store, receipt, core)", r"(^|/)firmware-agent/(core|verify|store|receipt)/"),
    ("SMP console (smp/)", r"(^|/)firmware-agent/smp/"),
    ("keygen and CSR (keygen/)", r"(^|/)firmware-agent/keygen/"),
    ("flash store (its/)", r"(^|/)firmware-agent/its/"),
    ("trust store (trust/)", r"(^|/)firmware-agent/trust/"),
    ("TLS image: adapter, application, link (tls/, link/, pa_fw_tls, UART1)",
     r"(^|/)firmware-agent/(tls|link)/|/board/pa_fw_tls\.c|/board/[^/]+/net/"),
    ("board and firmware (board/, port/, signer)", r"(^|/)firmware-agent/(board|port)/"),
    ("Mbed TLS (D)TLS client (libmbedtls)", r"(^|/)library/(ssl_[a-z_]*|debug|net_sockets)\.c"),
    ("Mbed TLS X.509, PK, OID, RSA", r"(^|/)library/(x509[a-z_]*|pk|pkparse|pkwrite|pk_wrap|oid|rsa|rsa_internal)\.c"),
    ("Mbed TLS PSA core", r"(^|/)library/psa_crypto[a-z_]*\.c"),
    ("Mbed TLS ECC (ecp, bignum, ecdsa, ecdh)", r"(^|/)library/(ecp|ecp_curves|bignum|ecdsa|ecdh)\.c"),
    ("Mbed TLS other (AES, CCM, GCM, SHA-256, HKDF, DRBG, ...)", r"(^|/)library/"),
    ("C library and libgcc", r"newlib|libgcc|/libc/"),
]


def src_part(path):
    for name, pat in SRC_PARTS:
        if re.search(pat, path):
            return name
    return "other"


def dwarf_names(elf):
    """name -> source file of the compile unit that declares it."""
    out = subprocess.run(["arm-none-eabi-objdump", "--dwarf=info", elf], capture_output=True,
                         text=True, check=True).stdout
    names, cu, in_cu_die = {}, None, False
    for l in out.splitlines():
        if "DW_TAG_compile_unit" in l:
            cu, in_cu_die = None, True
            continue
        m = re.search(r"DW_AT_name\s*:.*?:?\s*([^\s:][^:]*)$", l)
        if "DW_AT_name" in l:
            val = l.split(":")[-1].strip()
            if in_cu_die and cu is None:
                # Mbed TLS is compiled in its library/ folder: a bare name
                cu = val if "/" in val or not val.endswith(".c") else "library/" + val
                in_cu_die = False
                continue
            if cu is not None and cu != "<artificial>" and val not in names:
                names[val] = cu
        elif re.match(r"\s*<\d+><[0-9a-f]+>: Abbrev", l):
            in_cu_die = False
    return names


def from_elf(elf):
    """The parts of an LTO image from its symbols (see the top comment)."""
    nm = subprocess.run(["arm-none-eabi-nm", "-S", "-l", "--defined-only", elf],
                        capture_output=True, text=True, check=True).stdout
    size_a = subprocess.run(["arm-none-eabi-size", "-A", elf], capture_output=True, text=True,
                            check=True).stdout
    sec = {}
    for l in size_a.splitlines():
        f = l.split()
        if len(f) >= 3 and f[1].isdigit():
            sec[f[0]] = (int(f[1]), int(f[2]))
    names = dwarf_names(elf)
    flash = {n: 0 for n, _ in SRC_PARTS}
    ram = {n: 0 for n, _ in SRC_PARTS}
    flash["other"] = ram["other"] = 0
    largest, seen = [], set()
    for l in nm.splitlines():
        f = l.split(None, 4)
        if len(f) < 4 or f[2] not in "tTrRdDbBW" or f[3] in ("__stack_size",):
            continue
        addr, size, kind, name = int(f[0], 16), int(f[1], 16), f[2], f[3]
        path = f[4].split("\t")[-1] if len(f) == 5 else ""
        if "\t" in name:
            name, path = name.split("\t", 1)
        if (addr, name) in seen or size == 0:
            continue
        seen.add((addr, name))
        if not path:
            base = re.sub(r"\.(lto_priv|constprop|isra|part|cold)(\.\d+)*$|\.\d+$", "", name)
            path = names.get(name) or names.get(base) or ""
        p = src_part(path) if path else "other"
        s_start, s_len = sec.get(".storage", (0, 0))[::-1]
        if s_len and s_start <= addr < s_start + s_len:
            continue   # the storage sectors: reported apart
        st_start, st_len = sec.get(".stack", (0, 0))[::-1]
        if st_len and st_start <= addr < st_start + st_len:
            continue
        if kind in "bB":
            ram[p] += size
        elif kind in "dD":
            ram[p] += size
            flash[p] += size
        else:
            flash[p] += size
        largest.append((name, size, p))
    total_flash = sum(sec.get(s, (0, 0))[0] for s in (".isr_vector", ".text", ".ARM.exidx", ".data"))
    total_ram = sum(sec.get(s, (0, 0))[0] for s in (".data", ".bss"))
    flash["other"] += max(0, total_flash - sum(flash.values()))
    ram["other"] += max(0, total_ram - sum(ram.values()))
    largest.sort(key=lambda x: -x[1])
    names_order = [n for n, _ in SRC_PARTS] + ["other"]
    return {
        "parts": [[n, flash[n], ram[n]] for n in names_order if flash[n] or ram[n]],
        "stack": sec.get(".stack", (0, 0))[0],
        "storage": sec.get(".storage", (0, 0))[0],
        "largest": largest[:12],
    }


def main(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
    except StopIteration:
        sys.exit("fw_map.py: %s: not a GNU ld map file" % path)
    elf = re.sub(r"\.map$", ".elf", path)
    if any(".ltrans" in l for l in lines[start:]) and os.path.exists(elf):
        print(json.dumps(from_elf(elf)))
        return
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
