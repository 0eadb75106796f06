#!/usr/bin/python3
"""bundle_reader.py - read a provkit bundle with code that shares nothing with prov.

Usage: bundle_reader.py BUNDLE SIGNER_PUB_PEM [DEVICE_KEY_PEM]

Decodes with cbor2, rebuilds the COSE Sig_structure itself and verifies the ES256
signature with python-cryptography; checks the kid, that the payload is
deterministic CBOR, and with the device's private key decrypts the bundle's
secrets (one COSE_Encrypt: ECDH-ES + HKDF-256, AES-CCM-16-64-128 or A128GCM) by
RFC 9053 and resolves each secret entry's index into them.  Prints a
JSON summary; exits 1 with a reason on any failure.
"""
import hashlib
import json
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


def spki_kid(pub):
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def decrypt(enc, device_key):
    if not isinstance(enc, cbor2.CBORTag) or enc.tag != 96:
        fail("secret is not a tagged COSE_Encrypt")
    prot_b, unprot, ct, recipients = enc.value
    prot = cbor2.loads(prot_b)
    alg = prot[1]
    iv = unprot[5]
    if len(recipients) != 1:
        fail("expected one recipient")
    r_prot_b, r_unprot, r_ct = recipients[0]
    if cbor2.loads(r_prot_b) != {1: -25} or r_ct != b"":
        fail("recipient is not direct ECDH-ES + HKDF-256")
    epk = r_unprot[-1]
    if epk[1] != 2 or epk[-1] != 1:
        fail("ephemeral key is not EC2 P-256")
    eph = ec.EllipticCurvePublicNumbers(int.from_bytes(epk[-2], "big"),
                                        int.from_bytes(epk[-3], "big"),
                                        ec.SECP256R1()).public_key()
    shared = device_key.exchange(ec.ECDH(), eph)
    # RFC 9053 5.2: COSE_KDF_Context
    context = cbor2.dumps([alg, [None, None, None], [None, None, None], [128, r_prot_b]])
    cek = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=context).derive(shared)
    aad = cbor2.dumps(["Encrypt", prot_b, b""])
    if alg == 10:
        if len(iv) != 13:
            fail("CCM IV must be 13 bytes")
        pt = AESCCM(cek, tag_length=8).decrypt(iv, ct, aad)
    elif alg == 1:
        pt = AESGCM(cek).decrypt(iv, ct, aad)
    else:
        fail("unknown content algorithm %r" % alg)
    return pt, r_unprot.get(4)


def main():
    if len(sys.argv) < 3:
        fail("usage: bundle_reader.py BUNDLE SIGNER_PUB_PEM [DEVICE_KEY_PEM]")
    raw = open(sys.argv[1], "rb").read()
    signer = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
    device_key = None
    if len(sys.argv) > 3:
        device_key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)

    msg = cbor2.loads(raw)
    if not isinstance(msg, cbor2.CBORTag) or msg.tag != 18 or len(msg.value) != 4:
        fail("not a tagged COSE_Sign1")
    prot_b, unprot, payload_b, sig = msg.value
    prot = cbor2.loads(prot_b)
    if prot.get(1) != -7:
        fail("alg is not ES256")
    if prot.get(4) != spki_kid(signer):
        fail("kid does not match the signer key")
    if unprot != {}:
        fail("unprotected header not empty")
    if len(sig) != 64:
        fail("signature is not r||s of 64 bytes")
    to_be_signed = cbor2.dumps(["Signature1", prot_b, b"", payload_b])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        signer.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))
    except Exception:
        fail("signature does not verify")

    payload = cbor2.loads(payload_b)
    # Deterministic encoding: cbor2's canonical form equals RFC 8949 4.2.1 for the
    # key sets bundles use (small integer keys).
    if cbor2.dumps(payload, canonical=True) != payload_b:
        fail("payload is not deterministically encoded")
    out = {"ok": True, "device": payload[2], "counter": payload[3], "version": payload[1],
           "nonce": payload[4].hex() if 4 in payload else None, "entries": []}
    # Secrets: one COSE_Encrypt of [+ bstr] under key 8 (a bare array in lab bundles).
    secrets = None
    if 8 in payload:
        if isinstance(payload[8], cbor2.CBORTag):
            out["secrets_encrypted"] = True
            if device_key is not None:
                pt, kid = decrypt(payload[8], device_key)
                secrets = cbor2.loads(pt)
                out["recipient_kid_ok"] = kid == spki_kid(device_key.public_key())
        else:
            out["secrets_encrypted"] = False
            secrets = payload[8]
    for e in payload[6]:
        ent = {"slot": e[1], "type": e[2], "usage": e[4]}
        if 3 in e:
            ent["alg"] = e[3]
        if 6 in e:
            ent["identity"] = e[6].decode()
        v = e[5]
        if e[2] in (3, 4):
            if not isinstance(v, int):
                fail("secret entry value is not an index")
            ent["secret_index"] = v
            if secrets is not None:
                ent["secret_hex"] = secrets[v].hex()
        else:
            ent["encrypted"] = False
            ent["value_sha256"] = hashlib.sha256(v).hexdigest()
            ent["size"] = len(v)
        out["entries"].append(ent)
    if 7 in payload:
        out["tls"] = {str(k): v for k, v in payload[7].items()}
    print(json.dumps(out, sort_keys=True))


main()
