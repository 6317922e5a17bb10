# Tests, included by the Makefile. `make test` builds and runs them all via
# tests/run.sh, which prints one closing line: "check: N passed, N failed".
#
#   tests/unit/test_*.c|.cc   Criterion suites that test the library in their
#                             own process: linked with the static library
#                             (internals visible, malloc replaced); a death
#                             test forks the suite itself
#   tests/integration/test_*.c  Criterion suites that start programs (the
#                             helpers, the typed and partition programs,
#                             compilers, the partmalloc command) with a chosen
#                             environment and check how they end and what
#                             they print; linked like the unit suites
#   tests/helpers/*.c         programs the suites and scripts start with a
#                             chosen environment (linked with the shared library)
#   tests/typed/*.c           built with clang-22 -fsanitize=alloc-token
#   tests/scripts/*.sh        end-to-end checks (LD_PRELOAD of real programs)
# Every suite's binary is $(BUILD)/tests/test_<name>, whichever folder its
# source is in. Sanitizer runs of the core (interposition off): ASAN_TESTS
# under ASan+UBSan, TSAN_TESTS under TSan, built with clang-22.

TEST_CFLAGS   := -std=gnu17 -O1 -g $(WARN) -Iinclude -Isrc -I$(BUILD)/gen -Itests -pthread
TEST_CXXFLAGS := -std=c++17 -O1 -g $(WARN) -Iinclude -Isrc -I$(BUILD)/gen -Itests -pthread
TEST_LIBS     := -lcriterion -ljansson -lpthread -lm

UNIT_C_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_CXX_SRC := $(wildcard tests/unit/test_*.cc)
UNIT_BIN     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_C_SRC)) \
                $(patsubst tests/unit/%.cc,$(BUILD)/tests/%,$(UNIT_CXX_SRC))
INTEGRATION_SRC := $(wildcard tests/integration/test_*.c)
INTEGRATION_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEGRATION_SRC))
HELPER_BIN   := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))

# A suite in ASAN_TESTS may be in either folder: test_slab_programs and
# test_stats_programs run under ASan with the in-process halves of their suites.
ASAN_TESTS := test_api test_sizeclass test_isolation test_death test_slab test_stats test_misuse \
              test_slab_programs test_stats_programs
TSAN_TESTS := test_threads
ASAN_BIN   := $(patsubst %,$(BUILD)/tests/asan/%,$(ASAN_TESTS))
TSAN_BIN   := $(patsubst %,$(BUILD)/tests/tsan/%,$(TSAN_TESTS))

# The typeinfo suite has the command's objects of TYPEINFO_SRC linked in
# (libdw, libsodium).
$(BUILD)/tests/test_typeinfo: tests/integration/test_typeinfo.c tools/typeinfo.h $(TYPEINFO_OBJ) $(LIB_A) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Itools $< $(TYPEINFO_OBJ) -o $@ $(LIB_A) -lstdc++ -ldw -lelf -lsodium $(TEST_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_A) tests/testutil.h tests/threadutil.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LIB_A) -lstdc++ $(TEST_LIBS)

$(BUILD)/tests/%: tests/unit/%.cc $(LIB_A) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) $< -o $@ $(LIB_A) $(TEST_LIBS)

$(BUILD)/tests/%: tests/integration/%.c $(LIB_A) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LIB_A) -lstdc++ $(TEST_LIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c tests/helpers/print_config.h tests/helpers/repeat.h tests/helpers/probe.h \
                          $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc -lpthread

# Sanitizer builds: the same suites against the core objects alone.
$(BUILD)/tests/asan/%: tests/unit/%.c $(ASAN_OBJ) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CLANG) $(TEST_CFLAGS) -DPM_TEST_NO_INTERPOSE $(SAN_ASAN) $< -o $@ $(ASAN_OBJ) $(TEST_LIBS)

$(BUILD)/tests/tsan/%: tests/unit/%.c $(TSAN_OBJ) tests/testutil.h tests/threadutil.h
	@mkdir -p $(dir $@)
	$(CLANG) $(TEST_CFLAGS) -DPM_TEST_NO_INTERPOSE $(SAN_TSAN) $< -o $@ $(TSAN_OBJ) $(TEST_LIBS)

$(BUILD)/tests/asan/%: tests/integration/%.c $(ASAN_OBJ) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CLANG) $(TEST_CFLAGS) -DPM_TEST_NO_INTERPOSE $(SAN_ASAN) $< -o $@ $(ASAN_OBJ) $(TEST_LIBS)

