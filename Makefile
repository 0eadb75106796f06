# provkit - top-level build.
#
#   make            build libprov.a, prov, and the unit tests
#   make demo       install missing Debian packages, build, run the factory demo
#   make check      install missing Debian packages, build, run every test suite
#                   (plain and under AddressSanitizer + UBSan)
#   make check-asan only the sanitizer run
#   make bench      benchmarks; figures go to docs/benchmarks.md
#   make install PREFIX=/usr/local
#
# BUILD selects the output directory; SAN=1 builds with -fsanitize=address,undefined.

PREFIX   ?= /usr/local
BUILD    ?= build
SAN      ?= 0
CC       ?= cc
VERSION  := 0.1.0

PKGS     := libcrypto libcbor jansson sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -lcbor -ljansson -lsqlite3)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
OPT      := -O2 -g
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(OPT) \
              -Ilibprov/include -I$(BUILD)/gen $(PKG_CFLAGS) -DPROV_VERSION=\"$(VERSION)\" $(CFLAGS)
ALL_LDFLAGS := $(OPT) $(LDFLAGS)
LIBS     := $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(sort $(wildcard libprov/src/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
EMBED    := schemas/template.schema.json

LIBPROV  := $(BUILD)/libprov.a
PROV     := $(BUILD)/prov

.PHONY: all deps demo check check-plain check-asan unit bats bench install clean

all: $(LIBPROV) $(PROV) $(UNIT_BIN) $(BUILD)/prov.1

$(BUILD)/%.o: %.c $(wildcard libprov/include/prov/*.h) $(wildcard tools/*.h) $(wildcard tests/unit/*.h) | $(BUILD)/gen/embedded.h
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

# Install missing Debian packages (non-interactive); a no-op when all are present.
deps:
	@sh scripts/deps.sh

demo: deps
	$(MAKE) all
	sh scripts/demo.sh $(BUILD)

# The plain run, then the sanitizer run; tests/run.sh prints "N passed, N failed".
check: deps
	$(MAKE) check-plain
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
	install -m 0644 $(BUILD)/prov.1 $(DESTDIR)$(PREFIX)/share/man/man1/prov.1
	install -m 0644 schemas/* $(DESTDIR)$(PREFIX)/share/provkit/schemas/
	install -m 0644 templates/*.json $(DESTDIR)$(PREFIX)/share/provkit/templates/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		libprov/libprov.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libprov.pc

clean:
	rm -rf build build-asan
