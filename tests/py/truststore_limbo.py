#!/usr/bin/python3
"""truststore_limbo.py - x509-limbo cases through prov trust build and the device.

    truststore_limbo.py select LIMBO.json OUT.json
    truststore_limbo.py run CASES.json OUT_OF_SCOPE.txt PROV TRUST_CLIENT WORKDIR [--json FILE]

select: copy, from an x509-limbo limbo.json, the cases whose outcome a compact
trust store and the device's verify callback decide (the rule is SELECTED below
and tests/vectors/limbo/README.md), unchanged, into OUT.json.

run: for every case, the device's whole path:
  1. `prov trust build --from <trusted_certs> --all --at <validation_time>`:
     a store of the trusted certificates that may be anchors (exit 3 "nothing
     to write" when none may: the device trusts nothing, so the case's chain
     is refused);
  2. `trust-client --store S --verify-chain <peer, untrusted_intermediates>
     --servername <expected_peer_name> --now <validation_time>`: Mbed TLS's chain
     building and the store's verify callback, dates against the case's time,
     as firmware-agent/tls/pa_tls.c verifies a server (exit 0 accepted, 4
     refused).  The intermediates (a set in limbo) are served in the order a TLS
     1.2 server sends them (RFC 5246 7.4.2: each certifies the one before it;
     Mbed TLS 2.28 looks for an issuer only after a certificate in the list):
     from the leaf, the one whose subject is the current issuer, and so on; any
     left over follow in the case's order.
The verdict (SUCCESS/FAILURE) is compared with expected_result.  A case listed
in OUT_OF_SCOPE.txt (`id<TAB>reason`) is expected to differ: it is counted out
of scope, and if it agrees after all the list is stale and the run fails.
Prints one line per case and the counts; exits 1 on any mismatch in scope, any
stale out-of-scope entry, or any tool failing otherwise than as described.
Standard library, and python3-cryptography only to read names for that order.
"""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

# ---- which cases ------------------------------------------------------------------

# Properties of the trusted certificate itself, which `prov trust build` judges
# and the store keeps or drops.
ROOT_CASES = {
    "rfc5280::root-missing-basic-constraints",
    "rfc5280::root-non-critical-basic-constraints",
    "rfc5280::root-inconsistent-ca-extensions",
    "rfc5280::unknown-critical-extension-root",
    "rfc5280::aki::critical-aki",
    "rfc5280::aki::self-signed-root-missing-aki",
    "rfc5280::aki::cross-signed-root-missing-aki",
    "rfc5280::ski::critical-ski",
    "rfc5280::ski::root-missing-ski",
    "rfc5280::ca-empty-subject",
    "rfc5280::ee-empty-issuer",
    "rfc5280::mismatching-signature-algorithm",
    "rfc5280::chain-untrusted-root",
    "webpki::aki::root-with-aki-missing-keyidentifier",
    "webpki::aki::root-with-aki-authoritycertissuer",
    "webpki::aki::root-with-aki-authoritycertserialnumber",
    "webpki::aki::root-with-aki-all-fields",
    "webpki::aki::root-with-aki-ski-mismatch",
    "webpki::eku::root-has-eku",
    "webpki::forbidden-signature-algorithm-in-root",
    "webpki::cryptographydotio-chain",
    "webpki::cryptographydotio-chain-missing-intermediate",
}
# Paths from an anchor through served intermediates (where the callback anchors
# and counts), dates along them, and real chains to real roots.
FAMILIES = ("pathlen::", "pathological::", "rfc5280::validity::", "online::")
NC_OID = bytes.fromhex("0603551d1e")  # id-ce-nameConstraints, DER OID TLV


def pem_der(pem):
    import base64
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def selected(tc):
    if "max-chain-depth" in (tc.get("features") or []):
        return False  # a validator setting the device does not have
    if tc["validation_kind"] != "SERVER":
        return False
    if tc["id"] in ROOT_CASES or tc["id"].startswith(FAMILIES):
        return True
    # name constraints on a trusted certificate: what the store keeps (ext 2)
    return "::nc::" in tc["id"] and any(NC_OID in pem_der(p) for p in tc["trusted_certs"])


def cmd_select(src, out):
    data = json.load(open(src))
    cases = [tc for tc in data["testcases"] if selected(tc)]
    with open(out, "w") as f:
        json.dump({"version": data["version"], "testcases": cases}, f, indent=2)
        f.write("\n")
    print("selected %d of %d cases" % (len(cases), len(data["testcases"])))
    return 0


# ---- running them -----------------------------------------------------------------

def when(tc):
    if tc.get("validation_time"):
        t = datetime.fromisoformat(tc["validation_time"]).astimezone(timezone.utc)
    else:
        t = datetime.now(timezone.utc).replace(microsecond=0)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ"), int(t.timestamp())


def signed_by(child, issuer):
    """Does issuer's key verify child's signature?  (RSA PKCS#1 v1.5, ECDSA.)"""
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(),
                       child.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
        else:
            return False
        return True
    except Exception:  # noqa: BLE001 - any failure: not its issuer
        return False


