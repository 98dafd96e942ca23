"""typecache against every alternative, side by side, in one run.

Schemes (tools/schemes.py): direct (one shared cache.db, mypy's own locking), pants (copy into a
sandbox, run, move back), private (a cold cache per run), typecache (typecache run).

Workloads:
  1. concurrent partitions: N mypy processes over disjoint generated packages sharing the
     standard library, R rounds with an edit between rounds; groups lost against the same work
     run one after another, crashes, wall time per round, time of a final full run.
  2. wrapper overhead: a warm mypy run with no change, on the mypy code base Debian installs and
     on a generated cache of realistic rows (1 GB; 30 MB with --quick). Every scheme's runs are
     checked to be warm (mypy -v: no module rechecked, tclib.warm_problems) before and after
     the timed runs; the workload fails when they are not.
  3. publish scaling: time under the lock against rows changed and against cache size.
  4. maintenance: merge throughput against the sqlite3-shell approach; prune and verify times.

Prints tables (medians of repeated runs, ratios within this run, peak memory) and writes the
figures as JSON (--json-out) for docs/benchmarks.md and bench/plot.py.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
sys.path.insert(0, HERE)
import gen  # noqa: E402
import schemes  # noqa: E402
import tclib  # noqa: E402

FAKE = tclib.FAKE_CHECKER
SETTLE_S = 1.0  # pause between measured runs (0.3 s with --quick)


TIME = "/usr/bin/time"


def timed(cmd, cwd, env=None):
    """Runs cmd; returns (exit code, stdout, stderr, seconds, peak RSS in KiB).

    The peak RSS comes from GNU time (`-f %M`), which forks the command from its own small
    process: Linux carries a process's peak RSS across exec, so a command forked straight from
    this Python process (hundreds of MiB after generating a big cache) would report Python's."""
    full_env = dict(os.environ)
    full_env.pop("MYPY_CACHE_DIR", None)
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        wrapped = [TIME, "-f", "%M", "-o", rss.name] + list(cmd) if os.path.exists(TIME) else cmd
        start = time.monotonic()
        p = subprocess.Popen(wrapped, cwd=cwd, env=full_env, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = rss.read().strip().splitlines()
        kb = int(text[-1]) if text and text[-1].isdigit() else usage.ru_maxrss
        return (p.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), elapsed, kb)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def table(title, header, rows):
    print()
    print(title)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  " + "  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  " + "  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def parse_verbose(stderr):
    """Figures from `typecache run -v`: snapshot ms, lock wait ms, lock held ms."""
    snap = re.search(r"snapshot: .* in ([\d.]+) ms", stderr)
    pub = re.search(r"lock wait ([\d.]+) ms, held ([\d.]+) ms", stderr)
    return (float(snap.group(1)) if snap else 0.0, float(pub.group(1)) if pub else 0.0,
            float(pub.group(2)) if pub else 0.0)


# ---------------------------------------------------------------- workload 1

def workload_concurrent(tc, work, ns, rounds, modules, results):
    pyver = schemes.python_version()
    rows = []
    for n in ns:
        src = os.path.join(work, "w1-n%d" % n)
        pkgs = [gen.write_package(src, i, modules) for i in range(n)]
        # Reference: the same work, one run after another, plain mypy on one cache.
        ref_cache = os.path.join(work, "w1-ref-%d" % n)
        for r in range(rounds):
            for i in range(n):
                gen.write_package(src, i, modules, edit_round=r)
            for p in pkgs:
                schemes.run_scheme("direct", tc, ref_cache, ["-p", p], src, pyver)
        reference = schemes.cache_groups(ref_cache)
        for scheme in schemes.SCHEMES:
            shared = os.path.join(work, "w1-%s-%d" % (scheme, n))
            walls, crashes, locked = [], 0, 0
            for r in range(rounds):
                for i in range(n):
                    gen.write_package(src, i, modules, edit_round=r)
                start = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(n) as pool:
                    outs = list(pool.map(lambda p: schemes.run_scheme(
                        scheme, tc, shared, ["-p", p], src, pyver), pkgs))
                walls.append(time.monotonic() - start)
                crashes += sum(1 for code, _, _ in outs if code not in (0, 1))
                locked += sum(1 for _, out, err in outs if "database is locked" in out + err)
            kept = schemes.cache_groups(shared) if scheme != "private" else set()
            lost = len(reference - kept)
            start = time.monotonic()
            schemes.run_scheme(scheme, tc, shared, sum([["-p", p] for p in pkgs], []), src, pyver)
            final = time.monotonic() - start
            row = {"n": n, "scheme": scheme, "reference_groups": len(reference), "lost": lost,
                   "crashes": crashes, "locked": locked, "round_s": med(walls),
                   "round_range_s": [min(walls), max(walls)], "final_s": final}
            results.setdefault("concurrent", []).append(row)
            rows.append([n, scheme, len(reference), "%d (%d%%)" % (lost, round(100 * lost / max(1, len(reference)))),
                         crashes, locked, "%.2f (%.2f-%.2f)" % (med(walls), min(walls), max(walls)),
                         "%.2f" % final])
    table("1. Concurrent partitions (%d rounds, edits between rounds)" % rounds,
          ["N", "scheme", "ref groups", "groups lost", "crashes", "locked",
           "round s (median (min-max))",
           "final full run s"], rows)


