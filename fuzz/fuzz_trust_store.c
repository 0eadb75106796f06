/*
 * fuzz_trust_store.c - libFuzzer target for the device's compact trust store
 * reader (firmware-agent/trust/pa_trust.c): pa_trust_open, pa_trust_get,
 * pa_trust_find / pa_trust_next, pa_trust_pinned.
 *
 * The reader and the agent's CBOR reader it uses are compiled into this target
 * (included below), so the top Makefile's fuzz rule builds it as is: it needs
 * nothing from libprov and no Mbed TLS.  Seeds: fuzz/corpus/trust_store/ (stores written by
 * tests/py/truststore_encode.py from roots of every key type).
 *
 * Checks besides "no crash, no UB": a rejected store is left empty; an accepted
 * one decodes every anchor, inside the anchors bytes, in name-key order, and each
 * anchor is found again by a lookup of its name-key; a lookup of any name-key
 * returns only anchors with that key and terminates; every pin is found again,
 * inside the input, and a pin changed in its last byte is not; open is
 * deterministic.
 */
#include "../firmware-agent/trust/pa_trust.c"
#include "../firmware-agent/verify/pa_cbor.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pa_trust_store st, st2;
	pa_trust_anchor a, b;
	pa_trust_iter it;
	uint8_t probe[PA_TRUST_NAME_KEY_LEN] = { 0 };
	size_t i, steps;
	int err = pa_trust_open(&st, data, size);

	if (pa_trust_open(&st2, data, size) != err)
		abort();
	if (err != PA_TRUST_OK) {
		if (st.n != 0 || st.index != NULL || st.anchors != NULL || st.n_pins != 0 || st.pins != NULL)
			abort();
		return 0;
	}
	for (i = 0; i < st.n_pins; i++) {
		uint8_t pin[PA_TRUST_PIN_LEN];

		if (st.pins < data || st.pins + st.n_pins * PA_TRUST_PIN_LEN > data + size)
			abort();
		memcpy(pin, st.pins + i * PA_TRUST_PIN_LEN, sizeof(pin));
		if (!pa_trust_pinned(&st, pin))
			abort();
		pin[PA_TRUST_PIN_LEN - 1] ^= 1;
		/* strictly ascending pins: the neighbour can only be the next one */
		if (pa_trust_pinned(&st, pin) &&
		    !(i + 1 < st.n_pins && memcmp(pin, st.pins + (i + 1) * PA_TRUST_PIN_LEN, sizeof(pin)) == 0) &&
		    !(i > 0 && memcmp(pin, st.pins + (i - 1) * PA_TRUST_PIN_LEN, sizeof(pin)) == 0))
			abort();
	}
	if (st.n != st2.n || st.index != st2.index)
		abort();
	for (i = 0; i < st.n; i++) {
		int hit = 0;

		if (pa_trust_get(&st, i, &a) != PA_TRUST_OK)
			abort();
		if (a.record < st.anchors || a.record + a.record_len > st.anchors + st.anchors_len)
			abort();
		if (a.alg < PA_TRUST_ALG_RSA_F4 || a.alg > PA_TRUST_ALG_ED25519)
			abort();
		if (i > 0 && memcmp(st.index + (i - 1) * PA_TRUST_INDEX_REC_LEN, a.name_key, PA_TRUST_NAME_KEY_LEN) > 0)
			abort();
		if (pa_trust_find(&st, a.name_key, &it) != PA_TRUST_OK)
			abort();
		for (steps = 0; pa_trust_next(&it, &b) == PA_TRUST_OK; steps++) {
			if (steps >= st.n || memcmp(b.name_key, a.name_key, PA_TRUST_NAME_KEY_LEN) != 0)
				abort();
			hit |= b.record == a.record;
		}
		if (!hit)
			abort();
	}
	/* probe name-keys from the input itself */
	for (i = 0; i + PA_TRUST_NAME_KEY_LEN <= size && i < 64; i += PA_TRUST_NAME_KEY_LEN) {
		memcpy(probe, data + i, PA_TRUST_NAME_KEY_LEN);
		pa_trust_find(&st, probe, &it);
		for (steps = 0; pa_trust_next(&it, &b) == PA_TRUST_OK; steps++)
			if (steps >= st.n || memcmp(b.name_key, probe, PA_TRUST_NAME_KEY_LEN) != 0)
				abort();
	}
	return 0;
}
