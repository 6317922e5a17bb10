# partmalloc build.
#   make                 build/libpartmalloc.so and build/libpartmalloc.a
#   make check           set up what is missing, build, run every test
#   make install         PREFIX=/usr/local DESTDIR=
# CC may be gcc or clang-22; the library is never built with -fsanitize=alloc-token.

ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif
CLANG   ?= clang-22
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build

WARN      := -Wall -Wextra -Werror
LIBFLAGS  := -std=c17 -O2 -g -fPIC -fvisibility=hidden -fno-semantic-interposition \
             -ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
             -fno-builtin-realloc -fno-plt
CXXLIBFLAGS := -std=c++17 -O2 -g -fPIC -fvisibility=hidden -fno-semantic-interposition $(WARN)
INCLUDES  := -Iinclude -Isrc -I$(BUILD)/gen

# The core (no C allocator names) and the front ends that replace glibc's.
CORE_SRC  := src/os.c src/options.c src/sizeclass.c src/slab.c src/tcache.c src/large.c \
             src/alloc.c src/partition.c src/init.c src/api.c src/alloc_token.c src/kapi.c src/new_bridge.c \
             src/token_stats.c src/stats.c src/stats_format.c src/harden.c
INTERPOSE_SRC := src/malloc.c
CXX_SRC   := src/new.cc
HEADERS   := $(wildcard src/*.h) include/partmalloc.h include/partmalloc/slab.h $(BUILD)/gen/pm_fast_tokens.h

CORE_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
INTERPOSE_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(INTERPOSE_SRC))
CXX_OBJ   := $(patsubst src/%.cc,$(BUILD)/obj/%.o,$(CXX_SRC))
ALL_OBJ   := $(CORE_OBJ) $(INTERPOSE_OBJ) $(CXX_OBJ)

LIB_SO    := $(BUILD)/libpartmalloc.so
LIB_A     := $(BUILD)/libpartmalloc.a
# The command (tools/): run, cc, report, stat. It renders statistics with the
# library's own formatter, src/stats_format.c.
TOOL      := $(BUILD)/partmalloc
TOOL_SRC  := tools/partmalloc.c tools/cmd_run.c tools/cmd_stat.c tools/cmd_cc.c tools/cmd_report.c \
             tools/dump.c tools/labels.c tools/typeinfo.c src/stats_format.c
TOOL_LIBS := -ljansson -ldw -lelf -lsodium

.PHONY: all check setup test clean install example demo
all: $(LIB_SO) $(LIB_A) $(TOOL) $(BUILD)/stats/libpartmalloc.so

$(TOOL): $(TOOL_SRC) $(wildcard tools/*.h) src/stats_format.h include/partmalloc.h
	$(CC) -std=gnu17 -O2 -g $(WARN) -Iinclude -Isrc -Itools $(TOOL_SRC) -o $@ $(TOOL_LIBS)

$(BUILD)/gen/pm_fast_tokens.h: src/gen_tokens.sh
	@mkdir -p $(dir $@)
	sh src/gen_tokens.sh 64 > $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) $(WARN) $(INCLUDES) -c $< -o $@

$(BUILD)/obj/%.o: src/%.cc $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXLIBFLAGS) $(INCLUDES) -c $< -o $@

$(LIB_SO): $(ALL_OBJ)
	$(CXX) -shared -Wl,-soname,libpartmalloc.so -Wl,-z,now -o $@ $(ALL_OBJ) -lpthread

$(LIB_A): $(ALL_OBJ)
	rm -f $@
	ar rcs $@ $(ALL_OBJ)

# Sanitizer builds of the core alone (interposition off): the tests call pm_*.
SAN_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_TSAN := -fsanitize=thread
$(BUILD)/asan/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(LIBFLAGS) $(WARN) $(SAN_ASAN) $(INCLUDES) -c $< -o $@
$(BUILD)/tsan/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(LIBFLAGS) $(WARN) $(SAN_TSAN) $(INCLUDES) -c $< -o $@
ASAN_OBJ := $(patsubst src/%.c,$(BUILD)/asan/%.o,$(CORE_SRC))
TSAN_OBJ := $(patsubst src/%.c,$(BUILD)/tsan/%.o,$(CORE_SRC))
.SECONDARY: $(ASAN_OBJ) $(TSAN_OBJ)

include tests/tests.mk
-include bench/bench.mk

setup:
	@sh tools/setup.sh

# The bundled example, built with allocation tokens, in typed and random mode.
$(BUILD)/examples/placement: examples/placement.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c17 -O2 $(WARN) -Iinclude -fsanitize=alloc-token -falloc-token-max=16 -DTOKEN_MAX=16 $< -o $@ \
	    -L$(BUILD) -Wl,-rpath,'$$ORIGIN/..' -lpartmalloc
example: setup
	@$(MAKE) --no-print-directory $(BUILD)/examples/placement
	@echo "== typed mode (the default)"; $(BUILD)/examples/placement
	@echo; echo "== random mode"; PARTMALLOC_MODE=random $(BUILD)/examples/placement

# The main job in one command: the bundled key-value store built with type
# tokens by `partmalloc cc`, run in typed and in random mode, each run's
# partitions printed with the types in them.
DEMO_BIN := $(BUILD)/examples/kvstore
$(DEMO_BIN): examples/kvstore.c $(TOOL) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(TOOL) cc -std=c17 -O2 -g $(WARN) $< -o $@
demo: setup
	@$(MAKE) -s --no-print-directory all $(DEMO_BIN)
	@echo "== typed mode: partitions chosen by the type of each allocation"
	@$(TOOL) run --mode typed -- $(DEMO_BIN) -q
	@echo
	@echo "== random mode: partitions chosen by a keyed hash of each call site"
	@$(TOOL) run --mode random -- $(DEMO_BIN) -q

check: setup
	@$(MAKE) -s --no-print-directory all
	@$(MAKE) -s --no-print-directory test

# The counting build: allocations by kind of token (src/token_stats.c).
STATS_OBJ := $(patsubst src/%.c,$(BUILD)/stats/obj/%.o,$(CORE_SRC) $(INTERPOSE_SRC)) $(BUILD)/stats/obj/new.o
$(BUILD)/stats/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) $(WARN) -DPM_TOKEN_STATS $(INCLUDES) -c $< -o $@
$(BUILD)/stats/obj/new.o: src/new.cc $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXLIBFLAGS) -DPM_TOKEN_STATS $(INCLUDES) -c $< -o $@
$(BUILD)/stats/libpartmalloc.so: $(STATS_OBJ)
	$(CXX) -shared -Wl,-soname,libpartmalloc.so -Wl,-z,now -o $@ $(STATS_OBJ) -lpthread
.PHONY: stats-lib
stats-lib: $(BUILD)/stats/libpartmalloc.so

# Real programs from Debian's sources (jq, libxml2, gawk, Lua) built with
# tokens against partmalloc, and Debian's perl, git and python3 preloaded:
# their tests in each mode against glibc, with token coverage and time
# (docs/realworld.md). Long; not part of check. A build directory of its own.
RW_BUILD ?= build-rw
.PHONY: realworld
realworld: setup
	@$(MAKE) -s --no-print-directory BUILD=$(RW_BUILD) all
	@BUILD=$(RW_BUILD) bash realworld/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/partmalloc
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/stats/libpartmalloc.so $(DESTDIR)$(PREFIX)/lib/partmalloc/libpartmalloc-counting.so
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/partmalloc.h $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PREFIX)/include/partmalloc
	install -m 644 include/partmalloc/slab.h $(DESTDIR)$(PREFIX)/include/partmalloc/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define PARTMALLOC_VERSION "\(.*\)"/\1/p' include/partmalloc.h)|g' \
	    partmalloc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/partmalloc.pc

clean:
	rm -rf $(BUILD)