# ---------------------------------------------------------------- workload 2

# mypy 1.0.1 checking its own code base: without these codes it reports errors, and it keeps no
# cache for a module with errors (nor for what depends on it), so no run would be warm. "import":
# mypy/fastparse.py's `Library stubs not installed for "typed_ast"`, which --ignore-missing-imports
# does not silence; the module is at the bottom of mypy's largest import cycle.
MYPY_ARGS = ["--ignore-missing-imports"] + sum([["--disable-error-code", c] for c in (
    "empty-body", "misc", "override", "type-arg", "valid-type", "no-overload-impl", "operator",
    "no-redef", "assignment", "import")], [])


def copy_mypy_source(dest):
    base = "/usr/lib/python3/dist-packages"
    for pkg in ("mypy", "mypyc"):
        for root, dirs, files in os.walk(os.path.join(base, pkg)):
            if "typeshed" in root or "__pycache__" in root:
                continue
            for f in files:
                if f.endswith((".py", ".pyi")) or f == "py.typed":
                    rel = os.path.relpath(os.path.join(root, f), base)
                    os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
                    shutil.copyfile(os.path.join(root, f), os.path.join(dest, rel))


def run_overhead_scheme(scheme, tc, cache, args, src, pyver):
    """One warm run of `scheme`; returns (exit code, stdout, stderr, seconds, peak RSS KiB)."""
    if scheme == "direct":
        return timed([schemes.MYPY, "--sqlite-cache", "--cache-dir", cache] + args, src)
    if scheme == "typecache":
        return timed([tc, "run", "-v", "--cache-dir", cache, "--", schemes.MYPY] + args, src)
    start = time.monotonic()
    code, out, err = schemes.run_scheme("pants", tc, cache, args, src, pyver)
    return code, out, err, time.monotonic() - start, 0


def check_warm(tc, src, cache_for, label, args, pyver, when):
    """Each scheme's run is warm: mypy -v rechecks no module. Raises when one is not."""
    for scheme in ("direct", "pants", "typecache"):
        code, out, err, _, _ = run_overhead_scheme(scheme, tc, cache_for(scheme), args + ["-v"],
                                                   src, pyver)
        problems = tclib.warm_problems(err + out, allow_modules_with_errors=False)
        if code not in (0, 1) or problems:
            raise RuntimeError("workload 2 (%s, %s, %s): the run is not warm, so its time is not "
                               "a warm run's: exit %d; %s" % (label, scheme, when, code,
                                                              "; ".join(problems[:8])))
    print("  %s: every scheme warm %s (mypy -v: no module rechecked)" % (label, when))


def overhead_on(tc, src, cache_for, label, reps, results, pyver):
    """Warm runs with no change: plain mypy, Pants' scheme, typecache (medians of reps).
    The schemes take turns within each repetition, so drift on the machine hits all alike.
    Checked warm (mypy -v) before the timed runs and after them."""
    args = MYPY_ARGS + ["-p", "mypy", "-p", "mypyc"]
    samples = {s: {"s": [], "rss": [], "snap": [], "held": []} for s in ("direct", "pants", "typecache")}
    for scheme in ("direct", "pants", "typecache"):  # the first run warms every cache
        code, out, err, _, _ = run_overhead_scheme(scheme, tc, cache_for(scheme), args, src, pyver)
        if code not in (0, 1):
            raise RuntimeError("%s failed: %s %s" % (scheme, out[-500:], err[-500:]))
    check_warm(tc, src, cache_for, label, args, pyver, "before the timed runs")
    for _ in range(reps):
        for scheme in ("direct", "pants", "typecache"):
            # Let the previous run's background work (typecache deletes its private copy in a
            # detached process; the kernel writes back dirty pages) settle, for every scheme.
            subprocess.run(["sync"])
            time.sleep(SETTLE_S)
            code, out, err, secs, kb = run_overhead_scheme(scheme, tc, cache_for(scheme), args,
                                                           src, pyver)
            if code not in (0, 1):
                raise RuntimeError("%s failed: %s %s" % (scheme, out[-500:], err[-500:]))
            if scheme == "typecache":
                snap, _, held = parse_verbose(err)
                samples[scheme]["snap"].append(snap)
                samples[scheme]["held"].append(held)
            samples[scheme]["s"].append(secs)
            samples[scheme]["rss"].append(kb)
    check_warm(tc, src, cache_for, label, args, pyver, "after the timed runs")
    figures = {s: {"s": med(v["s"]), "min_s": min(v["s"]), "max_s": max(v["s"]),
                   "rss_kb": max(v["rss"]) if v["rss"] else 0,
                   "snapshot_ms": med(v["snap"]), "lock_held_ms": med(v["held"])}
               for s, v in samples.items()}
    size = tclib.cache_bytes(cache_for("typecache"))
    plain = figures["direct"]["s"]
    tcs = figures["typecache"]
    row = {"cache": label, "cache_bytes": size, "plain_s": plain, "pants_s": figures["pants"]["s"],
           "typecache_s": tcs["s"], "reps": reps,
           "spread_s": {k: [figures[k]["min_s"], figures[k]["max_s"]] for k in figures},
           "snapshot_ms": tcs["snapshot_ms"],
           "lock_held_ms": tcs["lock_held_ms"], "overhead_ms": (tcs["s"] - plain) * 1000,
           "overhead_pct": 100 * (tcs["s"] - plain) / plain,
           "pants_overhead_ms": (figures["pants"]["s"] - plain) * 1000,
           "typecache_rss_kb": tcs["rss_kb"], "plain_rss_kb": figures["direct"]["rss_kb"],
           "warm_checked": True}
    results.setdefault("overhead", []).append(row)
    return row


