"""The Bazel example (examples/bazel) built and tested with Debian's Bazel and mypy: four
typecache_mypy_test targets run in parallel against one shared cache. Asserts the cache ends with
every target's modules (0 lost against running the four checks one after another with plain
mypy) and that a second `bazel test` is fully warm (mypy, made verbose through its user config,
rechecks no module in any target; the rows are unchanged).

Runs Bazel itself, so it is not a `bazel test` target: tools/test runs it.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

EXAMPLE = os.path.join(tc.ROOT, "examples", "bazel")
TARGETS = ["pkg%d_typecheck" % i for i in range(4)]


class BazelExampleTest(tc.E2ETestCase):

    def bazel_test(self, cache, *flags):
        r = subprocess.run(
            ["bazel", "test", "//...", "--define=typecache_dir=" + cache, "--jobs=4",
             "--nocache_test_results", "--sandbox_writable_path=" + cache] + list(flags),
            cwd=EXAMPLE, capture_output=True, text=True, timeout=1200)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        testlogs = subprocess.run(["bazel", "info", "bazel-testlogs"], cwd=EXAMPLE,
                                  capture_output=True, text=True, check=True).stdout.strip()
        logs = []
        for target in TARGETS:
            with open(os.path.join(testlogs, target, "test.log"), errors="replace") as f:
                logs.append(f.read())
        return logs

    def test_parallel_targets_share_one_cache(self):
        cache = os.path.join(self.work, "shared-cache")
        os.makedirs(cache)  # --sandbox_writable_path needs an existing path
        self.bazel_test(cache)
        # Reference: the same four checks, one after another, plain mypy.
        ref = os.path.join(self.work, "ref")
        for i in range(4):
            pkg = os.path.join(EXAMPLE, "pkg%d" % i)
            files = [os.path.join("pkg%d" % i, f) for f in sorted(os.listdir(pkg))
                     if f.endswith(".py")]
            tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", ref, "--ignore-missing-imports"]
                   + files, EXAMPLE)
        self.assert_nothing_lost(ref, cache)
        # The follow-up, with mypy verbose through its user config (the targets stay as they are).
        config = os.path.join(self.work, "config")
        os.makedirs(os.path.join(config, "mypy"))
        with open(os.path.join(config, "mypy", "config"), "w") as f:
            f.write("[mypy]\nverbosity = 1\n")
        before = tc.rows(cache)
        logs = self.bazel_test(cache, "--test_env=XDG_CONFIG_HOME=" + config)
        for log in logs:
            self.assert_warm(log)
        self.assert_warm(logs[0], before, tc.rows(cache))


if __name__ == "__main__":
    tc.main()
