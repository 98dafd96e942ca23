"""End to end: merge, prune, verify, stats, compact and config against caches written by
Debian's real mypy 1.0.1 and against fixture caches of the 1.14+, 1.20 and 2.x layouts."""

import json
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402


def fixture(cache, version_dir, layout):
    """Writes a fixture cache in a documented mypy layout; returns the database paths.

    layout: "1.14" (files2 BLOB, JSON rows), "1.20" (files2, .meta.ff/.data.ff/.err.ff, WAL mode),
            "2.x" (16 shards cache.N.db of files2 with .meta_ex.ff, WAL mode).
    """
    d = os.path.join(cache, version_dir)
    os.makedirs(d, exist_ok=True)
    dbs = []
    shards = 16 if layout == "2.x" else 1
    for n in range(shards):
        path = os.path.join(d, "cache.%d.db" % n if shards > 1 else "cache.db")
        c = sqlite3.connect(path, isolation_level=None)
        if layout != "1.14":
            c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE IF NOT EXISTS files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB)")
        c.execute("CREATE INDEX IF NOT EXISTS path_idx ON files2(path)")
        for m in range(20):
            name = "pkg%d/mod%d" % (n, m)
            mtime = 1700000000.0 + m * 86400
            if layout == "1.14":
                meta = json.dumps({"data_mtime": int(mtime), "version_id": "1.14.1",
                                   "path": "src/%s.py" % name}).encode()
                rows = [(name + ".meta.json", mtime, meta), (name + ".data.json", mtime, b"{}")]
            else:
                extra = ".err.ff" if layout == "1.20" else ".meta_ex.ff"
                rows = [(name + ".meta.ff", mtime, b"\x01\x14meta"), (name + ".data.ff", mtime, b"\x00data"),
                        (name + extra, mtime, b"\x02")]
            c.executemany("INSERT INTO files2 VALUES(?, ?, ?)", rows)
        c.execute("INSERT OR REPLACE INTO files2 VALUES('@plugins_snapshot.json', 1.0, x'7b7d')")
        c.close()
        dbs.append(path)
    return dbs


