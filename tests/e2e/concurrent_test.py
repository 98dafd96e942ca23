"""End to end: 8 real mypy processes at once through typecache lose nothing.

Baseline: the same 8 checks run one after another with plain mypy on one cache. Then the 8 run
concurrently through typecache on another cache. The concurrent cache must hold every module
group of the baseline (0 lost), be intact and consistent, and a following full run through
typecache must be fully warm (mypy rechecks no module) and report what a cold run reports.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

N = int(os.environ.get("TYPECACHE_E2E_PROCS", "8"))


class ConcurrentRunsTest(tc.E2ETestCase):

    def test_eight_concurrent_mypy_runs_lose_nothing(self):
        src = os.path.join(self.work, "src")
        packages = [tc.write_package(src, i) for i in range(N)]

        # Baseline: one after another, plain mypy, one shared cache.
        seq_cache = os.path.join(self.work, "seq_cache")
        expected_out = {}
        for pkg in packages:
            r = tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", seq_cache, "-p", pkg], src)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # one deliberate error each
            expected_out[pkg] = r.stdout
        self.assertGreater(len(tc.groups(seq_cache)), 100)

        # Concurrent: all at once through typecache.
        shared = os.path.join(self.work, "shared_cache")
        procs = {pkg: tc.start([tc.TYPECACHE, "run", "--", tc.MYPY, "--cache-dir", shared,
                                "-p", pkg], src) for pkg in packages}
        for pkg, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            self.assertEqual(proc.returncode, 1, "%s: %s %s" % (pkg, out, err))
            self.assertEqual(out, expected_out[pkg])  # mypy's stdout passes through untouched
            self.assertNotIn("warning", err, err)

        self.assert_nothing_lost(seq_cache, shared)
        self.assertEqual(tc.meta_data_problems(shared), [])
        # Published databases are self-contained: no -wal, -shm or -journal beside them.
        live = os.path.join(shared, tc.PYVER)
        self.assertTrue(os.path.islink(live))
        self.assertEqual(sorted(os.listdir(live)), ["cache.db"])
        # No private copies are left behind.
        self.assertEqual(os.listdir(os.path.join(shared, ".typecache", "runs")), [])

        # The same full run as the baseline's, cold, and through typecache on the shared cache.
        every = sum([["-p", p] for p in packages], [])
        cold = tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", os.path.join(self.work, "cold")]
                      + every, src)
        before = tc.rows(shared)
        warm = tc.run([tc.TYPECACHE, "run", "--", tc.MYPY, "-v", "--cache-dir", shared] + every,
                      src)
        self.assertEqual(warm.returncode, cold.returncode, warm.stderr[-2000:])
        self.assertEqual(warm.stdout, cold.stdout)
        self.assert_warm(warm.stderr + warm.stdout, before, tc.rows(shared))


if __name__ == "__main__":
    tc.main()
