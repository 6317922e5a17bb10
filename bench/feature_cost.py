#!/usr/bin/env python3
"""What a PARTMALLOC_HARDEN setting costs beside another, on the suite's
workloads preloaded directly: every round runs each workload under each
setting in turn (interleaved, so the machine's drift falls on all alike),
and the table gives the first setting's median wall time and every other
setting's median as a ratio to it.

    python3 bench/feature_cost.py --build build --reps 5 \\
        default default,canary=on default,zero_inaccessible=on

The workloads come from `make bench-build` (BUILD/bench/)."""
import argparse
import os
import statistics
import subprocess
import sys
import time

WORKLOADS = [
    ("churn", ["churn"]),
    ("larson", ["larson"]),
    ("xmalloc", ["xmalloc"]),
    ("glibc-bench-1t", ["glibc_bench", "threads=1"]),
    ("mstress", ["mstress"]),
]


def run(build, cmd, setting):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTMALLOC_")}
    env.update(LD_PRELOAD=os.path.abspath(os.path.join(build, "libpartmalloc.so")),
               PARTMALLOC_HARDEN=setting, PARTMALLOC_MODE="typed", PARTMALLOC_PARTITIONS="16")
    argv = [os.path.join(build, "bench", cmd[0])] + cmd[1:]
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(nothing on stderr)"]
        sys.exit(f"feature_cost.py: {cmd[0]} failed under PARTMALLOC_HARDEN={setting} "
                 f"(exit {done.returncode}): {last[0]}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory (libpartmalloc.so and bench/)")
    ap.add_argument("--reps", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("settings", nargs="+", help="PARTMALLOC_HARDEN values; the first is the baseline")
    a = ap.parse_args()
    if len(a.settings) < 2:
        ap.error("give a baseline setting and at least one to compare with it")
    times = {}
    for rnd in range(a.reps):
        print(f"round {rnd + 1} of {a.reps}", file=sys.stderr)
        for name, cmd in WORKLOADS:
            for s in a.settings:
                times.setdefault((name, s), []).append(run(a.build, cmd, s))
    base = a.settings[0]
    print("| workload | " + " | ".join(f"`{s}`" for s in a.settings) + " |")
    print("| --- | " + " | ".join("--:" for _ in a.settings) + " |")
    for name, _ in WORKLOADS:
        b = statistics.median(times[(name, base)])
        cells = [f"{b:.3f} s"] + [f"{statistics.median(times[(name, s)]) / b:.2f}×" for s in a.settings[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
