# gmemu -- plain GNU make.
#   make            build/libgmemu.a, build/libgmemu.so, build/gmemu
#   make check      every test, then again built with ASan+UBSan
#   make demo       the main job: a conversion scenario, step by step
#   make bench      benchmarks (ratios against baselines of the same run)
#   make install PREFIX=/usr/local

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
            -Wstrict-prototypes -Wpointer-arith -Wno-missing-field-initializers
BASEFLAGS := -std=gnu11 -D_GNU_SOURCE -Iinclude -fPIC -fvisibility=hidden \
             $(WARN) $(SANFLAGS)
LDLIBS   := -lcrypto -lpthread
VERSION  := 0.1.0

LIB_SRC  := $(wildcard src/uapi/*.c src/gmem/*.c src/vm/*.c src/kvm/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/t_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/b_*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
HEADERS  := include/gmemu.h src/internal.h

.PHONY: all check check-plain check-asan check-clang demo bench install clean tests

all: $(BUILD)/libgmemu.a $(BUILD)/libgmemu.so $(BUILD)/gmemu

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libgmemu.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/libgmemu.so: $(LIB_OBJ)
	@echo "  LD      $@"
	@$(CC) -shared -Wl,-soname,libgmemu.so.0 $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/gmemu: tools/gmemu.c $(BUILD)/libgmemu.a $(HEADERS)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/harness.h tests/whitebox.h $(BUILD)/libgmemu.a $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) -Isrc $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(BUILD)/libgmemu.a $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) -Isrc $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS) -lm

$(BUILD)/examples/%: examples/%.c $(BUILD)/libgmemu.a include/gmemu.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS)

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

# Guest programs for the real-guest tests: real-mode code, flat binaries.
GUESTS := $(patsubst tests/guests/%.S,$(BUILD)/guests/%.bin,$(wildcard tests/guests/*.S))

$(BUILD)/guests/%.bin: tests/guests/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	@$(CC) -m32 -c -o $(@:.bin=.o) $<
	@objcopy -O binary -j .text $(@:.bin=.o) $@

tests: $(TESTS) $(EXAMPLES) $(GUESTS) $(BUILD)/gmemu $(BUILD)/libgmemu.so

check-plain: tests
	@tests/run.sh $(BUILD) $(TESTS) tests/t_examples.sh

check-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests
	@ASAN_OPTIONS=handle_sigbus=0:allow_user_segv_handler=1:detect_leaks=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  tests/run.sh build/asan $(TEST_SRC:tests/%.c=build/asan/tests/%) tests/t_examples.sh

# Warnings are errors under clang too: build everything with it when present.
check-clang:
	@if command -v clang >/dev/null; then \
	  $(MAKE) --no-print-directory CC=clang BUILD=build/clang tests >/dev/null && \
	  echo "clang build: ok"; \
	else echo "clang build: skipped (no clang)"; fi

check:
	@$(MAKE) --no-print-directory check-plain
	@$(MAKE) --no-print-directory check-clang
	@$(MAKE) --no-print-directory check-asan

demo: $(BUILD)/gmemu $(GUESTS)
	$(BUILD)/gmemu demo

bench: $(BENCHES) $(GUESTS)
	@mkdir -p bench/results
	@: > bench/results/latest.jsonl
	@set -e; for b in $(BENCHES); do echo; echo "== $$(basename $$b)"; $$b; done

install: $(BUILD)/libgmemu.a $(BUILD)/libgmemu.so $(BUILD)/gmemu
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libgmemu.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libgmemu.so $(DESTDIR)$(PREFIX)/lib/libgmemu.so.$(VERSION)
	ln -sf libgmemu.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libgmemu.so.0
	ln -sf libgmemu.so.0 $(DESTDIR)$(PREFIX)/lib/libgmemu.so
	install -m 644 include/gmemu.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/gmemu $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' gmemu.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gmemu.pc

clean:
	rm -rf build
