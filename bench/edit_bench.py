#!/usr/bin/env python3
"""Maintenance edit of a few groups on a big cache, two typecache binaries side by side.

For each size (GB) and each binary, a synthetic mypy cache of that size (bench/gen.py, the row
sizes of workload 4) gets a few old groups; the first `prune --older-than 3650d` adopts it and
evicts them. Then, three times: `merge --into` adds a few old groups from a small cache (a
publish, which retires the generation before it), and the timed `prune --older-than 3650d`
evicts them again. Printed: the first prune, the three timed prunes (wall seconds) and their
peak RSS. With a binary that copies every database for each edit (typecache before session 6)
and one that starts from the retired generation and vacuums only when the file must shrink,
this shows what an edit of a few groups costs at each size.

  python3 bench/edit_bench.py --sizes 1,4 OLD_TYPECACHE NEW_TYPECACHE [--workdir DIR]
"""

import argparse
import os
import shutil
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

ROWS = [(2000, 20000)]
OLD_MTIME = 946684800.0  # 2000-01-01: older than 3650 days


def timed(cmd):
    start = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr))
    return time.monotonic() - start, int(r.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--sizes", default="1,4", help="cache sizes in GB, comma-separated")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    pyver = schemes.python_version()
    work = tempfile.mkdtemp(prefix="tc-edit-bench-", dir=args.workdir)
    try:
        for gb in [float(x) for x in args.sizes.split(",")]:
            for k, binary in enumerate(args.binaries):
                cache = os.path.join(work, "cache")
                shutil.rmtree(cache, ignore_errors=True)
                db = os.path.join(cache, pyver, "cache.db")
                gen.synthetic_cache(db, int(gb * 1e9), ROWS, prefix="big")
                gen.synthetic_cache(db, 60000, ROWS, prefix="old0", base_mtime=OLD_MTIME, seed=7)
                subprocess.run(["sync"])
                first, _ = timed([binary, "prune", "--older-than", "3650d", cache])
                runs = []
                for r in range(1, 4):
                    small = os.path.join(work, "small")
                    shutil.rmtree(small, ignore_errors=True)
                    gen.synthetic_cache(os.path.join(small, pyver, "cache.db"), 60000, ROWS,
                                        prefix="old%d" % r, base_mtime=OLD_MTIME, seed=10 + r)
                    timed([binary, "merge", "--into", cache, small])
                    subprocess.run(["sync"])
                    runs.append(timed([binary, "prune", "--older-than", "3650d", cache]))
                print("%g GB, binary %d (%s): first prune %.2f s; next prunes %s s; peak RSS %d MiB"
                      % (gb, k + 1, binary, first, " ".join("%.2f" % s for s, _ in runs),
                         max(kb for _, kb in runs) // 1024), flush=True)
                shutil.rmtree(cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
