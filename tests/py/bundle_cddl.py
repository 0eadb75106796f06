#!/usr/bin/python3
"""bundle_cddl.py - check bundle payloads against schemas/bundle.cddl.

Usage: bundle_cddl.py BUNDLE...

No tool reachable here validates CBOR against CDDL, so this is the CDDL of
schemas/bundle.cddl written out by hand in Python over python3-cbor2: an
instance check that shares no code with prov's own checker (bundle_check.c).
It checks the envelope (COSE_Sign1 shape and headers, not the signature: see
bundle_reader.py) and every rule of the payload.  Prints "ok FILE" or
"FAIL FILE: path: reason" per file; exits 1 if any fails.
"""
import sys

import cbor2

UINT64 = 2**64 - 1


class Bad(Exception):
    pass


def need(cond, path, why):
    if not cond:
        raise Bad("%s: %s" % (path, why))


def is_uint(v, lo=0, hi=UINT64):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def is_bytes(v, lo=0, hi=None):
    return isinstance(v, bytes) and len(v) >= lo and (hi is None or len(v) <= hi)


def only_keys(m, allowed, path):
    need(isinstance(m, dict), path, "not a map")
    for k in m:
        need(k in allowed, path, "unknown key %r" % (k,))


def check_protected(b, allowed, path):
    need(is_bytes(b), path, "protected header is not a bstr")
    m = cbor2.loads(b)
    only_keys(m, allowed, path)
    return m


def check_cose_encrypt(v, path):
    need(isinstance(v, cbor2.CBORTag) and v.tag == 96, path, "not a tagged COSE_Encrypt (96)")
    need(isinstance(v.value, list) and len(v.value) == 4, path, "not a 4-element array")
    prot, unprot, ct, recipients = v.value
    p = check_protected(prot, {1}, path + ".protected")
    need(p.get(1) in (10, 1), path, "content alg is not AES-CCM-16-64-128 (10) or A128GCM (1)")
    only_keys(unprot, {5}, path + ".unprotected")
    need(is_bytes(unprot.get(5), 13 if p[1] == 10 else 12, 13 if p[1] == 10 else 12), path,
         "IV of the wrong size")
    need(is_bytes(ct, 8 if p[1] == 10 else 16), path, "ciphertext shorter than the tag")
    need(isinstance(recipients, list) and len(recipients) == 1, path, "not exactly one recipient")
    r = recipients[0]
    need(isinstance(r, list) and len(r) == 3, path + ".recipient", "not a 3-element array")
    rp = check_protected(r[0], {1}, path + ".recipient.protected")
    need(rp.get(1) == -25, path + ".recipient", "alg is not ECDH-ES + HKDF-256 (-25)")
    only_keys(r[1], {-1, 4}, path + ".recipient.unprotected")
    need(r[1].get(4) is None or is_bytes(r[1][4], 8, 8), path + ".recipient", "kid is not 8 bytes")
    epk = r[1].get(-1)
    only_keys(epk, {1, -1, -2, -3}, path + ".recipient.ephemeral")
    need(epk.get(1) == 2 and epk.get(-1) == 1, path + ".recipient.ephemeral", "not EC2 on P-256")
    need(is_bytes(epk.get(-2), 32, 32) and is_bytes(epk.get(-3), 32, 32),
         path + ".recipient.ephemeral", "x or y is not 32 bytes")
    need(r[2] == b"", path + ".recipient", "ciphertext is not empty (direct key agreement)")


def check_tls(t, path):
    only_keys(t, set(range(0, 11)), path)
    need(isinstance(t.get(0), str) and 1 <= len(t[0]) <= 16, path, "protocol")
    if 1 in t:
        need(t[1] in (0, 1), path, "transport")
    if 2 in t:
        need(isinstance(t[2], list) and 1 <= len(t[2]) <= 16 and all(v in (0x0303, 0x0304) for v in t[2])
             and t[2] == sorted(t[2]), path, "versions")
    if 3 in t:
        need(isinstance(t[3], list) and 1 <= len(t[3]) <= 16 and all(is_uint(v, 0, 0xFFFF) for v in t[3]),
             path, "cipher suites")
    if 4 in t:
        need(is_uint(t[4], 64, 16385), path, "record_size_limit")
    if 5 in t:
        need(t[5] in (512, 1024, 2048, 4096), path, "max_fragment_length")
    if 6 in t:
        need(isinstance(t[6], bool), path, "resumption")
    if 7 in t:
        need(is_uint(t[7], 0, 604800), path, "ticket lifetime")
    if 8 in t:
        need(t[8] in (0, 1, 2), path, "time check")
    if 9 in t:
        need(is_uint(t[9]), path, "time floor")
    if 10 in t:
        need(isinstance(t[10], str) and 1 <= len(t[10]) <= 253, path, "server name")


