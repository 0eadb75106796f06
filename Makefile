# provkit - top-level build.
#
#   make            build libprov.a, prov, and the unit tests
#   make demo       install missing Debian packages, build, run the factory demo
#   make check      install missing Debian packages, build, run every test suite
#                   once: under AddressSanitizer + UBSan, the Cortex-M suites plain
#   make check-asan only the sanitizer run (every suite but the Cortex-M ones)
#   make check-plain every suite on the plain build
#   make bench      benchmarks; figures go to docs/benchmarks.md
#   make firmware   the provisioning firmware for QEMU's mps2-an386 (docs/firmware.md):
#                   build/firmware/provkit-an386.elf, .bin, .map [SIGNER_H=FILE]
#   make firmware-tls the same with a (D)TLS client on its second UART
#                   (docs/tls.md): build/firmware/provkit-an386-tls.elf
#   make install PREFIX=/usr/local
#
# BUILD selects the output directory; SAN=1 builds with -fsanitize=address,undefined.

MAKEFLAGS += --no-print-directory

PREFIX   ?= /usr/local
BUILD    ?= build
SAN      ?= 0
CC       ?= cc
VERSION  := 0.1.0

# libp11 and p11-kit: keys in a PKCS#11 token (libprov/src/crypto/p11.c); gnutls: key generation there;
# libpq: the PostgreSQL engine (libprov/src/factory/db_pg.c)
PKGS     := libcrypto libcbor jansson sqlite3 libpq libp11 p11-kit-1 gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -lcbor -ljansson -lsqlite3 -lpq -lp11 -lp11-kit -lgnutls)

# WARN, OPT (by SAN), SAN_FLAGS, DEPFLAGS and the project's Mbed TLS: common.mk
include common.mk
# libprov reads the device's answers with the agent's own headers (pa/pa_status.h,
# pa/pa_console.h: one definition of each code and of the console framing).
PA_SHARED_HDR := firmware-agent/include/pa/pa_status.h firmware-agent/include/pa/pa_console.h
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(OPT) $(DEPFLAGS) \
              -Ilibprov/include -Ifirmware-agent/include -I$(BUILD)/gen $(PKG_CFLAGS) \
              -DPROV_VERSION=\"$(VERSION)\" $(CFLAGS)
ALL_LDFLAGS := $(OPT) $(LDFLAGS)
LIBS     := $(PKG_LIBS) -lm -lpthread

# (and the agent's console framing: one implementation for host and device)
LIB_SRC  := $(sort $(wildcard libprov/src/*/*.c)) firmware-agent/smp/pa_console.c
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
EMBED    := schemas/template.schema.json

LIBPROV  := $(BUILD)/libprov.a
PROV     := $(BUILD)/prov

.PHONY: all deps demo check check-passes check-unsanitized check-plain check-asan unit bats bench install clean agent firmware firmware-tls

# (Mbed TLS first: its fetch and build, which the agent waits for, run beside libprov's)
all: $(MBEDTLS_STAMP) $(LIBPROV) $(PROV) $(UNIT_BIN) $(BUILD)/prov.1 $(BUILD)/tests/freescan.so $(BUILD)/tests/openssl_ku.so agent

# The device side builds with its own makefiles (firmware-agent/Makefile and one per
# module beside the agent), run from the top directory with the same BUILD and SAN.
# Their test programs land in $(BUILD)/tests/ so tests/run.sh runs them as unit suites.
AGENT_MAKEFILES := $(sort $(wildcard firmware-agent/Makefile firmware-agent/*/module.mk))
agent: $(LIBPROV) $(PROV)
	@for m in $(AGENT_MAKEFILES); do \
		$(MAKE) -f $$m BUILD=$(BUILD) SAN=$(SAN) all || exit 1; \
	done

# The provisioning firmware: the agent cross-compiled for a Cortex-M4 with the
# flash store and Mbed TLS (firmware-agent/Makefile; the signer from SIGNER_H or
# the factory home).  scripts/qemu-device.sh DIR runs it.
firmware: $(PROV)
	$(MAKE) -f firmware-agent/Makefile BUILD=$(BUILD) firmware

# The TLS image: the same, with Mbed TLS's (D)TLS client (docs/tls.md, "On the device").
firmware-tls: $(PROV)
	$(MAKE) -f firmware-agent/Makefile BUILD=$(BUILD) firmware-tls

# (headers: each object's .d, from DEPFLAGS; the generated header must exist first)
$(BUILD)/%.o: %.c | $(BUILD)/gen/embedded.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(UNIT_SRC:%.c=$(BUILD)/%.d)
# (the unit tests' objects are kept: the next make neither deletes nor rebuilds them)
.SECONDARY: $(UNIT_SRC:%.c=$(BUILD)/%.o)

# Files compiled into libprov (the template schema), so prov works from any directory.
$(BUILD)/gen/embedded.c $(BUILD)/gen/embedded.h &: $(EMBED) scripts/embed.sh
	@mkdir -p $(BUILD)/gen
	sh scripts/embed.sh $(BUILD)/gen/embedded $(EMBED)