def served_order(peer, inter):
    """The intermediates as a TLS server sends them after the peer: each the
    issuer (name and signature) of the one before."""
    try:
        from cryptography import x509
        load = lambda p: x509.load_pem_x509_certificate(p.encode())  # noqa: E731
        cur = load(peer)
        rest = [(p, load(p)) for p in inter]
    except Exception:  # noqa: BLE001 - a certificate cryptography cannot read: keep the case's order
        return list(inter)
    out = []
    while True:
        named = [x for x in rest if x[1].subject.public_bytes() == cur.issuer.public_bytes()]
        nxt = next((x for x in named if signed_by(cur, x[1])), named[0] if named else None)
        if nxt is None:
            break
        out.append(nxt[0])
        rest.remove(nxt)
        cur = nxt[1]
    return out + [p for p, _ in rest]


def verdict(tc, prov, client, work):
    """(SUCCESS|FAILURE, how) for one case, or raises on a tool failure."""
    d = os.path.join(work, tc["id"].replace("::", "__").replace("/", "_"))
    os.makedirs(d, exist_ok=True)
    trusted = os.path.join(d, "trusted.pem")
    chain = os.path.join(d, "chain.pem")
    store = os.path.join(d, "s.store")
    open(trusted, "w").write("".join(tc["trusted_certs"]))
    open(chain, "w").write("".join([tc["peer_certificate"]] +
                                   served_order(tc["peer_certificate"], tc["untrusted_intermediates"])))
    at, now = when(tc)
    b = subprocess.run([prov, "trust", "build", "--from", trusted, "--all", "--at", at, "--out", store,
                        "--json"], capture_output=True, text=True)
    if b.returncode == 3 and "nothing to write" in b.stderr:
        reasons = sorted({x["reason"] for x in json.loads(b.stdout)["dropped"]})
        return "FAILURE", "build: no anchor (%s)" % ",".join(reasons)
    if b.returncode != 0:
        raise RuntimeError("prov trust build exit %d: %s" % (b.returncode, b.stderr.strip()))
    name = tc.get("expected_peer_name") or {}
    v = subprocess.run([client, "--store", store, "--verify-chain", chain, "--servername",
                        name.get("value", ""), "--now", str(now)], capture_output=True, text=True)
    if v.returncode == 0:
        return "SUCCESS", "device: " + v.stdout.strip()
    if v.returncode == 4:
        return "FAILURE", "device: " + v.stderr.strip().replace("trust-client: ", "")
    raise RuntimeError("trust-client exit %d: %s" % (v.returncode, (v.stderr or v.stdout).strip()))


def cmd_run(cases_path, oos_path, prov, client, work, json_out=None):
    cases = json.load(open(cases_path))["testcases"]
    oos = {}
    for line in open(oos_path):
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            cid, reason = line.split("\t", 1)
            oos[cid] = reason
    known = {tc["id"] for tc in cases}
    bad = [cid for cid in oos if cid not in known]
    counts = {"cases": len(cases), "passed": 0, "out_of_scope": 0, "failed": 0, "stale": 0,
              "passed_by_build": 0, "passed_by_device": 0}
    results = []
    for tc in cases:
        try:
            got, how = verdict(tc, prov, client, work)
        except RuntimeError as ex:
            got, how = "ERROR", str(ex)
        want = tc["expected_result"]
        if tc["id"] in oos:
            status = "out-of-scope" if got != want and got != "ERROR" else "STALE"
        else:
            status = "pass" if got == want else "FAIL"
        key = {"pass": "passed", "out-of-scope": "out_of_scope", "FAIL": "failed", "STALE": "stale"}[status]
        counts[key] += 1
        if status == "pass":
            counts["passed_by_build" if how.startswith("build") else "passed_by_device"] += 1
        results.append({"id": tc["id"], "expected": want, "got": got, "status": status, "how": how,
                        "reason": oos.get(tc["id"])})
        print("%-13s %-62s expected %-7s got %-7s %s" % (status, tc["id"], want, got,
                                                          oos.get(tc["id"], how)))
    for cid in bad:
        print("STALE         %s: listed out of scope but not among the cases" % cid)
        counts["stale"] += 1
    print("limbo: %(cases)d cases: %(passed)d passed (%(passed_by_build)d decided by prov trust build, "
          "%(passed_by_device)d by the device), %(out_of_scope)d out of scope, %(failed)d failed, "
          "%(stale)d stale out-of-scope entries" % counts)
    if json_out:
        json.dump({"counts": counts, "results": results}, open(json_out, "w"), indent=1)
    return 0 if counts["failed"] == 0 and counts["stale"] == 0 and counts["passed"] > 0 else 1


def main(argv):
    if len(argv) == 4 and argv[1] == "select":
        return cmd_select(argv[2], argv[3])
    if len(argv) in (7, 9) and argv[1] == "run":
        return cmd_run(argv[2], argv[3], argv[4], argv[5], argv[6], argv[8] if len(argv) == 9 else None)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
