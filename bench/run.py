#!/usr/bin/env python3
"""partmalloc benchmark driver (standard library only).

    python3 bench/run.py --build build            # the full suite (make bench)
    python3 bench/run.py --build build --quick    # a subset (make bench QUICK=1)

Runs every workload of bench/workloads/ (built by bench/bench.mk into
<build>/bench/) under each allocator through LD_PRELOAD, interleaving the
allocators (A B C A B C ...) for several repetitions; prints the medians of
wall time and peak RSS (os.wait4's ru_maxrss) as ratios to mimalloc, with
geometric means; counts instructions per malloc+free pair under callgrind;
and prints the project's goals with pass/miss. A workload that exits nonzero
(or whose checksum differs from the other allocators') is a failure: it is
reported, and the driver exits 1 at the end. A full run also rewrites
docs/benchmarks.md, keeping the analysis section between the markers.
See bench/README.md.
"""

import argparse
import json
import datetime
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
SCUDO = "/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.scudo_standalone-x86_64.so"

# name, binary, arguments, in the quick subset
WORKLOADS = [
    ("churn", "churn", [], True),
    ("larson", "larson", [], True),
    ("xmalloc", "xmalloc", [], True),
    ("cache-scratch", "cache_scratch", [], False),
    ("cache-thrash", "cache_thrash", [], False),
    ("mstress", "mstress", [], True),
    ("alloc-test", "alloc_test", [], False),
    ("rptest", "rptest", [], True),
    ("glibc-bench-1t", "glibc_bench", ["threads=1"], True),
    ("glibc-bench-2t", "glibc_bench", ["threads=2"], False),
    ("large", "large", [], True),
    ("frag", "frag", [], True),
    ("spawn", "spawn", [], True),
    # /bin/true started N times: start-up alone, tabulated with spawn, outside the time and RSS tables
    ("spawn-true", "spawn", ["true=1"], True),
    # memory returned (trim.c): one heap shape per process; run only when --only names them
    # (or `trim`, all four), so they stay out of the suite's time and RSS goals
    ("trim-small", "trim", ["shape=0"], False),
    ("trim-mid", "trim", ["shape=1"], False),
    ("trim-large", "trim", ["shape=2"], False),
    ("trim-mixed", "trim", ["shape=3"], False),
]
TRIM_WORKLOADS = [w[0] for w in WORKLOADS if w[1] == "trim"]
STARTUP_WORKLOADS = ["spawn", "spawn-true"]
# In the start-up table only: not in the ratio tables, their geomeans or the goals.
STARTUP_ONLY = ["spawn-true"]

REFERENCE = "mimalloc"
PM_MAIN = "pm-typed-16"
PM_ONE = "pm-typed-1"
PM_OFF = "pm-harden-off"
PM_STRICT = "pm-harden-strict"


def configs(build):
    pm = os.path.join(build, "libpartmalloc.so")
    # name, preload, extra environment, in the quick subset, runs under valgrind
    return [
        ("glibc", None, {}, True, True),
        ("mimalloc", f"{LIBDIR}/libmimalloc.so.2", {}, True, True),
        ("jemalloc", f"{LIBDIR}/libjemalloc.so.2", {}, True, True),
        ("tcmalloc", f"{LIBDIR}/libtcmalloc_minimal.so.4", {}, False, True),
        ("scudo", SCUDO, {}, False, False),
        (PM_MAIN, pm, {"PARTMALLOC_MODE": "typed", "PARTMALLOC_PARTITIONS": "16"}, True, True),
        (PM_ONE, pm, {"PARTMALLOC_MODE": "typed", "PARTMALLOC_PARTITIONS": "1"}, True, True),
        ("pm-random", pm, {"PARTMALLOC_MODE": "random", "PARTMALLOC_PARTITIONS": "16"}, False, True),
        ("pm-none", pm, {"PARTMALLOC_MODE": "none"}, False, True),
        # the hardening presets (docs/security.md): pm-typed-16 is the default one
        (PM_OFF, pm, {"PARTMALLOC_MODE": "typed", "PARTMALLOC_PARTITIONS": "16", "PARTMALLOC_HARDEN": "off"},
         False, True),
        (PM_STRICT, pm, {"PARTMALLOC_MODE": "typed", "PARTMALLOC_PARTITIONS": "16", "PARTMALLOC_HARDEN": "strict"},
         False, True),
    ]


SCUDO_NOTE = "Scudo does not run under valgrind (it aborts at start-up: \"Scudo ERROR: internal map failure\")"

# Instruction-count benchmark: sizes, live-object counts, the two iteration counts.
CG_SIZES = [16, 32, 64, 256, 1024, 4096]
CG_SIZES_QUICK = [32, 256, 4096]
CG_LIVE = [0, 64]
CG_ITERS = (20000, 120000)

GOALS = {
    "time_geomean": 1.0,
    "time_max": 1.3,
    "rss_geomean": 1.1,
    "pair32_64": 40,
    "partition_cost": 1.03,
    "harden_cost": 1.05,
}

