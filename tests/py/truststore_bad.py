#!/usr/bin/python3
"""truststore_bad.py - malformed compact trust stores, and bundles that carry them.

    truststore_bad.py make DIR
    truststore_bad.py rebundle BUNDLE STORE SIGNER_KEY OUT

make: write tests/fixtures/truststore/: one store per defect (NAME.store) and
expect.txt, one line per store: NAME<TAB>what the host says (a fragment of
prov_trust_store_check's message)<TAB>what the device says (enum pa_trust_err).
Every store breaks exactly one rule of "What a reader rejects"
(docs/truststore-format.md); the host and the device must both refuse each.
Deterministic: keys come from fixed scalars, so the files are the same on every
run.

rebundle: a copy of BUNDLE (a COSE_Sign1 credential bundle) whose trust-store
entry (type 7) holds STORE's bytes, signed again with SIGNER_KEY (the factory's
PEM bundle signer), as a factory that signed a bad store would send it.

python3-cbor2 and python3-cryptography only; nothing shared with prov.
"""
import hashlib
import os
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

CURVES = {3: ec.SECP256R1(), 4: ec.SECP384R1(), 5: ec.SECP521R1()}
SIZES = {3: 32, 4: 48, 5: 66}


def point(alg, seed):
    k = ec.derive_private_key(int.from_bytes(hashlib.sha256(seed).digest(), "big") % (1 << 200) + 1,
                              CURVES[alg])
    return k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def off_curve(alg):
    """The compressed encoding (prefix 02) of the smallest x that is no curve point."""
    for x in range(1, 1000):
        enc = b"\x02" + x.to_bytes(SIZES[alg], "big")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(CURVES[alg], enc)
        except ValueError:
            return enc
    raise RuntimeError("no x off the curve")


RSA = bytes([0xC1]) * 256  # a 2048-bit modulus as far as the format goes (readers do not factor)
P256 = point(3, b"truststore_bad p256")
NOT_AFTER = 2000000000


def rec(alg, key, na=NOT_AFTER, ext=None, raw=None):
    if raw is not None:
        return raw
    item = [alg, key, na] + ([ext] if ext is not None else [])
    return cbor2.dumps(item, canonical=True)


def store(recs, pins=b"", version=2, keys=None, top=None):
    """recs: [(name_key, record bytes)] in the order given; keys: override the index."""
    index, anchors = b"", b""
    for nk, r in recs:
        index += nk + len(anchors).to_bytes(2, "big")
        anchors += r
    if keys is not None:
        index = keys
    items = [version, index, anchors] + ([pins] if version == 2 else [])
    return cbor2.dumps(top if top is not None else items)


NK1, NK2 = bytes.fromhex("10000000"), bytes.fromhex("20000000")
GOOD = [(NK1, rec(3, P256)), (NK2, rec(1, RSA))]
PIN_A, PIN_B = bytes([0x11]) * 32, bytes([0x22]) * 32


