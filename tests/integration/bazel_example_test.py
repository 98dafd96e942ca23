"""The Bazel integration as docs/integrations.md documents it, built with Debian's Bazel and mypy.

A new workspace is made of the page's snippets, as they are (bazel-workspace as WORKSPACE,
bazel-bazelrc as .bazelrc, bazel-build as service/BUILD.bazel), with only the two paths the page
says to change replaced (/path/to/typecache: this checkout; /var/cache/mypy-shared: a shared
cache of the test's own), plus the four packages of examples/bazel with their BUILD file.
`bazel test //...` then runs five typecache_mypy_test targets in parallel against the one
shared cache. Asserts every target passed (the documented one included), 0 module groups lost
against running the four example checks one after another with plain mypy, and that a second
`bazel test` is fully warm (mypy, made verbose through its user config, rechecks no module in
any target; the rows are unchanged).

The workspace lives at a fixed path outside the checkout (rewritten from scratch on every run),
so Bazel's output base, and the build of typecache in it, is reused from one run to the next.
Runs Bazel itself, so it is not a `bazel test` target: tools/test runs it.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

EXAMPLE = os.path.join(tc.ROOT, "examples", "bazel")
DOC = os.path.join(tc.ROOT, "docs", "integrations.md")
EXAMPLE_TARGETS = ["pkg%d_typecheck" % i for i in range(4)]
DOC_TARGET = os.path.join("service", "app_typecheck")
# Where the page says to put your own paths.
CHECKOUT_PLACEHOLDER = "/path/to/typecache"
CACHE_PLACEHOLDER = "/var/cache/mypy-shared"
# A fixed place per checkout: the same workspace path keeps the same output base.
WORKSPACE = os.path.join(tempfile.gettempdir(), "typecache-docws-%s" % hashlib.sha1(
    tc.ROOT.encode()).hexdigest()[:10])
SHARED_CACHE = WORKSPACE + "-cache"

APP = {
    "__init__.py": '"""The documented package."""\n',
    "names.py": "def greeting(name: str) -> str:\n    return 'hello ' + name\n",
    "main.py": ("from app.names import greeting\n\n\n"
                "def run(names: list[str]) -> list[str]:\n"
                "    return [greeting(n) for n in names]\n"),
}


class BazelExampleTest(tc.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.ws, self.cache = WORKSPACE, SHARED_CACHE
        for d in (self.ws, self.cache):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(self.cache)  # --sandbox_writable_path needs an existing path
        snippets = tc.doc_snippets(DOC)
        for name in ("bazel-workspace", "bazel-bazelrc", "bazel-build"):
            self.assertIn(name, snippets, "%s lost its %s snippet" % (DOC, name))
        # The example's packages and BUILD file, then the page's three files.
        shutil.copytree(EXAMPLE, self.ws, ignore=shutil.ignore_patterns(
            "bazel-*", "WORKSPACE", ".bazelrc"))
        self.write("WORKSPACE", snippets["bazel-workspace"].replace(CHECKOUT_PLACEHOLDER,
                                                                     tc.ROOT))
        self.write(".bazelrc", snippets["bazel-bazelrc"].replace(CACHE_PLACEHOLDER, self.cache))
        self.write(os.path.join("service", "BUILD.bazel"), snippets["bazel-build"])
        for name, text in APP.items():
            self.write(os.path.join("service", "app", name), text)

    def tearDown(self):
        subprocess.run(["bazel", "shutdown"], cwd=self.ws, capture_output=True, timeout=300)
        for d in (self.ws, self.cache):
            shutil.rmtree(d, ignore_errors=True)
        super().tearDown()

    def write(self, rel, text):
        path = os.path.join(self.ws, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def bazel_test(self, *flags):
        # Only the page's .bazelrc says where the cache is and that it is writable.
        r = subprocess.run(["bazel", "test", "//...", "--jobs=4", "--nocache_test_results"]
                           + list(flags), cwd=self.ws, capture_output=True, text=True,
                           timeout=3600)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        testlogs = subprocess.run(["bazel", "info", "bazel-testlogs"], cwd=self.ws,
                                  capture_output=True, text=True, check=True).stdout.strip()
        logs = {}
        for target in EXAMPLE_TARGETS + [DOC_TARGET]:
            with open(os.path.join(testlogs, target, "test.log"), errors="replace") as f:
                logs[target] = f.read()
        self.assertIn("Success: no issues found", logs[DOC_TARGET])
        self.assertNotIn("checking cold", "".join(logs.values()))  # the .bazelrc's cache was used
        return logs

    def test_documented_workspace_shares_one_cache(self):
        self.bazel_test()
        # Reference: the four example checks, one after another, plain mypy.
        ref = os.path.join(self.work, "ref")
        for i in range(4):
            pkg = os.path.join(EXAMPLE, "pkg%d" % i)
            files = [os.path.join("pkg%d" % i, f) for f in sorted(os.listdir(pkg))
                     if f.endswith(".py")]
            tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", ref, "--ignore-missing-imports"]
                   + files, EXAMPLE)
        self.assert_nothing_lost(ref, self.cache)
        held = {g[3] for g in tc.groups(self.cache)}
        self.assertLessEqual({"app/main", "app/names"}, held,
                             "the documented target's modules are not in the shared cache")
        # The follow-up, with mypy verbose through its user config (the targets stay as they are).
        config = os.path.join(self.work, "config")
        os.makedirs(os.path.join(config, "mypy"))
        with open(os.path.join(config, "mypy", "config"), "w") as f:
            f.write("[mypy]\nverbosity = 1\n")
        before = tc.rows(self.cache)
        logs = self.bazel_test("--test_env=XDG_CONFIG_HOME=" + config)
        for target in EXAMPLE_TARGETS:
            self.assert_warm(logs[target])
        self.assert_warm(logs[EXAMPLE_TARGETS[0]], before, tc.rows(self.cache))


if __name__ == "__main__":
    tc.main()