ANALYSIS_BEGIN = "<!-- analysis:begin (kept by bench/run.py across regenerations) -->"
ANALYSIS_END = "<!-- analysis:end -->"
ANALYSIS_PLACEHOLDER = (
    "_Placeholder — to be written: where partmalloc loses (see the tables above) and why._"
)

CLEAN_ENV_PREFIXES = ("PARTMALLOC_", "MIMALLOC_", "TCMALLOC_", "JE_MALLOC_CONF")
CLEAN_ENV_NAMES = ("LD_PRELOAD", "MALLOC_CONF", "SCUDO_OPTIONS", "GLIBC_TUNABLES", "MALLOC_ARENA_MAX")


def log(msg=""):
    print(msg, flush=True)


def fmt_duration(seconds):
    """'45 s', '3 min 05 s', '1 h 02 min': a time left, for a person."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


class Progress:
    """'k of n' steps done and the time left, estimated from the mean step so far."""

    def __init__(self, total, what):
        self.total, self.what, self.done = total, what, 0
        self.start = time.monotonic()

    def step(self):
        self.done += 1
        return self.line()

    def line(self):
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else 0
        return f"[{self.done} of {self.total} {self.what}, about {fmt_duration(left)} left]"


def base_env():
    env = {k: v for k, v in os.environ.items()
           if k not in CLEAN_ENV_NAMES and not k.startswith(CLEAN_ENV_PREFIXES)}
    return env


def child_env(preload, extra):
    env = base_env()
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(extra)
    return env


class Result:
    __slots__ = ("ok", "wall", "maxrss_kib", "stdout", "stderr", "status", "fields")

    def __init__(self):
        self.ok = False
        self.wall = float("nan")
        self.maxrss_kib = 0
        self.stdout = ""
        self.stderr = ""
        self.status = ""
        self.fields = {}


def run_once(launcher, cmd, env_args, timeout):
    """Runs cmd through the launcher (bench/launch.c): wall time from fork to
    reaping and ru_maxrss come from its wait4 on the workload. The launcher
    itself, started with a clean environment, is reaped here with os.wait4."""
    r = Result()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="pm-bench-", suffix=".report", delete=False) as rep:
        report = rep.name
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            timed_out = threading.Event()
            argv = [launcher, report] + [f"{k}={v}" for k, v in env_args.items()] + ["--"] + cmd
            p = subprocess.Popen(argv, env=base_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=True)

            def kill():
                timed_out.set()
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, lstatus, _ = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            p.returncode = os.waitstatus_to_exitcode(lstatus)  # reaped here; keep Popen from waiting again
            out.seek(0)
            err.seek(0)
            r.stdout = out.read().decode(errors="replace")
            r.stderr = err.read().decode(errors="replace")
        with open(report) as f:
            fields = dict(kv.split("=", 1) for kv in f.read().split())
    except (OSError, ValueError):
        fields = {}
    finally:
        try:
            os.unlink(report)
        except OSError:
            pass
    if timed_out.is_set():
        r.status = f"timeout after {timeout}s"
        return r
    if p.returncode != 0 or "status" not in fields:
        r.status = f"launcher failed (exit {p.returncode})"
        return r
    r.wall = float(fields["wall"])
    r.maxrss_kib = int(fields["maxrss_kib"])
    code = os.waitstatus_to_exitcode(int(fields["status"]))
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        r.status = f"killed by signal {-code} ({name})"
    elif code != 0:
        r.status = f"exit status {code}"
    else:
        m = re.search(r": ok (.*)$", r.stdout, re.M)
        if not m:
            r.status = "no closing 'ok' line"
        else:
            r.ok = True
            r.status = "ok"
            r.fields = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
    return r


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0 and math.isfinite(x)]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}"


def md_table(header, rows, align=None):
    """A Markdown table, padded so it also reads well in a terminal."""
    cols = len(header)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(cols)]
    align = align or (["l"] + ["r"] * (cols - 1))

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            out.append(c.ljust(widths[i]) if align[i] == "l" else c.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":" if align[i] == "r" else ":" + "-" * (w + 1))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


# ---------------------------------------------------------------- machine

def cmd_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def dpkg_version(pkg):
    v = cmd_output(["dpkg-query", "-W", "-f=${Version}", pkg])
    return v or "not installed"


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f"{kib / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    cc = os.environ.get("CC") or "gcc"
    head = cmd_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = cmd_output(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include"])
    load = os.getloadavg()
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("compiler", (cmd_output([cc, "--version"]).splitlines() or ["unknown"])[0]),
        ("glibc", dpkg_version("libc6")),
        ("jemalloc", "libjemalloc2 " + dpkg_version("libjemalloc2")),
        ("mimalloc", "libmimalloc2.0 " + dpkg_version("libmimalloc2.0")),
        ("tcmalloc", "libtcmalloc-minimal4 " + dpkg_version("libtcmalloc-minimal4")),
        ("Scudo", "libclang-rt-22-dev " + dpkg_version("libclang-rt-22-dev") + " (standalone)"),
        ("valgrind", cmd_output(["valgrind", "--version"]) or "not found"),
        ("python", platform.python_version()),
        ("partmalloc", f"git {head}" + (" + uncommitted changes in src/ or include/" if dirty else "")),
        ("load average at start", " ".join(f"{x:.2f}" for x in load)),
    ]


# ---------------------------------------------------------------- timing suite

def run_suite(args, cfgs, workloads):
    """Returns {workload: {config: [Result, ...]}}."""
    results = {w[0]: {c[0]: [] for c in cfgs} for w in workloads}
    launcher = os.path.join(args.build, "bench", "launch")
    envs = {c[0]: dict(({"LD_PRELOAD": c[1]} if c[1] else {}), **c[2]) for c in cfgs}
    progress = Progress(len(workloads) * args.reps * len(cfgs), "runs")
    for wname, binary, wargs, _ in workloads:
        path = os.path.join(args.build, "bench", binary)
        cmd = [path] + wargs
        log(f"== {wname}: {' '.join([binary] + wargs)}")
        for rep in range(args.reps):
            cells = []
            for cname, *_ in cfgs:
                r = run_once(launcher, cmd, envs[cname], args.timeout)
                progress.step()
                results[wname][cname].append(r)
                if r.ok:
                    cells.append(f"{cname} {r.wall:.2f}s/{r.maxrss_kib / 1024:.0f}M")
                else:
                    cells.append(f"{cname} FAIL")
                    tail = "\n".join(r.stderr.strip().splitlines()[-5:])
                    log(f"   !! {wname} under {cname} (rep {rep + 1}): {r.status}")
                    if tail:
                        log("      " + tail.replace("\n", "\n      "))
            log(f"   rep {rep + 1}/{args.reps}: " + "  ".join(cells) + "  " + progress.line())
    return results


def summarize(results, cfgs, workloads):
    """Medians per (workload, config) and the failures."""
    med = {}
    failures = []
    for wname, *_ in workloads:
        med[wname] = {}
        sums = {}
        for cname, *_ in cfgs:
            runs = results[wname][cname]
            bad = [r for r in runs if not r.ok]
            for r in runs:
                if r.ok:
                    sums.setdefault(r.fields.get("checksum"), []).append(cname)
            if bad or not runs:
                med[wname][cname] = None
                for r in bad:
                    failures.append(f"{wname} under {cname}: {r.status}"
                                    + (f" — {r.stderr.strip().splitlines()[-1]}" if r.stderr.strip() else ""))
                continue
            extra = {}
            for key in ("rss_peak_kib", "rss_free_kib", "rss_reuse_kib", "per_spawn_us", "idle_rss_kib",
                        "idle_faults", "rss_before_kib", "rss_trim_kib", "trim_returned", "rss_release_kib"):
                vals = [float(r.fields[key]) for r in runs if key in r.fields]
                if vals:
                    extra[key] = statistics.median(vals)
            med[wname][cname] = {
                "wall": statistics.median(r.wall for r in runs),
                "rss": statistics.median(r.maxrss_kib for r in runs),
                "runs": runs,
                "spread": (max(r.wall for r in runs) - min(r.wall for r in runs))
                / statistics.median(r.wall for r in runs),
                **extra,
            }
        if len(sums) > 1:
            # The majority checksum is taken as right; the others fail.
            right = max(sums, key=lambda s: len(sums[s]))
            for s, who in sums.items():
                if s != right:
                    for cname in sorted(set(who)):
                        failures.append(f"{wname} under {cname}: checksum {s} differs from {right}")
                        med[wname][cname] = None
    return med, failures


def ratio_tables(med, cfgs, workloads):
    names = [c[0] for c in cfgs]
    ref = REFERENCE if REFERENCE in names else names[0]
    out = {}
    for key, unit, scale, label in (("wall", "s", 1.0, "time"), ("rss", "MiB", 1 / 1024, "peak RSS")):
        header = ["workload", f"{ref} ({unit})"] + names
        rows = []
        per_cfg = {c: [] for c in names}
        for wname, *_ in workloads:
            base = med[wname].get(ref)
            row = [wname, f"{base[key] * scale:.2f}" if base else "FAIL"]
            for c in names:
                m = med[wname].get(c)
                if m is None:
                    row.append("FAIL")
                elif base is None:
                    row.append("—")
                else:
                    x = m[key] / base[key]
                    per_cfg[c].append(x)
                    row.append(f"{x:.2f}")
            rows.append(row)
        gm = {c: geomean(per_cfg[c]) for c in names}
        nw = len(workloads)
        # † marks a geomean over fewer workloads than the table has (failures)
        rows.append(["**geomean**", ""] + [fmt_ratio(gm[c]) + ("†" if gm[c] is not None and len(per_cfg[c]) < nw else "")
                                          for c in names])
        out[key] = (md_table(header, rows), gm, per_cfg)
    return out, ref


def frag_table(med, cfgs):
    if "frag" not in med:
        return None
    rows = []
    for cname, *_ in cfgs:
        m = med["frag"].get(cname)
        if not m or "rss_peak_kib" not in m:
            rows.append([cname, "FAIL", "", "", "", ""])
            continue
        peak, free_, reuse = m["rss_peak_kib"] / 1024, m["rss_free_kib"] / 1024, m["rss_reuse_kib"] / 1024
        rows.append([cname, f"{peak:.0f}", f"{free_:.0f}", f"{100 * free_ / peak:.0f}%", f"{reuse:.0f}",
                     f"{100 * reuse / peak:.0f}%"])
    return md_table(["allocator", "after build (MiB)", "after scattered free (MiB)", "free/build",
                     "after reuse (MiB)", "reuse/build"], rows)


def trim_table(med, cfgs):
    """trim-*: RSS after the free and after malloc_trim(0), as fractions of the peak."""
    rows = []
    for wname in TRIM_WORKLOADS:
        if wname not in med:
            continue
        for cname, *_ in cfgs:
            m = med[wname].get(cname)
            if not m or "rss_trim_kib" not in m:
                rows.append([wname, cname, "FAIL", "", "", "", "", "", "", ""])
                continue
            before, peak = m["rss_before_kib"], m["rss_peak_kib"]
            free_, trim, own = m["rss_free_kib"], m["rss_trim_kib"], m["rss_release_kib"]
            heap = peak - before
            calls = sorted({r.fields.get("release", "?") for r in m["runs"]})
            rows.append([wname, cname, f"{peak / 1024:.0f}", f"{free_ / peak:.3f}", f"{trim / peak:.3f}",
                         f"{(free_ - before) / heap:.3f}", f"{(trim - before) / heap:.3f}",
                         f"{m['trim_returned']:.0f}", f"{(own - before) / heap:.3f}", ", ".join(calls)])
    if not rows:
        return None
    return md_table(["shape", "allocator", "peak (MiB)", "free/peak", "trim/peak", "heap left after free",
                     "heap left after trim", "malloc_trim returned", "heap left after own call", "own call"],
                    rows)


def startup_table(med, cfgs):
    """spawn and spawn-true: the cost of one small process, beside glibc's."""
    rows = []
    for wname in STARTUP_WORKLOADS:
        if wname not in med:
            continue
        base = med[wname].get("glibc")
        for cname, *_ in cfgs:
            m = med[wname].get(cname)
            if not m or "per_spawn_us" not in m:
                rows.append([wname, cname, "FAIL", "", "", ""])
                continue
            added = (f"{(m['per_spawn_us'] - base['per_spawn_us']) / 1000:+.3f}"
                     if base and "per_spawn_us" in base else "—")
            rows.append([wname, cname, f"{m['per_spawn_us'] / 1000:.3f}", added, f"{m['idle_rss_kib']:.0f}",
                         f"{m['idle_faults']:.0f}"])
    if not rows:
        return None
    return md_table(["workload", "allocator", "per process (ms)", "added to glibc's (ms)", "idle RSS (KiB)",
                     "page faults"], rows)