def check_payload(p):
    need(isinstance(p, dict), "payload", "not a map")
    if 9 in p:
        # wipe-payload: the head, 6 => [], 9 => true; nothing else
        only_keys(p, {1, 2, 3, 4, 5, 6, 9}, "payload")
        need(p[9] is True, "payload.wipe", "not true")
        need(p.get(6) == [], "payload.entries", "a wipe bundle has none")
    else:
        only_keys(p, {1, 2, 3, 4, 5, 6, 7, 8}, "payload")
    need(p.get(1) == 1, "payload.version", "not 1")
    need(isinstance(p.get(2), str) and 1 <= len(p[2]) <= 64, "payload.device", "tstr .size (1..64)")
    need(is_uint(p.get(3), 1), "payload.counter", "not 1..2^64-1")
    if 4 in p:
        need(is_bytes(p[4], 8, 32), "payload.nonce", "bstr .size (8..32)")
    need(is_uint(p.get(5)), "payload.issued_at", "not a uint")
    if 9 in p:
        return
    ents = p.get(6)
    need(isinstance(ents, list) and 1 <= len(ents) <= 16, "payload.entries", "[1*16 entry]")
    prev = None
    n_secrets = 0
    for i, e in enumerate(ents):
        path = "entries[%d]" % i
        only_keys(e, {1, 2, 3, 4, 5, 6}, path)
        need(is_uint(e.get(1), 0, 2147483647), path + ".slot", "0..2147483647")
        need(e.get(2) in range(1, 8), path + ".type", "1..7")
        if 3 in e:
            need(e[3] in (-7, -35, -8), path + ".alg", "ES256, ES384 or EdDSA")
        need(is_uint(e.get(4), 0, 15), path + ".usage", "0..15")
        need((e[1], e[2]) > prev if prev is not None else True, path, "(slot, type) not increasing")
        prev = (e[1], e[2])
        if e[2] in (3, 4):
            need(e.get(5) == n_secrets, path + ".value", "secret index %r, expected %d" % (e.get(5), n_secrets))
            n_secrets += 1
        else:
            need(is_bytes(e.get(5), 1, 65536), path + ".value", "bstr .size (1..65536)")
        need((6 in e) == (e[2] == 4), path + ".identity", "present iff the entry is a psk")
        if 6 in e:
            need(is_bytes(e[6], 1, 128), path + ".identity", "bstr .size (1..128)")
    if 7 in p:
        check_tls(p[7], "payload.tls")
    need((8 in p) == (n_secrets > 0), "payload.secrets", "present iff an entry is a secret")
    if 8 in p:
        s = p[8]
        if isinstance(s, cbor2.CBORTag):
            check_cose_encrypt(s, "payload.secrets")
        else:
            need(isinstance(s, list) and len(s) == n_secrets and all(is_bytes(x, 16, 64) for x in s),
                 "payload.secrets", "secret-list of %d secrets of 16..64 bytes" % n_secrets)


def check_file(path):
    msg = cbor2.loads(open(path, "rb").read())
    need(isinstance(msg, cbor2.CBORTag) and msg.tag == 18, "bundle", "not a tagged COSE_Sign1 (18)")
    need(isinstance(msg.value, list) and len(msg.value) == 4, "bundle", "not a 4-element array")
    prot, unprot, payload, sig = msg.value
    h = check_protected(prot, {1, 4}, "bundle.protected")
    need(h.get(1) == -7 and is_bytes(h.get(4), 8, 8), "bundle.protected", "not {1: -7, 4: 8-byte kid}")
    need(unprot == {}, "bundle.unprotected", "not empty")
    need(is_bytes(sig, 64, 64), "bundle.signature", "not 64 bytes")
    need(is_bytes(payload), "bundle.payload", "not a bstr")
    check_payload(cbor2.loads(payload))


def main():
    failed = 0
    for f in sys.argv[1:]:
        try:
            check_file(f)
            print("ok %s" % f)
        except (Bad, ValueError, cbor2.CBORDecodeError) as e:
            print("FAIL %s: %s" % (f, e))
            failed += 1
    sys.exit(1 if failed or len(sys.argv) < 2 else 0)


main()
