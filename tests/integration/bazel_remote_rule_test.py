"""typecache_mypy_test with a remote store (bazel/defs.bzl `remote`, `remote_read_only`): two
"remote executors" that share no local path share one cache through a real redis-server.

Each executor gets its own copy of the test action's runfiles (files copied, no symlink back into
this checkout or into the other executor) at its own absolute path, and its own TEST_TMPDIR, so
there is no shared cache directory (`--define=typecache_dir` unset: the rule falls back to a
private cache in TEST_TMPDIR). The first executor checks cold and pushes; the second, on its
first run, is warm (mypy -v rechecks nothing). A read-only target pulls and writes nothing to the
store.

The store URL is fixed at analysis time (the targets' `remote` attribute), so the server listens
on a fixed Unix socket; a lock file serialises concurrent runs of this test on one machine.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

STORE_DIR = "/tmp/typecache-bazel-remote-rule"  # as in tests/integration/BUILD.bazel
SOCKET = os.path.join(STORE_DIR, "redis.sock")
RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache")


warnings = tc.warning_lines


stats = tc.run_counters


class BazelRemoteRuleTest(tc.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        os.makedirs(STORE_DIR, exist_ok=True)
        cls.lock = open(os.path.join(STORE_DIR, "lock"), "w")
        fcntl.flock(cls.lock, fcntl.LOCK_EX)
        if os.path.exists(SOCKET):
            os.unlink(SOCKET)
        cls.redis = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", SOCKET, "--save", "",
             "--appendonly", "no", "--dir", STORE_DIR],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(SOCKET) and cls.cli("PING") == "PONG":
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start on " + SOCKET)

    @classmethod
    def tearDownClass(cls):
        cls.redis.terminate()
        cls.redis.wait(timeout=10)
        fcntl.flock(cls.lock, fcntl.LOCK_UN)
        cls.lock.close()

    @classmethod
    def cli(cls, *args):
        return subprocess.run(["redis-cli", "-s", SOCKET] + list(args), capture_output=True,
                              text=True).stdout.strip()

    def executor(self, name, target, edit=None):
        """Runs the test action `target` as a remote executor would: its runfiles copied to a
        fresh directory, a fresh TEST_TMPDIR, the action's command line."""
        root = os.path.join(self.work, name)
        runfiles = os.path.join(root, "execroot", "typecache")
        shutil.copytree(RUNFILES, runfiles, symlinks=False)  # copies, no link to this checkout
        if edit:
            shapes = os.path.join(runfiles, "tests", "integration", "remote_rule", "shapes")
            with open(os.path.join(shapes, edit), "a") as f:
                f.write("\n\ndef added() -> int:\n    return 1\n")
        tmp = os.path.join(root, "tmp")
        os.makedirs(tmp)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.path.join(root, "home"),
               "TEST_TMPDIR": tmp, "TYPECACHE_REMOTE": "", "TYPECACHE_CONFIG": "",
               "XDG_CONFIG_HOME": os.path.join(root, "xdg")}
        script = os.path.join("tests", "integration", target + ".sh")
        r = subprocess.run([os.path.join(runfiles, script)], cwd=runfiles, env=env,
                           capture_output=True, text=True, timeout=600)
        r.cache = os.path.join(tmp, "mypy_cache")
        return r

    def test_two_executors_share_one_cache_through_the_store(self):
        self.assertEqual(self.cli("FLUSHALL"), "OK")
        first = self.executor("executor-1", "remote_rule_check")
        self.assertEqual(first.returncode, 0, first.stderr[-3000:])
        self.assertEqual(warnings(first.stderr), [], first.stderr[-3000:])
        self.assertGreater(stats(first.cache).get("remote_groups_pushed", 0), 5,
                           stats(first.cache))
        keys = int(self.cli("DBSIZE"))
        self.assertGreater(keys, 5)

        second = self.executor("executor-2", "remote_rule_check")
        self.assertEqual(second.returncode, 0, second.stderr[-3000:])
        self.assertEqual(warnings(second.stderr), [], second.stderr[-3000:])
        self.assert_warm(second.stderr)
        self.assertGreater(stats(second.cache).get("remote_hits", 0), 5, stats(second.cache))
        self.assertEqual(first.stdout, second.stdout)

        # Read-only, on an executor whose main.py differs (mypy rechecks and writes it): it pulls
        # the rest, and the store is untouched.
        before = sorted(self.cli("--scan").split())
        third = self.executor("executor-3", "remote_rule_check_read_only", edit="main.py")
        self.assertEqual(third.returncode, 0, third.stderr[-3000:])
        self.assertEqual(warnings(third.stderr), [], third.stderr[-3000:])
        self.assertRegex(third.stderr, r"LOG:\s+Writing shapes.main ")
        self.assertGreater(stats(third.cache).get("remote_hits", 0), 5, stats(third.cache))
        self.assertEqual(stats(third.cache).get("remote_groups_pushed", 0), 0)
        self.assertEqual(sorted(self.cli("--scan").split()), before)


if __name__ == "__main__":
    tc.main()