$(BUILD)/gen/embedded.o: $(BUILD)/gen/embedded.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBPROV): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(PROV): $(TOOL_OBJ) $(LIBPROV)
	$(CC) $(ALL_LDFLAGS) -o $@ $(TOOL_OBJ) $(LIBPROV) $(LIBS)

$(BUILD)/prov.1: $(PROV) scripts/manpage.sh
	sh scripts/manpage.sh $(PROV) > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBPROV)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBPROV) $(LIBS)

# The secret scanner for tests/bats/secrets_wiped.bats, an LD_PRELOAD object: never
# built with the sanitizers (it wraps the allocator of whatever it is loaded into).
$(BUILD)/tests/freescan.so: tests/tools/freescan.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -fPIC -shared -o $@ $< -ldl

# openssl s_server serving an ECDSA certificate without digitalSignature
# (tests/bats/tls.bats), an LD_PRELOAD object: never built with the sanitizers.
$(BUILD)/tests/openssl_ku.so: tests/tools/openssl_ku.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -fPIC -shared -o $@ $< -ldl

# Install missing Debian packages (non-interactive); a no-op when all are present.
deps:
	@sh scripts/deps.sh

demo: deps
	$(MAKE) all
	sh scripts/demo.sh $(BUILD)

# make check runs every check once, in three passes at the same time, each
# building what it needs on the shared job slots (all cores, plus one for the
# passes' waits, unless make was given -j):
#   check-unsanitized  the plain build's Bats suites that sanitizers cannot
#                      change (tests/run.sh's SAN_SKIP: the Cortex-M suites, whose
#                      QEMU devices keep the CPU first, and the harness's own);
#   check-asan         every other suite on the AddressSanitizer + UBSan build;
#   fuzz-smoke         each libFuzzer target for a few seconds.
# The last two run under CHECK_NICE (nice -n 10 here), so an emulated Cortex-M
# never waits for a core behind them.  The output ends with the sum of the two
# suite runs' "N passed, N failed" (each run.sh writes its own to
# BUILD/tests/run-total).  `make check-plain` runs every suite on the plain build
# (the times: docs/benchmarks.md, "make check").
NPROC    := $(shell nproc 2>/dev/null || echo 1)
CHECK_J   = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(NPROC))
CHECK_J1  = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(shell echo $$(($(NPROC) + 1))))
CHECK_NICE ?=
check: deps
	$(MAKE) $(CHECK_J1) check-passes CHECK_NICE="nice -n 10"
	@cat $(BUILD)/tests/run-total build-asan/tests/run-total | \
		awk '{ p += $$1; f += $$3 } END { print p " passed, " f " failed" }'

check-passes: check-unsanitized check-asan fuzz-smoke

check-unsanitized: all
	PROV_SUITES=unsanitized sh tests/run.sh $(BUILD)

check-plain: all
	sh tests/run.sh $(BUILD)

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(CHECK_NICE) sh tests/run.sh build-asan

unit: all
	PROV_SUITES=unit sh tests/run.sh $(BUILD)

bats: all
	PROV_SUITES=bats sh tests/run.sh $(BUILD)

bench: deps
	$(MAKE) all
	sh bench/run.sh $(BUILD)

