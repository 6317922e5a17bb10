# partmalloc build.
#   make                 build/libpartmalloc.so and build/libpartmalloc.a
#   make check           set up what is missing, build, run every test
#   make install         PREFIX=/usr/local (BINDIR, LIBDIR, INCLUDEDIR, PKGCONFIGDIR, CMAKEDIR, MANDIR, DOCDIR) DESTDIR=
#   make uninstall       the same variables
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
.DEFAULT_GOAL := all

# Where `make install` puts things (also read by the command's build: an
# installed partmalloc finds its libraries at LIBDIR relative to BINDIR).
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR   ?= $(LIBDIR)/cmake/partmalloc
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/partmalloc

WARN      := -Wall -Wextra -Werror
LIBFLAGS  := -std=c17 -O2 -g -fPIC -fvisibility=hidden -fno-semantic-interposition \
             -ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
             -fno-builtin-realloc -fno-plt $(WARN)
CXXLIBFLAGS := -std=c++17 -O2 -g -fPIC -fvisibility=hidden -fno-semantic-interposition $(WARN)
INCLUDES  := -Iinclude -Isrc -I$(BUILD)/gen
VERSION   := $(shell sed -n 's/^\#define PARTMALLOC_VERSION "\(.*\)"/\1/p' include/partmalloc.h)
VERSION_WORDS := $(subst ., ,$(VERSION))
VERSION_MAJOR := $(word 1,$(VERSION_WORDS))
VERSION_MINOR := $(word 2,$(VERSION_WORDS))
SOVERSION := 0

# The library: layers bottom to top (src/types.h lists them), then the
# front ends. malloc.c takes the C allocator's names; the sanitizer builds
# of the tests leave it out and call the pm_* names.
LIB_SRC   := src/os.c src/options.c src/sizeclass.c src/slab.c src/large.c src/harden.c src/tcache.c \
             src/partition.c src/program.c src/alloc.c src/init.c src/token_stats.c src/stats.c src/stats_format.c \
             src/api.c src/alloc_token.c src/kapi.c src/new_bridge.c
INTERPOSE_SRC := src/malloc.c
CXX_SRC   := src/new.cc
GEN_HDR   := $(BUILD)/gen/pm_fast_tokens.h

# One compile rule per variant: the variant picks the compiler, the flags
# and the output folder. Dependencies on headers come from -MMD -MP.
#   plain     $(BUILD)/obj        the libraries
#   counting  $(BUILD)/stats/obj  allocations by kind of token (src/token_stats.c)
#   asan      $(BUILD)/asan       ASan+UBSan, for the tests (clang-22)
#   tsan      $(BUILD)/tsan       TSan, for the tests (clang-22)
#   fuzz      $(BUILD)/fuzz/obj   ASan+UBSan with libFuzzer's coverage, for the fuzzer (clang-22)
#   cov       $(BUILD)/cov/obj    clang's source-based coverage, for the fuzzer's report (clang-22)
SAN_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_TSAN := -fsanitize=thread
VARIANTS := plain counting asan tsan fuzz cov
dir_plain := obj
dir_counting := stats/obj
dir_asan := asan
dir_tsan := tsan
dir_fuzz := fuzz/obj
dir_cov := cov/obj
cc_plain = $(CC)
cc_counting = $(CC)
cc_asan = $(CLANG)
cc_tsan = $(CLANG)
cc_fuzz = $(CLANG)
cc_cov = $(CLANG)
flags_plain :=
flags_counting := -DPM_TOKEN_STATS
flags_asan := $(SAN_ASAN)
flags_tsan := $(SAN_TSAN)
flags_fuzz := $(SAN_ASAN) -fsanitize=fuzzer-no-link
flags_cov := -fprofile-instr-generate -fcoverage-mapping
define variant_rules
$(BUILD)/$(dir_$(1))/%.o: src/%.c | $(GEN_HDR)
	@mkdir -p $$(dir $$@)
	$$(cc_$(1)) $$(LIBFLAGS) $$(flags_$(1)) $$(INCLUDES) -MMD -MP -c $$< -o $$@
