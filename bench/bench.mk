# Benchmarks, included by the Makefile. `make bench` runs the full suite,
# `make bench QUICK=1` a subset; see bench/README.md.
BENCH_SRC := $(wildcard bench/workloads/*.c)
BENCH_BIN := $(patsubst bench/workloads/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

$(BUILD)/bench/%: bench/workloads/%.c bench/workloads/common.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -O2 -g $(WARN) -pthread $< -o $@ -lm

# The driver's launcher: runs each workload and reports its time and peak RSS.
$(BUILD)/bench/launch: bench/launch.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -O2 $(WARN) $< -o $@

# Debian's python3, which tools/setup.sh installs python3-matplotlib for
# (the plots); a python3 earlier in PATH may not see it.
BENCH_PYTHON ?= /usr/bin/python3
.PHONY: bench bench-build
bench-build: $(BENCH_BIN) $(BUILD)/bench/launch $(LIB_SO)

bench: setup bench-build
	@$(BENCH_PYTHON) bench/run.py --build $(BUILD) $(if $(QUICK),--quick)
