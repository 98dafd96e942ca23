"""Warm runs that change nothing do no SQLite work: a spare keeps its capture installed.

A run's private copy has capture (triggers and a record table) installed in every database. A run
that wrote nothing leaves its databases armed as they are (no SQLite write when it finishes), and
the spare made of them says so; the next run claims the spare and, for each database still
exactly as listed (inode, size, mtime), skips installing capture (counter captures_kept_armed).
What this must never break: a run that then writes is captured and published whole, a published
generation holds no capture (a database the run did not write is disarmed before it is
published), and nothing is lost or torn. docs/protocol.md, "Spares".
"""

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

# Stamps younger than this are not trusted (publish.cc, kCaptureRacyMargin): wait it out.
RACY_MARGIN_S = 1.1


def capture_left(db):
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return sorted(n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'typecache%'"))
    finally:
        conn.close()


class ArmedCaptureTest(tc.FakeCheckerTestCase):

    def spec(self, writes):
        """Fake checker writing {db file: {module: tag}}."""
        return tc.fake_spec(*[tc.write_action(tc.modules_rows(list(mods), tag), db=db)
                              for db, by_tag in writes.items() for tag, mods in by_tag.items()])

    def generation_dbs(self):
        """Every database of every generation directory (live and old)."""
        gens = os.path.join(self.cache, ".typecache", "gens")
        return [os.path.join(d, f) for d, _, files in os.walk(gens) for f in files
                if f.endswith(".db")]

    def armed_markers(self):
        """The lists of armed databases in the spares (one per spare that has one)."""
        spares = os.path.join(self.cache, ".typecache", "spares", tc.PYVER)
        return sorted(os.path.join(spares, s, ".typecache-armed") for s in os.listdir(spares)
                      if os.path.exists(os.path.join(spares, s, ".typecache-armed")))

    def test_unchanged_runs_keep_capture_and_writes_are_still_published(self):
        # Two databases (as mypy 2.x's shards): a later run writes into one of them only.
        self.fake_run(self.spec({"cache.0.db": {"a": ["m0"]}, "cache.1.db": {"a": ["m1"]}}),
                      check_exit=0)
        self.fake_run(tc.fake_spec(), check_exit=0)  # changes nothing: its spare stays armed
        time.sleep(RACY_MARGIN_S)
        before = tc.run_counters(self.cache).get("captures_kept_armed", 0)
        # The spare's list of armed databases is kept as it is by a run that changes nothing:
        # not removed and written again (issue 12: no file made and removed on a warm run).
        marker = self.armed_markers()
        self.assertEqual(len(marker), 1, marker)
        held = os.open(marker[0], os.O_RDONLY)
        try:
            r = self.fake_run(tc.fake_spec(), check_exit=0)
            kept = os.fstat(held)
        finally:
            os.close(held)
        after = tc.run_counters(self.cache).get("captures_kept_armed", 0)
        self.assertEqual(after - before, 2, "the spare's databases were armed again, not reused")
        self.assertEqual(kept.st_nlink, 1, "the list of armed databases was removed")
        self.assertEqual([os.stat(m).st_ino for m in self.armed_markers()], [kept.st_ino])
        # The list in the checker's directory is typecache's, not a file the checker left.
        self.assertEqual(tc.warning_lines(r.stderr), [])
        time.sleep(RACY_MARGIN_S)
        # Writes into an armed database are captured; the other one is published disarmed.
        r = self.fake_run(self.spec({"cache.1.db": {"b": ["m2"]}}), "-v", check_exit=0)
        self.assertIn("typecache: published", r.stderr)
        self.assertEqual(tc.group_tags(self.cache), {"m0": "a", "m1": "a", "m2": "b"})
        # Right away (stamps too young to trust): still captured and published.
        self.fake_run(self.spec({"cache.0.db": {"c": ["m3"]}}), check_exit=0)
        self.fake_run(tc.fake_spec(), check_exit=0)
        self.fake_run(self.spec({"cache.0.db": {"d": ["m0"]}}), check_exit=0)
        self.assertEqual(tc.group_tags(self.cache), {"m0": "d", "m1": "a", "m2": "b", "m3": "c"})
        dbs = self.generation_dbs()
        self.assertGreaterEqual(len(dbs), 2)
        for db in dbs:
            self.assertEqual(capture_left(db), [], "a published generation holds capture: " + db)
        gens = os.path.join(self.cache, ".typecache", "gens")
        self.assertEqual([os.path.join(d, f) for d, _, files in os.walk(gens) for f in files
                          if f == ".typecache-armed"], [], "a generation holds the armed list")
        v = self.typecache("verify", self.cache)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)


if __name__ == "__main__":
    tc.main()
