"""pre-commit end to end: Debian's pre-commit runs this repository's typecache-mypy hook
(.pre-commit-hooks.yaml) on a sample git repository, several hook processes at once (pre-commit
partitions the files across processes, and three pre-commit runs go concurrently), against one
shared cache. Asserts 0 lost module groups against running the same checks one after another,
and a fully warm follow-up run (mypy, verbose through its user config, rechecks no module; every
hook run fails as before, on its package's deliberate error)."""

import os
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class PreCommitTest(tc.E2ETestCase):

    def test_parallel_hooks_share_one_cache(self):
        if not shutil.which("pre-commit"):
            self.skipTest("pre-commit is not installed (tools/install-deps installs it)")
        with open(os.path.join(ROOT, ".pre-commit-hooks.yaml")) as f:
            hook = yaml.safe_load(f)[0]
        repo = os.path.join(self.work, "repo")
        # Modules import only the standard library: pre-commit splits a hook's files across
        # processes, and a module checked by two partitions would be rewritten by mypy itself.
        pkgs = [tc.write_package(repo, i, modules=8, chained=False) for i in range(3)]
        shared = os.path.join(self.work, "shared-cache")
        bindir = os.path.join(self.work, "bin")
        os.makedirs(bindir)
        os.symlink(tc.TYPECACHE, os.path.join(bindir, "typecache"))
        hooks = []
        for p in pkgs:
            h = dict(hook)
            h["id"] = "%s-%s" % (hook["id"], p)
            h["files"] = "^%s/" % p
            # Every partition imports the package's __init__; keeping it out of the file lists
            # gives it the same role (an ancestor, not a listed source) in all of them.
            h["exclude"] = "__init__\\.py$"
            hooks.append(h)
        with open(os.path.join(repo, ".pre-commit-config.yaml"), "w") as f:
            yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}, f)
        env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                   TYPECACHE_DIR=shared, PRE_COMMIT_HOME=os.path.join(self.work, "pc-home"),
                   GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid", HOME=self.work)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
            subprocess.run(cmd, cwd=repo, env=env, check=True)

        # Reference: the same three checks one after another, plain mypy, one cache.
        ref = os.path.join(self.work, "ref-cache")
        for p in pkgs:
            files = sorted(os.path.join(p, f) for f in os.listdir(os.path.join(repo, p)))
            tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", ref] + hook["args"] + files, repo)

        def hook_runs():
            procs = [subprocess.Popen(["pre-commit", "run", h["id"], "--all-files"], cwd=repo,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for h in hooks]
            outs = [p.communicate(timeout=600)[0] for p in procs]
            for p, out in zip(procs, outs):
                self.assertEqual(p.returncode, 1, out[-3000:])  # the hook failed ...
                self.assertIn("Failed", out)  # ... on the package's deliberate type error
                self.assertIn("error: Incompatible types", out)
                self.assertNotIn("INTERNAL ERROR", out)
                self.assertNotIn("database is locked", out)
                self.assertNotIn("typecache: warning", out)
            return outs

        hook_runs()
        self.assert_nothing_lost(ref, shared)
        before = tc.rows(shared)
        # The follow-up, with mypy verbose (-v through its user config in HOME; the hook's
        # arguments stay as they are).
        os.makedirs(os.path.join(self.work, ".config", "mypy"))
        with open(os.path.join(self.work, ".config", "mypy", "config"), "w") as f:
            f.write("[mypy]\nverbosity = 1\n")
        outs = hook_runs()
        for out in outs:
            self.assert_warm(out)
        self.assert_warm(outs[0], before, tc.rows(shared))


if __name__ == "__main__":
    tc.main()
