"""Every exit code docs/exit-codes.md documents, through the binary."""

import fcntl
import os
import sys
import sqlite3
import stat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402


class ExitCodesTest(e.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        # One real cache for the maintenance commands, written by real mypy through typecache.
        cls.base = e.tempfile.mkdtemp(prefix="exit.", dir=os.environ.get("TEST_TMPDIR"))
        cls.src = os.path.join(cls.base, "src")
        e.write_package(cls.src, 0, modules=3, with_error=False)
        cls.cache = os.path.join(cls.base, "cache")
        r = e.run([e.TYPECACHE, "run", "--cache-dir", cls.cache, "--", e.MYPY, "-p", "pkg0"],
                  cls.src)
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        e.shutil.rmtree(cls.base, ignore_errors=True)

    def code(self, *args, env=None, cwd=None):
        return self.typecache(*args, env=env, cwd=cwd).returncode

    def assertError(self, r, code=2):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertTrue(lines and lines[-1].startswith("typecache: error: "), r.stderr)

    def test_run_returns_the_checkers_status(self):
        cache = os.path.join(self.work, "c")
        for command, expected in ((["true"], 0), (["false"], 1), (["sh", "-c", "exit 7"], 7),
                                  (["sh", "-c", "exit 2"], 2)):
            self.assertEqual(self.code("run", "--cache-dir", cache, "--", *command), expected,
                             command)
        # Also when the command runs unchanged: a bypass, TYPECACHE_DISABLE, broken settings.
        self.assertEqual(self.code("run", "--", e.MYPY, "--version"), 0)
        self.assertEqual(self.code("run", "--", e.MYPY, "--no-such-mypy-flag"), 2)
        self.assertEqual(self.code("run", "--", "sh", "-c", "exit 5",
                                   env={"TYPECACHE_DISABLE": "1"}), 5)
        self.assertEqual(self.code("run", "--cache-dir", cache, "--", "sh", "-c", "exit 6",
                                   env={"TYPECACHE_LOCK_TIMEOUT": "never"}), 6)
        # mypy's own 1 (type errors) and 2 (a blocking error).
        src = os.path.join(self.work, "src")
        e.write_package(src, 1, modules=2, with_error=True)
        self.assertEqual(self.code("run", "--cache-dir", cache, "--", e.MYPY, "-p", "pkg1",
                                   cwd=src), 1)
        with open(os.path.join(src, "pkg1", "broken.py"), "w") as f:
            f.write("def (:\n")
        self.assertEqual(self.code("run", "--cache-dir", cache, "--", e.MYPY, "-p", "pkg1",
                                   cwd=src), 2)

    def test_run_128_plus_signal(self):
        cache = os.path.join(self.work, "c")
        self.assertEqual(self.code("run", "--cache-dir", cache, "--", "sh", "-c", "kill -9 $$"),
                         128 + 9)
        self.assertEqual(self.code("run", "--cache-dir", cache, "--", "sh", "-c", "kill -TERM $$"),
                         128 + 15)

    def test_run_127_when_the_checker_cannot_start(self):
        r = self.typecache("run", "--cache-dir", os.path.join(self.work, "c"), "--",
                           "no-such-checker-xyz")
        self.assertError(r, 127)
        self.assertIn("no-such-checker-xyz", r.stderr)
        script = os.path.join(self.work, "not-executable")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(script, stat.S_IRUSR | stat.S_IWUSR)
        self.assertError(self.typecache("run", "--", script), 127)

    def test_run_2_for_a_usage_error_and_nothing_runs(self):
        marker = os.path.join(self.work, "ran")
        for args in (["run", "touch", marker], ["run", "--bogus", "--", "touch", marker],
                     ["run", "--publish", "sometimes", "--", "touch", marker], ["run"],
                     ["run", "--"], ["-v", "run", "touch", marker]):
            self.assertError(self.typecache(*args))
            self.assertFalse(os.path.exists(marker), args)

    def test_verify(self):
        self.assertEqual(self.code("verify", self.cache), 0)
        broken = os.path.join(self.work, "broken")
        e.shutil.copytree(self.cache, broken, symlinks=True)
        db = e.db_paths(broken)[0]
        os.chmod(db, 0o644)
        conn = sqlite3.connect(db)
        conn.execute("DELETE FROM files WHERE path = 'pkg0/mod1.data.json'")
        conn.commit()
        conn.close()
        self.assertEqual(self.code("verify", broken), 1)
        self.assertError(self.typecache("verify", os.path.join(self.work, "missing")))
        self.assertError(self.typecache("verify", "--bogus"))

    def test_maintenance_commands(self):
        missing = os.path.join(self.work, "missing")
        not_db = os.path.join(self.work, "not.db")
        with open(not_db, "w") as f:
            f.write("not a database\n")
        copy = os.path.join(self.work, "copy")
        e.shutil.copytree(self.cache, copy, symlinks=True)
        ok = [["stats", self.cache], ["stats", "--json", self.cache],
              ["prune", "--older-than", "3650d", copy], ["compact", copy],
              ["merge", "--into", os.path.join(self.work, "merged"), copy],
              ["clean", "--dry-run", copy], ["clean", copy], ["config", "--cache-dir", copy],
              ["dir"], ["--help"], ["run", "--help"], ["--version"], ["help", "prune"]]
        for args in ok:
            r = self.typecache(*args, cwd=self.work)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
        bad = [["stats", missing], ["stats", not_db], ["prune", "--orphans", missing],
               ["prune"], ["compact", not_db], ["merge", "--into", copy, missing],
               ["merge", "--prefer", "best", "--into", copy, self.cache], ["clean", not_db],
               ["config", "get", "nope"], ["config", "set", "max_size", "lots"],
               ["dir", "--bogus"], ["frobnicate"], []]
        for args in bad:
            self.assertError(self.typecache(*args, cwd=self.work))

    def test_a_configuration_error_is_2_for_maintenance_and_config(self):
        with open(os.path.join(self.work, "typecache.conf"), "w") as f:
            f.write("max_size = lots\n")
        for args in (["stats", self.work], ["config", "--cache-dir", self.work],
                     ["config", "--cache-dir", self.work, "get", "max_size"]):
            r = self.typecache(*args)
            self.assertError(r)
            self.assertIn(os.path.join(self.work, "typecache.conf") + ":1", r.stderr)

    def test_lock_timeout_is_2_for_maintenance_commands(self):
        copy = os.path.join(self.work, "copy")
        e.shutil.copytree(self.cache, copy, symlinks=True)
        lock = os.path.join(copy, ".typecache", "lock")
        with open(lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            for args in (["compact", "--lock-timeout", "1s", copy],
                         ["clean", "--lock-timeout", "1s", copy]):
                r = self.typecache(*args)
                self.assertError(r)
                self.assertIn("lock", r.stderr)
            # run is not failed by it: the status is the checker's.
            r = self.typecache("run", "--lock-timeout", "1s", "--cache-dir", copy, "--", e.MYPY,
                               "-p", "pkg0", cwd=self.src)
            self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    e.main()
