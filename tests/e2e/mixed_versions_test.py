"""Runs of different mypy versions sharing one database lose nothing of either version.

One `.mypy_cache/3.11/cache.db` holding several versions is the normal state after an upgrade,
or when pre-commit pins another mypy than the project's environment. mypy 1.0.1 writes JSON
rows to the table `files`, 1.18.2 JSON rows to `files2`, 1.20.2 fixed-format rows to `files2`,
all for the same modules. Three runs, each writing exactly the rows that real mypy version
wrote (the fixtures in tests/fixtures/mypy-caches), start together on one shared cache; all
three snapshot the same empty generation, so each publish has to merge with the others'. The
shared cache must then hold the union of the three versions' rows, byte for byte.
"""
import json
import os
import re
import sqlite3
import time

import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

FIXTURES = e.FIXTURES

# (fixture, table) of each run: every row that version wrote.
RUNS = [("1.0.1", "files"), ("1.18.2", "files2"), ("1.20.2", "files2")]


def table_rows(db, table):
    """{(table, path): (mtime, data)} of one table."""
    conn = e.connect_ro(db)
    try:
        names = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if table not in names:
            return {}
        return {(table, p): (m, bytes(d) if isinstance(d, bytes) else d)
                for p, m, d in conn.execute("SELECT path, mtime, data FROM %s" % table)}
    finally:
        conn.close()


def live_rows(cache):
    db = os.path.join(cache, "3.11", "cache.db")
    out = {}
    for table in ("files", "files2"):
        out.update(table_rows(db, table))
    return out


class MixedVersionsTest(e.FakeCheckerTestCase):
    def spec(self, version, table, delay):
        src = os.path.join(FIXTURES, version, "cache", "3.11", "cache.db")
        return {"version": "3.11",
                "actions": [{"op": "sleep", "seconds": delay},
                            {"op": "copy", "src": src, "table": table, "db": "cache.db"}]}

    def expected(self):
        """{row: [values the runs wrote]}: one value, except for a row that several versions
        write under the same key (the global "@plugins_snapshot.json"), where the last
        publisher wins."""
        out = {}
        for version, table in RUNS:
            got = table_rows(os.path.join(FIXTURES, version, "cache", "3.11", "cache.db"), table)
            self.assertGreater(len(got), 50, version)
            for k, v in got.items():
                out.setdefault(k, []).append(v)
        shared = [k for k, v in out.items() if len(v) > 1]
        self.assertEqual(shared, [("files2", "@plugins_snapshot.json")])
        return out

    def test_concurrent_runs_of_three_versions_keep_every_row(self):
        expected = self.expected()
        # Every run sleeps first, so all three snapshot the same (empty) generation and publish
        # one after another, each merging with what the others published.
        procs = [e.start([e.TYPECACHE, "run", "-v", "--cache-dir", self.cache, "--", self.fake],
                         self.work, env={"FAKE_ACTIONS": json.dumps(self.spec(v, t, 1.0))})
                 for v, t in RUNS]
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outputs):
            self.assertEqual(p.returncode, 0, err)
        # The runs overlapped: the later publishers merged what the earlier ones published.
        merged = [int(m) for _, err in outputs
                  for m in re.findall(r"(\d+) merged from others", err)]
        self.assertEqual(len(merged), 3, [err for _, err in outputs])
        self.assertGreater(sum(1 for m in merged if m > 0), 1, merged)
        got = live_rows(self.cache)
        missing = sorted(k for k in expected if k not in got)
        self.assertEqual(missing, [], "rows lost: %d of %d, e.g. %s"
                         % (len(missing), len(expected), missing[:5]))
        changed = sorted(k for k in expected if got[k] not in expected[k])
        self.assertEqual(changed, [], "rows changed: %s" % changed[:5])
        self.assertEqual(set(got), set(expected))
        self.assertEqual(set(e.integrity(self.cache)), {"ok"})
        verify = self.typecache("verify", self.cache)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)

    def test_sequential_runs_give_the_same_union(self):
        expected = self.expected()
        for v, t in RUNS:
            r = self.typecache("run", "--cache-dir", self.cache, "--", self.fake,
                               env={"FAKE_ACTIONS": json.dumps(self.spec(v, t, 0))})
            self.assertEqual(r.returncode, 0, r.stderr)
        got = live_rows(self.cache)
        self.assertEqual(set(got), set(expected))
        for k, values in expected.items():
            self.assertEqual(got[k], values[-1], k)


if __name__ == "__main__":
    e.main()