$(BUILD)/$(dir_$(1))/%.o: src/%.cc | $(GEN_HDR)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(CXXLIBFLAGS) $$(flags_$(1)) $$(INCLUDES) -MMD -MP -c $$< -o $$@
endef
$(foreach v,$(VARIANTS),$(eval $(call variant_rules,$(v))))
objs_of = $(patsubst src/%.c,$(BUILD)/$(dir_$(1))/%.o,$(filter %.c,$(2))) \
          $(patsubst src/%.cc,$(BUILD)/$(dir_$(1))/%.o,$(filter %.cc,$(2)))
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/stats/obj/*.d $(BUILD)/asan/*.d $(BUILD)/tsan/*.d \
                    $(BUILD)/fuzz/obj/*.d $(BUILD)/cov/obj/*.d)

ALL_OBJ   := $(call objs_of,plain,$(LIB_SRC) $(INTERPOSE_SRC) $(CXX_SRC))
STATS_OBJ := $(call objs_of,counting,$(LIB_SRC) $(INTERPOSE_SRC) $(CXX_SRC))
ASAN_OBJ  := $(call objs_of,asan,$(LIB_SRC))
TSAN_OBJ  := $(call objs_of,tsan,$(LIB_SRC))
.SECONDARY: $(ASAN_OBJ) $(TSAN_OBJ)

# The shared library carries a versioned soname; libpartmalloc.so is the
# link beside it, as a distribution installs them.
LIB_SONAME := libpartmalloc.so.$(SOVERSION)
LIB_REAL  := $(BUILD)/$(LIB_SONAME)
LIB_SO    := $(BUILD)/libpartmalloc.so
LIB_A     := $(BUILD)/libpartmalloc.a
STATS_SO  := $(BUILD)/stats/libpartmalloc.so
# The command (tools/): run, cc, report, stat. It renders statistics with the
# library's own formatter, src/stats_format.c; report reads optimization
# records with libyaml, writes JSON with jansson and demangles with libstdc++.
# The types from DWARF (TYPEINFO_SRC) are linked into the command and into
# the test_typeinfo suite. Each source is compiled once under $(BUILD)/tool/,
# its header dependencies from -MMD -MP.
TOOL      := $(BUILD)/partmalloc
TYPEINFO_SRC := tools/typeinfo.c tools/dwarf_walk.c tools/type_name.c tools/holds_pointers.c \
                tools/typeinfo_containers.c
TOOL_SRC  := tools/partmalloc.c tools/cmd_run.c tools/cmd_stat.c tools/cmd_cc.c tools/cc_link.c tools/cmd_report.c tools/spawn.c \
             tools/dump.c tools/stats_sum.c tools/html.c tools/labels.c tools/collapse.c tools/symbolize.c $(TYPEINFO_SRC) src/stats_format.c
TOOL_LIBS := -ljansson -lyaml -ldw -lelf -lsodium -lstdc++
TOOL_CFLAGS := -std=gnu17 -O2 -g $(WARN) -Iinclude -Isrc -Itools -DPM_LIB_SONAME='"$(LIB_SONAME)"'
tool_objs_of = $(patsubst %.c,$(BUILD)/tool/%.o,$(1))
TOOL_OBJ     := $(call tool_objs_of,$(TOOL_SRC))
TYPEINFO_OBJ := $(call tool_objs_of,$(TYPEINFO_SRC))

# partmalloc's clang plugin (tools/plugin/), which partmalloc cc loads:
# built against clang-22's own headers (libclang-22-dev, llvm-22-dev), its
# symbols resolved from the compiler that loads it.
LLVM_CONFIG ?= llvm-config-22
PLUGIN    := $(BUILD)/plugin/partmalloc-clang.so
PLUGIN_CXXFLAGS = -std=c++17 -O2 -g -fPIC -shared -fno-rtti -fno-exceptions $(WARN) \
                  -isystem $(shell $(LLVM_CONFIG) --includedir) -D_GNU_SOURCE -D__STDC_CONSTANT_MACROS \
                  -D__STDC_FORMAT_MACROS -D__STDC_LIMIT_MACROS

# The manual pages, generated from docs/guide.md (docs/man/gen.sh):
# partmalloc(1) from its sections 2 to 5, partmalloc(7) from 6 to 8 (the statistics
# without the command, object sizes, every run-time option).
MAN1 := $(BUILD)/man/partmalloc.1
MAN7 := $(BUILD)/man/partmalloc.7
MAN_DEPS := docs/guide.md docs/man/gen.sh docs/man/see-also.md include/partmalloc.h
$(MAN1): docs/man/partmalloc.1.md $(MAN_DEPS)
	@mkdir -p $(dir $@)
	sh docs/man/gen.sh $< $(VERSION) 2 3 4 5 > $@.tmp && mv $@.tmp $@
$(MAN7): docs/man/partmalloc.7.md $(MAN_DEPS)
	@mkdir -p $(dir $@)
	sh docs/man/gen.sh $< $(VERSION) 6 7 8 > $@.tmp && mv $@.tmp $@
.PHONY: man
man: $(MAN1) $(MAN7)

.PHONY: all check setup test clean install uninstall example demo deps deb
all: deps $(LIB_SO) $(LIB_A) $(TOOL) $(STATS_SO) $(PLUGIN) $(MAN1) $(MAN7)

# Plain `make` on a machine without the build's packages says which are
# missing instead of failing on a header.
deps:
	@missing=$$(sh tools/setup.sh --missing build); \
	if [ -n "$$missing" ]; then \
	    echo "partmalloc: missing Debian packages:$$missing" >&2; \
	    echo "partmalloc: \`make setup' (or \`make check') installs them" >&2; exit 1; \
	fi

# The installed command finds the library, the counting build and the
# plugin at LIBDIR and the headers at INCLUDEDIR, as paths relative to BINDIR.
# The header is rewritten only when they change, so `make install LIBDIR=...`
# after a plain `make` rebuilds the command for the new place.
TOOL_DIRS_HDR := $(BUILD)/gen/tool_dirs.h
.PHONY: FORCE
$(TOOL_DIRS_HDR): FORCE
	@mkdir -p $(dir $@)
	@printf '#define PM_REL_LIBDIR "%s"\n#define PM_REL_INCLUDEDIR "%s"\n' \
	    "$(shell realpath -m --relative-to=$(BINDIR) $(LIBDIR))" \
	    "$(shell realpath -m --relative-to=$(BINDIR) $(INCLUDEDIR))" > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/tool/tools/partmalloc.o: $(TOOL_DIRS_HDR)
$(BUILD)/tool/tools/partmalloc.o: TOOL_CFLAGS += -I$(BUILD)/gen
$(BUILD)/tool/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -MMD -MP -c $< -o $@
-include $(wildcard $(BUILD)/tool/tools/*.d $(BUILD)/tool/src/*.d)

$(TOOL): $(TOOL_OBJ) | deps
	$(CC) $(TOOL_OBJ) -o $@ $(TOOL_LIBS)

$(PLUGIN): tools/plugin/wrappers.cc | deps
	@mkdir -p $(dir $@)
	clang++-22 $(PLUGIN_CXXFLAGS) $< -o $@

$(GEN_HDR): src/gen_tokens.sh
	@mkdir -p $(dir $@)
	sh src/gen_tokens.sh 64 > $@

$(LIB_REAL): $(ALL_OBJ)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,-z,now -o $@ $(ALL_OBJ) -lpthread
$(LIB_SO): $(LIB_REAL)
	ln -sf $(LIB_SONAME) $@

$(LIB_A): $(ALL_OBJ)
	rm -f $@
	ar rcs $@ $(ALL_OBJ)

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
	@echo "== building the library, the counting build and the partmalloc command (make all)"
	@$(MAKE) -s --no-print-directory all
	@echo "== building examples/kvstore.c with type tokens (partmalloc cc) into $(DEMO_BIN)"
	@$(MAKE) -s --no-print-directory $(DEMO_BIN)
	@echo "== typed mode: partitions chosen by the type of each allocation"
	@$(TOOL) run --mode typed -- $(DEMO_BIN) -q
	@echo
	@echo "== random mode: partitions chosen by a keyed hash of each call site"
	@$(TOOL) run --mode random -- $(DEMO_BIN) -q

check: setup
	@$(MAKE) -s --no-print-directory all
	@$(MAKE) -s --no-print-directory test

# The counting build (src/token_stats.c), preloaded by `partmalloc run`.
# Its soname is the plain library's, so it stands in for it.
# Its folder holds the same names as the plain one's, so that
# LD_LIBRARY_PATH=$(BUILD)/stats swaps it in for a program linked with -lpartmalloc.
$(BUILD)/stats/$(LIB_SONAME): $(STATS_OBJ)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,-z,now -o $@ $(STATS_OBJ) -lpthread
$(STATS_SO): $(BUILD)/stats/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@
.PHONY: stats-lib
stats-lib: $(STATS_SO)

# Real programs from Debian's sources (jq, libxml2, gawk, Lua) built with
# tokens against partmalloc, and Debian's perl, git and python3 preloaded:
# their tests in each mode against glibc, with token coverage and time
# (docs/realworld.md). Long; not part of check. A build directory of its own.
RW_BUILD ?= build-rw
.PHONY: realworld
realworld: setup
	@$(MAKE) -s --no-print-directory BUILD=$(RW_BUILD) all
	@BUILD=$(RW_BUILD) bash realworld/run.sh

DOCS       := README.md $(wildcard docs/*.md)
INSTALLED := $(BINDIR)/partmalloc $(LIBDIR)/libpartmalloc.so.$(VERSION) $(LIBDIR)/$(LIB_SONAME) \
             $(LIBDIR)/libpartmalloc.so $(LIBDIR)/libpartmalloc.a $(LIBDIR)/partmalloc/libpartmalloc-counting.so \
             $(LIBDIR)/partmalloc/partmalloc-clang.so \
             $(INCLUDEDIR)/partmalloc.h $(INCLUDEDIR)/partmalloc/slab.h $(PKGCONFIGDIR)/partmalloc.pc \
             $(CMAKEDIR)/partmalloc-config.cmake $(CMAKEDIR)/partmalloc-config-version.cmake \
             $(MANDIR)/man1/partmalloc.1 $(MANDIR)/man7/partmalloc.7 $(addprefix $(DOCDIR)/,$(notdir $(DOCS)))
# The CMake files find the library and the headers relative to themselves.
cmake_subst = sed -e 's|@REL_LIBDIR@|$(shell realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|g' \
                  -e 's|@REL_INCLUDEDIR@|$(shell realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|g' \
                  -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
                  -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SOVERSION@|$(SOVERSION)|g'
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/partmalloc $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/partmalloc $(DESTDIR)$(CMAKEDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DOCDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 755 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/libpartmalloc.so.$(VERSION)
	ln -sf libpartmalloc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libpartmalloc.so
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/
	install -m 755 $(STATS_SO) $(DESTDIR)$(LIBDIR)/partmalloc/libpartmalloc-counting.so
	install -m 755 $(PLUGIN) $(DESTDIR)$(LIBDIR)/partmalloc/partmalloc-clang.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 644 include/partmalloc.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/partmalloc/slab.h $(DESTDIR)$(INCLUDEDIR)/partmalloc/
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    partmalloc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/partmalloc.pc
	$(cmake_subst) cmake/partmalloc-config.cmake.in > $(DESTDIR)$(CMAKEDIR)/partmalloc-config.cmake
	$(cmake_subst) cmake/partmalloc-config-version.cmake.in > $(DESTDIR)$(CMAKEDIR)/partmalloc-config-version.cmake

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(LIBDIR)/partmalloc $(DESTDIR)$(INCLUDEDIR)/partmalloc $(DESTDIR)$(CMAKEDIR) \
	    $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian packages (libpartmalloc0, libpartmalloc-dev, partmalloc) from
# debian/, built by dpkg-buildpackage in a copy of the sources under
# $(BUILD)/deb, where the .deb files land. `make check` checks them
# (tests/scripts/deb_package.sh: lintian, then a program built against the
# unpacked packages).
DEB_SOURCES := Makefile README.md partmalloc.pc.in bench cmake debian docs include src tests tools
.PHONY: deb
deb:
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/partmalloc-$(VERSION)
	cp -R $(DEB_SOURCES) $(BUILD)/deb/partmalloc-$(VERSION)/
	cd $(BUILD)/deb/partmalloc-$(VERSION) && dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
	    { tail -30 ../build.log; echo "make deb: dpkg-buildpackage failed (log: $(BUILD)/deb/build.log)" >&2; exit 1; }
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf $(BUILD)
