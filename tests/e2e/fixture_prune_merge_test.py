"""prune and merge on copies of the real caches of mypy 1.0.1, 1.18.2, 1.20.2 and 2.3.1, and on the
upgrade scenario (one database written by 1.0.1, then 1.18.2, then 1.20.2).

- `prune --missing-sources ROOT` evicts exactly the groups whose source under ROOT is gone (the
  fixtures' project was /home/dev/project, which does not exist here: the whole project is
  "deleted"), and keeps every stub group, whose sources lie outside ROOT.
- `prune --keep-version V` evicts exactly the groups other versions wrote and touches no row of
  version V, in either table.
- `merge` of the 1.18.2 (JSON rows) and 1.20.2 (fixed-format rows) caches is refused without
  --allow-mixed, and with it keeps every group of both versions.
"""
import json
import os
import shutil

import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

FIXTURES = e.FIXTURES
PROJECT = "/home/dev/project"  # where the fixtures' project was; absent here


def module_of(key):
    base = key.rfind("/") + 1
    dot = key.find(".", base)
    return key if dot < 0 else key[:dot]


def group_of(table, key):
    family = key.rsplit(".", 1)[-1]
    return (table, module_of(key), family if family in ("json", "ff") else "")


rows = e.table_rows


def groups(rowmap):
    return {group_of(t, k) for (_, t, k) in rowmap}


