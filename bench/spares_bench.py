"""Snapshot cost of a run that follows a run that changed something, with and without a retired
generation as its spare, on a synthetic cache (bench/gen.py), and the publish lock's hold time of
the first run on a cache typecache never published (adoption).

  python3 bench/spares_bench.py --typecache bazel-bin/src/typecache --size-mb 2150 --runs 6 \
      [--work DIR] [--age SECONDS]

Each measured run is `typecache run -v -- fake_checker` writing 3 module groups (a changing run).
"copy" rows: the same run with .typecache/spares removed first, i.e. the path every run after a
changing run took before retired generations became spares (a whole copy). "spare" rows: the
run as it is now (steady state: each publish retires a generation that the next run claims).
Prints, per run: snapshot method, ms, bytes copied (the run's snapshot_bytes counter), and the
lock hold time of each publish.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
import gen  # noqa: E402

FAKE = os.path.join(HERE, "..", "tests", "pylib", "fake_checker.py")
SNAP = re.compile(r"snapshot: .*? in (\d+) ms(?: \((\S+)\))?")
HELD = re.compile(r"held ([\d.]+) ms")


def counters(tc, cache):
    r = subprocess.run([tc, "stats", "--json", cache], capture_output=True, text=True)
    return json.loads(r.stdout)["counters"]


def run(tc, cache, tag):
    rows = []
    for m in range(3):
        name = "bench/%s/m%d" % (tag, m)
        rows.append([name + ".meta.json", 10.0, json.dumps({"data_mtime": 10, "tag": tag})])
        rows.append([name + ".data.json", 10.0, json.dumps({"tag": tag})])
    spec = {"actions": [{"op": "write", "db": "cache.db", "table": "files", "rows": rows}]}
    env = dict(os.environ, FAKE_ACTIONS=json.dumps(spec))
    before = counters(tc, cache)
    t = time.monotonic()
    r = subprocess.run([tc, "run", "-v", "--cache-dir", cache, "--", sys.executable, FAKE],
                       capture_output=True, text=True, env=env)
    wall = time.monotonic() - t
    if r.returncode != 0:
        raise SystemExit("run failed: %s" % r.stderr)
    after = counters(tc, cache)
    m = SNAP.search(r.stderr)
    h = HELD.search(r.stderr)
    return {"snapshot_ms": int(m.group(1)) if m else None, "method": m.group(2) if m else None,
            "bytes": after.get("snapshot_bytes", 0) - before.get("snapshot_bytes", 0),
            "held_ms": float(h.group(1)) if h else None, "wall_s": round(wall, 2),
            "from_retired": after.get("spares_from_retired", 0) - before.get("spares_from_retired", 0)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--typecache", required=True)
    p.add_argument("--size-mb", type=int, default=2150)
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--work")
    p.add_argument("--age", type=float, default=2.0,
                   help="seconds to wait after generating the cache (an existing cache is not "
                        "being written: past the adoption's 1 s racy margin)")
    a = p.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="spares-bench.")
    cache = os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    t = time.monotonic()
    groups = gen.synthetic_cache(os.path.join(cache, "3.11", "cache.db"), a.size_mb << 20,
                                 [(2000, 20000)])
    size = os.path.getsize(os.path.join(cache, "3.11", "cache.db"))
    print("cache: %d groups, %.2f GiB (generated in %.0f s) at %s" % (
        groups, size / 2**30, time.monotonic() - t, cache))
    time.sleep(a.age)
    first = run(a.typecache, cache, "adopt")
    print("first run (adoption of a cache typecache never published): %s" % first)
    # Fill the kept window so that every publish retires one generation.
    for i in range(3):
        run(a.typecache, cache, "fill%d" % i)
    for i in range(a.runs):
        shutil.rmtree(os.path.join(cache, ".typecache", "spares"), ignore_errors=True)
        print("copy  (no spare, as before): %s" % run(a.typecache, cache, "copy%d" % i))
    # Refill: the removed spares are gone, the next publishes retire again.
    run(a.typecache, cache, "refill")
    for i in range(a.runs):
        print("spare (retired generation):  %s" % run(a.typecache, cache, "spare%d" % i))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
