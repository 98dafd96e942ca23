"""Pants' process model, reproduced against typecache (Pants cannot be installed here).

Pants runs mypy per partition in a sandbox directory holding relative copies of the sources,
with the named cache reached through a symlink inside the sandbox, and passes
`--sqlite-cache --skip-cache-mtime-checks --cache-dir <sandbox path>`. The recipe in
docs/integrations.md replaces Pants' copy-and-move runner with
`typecache run --cache-dir <named cache symlink> -- mypy <Pants' args>`.
Partitions run concurrently. Asserts 0 lost groups against running the partitions one after
another, and a fully warm follow-up."""

import concurrent.futures
import os
import shutil

import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_lib as e  # noqa: E402


class PantsModelTest(e.E2ETestCase):

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
        pkgs = [e.write_package(src, i) for i in range(6)]
        named = os.path.join(self.work, "named_caches", "mypy_cache")
        os.makedirs(named)
        ref = os.path.join(self.work, "ref")
        for p in pkgs:
            e.run([e.MYPY, "--sqlite-cache", "--cache-dir", ref, "--ignore-missing-imports",
                   "-p", p], src)
        reference = e.groups(ref)

        def partition(args):
            i, p = args
            box = self.sandbox("p%d" % i, src, p, named)
            # Relative paths, as Pants gives them: the cache dir is the sandbox's symlink.
            return e.run([e.TYPECACHE, "run", "--cache-dir", ".cache/mypy_cache", "--", e.MYPY]
                         + self.pants_args(p), box)
        with concurrent.futures.ThreadPoolExecutor(len(pkgs)) as pool:
            results = list(pool.map(partition, enumerate(pkgs)))
        for r in results:
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertNotIn("warning", r.stderr)
        got = e.groups(named)
        print("reference groups %d, named cache groups %d, lost %d" % (
            len(reference), len(got), len(reference - got)))
        self.assertEqual(reference - got, set())
        self.assertEqual(set(e.integrity(named)), {"ok"})
        before = e.rows(named)
        shutil.rmtree(os.path.join(self.work, "sandboxes"))
        with concurrent.futures.ThreadPoolExecutor(len(pkgs)) as pool:
            list(pool.map(partition, enumerate(pkgs)))
        after = e.rows(named)
        rewritten = [k for k in after if not k[1].startswith("@") and before.get(k) != after[k]]
        self.assertEqual(rewritten, [])


if __name__ == "__main__":
    e.main()
