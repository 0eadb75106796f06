# firmware-agent/trust/module.mk - the compact trust store (device side) and its tests.
#
# Run from the repository root by the top Makefile:
#   make -f firmware-agent/trust/module.mk BUILD=build SAN=0 all
# Outputs: $(BUILD)/agent/trust/*.o, $(BUILD)/trust-client (the Mbed TLS client the
# end-to-end test drives), $(BUILD)/tests/test_trust_* (run by tests/run.sh).
# The module's own objects must not reference malloc/calloc/realloc/free: checked
# at link time (noheap.ok).  Mbed TLS: the project's build (common.mk's
# MBEDTLS_CFLAGS / MBEDTLS_LIBS: build-mbedtls/, firmware-agent/mbedtls/
# mbedtls_config.h), as for the agent's copy of the module (firmware-agent/
# Makefile, PA_TLS_TRUST) and the fuzz targets: one Mbed TLS on the host.  That
# configuration has the certificate writer test_trust_mbedtls makes its chains
# with (X509_CRT_WRITE_C, host only); its RSA root key comes from openssl
# (no RSA key generation in Mbed TLS); trust-client and the test call
# psa_crypto_init first (MBEDTLS_USE_PSA_CRYPTO: PK verifies ECDSA in PSA).

MAKEFLAGS += --no-print-directory

BUILD ?= build
SAN   ?= 0
CC    ?= cc

TRUST_DIR := firmware-agent/trust
TRUST_OUT := $(BUILD)/agent/trust

# WARN, OPT (by SAN), DEPFLAGS
include common.mk
# -Ifirmware-agent: the store is read with the agent's CBOR reader (verify/pa_cbor.c)
TRUST_CFLAGS := -std=c99 $(WARN) $(OPT) $(DEPFLAGS) -I$(TRUST_DIR) -Ifirmware-agent $(MBEDTLS_CFLAGS) $(CFLAGS)
# the host programs (client, tests) need POSIX and libcbor's headers
TRUST_HOST_CFLAGS := $(TRUST_CFLAGS) -D_POSIX_C_SOURCE=200809L -Itests/unit \
                     $(shell pkg-config --cflags libcbor 2>/dev/null)
CBOR_LIBS    := $(shell pkg-config --libs libcbor 2>/dev/null || echo -lcbor)

# (headers: each object's .d)
TRUST_HDR   :=
TRUST_CBOR  := $(TRUST_OUT)/pa_cbor.o
TRUST_OBJ   := $(TRUST_OUT)/pa_trust.o $(TRUST_CBOR) $(TRUST_OUT)/pa_trust_check.o \
               $(TRUST_OUT)/pa_trust_mbedtls.o
TRUST_TESTS := $(BUILD)/tests/test_trust_store $(BUILD)/tests/test_trust_mbedtls

.PHONY: all
all: $(TRUST_OUT)/noheap.ok $(BUILD)/trust-client $(TRUST_TESTS)

$(TRUST_OUT)/%.o: $(TRUST_DIR)/%.c $(TRUST_HDR) $(MBEDTLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TRUST_CFLAGS) -c -o $@ $<

$(TRUST_CBOR): firmware-agent/verify/pa_cbor.c $(TRUST_HDR) $(MBEDTLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TRUST_CFLAGS) -c -o $@ $<

$(TRUST_OUT)/trust_client.o: $(TRUST_DIR)/trust_client.c $(TRUST_HDR) $(MBEDTLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TRUST_HOST_CFLAGS) -c -o $@ $<

$(TRUST_OUT)/test_%.o: $(TRUST_DIR)/tests/test_%.c $(TRUST_HDR) $(MBEDTLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TRUST_HOST_CFLAGS) -c -o $@ $<

-include $(patsubst %.o,%.d,$(TRUST_OBJ) $(TRUST_OUT)/trust_client.o $(TRUST_TESTS:$(BUILD)/tests/%=$(TRUST_OUT)/%.o))
.SECONDARY: $(TRUST_TESTS:$(BUILD)/tests/%=$(TRUST_OUT)/%.o)

# No heap, said once and checked here: the module's objects import no allocator.
$(TRUST_OUT)/noheap.ok: $(TRUST_OBJ)
	@if nm -u $(TRUST_OBJ) | grep -Ew '(malloc|calloc|realloc|free)'; then \
		echo "firmware-agent/trust: heap use in the module's objects" >&2; exit 1; fi
	@touch $@

$(BUILD)/trust-client: $(TRUST_OUT)/trust_client.o $(TRUST_OBJ) $(MBEDTLS_LIBS)
	$(CC) $(OPT) $(LDFLAGS) -o $@ $(TRUST_OUT)/trust_client.o $(TRUST_OBJ) $(MBEDTLS_LIBS)

$(BUILD)/tests/test_trust_store: $(TRUST_OUT)/test_trust_store.o $(TRUST_OUT)/pa_trust.o $(TRUST_CBOR)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS) -o $@ $^ $(CBOR_LIBS)

$(BUILD)/tests/test_trust_mbedtls: $(TRUST_OUT)/test_trust_mbedtls.o $(TRUST_OBJ) $(MBEDTLS_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS) -o $@ $(TRUST_OUT)/test_trust_mbedtls.o $(TRUST_OBJ) $(CBOR_LIBS) $(MBEDTLS_LIBS)