def cases():
    """(name, store bytes, host message fragment, device error)."""
    out = []

    def add(name, data, host, dev):
        out.append((name, data, host, dev))

    add("p384-point-off-curve", store([(NK1, rec(4, off_curve(4)))]),
        "key is not a point on the p384 curve", "PA_TRUST_ERR_KEY")
    add("p256-point-off-curve", store([(NK1, rec(3, off_curve(3)))]),
        "key is not a point on the p256 curve", "PA_TRUST_ERR_KEY")
    add("p521-point-off-curve", store([(NK1, rec(5, off_curve(5)))]),
        "key is not a point on the p521 curve", "PA_TRUST_ERR_KEY")
    add("anchor-not-a-well-formed-item", store([(NK1, rec(3, P256)[:20])]),
        "is not a well-formed item", "PA_TRUST_ERR_TRUNCATED")
    add("version-1-rebuild-it", cbor2.dumps([1, NK1 + b"\0\0", rec(3, P256)]),
        "format version 1, made before anchors had to be CAs", "PA_TRUST_ERR_VERSION")
    add("version-3", store(GOOD, version=3, top=[3, NK1 + b"\0\0", rec(3, P256), b""]),
        "version is not 2", "PA_TRUST_ERR_VERSION")
    add("v2-array-of-3", cbor2.dumps([2, NK1 + b"\0\0", rec(3, P256)]),
        "not an array of 4 items", "PA_TRUST_ERR_CBOR")
    add("not-an-array", cbor2.dumps({2: b""}), "not an array", "PA_TRUST_ERR_CBOR")
    add("index-length-7", store(GOOD, keys=NK1 + b"\0\0" + b"\0"),
        "is not a multiple of 6", "PA_TRUST_ERR_INDEX")
    add("index-unsorted", store([(NK2, rec(1, RSA)), (NK1, rec(3, P256))]),
        "unsorted or a duplicate", "PA_TRUST_ERR_ORDER")
    dup = rec(3, P256)
    add("index-duplicate", store([(NK1, dup), (NK1, dup)]),
        "not in record order", "PA_TRUST_ERR_ORDER")
    p2 = point(3, b"truststore_bad second")
    r1, r2 = sorted([rec(3, P256), rec(3, p2)])
    add("same-name-key-records-unordered", store([(NK1, r2), (NK1, r1)], keys=NK1 + b"\0\0" + NK1 + bytes([0, len(r2)])),
        "not in record order", "PA_TRUST_ERR_ORDER")
    add("offset-not-at-record", store(GOOD, keys=NK1 + b"\0\0" + NK2 + bytes([0, len(GOOD[0][1]) + 1])),
        "is not the start of anchor 1", "PA_TRUST_ERR_OFFSET")
    add("trailing-byte-after-store", store(GOOD) + b"\0", "trailing bytes", "PA_TRUST_ERR_TRAILING")
    add("bytes-after-last-anchor", cbor2.dumps([2, NK1 + b"\0\0", rec(3, P256) + b"\0", b""]),
        "trailing bytes after the last anchor", "PA_TRUST_ERR_TRAILING")
    add("alg-0", store([(NK1, rec(0, P256))]), "alg outside 1..6", "PA_TRUST_ERR_ALG")
    add("alg-7", store([(NK1, rec(7, P256))]), "alg outside 1..6", "PA_TRUST_ERR_ALG")
    add("ed25519-key-31-bytes", store([(NK1, rec(6, bytes(31)))]), "ed25519 key of 31 bytes", "PA_TRUST_ERR_KEY")
    add("p256-prefix-04", store([(NK1, rec(3, b"\x04" + P256[1:]))]),
        "key is not a point on the p256 curve", "PA_TRUST_ERR_KEY")
    add("rsa-modulus-127-bytes", store([(NK1, rec(1, RSA[:127]))]), "RSA modulus of 127 bytes", "PA_TRUST_ERR_KEY")
    add("rsa-modulus-1025-bytes", store([(NK1, rec(1, bytes([0xC1]) * 1025))]),
        "RSA modulus of 1025 bytes", "PA_TRUST_ERR_KEY")
    add("rsa-modulus-leading-zero", store([(NK1, rec(1, b"\0" + RSA[1:]))]),
        "no leading zero", "PA_TRUST_ERR_KEY")
    add("rsa-exp-missing", store([(NK1, rec(2, RSA))]), "alg 2 needs its exponent", "PA_TRUST_ERR_EXT")
    add("rsa-exp-on-alg-1", store([(NK1, rec(1, RSA, ext={1: b"\x03"}))]),
        "an exponent (ext 1) only with alg 2", "PA_TRUST_ERR_EXT")
    add("rsa-exp-even", store([(NK1, rec(2, RSA, ext={1: b"\x04"}))]), "exponent must be odd", "PA_TRUST_ERR_KEY")
    add("rsa-exp-65537", store([(NK1, rec(2, RSA, ext={1: b"\x01\x00\x01"}))]),
        "not 65537", "PA_TRUST_ERR_KEY")
    add("rsa-exp-1", store([(NK1, rec(2, RSA, ext={1: b"\x01"}))]), "exponent must be odd, > 1", "PA_TRUST_ERR_KEY")
    add("ext-empty-map", store([(NK1, rec(3, P256, ext={}))]), "ext is not a non-empty map", "PA_TRUST_ERR_EXT")
    add("ext-unknown-key-4", store([(NK1, rec(3, P256, ext={4: b"\x00"}))]), "unknown ext key", "PA_TRUST_ERR_EXT")
    add("ext-name-constraints-empty", store([(NK1, rec(3, P256, ext={2: b""}))]),
        "ext 2 is not a non-empty byte string", "PA_TRUST_ERR_EXT")
    add("ext-path-len-bstr", store([(NK1, rec(3, P256, ext={3: b"\x01"}))]),
        "ext 3 (path length) is not a uint", "PA_TRUST_ERR_EXT")
    unsorted_ext = bytes.fromhex("84 03 5821") + P256 + bytes.fromhex("1a") + NOT_AFTER.to_bytes(4, "big") + \
        bytes.fromhex("a2 03 01 02 42 3000")
    add("ext-keys-unsorted", store([(NK1, rec(0, b"", raw=unsorted_ext))]), "not deterministic", "PA_TRUST_ERR_CBOR")
    add("not-after-text", store([(NK1, rec(3, P256, na="2033"))]), "not-after is neither uint nor null",
        "PA_TRUST_ERR_CBOR")
    add("version-not-shortest", bytes.fromhex("84 18 02") + store(GOOD)[2:], "not deterministic", "PA_TRUST_ERR_CBOR")
    add("indefinite-array", bytes.fromhex("9f") + store(GOOD)[1:] + bytes.fromhex("ff"), "not deterministic",
        "PA_TRUST_ERR_CBOR")
    add("pins-31-bytes", store(GOOD, pins=PIN_A[:31]), "pins of 31 bytes", "PA_TRUST_ERR_INDEX")
    add("pins-unsorted", store(GOOD, pins=PIN_B + PIN_A), "pin 1 is unsorted or a duplicate", "PA_TRUST_ERR_ORDER")
    add("pins-duplicate", store(GOOD, pins=PIN_A + PIN_A), "pin 1 is unsorted or a duplicate", "PA_TRUST_ERR_ORDER")
    add("pins-as-text", cbor2.dumps([2, b"", b"", "pins"]), "must be byte strings", "PA_TRUST_ERR_CBOR")
    add("anchor-array-of-2", store([(NK1, cbor2.dumps([3, P256]))]), "not an array of 3 or 4 items",
        "PA_TRUST_ERR_CBOR")
    return out


