"""After `verify --repair`, Debian's real mypy 1.0.1 accepts the cache and rechecks only the
repaired module: the damage matrix end to end (the fixture tests show the rows for 1.18.2,
1.20.2 and 2.3.1, which cannot run here)."""
import os
import sqlite3

import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402
from pygen import write_package  # noqa: E402

MODULES = 6
DAMAGED = "pkg0.mod3"


class RepairRecheckTest(e.E2ETestCase):
    def mypy(self, *extra):
        return e.run([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", e.MYPY, *extra,
                      "-p", "pkg0"], self.work)

    def fresh_modules(self, stderr):
        return {line.split("Metadata fresh for ", 1)[1].split(":", 1)[0]
                for line in stderr.splitlines() if "Metadata fresh for " in line}

    def damage(self, statement, key):
        db = [p for p in e.db_paths(self.cache)][0]
        conn = sqlite3.connect(db)
        with conn:
            self.assertEqual(conn.execute(statement, (key,)).rowcount, 1)
        conn.close()

    def check(self, statement, key, reason):
        self.cache = os.path.join(self.work, "cache-%d" % abs(hash(statement)))
        cold = self.mypy()
        self.assertEqual(cold.returncode, 0, cold.stdout + cold.stderr)
        warm = self.mypy("-v")
        ours = {m for m in self.fresh_modules(warm.stderr) if m.startswith("pkg0")}
        self.assertEqual(len(ours), MODULES + 1, warm.stderr[-2000:])  # + pkg0 itself
        self.damage(statement, key)
        v = self.typecache("verify", self.cache)
        self.assertEqual(v.returncode, 1, v.stdout)
        self.assertIn("group pkg0/mod3 ", v.stdout)
        self.assertIn(reason, v.stdout)
        r = self.typecache("verify", "--repair", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.typecache("verify", self.cache).returncode, 0)
        after = self.mypy("-v")
        self.assertEqual(after.returncode, 0, after.stdout + after.stderr[-2000:])
        fresh = {m for m in self.fresh_modules(after.stderr) if m.startswith("pkg0")}
        self.assertEqual(ours - fresh, {DAMAGED}, after.stderr[-3000:])
        # And the run after that is fully warm again.
        again = self.mypy("-v")
        self.assertEqual({m for m in self.fresh_modules(again.stderr) if m.startswith("pkg0")},
                         ours)

    def setUp(self):
        super().setUp()
        write_package(self.work, 0, modules=MODULES, with_error=False, chained=False)

    def test_data_row_deleted(self):
        self.check("DELETE FROM files WHERE path = ?", "pkg0/mod3.data.json",
                   "meta row without data row")

    def test_data_mtime_changed(self):
        self.check("UPDATE files SET mtime = mtime + 7 WHERE path = ?", "pkg0/mod3.data.json",
                   "does not match the meta's data_mtime")

    def test_meta_row_deleted(self):
        self.check("DELETE FROM files WHERE path = ?", "pkg0/mod3.meta.json",
                   "data row without meta row")


if __name__ == "__main__":
    e.main()
