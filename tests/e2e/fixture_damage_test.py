"""The damage matrix on copies of real caches written by mypy 1.0.1, 1.18.2, 1.20.2 and 2.3.1.

For each fixture (tests/fixtures/mypy-caches/<version>/cache) and each kind of damage to the
module group tinypkg.util: a data row's mtime changed (mypy: "data cache is modified"), the data
row deleted, the meta row deleted, the side row mypy also needs deleted (.err.ff in 1.20,
.meta_ex.ff in 2.x), and the database cut at half and at 90%:
  - `typecache verify` exits 1 and names the group and the reason;
  - `typecache verify --repair` leaves a cache that verifies clean, in which every row it kept is
    byte for byte what mypy wrote, and, for row damage, every other group is untouched.
"""
import os
import shutil
import sqlite3

import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

FIXTURES = e.FIXTURES

# version -> (table, suffix family, side row kind or None)
VERSIONS = {
    "1.0.1": ("files", "json", None),
    "1.18.2": ("files2", "json", None),
    "1.20.2": ("files2", "ff", "err.ff"),
    "2.3.1": ("files2", "ff", "meta_ex.ff"),
}
MODULE = "tinypkg/util"


all_rows = e.table_rows


class FixtureDamageTest(e.E2ETestCase):
    def fresh(self, version):
        return e.copy_fixture(version, os.path.join(self.work, version, "cache"))

    def db_with(self, cache, table, key):
        for db in e.db_paths(cache):
            conn = sqlite3.connect(db)
            try:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (table,)).fetchone() \
                        and conn.execute("SELECT 1 FROM %s WHERE path=?" % table, (key,)).fetchone():
                    return db
            finally:
                conn.close()
        self.fail("%s not in any database of %s" % (key, cache))

    def sql(self, db, statement, *args):
        conn = sqlite3.connect(db)
        with conn:
            n = conn.execute(statement, args).rowcount
        conn.close()
        self.assertEqual(n, 1, statement)

    def verify(self, cache, *extra):
        return self.typecache("verify", *extra, cache)

    def readable_rows(self, db):
        """The rows of a damaged database that SQLite can still read, probed one by one by rowid
        on a copy whose header says rollback journal (what any careful salvage can get)."""
        probe = db + ".probe"
        shutil.copy(db, probe)
        with open(probe, "r+b") as f:
            f.seek(18)
            f.write(bytes([1, 1]))
        conn = sqlite3.connect("file:%s?mode=ro" % probe, uri=True)
        conn.execute("PRAGMA writable_schema=ON")
        out = set()
        for t in ("files", "files2"):
            try:
                conn.execute("SELECT 1 FROM %s LIMIT 0" % t)
            except sqlite3.Error:
                continue
            misses = 0
            rowid = 0
            while misses < 4096:
                rowid += 1
                try:
                    row = conn.execute("SELECT path FROM %s WHERE rowid = ?" % t, (rowid,)).fetchone()
                except sqlite3.Error:
                    row = None
                if row:
                    out.add((os.path.basename(db), t, row[0]))
                    misses = 0
                else:
                    misses += 1
        conn.close()
        os.remove(probe)
        return out

    def check_row_damage(self, version, damage, reason):
        table, family, _ = VERSIONS[version]
        cache = self.fresh(version)
        clean = self.verify(cache)
        self.assertEqual(clean.returncode, 0, "%s fixture not clean: %s" % (version, clean.stdout))
        before = all_rows(cache)
        key, statement = damage(family)
        db = self.db_with(cache, table, key)
        self.sql(db, statement % table, key)
        r = self.verify(cache)
        self.assertEqual(r.returncode, 1, "%s, %s: %s" % (version, key, r.stdout))
        line = [l for l in r.stdout.splitlines() if "group %s " % MODULE in l]
        self.assertEqual(len(line), 1, r.stdout)
        self.assertIn(reason, line[0])
        fixed = self.verify(cache, "--repair")
        self.assertEqual(fixed.returncode, 0, fixed.stdout + fixed.stderr)
        again = self.verify(cache)
        self.assertEqual(again.returncode, 0, again.stdout)
        after = all_rows(cache)
        # Exactly the damaged group went; every other row is what mypy wrote.
        expected = {k: v for k, v in before.items()
                    if not (k[1] == table and k[2].startswith(MODULE + ".")
                            and k[2].endswith("." + family))}
        self.assertEqual(after, expected, "%s, %s" % (version, key))
        self.assertGreater(len(after), 50)

    def test_row_damage_matrix(self):
        cases = [
            (lambda f: ("%s.data.%s" % (MODULE, f), "UPDATE %s SET mtime = mtime + 10 WHERE path = ?"),
             "does not match the meta's data_mtime"),
            (lambda f: ("%s.data.%s" % (MODULE, f), "DELETE FROM %s WHERE path = ?"),
             "meta row without data row"),
            (lambda f: ("%s.meta.%s" % (MODULE, f), "DELETE FROM %s WHERE path = ?"),
             "data row without meta row"),
        ]
        done = 0
        for version, (table, family, side) in VERSIONS.items():
            for damage, reason in cases:
                with self.subTest(version=version, reason=reason):
                    self.check_row_damage(version, damage, reason)
                    done += 1
            if side:
                with self.subTest(version=version, reason="side row"):
                    self.check_row_damage(
                        version,
                        lambda f, side=side: ("%s.%s" % (MODULE, side), "DELETE FROM %s WHERE path = ?"),
                        "no %s row" % side)
                    done += 1
        self.assertEqual(done, 14)

    def test_truncated_database_is_salvaged(self):
        done = 0
        for version in VERSIONS:
            for fraction in (0.5, 0.9):
                with self.subTest(version=version, cut=fraction):
                    cache = self.fresh(version)
                    before = all_rows(cache)
                    db = max(e.db_paths(cache), key=os.path.getsize)
                    size = os.path.getsize(db)
                    with open(db, "r+b") as f:
                        f.truncate(int(size * fraction) // 4096 * 4096 or 4096)
                    readable = self.readable_rows(db)
                    r = self.verify(cache)
                    self.assertEqual(r.returncode, 1, r.stdout)
                    self.assertIn(os.path.basename(db), r.stdout)
                    fixed = self.verify(cache, "--repair")
                    self.assertEqual(fixed.returncode, 0, fixed.stdout + fixed.stderr)
                    print("%s cut at %d%%: %s" % (version, fraction * 100, fixed.stdout.strip()))
                    again = self.verify(cache)
                    self.assertEqual(again.returncode, 0, again.stdout)
                    after = all_rows(cache)
                    for k, v in after.items():
                        self.assertEqual(before.get(k), v, k)
                    # The other databases (2.x shards) keep all their rows.
                    others = {k for k in before if k[0] != os.path.basename(db)}
                    self.assertTrue(others <= set(after))
                    # In the cut database: exactly the groups all of whose rows SQLite can still
                    # read (the fixtures' groups were all healthy).
                    name = os.path.basename(db)
                    def grp(k):
                        return (k[1], k[2][:k[2].find(".", k[2].rfind("/") + 1)], k[2].rsplit(".", 1)[-1])
                    orig = {}
                    for k in before:
                        if k[0] == name:
                            orig.setdefault(grp(k), set()).add(k)
                    whole = {g for g, keys in orig.items() if keys <= readable}
                    kept = {grp(k) for k in after if k[0] == name}
                    self.assertEqual(kept, whole, "%s cut at %s" % (version, fraction))
                    print("  readable rows %d of %d; whole groups %d of %d"
                          % (len(readable), sum(map(len, orig.values())), len(whole), len(orig)))
                    done += 1
        self.assertEqual(done, 8)


if __name__ == "__main__":
    e.main()
