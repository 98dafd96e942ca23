"""typecache's main job on real code: 8 mypy processes at once share one cache.

Copies 8 real Python packages that Debian installs (pre-commit and its dependencies) into a work
directory, then checks them three ways and reports what the shared cache kept:
  1. one after another with plain mypy (the reference: what sequential runs keep),
  2. all at once with Pants' copy-into-sandbox-and-move-back scheme,
  3. all at once through `typecache run`.
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schemes  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--typecache", required=True, help="path to the typecache binary")
    parser.add_argument("--workdir", help="where to work (default: a temporary directory)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="typecache-demo.")
    src = os.path.join(work, "src")
    targets = schemes.copy_real_packages(src)
    pyver = schemes.python_version()
    mypy_common = ["--ignore-missing-imports"]
    print("typecache demo: %d real packages (%s), mypy %s, work dir %s" % (
        len(targets), ", ".join(t[1] for t in targets),
        subprocess.run([schemes.MYPY, "--version"], capture_output=True, text=True)
        .stdout.split()[1], work))

    results = {}
    for label, scheme, parallel in (("one after another (plain mypy)", "direct", False),
                                    ("at once, Pants' copy-and-move", "pants", True),
                                    ("at once, typecache run", "typecache", True)):
        shared = os.path.join(work, "cache-" + scheme + ("-par" if parallel else "-seq"))
        start = time.monotonic()
        jobs = [mypy_common + t for t in targets]
        if parallel:
            with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
                codes = list(pool.map(lambda a: schemes.run_scheme(
                    scheme, args.typecache, shared, a, src, pyver), jobs))
        else:
            codes = [schemes.run_scheme(scheme, args.typecache, shared, a, src, pyver)
                     for a in jobs]
        wall = time.monotonic() - start
        crashes = sum(1 for c in codes if c[0] not in (0, 1))
        results[label] = (schemes.cache_groups(shared), wall, crashes)

    reference = results["one after another (plain mypy)"][0]
    print()
    print("%-36s %8s %8s %8s %8s" % ("scheme", "groups", "lost", "crashes", "wall s"))
    for label, (found, wall, crashes) in results.items():
        lost = len(reference - found)
        print("%-36s %8d %8s %8d %8.1f" % (label, len(found), "%d (%d%%)" % (
            lost, round(100.0 * lost / max(1, len(reference)))), crashes, wall))
    print()
    tc_cache = os.path.join(work, "cache-typecache-par")
    print("What typecache's shared cache kept (typecache stats):")
    sys.stdout.flush()
    subprocess.run([args.typecache, "stats", "--cache-dir", tc_cache])
    lost = len(reference - results["at once, typecache run"][0])
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