install: $(LIBPROV) $(PROV) $(BUILD)/prov.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/prov $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/provkit/schemas $(DESTDIR)$(PREFIX)/share/provkit/templates
	install -m 0755 $(PROV) $(DESTDIR)$(PREFIX)/bin/prov
	install -m 0644 $(LIBPROV) $(DESTDIR)$(PREFIX)/lib/libprov.a
	install -m 0644 libprov/include/prov/*.h $(DESTDIR)$(PREFIX)/include/prov/
	install -d $(DESTDIR)$(PREFIX)/include/pa
	install -m 0644 $(PA_SHARED_HDR) $(DESTDIR)$(PREFIX)/include/pa/
	install -m 0644 $(BUILD)/prov.1 $(DESTDIR)$(PREFIX)/share/man/man1/prov.1
	install -m 0644 schemas/* $(DESTDIR)$(PREFIX)/share/provkit/schemas/
	install -m 0644 templates/*.json $(DESTDIR)$(PREFIX)/share/provkit/templates/
	install -d $(DESTDIR)$(PREFIX)/share/provkit/templates/roots
	install -m 0644 templates/roots/*.pem templates/roots/*.store $(DESTDIR)$(PREFIX)/share/provkit/templates/roots/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		libprov/libprov.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libprov.pc

clean:
	rm -rf build build-asan

# ---- fuzzing (libFuzzer) ---------------------------------------------------------
#   make fuzz         build the fuzz targets and run each for FUZZ_SECONDS (default 60)
#   make fuzz-smoke   run each for FUZZ_SMOKE_SECONDS (6) from its seed corpus; part
#                     of `make check`
# One target per parser of outside bytes (fuzz/fuzz_*.c, see fuzz/README.md).  They
# and libprov's sources are compiled with clang, coverage-instrumented and under
# AddressSanitizer + UBSan, into build-fuzz/ (the gcc-built libprov.a has no
# coverage, so it is not used).  Seeds come from fuzz/corpus/<target>/ (read only);
# inputs the fuzzer finds go to build-fuzz/corpus/<target>/, reproducers of crashes
# to build-fuzz/artifacts/.  clang and libclang-rt-14-dev provide libFuzzer.

FUZZ_CC            ?= clang
FUZZ_BUILD         := build-fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 6
FUZZ_TARGETS       := $(patsubst fuzz/%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_BIN           := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
# (the warnings and sanitizers of common.mk; Mbed TLS: the project's, as the agent's)
FUZZ_CFLAGS        := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(SAN_OPT) \
                      $(DEPFLAGS) -Ilibprov/include -Ifirmware-agent/include \
                      -Ifirmware-agent -I$(FUZZ_BUILD)/gen \
                      $(PKG_CFLAGS) -DPROV_VERSION=\"$(VERSION)\"
FUZZ_LIB_OBJ       := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/gen/embedded.o
# (libFuzzer's options and the sanitizers' run-time options: fuzz/run.sh)
FUZZ_JOBS          ?= $(NPROC)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-clean

fuzz-build: $(FUZZ_BIN)

$(FUZZ_BUILD)/.gitignore:
	@mkdir -p $(FUZZ_BUILD)
	echo '*' > $@

$(FUZZ_BUILD)/gen/embedded.c $(FUZZ_BUILD)/gen/embedded.h &: $(EMBED) scripts/embed.sh | $(FUZZ_BUILD)/.gitignore
	@mkdir -p $(FUZZ_BUILD)/gen
	sh scripts/embed.sh $(FUZZ_BUILD)/gen/embedded $(EMBED)

$(FUZZ_BUILD)/gen/embedded.o: $(FUZZ_BUILD)/gen/embedded.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libprov/%.o: libprov/%.c | $(FUZZ_BUILD)/gen/embedded.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# The targets' own sources and the agent's, with the project's Mbed TLS headers.
$(FUZZ_BUILD)/fuzz/%.o: fuzz/%.c $(MBEDTLS_STAMP) | $(FUZZ_BUILD)/gen/embedded.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(MBEDTLS_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/firmware-agent/%.o: firmware-agent/%.c $(MBEDTLS_STAMP) | $(FUZZ_BUILD)/.gitignore
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(MBEDTLS_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libprov-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_BUILD)/libprov-fuzz.a
	$(FUZZ_CC) $(SAN_OPT) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# The device's targets: the agent's sources compiled in.
include firmware-agent/sources.mk
fuzz_pa = $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(1))
# the agent's bundle decoder, and the trust module, which checks a trust-store
# entry (PA_TRUST_SRC); PSA from the project's Mbed TLS
$(FUZZ_BUILD)/fuzz_agent_bundle: $(FUZZ_BUILD)/fuzz/fuzz_agent_bundle.o \
		$(call fuzz_pa,$(PA_AGENT_SRC) $(PA_TRUST_SRC)) $(MBEDTLS_LIBS)
	$(FUZZ_CC) $(SAN_OPT) -fsanitize=fuzzer -o $@ $^
$(FUZZ_BUILD)/fuzz_agent_smp: $(FUZZ_BUILD)/fuzz/fuzz_agent_smp.o \
		$(call fuzz_pa,$(PA_AGENT_SRC) $(PA_SMP_SRC) $(PA_TRUST_SRC)) $(MBEDTLS_LIBS)
	$(FUZZ_CC) $(SAN_OPT) -fsanitize=fuzzer -o $@ $^

# The device's SLIP decoder (firmware-agent/link/, the TLS image's DTLS link).
$(FUZZ_BUILD)/fuzz_agent_slip: $(FUZZ_BUILD)/fuzz/fuzz_agent_slip.o $(call fuzz_pa,$(PA_LINK_SRC))
	$(FUZZ_CC) $(SAN_OPT) -fsanitize=fuzzer -o $@ $^

# The device's flash store (firmware-agent/its/) on the host NOR flash model.
$(FUZZ_BUILD)/fuzz_its: $(FUZZ_BUILD)/fuzz/fuzz_its.o \
		$(call fuzz_pa,$(PA_ITS_SRC) firmware-agent/port/pa_flash_sim.c)
	$(FUZZ_CC) $(SAN_OPT) -fsanitize=fuzzer -o $@ $^

FUZZ_PA_OBJ := $(call fuzz_pa,$(sort $(PA_AGENT_SRC) $(PA_SMP_SRC) $(PA_TRUST_SRC) $(PA_LINK_SRC) \
                 $(PA_ITS_SRC) firmware-agent/port/pa_flash_sim.c))
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%.d) $(FUZZ_PA_OBJ:.o=.d)
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%.o) $(FUZZ_PA_OBJ)

# fuzz_run SECONDS: every target, FUZZ_JOBS at a time (fuzz/run.sh); a failure
# (its log's last lines shown once all have run) fails make.
define fuzz_run
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_JOBS=$(FUZZ_JOBS) $(CHECK_NICE) sh fuzz/run.sh $(1) $(FUZZ_TARGETS)
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