def workload_overhead(tc, work, big_bytes, reps, results):
    pyver = schemes.python_version()
    src = os.path.join(work, "w2-src")
    copy_mypy_source(src)
    # One cold run makes the cache every scheme starts from (the same database file in the
    # same place: plain mypy's and Pants' caches use it as it is, typecache adopts it).
    seed = os.path.join(work, "w2-seed")
    code, out, err, cold_s, _ = run_overhead_scheme(
        "direct", tc, seed, MYPY_ARGS + ["-p", "mypy", "-p", "mypyc"], src, pyver)
    if code != 0:
        raise RuntimeError("workload 2: mypy reports errors on its own code base, so it keeps no "
                           "cache for those modules and no run can be warm:\n" + out[-2000:])
    results["overhead_cold_s"] = cold_s

    def small_cache(scheme):
        path = os.path.join(work, "w2-%s" % scheme)
        if not os.path.exists(path):
            os.makedirs(os.path.join(path, pyver))
            shutil.copyfile(os.path.join(seed, pyver, "cache.db"),
                            os.path.join(path, pyver, "cache.db"))
        return path
    rows = [overhead_on(tc, src, small_cache, "mypy code base", reps, results, pyver)]
    # The same warm run on a cache grown to big_bytes with synthetic modules of real sizes.
    live_db = os.path.join(seed, pyver, "cache.db")
    sizes = gen.sample_sizes(live_db)
    big_template = os.path.join(work, "w2-big-template.db")
    shutil.copyfile(live_db, big_template)
    gen.synthetic_cache(big_template, big_bytes - os.path.getsize(live_db), sizes)

    def big_cache(scheme):
        path = os.path.join(work, "w2big-%s" % scheme)
        if not os.path.exists(path):
            os.makedirs(os.path.join(path, pyver))
            shutil.copyfile(big_template, os.path.join(path, pyver, "cache.db"))
        return path
    rows.append(overhead_on(tc, src, big_cache, "generated %s" % human(big_bytes), reps, results,
                            pyver))
    table("2. Wrapper overhead: warm mypy run, no change (median (min-max) of %d; cold run %.1f s)" % (
        reps, cold_s),
          ["cache", "size", "plain s", "pants s", "typecache s", "snapshot ms", "lock held ms",
           "overhead ms", "% of mypy", "vs pants", "peak RSS MiB (tc / mypy)"],
          [[r["cache"], human(r["cache_bytes"]), spread3(r, "direct", "plain_s"),
            spread3(r, "pants", "pants_s"), spread3(r, "typecache", "typecache_s"),
            "%.1f" % r["snapshot_ms"], "%.1f" % r["lock_held_ms"],
            "%.0f" % r["overhead_ms"], "%.1f%%" % r["overhead_pct"],
            "%.2fx" % (r["typecache_s"] / r["pants_s"]),
            "%.0f / %.0f" % (r["typecache_rss_kb"] / 1024, r["plain_rss_kb"] / 1024)] for r in rows])


def spread3(row, scheme, key):
    """"0.182 (0.171-0.190)": a workload-2 median and its min-max."""
    lo, hi = row["spread_s"][scheme]
    return "%.3f (%.3f-%.3f)" % (row[key], lo, hi)


def human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return "%.0f %s" % (n, unit)
        n /= 1000.0


# ---------------------------------------------------------------- workload 3

def real_row_sizes(work, pyver):
    """Row sizes of the real mypy cache workload 2 made (a default when it did not run)."""
    live_db = os.path.join(work, "w2-seed", pyver, "cache.db")
    return gen.sample_sizes(live_db) if os.path.exists(live_db) else [(2000, 20000)]