class MaintenanceTest(tc.E2ETestCase):
    """The mypy runs every test starts from are made once (setUpClass): the caches typecache
    publishes for the packages (TEMPLATES) and cold runs' output; each test copies the caches it
    changes."""

    TEMPLATES = {"all": (0, 1, 2), "pkg0": (0,), "pkg1": (1,)}

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="maintenance.", dir=os.environ.get("TEST_TMPDIR") or None)
        cls.src = os.path.join(cls.base, "src")
        cls.pkgs = [tc.write_package(cls.src, i) for i in range(3)]
        cls.templates = {}
        for name, indexes in cls.TEMPLATES.items():
            cache = os.path.join(cls.base, "template-" + name)
            r = tc.run([tc.TYPECACHE, "run", "--cache-dir", cache, "--", tc.MYPY]
                       + cls.targets([cls.pkgs[i] for i in indexes]), cls.src)
            assert r.returncode == 1, r.stdout + r.stderr  # one deliberate error per package
            cls.templates[name] = cache
        cls.cold_out = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    @staticmethod
    def targets(pkgs):
        return sum([["-p", p] for p in pkgs], [])

    def cache_from(self, template, name=None):
        """A copy of a template cache (made by setUpClass) for this test to change."""
        dest = os.path.join(self.work, name or template)
        shutil.copytree(self.templates[template], dest, symlinks=True)
        return dest

    def mypy_through_typecache(self, cache, pkgs, *mypy_args):
        return tc.run([tc.TYPECACHE, "run", "--cache-dir", cache, "--", tc.MYPY] + list(mypy_args)
                      + self.targets(pkgs), self.src)

    def cold(self, pkgs):
        """stdout of a cold mypy run over pkgs (run once per set of packages)."""
        key = tuple(pkgs)
        if key not in self.cold_out:
            with tempfile.TemporaryDirectory(dir=self.base) as cold_cache:
                self.cold_out[key] = tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", cold_cache]
                                            + self.targets(pkgs), self.src)
        return self.cold_out[key]

    def assert_warm_and_same(self, cache, pkgs):
        cold = self.cold(pkgs)
        before = tc.rows(cache)
        warm = self.mypy_through_typecache(cache, pkgs, "-v")
        self.assertEqual(warm.stdout, cold.stdout)
        self.assertEqual(warm.returncode, cold.returncode, warm.stderr[-2000:])
        self.assert_warm(warm.stderr + warm.stdout, before, tc.rows(cache))

    def test_merge_of_disjoint_runs_is_fully_warm(self):
        a, b = self.cache_from("pkg0"), self.cache_from("pkg1")
        dest = os.path.join(self.work, "merged")
        r = self.typecache("merge", "--json", "--into", dest, a, b)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertGreater(report["inputs"][1]["groups_taken"], 0)
        self.assertEqual(tc.groups(dest), tc.groups(a) | tc.groups(b))
        self.assertEqual(tc.meta_data_problems(dest), [])
        self.assert_warm_and_same(dest, self.pkgs[:2])

    def test_prune_max_size_stays_within_budget_and_mypy_agrees(self):
        cache = self.cache_from("all")
        budget = tc.cache_bytes(cache) // 2
        r = self.typecache("prune", "--max-size", str(budget), cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLessEqual(tc.cache_bytes(cache), budget)
        self.assertEqual(set(tc.integrity(cache)), {"ok"})
        self.assertEqual(tc.meta_data_problems(cache), [])
        cold = self.cold(self.pkgs)
        warm = self.mypy_through_typecache(cache, self.pkgs)
        self.assertEqual(warm.stdout, cold.stdout)

    def test_verify_repair_fixes_a_damaged_cache(self):
        cache = self.cache_from("all")
        self.assertEqual(self.typecache("verify", cache).returncode, 0)
        db = tc.db_paths(cache)[0]
        # Damage a private copy of the live database, then put it in place (as a crash or a
        # buggy tool might): a missing data row, a mismatched mtime, an orphan data row.
        damaged = os.path.join(self.work, "damaged.db")
        shutil.copyfile(db, damaged)
        c = sqlite3.connect(damaged)
        keys = [k for (k,) in c.execute("SELECT path FROM files WHERE path LIKE 'pkg0/%meta.json'")]
        c.execute("DELETE FROM files WHERE path = ?", (keys[0][:-len("meta.json")] + "data.json",))
        c.execute("UPDATE files SET mtime = mtime + 5 WHERE path = ?",
                  (keys[1][:-len("meta.json")] + "data.json",))
        c.execute("DELETE FROM files WHERE path = ?", (keys[2],))
        c.commit()
        c.close()
        os.replace(damaged, db)
        r = self.typecache("verify", cache)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("meta row without data row", r.stdout)
        self.assertIn("does not match", r.stdout)
        self.assertIn("orphan", r.stdout)
        healthy_before = len(tc.groups(cache)) - 3
        r = self.typecache("verify", "--repair", cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("removed group"), 3, r.stdout)
        self.assertEqual(len(tc.groups(cache)), healthy_before)
        self.assertEqual(self.typecache("verify", cache).returncode, 0)
        cold = self.cold(self.pkgs)
        self.assertEqual(self.mypy_through_typecache(cache, self.pkgs).stdout, cold.stdout)

    def test_verify_repair_salvages_a_truncated_database(self):
        cache = self.cache_from("all")
        db = tc.db_paths(cache)[0]
        truncated = os.path.join(self.work, "t.db")
        shutil.copyfile(db, truncated)
        with open(truncated, "r+b") as f:
            f.truncate(os.path.getsize(truncated) // 2)
        os.replace(truncated, db)
        r = self.typecache("verify", cache)
        self.assertEqual(r.returncode, 1)
        r = self.typecache("verify", "--repair", cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("rebuilt from its", r.stdout)
        self.assertEqual(set(tc.integrity(cache)), {"ok"})
        cold = self.cold(self.pkgs)
        self.assertEqual(self.mypy_through_typecache(cache, self.pkgs).stdout, cold.stdout)

    def test_bad_input_one_line_exit_2_nothing_modified(self):
        not_db = os.path.join(self.work, "notes.db")
        with open(not_db, "w") as f:
            f.write("this is not a database\n" * 20)
        before = open(not_db).read()
        for args in (["verify", not_db], ["stats", not_db], ["prune", "--orphans", not_db],
                     ["compact", not_db], ["merge", "--into", os.path.join(self.work, "d"), not_db],
                     ["stats", os.path.join(self.work, "missing")]):
            r = self.typecache(*args)
            self.assertIn(r.returncode, (1, 2) if args[0] == "verify" else (2,), args)
            if args[0] != "verify":
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertTrue(lines[0].startswith("typecache: error: "), lines[0])
        self.assertEqual(open(not_db).read(), before)
        self.assertFalse(os.path.exists(os.path.join(self.work, "d")))

    def test_fixture_layouts(self):
        for layout, ver in (("1.14", "3.12"), ("1.20", "3.13"), ("2.x", "3.14")):
            cache = os.path.join(self.work, "fx-" + layout)
            fixture(cache, ver, layout)
            r = self.typecache("stats", "--json", cache)
            self.assertEqual(r.returncode, 0, r.stderr)
            stats = json.loads(r.stdout)
            shards = 16 if layout == "2.x" else 1
            self.assertEqual(len(stats["databases"]), shards)
            self.assertEqual(sum(d["groups"] for d in stats["databases"]), shards * 21)
            self.assertEqual(self.typecache("verify", cache).returncode, 0, layout)
            # Prune by age: the older half of the modules go, in every shard.
            r = self.typecache("prune", "--json", "--older-than", "1s", cache)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(json.loads(r.stdout)["evicted"]), shards * 21)
            # Merge with a second fixture of the same layout; compact the result.
            other = os.path.join(self.work, "fx2-" + layout)
            fixture(other, ver, layout)
            dest = os.path.join(self.work, "dest-" + layout)
            r = self.typecache("merge", "--into", dest, other)
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = tc.rows(dest)
            self.assertEqual(len(rows), shards * (20 * (2 if layout == "1.14" else 3) + 1))
            self.assertTrue(all(v[1] == "blob" for v in rows.values()))
            # Per (database, table, format family): the modules, and the global "@" row.
            families = {gid: len(g) for gid, g in tc.read_groups(dest).items()}
            want = {}
            for db in tc.db_paths(dest):
                label = tc.db_label(dest, db)
                if layout == "1.14":
                    want[tc.GroupId(label, "files2", "json")] = 21
                else:
                    want[tc.GroupId(label, "files2", "ff")] = 20
                    want[tc.GroupId(label, "files2", "json")] = 1
            self.assertEqual(families, want)
            self.assertEqual(self.typecache("compact", dest).returncode, 0)
            self.assertEqual(tc.rows(dest), rows)
            self.assertEqual(set(tc.integrity(dest)), {"ok"})

    def test_merge_refuses_mixed_formats_and_versions(self):
        old = self.cache_from("pkg0")  # files (TEXT), mypy 1.0.1
        new = os.path.join(self.work, "new")
        fixture(new, tc.PYVER, "1.14")  # files2 (BLOB)
        r = self.typecache("merge", "--into", os.path.join(self.work, "d"), old, new)
        self.assertEqual(r.returncode, 2)
        self.assertIn("table format", r.stderr)
        sharded = os.path.join(self.work, "sharded")
        fixture(sharded, tc.PYVER, "2.x")
        r = self.typecache("merge", "--into", os.path.join(self.work, "d2"), new, sharded)
        self.assertEqual(r.returncode, 2)
        self.assertIn("shard", r.stderr)

    def test_stats_and_config(self):
        cache = self.cache_from("pkg0")
        r = self.typecache("stats", cache)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Module groups", r.stdout)
        self.assertIn("Runs published", r.stdout)
        r = self.typecache("stats", "--json", cache)
        self.assertEqual(json.loads(r.stdout)["counters"]["runs_published"], 1)
        self.assertEqual(self.typecache("stats", "--zero", cache).returncode, 0)
        self.assertEqual(json.loads(self.typecache("stats", "--json", cache).stdout)
                         ["counters"]["runs_published"], 0)
        with open(os.path.join(cache, "typecache.conf"), "w") as f:
            f.write("lock_timeout = 7s\nmax_size = 1G\n")
        r = self.typecache("config", "--json", "--cache-dir", cache,
                           env={"TYPECACHE_MAX_SIZE": "2G"})
        settings = json.loads(r.stdout)["settings"]
        self.assertEqual(settings["lock_timeout"]["value"], "7s")
        self.assertIn("typecache.conf:1", settings["lock_timeout"]["origin"])
        self.assertEqual(settings["max_size"]["value"], "2G")
        self.assertIn("TYPECACHE_MAX_SIZE", settings["max_size"]["origin"])
        r = self.typecache("config", "--json", "--cache-dir", cache, "--lock-timeout", "3s",
                           env={"TYPECACHE_LOCK_TIMEOUT": "9s"})
        self.assertEqual(json.loads(r.stdout)["settings"]["lock_timeout"]["origin"], "command line")

    def test_max_size_is_enforced_after_publish(self):
        cache = os.path.join(self.work, "cache")
        r = tc.run([tc.TYPECACHE, "run", "--cache-dir", cache, "--max-size", "600K", "--", tc.MYPY]
                   + self.targets(self.pkgs), self.src)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertLessEqual(tc.cache_bytes(cache), 600 * 1024)
        self.assertEqual(self.typecache("verify", cache).returncode, 0)


if __name__ == "__main__":
    tc.main()
