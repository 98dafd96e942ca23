"""Faults in OS calls through the built binary, bad input and planted symlinks.

Every injected fault (TYPECACHE_FAULT, the seam in src/fault_fs.h) must leave the shared cache
as it was (or, for a fault after the commit point, at the new generation), and the checker's
exit status must be what the user gets. Bad inputs give a one-line error or a documented
recovery, never a crash, never a modified input.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_lib as e  # noqa: E402


class FaultsTest(e.FakeCheckerTestCase):

    def fake_run(self, tag, modules, cache=None, env=None, exit_code=1, extra=()):
        rows = []
        for m in modules:
            rows += [[m + ".meta.json", 10.0, json.dumps({"data_mtime": 10, "tag": tag})],
                     [m + ".data.json", 10.0, json.dumps({"tag": tag})]]
        spec = {"actions": [{"op": "write", "db": "cache.db", "table": "files", "rows": rows}],
                "exit": exit_code}
        full_env = {"FAKE_ACTIONS": json.dumps(spec)}
        full_env.update(env or {})
        return self.typecache("run", "--cache-dir", cache or self.cache, *extra, "--", self.fake,
                              env=full_env)

    def test_injected_faults_leave_cache_untouched_and_keep_exit_status(self):
        self.assertEqual(self.fake_run("seed", ["a", "b"]).returncode, 1)
        faults = ["fail:%s:%s@%d" % (op, err, n)
                  for op, err in (("rename", "EXDEV"), ("rename", "EACCES"), ("fsync", "EIO"),
                                  ("write", "ENOSPC"), ("copy", "ENOSPC"), ("copy", "EIO"),
                                  ("lock", "ENOLCK"), ("openlock", "EACCES"),
                                  ("mkdir", "EROFS"), ("symlink", "ENOSPC"),
                                  ("exchange", "EINVAL"), ("listdir", "EIO"), ("*", "ENOSPC"))
                  for n in (1, 2, 3)]
        injected = 0
        for i, fault in enumerate(faults):
            before = e.rows(self.cache)
            r = self.fake_run("t%d" % i, ["new%d" % i, "a"], env={"TYPECACHE_FAULT": fault})
            self.assertEqual(r.returncode, 1, "%s: %s" % (fault, r.stderr))  # the checker's status
            after = e.rows(self.cache)
            if "injected fault" in r.stderr:
                injected += 1
                self.assertIn("typecache: warning:", r.stderr, fault)
                new_published = ("cache.db", "new%d.meta.json" % i) in after
                if not new_published:
                    self.assertEqual(after, before, fault)
            self.assertEqual(set(e.integrity(self.cache)), {"ok"}, fault)
        self.assertGreater(injected, 25)
        print("faults injected through the binary: %d of %d specs triggered" % (injected, len(faults)))

    def test_torn_log_write_is_detected_and_nothing_is_lost(self):
        self.fake_run("seed", ["a"])
        # A lying disk: the generation log is written half, and reported complete.
        r = self.fake_run("torn", ["b"], env={"TYPECACHE_FAULT": "short:write@1"})
        self.assertEqual(r.returncode, 1, r.stderr)
        r = self.fake_run("next", ["c"])
        self.assertEqual(r.returncode, 1, r.stderr)
        got = {k[1] for k in e.rows(self.cache)}
        self.assertTrue({"a.meta.json", "b.meta.json", "c.meta.json"} <= got, got)

    def test_paths_with_spaces_and_non_ascii(self):
        cache = os.path.join(self.work, "my cache", "caché ü")
        self.assertEqual(self.fake_run("x", ["mod with space/ü"], cache=cache).returncode, 1)
        self.assertIn(("cache.db", "mod with space/ü.meta.json"), e.rows(cache))
        self.assertEqual(self.typecache("verify", cache).returncode, 0)
        src = os.path.join(self.work, "src dir ä")
        pkg = e.write_package(src, 0)
        r = e.run([e.TYPECACHE, "run", "--cache-dir", cache, "--", e.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_symlinked_cache_directory(self):
        real = os.path.join(self.work, "real")
        os.makedirs(real)
        link = os.path.join(self.work, "link")
        os.symlink(real, link)
        self.assertEqual(self.fake_run("x", ["m"], cache=link).returncode, 1)
        self.assertIn(("cache.db", "m.meta.json"), e.rows(real))

    def test_planted_symlink_is_refused(self):
        self.fake_run("seed", ["a"])
        elsewhere = os.path.join(self.work, "elsewhere")
        os.makedirs(elsewhere)
        runs = os.path.join(self.cache, ".typecache", "runs")
        shutil.rmtree(runs)
        os.symlink(elsewhere, runs)
        r = self.fake_run("x", ["b"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("symbolic link", r.stderr)
        self.assertEqual(os.listdir(elsewhere), [])

    def test_lock_file_left_by_a_dead_process(self):
        self.fake_run("seed", ["a"])
        with open(os.path.join(self.cache, ".typecache", "lock"), "w") as f:
            f.write("pid 999999 on host gone since 2020-01-01T00:00:00Z\n")
        r = self.fake_run("x", ["b"], extra=("--lock-timeout", "2s"))
        self.assertNotIn("warning", r.stderr)
        self.assertIn(("cache.db", "b.meta.json"), e.rows(self.cache))

    def test_huge_rows(self):
        big = "x" * (40 * 1024 * 1024)
        spec = {"actions": [{"op": "write", "db": "cache.db", "table": "files",
                             "rows": [["huge.meta.json", 1.0, json.dumps({"data_mtime": 1})],
                                      ["huge.data.json", 1.0, "repeat:x:%d" % len(big)]]}]}
        path = os.path.join(self.work, "spec.json")
        r = self.typecache("run", "--cache-dir", self.cache, "--", self.fake,
                           env={"FAKE_ACTIONS": json.dumps(spec)})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.fake_run("y", ["other"])
        self.assertEqual(len(e.rows(self.cache)[("cache.db", "huge.data.json")][2]), len(big))
        self.assertEqual(self.typecache("verify", self.cache).returncode, 0)
        del path

    def test_wrong_schema_and_garbage(self):
        os.makedirs(os.path.join(self.cache, "3.11"))
        db = os.path.join(self.cache, "3.11", "cache.db")
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE files (name TEXT, value INTEGER)")
        conn.commit()
        conn.close()
        with open(db, "rb") as f:
            before = f.read()
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not mypy's (path, mtime, data)", r.stdout)
        with open(db, "rb") as f:
            self.assertEqual(f.read(), before)
        garbage = os.path.join(self.work, "garbage")
        os.makedirs(os.path.join(garbage, "3.11"))
        with open(os.path.join(garbage, "3.11", "cache.db"), "wb") as f:
            f.write(os.urandom(8192))
        # A run over a garbage cache still runs the checker and keeps its status.
        r = self.fake_run("x", ["m"], cache=garbage)
        self.assertEqual(r.returncode, 1)
        self.assertIn("typecache: warning:", r.stderr)


if __name__ == "__main__":
    e.main()
