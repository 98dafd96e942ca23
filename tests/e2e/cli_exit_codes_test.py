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

    def assertUsageError(self, r, args):
        """Exit 2 and exactly one line on stderr: `typecache: error: ...`; nothing on stdout."""
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        self.assertEqual(r.stdout, "", args)
        self.assertEqual(len(r.stderr.splitlines()), 1, (args, r.stderr))
        self.assertTrue(r.stderr.startswith("typecache: error: "), (args, r.stderr))

    def test_every_usage_error_of_every_command_is_2_and_one_line(self):
        copy = os.path.join(self.work, "copy")
        e.shutil.copytree(self.cache, copy, symlinks=True)
        before = {p: open(p, "rb").read() for p in e.db_paths(copy)}
        marker = os.path.join(self.work, "ran")
        run_tail = ["--", "touch", marker]
        url = "redis://127.0.0.1:1"
        # (arguments, what the one line must say)
        cases = [
            # unknown option
            (["--bogus"], "unknown option --bogus"),
            (["-x", "stats", copy], "unknown option -x"),
            (["run", "--bogus"] + run_tail, "run: unknown option --bogus"),
            (["config", "--bogus"], "config: unknown option --bogus"),
            (["config", "get", "--bogus"], "config: unknown option --bogus"),
            (["config", "set", "--bogus", "max_size", "1G"], "config"),
            (["config", "unset", "--bogus", "max_size"], "config"),
            (["dir", "--bogus"], "dir: unknown option --bogus"),
            (["clean", "--bogus", copy], "clean: unknown option --bogus"),
            (["stats", "--bogus", copy], "stats: unknown option --bogus"),
            (["verify", "--bogus", copy], "verify: unknown option --bogus"),
            (["prune", "--bogus", copy], "prune: unknown option --bogus"),
            (["merge", "--bogus"], "merge: unknown option --bogus"),
            (["merge", "--bogus", "--into", copy, self.cache], "merge: unknown option --bogus"),
            (["compact", "--bogus", copy], "compact: unknown option --bogus"),
            (["remote", "--bogus"], "remote: unknown option --bogus"),
            (["remote", "pull", "--bogus", url], "remote: unknown option --bogus"),
            (["remote", "gc", "--bogus", url], "remote: unknown option --bogus"),
            # missing value
            (["run", "--cache-dir"], "run: --cache-dir needs a value"),
            (["run", "--publish"], "run: --publish needs a value"),
            (["run", "--lock-timeout"], "run: --lock-timeout needs a value"),
            (["config", "--max-size"], "config: --max-size needs a value"),
            (["dir", "--cache-dir"], "dir: --cache-dir needs a value"),
            (["clean", "--lock-timeout"], "clean: --lock-timeout needs a value"),
            (["stats", "--cache-dir"], "stats: --cache-dir needs a value"),
            (["verify", "--lock-timeout"], "verify: --lock-timeout needs a value"),
            (["prune", "--older-than"], "prune: --older-than needs a value"),
            (["prune", "--keep-version"], "prune: --keep-version needs a value"),
            (["merge", "--into"], "merge: --into needs a value"),
            (["merge", "--into", copy], "merge: SRC is required"),
            (["compact", "--lock-timeout"], "compact: --lock-timeout needs a value"),
            (["remote", "gc", url, "--min-age"], "remote: --min-age needs a value"),
            (["config", "set", "max_size"], "config: VALUE is required"),
            (["config", "get"], "config: KEY is required"),
            # bad value
            (["run", "--publish", "maybe"] + run_tail, "run: --publish"),
            (["run", "--lock-timeout", "soon"] + run_tail, "'soon' is not a duration"),
            (["run", "--max-size", "huge"] + run_tail, "'huge' is not a size"),
            (["run", "--remote", "bogus://x"] + run_tail, "run: --remote: bad store URL"),
            (["run", "--remote-budget", "x"] + run_tail, "run: --remote-budget"),
            (["config", "--publish", "maybe"], "config: --publish"),
            (["config", "set", "nope", "1"], "unknown setting 'nope'"),
            (["config", "set", "lock_timeout", "soon"], "lock_timeout"),
            (["clean", "--lock-timeout", "x", copy], "clean: --lock-timeout"),
            (["verify", "--lock-timeout", "x", copy], "verify: --lock-timeout"),
            (["prune", "--older-than", "soon", copy], "prune: --older-than"),
            (["prune", "--max-size", "huge", copy], "prune: --max-size"),
            (["merge", "--prefer", "best", "--into", copy, self.cache], "merge: --prefer"),
            (["merge", "--lock-timeout", "x", "--into", copy, self.cache], "merge: --lock-timeout"),
            (["compact", "--lock-timeout", "x", copy], "compact: --lock-timeout"),
            (["remote", "pull", "bogus://x"], "bad store URL"),
            (["remote", "pull", "--python", "3", url], "remote: --python"),
            (["remote", "pull", "--remote-budget", "x", url], "remote: --remote-budget"),
            (["remote", "gc", "--min-age", "soon", url], "remote: --min-age"),
            (["remote", "frob"], "remote: unexpected argument frob"),
            # no or an unknown command, a misplaced option
            ([], "no command given"), (["help", "frob"], "unknown command 'frob'"),
            (["-v", "stats", copy], "-v does not apply to stats"),
        ]
        for args, says in cases:
            with self.subTest(args=args):
                r = self.typecache(*args, cwd=self.work)
                self.assertUsageError(r, args)
                self.assertIn(says, r.stderr)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual({p: open(p, "rb").read() for p in e.db_paths(copy)}, before)

    def test_help_stands_alone(self):
        # An installed binary has no docs/ beside it: no help text points there.
        for args in (["--help"], ["run", "--help"], ["config", "--help"], ["dir", "--help"],
                     ["clean", "--help"], ["stats", "--help"], ["verify", "--help"],
                     ["prune", "--help"], ["merge", "--help"], ["compact", "--help"],
                     ["remote", "--help"], ["remote", "pull", "--help"], ["help", "merge"]):
            with self.subTest(args=args):
                r = self.typecache(*args, cwd=self.work)
                self.assertEqual((r.returncode, r.stderr), (0, ""), args)
                self.assertIn("Usage", r.stdout)
                for pointer in ("docs/", ".md", "README"):
                    self.assertNotIn(pointer, r.stdout, args)

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
