#!/bin/sh
# Runs the stress ($1, tests/stress/stress_api.c) in every mode x preset x
# partitions N in {1, 16, 64}, STRESS_SECONDS (20) a cell, and prints a
# PASS: or FAIL: line for each. A cell that does not end within three
# times its time plus 60 s is a hang.
bin=$1
seconds=${STRESS_SECONDS:-20}
for mode in typed random none; do
    for harden in default strict off; do
        for n in 1 16 64; do
            cell="mode=$mode harden=$harden partitions=$n"
            out=$(PARTMALLOC_MODE=$mode PARTMALLOC_HARDEN=$harden PARTMALLOC_PARTITIONS=$n \
                  PARTMALLOC_TOKEN_MAX=16 STRESS_SECONDS=$seconds \
                  timeout $((seconds * 3 + 60)) "$bin" 2>&1)
            rc=$?
            if [ "$rc" -eq 0 ]; then
                echo "PASS: stress: $cell: $(echo "$out" | tail -1)"
            else
                echo "$out" | grep -a -E "model disagreement|ThreadSanitizer|partmalloc:" | head -5
                echo "FAIL: stress: $cell (exit $rc)"
            fi
        done
    done
done