# The C++ runtime suite: a C program and the C++ library it loads later.
$(BUILD)/tests/cxxlate/late_lib.so: tests/cxxlate/late_lib.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O1 -g $(WARN) -fPIC -shared $< -o $@
$(BUILD)/tests/cxxlate/late_main: tests/cxxlate/late_main.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc
$(BUILD)/tests/test_cxx_runtime: $(BUILD)/tests/cxxlate/late_main $(BUILD)/tests/cxxlate/late_lib.so

# The start-up probe (tests/scripts/startup_cost.sh): without partmalloc,
# which the script preloads, so that glibc runs it too.
STARTUP_PROBE := $(BUILD)/tests/startup/probe
$(STARTUP_PROBE): tests/startup/probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -O1 -g $(WARN) $< -o $@

TEST_BINS := $(UNIT_BIN) $(INTEGRATION_BIN) $(HELPER_BIN) $(ASAN_BIN) $(TSAN_BIN) $(STARTUP_PROBE)

# Typed-placement programs: one build per -falloc-token-max and ABI.
TYPED_MAXES := 2 16 64 none
TYPED_BIN := $(foreach m,$(TYPED_MAXES),$(BUILD)/tests/typed/typed_max$(m)) \
             $(BUILD)/tests/typed/typed_fast16 $(BUILD)/tests/typed/typed_cxx16
typed_max_flag = $(if $(filter none,$(1)),,-falloc-token-max=$(1))
$(BUILD)/tests/typed/typed_max%: tests/typed/typed.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c17 -O1 -g $(WARN) -Iinclude -fsanitize=alloc-token $(call typed_max_flag,$*) $< -o $@ \
	    -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc
$(BUILD)/tests/typed/typed_fast16: tests/typed/typed.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c17 -O1 -g $(WARN) -Iinclude -fsanitize=alloc-token -fsanitize-alloc-token-fast-abi \
	    -falloc-token-max=16 $< -o $@ -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc
$(BUILD)/tests/typed/typed_cxx16: tests/typed/typed_cxx.cc $(LIB_SO)
	@mkdir -p $(dir $@)
	clang++-22 -std=c++17 -O1 -g $(WARN) -Iinclude -fsanitize=alloc-token -falloc-token-max=16 $< -o $@ \
	    -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc

.PHONY: test-build
test-build: $(TEST_BINS) $(TYPED_BIN)

test: test-build
	@BUILD=$(BUILD) sh tests/run.sh

# The kernel-style API: typed with clang-22's inference, and with gcc's
# fallback; tokens through wrappers with and without the companions.
KAPI_BIN := $(BUILD)/tests/kapi/kapi_clang $(BUILD)/tests/kapi/kapi_gcc \
            $(BUILD)/tests/kapi/wrappers $(BUILD)/tests/kapi/wrappers_baseline \
            $(BUILD)/tests/kapi/token_of
KAPI_LINK = -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc
$(BUILD)/tests/kapi/kapi_clang: tests/kapi/kapi_typed.c include/partmalloc/slab.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O1 -g $(WARN) -Iinclude $< -o $@ $(KAPI_LINK)
$(BUILD)/tests/kapi/kapi_gcc: tests/kapi/kapi_typed.c include/partmalloc/slab.h $(LIB_SO)
	@mkdir -p $(dir $@)
	gcc -std=gnu17 -O1 -g $(WARN) -Iinclude $< -o $@ $(KAPI_LINK)
$(BUILD)/tests/kapi/wrappers: tests/kapi/wrappers.c tests/kapi/wrapper_lib.c tests/kapi/wrappers.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O2 -g $(WARN) -Iinclude -fsanitize=alloc-token -fsanitize-alloc-token-extended \
	    tests/kapi/wrappers.c tests/kapi/wrapper_lib.c -o $@ $(KAPI_LINK)
$(BUILD)/tests/kapi/wrappers_baseline: tests/kapi/wrappers.c tests/kapi/wrapper_lib.c tests/kapi/wrappers.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O2 -g $(WARN) -Iinclude -fsanitize=alloc-token -DWITHOUT_COMPANIONS \
	    tests/kapi/wrappers.c tests/kapi/wrapper_lib.c -o $@ $(KAPI_LINK)
# Prints the token of wrappers.c's struct tree (same token flags as wrappers).
$(BUILD)/tests/kapi/token_of: tests/kapi/token_of.c
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O2 -g $(WARN) -fsanitize=alloc-token -fsanitize-alloc-token-extended $< -o $@
test-build: $(KAPI_BIN) $(BUILD)/stats/libpartmalloc.so
# tests/scripts/man_pages.sh reads the manual pages.
test-build: $(MAN1) $(MAN7)

