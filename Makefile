# provkit - top-level build.
#
#   make            build libprov.a, prov, and the unit tests
#   make demo       install missing Debian packages, build, run the factory demo
#   make check      install missing Debian packages, build, run every test suite
#                   (plain and under AddressSanitizer + UBSan)
#   make check-asan only the sanitizer run
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

PKGS     := libcrypto libcbor jansson sqlite3 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -lcbor -ljansson -lsqlite3 -lpq)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
OPT      := -O2 -g
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
# libprov reads the device's answers with the agent's own headers (pa/pa_status.h,
# pa/pa_console.h: one definition of each code and of the console framing).
PA_SHARED_HDR := firmware-agent/include/pa/pa_status.h firmware-agent/include/pa/pa_console.h
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(OPT) \
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

.PHONY: all deps demo check check-plain check-asan unit bats bench install clean agent firmware firmware-tls

all: $(LIBPROV) $(PROV) $(UNIT_BIN) $(BUILD)/prov.1 $(BUILD)/tests/freescan.so agent

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

$(BUILD)/%.o: %.c $(wildcard libprov/include/prov/*.h libprov/src/*/*.h) $(PA_SHARED_HDR) $(wildcard tools/*.h) $(wildcard tests/unit/*.h) | $(BUILD)/gen/embedded.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

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

# Install missing Debian packages (non-interactive); a no-op when all are present.
deps:
	@sh scripts/deps.sh

demo: deps
	$(MAKE) all
	sh scripts/demo.sh $(BUILD)

# The plain run, then the sanitizer run; tests/run.sh prints "N passed, N failed".
# The sanitizer run comes last so the output ends with its "N passed, N failed".
check: deps
	$(MAKE) check-plain
	$(MAKE) fuzz-smoke
	$(MAKE) check-asan

check-plain: all
	sh tests/run.sh $(BUILD)

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run.sh build-asan

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
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS        := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -g -O1 \
                      -fno-omit-frame-pointer $(FUZZ_SAN) -Ilibprov/include -Ifirmware-agent/include \
                      -Ifirmware-agent -I$(FUZZ_BUILD)/gen \
                      $(PKG_CFLAGS) -DPROV_VERSION=\"$(VERSION)\"
FUZZ_LIB_OBJ       := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/gen/embedded.o
# -timeout: one input taking more than 10 s is a bug (a hang) and fails the run like
# a crash; -max_total_time (below) ends a run that found nothing.
FUZZ_OPTS          := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_ENV           := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
                      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

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

$(FUZZ_BUILD)/libprov/%.o: libprov/%.c $(wildcard libprov/include/prov/*.h libprov/src/*/*.h) $(PA_SHARED_HDR) | $(FUZZ_BUILD)/gen/embedded.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/firmware-agent/%.o: firmware-agent/%.c $(PA_SHARED_HDR) | $(FUZZ_BUILD)/.gitignore
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libprov-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libprov-fuzz.a $(wildcard libprov/include/prov/*.h) $(PA_SHARED_HDR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libprov-fuzz.a $(LIBS)

# The device agent's target: the agent's sources compiled in, PSA from Mbed TLS.
include firmware-agent/sources.mk
# (and the trust module, which checks a trust-store entry: PA_TRUST_SRC)
$(FUZZ_BUILD)/fuzz_agent_bundle: fuzz/fuzz_agent_bundle.c $(PA_AGENT_SRC) $(PA_TRUST_SRC) $(wildcard firmware-agent/include/pa/*.h firmware-agent/*/*.h) | $(FUZZ_BUILD)/.gitignore
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $(PA_INCLUDES) -o $@ $< $(PA_AGENT_SRC) $(PA_TRUST_SRC) -lmbedtls -lmbedx509 -lmbedcrypto
$(FUZZ_BUILD)/fuzz_agent_smp: fuzz/fuzz_agent_smp.c $(PA_AGENT_SRC) $(PA_SMP_SRC) $(PA_TRUST_SRC) $(wildcard firmware-agent/include/pa/*.h firmware-agent/*/*.h) | $(FUZZ_BUILD)/.gitignore
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $(PA_INCLUDES) -o $@ $< $(PA_AGENT_SRC) $(PA_SMP_SRC) $(PA_TRUST_SRC) -lmbedtls -lmbedx509 -lmbedcrypto

# The device's SLIP decoder (firmware-agent/link/, the TLS image's DTLS link).
$(FUZZ_BUILD)/fuzz_agent_slip: fuzz/fuzz_agent_slip.c $(PA_LINK_SRC) $(wildcard firmware-agent/link/*.h) | $(FUZZ_BUILD)/.gitignore
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $(PA_INCLUDES) -o $@ $< $(PA_LINK_SRC)

# The device's flash store (firmware-agent/its/) on the host NOR flash model.
$(FUZZ_BUILD)/fuzz_its: fuzz/fuzz_its.c $(PA_ITS_SRC) firmware-agent/port/pa_flash_sim.c $(wildcard firmware-agent/include/pa/*.h firmware-agent/*/*.h firmware-agent/its/psa/*.h) | $(FUZZ_BUILD)/.gitignore
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $(PA_INCLUDES) -o $@ $< $(PA_ITS_SRC) firmware-agent/port/pa_flash_sim.c

# fuzz_run SECONDS: each target in turn; the first failure stops make.
define fuzz_run
	@for t in $(FUZZ_TARGETS); do \
		name=$${t#fuzz_}; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$name $(FUZZ_BUILD)/artifacts; \
		echo "== $$t: $(1) s"; \
		$(FUZZ_ENV) $(FUZZ_BUILD)/$$t $(FUZZ_OPTS) -max_total_time=$(1) \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
			$$( [ -f fuzz/dict/$$name.dict ] && echo -dict=fuzz/dict/$$name.dict ) \
			$(FUZZ_BUILD)/corpus/$$name fuzz/corpus/$$name >$(FUZZ_BUILD)/$$t.log 2>&1 \
		|| { tail -n 60 $(FUZZ_BUILD)/$$t.log; echo "$$t: FAILED (log: $(FUZZ_BUILD)/$$t.log)"; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' \
			$(FUZZ_BUILD)/$$t.log | tr '\n' ' '; echo; \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
