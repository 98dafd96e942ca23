"""End to end behaviour of `typecache run`: failures leave the shared cache unchanged, crashes at
every step leave the old or the new generation, cache trouble never fails the build, signals,
sweeping, foreign caches, and the mypy 1.20 / 2.x layouts (WAL, 16 shards, BLOB rows) through a
fake checker that writes those documented schemas.
"""

import json
import os
import signal
import sqlite3
import subprocess
import time

import e2e_lib as e


class RunBehaviourTest(e.FakeCheckerTestCase):

    def fake_run(self, spec, *typecache_args, check_exit=None):
        r = self.typecache("run", "--cache-dir", self.cache, *typecache_args, "--", self.fake,
                           env={"FAKE_ACTIONS": json.dumps(spec)})
        if check_exit is not None:
            self.assertEqual(r.returncode, check_exit, r.stderr)
        return r

    @staticmethod
    def module(name, tag, mtime):
        return [[name + ".meta.json", float(mtime), json.dumps({"data_mtime": int(mtime),
                                                               "tag": tag})],
                [name + ".data.json", float(mtime), json.dumps({"tree": tag})]]

    def write(self, rows, db="cache.db", table="files"):
        return {"op": "write", "db": db, "table": table, "rows": rows}

    # --- real mypy ------------------------------------------------------------------------

    def test_mypy_blocking_error_leaves_shared_cache_unchanged(self):
        src = os.path.join(self.work, "src")
        pkg = e.write_package(src, 0)
        r = e.run([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", e.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1, r.stderr)
        before = e.rows(self.cache)
        link = os.readlink(os.path.join(self.cache, e.PYVER))
        with open(os.path.join(src, pkg, "broken.py"), "w") as f:
            f.write("def (:\n")  # a syntax error: mypy exits 2
        r = e.run([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", e.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("typecache: mypy exited with status 2", r.stderr)
        self.assertEqual(os.readlink(os.path.join(self.cache, e.PYVER)), link)
        self.assertEqual(e.rows(self.cache), before)

    def test_plain_mypy_cache_is_adopted_and_stays_warm(self):
        # A cache written by mypy directly (a real directory, not typecache's link).
        src = os.path.join(self.work, "src")
        pkgs = [e.write_package(src, i) for i in range(2)]
        e.run([e.MYPY, "--sqlite-cache", "--cache-dir", self.cache, "-p", pkgs[0]], src)
        self.assertTrue(os.path.isdir(os.path.join(self.cache, e.PYVER)))
        before = e.groups(self.cache)
        r = e.run([e.TYPECACHE, "run", "--", e.MYPY, "--cache-dir", self.cache, "-p", pkgs[1]],
                  src)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(os.path.islink(os.path.join(self.cache, e.PYVER)))
        self.assertTrue(before <= e.groups(self.cache))
        rows = e.rows(self.cache)
        r = e.run([e.TYPECACHE, "run", "--", e.MYPY, "--cache-dir", self.cache, "-p", pkgs[0],
                   "-p", pkgs[1]], src)
        changed = [k for k in e.rows(self.cache) if not k[1].startswith("@")
                   and rows.get(k) != e.rows(self.cache)[k]]
        self.assertEqual(changed, [])

    def test_cache_dir_from_mypy_env(self):
        src = os.path.join(self.work, "src")
        pkg = e.write_package(src, 1)
        r = e.run([e.TYPECACHE, "run", "--", e.MYPY, "-p", pkg], src,
                  env={"MYPY_CACHE_DIR": self.cache})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(os.path.islink(os.path.join(self.cache, e.PYVER)))
        # The default is .mypy_cache in the working directory.
        r = e.run([e.TYPECACHE, "run", "--", e.MYPY, "-p", pkg], src)
        self.assertTrue(os.path.islink(os.path.join(src, ".mypy_cache", e.PYVER)))

    def test_cache_trouble_degrades_to_a_cold_run(self):
        src = os.path.join(self.work, "src")
        pkg = e.write_package(src, 2)
        not_a_dir = os.path.join(self.work, "file")
        open(not_a_dir, "w").close()
        r = e.run([e.TYPECACHE, "run", "--cache-dir", not_a_dir, "--", e.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: Incompatible types", r.stdout)
        self.assertIn("typecache: warning: cannot use the shared cache", r.stderr)
        self.assertEqual(os.path.getsize(not_a_dir), 0)

    # --- fake checker: newer layouts, failures, crashes -----------------------------------

    def test_internal_error_is_not_published(self):
        self.fake_run({"actions": [self.write(self.module("a", "1", 10))]}, check_exit=0)
        before = e.rows(self.cache)
        r = self.fake_run({"actions": [self.write(self.module("b", "2", 20)),
                                       {"op": "print", "stream": "stderr",
                                        "text": "x.py:1: error: INTERNAL ERROR -- Please report\n"}],
                           "exit": 1}, check_exit=1)
        self.assertIn("internal error", r.stderr)
        self.assertEqual(e.rows(self.cache), before)
        # --publish always overrides.
        self.fake_run({"actions": [self.write(self.module("b", "2", 20))], "exit": 2},
                      "--publish", "always", check_exit=2)
        self.assertIn(("cache.db", "b.meta.json"), e.rows(self.cache))

    def test_later_publisher_wins_and_deletions_propagate(self):
        self.fake_run({"actions": [self.write(self.module("m1", "base", 1) +
                                              self.module("m2", "base", 1))]}, check_exit=0)
        slow = e.start([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", self.fake], self.work,
                       env={"FAKE_ACTIONS": json.dumps({"actions": [
                           {"op": "touch", "path": os.path.join(self.work, "started")},
                           {"op": "sleep", "seconds": 1.5},
                           self.write(self.module("m1", "slow", 5))]})})
        for _ in range(100):
            if os.path.exists(os.path.join(self.work, "started")):
                break
            time.sleep(0.05)
        self.fake_run({"actions": [self.write(self.module("m1", "fast", 9)),
                                   {"op": "delete", "keys": ["m2.meta.json", "m2.data.json"]}]},
                      check_exit=0)
        slow.communicate(timeout=60)
        self.assertEqual(slow.returncode, 0)
        rows = e.rows(self.cache)
        self.assertIn('"slow"', rows[("cache.db", "m1.meta.json")][2])  # later publisher wins
        self.assertIn('"slow"', rows[("cache.db", "m1.data.json")][2])  # ... the whole group
        self.assertNotIn(("cache.db", "m2.meta.json"), rows)  # the deletion survived

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
        r = self.fake_run({"version": "3.12", "journal": "wal", "actions": [
            self.write([["s3/new.meta.ff", 7.0, "hex:0102"], ["s3/new.data.ff", 7.0, "hex:03"],
                        ["s3/new.meta_ex.ff", 7.0, "hex:04"]], db="cache.3.db", table="files2")]},
            check_exit=0)
        for c in keep_open:
            c.close()
        rows = e.rows(self.cache)
        self.assertEqual(len(rows), 16 * 3 + 3)
        self.assertEqual(rows[("cache.5.db", "s5/m.meta_ex.ff")], (100.5, "blob", bytes([5, 0, 255])))
        self.assertEqual(rows[("cache.3.db", "s3/new.meta.ff")], (7.0, "blob", b"\x01\x02"))
        live = os.path.join(self.cache, "3.12")
        self.assertTrue(os.path.islink(live))
        self.assertEqual(sorted(os.listdir(live)), sorted("cache.%d.db" % i for i in range(16)))
        for i in range(16):
            conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(live, "cache.%d.db" % i),
                                   uri=True)
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            conn.close()
        self.assertEqual(set(e.integrity(self.cache)), {"ok"})

    def test_kill_at_every_step_leaves_old_or_new_generation(self):
        self.fake_run({"actions": [self.write(self.module("base", "b", 1))]}, check_exit=0)
        spec = {"actions": [self.write(self.module("k", "new", 42))]}
        trace = os.path.join(self.work, "trace")
        r = self.typecache("run", "--cache-dir", os.path.join(self.work, "probe"), "--", self.fake,
                           env={"FAKE_ACTIONS": json.dumps(spec), "TYPECACHE_FAULT_TRACE": trace})
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(trace) as f:
            total = sum(1 for _ in f)
        self.assertGreater(total, 20)
        old = e.rows(self.cache)
        kills = 0
        for n in range(1, total + 1):
            spec = {"actions": [self.write(self.module("k", "new%d" % n, n))]}
            r = self.typecache("run", "--cache-dir", self.cache, "--", self.fake,
                               env={"FAKE_ACTIONS": json.dumps(spec),
                                    "TYPECACHE_FAULT": "kill@%d" % n})
            if r.returncode == -signal.SIGKILL:
                kills += 1
            now = e.rows(self.cache)
            new = dict(old)
            for path, mtime, data in self.module("k", "new%d" % n, n):
                new[("cache.db", path)] = (mtime, "text", data)
            self.assertIn(now, (old, new), "torn cache after kill at step %d" % n)
            self.assertEqual(set(e.integrity(self.cache)), {"ok"})
            old = now
        self.assertGreater(kills, 10)
        # The next run sweeps dead runs' copies (backdate them past the sweeper's grace period).
        runs = os.path.join(self.cache, ".typecache", "runs")
        for name in os.listdir(runs):
            os.utime(os.path.join(runs, name), (time.time() - 3600,) * 2, follow_symlinks=False)
        self.assertNotEqual(os.listdir(runs), [])
        self.fake_run({"actions": [self.write(self.module("after", "x", 1))]}, check_exit=0)
        self.assertEqual(os.listdir(runs), [])

    def test_live_run_copy_is_never_swept(self):
        slow = e.start([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", self.fake], self.work,
                       env={"FAKE_ACTIONS": json.dumps({"actions": [
                           {"op": "touch", "path": os.path.join(self.work, "started")},
                           {"op": "sleep", "seconds": 2}, self.write(self.module("s", "s", 1))]})})
        for _ in range(100):
            if os.path.exists(os.path.join(self.work, "started")):
                break
            time.sleep(0.05)
        runs = os.path.join(self.cache, ".typecache", "runs")
        for name in os.listdir(runs):  # even when old
            os.utime(os.path.join(runs, name), (time.time() - 3600,) * 2, follow_symlinks=False)
        self.fake_run({"actions": [self.write(self.module("t", "t", 1))]}, check_exit=0)
        slow.communicate(timeout=60)
        self.assertEqual(slow.returncode, 0)
        self.assertIn(("cache.db", "s.meta.json"), e.rows(self.cache))
        self.assertIn(("cache.db", "t.meta.json"), e.rows(self.cache))

    def test_lock_timeout_warns_and_keeps_exit_status(self):
        self.fake_run({"actions": [self.write(self.module("a", "1", 1))]}, check_exit=0)
        lock = os.path.join(self.cache, ".typecache", "lock")
        holder = subprocess.Popen(["flock", lock, "sleep", "5"])
        time.sleep(0.3)
        try:
            r = self.fake_run({"actions": [self.write(self.module("b", "2", 2))], "exit": 1},
                              "--lock-timeout", "300ms", check_exit=1)
        finally:
            holder.kill()
            holder.wait()
        self.assertIn("typecache: warning: cannot publish to the shared cache: timed out", r.stderr)
        self.assertNotIn(("cache.db", "b.meta.json"), e.rows(self.cache))

    def test_sigterm_is_forwarded(self):
        marker = os.path.join(self.work, "got-term")
        proc = e.start([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", self.fake], self.work,
                       env={"FAKE_ACTIONS": json.dumps({
                           "on_sigterm": marker,
                           "actions": [{"op": "touch", "path": os.path.join(self.work, "started")},
                                       {"op": "sleep", "seconds": 30}]})})
        for _ in range(200):
            if os.path.exists(os.path.join(self.work, "started")):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 143)  # the checker's own status
        self.assertTrue(os.path.exists(marker))

    def test_output_passes_through_and_messages_are_prefixed(self):
        text = "line one\n\x1b[31mcolour\x1b[0m and bytes \xe9\n"
        r = self.fake_run({"actions": [{"op": "print", "text": text},
                                       {"op": "print", "stream": "stderr", "text": "err\n"}],
                           "exit": 1}, "-v", check_exit=1)
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
    e.main()