# The partmalloc command's suites run $(TOOL) on programs it builds.
$(BUILD)/tests/tools/labelled: tests/tools/labelled.c $(TOOL) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(TOOL) cc -std=gnu17 -O1 -g $(WARN) $< -o $@
$(BUILD)/tests/tools/labelled_cxx: tests/tools/labelled_cxx.cc $(TOOL) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(TOOL) c++ -std=c++17 -O1 -g $(WARN) $< -o $@
# The same wrappers built without tokens, with them, and with them named.
$(BUILD)/tests/tools/wrapped_plain: tests/tools/wrapped.c
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O1 -g $(WARN) $< -o $@
$(BUILD)/tests/tools/wrapped_cc: tests/tools/wrapped.c $(TOOL) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(TOOL) cc -std=gnu17 -O1 -g $(WARN) $< -o $@
$(BUILD)/tests/tools/wrapped_named: tests/tools/wrapped.c $(TOOL) $(LIB_SO) $(PLUGIN)
	@mkdir -p $(dir $@)
	$(TOOL) cc --wrapper=xmalloc,lmalloc -std=gnu17 -O1 -g $(WARN) $< -o $@
WRAPPED_BIN := $(addprefix $(BUILD)/tests/tools/wrapped_,plain cc named)
# Starts copies of itself, for run --processes sum.
$(BUILD)/tests/tools/spawner: tests/tools/spawner.c $(TOOL) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(TOOL) cc -std=gnu17 -O1 -g $(WARN) $< -o $@
$(BUILD)/tests/test_tool_run_stat: $(TOOL) $(LIB_SO) $(BUILD)/stats/libpartmalloc.so $(BUILD)/tests/tools/labelled \
                                 $(BUILD)/tests/tools/labelled_cxx $(WRAPPED_BIN) \
                                 $(BUILD)/tests/helpers/harden_probe
