#!/bin/sh
# mkpki.sh DIR - the test PKI of the end-to-end trust store test, with openssl only.
#
#   old.pem      old root, RSA-4096, self-signed          ("O=provkit test, CN=Old Root CA")
#   new.pem      new root, P-256, self-signed             ("O=provkit test, CN=New Root CA")
#   cross.pem    the new root's name and key, signed by the old root (a cross-certificate)
#   int.pem      intermediate, P-256, signed by the new root
#   leaf.pem     server.test (key leaf.key), P-256, signed by the intermediate
#   served.pem   the chain as the server serves it: leaf, intermediate, cross-certificate
#   served-root.pem  leaf, intermediate, cross-certificate and the old root itself
#   new-expired.pem  the new root's name and key, valid 2000-2001 only
#   old-expired.pem  the old root's name and key, valid 2000-2001 only
#   impostor.pem the new root's name with another key (name-key collision, wrong key)
#   other.pem    an unrelated root
#   e3.pem, p384nc.pem, p521.pem, ed25519.pem  roots of the other key types (RSA with
#                exponent 3, P-384 with name constraints, P-521, Ed25519)
#   pin.pem      server.test's own self-signed certificate, not a CA (CA:FALSE,
#                digitalSignature): what a user who "trusts this one broker" has
#   bypin.pem    server.test again (key bypin.key), signed with pin.key: what a pin
#                must never let through
#   plroot0.pem, plroot1.pem  one root key and name, path length 0 and 1;
#                plint.pem an intermediate under it, plleaf.pem server.test under
#                that; plchain.pem = plleaf, plint
#   leaf-clientauth.pem, leaf-kcs.pem, leaf-noext.pem, leaf-anyeku.pem
#                server.test (key leaf.key) under the intermediate, as leaf.pem but
#                for their usage: extendedKeyUsage clientAuth only; keyUsage
#                keyCertSign only (no digitalSignature); neither extension; EKU
#                anyExtendedKeyUsage (what a TLS client's keyUsage / extendedKeyUsage
#                checks must refuse, and, the last two, what Mbed TLS 2.28 accepts)
set -eu
d=$1
mkdir -p "$d/newcerts"
cd "$d"
cat > pki.cnf <<'CNF'
[req]
distinguished_name = dn
string_mask = utf8only
prompt = no
[dn]
CN = unused
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = any
unique_subject = no
string_mask = utf8only
[any]
organizationName = optional
commonName = supplied
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[issued_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[pinned]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.test
[pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[pathlen1]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.test
[leaf_clientauth]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:server.test
[leaf_kcs]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.test
[leaf_noext]
basicConstraints = critical,CA:FALSE
subjectAltName = DNS:server.test
[leaf_anyeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
subjectAltName = DNS:server.test
CNF
: > index.txt
echo 1000 > serial

OLD="/O=provkit test/CN=Old Root CA"
NEW="/O=provkit test/CN=New Root CA"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
root() { # key subject out
	openssl req -x509 -new -config pki.cnf -extensions root -key "$1" -subj "$2" -days 3650 \
		-sha256 -set_serial "$4" -out "$3"
}
issue() { # key subject ca ca-key ext serial out
	openssl req -new -config pki.cnf -key "$1" -subj "$2" -out "$7.csr"
	openssl x509 -req -in "$7.csr" -CA "$3" -CAkey "$4" -extfile pki.cnf -extensions "$5" \
		-set_serial "$6" -days 1000 -sha256 -out "$7" 2>/dev/null
}
expired() { # key subject out: self-signed, same name and key, valid 2000-2001
	openssl req -new -config pki.cnf -key "$1" -subj "$2" -out "$3.csr"
	openssl ca -batch -config pki.cnf -selfsign -keyfile "$1" -in "$3.csr" -preserveDN \
		-extensions root -startdate 20000101000000Z -enddate 20010101000000Z -notext \
		-out "$3" 2>/dev/null
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out old.key 2>/dev/null
ec new.key; ec int.key; ec leaf.key; ec impostor.key; ec other.key
root old.key "$OLD" old.pem 1
root new.key "$NEW" new.pem 2
root impostor.key "$NEW" impostor.pem 3
root other.key "/O=provkit test/CN=Other Root CA" other.pem 4
issue new.key "$NEW" old.pem old.key issued_ca 10 cross.pem
issue int.key "/O=provkit test/CN=Intermediate CA" new.pem new.key issued_ca 11 int.pem
issue leaf.key "/CN=server.test" int.pem int.key leaf 12 leaf.pem
expired new.key "$NEW" new-expired.pem
expired old.key "$OLD" old-expired.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 -out e3.key 2>/dev/null
root e3.key "/CN=Exponent Three Root" e3.pem 5
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null
openssl req -x509 -new -config pki.cnf -extensions root -key p384.key -subj "/CN=P-384 Root" -days 3650 \
	-set_serial 6 -addext "nameConstraints=critical,permitted;DNS:.example.com" -out p384nc.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.key 2>/dev/null
root p521.key "/CN=P-521 Root" p521.pem 7
openssl genpkey -algorithm ed25519 -out ed25519.key
root ed25519.key "/CN=Ed25519 Root" ed25519.pem 8
# issue 10: a pinned server, a certificate signed by its key, path lengths
ec pin.key; ec bypin.key; ec plroot.key; ec plint.key; ec plleaf.key
openssl req -x509 -new -config pki.cnf -extensions pinned -key pin.key -subj "/CN=server.test" -days 3650 \
	-sha256 -set_serial 20 -out pin.pem
issue bypin.key "/CN=server.test" pin.pem pin.key leaf 21 bypin.pem
openssl req -x509 -new -config pki.cnf -extensions pathlen0 -key plroot.key -subj "/CN=Path Length Root" \
	-days 3650 -sha256 -set_serial 22 -out plroot0.pem
openssl req -x509 -new -config pki.cnf -extensions pathlen1 -key plroot.key -subj "/CN=Path Length Root" \
	-days 3650 -sha256 -set_serial 23 -out plroot1.pem
issue plint.key "/CN=Path Length Intermediate" plroot0.pem plroot.key issued_ca 24 plint.pem
issue plleaf.key "/CN=server.test" plint.pem plint.key leaf 25 plleaf.pem
cat plleaf.pem plint.pem > plchain.pem
# a TLS server's certificate with the wrong usage (the same key and name)
issue leaf.key "/CN=server.test" int.pem int.key leaf_clientauth 26 leaf-clientauth.pem
issue leaf.key "/CN=server.test" int.pem int.key leaf_kcs 27 leaf-kcs.pem
issue leaf.key "/CN=server.test" int.pem int.key leaf_noext 28 leaf-noext.pem
issue leaf.key "/CN=server.test" int.pem int.key leaf_anyeku 29 leaf-anyeku.pem
cat leaf.pem int.pem cross.pem > served.pem
cat leaf.pem int.pem cross.pem old.pem > served-root.pem
cat int.pem cross.pem > chain.pem
