# firmware-agent/tls/module.mk - the Mbed TLS adapter, built against provkit's own
# Mbed TLS (Debian's source, firmware-agent/mbedtls/mbedtls_config.h, built once
# by scripts/mbedtls.sh into build-mbedtls/ and shared by every BUILD).
#
# Run from the repository root by the top Makefile:
#   make -f firmware-agent/tls/module.mk BUILD=build SAN=0 all
# Outputs: $(BUILD)/agent/tls/ (the adapter, and the agent's and trust store's
# sources compiled again with the custom Mbed TLS headers), $(BUILD)/agent-tls.
# Under SAN=1 our objects are instrumented; Mbed TLS is not (same libraries).

MAKEFLAGS += --no-print-directory

BUILD ?= build
SAN   ?= 0
CC    ?= cc

include firmware-agent/sources.mk

MBEDTLS_DIR  ?= build-mbedtls
MBEDTLS_LIBS := $(MBEDTLS_DIR)/lib/libmbedtls.a $(MBEDTLS_DIR)/lib/libmbedx509.a \
                $(MBEDTLS_DIR)/lib/libmbedcrypto.a
MBEDTLS_CONFIG := firmware-agent/mbedtls/mbedtls_config.h

TLS_DIR := firmware-agent/tls
TLS_OUT := $(BUILD)/agent/tls

TLS_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
TLS_OPT  := -O2 -g
ifeq ($(SAN),1)
TLS_OPT  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
# The custom headers come first, so no Debian mbedtls header is ever picked up.
TLS_MBEDTLS_CFLAGS := -I$(MBEDTLS_DIR)/include -Ifirmware-agent/mbedtls \
                      -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"'
TLS_CFLAGS := -std=c99 $(TLS_WARN) $(TLS_OPT) $(TLS_MBEDTLS_CFLAGS) $(PA_INCLUDES) $(CFLAGS)
TLS_HOST_CFLAGS := $(TLS_CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE

# the agent (logic + host port) and the trust store, compiled with our headers
TLS_AGENT_OBJ := $(PA_AGENT_SRC:firmware-agent/%.c=$(TLS_OUT)/agent/%.o)
TLS_PORT_OBJ  := $(PA_HOST_SRC:firmware-agent/%.c=$(TLS_OUT)/agent/%.o)
TLS_TRUST_OBJ := $(TLS_OUT)/agent/trust/pa_trust.o $(TLS_OUT)/agent/trust/pa_trust_mbedtls.o
TLS_OBJ       := $(TLS_OUT)/pa_tls.o
TLS_HDRS      := $(wildcard firmware-agent/include/pa/*.h firmware-agent/*/*.h) $(MBEDTLS_CONFIG)
TLS_STAMP     := $(MBEDTLS_DIR)/stamp

.PHONY: all mbedtls
all: $(TLS_OUT)/noheap.ok $(BUILD)/agent-tls

# scripts/mbedtls.sh is idempotent (returns at once when the stamp matches).
mbedtls: $(TLS_STAMP)
$(TLS_STAMP) $(MBEDTLS_LIBS) &: $(MBEDTLS_CONFIG) scripts/mbedtls.sh
	sh scripts/mbedtls.sh $(MBEDTLS_DIR)
	@touch $(TLS_STAMP)

$(TLS_OUT)/agent/%.o: firmware-agent/%.c $(TLS_HDRS) $(TLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TLS_HOST_CFLAGS) -c -o $@ $<

$(TLS_OUT)/pa_tls.o: $(TLS_DIR)/pa_tls.c $(TLS_HDRS) $(TLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TLS_CFLAGS) -pedantic -c -o $@ $<

$(TLS_OUT)/%.o: $(TLS_DIR)/%.c $(TLS_HDRS) $(TLS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TLS_HOST_CFLAGS) -c -o $@ $<

# No heap in the adapter's own object (Mbed TLS allocates its own).
$(TLS_OUT)/noheap.ok: $(TLS_OBJ)
	@if nm -u $(TLS_OBJ) | grep -Ew '(malloc|calloc|realloc|free)'; then \
		echo "firmware-agent/tls: heap use in pa_tls.o" >&2; exit 1; fi
	@touch $@

$(BUILD)/agent-tls: $(TLS_OUT)/agent_tls.o $(TLS_OUT)/pa_tls_client.o $(TLS_OBJ) \
		$(TLS_TRUST_OBJ) $(TLS_AGENT_OBJ) $(TLS_PORT_OBJ) $(MBEDTLS_LIBS)
	$(CC) $(TLS_OPT) $(LDFLAGS) -o $@ $^
