# gmemu -- plain GNU make.
#   make            build/libgmemu.a, build/libgmemu.so, build/gmemu
#   make check      every test (plain, clang build, ASan+UBSan)
#   make demo       the main job: a confidential VM's memory, step by step
#   make bench      benchmarks (ratios against baselines of the same run)
#   make install    PREFIX=/usr/local [LIBDIR=...] [DESTDIR=...]
#   make uninstall

CC       ?= cc
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR   ?= $(PREFIX)/bin
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
            -Wstrict-prototypes -Wpointer-arith -Wno-missing-field-initializers
# the version is defined once, in the public header
vpart = $(shell sed -n 's/^\#define GMEMU_VERSION_$(1) \([0-9]*\)/\1/p' include/gmemu.h)
VERSION  := $(call vpart,MAJOR).$(call vpart,MINOR).$(call vpart,PATCH)
SOMAJOR  := 0
BASEFLAGS := -std=gnu11 -D_GNU_SOURCE -Iinclude -fPIC -fvisibility=hidden \
             $(WARN) $(SANFLAGS)
# The emulated vCPU needs Unicorn's header at build time (libunicorn-dev)
# and libunicorn.so.2 at run time, which it dlopen()s: nothing links
# -lunicorn.  Without the header it is built to say it is unavailable.
UNICORN_H := /usr/include/unicorn/unicorn.h
DEPFLAGS  = -MMD -MP
LDLIBS   := -lcrypto -lpthread -ldl

