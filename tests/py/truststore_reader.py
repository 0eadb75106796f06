#!/usr/bin/python3
"""truststore_reader.py - an independent reader of compact trust stores.

Usage:
  truststore_reader.py STORE [--signed-by PUB.pem] [--certs FILE]... [--exact]
                             [--pins FILE]... [--expect-count N]
                             [--expect-pins N] [--json]

Written from docs/truststore-format.md with python3-cbor2 and
python3-cryptography only; it shares no code with prov (libprov/src/trust_*.c).

- Checks every rule of the format (v2): deterministic encoding, version 2 (a
  version 1 store is refused: rebuild it), index length, sorted unique index
  records, offsets at the start of each anchor in index order with nothing
  after the last, records ordered by (name-key, record bytes), alg 1..6, key
  lengths (and EC points on their curve), not-after uint or null, ext keys 1..3
  only (3, the path length, a uint), exponent exactly for alg 2, pins a
  multiple of 32 bytes, at most 2047, strictly ascending.
- A signed store (COSE_Sign1, tag 18): --signed-by verifies the ES256
  signature over the Sig_structure, then checks the payload (kind marker
  "prov-trust", version, counter, issued-at, optional device, the store).
- --certs: recompute the anchor of every certificate in the files (PEM or DER)
  and require each anchor of the store to be exactly one of them; with
  --exact, the store must also hold an anchor with the name-key and key of
  every one of them (duplicates, same name and key, collapse to one).
- --pins: the store's pins must be exactly the SHA-256 of the
  SubjectPublicKeyInfo (as the certificate carries it) of every certificate in
  the files.
Prints a JSON summary with --json, else "ok STORE: N anchors"; exits 1 with
"FAIL STORE: reason" on the first violation.
"""
import argparse
import calendar
import hashlib
import json
import sys

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

KEY_LEN = {3: 33, 4: 49, 5: 67, 6: 32}
CURVES = {3: ec.SECP256R1(), 4: ec.SECP384R1(), 5: ec.SECP521R1()}
CURVE_ALG = {"secp256r1": 3, "secp384r1": 4, "secp521r1": 5}


class Bad(Exception):
    pass


def need(cond, why):
    if not cond:
        raise Bad(why)


def is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def deterministic(b):
    """cbor2 writes shortest forms and definite lengths; maps here have keys 1
    and 2 only (one byte each), so insertion order re-encoded = bytewise order
    when the input was sorted (checked separately)."""
    return cbor2.dumps(cbor2.loads(b)) == b


def check_anchor(i, rec):
    need(deterministic(rec), "anchor %d: not deterministic CBOR" % i)
    a = cbor2.loads(rec)
    need(isinstance(a, list) and len(a) in (3, 4), "anchor %d: not an array of 3 or 4" % i)
    alg, key, na = a[0], a[1], a[2]
    need(is_uint(alg) and 1 <= alg <= 6, "anchor %d: alg outside 1..6" % i)
    need(isinstance(key, bytes), "anchor %d: key not a byte string" % i)
    if alg in (1, 2):
        need(128 <= len(key) <= 1024 and key[0] != 0, "anchor %d: bad RSA modulus length" % i)
    else:
        need(len(key) == KEY_LEN[alg], "anchor %d: key of %d bytes for alg %d" % (i, len(key), alg))
        if alg in CURVES:
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(CURVES[alg], key)
            except ValueError:
                raise Bad("anchor %d: key not on the curve" % i)
    need(na is None or is_uint(na), "anchor %d: not-after neither uint nor null" % i)
    ext = a[3] if len(a) == 4 else {}
    if len(a) == 4:
        need(isinstance(ext, dict) and len(ext) > 0, "anchor %d: ext not a non-empty map" % i)
        need(list(ext) == sorted(ext), "anchor %d: ext keys unsorted" % i)
        for k, v in ext.items():
            need(k in (1, 2, 3), "anchor %d: unknown ext key %r" % (i, k))
            if k == 3:
                need(is_uint(v), "anchor %d: ext 3 (path length) not a uint" % i)
            else:
                need(isinstance(v, bytes) and len(v) > 0, "anchor %d: ext %d not a byte string" % (i, k))
    need((alg == 2) == (1 in ext), "anchor %d: exponent (ext 1) iff alg 2" % i)
    if 1 in ext:
        e = int.from_bytes(ext[1], "big")
        need(ext[1][0] != 0 and e % 2 == 1 and e > 1 and e != 65537, "anchor %d: bad exponent" % i)
    return {"alg": alg, "key_len": len(key), "not_after": na,
            "name_constraints": 2 in ext, "path_len": ext.get(3)}


