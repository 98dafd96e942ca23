"""The Bazel example (examples/bazel) built and tested with Debian's Bazel and mypy: four
typecache_mypy_test targets run in parallel against one shared cache. Asserts the cache ends with
every target's modules (0 lost against running the four checks one after another with plain
mypy) and that a second `bazel test` is fully warm (no module rewritten).

Runs Bazel itself, so it is not a `bazel test` target: tools/test runs it.
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_lib as e  # noqa: E402

EXAMPLE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "bazel"))


class BazelExampleTest(unittest.TestCase):

    def bazel_test(self, cache):
        return subprocess.run(
            ["bazel", "test", "//...", "--define=typecache_dir=" + cache, "--jobs=4",
             "--nocache_test_results", "--sandbox_writable_path=" + cache],
            cwd=EXAMPLE, capture_output=True, text=True, timeout=1200)

    def test_parallel_targets_share_one_cache(self):
        work = tempfile.mkdtemp(prefix="bazel-example.")
        cache = os.path.join(work, "shared-cache")
        os.makedirs(cache)  # --sandbox_writable_path needs an existing path
        r = self.bazel_test(cache)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        # Reference: the same four checks, one after another, plain mypy.
        ref = os.path.join(work, "ref")
        for i in range(4):
            files = [os.path.join("pkg%d" % i, f) for f in sorted(os.listdir(os.path.join(EXAMPLE, "pkg%d" % i)))
                     if f.endswith(".py")]
            e.run([e.MYPY, "--sqlite-cache", "--cache-dir", ref, "--ignore-missing-imports"] + files,
                  EXAMPLE)
        reference, got = e.groups(ref), e.groups(cache)
        print("reference groups %d, shared cache groups %d, lost %d" % (
            len(reference), len(got), len(reference - got)))
        self.assertEqual(reference - got, set())
        before = e.rows(cache)
        r = self.bazel_test(cache)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        after = e.rows(cache)
        rewritten = [k for k in after if not k[1].startswith("@") and before.get(k) != after[k]]
        self.assertEqual(rewritten, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
