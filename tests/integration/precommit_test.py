"""pre-commit end to end. First the config docs/integrations.md shows (its precommit-config
snippet), as written but for `repo:` (a temporary git repository holding this checkout's
.pre-commit-hooks.yaml) and `rev:` (that repository's commit): pre-commit clones it at that
commit and runs the hook, which fills the shared cache.

Then Debian's pre-commit runs this repository's typecache-mypy hook
(.pre-commit-hooks.yaml) on a sample git repository, several hook processes at once (pre-commit
partitions the files across processes, and three pre-commit runs go concurrently), against one
shared cache. Asserts 0 lost module groups against running the same checks one after another,
and a fully warm follow-up run (mypy, verbose through its user config, rechecks no module; every
hook run fails as before, on its package's deliberate error)."""

import os
import re
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class PreCommitTest(tc.E2ETestCase):

    def env_with_typecache(self):
        bindir = os.path.join(self.work, "bin")
        os.makedirs(bindir, exist_ok=True)
        if not os.path.exists(os.path.join(bindir, "typecache")):
            os.symlink(tc.TYPECACHE, os.path.join(bindir, "typecache"))
        return dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                    TYPECACHE_DIR=os.path.join(self.work, "shared-cache"),
                    PRE_COMMIT_HOME=os.path.join(self.work, "pc-home"),
                    GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                    GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
                    HOME=self.work)

    def test_documented_config_runs_the_hook_by_commit(self):
        if not shutil.which("pre-commit"):
            self.skipTest("pre-commit is not installed (tools/install-deps installs it)")
        env = self.env_with_typecache()
        env.pop("MYPY_CACHE_DIR", None)
        git = lambda cwd, *a: subprocess.run(["git"] + list(a), cwd=cwd, env=env, check=True,
                                             capture_output=True, text=True).stdout.strip()
        # This repository's hooks, committed: what a clone of it offers pre-commit.
        hooks = os.path.join(self.work, "typecache-clone")
        os.makedirs(hooks)
        shutil.copy(os.path.join(ROOT, ".pre-commit-hooks.yaml"), hooks)
        git(hooks, "init", "-q")
        git(hooks, "add", "-A")
        git(hooks, "commit", "-qm", "hooks")
        rev = git(hooks, "rev-parse", "HEAD")
        config = tc.doc_snippets(os.path.join(ROOT, "docs", "integrations.md"))["precommit-config"]
        # The two values the page says to change, each on its own line.
        config, repos = re.subn(r"(?m)^(\s*- repo:) \S+", r"\1 " + hooks, config)
        config, revs = re.subn(r"(?m)^(\s*rev:) \S+", r"\1 " + rev, config)
        self.assertEqual((repos, revs), (1, 1), "the snippet's repo:/rev: lines moved")
        repo = os.path.join(self.work, "project")
        pkgs = [tc.write_package(repo, i, modules=4, chained=False) for i in range(2)]
        with open(os.path.join(repo, ".pre-commit-config.yaml"), "w") as f:
            f.write(config)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "x")
        r = subprocess.run(["pre-commit", "run", "--all-files"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        self.assertNotIn("An unexpected error has occurred", out, out[-3000:])
        self.assertNotIn("InvalidConfigError", out, out[-3000:])
        # The hook ran mypy through typecache: it failed on each package's deliberate error ...
        self.assertEqual(r.returncode, 1, out[-3000:])
        self.assertIn("mypy (typecache shared cache)", out)
        self.assertIn("error: Incompatible types", out)
        self.assertNotIn("typecache: warning", out)
        # ... and the shared cache holds every module it checked (the snippet's exclude kept
        # the packages' __init__.py out of the file list; they are followed as imports).
        shared = env["TYPECACHE_DIR"]
        for p in pkgs:
            self.assertGreaterEqual(
                len([g for g in tc.groups(shared) if g[3].startswith(p + "/")]), 4,
                sorted(tc.groups(shared))[:20])

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