$(BUILD)/tests/test_tool_run_sum: $(TOOL) $(LIB_SO) $(BUILD)/stats/libpartmalloc.so $(BUILD)/tests/tools/spawner
$(BUILD)/tests/test_tool_cc_report: $(TOOL) $(LIB_SO) $(PLUGIN) $(wildcard tests/tools/fixtures/*.log tests/tools/fixtures/*.yaml)

# The hardening presets' suite starts tests/helpers/harden_probe with each
# preset; the partition suite runs the programs in tests/partitions/, built
# with clang-22 allocation tokens (max 16) like the typed programs.
$(BUILD)/tests/test_harden: $(BUILD)/tests/helpers/harden_probe
PARTITION_BIN := $(patsubst tests/partitions/%.c,$(BUILD)/tests/partitions/%,$(wildcard tests/partitions/*.c))
$(BUILD)/tests/partitions/%: tests/partitions/%.c tests/partitions/common.h tests/helpers/repeat.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu17 -O1 -g $(WARN) -Iinclude -fsanitize=alloc-token -falloc-token-max=16 $< -o $@ \
	    -L$(BUILD) -Wl,-rpath,'$$ORIGIN/../..' -lpartmalloc
$(BUILD)/tests/test_partitions: $(PARTITION_BIN)
test-build: $(PARTITION_BIN)

# The API fuzzer (tests/fuzz/, docs/reliability.md): libFuzzer against the
# core objects built with ASan+UBSan and libFuzzer's coverage, as the ASan
# suites are, plus src/malloc.c with its C names renamed pmfz_* (so that
# they do not take the process's allocator from the sanitizers, and the
# fuzzer still calls every one). The coverage build is the same against
# objects built for clang's source-based coverage.
#   make fuzz            FUZZ_SECONDS (600) of fuzzing over the seeds; new
#                        inputs go to $(BUILD)/fuzz/corpus, crashes to
#                        $(BUILD)/fuzz/crashes
#   make fuzz-coverage   line coverage of src/ by the seeds, the regressions
#                        and $(BUILD)/fuzz/corpus, each replayed with the
#                        default and strict hardening and in random mode
#                        (llvm-cov-22)
FUZZ_SECONDS ?= 600
FUZZ_BIN     := $(BUILD)/fuzz/fuzz_api
FUZZ_COV_BIN := $(BUILD)/fuzz/fuzz_api_cov
FUZZ_CFLAGS  := -std=gnu17 -O1 -g $(WARN) -Iinclude -fsanitize=fuzzer
FUZZ_OBJ     := $(call objs_of,fuzz,$(LIB_SRC)) $(BUILD)/fuzz/obj/malloc_names.o
FUZZ_COV_OBJ := $(call objs_of,cov,$(LIB_SRC)) $(BUILD)/cov/obj/malloc_names.o
FUZZ_RUN     := -dict=tests/fuzz/api.dict -rss_limit_mb=4096
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_COV_OBJ) $(BUILD)/fuzz/obj/malloc.o $(BUILD)/cov/obj/malloc.o

# Every function malloc.o defines, renamed: malloc becomes pmfz_malloc.
$(BUILD)/%/obj/malloc_names.o: $(BUILD)/%/obj/malloc.o
	nm -g --defined-only $< | awk '$$2 == "T" { print $$3, "pmfz_" $$3 }' > $@.syms
	objcopy --redefine-syms=$@.syms $< $@

$(FUZZ_BIN): tests/fuzz/fuzz_api.c tests/fuzz/api_ops.h $(FUZZ_OBJ) include/partmalloc.h include/partmalloc/slab.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS),address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	    $< -o $@ $(FUZZ_OBJ) -lpthread
$(FUZZ_COV_BIN): tests/fuzz/fuzz_api.c tests/fuzz/api_ops.h $(FUZZ_COV_OBJ) include/partmalloc.h include/partmalloc/slab.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fprofile-instr-generate -fcoverage-mapping $< -o $@ $(FUZZ_COV_OBJ) -lpthread
test-build: $(FUZZ_BIN)

.PHONY: fuzz fuzz-coverage
fuzz: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/crashes
	$(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/ $(BUILD)/fuzz/corpus tests/fuzz/corpus

fuzz-coverage: $(FUZZ_COV_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus
	rm -f $(BUILD)/fuzz/cov-*.profraw
	for env in PARTMALLOC_HARDEN=default PARTMALLOC_HARDEN=strict PARTMALLOC_MODE=random; do \
	    env $$env LLVM_PROFILE_FILE=$(BUILD)/fuzz/cov-%p.profraw $(FUZZ_COV_BIN) -runs=0 \
	        tests/fuzz/corpus tests/fuzz/regressions $(BUILD)/fuzz/corpus >/dev/null 2>&1 || exit 1; \
	done
	llvm-profdata-22 merge -sparse $(BUILD)/fuzz/cov-*.profraw -o $(BUILD)/fuzz/cov.profdata
	llvm-cov-22 report $(FUZZ_COV_BIN) -instr-profile=$(BUILD)/fuzz/cov.profdata $(LIB_SRC) src/malloc.c

# The multi-threaded stress (tests/stress/, docs/reliability.md): the
# fuzzer's operation language from a seeded generator in several threads,
# blocks handed between them, a fork halfway. Two builds: linked with the
# static library (partmalloc is the process's allocator, C names and all),
# and against the TSan objects with src/malloc.c's names renamed pmfz_*, as
# the fuzzer's are for ASan (TSan keeps the process's allocator).
#   make stress   every mode x preset x N in {1, 16, 64}, STRESS_SECONDS (20)
#                 each; STRESS_BIN=$(BUILD)/stress/stress_api_tsan for TSan
# make check runs tests/scripts/stress_slice.sh: 30 s under TSan, the grid
# for a second a cell, and the control that a changed pattern is caught.
STRESS_SECONDS  ?= 20
STRESS_TSAN_BIN := $(BUILD)/stress/stress_api_tsan
STRESS_BIN      ?= $(BUILD)/stress/stress_api
STRESS_DEPS     := tests/stress/stress_api.c tests/fuzz/api_ops.h include/partmalloc.h include/partmalloc/slab.h

$(BUILD)/tsan/malloc_names.o: $(BUILD)/tsan/malloc.o
	nm -g --defined-only $< | awk '$$2 == "T" { print $$3, "pmfz_" $$3 }' > $@.syms
	objcopy --redefine-syms=$@.syms $< $@
.SECONDARY: $(BUILD)/tsan/malloc.o

$(BUILD)/stress/stress_api: $(STRESS_DEPS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -O2 -fno-builtin -Itests/fuzz $< -o $@ $(LIB_A) -lstdc++ -lpthread
$(STRESS_TSAN_BIN): $(STRESS_DEPS) $(TSAN_OBJ) $(BUILD)/tsan/malloc_names.o
	@mkdir -p $(dir $@)
	$(CLANG) $(TEST_CFLAGS) -DSTRESS_RENAMED $(SAN_TSAN) -Itests/fuzz $< -o $@ $(TSAN_OBJ) \
	    $(BUILD)/tsan/malloc_names.o -lpthread
test-build: $(BUILD)/stress/stress_api $(STRESS_TSAN_BIN)

.PHONY: stress
stress: $(STRESS_BIN)
	STRESS_SECONDS=$(STRESS_SECONDS) sh tests/stress/grid.sh $(STRESS_BIN)

# The wrappers' suite builds tests/wrappers/ with the command and its clang plugin.
$(BUILD)/tests/test_wrappers: $(TOOL) $(LIB_SO) $(PLUGIN) $(wildcard tests/wrappers/*)
