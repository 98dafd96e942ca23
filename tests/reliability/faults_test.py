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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

DB = "3.11/cache.db"


class FaultsTest(tc.FakeCheckerTestCase):

    def tagged_run(self, tag, modules, cache=None, env=None, extra=(), binary=None):
        """The fake checker writes `modules` tagged `tag` and exits 1 (it found errors)."""
        return self.fake_run(tc.tagged_spec(tag, modules, exit_code=1), *extra, env=env,
                             cache=cache, binary=binary)

    def test_injected_faults_leave_cache_untouched_and_keep_exit_status(self):
        faulty = tc.faulty()
        self.assertEqual(self.tagged_run("seed", ["a", "b"]).returncode, 1)
        faults = ["fail:%s:%s@%d" % (op, err, n)
                  for op, err in (("rename", "EXDEV"), ("rename", "EACCES"), ("fsync", "EIO"),
                                  ("write", "ENOSPC"), ("copy", "ENOSPC"), ("copy", "EIO"),
                                  ("lock", "ENOLCK"), ("openlock", "EACCES"),
                                  ("mkdir", "EROFS"), ("symlink", "ENOSPC"),
                                  ("exchange", "EINVAL"), ("listdir", "EIO"), ("*", "ENOSPC"),
                                  # A reader's hold on the generation it copies (and retirement).
                                  ("opendir", "EACCES"), ("lockshared", "ENOLCK"),
                                  ("statfd", "EIO"),
                                  # Lock descriptions and the counters, rewritten in place;
                                  # reads (logs, the spare's armed list) and stamps.
                                  ("overwrite", "ENOSPC"), ("readfd", "EIO"), ("read", "EIO"),
                                  ("lstat", "EIO"), ("stat", "EIO"))
                  for n in (1, 2, 3)]
        injected = 0
        for i, fault in enumerate(faults):
            before = tc.rows(self.cache)
            r = self.tagged_run("t%d" % i, ["new%d" % i, "a"], env={"TYPECACHE_FAULT": fault},
                                binary=faulty)
            self.assertEqual(r.returncode, 1, "%s: %s" % (fault, r.stderr))  # the checker's status
            after = tc.rows(self.cache)
            if "injected fault" in r.stderr:
                injected += 1
                self.assertIn("typecache: warning:", r.stderr, fault)
                new_published = (DB, "new%d.meta.json" % i) in after
                if not new_published:
                    self.assertEqual(after, before, fault)
            self.assertEqual(set(tc.integrity(self.cache)), {"ok"}, fault)
        self.assertGreater(injected, 25)
        print("faults injected through the binary: %d of %d specs triggered" % (injected, len(faults)))

    def test_torn_log_write_is_detected_and_nothing_is_lost(self):
        self.tagged_run("seed", ["a"])
        # A lying disk: the generation log is written half, and reported complete.
        r = self.tagged_run("torn", ["b"], env={"TYPECACHE_FAULT": "short:write@1"},
                            binary=tc.faulty())
        self.assertEqual(r.returncode, 1, r.stderr)
        r = self.tagged_run("next", ["c"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(tc.group_tags(self.cache), {"a": "seed", "b": "torn", "c": "next"})

    def test_paths_with_spaces_and_non_ascii(self):
        cache = os.path.join(self.work, "my cache", "caché ü")
        self.assertEqual(self.tagged_run("x", ["mod with space/ü"], cache=cache).returncode, 1)
        self.assertEqual(tc.group_tags(cache), {"mod with space/ü": "x"})
        self.assertEqual(self.typecache("verify", cache).returncode, 0)
        src = os.path.join(self.work, "src dir ä")
        pkg = tc.write_package(src, 0)
        r = tc.run([tc.TYPECACHE, "run", "--cache-dir", cache, "--", tc.MYPY, "-p", pkg], src)
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_symlinked_cache_directory(self):
        real = os.path.join(self.work, "real")
        os.makedirs(real)
        link = os.path.join(self.work, "link")
        os.symlink(real, link)
        self.assertEqual(self.tagged_run("x", ["m"], cache=link).returncode, 1)
        self.assertEqual(tc.group_tags(real), {"m": "x"})

    def test_planted_symlink_is_refused(self):
        self.tagged_run("seed", ["a"])
        elsewhere = os.path.join(self.work, "elsewhere")
        os.makedirs(elsewhere)
        runs = os.path.join(self.cache, ".typecache", "runs")
        shutil.rmtree(runs)
        os.symlink(elsewhere, runs)
        r = self.tagged_run("x", ["b"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("symbolic link", r.stderr)
        self.assertEqual(os.listdir(elsewhere), [])

    def test_lock_file_left_by_a_dead_process(self):
        self.tagged_run("seed", ["a"])
        with open(os.path.join(self.cache, ".typecache", "lock"), "w") as f:
            f.write("pid 999999 on host gone since 2020-01-01T00:00:00Z\n")
        r = self.tagged_run("x", ["b"], extra=("--lock-timeout", "2s"))
        self.assertNotIn("warning", r.stderr)
        self.assertEqual(tc.group_tags(self.cache), {"a": "seed", "b": "x"})

    def test_huge_rows(self):
        size = 40 * 1024 * 1024
        self.fake_run(tc.fake_spec(tc.write_action(
            [["huge.meta.json", 1.0, json.dumps({"data_mtime": 1})],
             ["huge.data.json", 1.0, "repeat:x:%d" % size]])), check_exit=0)
        self.tagged_run("y", ["other"])
        self.assertEqual(len(tc.rows(self.cache)[(DB, "huge.data.json")][2]), size)
        self.assertEqual(self.typecache("verify", self.cache).returncode, 0)

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
        r = self.tagged_run("x", ["m"], cache=garbage)
        self.assertEqual(r.returncode, 1)
        self.assertIn("typecache: warning:", r.stderr)


if __name__ == "__main__":
    tc.main()
