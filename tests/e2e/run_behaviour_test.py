"""End to end behaviour of `typecache run`: failures leave the shared cache unchanged, cache
trouble never fails the build, signals,
sweeping, foreign caches, and the mypy 1.20 / 2.x layouts (WAL, 16 shards, BLOB rows) through a
fake checker that writes those documented schemas. (Kills at every step of a run, and the sweep
of what they leave: tests/reliability/crash_harness.py.)
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

DB = "3.11/cache.db"  # the fake checker's default database, as tclib.rows() names it


def writes(name, tag, mtime):
    return tc.write_action(tc.module_rows(name, tag, mtime))


class RunBehaviourTest(tc.FakeCheckerTestCase):

    def start_slow(self, seconds, *actions, **spec):
        """A run in the background whose checker sleeps `seconds`, then does `actions`; returns
        once the checker has started (the run's snapshot is taken)."""
        started = os.path.join(self.work, "started")
        proc = tc.start([tc.TYPECACHE, "run", "--cache-dir", self.cache, "--", self.fake],
                        self.work, env=tc.fake_env(tc.fake_spec(
                            {"op": "touch", "path": started}, {"op": "sleep", "seconds": seconds},
                            *actions, **spec)))
        self.assertTrue(tc.wait_for(started))
        return proc

    # --- real mypy ------------------------------------------------------------------------

    def test_mypy_blocking_error_leaves_shared_cache_unchanged(self):
        src = os.path.join(self.work, "src")
        pkg = tc.write_package(src, 0)
        r = tc.run([tc.TYPECACHE, "run", "--cache-dir", self.cache, "--", tc.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1, r.stderr)
        before = tc.rows(self.cache)
        link = os.readlink(os.path.join(self.cache, tc.PYVER))
        with open(os.path.join(src, pkg, "broken.py"), "w") as f:
            f.write("def (:\n")  # a syntax error: mypy exits 2
        r = tc.run([tc.TYPECACHE, "run", "--cache-dir", self.cache, "--", tc.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("typecache: mypy exited with status 2", r.stderr)
        self.assertEqual(os.readlink(os.path.join(self.cache, tc.PYVER)), link)
        self.assertEqual(tc.rows(self.cache), before)

    def test_plain_mypy_cache_is_adopted_and_stays_warm(self):
        # A cache written by mypy directly (a real directory, not typecache's link).
        src = os.path.join(self.work, "src")
        pkgs = [tc.write_package(src, i) for i in range(2)]
        tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", self.cache, "-p", pkgs[0]], src)
        self.assertTrue(os.path.isdir(os.path.join(self.cache, tc.PYVER)))
        before = tc.groups(self.cache)
        r = tc.run([tc.TYPECACHE, "run", "--", tc.MYPY, "--cache-dir", self.cache, "-p", pkgs[1]],
                   src)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(os.path.islink(os.path.join(self.cache, tc.PYVER)))
        self.assertTrue(before <= tc.groups(self.cache))
        rows = tc.rows(self.cache)
        r = tc.run([tc.TYPECACHE, "run", "--", tc.MYPY, "-v", "--cache-dir", self.cache,
                    "-p", pkgs[0], "-p", pkgs[1]], src)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assert_warm(r.stderr + r.stdout, rows, tc.rows(self.cache))

    def test_cache_dir_from_mypy_env(self):
        src = os.path.join(self.work, "src")
        pkg = tc.write_package(src, 1)
        r = tc.run([tc.TYPECACHE, "run", "--", tc.MYPY, "-p", pkg], src,
                   env={"MYPY_CACHE_DIR": self.cache})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(os.path.islink(os.path.join(self.cache, tc.PYVER)))
        # The default is .mypy_cache in the working directory.
        r = tc.run([tc.TYPECACHE, "run", "--", tc.MYPY, "-p", pkg], src)
        self.assertTrue(os.path.islink(os.path.join(src, ".mypy_cache", tc.PYVER)))

    def test_cache_trouble_degrades_to_a_cold_run(self):
        src = os.path.join(self.work, "src")
        pkg = tc.write_package(src, 2)
        not_a_dir = os.path.join(self.work, "file")
        open(not_a_dir, "w").close()
        r = tc.run([tc.TYPECACHE, "run", "--cache-dir", not_a_dir, "--", tc.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: Incompatible types", r.stdout)
        self.assertIn("typecache: warning: cannot use the shared cache", r.stderr)
        self.assertEqual(os.path.getsize(not_a_dir), 0)

    # --- fake checker: newer layouts, failures, crashes -----------------------------------

    def test_internal_error_is_not_published(self):
        self.fake_run(tc.fake_spec(writes("a", "1", 10)), check_exit=0)
        before = tc.rows(self.cache)
        r = self.fake_run(tc.fake_spec(writes("b", "2", 20),
                                       {"op": "print", "stream": "stderr",
                                        "text": "x.py:1: error: INTERNAL ERROR -- Please report\n"},
                                       exit_code=1), check_exit=1)
        self.assertIn("internal error", r.stderr)
        self.assertEqual(tc.rows(self.cache), before)
        # --publish always overrides.
        self.fake_run(tc.fake_spec(writes("b", "2", 20), exit_code=2), "--publish", "always",
                      check_exit=2)
        self.assertIn((DB, "b.meta.json"), tc.rows(self.cache))

    def test_later_publisher_wins_and_deletions_propagate(self):
        self.fake_run(tc.fake_spec(tc.write_action(tc.modules_rows(["m1", "m2"], "base", 1))),
                      check_exit=0)
        slow = self.start_slow(1.5, writes("m1", "slow", 5))
        self.fake_run(tc.fake_spec(writes("m1", "fast", 9),
                                   {"op": "delete", "keys": ["m2.meta.json", "m2.data.json"]}),
                      check_exit=0)
        slow.communicate(timeout=60)
        self.assertEqual(slow.returncode, 0)
        self.assertEqual(tc.group_tags(self.cache), {"m1": "slow"})  # later publisher wins, whole
        # ... and the deletion survived.

    def test_wal_sharded_blob_fixture_end_to_end(self):
        # mypy 2.x layout: 16 shards of files2 (BLOB) in WAL mode, a -wal holding committed rows.
        ver = os.path.join(self.cache, "3.12")
        os.makedirs(ver)
        keep_open = []
        for shard in range(16):
            c = sqlite3.connect(os.path.join(ver, "cache.%d.db" % shard), isolation_level=None)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA wal_autocheckpoint=0")
            c.execute("CREATE TABLE files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB)")
            for suffix in ("meta.ff", "data.ff", "meta_ex.ff"):
                c.execute("INSERT INTO files2 VALUES(?, ?, ?)",
                          ("s%d/m.%s" % (shard, suffix), 100.5, bytes([shard, 0, 255])))
            keep_open.append(c)  # the writer is still running: rows live in the -wal
        self.assertGreater(os.path.getsize(os.path.join(ver, "cache.0.db-wal")), 0)
        new_rows = [["s3/new.meta.ff", 7.0, "hex:0102"], ["s3/new.data.ff", 7.0, "hex:03"],
                    ["s3/new.meta_ex.ff", 7.0, "hex:04"]]
        self.fake_run(tc.fake_spec(tc.write_action(new_rows, db="cache.3.db", table="files2"),
                                   version="3.12", journal="wal"), check_exit=0)
        for c in keep_open:
            c.close()
        rows = tc.rows(self.cache)
        self.assertEqual(len(rows), 16 * 3 + 3)
        self.assertEqual(rows[("3.12/cache.5.db", "s5/m.meta_ex.ff")],
                         (100.5, "blob", bytes([5, 0, 255])))
        self.assertEqual(rows[("3.12/cache.3.db", "s3/new.meta.ff")], (7.0, "blob", b"\x01\x02"))
        groups = tc.read_groups(self.cache)
        self.assertEqual(len(groups), 16)  # one (database, files2, ff) per shard
        self.assertEqual(sorted(groups[tc.GroupId("3.12/cache.3.db", "files2", "ff")]),
                         ["s3/m", "s3/new"])
        live = os.path.join(self.cache, "3.12")
        self.assertTrue(os.path.islink(live))
        self.assertEqual(sorted(os.listdir(live)), sorted("cache.%d.db" % i for i in range(16)))
        for i in range(16):
            conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(live, "cache.%d.db" % i),
                                   uri=True)
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            conn.close()
        self.assertEqual(set(tc.integrity(self.cache)), {"ok"})

    def test_live_run_copy_is_never_swept(self):
        slow = self.start_slow(2, writes("s", "s", 1))
        tc.backdate_runs(self.cache)  # even when old
        self.fake_run(tc.fake_spec(writes("t", "t", 1)), check_exit=0)
        slow.communicate(timeout=60)
        self.assertEqual(slow.returncode, 0)
        self.assertEqual(tc.group_tags(self.cache), {"s": "s", "t": "t"})

    def test_lock_timeout_warns_and_keeps_exit_status(self):
        self.fake_run(tc.fake_spec(writes("a", "1", 1)), check_exit=0)
        lock = os.path.join(self.cache, ".typecache", "lock")
        holder = subprocess.Popen(["flock", lock, "sleep", "5"])
        time.sleep(0.3)
        try:
            r = self.fake_run(tc.fake_spec(writes("b", "2", 2), exit_code=1),
                              "--lock-timeout", "300ms", check_exit=1)
        finally:
            holder.kill()
            holder.wait()
        self.assertIn("typecache: warning: cannot publish to the shared cache: timed out", r.stderr)
        self.assertNotIn((DB, "b.meta.json"), tc.rows(self.cache))

    def test_sigterm_is_forwarded(self):
        marker = os.path.join(self.work, "got-term")
        proc = self.start_slow(30, on_sigterm=marker)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 143)  # the checker's own status
        self.assertTrue(os.path.exists(marker))

    def test_output_passes_through_and_messages_are_prefixed(self):
        text = "line one\n\x1b[31mcolour\x1b[0m and bytes \xe9\n"
        r = self.fake_run(tc.fake_spec({"op": "print", "text": text},
                                       {"op": "print", "stream": "stderr", "text": "err\n"},
                                       exit_code=1), "-v", check_exit=1)
        self.assertEqual(r.stdout, text)
        for line in r.stderr.splitlines():
            self.assertTrue(line == "err" or line.startswith("typecache: "), line)

    def test_help_is_complete(self):
        r = self.typecache("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("run", "config", "Exit codes"):
            self.assertIn(word, r.stdout)
        r = self.typecache("run", "--help")
        for flag in ("--cache-dir", "--lock-timeout", "--publish", "--verbose", "TYPECACHE_DIR"):
            self.assertIn(flag, r.stdout)
        r = self.typecache("run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("typecache: error:", r.stderr)

    def test_missing_checker_is_reported(self):
        r = self.typecache("run", "--cache-dir", self.cache, "--", "no-such-checker-xyz")
        self.assertEqual(r.returncode, 127)
        self.assertIn("no-such-checker-xyz", r.stderr)


if __name__ == "__main__":
    tc.main()
