# common.mk - what every makefile of provkit shares, said once: the compiler
# flags (warnings, optimisation, sanitizers, dependency files) and the project's
# Mbed TLS.  Included by the top Makefile, firmware-agent/Makefile and
# firmware-agent/*/module.mk, all run from the repository root.
#
# SAN=1 builds with AddressSanitizer + UBSan (make check-asan, BUILD=build-asan);
# the fuzz targets (clang, libFuzzer) always do.

SAN ?= 0

# Warnings: the host (C11), the agent and its modules (C99), the Cortex-M images
# and the fuzz targets all build with these, as errors.
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_OPT   := -O1 -g -fno-omit-frame-pointer $(SAN_FLAGS)
ifeq ($(SAN),1)
OPT       := $(SAN_OPT)
else
OPT       := -O2 -g
endif
# Each object's header dependencies, written beside it (OBJ.d) by the compiler and
# included by the makefile that builds it; -MP: a deleted header is no error.
DEPFLAGS  := -MMD -MP

# ---- the project's Mbed TLS -------------------------------------------------------
# Debian's source package (the installed libmbedtls-dev's version) with
# firmware-agent/mbedtls/mbedtls_config.h, built once by scripts/mbedtls.sh into
# build-mbedtls/ for everything on the host that uses Mbed TLS: the agent and its
# simulator, the trust module and its client, the agent's fuzz targets.  Shared by
# every BUILD (plain and ASan link the same, uninstrumented, libraries).  Its
# headers go first, so no Debian mbedtls/psa header is picked up.
MBEDTLS_DIR    ?= build-mbedtls
MBEDTLS_CONFIG := firmware-agent/mbedtls/mbedtls_config.h
MBEDTLS_STAMP  := $(MBEDTLS_DIR)/stamp
MBEDTLS_LIBS   := $(MBEDTLS_DIR)/lib/libmbedtls.a $(MBEDTLS_DIR)/lib/libmbedx509.a \
                  $(MBEDTLS_DIR)/lib/libmbedcrypto.a
MBEDTLS_CFLAGS := -I$(MBEDTLS_DIR)/include -Ifirmware-agent/mbedtls \
                  -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"'

# scripts/mbedtls.sh runs on every make (MBEDTLS_CHECK): it returns at once when
# its stamp (configuration, script, compiler, the Debian source version) matches,
# and rewrites the stamp only when it rebuilt, so objects that depend on the
# stamp are rebuilt then and only then (a security update of libmbedtls-dev
# included).  Concurrent runs serialise on a lock, so every BUILD may trigger it.
# (the including makefile's first target stays its default goal)
common_goal := $(.DEFAULT_GOAL)
.PHONY: MBEDTLS_CHECK
MBEDTLS_CHECK:
$(MBEDTLS_STAMP) $(MBEDTLS_LIBS) &: $(MBEDTLS_CONFIG) scripts/mbedtls.sh MBEDTLS_CHECK
	@sh scripts/mbedtls.sh $(MBEDTLS_DIR)
.DEFAULT_GOAL := $(common_goal)