class FixturePruneMergeTest(e.E2ETestCase):
    def fresh(self, name):
        return e.copy_fixture(name, os.path.join(self.work, name))

    def metas(self, name):
        """{(table, module, family): (version, source path)} of every meta row, from
        expected.json (what that mypy decoded)."""
        with open(os.path.join(FIXTURES, name, "expected.json")) as f:
            exp = json.load(f)
        out = {}
        for m in exp.get("metas", []):
            out[group_of(exp.get("table", "files2"), m["key"])] = (m.get("version_id"),
                                                                  m.get("path"))
        for table, info in exp.get("tables", {}).items():
            for k in info["keys"]:
                if ".meta." in k["key"]:
                    out[group_of(table, k["key"])] = (k.get("version_id") or k["written_by"], None)
        return out

    def test_missing_sources_every_fixture(self):
        self.assertFalse(os.path.exists(PROJECT))
        checked = 0
        for name in ("1.0.1", "1.18.2", "1.20.2", "2.3.1"):
            with self.subTest(fixture=name):
                cache = self.fresh(name)
                before = rows(cache)
                metas = self.metas(name)
                self.assertGreater(len(metas), 30, name)
                gone = {g for g, (_, path) in metas.items()
                        if path and path.startswith(PROJECT + "/")}
                self.assertGreaterEqual(len(gone), 3, (name, sorted(gone)))
                r = self.typecache("prune", "--missing-sources", PROJECT, "--json", cache)
                self.assertEqual(r.returncode, 0, r.stderr)
                after = rows(cache)
                self.assertEqual(groups(before) - groups(after), gone, name)
                # Every row of every other group is exactly as mypy wrote it.
                kept = {k: v for k, v in before.items() if group_of(k[1], k[2]) not in gone}
                self.assertEqual(after, kept, name)
                checked += 1
        self.assertEqual(checked, 4)

    def test_keep_version_on_the_upgrade_scenario(self):
        metas = self.metas("mixed-upgrade")
        versions = {v for v, _ in metas.values()}
        self.assertEqual(versions, {"1.0.1", "1.18.2", "1.20.2"}, versions)
        for keep in sorted(versions):
            with self.subTest(keep=keep):
                cache = self.fresh("mixed-upgrade")
                before = rows(cache)
                r = self.typecache("prune", "--keep-version", keep, cache)
                self.assertEqual(r.returncode, 0, r.stderr)
                after = rows(cache)
                other = {g for g, (v, _) in metas.items() if v != keep}
                mine = {g for g, (v, _) in metas.items() if v == keep}
                self.assertTrue(mine)
                # All of the kept version's groups, whole; none of the others' meta groups.
                self.assertEqual(mine - groups(after), set(), keep)
                self.assertEqual(other & groups(after), set(), keep)
                for k, v in before.items():
                    if group_of(k[1], k[2]) in mine:
                        self.assertEqual(after.get(k), v, k)

    def test_keep_version_current_is_what_the_latest_run_used(self):
        cache = self.fresh("mixed-upgrade")
        # Before any typecache run nothing is recorded: an error naming the cache, input intact.
        before = rows(cache)
        r = self.typecache("prune", "--keep-version", "current", cache)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no typecache run has recorded a mypy version", r.stderr)
        self.assertEqual(rows(cache), before)
        # Debian's real mypy 1.0.1 through typecache on the fixtures' project: it rewrites its own
        # (1.0.1) groups; 1.18.2's and 1.20.2's stay, as plain mypy leaves them.
        project = os.path.join(self.work, "project")
        shutil.copytree(os.path.join(FIXTURES, "project"), project)
        r = e.run([e.TYPECACHE, "run", "--cache-dir", cache, "--", e.MYPY, "--config-file",
                   os.path.join(project, "mypy.ini"), "--python-version", "3.11",
                   "--sqlite-cache", "--cache-dir", cache, "-p", "tinypkg"], project)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        with open(os.path.join(cache, ".typecache", "checker-version")) as f:
            self.assertEqual(f.read().strip(), "1.0.1")
        mid = rows(cache)
        metas = self.metas("mixed-upgrade")
        later = {g for g, (v, _) in metas.items() if v in ("1.18.2", "1.20.2")}
        self.assertEqual(later - groups(mid), set())
        r = self.typecache("prune", "--keep-version", "current", cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        after = rows(cache)
        self.assertEqual(later & groups(after), set())
        self.assertEqual({k for k in after if k[1] == "files"}, {k for k in mid if k[1] == "files"})

    def test_dead_layout_beside_the_shards(self):
        # A 2.x upgrade leaves the 1.x cache.db beside the 16 shards; mypy 2.x reads only these.
        cache = self.fresh("2.3.1")
        shutil.copy(os.path.join(FIXTURES, "1.20.2", "cache", "3.11", "cache.db"),
                    os.path.join(cache, "3.11", "cache.db"))
        os.chmod(os.path.join(cache, "3.11", "cache.db"), 0o644)
        before = rows(cache)
        stats = self.typecache("stats", cache)
        self.assertEqual(stats.returncode, 0, stats.stderr)
        self.assertIn("dead: cache.db", stats.stdout)
        self.assertIn("typecache prune --dead-layouts", stats.stdout)
        self.assertLess(stats.stdout.find("cache.2.db"), stats.stdout.find("cache.10.db"))
        r = self.typecache("prune", "--dead-layouts", cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        after = rows(cache)
        self.assertEqual(after, {k: v for k, v in before.items() if k[0] != "cache.db"})
        self.assertEqual(len({k for k in after}), 157)

    def test_merge_of_json_and_fixed_format_caches(self):
        a = self.fresh("1.18.2")
        b = self.fresh("1.20.2")
        into = os.path.join(self.work, "merged")
        r = self.typecache("merge", "--into", into, a, b)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--allow-mixed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(into, "3.11", "cache.db")))
        r = self.typecache("merge", "--allow-mixed", "--into", into, a, b)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = rows(into)
        want = {}
        for src in (a, b):
            for (db, t, k), v in rows(src).items():
                want[(db, t, k)] = v
        lost = sorted(set(want) - set(got))
        self.assertEqual(lost, [], "lost %d of %d rows" % (len(lost), len(want)))
        self.assertIn(("files2", "tinypkg/util", "json"), groups(got))
        self.assertIn(("files2", "tinypkg/util", "ff"), groups(got))
        v = self.typecache("verify", into)
        self.assertEqual(v.returncode, 0, v.stdout)


if __name__ == "__main__":
    e.main()
