#!/bin/sh
# bench/run.py --plots-from redraws docs/benchmarks-{time,rss}.svg from a
# results JSON: both files are SVG (XML), hold one marker group per
# allocator and every workload's name, and the same data draws the same
# bytes. Control: without one allocator the file differs and its group is gone.
fail=0
pass() { echo "PASS: bench plots: $1"; }
flunk() { echo "FAIL: bench plots: $1"; fail=1; }
# Debian's python3, which python3-matplotlib is installed for (a python3
# earlier in PATH, such as a pyenv one, does not see it).
py=/usr/bin/python3
if ! $py -c "import matplotlib" 2>/dev/null; then
    flunk "python3-matplotlib is missing (tools/setup.sh installs it)"
    exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A fixture of the shape run.py writes: workloads × allocators × runs.
fixture() { # OUT ALLOCATORS...
    out=$1; shift
    $py - "$out" "$@" <<'PY'
import json, sys
out, cfgs = sys.argv[1], sys.argv[2:]
scale = {"mimalloc": 1.0, "glibc": 1.6, "jemalloc": 1.1, "pm-typed-16": 2.5}
runs = {w: {c: [{"ok": True, "status": "ok", "wall": (k + 1) * scale[c] * (1 + r / 100),
                 "maxrss_kib": 1000 * (k + 2) * scale[c], "fields": {}} for r in range(3)]
            for c in cfgs} for k, w in enumerate(["churn", "larson-ish", "xmalloc"])}
json.dump({"machine": [], "reps": 3, "runs": runs}, open(out, "w"))
PY
}
draw() { # FIXTURE OUTDIR
    $py bench/run.py --plots-from "$1" --docs "$2/benchmarks.md" >/dev/null 2>&1
}
fixture "$dir/all.json" mimalloc glibc jemalloc pm-typed-16
fixture "$dir/less.json" mimalloc glibc pm-typed-16
draw "$dir/all.json" "$dir/a" && pass "draws from a results JSON" || flunk "draws from a results JSON"
draw "$dir/all.json" "$dir/b"
draw "$dir/less.json" "$dir/c"
check() { # SVG ALLOCATORS... : parses, one group per allocator, the workloads as text
    $py - "$@" <<'PY'
import sys, xml.etree.ElementTree as ET
svg, cfgs = sys.argv[1], sys.argv[2:]
root = ET.parse(svg).getroot()
ns = "{http://www.w3.org/2000/svg}"
groups = {g.get("id") for g in root.iter(ns + "g")}
missing = [c for c in cfgs if f"series-{c}" not in groups]
text = open(svg).read()
words = [w for w in ("churn", "larson-ish", "xmalloc") if f"<!-- {w} -->" not in text]
if missing or words:
    sys.exit(f"{svg}: no group for {missing}, no label for {words}")
PY
}
for kind in time rss; do
    f=benchmarks-$kind.svg
    check "$dir/a/$f" mimalloc glibc jemalloc pm-typed-16 && pass "$kind: XML, a group per allocator, workload labels" \
        || flunk "$kind: XML, a group per allocator, workload labels"
    cmp -s "$dir/a/$f" "$dir/b/$f" && pass "$kind: same data, same bytes" || flunk "$kind: same data, same bytes"
    # Control: the fixture without jemalloc.
    cmp -s "$dir/a/$f" "$dir/c/$f" && flunk "$kind: control: one allocator fewer gives a different file" \
        || pass "$kind: control: one allocator fewer gives a different file"
    check "$dir/c/$f" jemalloc 2>/dev/null && flunk "$kind: control: jemalloc's group is absent" \
        || pass "$kind: control: jemalloc's group is absent"
done
$py bench/run.py --plots-from "$dir/none.json" 2>"$dir/err" >/dev/null
grep -q -e "--plots-from: no such file" "$dir/err" && pass "names the option for a missing file" \
    || flunk "names the option for a missing file"
exit $fail
