#!/usr/bin/python3
"""resign_bundle.py - change fields of a bundle's payload and sign it again
with the factory's signer key, independently of prov (python3-cbor2 +
python3-cryptography), to make bundles prov cannot make itself: a counter of
2^64 - 1, times past 2^63 (schemas/bundle.cddl allows any uint).

Usage: resign_bundle.py SIGNER.key BUNDLE OUT [KEY=VALUE...]

KEY is a payload key (3 counter, 5 issued_at), or tls.N for key N of the TLS
profile (tls.9 time_floor); VALUE an unsigned integer.  The payload is
written as deterministic CBOR (RFC 8949 4.2.1: shortest forms, sorted keys;
every key here is a small integer, so cbor2's canonical order is the same);
the protected header (ES256 and the signer's kid) is kept as it is.
"""
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def main():
    keyf, inf, outf = sys.argv[1:4]
    key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
    msg = cbor2.loads(open(inf, "rb").read())
    prot, unprot, payload_bytes, _ = msg.value
    p = cbor2.loads(payload_bytes)
    for kv in sys.argv[4:]:
        k, v = kv.split("=", 1)
        v = int(v)
        assert 0 <= v < 2 ** 64, v
        if k.startswith("tls."):
            p[7][int(k[4:])] = v
        else:
            p[int(k)] = v
    payload = cbor2.dumps(p, canonical=True)
    der = key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    open(outf, "wb").write(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, sig])))


main()