def check_store(buf):
    need(deterministic(buf), "store: not deterministic CBOR (or trailing bytes)")
    top = cbor2.loads(buf)
    need(isinstance(top, list) and len(top) >= 1, "store: not an array")
    need(top[0] != 1, "store: version 1 (made before anchors had to be CAs): rebuild it")
    need(top[0] == 2 and is_uint(top[0]), "store: version is not 2")
    need(len(top) == 4, "store: not an array of 4")
    index, anchors, pins = top[1], top[2], top[3]
    need(isinstance(index, bytes) and isinstance(anchors, bytes) and isinstance(pins, bytes),
         "store: index/anchors/pins not bstr")
    need(len(pins) % 32 == 0 and len(pins) // 32 <= 2047, "store: pins not a multiple of 32 bytes (<= 2047)")
    plist = [pins[i:i + 32] for i in range(0, len(pins), 32)]
    need(all(plist[i] < plist[i + 1] for i in range(len(plist) - 1)), "store: pins unsorted or duplicated")
    need(len(index) % 6 == 0, "store: index length not a multiple of 6")
    need(len(anchors) <= 65535, "store: anchors longer than 65535")
    recs = [index[i:i + 6] for i in range(0, len(index), 6)]
    out, pos, prev = [], 0, None
    for i, r in enumerate(recs):
        need(prev is None or prev < r, "store: index record %d unsorted or duplicate" % i)
        off = int.from_bytes(r[4:], "big")
        need(off == pos, "store: index record %d offset %d, anchor starts at %d" % (i, off, pos))
        # the record's length: decode from the offset and re-encode
        dec = cbor2.CBORDecoder(__import__("io").BytesIO(anchors[pos:]))
        try:
            item = dec.decode()
        except Exception as ex:  # noqa: BLE001 - any decode failure is a defect
            raise Bad("anchor %d: not well-formed (%s)" % (i, ex))
        rec = anchors[pos:pos + len(cbor2.dumps(item))]
        info = check_anchor(i, rec)
        info.update({"name_key": r[:4].hex(), "offset": off, "record": rec})
        if out and out[-1]["name_key"] == info["name_key"]:
            need(out[-1]["record"] < rec, "anchors %d, %d: same name-key, not in record order" % (i - 1, i))
        out.append(info)
        pos += len(rec)
        prev = r
    need(pos == len(anchors), "store: %d trailing bytes after the last anchor" % (len(anchors) - pos))
    return out, plist


def check_signed(buf, pub_path):
    msg = cbor2.loads(buf)
    need(isinstance(msg, cbor2.CBORTag) and msg.tag == 18, "signed: not a tagged COSE_Sign1")
    need(isinstance(msg.value, list) and len(msg.value) == 4, "signed: COSE_Sign1 is not 4 items")
    prot_b, unprot, payload, sig = msg.value
    prot = cbor2.loads(prot_b)
    need(prot.get(1) == -7 and isinstance(prot.get(4), bytes) and len(prot[4]) == 8,
         "signed: protected header is not {1: -7, 4: kid}")
    need(unprot == {}, "signed: unprotected header not empty")
    pub = serialization.load_pem_public_key(open(pub_path, "rb").read())
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    need(prot[4] == hashlib.sha256(spki).digest()[:8], "signed: kid is not the signer's")
    tbs = cbor2.dumps(["Signature1", prot_b, b"", payload])
    need(len(sig) == 64, "signed: signature not 64 bytes")
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Bad("signed: signature does not verify")
    need(deterministic(payload), "signed: payload not deterministic")
    p = cbor2.loads(payload)
    need(isinstance(p, dict) and list(p) == sorted(p), "signed: payload not a sorted map")
    need(set(p) <= {0, 1, 2, 3, 5, 10}, "signed: unknown payload key")
    need(p.get(0) == "prov-trust", "signed: kind marker missing")
    need(p.get(1) == 1, "signed: version not 1")
    need(is_uint(p.get(3)) and p[3] >= 1, "signed: counter missing")
    need(is_uint(p.get(5)), "signed: issued-at missing")
    need(2 not in p or (isinstance(p[2], str) and 1 <= len(p[2]) <= 64), "signed: bad device")
    need(isinstance(p.get(10), bytes), "signed: store missing")
    return p[10], {"counter": p[3], "issued_at": p[5], "device": p.get(2)}


def cert_anchor(cert):
    """(name-key, record) of a certificate, recomputed with cryptography."""
    nk = hashlib.sha256(cert.subject.public_bytes()).digest()[:4]
    pub = cert.public_key()
    ext = {}
    if isinstance(pub, rsa.RSAPublicKey):
        n, e = pub.public_numbers().n, pub.public_numbers().e
        key = n.to_bytes((n.bit_length() + 7) // 8, "big")
        alg = 1 if e == 65537 else 2
        if alg == 2:
            ext[1] = e.to_bytes((e.bit_length() + 7) // 8, "big")
    elif isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name in CURVE_ALG:
        alg = CURVE_ALG[pub.curve.name]
        key = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        alg = 6
        key = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        return None
    t = cert.not_valid_after
    na = None if (t.year, t.month, t.day, t.hour, t.minute, t.second) == (9999, 12, 31, 23, 59, 59) \
        else calendar.timegm(t.utctimetuple())
    try:
        ext[2] = cert.extensions.get_extension_for_class(x509.NameConstraints).value.public_bytes()
    except x509.ExtensionNotFound:
        pass
    try:
        pl = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        if pl is not None:
            ext[3] = pl
    except x509.ExtensionNotFound:
        pass
    item = [alg, key, na] + ([dict(sorted(ext.items()))] if ext else [])
    return nk, cbor2.dumps(item)


def load_certs(path):
    data = open(path, "rb").read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data) if hasattr(x509, "load_pem_x509_certificates") \
            else [x509.load_pem_x509_certificate(b"-----BEGIN CERTIFICATE-----" + blk.split(b"-----END CERTIFICATE-----")[0]
                                                 + b"-----END CERTIFICATE-----\n")
                  for blk in data.split(b"-----BEGIN CERTIFICATE-----")[1:]]
    return [x509.load_der_x509_certificate(data)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--signed-by")
    ap.add_argument("--certs", action="append", default=[])
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--pins", action="append", default=[])
    ap.add_argument("--expect-count", type=int)
    ap.add_argument("--expect-pins", type=int)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    buf = open(a.store, "rb").read()
    summary = {"file": a.store}
    try:
        if buf[:1] == b"\xd2":
            need(a.signed_by is not None, "signed store: give --signed-by")
            buf, summary["signed"] = check_signed(buf, a.signed_by)
        anchors, pins = check_store(buf)
        summary["count"] = len(anchors)
        summary["pins"] = [p.hex() for p in pins]
        summary["size"] = len(buf)
        if a.expect_count is not None:
            need(len(anchors) == a.expect_count, "expected %d anchors, found %d" % (a.expect_count, len(anchors)))
        if a.expect_pins is not None:
            need(len(pins) == a.expect_pins, "expected %d pins, found %d" % (a.expect_pins, len(pins)))
        if a.pins:
            # the SubjectPublicKeyInfo as its certificate carries it, hashed
            want_pins = {hashlib.sha256(c.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
                for p in a.pins for c in load_certs(p)}
            need(set(pins) == want_pins, "pins are not those of the --pins certificates")
        if a.certs:
            want = {}
            for p in a.certs:
                for c in load_certs(p):
                    r = cert_anchor(c)
                    if r is not None:
                        want.setdefault(r, c.subject.rfc4514_string())
            got = set()
            for i, an in enumerate(anchors):
                k = (bytes.fromhex(an["name_key"]), an["record"])
                need(k in want, "anchor %d (name-key %s): matches no given certificate" % (i, an["name_key"]))
                an["subject"] = want[k]
                got.add(k)
            if a.exact:
                # duplicates (same name and key, e.g. a re-issued root) are one anchor
                have = {(k[0], cbor2.loads(k[1])[1]) for k in got}
                missing = [s for k, s in want.items() if (k[0], cbor2.loads(k[1])[1]) not in have]
                need(not missing, "missing anchors for: %s" % "; ".join(sorted(missing)))
    except (Bad, ValueError, cbor2.CBORDecodeError) as ex:
        print("FAIL %s: %s" % (a.store, ex))
        return 1
    for an in anchors:
        an.pop("record")
    summary["anchors"] = anchors
    if a.json:
        print(json.dumps(summary, indent=1, sort_keys=True))
    else:
        print("ok %s: %d anchors" % (a.store, len(anchors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