LIB_SRC  := $(wildcard src/base/*.c src/model/*.c src/gmem/*.c src/vcpu/*.c \
                       src/vm/*.c src/uapi/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# the same, built for tests: test hooks in, symbols left global
TLIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/tobj/%.o)
TEST_SRC := $(wildcard tests/t_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/b_*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLES := $(BUILD)/examples/convert $(BUILD)/examples/uapi_convert \
            $(BUILD)/examples/uapi_launch
# Tests also built against plain libc calls, to run under the interposer
PLAIN_TESTS := t_interposer t_convert_checks t_gmem_create t_memslots t_pins t_vcpu t_launch \
               t_legacy t_caps t_kvm t_guest_scenario t_sev t_tdx t_prefault t_abi74
GUESTS   := $(patsubst tests/guests/%.S,$(BUILD)/guests/%.bin,$(wildcard tests/guests/*.S))

.PHONY: all check check-plain check-asan check-clang check-tsan demo bench \
        install uninstall clean tests fuzz soak deps

all: deps $(BUILD)/libgmemu.a $(BUILD)/libgmemu.so.$(SOMAJOR) $(BUILD)/libgmemu.so \
     $(BUILD)/libgmemu-preload.so $(BUILD)/gmemu

# What the build needs from the system beyond a C compiler and OpenSSL:
# Unicorn's header for the emulated vCPU.  Installed when missing and we
# are root (apt-get update once, then the package); otherwise the command
# is shown and the build goes on without it.  A no-op where it is present.
deps:
	@if [ ! -f $(UNICORN_H) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "  DEPS    libunicorn-dev (the emulated vCPU)"; \
	    apt-get update && apt-get install -y libunicorn-dev; \
	  else \
	    echo "deps: the emulated vCPU needs Unicorn's header; run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y libunicorn-dev"; \
	    echo "deps: building without it (emulated vCPUs unavailable)"; \
	  fi; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tobj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) -DGMEMU_TESTING $(CFLAGS) -c $< -o $@

# The emulated vCPU, with Unicorn's header when there is one: the flag is
# read when it compiles (deps may just have installed the header), and a
# change of it (installed, removed) rebuilds it.
EMU_OBJS := $(BUILD)/obj/src/vcpu/emu.o $(BUILD)/tobj/src/vcpu/emu.o
$(EMU_OBJS): BASEFLAGS += $$(cat $(BUILD)/unicorn.flag)
$(EMU_OBJS): $(BUILD)/unicorn.flag
$(BUILD)/unicorn.flag: deps
	@mkdir -p $(BUILD)
	@f=$$(test -f $(UNICORN_H) && echo -DGMEMU_HAVE_UNICORN); \
	  [ -f $@ ] && [ "$$(cat $@)" = "$$f" ] || echo "$$f" > $@

# One relocatable object whose hidden symbols are made local: the archive
# defines no global symbol outside the gmemu_ prefix.
$(BUILD)/libgmemu.a: $(LIB_OBJ)
	@echo "  AR      $@"
	@ld -r -o $(BUILD)/gmemu-all.o $(LIB_OBJ)
	@objcopy --localize-hidden $(BUILD)/gmemu-all.o
	@rm -f $@
	@ar rcs $@ $(BUILD)/gmemu-all.o

$(BUILD)/libgmemu-internal.a: $(TLIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/libgmemu.so.$(SOMAJOR): $(LIB_OBJ) src/libgmemu.map
	@echo "  LD      $@"
	@$(CC) -shared -Wl,-soname,libgmemu.so.$(SOMAJOR) \
	  -Wl,--version-script=src/libgmemu.map $(SANFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/libgmemu.so: $(BUILD)/libgmemu.so.$(SOMAJOR)
	@ln -sf libgmemu.so.$(SOMAJOR) $@

# The LD_PRELOAD interposer: libc's entry points -> the public API of
# libgmemu.so.0 (found next to it: $ORIGIN, so build/ runs as installed).
$(BUILD)/libgmemu-preload.so: src/shim/preload.c $(BUILD)/libgmemu.so.$(SOMAJOR)
	@echo "  LD      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) -shared -o $@ $< \
	  -L$(BUILD) -l:libgmemu.so.$(SOMAJOR) -ldl '-Wl,-rpath,$$ORIGIN'

$(BUILD)/gmemu: tools/gmemu.c $(BUILD)/libgmemu.a
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS)

FUZZ_SRC := tests/fuzz/refmodel.c tests/fuzz/diffops.c

$(BUILD)/tests/%: tests/%.c $(BUILD)/libgmemu-internal.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) -DGMEMU_TESTING -Isrc -Itests $(CFLAGS) -o $@ $< \
	  $(BUILD)/libgmemu-internal.a $(LDLIBS)

# the differential fuzzer: the reference model and the driver, against the
# released library's objects
$(BUILD)/tests/t_differential: tests/t_differential.c $(FUZZ_SRC) $(BUILD)/libgmemu.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) -Itests $(CFLAGS) -o $@ $< $(FUZZ_SRC) \
	  $(BUILD)/libgmemu.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libgmemu-internal.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) -DGMEMU_TESTING -Isrc $(CFLAGS) -o $@ $< \
	  $(BUILD)/libgmemu-internal.a $(LDLIBS) -lm

# kernel UAPI only: no gmemu at all (they run under gmemu run)
$(BUILD)/examples/uapi_%: examples/uapi_%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) $(DEPFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/plain/%: tests/%.c $(BUILD)/libgmemu.so.$(SOMAJOR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) -DGMEMU_PLAIN_LIBC -Itests $(CFLAGS) -o $@ $< \
	  -L$(BUILD) -l:libgmemu.so.$(SOMAJOR) '-Wl,-rpath,$$ORIGIN/..' $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libgmemu.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libgmemu.a $(LDLIBS)

# Guest programs for the real-guest tests: flat binaries.
$(BUILD)/guests/%.bin: tests/guests/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	@$(CC) -m32 -c -o $(@:.bin=.o) $<
	@objcopy -O binary -j .text $(@:.bin=.o) $@

tests: all $(TESTS) $(EXAMPLES) $(GUESTS) $(PLAIN_TESTS:%=$(BUILD)/plain/%)

# The tests that involve host views run again under the other view
# mechanisms: one mapping per extent, and userfaultfd answering private
# faults with the sealed memfd (as on kernels where UFFDIO_POISON reports
# a memory error) when this machine has userfaultfd at all.
VIEW_TESTS := t_views t_processes t_inject t_reliability t_crash t_stress t_soak \
              t_precision t_fileops t_content_modes t_oom t_kvm t_memslots t_trace t_badptr
ISOLATE_TESTS := t_views t_processes t_stress t_soak t_reliability t_kvm t_crash

check-plain: tests
	@tools/check-layers.sh
	@tests/run.sh $(BUILD) $(TESTS) tests/t_examples.sh tests/t_symbols.sh tests/t_cli.sh \
	  tests/t_interposer.sh tests/t_selftests.sh
	@GMEMU_VIEWS=mapfixed tests/run.sh $(BUILD) $(VIEW_TESTS:%=$(BUILD)/tests/%)
	@if $(BUILD)/gmemu caps | grep -q '^host views: uffd'; then \
	  GMEMU_VIEWS=uffd-isolate tests/run.sh $(BUILD) $(ISOLATE_TESTS:%=$(BUILD)/tests/%); \
	else echo "uffd-isolate run: skipped (no userfaultfd for views here)"; fi

check-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests
	@ASAN_OPTIONS=handle_sigbus=0:allow_user_segv_handler=1:detect_leaks=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 GMEMU_VIEWS_TEST_EXTENTS=200000 \
	  tests/run.sh build/asan $(TEST_SRC:tests/%.c=build/asan/tests/%) tests/t_examples.sh

# Warnings are errors under clang too: build everything with it when present.
check-clang:
	@if command -v clang >/dev/null; then \
	  $(MAKE) --no-print-directory CC=clang BUILD=build/clang tests >/dev/null && \
	  echo "clang build: ok"; \
	else echo "clang build: skipped (no clang)"; fi

# ThreadSanitizer over the concurrency tests (forked children start
# threads: die_after_fork=0)
# (and the real guests: vCPU threads, conversions and agents at once)
TSAN_TESTS := t_processes t_stress t_views t_vcpu t_reliability t_emu t_kvm
check-tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan OPT=-O1 \
	  SANFLAGS="-fsanitize=thread" $(TSAN_TESTS:%=build/tsan/tests/%) \
	  $(GUESTS:$(BUILD)/%=build/tsan/%) >/dev/null
	@TSAN_OPTIONS="die_after_fork=0 halt_on_error=1 second_deadlock_stack=1" \
	  GMEMU_SOAK_ITERATIONS=40 GMEMU_VIEWS_TEST_EXTENTS=100000 \
	  tests/run.sh build/tsan $(TSAN_TESTS:%=build/tsan/tests/%)

check: deps
	@$(MAKE) --no-print-directory check-plain
	@$(MAKE) --no-print-directory check-clang
	@$(MAKE) --no-print-directory check-asan
	@$(MAKE) --no-print-directory check-tsan

# Longer runs than make check's: FUZZ_SECONDS of differential fuzzing
# (libFuzzer with clang, else the seeded driver), SOAK_ITERATIONS kills.
FUZZ_SECONDS ?= 600
SOAK_ITERATIONS ?= 5000
fuzz:
	@if command -v clang >/dev/null && echo 'int main(void){return 0;}' | \
	    clang -fsanitize=fuzzer-no-link -x c - -o /dev/null 2>/dev/null; then \
	  $(MAKE) --no-print-directory CC=clang BUILD=build/fuzz OPT=-O1 \
	    SANFLAGS="-fsanitize=address,undefined,fuzzer-no-link" build/fuzz/libgmemu.a && \
	  clang $(BASEFLAGS) -fsanitize=address,undefined,fuzzer -Itests -O1 -g \
	    -o build/fuzz/diff_fuzz tests/fuzz/libfuzzer.c $(FUZZ_SRC) \
	    build/fuzz/libgmemu.a $(LDLIBS) && \
	  mkdir -p build/fuzz/corpus && \
	  ASAN_OPTIONS=handle_sigbus=0:allow_user_segv_handler=1:detect_leaks=0 \
	    build/fuzz/diff_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    build/fuzz/corpus; \
	else \
	  $(MAKE) --no-print-directory $(BUILD)/tests/t_differential && \
	  GMEMU_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BUILD)/tests/t_differential; \
	fi

soak: $(BUILD)/tests/t_soak
	GMEMU_SOAK_ITERATIONS=$(SOAK_ITERATIONS) $(BUILD)/tests/t_soak

demo: deps $(BUILD)/gmemu $(GUESTS)
	$(BUILD)/gmemu demo

bench: deps $(BENCHES) $(GUESTS)
	@mkdir -p bench/results
	@: > bench/results/latest.jsonl
	@set -e; for b in $(BENCHES); do echo; echo "== $$(basename $$b)"; $$b; done
	@echo; bench/plot.sh

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 $(BUILD)/libgmemu.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libgmemu.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libgmemu.so.$(VERSION)
	install -m 755 $(BUILD)/libgmemu-preload.so $(DESTDIR)$(LIBDIR)/
	ln -sf libgmemu.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgmemu.so.$(SOMAJOR)
	ln -sf libgmemu.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libgmemu.so
	install -m 644 include/gmemu.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(BUILD)/gmemu $(DESTDIR)$(BINDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' gmemu.pc.in \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/gmemu.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libgmemu.a $(DESTDIR)$(LIBDIR)/libgmemu.so \
	  $(DESTDIR)$(LIBDIR)/libgmemu.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libgmemu.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/libgmemu-preload.so \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/gmemu.pc $(DESTDIR)$(INCLUDEDIR)/gmemu.h \
	  $(DESTDIR)$(BINDIR)/gmemu

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TLIB_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d) \
  $(EXAMPLES:=.d) $(BUILD)/gmemu.d $(BUILD)/libgmemu-preload.d