# ---------------------------------------------------------------- callgrind

def callgrind_total(binary, argv, env, tmpdir, tag):
    outfile = os.path.join(tmpdir, f"cg.{tag}.out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}", binary] + argv
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 or ": ok " not in p.stdout:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"exit {p.returncode}: {last}")
    total = None
    with open(outfile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
                break
    if total is None:
        raise RuntimeError("no total in callgrind output")
    return total, outfile


def noop_body(outfile):
    """Self instructions of noop_malloc + noop_free in one callgrind output."""
    txt = cmd_output(["callgrind_annotate", "--auto=no", "--threshold=100", outfile])
    total = 0
    found = 0
    for line in txt.splitlines():
        m = re.match(r"^\s*([\d,]+)\s.*:noop_(malloc|free) \[", line)
        if m:
            total += int(m.group(1).replace(",", ""))
            found += 1
    if found != 2:
        raise RuntimeError("could not read the no-op functions' counts from callgrind_annotate")
    return total


def run_callgrind(args, cfgs):
    """Returns (table text, {config: {(size, live): instr}}, notes, loop info)."""
    binary = os.path.join(args.build, "bench", "pair_cost")
    if not shutil.which("valgrind"):
        return None, {}, ["valgrind not found: instruction counts skipped"], None
    n1, n2 = CG_ITERS
    tmpdir = tempfile.mkdtemp(prefix="pm-callgrind-")
    jobs = {}
    env0 = base_env()
    cases = [(s, l) for s in (CG_SIZES_QUICK if args.quick else CG_SIZES) for l in CG_LIVE]
    for live in CG_LIVE:
        for n in (n1, n2):
            jobs[("noop", 32, live, n)] = (env0, ["size=32", f"live={live}", f"iters={n}", "noop=1"])
    runnable = [c for c in cfgs if c[4]]
    for cname, preload, extra, _, _ in runnable:
        env = child_env(preload, extra)
        for size, live in cases:
            for n in (n1, n2):
                jobs[(cname, size, live, n)] = (env, [f"size={size}", f"live={live}", f"iters={n}"])
    totals, errors, outfiles = {}, {}, {}
    progress = Progress(len(jobs), "callgrind runs")
    progress_lock = threading.Lock()
    log(f"== callgrind: {len(jobs)} runs")

    def work(key):
        env, argv = jobs[key]
        tag = "-".join(map(str, key))
        try:
            totals[key], outfiles[key] = callgrind_total(binary, argv, env, tmpdir, tag)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            errors[key] = str(e)
        with progress_lock:
            log(f"   {tag} {progress.step()}")

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        list(ex.map(work, list(jobs)))

    notes = []
    loop = {}
    for live in CG_LIVE:
        try:
            per_iter = (totals[("noop", 32, live, n2)] - totals[("noop", 32, live, n1)]) / (n2 - n1)
            body = (noop_body(outfiles[("noop", 32, live, n2)]) - noop_body(outfiles[("noop", 32, live, n1)])) / (n2 - n1)
            loop[live] = (per_iter, body)
        except (KeyError, RuntimeError) as e:
            notes.append(f"no-op loop (live={live}) not measured: {errors.get(('noop', 32, live, n1), e)}")
    counts = {}
    for cname, *_ in runnable:
        counts[cname] = {}
        for size, live in cases:
            k1, k2 = (cname, size, live, n1), (cname, size, live, n2)
            if k1 in totals and k2 in totals and live in loop:
                per_iter = (totals[k2] - totals[k1]) / (n2 - n1)
                counts[cname][(size, live)] = per_iter - loop[live][0] + loop[live][1]
            else:
                counts[cname][(size, live)] = None
                err = errors.get(k1) or errors.get(k2)
                if err:
                    notes.append(f"{cname} size={size} live={live}: {err}")
    shutil.rmtree(tmpdir, ignore_errors=True)

    names = [c[0] for c in cfgs]
    header = ["size", "live"] + names
    rows = []
    for size, live in cases:
        row = [str(size), str(live)]
        for c in names:
            if c not in counts:
                row.append("n/a¹" if c == "scudo" else "n/a")
            else:
                v = counts[c][(size, live)]
                row.append("FAIL" if v is None else f"{v:.1f}")
        rows.append(row)
    table = md_table(header, rows, ["r", "r"] + ["r"] * len(names))
    if "scudo" in names:
        notes.insert(0, "¹ " + SCUDO_NOTE + ".")
    return table, counts, notes, loop


# ---------------------------------------------------------------- goals

def goals_report(med, ref, gms, cfgs, workloads, counts):
    names = [c[0] for c in cfgs]
    wnames = [w[0] for w in workloads]
    lines = []

    def row(goal, measured, ok):
        lines.append([goal, measured, "not measured" if ok is None else ("pass" if ok else "MISS")])

    tgm, rgm = gms["wall"], gms["rss"]
    have = PM_MAIN in names and ref == REFERENCE
    g = tgm.get(PM_MAIN) if have else None
    row(f"{PM_MAIN}: geomean time ≤ {GOALS['time_geomean']:.2f}× {REFERENCE}",
        "—" if g is None else f"{g:.3f}×", None if g is None else g <= GOALS["time_geomean"])
    ratios = []
    for w in wnames:
        a, b = med[w].get(PM_MAIN), med[w].get(ref)
        if have and a and b:
            ratios.append((a["wall"] / b["wall"], w))
    if ratios:
        worst, wname = max(ratios)
        row(f"{PM_MAIN}: no workload above {GOALS['time_max']:.2f}× {REFERENCE}",
            f"max {worst:.2f}× ({wname})", worst <= GOALS["time_max"])
    else:
        row(f"{PM_MAIN}: no workload above {GOALS['time_max']:.2f}× {REFERENCE}", "—", None)
    g = rgm.get(PM_MAIN) if have else None
    row(f"{PM_MAIN}: geomean peak RSS ≤ {GOALS['rss_geomean']:.2f}× {REFERENCE}",
        "—" if g is None else f"{g:.3f}×", None if g is None else g <= GOALS["rss_geomean"])
    v = counts.get(PM_MAIN, {}).get((32, 64))
    row(f"{PM_MAIN}: ≤ {GOALS['pair32_64']} instructions per malloc(32)+free, 64 live",
        "—" if v is None else f"{v:.1f}", None if v is None else v <= GOALS["pair32_64"])
    def time_ratios(num, den):
        """(wall time of num / wall time of den, workload) where both ran."""
        out = []
        for w in wnames:
            a, b = med[w].get(num), med[w].get(den)
            if a and b:
                out.append((a["wall"] / b["wall"], w))
        return out

    pairs = time_ratios(PM_MAIN, PM_ONE)
    g = geomean([x for x, _ in pairs])
    row(f"partitioning: geomean time {PM_MAIN} / {PM_ONE} ≤ {GOALS['partition_cost']:.2f}",
        "—" if g is None else f"{g:.3f} ({(g - 1) * 100:+.1f}%)", None if g is None else g <= GOALS["partition_cost"])
    hpairs = time_ratios(PM_MAIN, PM_OFF)
    g = geomean([x for x, _ in hpairs])
    row(f"hardening: geomean time {PM_MAIN} (default preset) / {PM_OFF} ≤ {GOALS['harden_cost']:.2f}",
        "—" if g is None else f"{g:.3f} ({(g - 1) * 100:+.1f}%)", None if g is None else g <= GOALS["harden_cost"])
    spairs = time_ratios(PM_STRICT, PM_OFF)
    text = md_table(["goal", "measured", "verdict"], lines, ["l", "r", "l"])
    if hpairs:
        text += (f"\n\n{PM_MAIN} / {PM_OFF} per workload: " + ", ".join(f"{w} {x:.2f}" for x, w in hpairs) + ".")
    if spairs:
        text += (f" {PM_STRICT} / {PM_OFF}: geomean {geomean([x for x, _ in spairs]):.3f}; per workload: "
                 + ", ".join(f"{w} {x:.2f}" for x, w in spairs) + ".")
    if pairs:
        text += (f"\n\n{PM_MAIN} / {PM_ONE} per workload: " + ", ".join(f"{w} {x:.2f}" for x, w in pairs) + ".")
        rest = [x for x, w in pairs if w != "cache-scratch"]
        if len(rest) < len(pairs) and rest:
            text += (f" Without cache-scratch (where one partition puts the workers' objects next to the main "
                     f"thread's, see bench/README.md): geomean {geomean(rest):.3f}.")
    return text


# ---------------------------------------------------------------- docs


def ratio_series(med, cfgs, workloads, key, ref):
    """Per allocator, the ratio to the reference for each workload (None where either failed)."""
    series = {}
    for cname, *_ in cfgs:
        vals = []
        for wname, *_ in workloads:
            base, m = med[wname].get(ref), med[wname].get(cname)
            vals.append(m[key] / base[key] if base and m and base[key] else None)
        series[cname] = vals
    return series


def draw_plot(path, series, wnames, ref, what):
    """A dot plot: workloads down the y axis, ratio to the reference along x, one marker series
    per allocator. SVG with a fixed hash salt and no date so the same data gives the same bytes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    matplotlib.rcParams["svg.hashsalt"] = "partmalloc-bench"
    markers = "osD^vP*Xhp<>"
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(wnames) + 1.8))
    step = 0.8 / max(1, len(series))
    ratios = [x for vals in series.values() for x in vals if x]
    for i, (cname, vals) in enumerate(series.items()):
        pts = [(x, k + (i - (len(series) - 1) / 2) * step) for k, x in enumerate(vals) if x]
        ax.scatter([x for x, _ in pts], [y for _, y in pts], marker=markers[i % len(markers)],
                   s=28, label=cname, gid=f"series-{cname}", zorder=3)
    ax.axvline(1.0, color="black", linewidth=1, zorder=2)
    # Ratios from 0.5 to 20 read poorly on a linear axis; log only when they span widely.
    if ratios and max(ratios) / min(ratios) > 4:
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
    ax.set_yticks(range(len(wnames)), wnames)
    ax.invert_yaxis()
    ax.grid(axis="x", linestyle=":", zorder=1)
    ax.set_xlabel(f"{what}, ratio to {ref} (lower is better)")
    ax.set_title(f"{what} per workload, ratio to {ref}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def draw_plots(med, cfgs, workloads, ref, outdir):
    """docs/benchmarks-time.svg and docs/benchmarks-rss.svg; returns their file names."""
    workloads = [w for w in workloads if w[0] not in STARTUP_ONLY]
    wnames = [w[0] for w in workloads]
    names = []
    for key, what, fname in (("wall", "Time", "benchmarks-time.svg"), ("rss", "Peak RSS", "benchmarks-rss.svg")):
        draw_plot(os.path.join(outdir, fname), ratio_series(med, cfgs, workloads, key, ref), wnames, ref, what)
        names.append(fname)
    return names


def load_results(path):
    """The runs a results JSON holds, as Result objects, with the allocators and workloads in its order."""
    with open(path) as f:
        data = json.load(f)
    results, cnames = {}, []
    for wname, per_cfg in data["runs"].items():
        results[wname] = {}
        for cname, runs in per_cfg.items():
            if cname not in cnames:
                cnames.append(cname)
            results[wname][cname] = []
            for d in runs:
                r = Result()
                r.ok, r.status, r.wall, r.maxrss_kib = d["ok"], d["status"], d["wall"], d["maxrss_kib"]
                r.fields = d.get("fields", {})
                results[wname][cname].append(r)
    return results, [(c,) for c in cnames], [(w,) for w in data["runs"]]


def plots_from(path, outdir):
    results, cfgs, workloads = load_results(path)
    for w, *_ in workloads:
        for c, *_ in cfgs:
            results[w].setdefault(c, [])
    med, _ = summarize(results, cfgs, workloads)
    names = [c[0] for c in cfgs]
    ref = REFERENCE if REFERENCE in names else names[0]
    os.makedirs(outdir, exist_ok=True)
    for fname in draw_plots(med, cfgs, workloads, ref, outdir):
        log(f"wrote {os.path.join(outdir, fname)}")
    return 0


def write_docs(path, sections):
    analysis = ANALYSIS_PLACEHOLDER
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        i = old.find("<!-- analysis:begin")
        k = old.find("-->", i) + 3 if i >= 0 else -1
        j = old.find("<!-- analysis:end", k) if k >= 3 else -1
        if j >= 0:
            analysis = old[k:j].strip("\n")
    text = sections.replace("@@ANALYSIS@@", f"{ANALYSIS_BEGIN}\n{analysis}\n{ANALYSIS_END}")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="partmalloc benchmark suite")
    ap.add_argument("--build", default="build", help="build directory (holds libpartmalloc.so and bench/)")
    ap.add_argument("--quick", action="store_true", help="a subset: fewer workloads and allocators, 3 repetitions")
    ap.add_argument("--reps", type=int, help="repetitions (default 7, quick 3; at least 3 for a full run)")
    ap.add_argument("--only", help="comma-separated workloads to run (`trim`: the four trim-* shapes)")
    ap.add_argument("--configs", help="comma-separated allocator configurations to run")
    ap.add_argument("--add", action="append", default=[], metavar="NAME=LIB",
                    help="also run another allocator, preloaded from LIB (repeatable)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--timeout", type=int, default=300, help="seconds before a run is killed (a failure)")
    ap.add_argument("--plots-from", metavar="FILE",
                    help="only redraw the time and RSS plots from a results JSON (into the --docs directory)")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plots_from:
        if not os.path.isfile(args.plots_from):
            ap.error(f"--plots-from: no such file: {args.plots_from}")
        return plots_from(args.plots_from, os.path.dirname(os.path.abspath(args.docs)))
    args.build = os.path.abspath(args.build)
    if args.reps is None:
        args.reps = 3 if args.quick else 7
    if args.reps < 1:
        ap.error("--reps must be at least 1")

    started = time.time()
    added = []
    for a in args.add:
        name, _, lib = a.partition("=")
        if not name or not lib:
            ap.error("--add takes NAME=/path/to/lib.so")
        added.append((name, os.path.abspath(lib), {}, True, True))
    cfgs = configs(args.build) + added
    workloads = [w for w in WORKLOADS if w[0] not in TRIM_WORKLOADS]
    if args.quick:
        cfgs = [c for c in cfgs if c[3]]
        workloads = [w for w in workloads if w[3]]
    if args.configs:
        want = args.configs.split(",")
        unknown = set(want) - {c[0] for c in configs(args.build) + added}
        if unknown:
            ap.error(f"unknown configurations: {', '.join(sorted(unknown))}")
        cfgs = [c for c in configs(args.build) + added if c[0] in want]
    if args.only:
        want = [n for name in args.only.split(",") for n in (TRIM_WORKLOADS if name == "trim" else [name])]
        unknown = set(want) - {w[0] for w in WORKLOADS}
        if unknown:
            ap.error(f"unknown workloads: {', '.join(sorted(unknown))}")
        workloads = [w for w in WORKLOADS if w[0] in want]
    full = not (args.quick or args.configs or args.only or args.no_callgrind or args.add) and args.reps >= 3
    if full and not args.no_docs:
        try:  # the plots come at the end: say now, not after the whole run
            import matplotlib  # noqa: F401
        except ImportError:
            ap.error("a full run draws its plots with matplotlib, which this python3 lacks: install python3-matplotlib "
                     "(tools/setup.sh) and run Debian's /usr/bin/python3, or pass --no-docs")

    # Everything must be there before anything runs.
    missing = [os.path.join(args.build, "bench", w[1]) for w in workloads]
    missing.append(os.path.join(args.build, "bench", "pair_cost"))
    missing.append(os.path.join(args.build, "bench", "launch"))
    missing = [m for m in missing if not os.access(m, os.X_OK)]
    for c in cfgs:
        if c[1] and not os.path.exists(c[1]):
            missing.append(f"{c[1]} ({c[0]})")
    if missing:
        log("bench: missing (run `make bench`, which builds and installs them):\n  " + "\n  ".join(missing))
        return 2

    machine = machine_info()
    mode = "quick" if args.quick else ("full" if full else "partial")
    log(f"partmalloc benchmarks ({mode}): {len(workloads)} workloads × {len(cfgs)} allocators × {args.reps} repetitions")
    for k, v in machine:
        log(f"  {k}: {v}")
    log()

    results = run_suite(args, cfgs, workloads)
    raw = os.path.join(args.build, "bench", f"results-{mode}.json")
    with open(raw, "w") as f:
        json.dump({"machine": machine, "reps": args.reps,
                   "runs": {w: {c: [{"ok": r.ok, "status": r.status, "wall": r.wall, "maxrss_kib": r.maxrss_kib,
                                      "fields": r.fields} for r in rs] for c, rs in cs.items()}
                            for w, cs in results.items()}}, f, indent=1)
    med, failures = summarize(results, cfgs, workloads)
    ratio_workloads = [w for w in workloads if w[0] not in STARTUP_ONLY]
    tables, ref = ratio_tables(med, cfgs, ratio_workloads)
    ftable = frag_table(med, cfgs) if any(w[0] == "frag" for w in workloads) else None
    stable = startup_table(med, cfgs) if any(w[0] in STARTUP_WORKLOADS for w in workloads) else None
    ttable = trim_table(med, cfgs)
    timing_done = time.time()
    machine.append(("load average after the timing runs", " ".join(f"{x:.2f}" for x in os.getloadavg())))

    cg_table, counts, cg_notes, loop = (None, {}, [], None)
    if not args.no_callgrind:
        log("\n== instruction counts under callgrind ...")
        cg_table, counts, cg_notes, loop = run_callgrind(args, cfgs)

    gms = {k: tables[k][1] for k in tables}
    goals = goals_report(med, ref, gms, cfgs, ratio_workloads, counts)
    elapsed = time.time() - started

    n1, n2 = CG_ITERS
    noisy = sorted(((m["spread"], w, c) for w in med for c, m in med[w].items() if m), reverse=True)[:3]
    out = []
    out.append(f"## Time (median wall time of {args.reps} runs, ratio to {ref}; lower is better)\n")
    out.append(tables["wall"][0])
    out.append("@@PLOT:benchmarks-time.svg@@")
    out.append(f"\n## Peak RSS (median ru_maxrss of {args.reps} runs, ratio to {ref}; lower is better)\n")
    out.append(tables["rss"][0])
    out.append("@@PLOT:benchmarks-rss.svg@@")
    if any("†" in tables[k][0] for k in tables):
        out.append("\n† geometric mean over the workloads that did not fail.")
    if noisy and args.reps > 1:
        out.append("\nLargest run-to-run spread of wall time ((max−min)/median): "
                   + ", ".join(f"{w} under {c} {s * 100:.0f}%" for s, w, c in noisy) + ".")
    if ftable:
        out.append("\n## Fragmentation (frag: RSS in MiB after each step, medians)\n")
        out.append(ftable)
    if stable:
        out.append("\n## Start-up (spawn, spawn-true: medians over the processes each starts, the allocator "
                   "preloaded into each)\n")
        out.append(stable)
    if ttable:
        out.append(f"\n## Memory returned (trim-*: RSS after the free and after malloc_trim(0), medians of {args.reps})\n")
        out.append(ttable)
        out.append("\nheap left = (RSS − RSS before the heap) / (peak − RSS before); malloc_trim is glibc's name, "
                   "which mimalloc, jemalloc and tcmalloc do not define: under them the call reaches glibc's, "
                   "which trims glibc's own (unused) heap.")
    if cg_table:
        out.append(f"\n## Instructions per malloc+free pair (callgrind, iters {n1} and {n2})\n")
        out.append(cg_table)
        if loop:
            desc = "; ".join(f"live={l}: loop {v[0]:.1f}, no-op bodies {v[1]:.1f}" for l, v in sorted(loop.items()))
            out.append(f"\nSubtracted per iteration (same loop calling no-op functions): {desc}.")
    for n in cg_notes:
        out.append(n)
    out.append("\n## Goals (reported, not tests)\n")
    out.append(goals)
    if failures:
        out.append("\n## FAILURES\n")
        out.extend(f"- {f}" for f in failures)
    out.append(f"\nSuite time: {elapsed / 60:.1f} min (timing runs {(timing_done - started) / 60:.1f} min).")
    report = "\n".join(out)
    log("\n" + re.sub(r"\n@@PLOT:[^@]*@@", "", report))

    if full and not args.no_docs:
        cmd = "make bench" if os.path.relpath(args.build, ROOT) == "build" else \
            f"make BUILD={os.path.relpath(args.build, ROOT)} bench"
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        doc = [
            "# Benchmarks",
            "",
            "<!-- Written by bench/run.py on every full run (`make bench`). Only the section between the",
            "     analysis markers is kept across regenerations; edit it there. -->",
            "",
            f"Latest full run: {date}, {len(workloads)} workloads × {len(cfgs)} allocator configurations × "
            f"{args.reps} repetitions, interleaved; the driver took {elapsed / 60:.1f} min (building not included).",
            "",
            f"Command: `{cmd}` (which runs `python3 bench/run.py --build {os.path.relpath(args.build, ROOT)}`). "
            "The workloads, their parameters and the method are described in "
            "[bench/README.md](../bench/README.md).",
            "",
            "Allocators: glibc (nothing preloaded), mimalloc, jemalloc, tcmalloc (minimal), Scudo (standalone), "
            "and partmalloc as `pm-typed-16` (PARTMALLOC_MODE=typed, PARTMALLOC_PARTITIONS=16: the default), "
            "`pm-typed-1` (typed, 1 partition), `pm-random` (random, 16) and `pm-none` (none), all through "
            "LD_PRELOAD of the same binaries. The workloads are built with gcc, without allocation tokens, so "
            "typed mode places every allocation by its call site.",
            "",
            "## Machine",
            "",
        ]
        doc += [f"- {k}: {v}" for k, v in machine]
        os.makedirs(os.path.dirname(args.docs), exist_ok=True)
        draw_plots(med, cfgs, ratio_workloads, ref, os.path.dirname(args.docs))
        report = re.sub(r"@@PLOT:([^@]*)@@", lambda m: f"\n![{m.group(1)}]({m.group(1)})", report)
        doc += ["", report, "", "## Where partmalloc loses, and why", "", "@@ANALYSIS@@", ""]
        write_docs(args.docs, "\n".join(doc))
        log(f"\nwrote {os.path.relpath(args.docs, os.getcwd())}")
    if failures:
        log(f"\nbench: {len(failures)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
