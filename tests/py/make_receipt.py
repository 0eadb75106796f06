#!/usr/bin/python3
"""make_receipt.py - sign an install receipt as the device agent would
(docs/receipt-format.md), independently of prov (python3-cbor2 +
python3-cryptography).

Usage: make_receipt.py KEY.pem BUNDLE OUT [options]

By default every field comes from BUNDLE (a bundle file written by prov): device
ID, counter, nonce, and the manifest digest = SHA-256 of the bundle's payload
bytes.  Options override them, to make the receipts a test expects to fail:
  --device ID     --counter N     --digest HEX     --nonce HEX     --no-nonce
  --kid-key PEM   take the kid from this key's SPKI instead of KEY's
  --flip-sig      flip one bit of the signature after signing
  --extra-key     add an unknown payload key 6
  --version N     payload version N
  --wide-counter  encode the counter in 8 bytes (not deterministic CBOR)
  --untagged      leave off tag 18
"""
import hashlib
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def spki_kid(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def enc_uint(n, wide=False):
    """A CBOR unsigned integer; shortest form unless `wide` (8-byte argument)."""
    if wide:
        return bytes([0x1B]) + n.to_bytes(8, "big")
    return cbor2.dumps(n)


def main():
    args = sys.argv[1:]
    keyf, bundlef, out = args[:3]
    opts = args[3:]

    def opt(name, default=None):
        return opts[opts.index(name) + 1] if name in opts else default

    key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
    msg = cbor2.loads(open(bundlef, "rb").read())
    payload_bytes = msg.value[2]
    b = cbor2.loads(payload_bytes)
    device = opt("--device", b[2])
    counter = int(opt("--counter", b[3]))
    digest = bytes.fromhex(opt("--digest")) if opt("--digest") else hashlib.sha256(payload_bytes).digest()
    nonce = b.get(4)
    if opt("--nonce"):
        nonce = bytes.fromhex(opt("--nonce"))
    if "--no-nonce" in opts:
        nonce = None
    version = int(opt("--version", 1))

    # Deterministic CBOR by hand for the small map (keys 1..6 in order): cbor2's
    # canonical mode is an independent encoder for each item.
    items = [(1, cbor2.dumps(version)), (2, cbor2.dumps(device)),
             (3, enc_uint(counter, "--wide-counter" in opts)), (4, cbor2.dumps(digest))]
    if nonce is not None:
        items.append((5, cbor2.dumps(nonce)))
    if "--extra-key" in opts:
        items.append((6, cbor2.dumps(0)))
    payload = bytes([0xA0 + len(items)]) + b"".join(cbor2.dumps(k) + v for k, v in items)

    kid_key = key
    if opt("--kid-key"):
        kid_key = serialization.load_pem_private_key(open(opt("--kid-key"), "rb").read(), None)
    prot = cbor2.dumps({1: -7, 4: spki_kid(kid_key)})
    der = key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = bytearray(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    if "--flip-sig" in opts:
        sig[10] ^= 0x01
    body = [prot, {}, payload, bytes(sig)]
    enc = cbor2.dumps(body if "--untagged" in opts else cbor2.CBORTag(18, body))
    open(out, "wb").write(enc)


main()
