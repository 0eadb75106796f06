#!/usr/bin/python3
"""truststore_encode.py - an independent encoder of the compact trust store v2.

    truststore_encode.py [--out FILE] [--name-key-of CERT] [--pin CERT]... [--v1] PEM_OR_DER...

Reads every certificate of the given files (PEM bundles or single DER files) and
writes the store (docs/truststore-format.md) to FILE or stdout.  Written from the
format text with python3-cbor2 and python3-cryptography only, so that it shares
nothing with `prov trust build` (C) or the device reader (firmware-agent/trust):
the tests compare their bytes with this one's.

It applies no policy: every certificate becomes an anchor (exact duplicate
records, i.e. same name-key and same record bytes, are kept once), expired or
not, CA or not (so tests can make stores prov refuses to write).  --pin adds the
pin of every certificate of CERT: SHA-256 over its SubjectPublicKeyInfo exactly
as the certificate carries it.  --name-key-of prints the hex name-key of a
certificate's subject and exits.  --v1 writes what a store of format version
1 was, [1, index, anchors] with anchors without a path length, to test that
every reader refuses such an old store.
"""
import argparse
import hashlib
import sys
from datetime import datetime, timezone

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

FORMAT_VERSION = 2
ALG_RSA_F4, ALG_RSA, ALG_P256, ALG_P384, ALG_P521, ALG_ED25519 = 1, 2, 3, 4, 5, 6
EC_ALG = {"secp256r1": ALG_P256, "secp384r1": ALG_P384, "secp521r1": ALG_P521}
NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59)  # RFC 5280 4.1.2.5
EXT_RSA_E, EXT_NC, EXT_PATH_LEN = 1, 2, 3
MAX_ANCHORS_BYTES = 0xFFFF
MAX_PINS = 2047


def der_tlv(buf, pos):
    """(tag, start of value, end of value) of the DER TLV at pos."""
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + n


def tbs_field(cert, skip):
    """The TLV of tbsCertificate's field after `skip` fields, exactly as the
    certificate carries it (not re-encoded): tbsCertificate = SEQUENCE {
    [0] version OPTIONAL, serial, signature, issuer, validity, subject,
    subjectPublicKeyInfo, ... }."""
    tbs = cert.tbs_certificate_bytes
    _, pos, _ = der_tlv(tbs, 0)
    if tbs[pos] == 0xA0:  # explicit version
        pos = der_tlv(tbs, pos)[2]
    for _ in range(skip):
        pos = der_tlv(tbs, pos)[2]
    tag, _, end = der_tlv(tbs, pos)
    assert tag == 0x30, "field %d is not a SEQUENCE" % skip
    return tbs[pos:end]


def subject_der(cert):
    return tbs_field(cert, 4)  # after serial, signature, issuer, validity


def pin(cert):
    return hashlib.sha256(tbs_field(cert, 5)).digest()  # the SubjectPublicKeyInfo


def name_key(cert):
    return hashlib.sha256(subject_der(cert)).digest()[:4]


def minimal_be(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def anchor_record(cert, v1=False):
    pub = cert.public_key()
    ext = {}
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        key = minimal_be(nums.n)
        if nums.e == 65537:
            alg = ALG_RSA_F4
        else:
            alg = ALG_RSA
            ext[EXT_RSA_E] = minimal_be(nums.e)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        alg = EC_ALG.get(pub.curve.name)
        if alg is None:
            raise ValueError("unsupported curve %s" % pub.curve.name)
        key = pub.public_bytes(serialization.Encoding.X962,
                               serialization.PublicFormat.CompressedPoint)
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        alg = ALG_ED25519
        key = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raise ValueError("unsupported key type %s" % type(pub).__name__)
    na = cert.not_valid_after
    not_after = None if na == NO_EXPIRY else int(na.replace(tzinfo=timezone.utc).timestamp())
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
        ext[EXT_NC] = nc.value.public_bytes()
    except x509.ExtensionNotFound:
        pass
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.path_length is not None and not v1:
            ext[EXT_PATH_LEN] = bc.path_length
    except x509.ExtensionNotFound:
        pass
    item = [alg, key, not_after]
    if ext:
        item.append(dict(sorted(ext.items())))
    # keys 1, 2 and 3 encode in one byte each, so canonical (length-first) order
    # is also the RFC 8949 4.2.1 bytewise order
    return cbor2.dumps(item, canonical=True)


def load_certs(path):
    data = open(path, "rb").read()
    if b"-----BEGIN CERTIFICATE-----" in data:
        out = []
        for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
            start = block.find(b"-----BEGIN CERTIFICATE-----")
            if start >= 0:
                out.append(x509.load_pem_x509_certificate(block[start:] + b"-----END CERTIFICATE-----\n"))
        return out
    return [x509.load_der_x509_certificate(data)]


def encode(certs, pinned=(), v1=False):
    entries = sorted({(name_key(c), anchor_record(c, v1)) for c in certs})
    index, anchors = b"", b""
    for key, rec in entries:
        index += key + len(anchors).to_bytes(2, "big")
        anchors += rec
    if len(anchors) > MAX_ANCHORS_BYTES:
        raise ValueError("anchors exceed 65535 bytes")
    if v1:
        return cbor2.dumps([1, index, anchors])
    pins = sorted({pin(c) for c in pinned})
    if len(pins) > MAX_PINS:
        raise ValueError("more than %d pins" % MAX_PINS)
    return cbor2.dumps([FORMAT_VERSION, index, anchors, b"".join(pins)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    ap.add_argument("--name-key-of")
    ap.add_argument("--pin", action="append", default=[])
    ap.add_argument("--v1", action="store_true")
    ap.add_argument("inputs", nargs="*")
    args = ap.parse_args()
    if args.name_key_of:
        for c in load_certs(args.name_key_of):
            print(name_key(c).hex())
        return 0
    certs = [c for p in args.inputs for c in load_certs(p)]
    store = encode(certs, [c for p in args.pin for c in load_certs(p)], args.v1)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(store)
    else:
        sys.stdout.buffer.write(store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
