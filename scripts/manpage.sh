#!/bin/sh
# manpage.sh PROV > prov.1 - the man page, made from `prov help --all` so it
# never drifts from the usage texts the binary prints.
set -eu
prov=$1
version=$("$prov" --version | sed 's/^prov //')
cat <<HEAD
.TH PROV 1 "" "provkit $version" "User Commands"
.SH NAME
prov \- credential provisioning for IoT devices
.SH SYNOPSIS
.B prov
.I command
.RI [ options ]
.SH DESCRIPTION
.B prov
mints what a device needs to speak TLS: device certificates from a factory CA,
pre-shared keys, raw public keys and TLS profiles, records every issuance in a
SQLite factory database, and packages a device's credentials into a signed and
encrypted CBOR bundle (COSE).
.SH COMMANDS
.nf
HEAD
"$prov" help --all | sed -e 's/\\/\\\\/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"
cat <<'TAIL'
.fi
.SH ENVIRONMENT
.TP
.B PROV_HOME
the factory home when --home is not given (default ./factory)
.TP
.B PROV_PASSPHRASE
protects the factory's private keys and secrets (set at init; needed later)
.SH FILES
prov.db, ca.pem, ca.key, signer.key, signer.pub.pem, kek in the factory home.
.SH SEE ALSO
openssl(1), sqlite3(1); docs/cli.md, docs/bundle-format.md in the source tree.
TAIL
