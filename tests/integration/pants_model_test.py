"""Pants' process model, reproduced against typecache (Pants cannot be installed here).

Pants runs mypy per partition in a sandbox directory holding relative copies of the sources,
with the named cache reached through a symlink inside the sandbox, and passes
`--sqlite-cache --skip-cache-mtime-checks --cache-dir <sandbox path>`. The recipe in
docs/integrations.md replaces the mypy Pants runs by a wrapper script calling typecache; the
test takes the page's snippets as they are: the wrapper (pants-wrapper) is written out and run
as Pants' mypy, with a PATH holding only `typecache` and Debian 12's `python3` (no `python`), and
the environment and mypy arguments of the page's pants.toml (pants-toml).
Partitions run concurrently. Asserts 0 lost groups against running the partitions one after
another, and a fully warm follow-up (every partition again, in fresh sandboxes: mypy rechecks
no module, each exits as before)."""

import os
import shutil
import sys
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402


DOC = os.path.join(tc.ROOT, "docs", "integrations.md")


class PantsModelTest(tc.E2ETestCase):

    def setUp(self):
        super().setUp()
        snippets = tc.doc_snippets(DOC)
        pants = tomllib.loads(snippets["pants-toml"])
        self.mypy_args = pants["mypy"]["args"]
        self.env = dict(v.split("=", 1) for v in pants["subprocess-environment"]["env_vars"]["add"])
        # Debian 12: python3, and no python. The PATH Pants would give holds the wrapper's tools.
        bindir = os.path.join(self.work, "bin")
        os.makedirs(bindir)
        os.symlink(tc.TYPECACHE, os.path.join(bindir, "typecache"))
        os.symlink("/usr/bin/python3", os.path.join(bindir, "python3"))
        self.env["PATH"] = bindir
        self.wrapper = os.path.join(self.work, "mypy-through-typecache")
        with open(self.wrapper, "w") as f:
            f.write(snippets["pants-wrapper"])
        os.chmod(self.wrapper, 0o755)

    def sandbox(self, name, pkg_root, pkg, named_cache):
        box = os.path.join(self.work, "sandboxes", name)
        shutil.copytree(os.path.join(pkg_root, pkg), os.path.join(box, pkg))
        os.makedirs(os.path.join(box, ".cache"))
        os.symlink(named_cache, os.path.join(box, ".cache", "mypy_cache"))  # named cache link
        return box

    def pants_args(self, pkg):
        return (["--sqlite-cache", "--skip-cache-mtime-checks", "--cache-dir",
                 ".cache/mypy_cache_sandbox"] + self.mypy_args + ["-p", pkg])

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
                # Relative paths, as Pants gives them: TYPECACHE_DIR (pants.toml) names the
                # sandbox's symlink to the named cache.
                return tc.run([self.wrapper] + list(mypy_args) + self.pants_args(p), box,
                              env=self.env)
            results = tc.run_concurrently(partition, enumerate(pkgs))
            for r in results:  # one type error per package, no typecache trouble
                self.assertEqual((r.returncode, tc.warning_lines(r.stderr)), (1, []),
                                 r.stdout + r.stderr[-2000:])
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
