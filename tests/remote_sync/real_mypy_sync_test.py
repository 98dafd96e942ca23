"""Cross-machine sync with Debian's real mypy 1.0.1 through nginx WebDAV (tests/remote/servers.py).

Machines are separate cache directories and separate checkouts of one generated package at
different absolute paths with different file mtimes; mypy is given absolute paths, so metas and
data rows hold machine-local paths. The library is driven by the test-only remote_tool until the
CLI has `typecache remote`.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e2e_lib  # noqa: E402
from pygen import write_package  # noqa: E402

ROOT = os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache")
TOOL = os.path.join(ROOT, "tests/remote_sync/remote_tool")
if not os.path.exists(TOOL):
    TOOL = os.path.join(os.path.dirname(__file__), "../../bazel-bin/tests/remote_sync/remote_tool")
SERVERS = os.path.join(ROOT, "tests/remote/servers.py")
if not os.path.exists(SERVERS):
    SERVERS = os.path.join(os.path.dirname(__file__), "../remote/servers.py")


class RealMypySync(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = subprocess.Popen(["/usr/bin/python3", SERVERS, "nginx"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cls.info = json.loads(cls.servers.stdout.readline())

    @classmethod
    def tearDownClass(cls):
        cls.servers.stdin.close()
        cls.servers.wait(timeout=20)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tc-rsync-")
        self.url = "http://127.0.0.1:%d/dav/%s/" % (self.info["nginx"]["port"], self.id().split(".")[-1])

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def checkout(self, where, mtime, edit_round=0):
        root = os.path.join(self.tmp, where)
        write_package(root, 0, modules=8, with_error=False, chained=False, edit_round=edit_round)
        for dirpath, _, files in os.walk(root):
            for f in files:
                os.utime(os.path.join(dirpath, f), (mtime, mtime))
        return root

    def mypy(self, checkout, cache, *extra):
        r = e2e_lib.run([e2e_lib.TYPECACHE, "run", "--cache-dir", cache, "--", e2e_lib.MYPY,
                         "--sqlite-cache", *extra, os.path.join(checkout, "pkg0")], cwd=checkout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def tool(self, cmd, cache, *extra, url=None):
        r = subprocess.run([TOOL, cmd, url or self.url, "--cache-dir", cache, "--python",
                            e2e_lib.PYVER, *extra], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def record_groups(self, url_path, seq):
        """Groups named by log record `seq` of lineage main, read from nginx's directory."""
        www = self.info["nginx"]["root"]
        ns = "mypy-1.0.1_py%s_linux_1file" % e2e_lib.PYVER
        path = os.path.join(www, "dav", url_path, ns, "lin/main/log/%012d" % seq)
        with open(path) as f:
            return [line.split(" ")[1] for line in f if line.startswith("set ")]

    def rows(self, cache, like):
        db = sqlite3.connect(os.path.join(cache, e2e_lib.PYVER, "cache.db"))
        try:
            return dict(((p, (m, d)) for p, m, d in db.execute(
                "SELECT path, mtime, data FROM files WHERE path LIKE ?", (like,))))
        finally:
            db.close()

    def test_checkouts_at_other_paths_share_groups(self):
        a, cache_a = self.checkout("a/proj", 1600000000), os.path.join(self.tmp, "cache-a")
        b, cache_b = self.checkout("b/x/y/proj", 1650000000), os.path.join(self.tmp, "cache-b")
        self.mypy(a, cache_a)
        self.mypy(b, cache_b)
        pushed_a = self.tool("push", cache_a)
        self.assertGreater(pushed_a["groups_pushed"], 40)
        # B checked the same source elsewhere: none of its own package's groups differ.
        pushed_b = self.tool("push", cache_b)
        test_path = self.url.split("/dav/")[1]
        own = [g for g in self.record_groups(test_path, 2) if ":pkg0/" in g] \
            if pushed_b["records_appended"] else []
        self.assertEqual(own, [], "normalised digests equal across checkouts")
        self.assertLessEqual(pushed_b["groups_pushed"], 2, pushed_b)  # builtins may differ
        # Without normalisation every pkg0 group would differ (the reason it exists).
        raw_url = self.url.rstrip("/") + "-raw/"
        self.tool("push", cache_a, "--no-normalize", url=raw_url)
        raw_b = self.tool("push", cache_b, "--no-normalize", url=raw_url)
        self.assertGreaterEqual(raw_b["groups_pushed"], 9, raw_b)

    def test_cold_machine_pulls_and_mypy_trusts_it(self):
        a, cache_a = self.checkout("a/proj", 1600000000), os.path.join(self.tmp, "cache-a")
        self.mypy(a, cache_a)
        self.tool("push", cache_a)
        c, cache_c = self.checkout("c/deep/proj", 1700000000), os.path.join(self.tmp, "cache-c")
        cold = self.tool("pull", cache_c)
        self.assertGreater(cold["groups_applied"], 40)
        data_before = self.rows(cache_c, "pkg0/%.data.json")
        self.assertEqual(len(data_before), 9)
        r = self.mypy(c, cache_c, "-v")
        self.assertNotIn("Metadata abandoned for pkg0", r.stderr)
        for m in range(8):
            self.assertIn("Updating mtime for pkg0.mod%d" % m, r.stderr)
        self.assertEqual(self.rows(cache_c, "pkg0/%.data.json"), data_before,
                         "mypy did not recheck: data rows as pulled")
        # A edits one module; C, one commit behind, transfers only that.
        a2 = self.checkout("a/proj", 1600000100, edit_round=3)
        self.assertEqual(a2, a)
        self.mypy(a, cache_a)
        pushed = self.tool("push", cache_a)
        self.assertEqual(pushed["groups_pushed"], 1, pushed)
        warm = self.tool("pull", cache_c)
        self.assertEqual(warm["counters"]["hits"], 1, warm)
        self.assertLess(warm["counters"]["bytes_down"] * 20, cold["counters"]["bytes_down"], warm)
        mod3 = self.rows(cache_c, "pkg0/mod3.data.json")
        self.assertIn("edited_3", list(mod3.values())[0][1])


if __name__ == "__main__":
    unittest.main()
