"""Pants' process model, reproduced against typecache (Pants cannot be installed here).

Pants runs mypy per partition in a sandbox directory holding relative copies of the sources,
with the named cache reached through a symlink inside the sandbox, and passes
`--sqlite-cache --skip-cache-mtime-checks --cache-dir <sandbox path>`. The recipe in
docs/integrations.md replaces Pants' copy-and-move runner with
`typecache run --cache-dir <named cache symlink> -- mypy <Pants' args>`.
Partitions run concurrently. Asserts 0 lost groups against running the partitions one after
another, and a fully warm follow-up (every partition again, in fresh sandboxes: mypy rechecks
no module, each exits as before)."""

import concurrent.futures
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402


class PantsModelTest(tc.E2ETestCase):

    def sandbox(self, name, pkg_root, pkg, named_cache):
        box = os.path.join(self.work, "sandboxes", name)
        shutil.copytree(os.path.join(pkg_root, pkg), os.path.join(box, pkg))
        os.makedirs(os.path.join(box, ".cache"))
        os.symlink(named_cache, os.path.join(box, ".cache", "mypy_cache"))  # named cache link
        return box

    def pants_args(self, pkg):
        return ["--sqlite-cache", "--skip-cache-mtime-checks", "--cache-dir",
                ".cache/mypy_cache_sandbox", "--ignore-missing-imports", "-p", pkg]

    def test_concurrent_partitions_share_the_named_cache(self):
        src = os.path.join(self.work, "src")
        pkgs = [tc.write_package(src, i) for i in range(6)]
        named = os.path.join(self.work, "named_caches", "mypy_cache")
        os.makedirs(named)
        ref = os.path.join(self.work, "ref")
        for p in pkgs:
            tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", ref, "--ignore-missing-imports",
                    "-p", p], src)

        def partitions(*mypy_args):
            def partition(args):
                i, p = args
                box = self.sandbox("p%d" % i, src, p, named)
                # Relative paths, as Pants gives them: the cache dir is the sandbox's symlink.
                return tc.run([tc.TYPECACHE, "run", "--cache-dir", ".cache/mypy_cache", "--",
                               tc.MYPY] + list(mypy_args) + self.pants_args(p), box)
            with concurrent.futures.ThreadPoolExecutor(len(pkgs)) as pool:
                results = list(pool.map(partition, enumerate(pkgs)))
            for r in results:
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr[-2000:])  # one error each
                self.assertNotIn("typecache: warning", r.stderr)
            return results

        partitions()
        self.assert_nothing_lost(ref, named)
        before = tc.rows(named)
        shutil.rmtree(os.path.join(self.work, "sandboxes"))
        warm = partitions("-v")
        after = tc.rows(named)
        for r in warm:
            self.assert_warm(r.stderr + r.stdout)
        self.assert_warm(warm[0].stderr + warm[0].stdout, before, after)


if __name__ == "__main__":
    tc.main()