def cmd_make(d):
    os.makedirs(d, exist_ok=True)
    rows = cases()
    with open(os.path.join(d, "expect.txt"), "w") as f:
        f.write("# Malformed trust stores (tests/py/truststore_bad.py make): NAME<TAB>host<TAB>device.\n")
        f.write("# Each is refused by prov (prov_trust_store_check: the message holds the host\n")
        f.write("# column) and by the device (pa_trust_check returns the device column), alone and\n")
        f.write("# inside a signed bundle (tests/bats/trust_install.bats).\n")
        for name, data, host, dev in rows:
            open(os.path.join(d, name + ".store"), "wb").write(data)
            f.write("%s\t%s\t%s\n" % (name, host, dev))
    # and the one good store the cases are variations of
    open(os.path.join(d, "good.store"), "wb").write(store(GOOD, pins=PIN_A + PIN_B))
    print("%d malformed stores and good.store in %s" % (len(rows), d))
    return 0


def cmd_rebundle(bundle, store_path, key_path, out):
    msg = cbor2.loads(open(bundle, "rb").read())
    prot, unprot, payload, _ = msg.value
    p = cbor2.loads(payload)
    new = open(store_path, "rb").read()
    n = 0
    for e in p[6]:
        if e[2] == 7:
            e[5] = new
            n += 1
    if n != 1:
        raise SystemExit("rebundle: %s has %d trust-store entries, not 1" % (bundle, n))
    # deterministic: integer keys 0..23 only, where length-first is bytewise order
    payload = cbor2.dumps(p, canonical=True)
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    der = key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    open(out, "wb").write(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, sig])))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "make":
        return cmd_make(argv[2])
    if len(argv) == 6 and argv[1] == "rebundle":
        return cmd_rebundle(*argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
