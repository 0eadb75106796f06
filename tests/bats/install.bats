#!/usr/bin/env bats
# make install: binary, library, headers, pkg-config file, man page, schemas.

load helper

@test "make install PREFIX: a program builds against libprov through pkg-config and runs" {
	build=$(basename "$PROV_BUILD")
	# a sanitizer build's objects carry ASan calls (make check-asan)
	san=0
	nm "$PROV_BUILD/libprov.a" 2>/dev/null | grep -q __asan_init && san=1
	run make -C "$REPO" --no-print-directory install BUILD="$build" PREFIX="$T/usr" SAN="$san"
	assert_status 0
	for f in bin/prov lib/libprov.a lib/pkgconfig/libprov.pc share/man/man1/prov.1 \
		include/prov/bundle.h include/prov/cose.h share/provkit/schemas/bundle.cddl \
		share/provkit/schemas/template.schema.json share/provkit/templates/mqtt-mtls.json; do
		[ -f "$T/usr/$f" ] || { echo "missing $f" >&2; false; }
	done
	[ -x "$T/usr/bin/prov" ]
	run "$T/usr/bin/prov" --version
	assert_status 0
	assert_output_has "prov 0."
	# the man page is troff with every command's usage
	grep -q '^\.TH PROV 1' "$T/usr/share/man/man1/prov.1"
	for cmd in init "ca export" "signer export" "template check" mint list show export bundle inspect; do
		grep -q "usage: prov $cmd" "$T/usr/share/man/man1/prov.1" || { echo "man: no $cmd" >&2; false; }
	done
	cat > "$T/use.c" <<-'C'
	#include <prov/cbor.h>
	#include <prov/err.h>
	#include <stdio.h>
	#include <stdlib.h>
	int main(void)
	{
		cbor_item_t *m = cbor_new_definite_map(2);
		uint8_t *out = NULL;
		size_t n = 0;
		prov_err e;

		prov_cbor_map_put_int(m, 100, prov_cbor_uint(0));
		prov_cbor_map_put_int(m, 1, prov_cbor_uint(0));
		if (prov_cbor_encode(m, &out, &n, &e) != PROV_OK)
			return 1;
		for (size_t i = 0; i < n; i++)
			printf("%02x", out[i]);
		printf("\n");
		free(out);
		cbor_decref(&m);
		return 0;
	}
	C
	flags=$(PKG_CONFIG_PATH="$T/usr/lib/pkgconfig" pkg-config --cflags --libs --static libprov)
	# the sanitizer build's library needs the sanitizer runtimes to link
	[ "$san" = 1 ] && flags="$flags -fsanitize=address,undefined"
	run cc -o "$T/use" "$T/use.c" $flags
	assert_status 0
	run "$T/use"
	assert_status 0
	# deterministic: {1: 0, 100: 0}, keys sorted by their encoding
	[ "$output" = "a20100186400" ]
}
