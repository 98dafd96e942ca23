"""The Pants recipe of docs/integrations.md with a remote store, in Pants' process model: remote
executors have no shared named cache, so each partition's wrapper runs
`typecache run --cache-dir .cache/mypy_cache -- mypy <Pants' args>` with TYPECACHE_REMOTE set
through [subprocess-environment]. Against a real WebDAV server (nginx, tests/remote/servers.py):
executor 1 runs every partition cold and publishes; executor 2, with its own empty named cache
and sandboxes at other absolute paths, runs every partition warm (mypy rechecks no module); a
developer machine with TYPECACHE_REMOTE_READ_ONLY=1 is warm too and the store is unchanged."""

import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402



def store_tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


class PantsRemoteTest(tc.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.servers = tc.Servers("nginx")
        cls.info = cls.servers.info

    @classmethod
    def tearDownClass(cls):
        cls.servers.stop()

    def executor(self, name, src, pkgs, env, *mypy_args):
        """Every partition on one executor: its own named cache, its own sandboxes."""
        named = os.path.join(self.work, name, "named_caches", "mypy_cache")
        os.makedirs(named)

        def partition(args):
            i, p = args
            box = os.path.join(self.work, name, "sandboxes", "p%d" % i)
            shutil.copytree(os.path.join(src, p), os.path.join(box, p))
            os.makedirs(os.path.join(box, ".cache"))
            os.symlink(named, os.path.join(box, ".cache", "mypy_cache"))
            full = dict(os.environ, TYPECACHE_CONFIG="", HOME=os.path.join(self.work, "home"))
            full.update(env)
            return tc.run([tc.TYPECACHE, "run", "--cache-dir", ".cache/mypy_cache", "--", tc.MYPY]
                          + list(mypy_args) + ["--sqlite-cache", "--skip-cache-mtime-checks",
                                               "--cache-dir", ".cache/mypy_cache_sandbox",
                                               "--ignore-missing-imports", "-p", p],
                          box, env=full)
        results = tc.run_concurrently(partition, enumerate(pkgs))
        for r in results:  # one type error per package, no typecache trouble
            self.assertEqual((r.returncode, tc.warning_lines(r.stderr)), (1, []),
                             r.stdout + r.stderr[-2000:])
        return results

    def test_executors_without_a_shared_named_cache_share_the_store(self):
        src = os.path.join(self.work, "src")
        pkgs = [tc.write_package(src, i) for i in range(4)]
        url = "http://127.0.0.1:%d/dav/pants/" % self.info["nginx"]["port"]
        store = os.path.join(self.info["nginx"]["root"], "dav", "pants")
        self.executor("executor-1", src, pkgs, {"TYPECACHE_REMOTE": url})
        self.assertGreater(len(store_tree(store)), 20)
        warm = self.executor("executor-2", src, pkgs, {"TYPECACHE_REMOTE": url}, "-v")
        for r in warm:
            self.assert_warm(r.stderr + r.stdout)
        # A developer who edited pkg0 (mypy rechecks and writes it): read-only pulls the rest
        # and writes nothing to the store.
        before = store_tree(store)
        dev_src = os.path.join(self.work, "dev-src")
        shutil.copytree(src, dev_src)
        with open(os.path.join(dev_src, "pkg0", "mod1.py"), "a") as f:
            f.write("\n\ndef added() -> int:\n    return 1\n")
        dev = self.executor("developer", dev_src, pkgs,
                            {"TYPECACHE_REMOTE": url, "TYPECACHE_REMOTE_READ_ONLY": "1"}, "-v")
        self.assertRegex(dev[0].stderr, r"LOG:\s+Writing pkg0.mod1 ")
        for r in dev[1:]:
            self.assert_warm(r.stderr + r.stdout)
        self.assertEqual(store_tree(store), before, "read-only wrote to the store")


if __name__ == "__main__":
    tc.main()
