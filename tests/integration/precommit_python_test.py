"""pre-commit with a `language: python` hook, offline: Debian's pre-commit clones a hook
repository made of this repository's packaging files (pyproject.toml with the in-tree backend,
tools/wheel, VERSION, share/), creates a virtualenv and runs `pip install .` in it, which puts
the typecache binary into the hook's environment without any download. The hook then runs
`typecache run -- mypy` on a sample repository: the shared cache fills, and a second pre-commit
run is warm and leaves the shared cache unchanged.

The hook's mypy is Debian's /usr/bin/mypy found on PATH (offline, the hook cannot list mypy in
additional_dependencies); TYPECACHE_PREBUILT_BINARY hands the backend the binary Bazel built
for this test instead of building one."""

import os
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PACKAGING = ["pyproject.toml", "VERSION", "README.md", "tools/wheel",
             "tools/pep517/typecache_build.py", "share/completions/typecache.bash",
             "share/completions/_typecache", "share/completions/typecache.fish",
             "share/man/typecache.1"]
HOOK = {
    "id": "typecache-mypy-python",
    "name": "mypy (typecache, pip-installed)",
    "entry": "typecache run -- mypy",
    "language": "python",
    "types_or": ["python", "pyi"],
    "require_serial": False,
    "args": ["--ignore-missing-imports"],
}


class PreCommitPythonTest(e.E2ETestCase):

    def git(self, cwd, *args):
        subprocess.run(["git"] + list(args), cwd=cwd, env=self.env, check=True,
                       capture_output=True)

    def test_pip_installed_hook_shares_one_cache(self):
        if not shutil.which("pre-commit"):
            self.skipTest("pre-commit is not installed (tools/install-deps installs it)")
        self.env = dict(
            os.environ, HOME=self.work, PRE_COMMIT_HOME=os.path.join(self.work, "pc-home"),
            TYPECACHE_DIR=os.path.join(self.work, "shared"), TYPECACHE_PREBUILT_BINARY=e.TYPECACHE,
            PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", VIRTUALENV_NO_DOWNLOAD="1",
            GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
            GIT_COMMITTER_EMAIL="t@example.invalid")
        self.env.pop("MYPY_CACHE_DIR", None)

        hooks_repo = os.path.join(self.work, "hooks")
        for rel in PACKAGING:
            os.makedirs(os.path.dirname(os.path.join(hooks_repo, rel)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, rel), os.path.join(hooks_repo, rel))
        with open(os.path.join(hooks_repo, ".pre-commit-hooks.yaml"), "w") as f:
            yaml.safe_dump([HOOK], f)
        self.git(hooks_repo, "init", "-q")
        self.git(hooks_repo, "add", "-A")
        self.git(hooks_repo, "commit", "-qm", "hooks")
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks_repo, capture_output=True,
                             text=True, check=True).stdout.strip()

        project = os.path.join(self.work, "project")
        pkgs = [e.write_package(project, i, modules=5, chained=False) for i in range(2)]
        with open(os.path.join(project, ".pre-commit-config.yaml"), "w") as f:
            yaml.safe_dump({"repos": [{"repo": hooks_repo, "rev": rev,
                                       "hooks": [{"id": HOOK["id"],
                                                  "exclude": "__init__\\.py$"}]}]}, f)
        self.git(project, "init", "-q")
        self.git(project, "add", "-A")
        self.git(project, "commit", "-qm", "x")

        first = subprocess.run(["pre-commit", "run", "--all-files"], cwd=project, env=self.env,
                               capture_output=True, text=True, timeout=900)
        out = first.stdout + first.stderr
        self.assertNotIn("An unexpected error has occurred", out, out[-4000:])
        self.assertIn(HOOK["name"], out, out[-4000:])
        # write_package puts one type error in each package: the hook fails, having run mypy.
        self.assertEqual(first.returncode, 1, out[-4000:])
        self.assertIn("error:", out)
        installed = [os.path.join(d, "bin", "typecache")
                     for d, _, _ in os.walk(self.env["PRE_COMMIT_HOME"])
                     if os.path.exists(os.path.join(d, "bin", "typecache"))]
        self.assertEqual(len(installed), 1, "pip did not install typecache into the hook env")

        shared = self.env["TYPECACHE_DIR"]
        filled = e.rows(shared)
        for p in pkgs:
            self.assertGreaterEqual(len([g for g in e.groups(shared) if g[3].startswith(p + "/")]),
                                    5, sorted(e.groups(shared))[:20])
        second = subprocess.run(["pre-commit", "run", "--all-files"], cwd=project, env=self.env,
                                capture_output=True, text=True, timeout=900)
        self.assertEqual(second.returncode, 1, (second.stdout + second.stderr)[-4000:])
        self.assertEqual(e.rows(shared), filled, "the warm run changed the shared cache")


if __name__ == "__main__":
    e.main()