def fake_spec(prefix, k, mtime):
    """fake_checker instructions: write k module groups (meta + data rows)."""
    return {"version": schemes.python_version(),
            "actions": [{"op": "bulk", "prefix": prefix, "count": k, "mtime": mtime}]}


def workload_publish(tc, work, sizes, changes, reps, results):
    pyver = schemes.python_version()
    row_sizes = real_row_sizes(work, pyver)
    rows = []
    for size in sizes:
        template = os.path.join(work, "w3-template-%d.db" % size)
        gen.synthetic_cache(template, size, row_sizes, prefix="base")
        for k in changes:
            held_fast, held_merge = [], []
            for rep in range(reps):
                cache = os.path.join(work, "w3-%d-%d-%d" % (size, k, rep))
                os.makedirs(os.path.join(cache, pyver))
                shutil.copyfile(template, os.path.join(cache, pyver, "cache.db"))
                # Adopt the directory first (a full merge), so what follows is the steady state.
                timed([tc, "run", "--cache-dir", cache, "--", FAKE], work,
                      {"FAKE_ACTIONS": json.dumps(fake_spec("warm", 1, 1.0))})
                # Fast path: nobody published since the snapshot.
                code, _, err, _, _ = timed([tc, "run", "-v", "--cache-dir", cache, "--", FAKE], work,
                                           {"FAKE_ACTIONS": json.dumps(fake_spec("a%d" % rep, k, 2.0))})
                held_fast.append(parse_verbose(err)[2])
                # Merge path: another run publishes k groups while this one runs.
                gate = os.path.join(work, "gate-%d-%d-%d" % (size, k, rep))
                slow_spec = fake_spec("b", k, 3.0)
                gated = gate + ".checker"
                with open(gated, "w") as f:
                    f.write("#!/usr/bin/python3\nimport os, subprocess, sys, time\n"
                            "while not os.path.exists(%r): time.sleep(0.01)\n"
                            "sys.exit(subprocess.call([%r] + sys.argv[1:]))\n" % (gate, FAKE))
                os.chmod(gated, 0o755)
                slow = subprocess.Popen(
                    [tc, "run", "-v", "--cache-dir", cache, "--", gated],
                    cwd=work, env=dict(os.environ, FAKE_ACTIONS=json.dumps(slow_spec)),
                    stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
                time.sleep(SETTLE_S)
                timed([tc, "run", "--cache-dir", cache, "--", FAKE], work,
                      {"FAKE_ACTIONS": json.dumps(fake_spec("c", k, 4.0))})
                open(gate, "w").close()
                _, err = slow.communicate()
                if "merged from others" not in err or " 0 merged" in err:
                    raise RuntimeError("the merge path was not exercised: " + err)
                held_merge.append(parse_verbose(err)[2])
                shutil.rmtree(cache)
            row = {"cache_bytes": size, "groups_changed": k, "held_fast_ms": med(held_fast),
                   "held_merge_ms": med(held_merge),
                   "held_fast_range_ms": [min(held_fast), max(held_fast)],
                   "held_merge_range_ms": [min(held_merge), max(held_merge)]}
            results.setdefault("publish", []).append(row)
            rows.append([human(size), k,
                         "%.1f (%.1f-%.1f)" % ((row["held_fast_ms"],) +
                                               tuple(row["held_fast_range_ms"])),
                         "%.1f (%.1f-%.1f)" % ((row["held_merge_ms"],) +
                                               tuple(row["held_merge_range_ms"]))])
    table("3. Publish scaling: time under the lock (median (min-max) of %d)" % reps,
          ["cache size", "groups changed", "fast path ms", "merging another run's k groups ms"], rows)


# ---------------------------------------------------------------- workload 4

def merge_case(tc, work, pyver, row_sizes, each_bytes, name, keep=True, repeat=1):
    """Merges 8 generated caches of each_bytes (half of each one's modules shared with a
    neighbour: conflicts to resolve) with typecache and with the sqlite3-shell approach, `repeat`
    times each, taking turns (the same inputs, a new result each time); returns the figures
    (medians, and min/max). keep=False deletes the inputs and both results afterwards."""
    sources = []
    for i in range(8):
        cache = os.path.join(work, "%s-src%d" % (name, i))
        # Half of each source's modules are shared with its neighbour (conflicts to resolve).
        gen.synthetic_cache(os.path.join(cache, pyver, "cache.db"), each_bytes // 2, row_sizes,
                            prefix="own%d" % i, seed=i)
        gen.synthetic_cache(os.path.join(cache, pyver, "cache.db"), each_bytes // 2, row_sizes,
                            prefix="shared%d" % (i // 2), seed=100 + i // 2,
                            base_mtime=1700000000.0 + i)
        sources.append(cache)
    total = sum(os.path.getsize(os.path.join(s, pyver, "cache.db")) for s in sources)
    dest = os.path.join(work, "%s-dest" % name)
    # The straightforward sqlite3-shell approach: ATTACH each, INSERT OR REPLACE ... SELECT.
    shell_cache = os.path.join(work, "%s-shell" % name)
    shell_dest = os.path.join(shell_cache, pyver, "cache.db")
    script = "CREATE TABLE files (path TEXT UNIQUE NOT NULL, mtime REAL, data TEXT);\n"
    for i, s in enumerate(sources):
        script += ("ATTACH '%s' AS s; INSERT OR REPLACE INTO files SELECT * FROM s.files; "
                   "DETACH s;\n" % os.path.join(s, pyver, "cache.db"))
    script_path = os.path.join(work, "%s-shell.sql" % name)
    with open(script_path, "w") as f:
        f.write(script)

    def mixed_groups(cache_dir):
        # Group consistency: does every meta's data row come from the same input as the meta?
        return len(tclib.meta_data_problems(cache_dir))

    tc_runs, shell_runs = [], []
    for rep in range(repeat):
        shutil.rmtree(dest, ignore_errors=True)
        # Each scheme starts with nothing dirty in the page cache: the inputs were just written
        # (and each run's result is), and whoever ran first would pay for writing them back.
        subprocess.run(["sync"])
        code, out, err, tc_s, tc_kb = timed([tc, "merge", "--json", "--into", dest] + sources,
                                            work)
        if code != 0:
            raise RuntimeError(err)
        tc_runs.append((tc_s, tc_kb))
        if rep == 0:
            report = json.loads(out)
            groups = sum(i["groups_taken"] for i in report["inputs"])
            tc_mixed = mixed_groups(dest)
            result_bytes = os.path.getsize(os.path.join(dest, pyver, "cache.db"))
        shutil.rmtree(shell_cache, ignore_errors=True)
        os.makedirs(os.path.dirname(shell_dest))
        subprocess.run(["sync"])
        code, _, err, shell_s, shell_kb = timed(
            ["sh", "-c", 'exec sqlite3 "$0" < "$1"', shell_dest, script_path], work)
        if code != 0:
            raise RuntimeError(err)
        shell_runs.append((shell_s, shell_kb))
        if rep == 0:
            shell_mixed = mixed_groups(shell_cache)
    if not keep:
        shutil.rmtree(dest)
        shutil.rmtree(shell_cache)
        for s in sources:
            shutil.rmtree(s)
    tc_s = med([r[0] for r in tc_runs])
    shell_s = med([r[0] for r in shell_runs])
    return {"inputs_bytes": total, "result_bytes": result_bytes, "groups": groups,
            "repeat": repeat, "typecache_s": tc_s,
            "typecache_min_s": min(r[0] for r in tc_runs),
            "typecache_max_s": max(r[0] for r in tc_runs),
            "typecache_rss_kb": max(r[1] for r in tc_runs), "shell_s": shell_s,
            "shell_min_s": min(r[0] for r in shell_runs),
            "shell_max_s": max(r[0] for r in shell_runs),
            "shell_rss_kb": max(r[1] for r in shell_runs), "ratio": shell_s / tc_s,
            "typecache_mb_s": total / 1e6 / tc_s, "shell_mb_s": total / 1e6 / shell_s,
            "typecache_groups_s": groups / tc_s, "conflicts": report["conflicts"],
            "typecache_mixed": tc_mixed, "shell_mixed": shell_mixed}


def merge_row(label, m):
    def spread(scheme):
        if m["repeat"] == 1:
            return "%.2f" % m[scheme + "_s"]
        return "%.2f (%.2f-%.2f)" % (m[scheme + "_s"], m[scheme + "_min_s"], m[scheme + "_max_s"])
    return [label, human(m["inputs_bytes"]), spread("typecache"), "%.0f" % m["typecache_mb_s"],
            "%.0f" % m["typecache_groups_s"], spread("shell"), "%.2fx" % m["ratio"],
            "%d / %d" % (m["typecache_mixed"], m["shell_mixed"]),
            "%.0f / %.0f" % (m["typecache_rss_kb"] / 1024, m["shell_rss_kb"] / 1024)]


def workload_maintenance(tc, work, each_bytes, big_bytes, merge_repeat, results,
                         merge_scale_bytes=0, merge_scale_repeat=1):
    pyver = schemes.python_version()
    row_sizes = real_row_sizes(work, pyver)
    results["merge"] = merge_case(tc, work, pyver, row_sizes, each_bytes, "w4",
                                  repeat=merge_repeat)
    m = results["merge"]
    def label(m):
        return "merge 8 caches" + (", %d runs each" % m["repeat"] if m["repeat"] > 1 else "")
    rows = [merge_row(label(m), m)]
    if merge_scale_bytes:
        # --merge-scale-gb: the same merge at a larger scale (--merge-scale-repeat times); its
        # inputs and results are deleted afterwards.
        results["merge_scale"] = merge_case(tc, work, pyver, row_sizes, merge_scale_bytes // 8,
                                            "w4-scale", keep=False, repeat=merge_scale_repeat)
        rows.append(merge_row(label(results["merge_scale"]), results["merge_scale"]))
    # Prune and verify on a big cache.
    big = os.path.join(work, "w4-big")
    gen.synthetic_cache(os.path.join(big, pyver, "cache.db"), big_bytes, row_sizes, prefix="big")
    code, out, err, verify_s, verify_kb = timed([tc, "verify", big], work)
    code, out, err, prune_s, prune_kb = timed([tc, "prune", "--older-than", "45d", big], work)
    results["prune_verify"] = {"cache_bytes": big_bytes, "verify_s": verify_s, "verify_rss_kb": verify_kb,
                               "prune_s": prune_s, "prune_rss_kb": prune_kb}
    table("4. Maintenance",
          ["job", "input", "typecache s (median (min-max))", "MB/s", "groups/s",
           "sqlite3 shell s", "ratio (medians)",
           "mixed groups (tc / shell)", "peak RSS MiB (tc / shell)"],
          rows +
          [["verify", human(big_bytes), "%.2f" % verify_s, "%.0f" % (big_bytes / 1e6 / verify_s),
            "", "", "", "", "%.0f" % (verify_kb / 1024)],
           ["prune --older-than 45d", human(big_bytes), "%.2f" % prune_s,
            "%.0f" % (big_bytes / 1e6 / prune_s), "", "", "", "", "%.0f" % (prune_kb / 1024)]])


# ---------------------------------------------------------------- workload 5

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}


def parse_snapshot(stderr):
    """(bytes copied, ms, method) from `typecache run -v`'s snapshot line."""
    m = re.search(r"snapshot: [^,]*, ([\d.]+) (B|KiB|MiB|GiB|TiB), in ([\d.]+) ms(?: \((\S+)\))?",
                  stderr)
    if not m:
        return 0, 0.0, "none"
    return int(float(m.group(1)) * UNITS[m.group(2)]), float(m.group(3)), m.group(4) or ""


def du_bytes(path):
    """Bytes the directory really uses on disk (allocated blocks, as du counts them)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.lstat(os.path.join(root, n)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def workload_scale(tc, work, sizes, reps, results):
    """Scale: caches of several sizes. Per size: the first run on a cache typecache never
    published (adoption: time and lock hold), then runs that each change one module, and for
    the run after a changing run: snapshot time and bytes copied; beside it what Pants' scheme
    copies for the same run (the whole cache in, and back) and direct sharing (nothing, and no
    isolation). Peak RSS of run and of each maintenance command (stats, verify, prune by age and
    by size, compact, and merge of two caches of half the size), and disk use against the live
    cache (the target: never above twice the live cache plus live runs' private copies)."""
    pyver = schemes.python_version()
    row_sizes = real_row_sizes(work, pyver)
    rows, maint_rows = [], []
    for size in sizes:
        cache = os.path.join(work, "w5-%d" % size)
        db = os.path.join(cache, pyver, "cache.db")
        groups = gen.synthetic_cache(db, size, row_sizes, prefix="big")
        live = os.path.getsize(db)

        def run(tag, k=1):
            spec = {"version": pyver,
                    "actions": [{"op": "bulk", "prefix": tag, "count": k, "mtime": 2.0}]}
            code, _, err, secs, kb = timed([tc, "run", "-v", "--cache-dir", cache, "--", FAKE],
                                           work, {"FAKE_ACTIONS": json.dumps(spec)})
            if code != 0 or "published" not in err:
                raise RuntimeError("workload 5: run %s did not publish (exit %d): %s"
                                   % (tag, code, err))
            return err, secs, kb

        err, adopt_s, adopt_kb = run("adopt")
        adopt_held = parse_verbose(err)[2]
        snap_ms, snap_bytes, methods, run_kb = [], [], set(), adopt_kb
        for rep in range(reps):
            err, _, kb = run("change%d" % rep)  # the run after a changing run (rep 0: adoption)
            nbytes, ms, method = parse_snapshot(err)
            snap_ms.append(ms)
            snap_bytes.append(nbytes)
            methods.add(method)
            run_kb = max(run_kb, kb)
            time.sleep(SETTLE_S)
        disk = du_bytes(cache)
        gens = os.path.join(cache, ".typecache", "gens", pyver)
        newest = os.path.join(gens, max(n for n in os.listdir(gens) if n.startswith("g")))
        src = os.path.join(newest, "cache.db")
        live = os.path.getsize(src)  # the live generation
        # Pants: copy the whole database into the sandbox and back after every run.
        start = time.monotonic()
        scratch = os.path.join(work, "w5-pants.db")
        shutil.copyfile(src, scratch)
        shutil.copyfile(scratch, scratch + ".back")
        pants_ms = (time.monotonic() - start) * 1e3
        os.remove(scratch)
        os.remove(scratch + ".back")
        row = {"cache_bytes": live, "groups": groups, "adopt_s": adopt_s,
               "adopt_lock_held_ms": adopt_held, "snapshot_ms": med(snap_ms),
               "snapshot_ms_max": max(snap_ms), "snapshot_bytes": med(snap_bytes),
               "snapshot_methods": sorted(methods), "pants_copy_ms": pants_ms,
               "pants_bytes": 2 * live, "run_rss_kb": run_kb, "disk_bytes": disk}
        maint = {}

        def maintain(name, args, input_bytes):
            code, _, err, secs, kb = timed([tc] + args, work)
            if code != 0:
                raise RuntimeError("workload 5: %s failed (exit %d): %s" % (name, code, err))
            maint[name] = {"s": secs, "rss_kb": kb, "input_bytes": input_bytes}
            maint_rows.append([human(live), name, "%.2f" % secs,
                               "%.0f" % (input_bytes / 1e6 / secs), "%.0f" % (kb / 1024)])

        # prune --max-size last: it evicts the oldest half of the cache.
        for name, args in (("stats", ["stats", cache]), ("verify", ["verify", cache]),
                           ("prune --older-than 3650d", ["prune", "--older-than", "3650d", cache]),
                           ("compact", ["compact", cache]),
                           ("prune --max-size half", ["prune", "--max-size", str(live // 2),
                                                      cache])):
            maintain(name, args, live)
        row["maintenance"] = maint
        results.setdefault("scale", []).append(row)
        rows.append([human(live), groups, "%.1f" % adopt_s, "%.0f" % adopt_held,
                     "%.1f (max %.1f)" % (row["snapshot_ms"], row["snapshot_ms_max"]),
                     human(row["snapshot_bytes"]), "/".join(row["snapshot_methods"]),
                     "%.0f" % pants_ms, human(2 * live), "0 / 0",
                     "%.0f" % (run_kb / 1024), "%s (%.2fx)" % (human(disk), disk / live)])
        shutil.rmtree(cache)
        # merge at the same scale: 2 caches of half the size, half of their modules shared
        # (conflicts to resolve); made after the cache above is gone, to bound the disk used.
        sources = []
        for i in range(2):
            src = os.path.join(work, "w5-merge%d" % i)
            src_db = os.path.join(src, pyver, "cache.db")
            gen.synthetic_cache(src_db, size // 4, row_sizes, prefix="own%d" % i, seed=i)
            gen.synthetic_cache(src_db, size // 4, row_sizes, prefix="shared", seed=100,
                                base_mtime=1700000000.0 + i)
            sources.append(src)
        inputs = sum(os.path.getsize(os.path.join(s, pyver, "cache.db")) for s in sources)
        merged = os.path.join(work, "w5-merged")
        maintain("merge 2 caches", ["merge", "--into", merged] + sources, inputs)
        for path in sources + [merged]:
            shutil.rmtree(path)
    table("5. Scale: the run after a changing run, and adopting a cache (median of %d)" % reps,
          ["cache", "groups", "adopt s", "adopt lock held ms", "snapshot ms", "copied",
           "how", "pants copy ms", "pants copied", "direct ms / copied", "run RSS MiB",
           "disk used (x live)"], rows)
    table("5b. Maintenance at scale", ["cache", "command", "s", "MB/s", "peak RSS MiB"],
          maint_rows)


# ---------------------------------------------------------------- workload 6

def workload_own_work(tc, work, pairs, results):
    """typecache's own work on a warm run that changes nothing: `typecache run -- true` against
    plain `true`, in interleaved pairs, on a one-file cache (mypy 1.x) and on a 16-shard mypy 2.x
    cache (the 2.3.1 fixture). The difference of the medians is what typecache adds."""
    pyver = schemes.python_version()
    true = shutil.which("true")
    fixture = os.path.join(tclib.FIXTURES, "2.3.1", "cache", "3.11")
    layouts = [("one file (1.x)", [{"op": "bulk", "prefix": "m", "count": 200, "mtime": 2.0}])]
    if os.path.isdir(fixture):
        layouts.append(("16 shards (2.x)", [
            {"op": "copy", "src": os.path.join(fixture, "cache.%d.db" % i), "table": "files2",
             "db": "cache.%d.db" % i} for i in range(16)]))
    rows = []
    for label, actions in layouts:
        cache = os.path.join(work, "w6-%d" % len(rows))
        code, _, err, _, _ = timed([tc, "run", "--cache-dir", cache, "--", FAKE], work,
                                   {"FAKE_ACTIONS": json.dumps({"version": pyver,
                                                                "actions": actions})})
        if code != 0 or not os.path.isdir(os.path.join(cache, ".typecache", "gens")):
            raise RuntimeError("workload 6: the seeding run did not publish: " + err)
        for _ in range(3):  # warm up: spares, page cache
            timed([tc, "run", "--cache-dir", cache, "--", true], work)
        # A database's stamps are trusted only once they are 1 s old (a write in the same clock
        # tick could hide behind them: docs/protocol.md, "Unchanged databases stay armed"); the
        # seeding run wrote them just now, so without this pause every measured run opened each
        # database with SQLite (16 on the 2.x layout, ~1.4 ms), which a warm run seconds after
        # the last one does not.
        time.sleep(1.1)
        plain, wrapped = [], []
        for _ in range(pairs):
            plain.append(timed([true], work)[3])
            code, _, err, secs, _ = timed([tc, "run", "--cache-dir", cache, "--", true], work)
            if code != 0:
                raise RuntimeError("workload 6: typecache run -- true failed: " + err)
            wrapped.append(secs)
        own = (med(wrapped) - med(plain)) * 1e3
        results.setdefault("own_work", []).append(
            {"layout": label, "plain_ms": med(plain) * 1e3, "typecache_ms": med(wrapped) * 1e3,
             "own_ms": own, "typecache_min_ms": min(wrapped) * 1e3,
             "typecache_max_ms": max(wrapped) * 1e3, "pairs": pairs})
        rows.append([label, "%.2f" % (med(plain) * 1e3), "%.2f" % (med(wrapped) * 1e3),
                     "%.2f" % (min(wrapped) * 1e3), "%.2f" % (max(wrapped) * 1e3), "%.2f" % own])
        shutil.rmtree(cache)
    table("6. typecache's own work on a warm no-change run (%d interleaved pairs, medians)" % pairs,
          ["cache", "true ms", "typecache run -- true ms", "min", "max", "own work ms"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--typecache", required=True)
    parser.add_argument("--quick", action="store_true", help="small sizes; under 2 minutes")
    parser.add_argument("--workdir")
    parser.add_argument("--json-out")
    parser.add_argument("--only", help="comma-separated workloads to run (1,2,3,4,5,6)")
    parser.add_argument("--merge-scale-gb", type=float, default=0,
                        help="workload 4: also merge 8 caches totalling this many GB (e.g. 10), "
                             "needs about 2.5 times that on disk")
    parser.add_argument("--merge-scale-repeat", type=int, default=1,
                        help="with --merge-scale-gb: merges at that scale, each scheme (default 1)")
    args = parser.parse_args()
    args.typecache = os.path.abspath(args.typecache)  # runs start in other directories
    work = args.workdir or tempfile.mkdtemp(prefix="typecache-bench.")
    only = set((args.only or "1,2,3,4,5,6").split(","))
    q = args.quick
    global SETTLE_S
    SETTLE_S = 0.3 if q else 1.0
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "mypy": subprocess.run([schemes.MYPY, "--version"], capture_output=True,
                                                  text=True).stdout.strip(),
                           "quick": q}}
    print("typecache benchmarks%s: %d CPUs, %s, %s; work dir %s" % (
        " (quick)" if q else "", os.cpu_count(), platform.platform(), results["machine"]["mypy"], work))
    # --quick: every workload and every scheme, on small sizes (what tools/test runs).
    sizes = {
        "concurrent": ([4], 2, 3) if q else ([1, 2, 4, 8, 16], 3, 6),  # N, rounds, modules
        "overhead": (30 * 10**6, 3) if q else (10**9, 9),  # generated cache, repetitions
        "publish": (([5 * 10**6, 20 * 10**6], [1, 100, 2000], 1) if q else
                    ([10 * 10**6, 100 * 10**6, 10**9], [1, 100, 10000], 3)),
        # each cache of the merge, the prune/verify cache, merges (each scheme, taking turns)
        "maintenance": (3 * 10**6, 20 * 10**6, 1) if q else (100 * 10**6, 10**9, 5),
        "scale": ([20 * 10**6, 80 * 10**6], 2) if q else ([10**9, 4 * 10**9, 10 * 10**9], 3),
        "own_work": (10,) if q else (20,),
    }
    start = time.monotonic()
    took = {}
    for number, name, fn in (("1", "concurrent", workload_concurrent),
                             ("2", "overhead", workload_overhead),
                             ("3", "publish", workload_publish),
                             ("4", "maintenance", workload_maintenance),
                             ("5", "scale", workload_scale),
                             ("6", "own_work", workload_own_work)):
        if number in only:
            t = time.monotonic()
            extra = ({"merge_scale_bytes": int(args.merge_scale_gb * 10**9),
                      "merge_scale_repeat": args.merge_scale_repeat} if number == "4" else {})
            fn(args.typecache, work, *sizes[name], results, **extra)
            took[name] = time.monotonic() - t
    results["workload_s"] = took
    print("\nseconds per workload: " + ", ".join("%s %.0f" % kv for kv in took.items()))
    results["total_s"] = time.monotonic() - start
    print("\ntotal %.0f s" % results["total_s"])
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
