"""The everyday commands and conventions through the binary: clean, dir, TYPECACHE_DISABLE,
--version, --help, readable -v output, and every --json output being one valid JSON document
(also for a cache directory whose name is not UTF-8).
"""

import hashlib
import json
import os
import sys
import re
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class CommandsTest(e.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.work, "src")
        e.write_package(self.src, 0, modules=3, with_error=False)
        self.cache = os.path.join(self.src, ".mypy_cache")

    def run_mypy(self, *options, env=None):
        r = e.run([e.TYPECACHE, "run", *options, "--", e.MYPY, "-p", "pkg0"], self.src, env=env)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return r

    def test_clean(self):
        self.run_mypy()
        with open(os.path.join(self.cache, "typecache.conf"), "w") as f:
            f.write("max_size = 2G\n")
        rows = e.rows(self.cache)
        self.assertTrue(rows)
        dry = e.run([e.TYPECACHE, "clean", "--dry-run"], self.src)
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("would remove %s\n" % os.path.join(self.cache, e.PYVER), dry.stdout)
        self.assertRegex(dry.stdout, r"would clean %s: \d+ entries, [\d.]+ (KiB|MiB)\n"
                         % re.escape(self.cache))
        self.assertEqual(e.rows(self.cache), rows)
        r = e.run([e.TYPECACHE, "clean"], self.src)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^cleaned %s: \d+ entries, [\d.]+ (KiB|MiB)\n$"
                         % re.escape(self.cache))
        self.assertEqual(e.rows(self.cache), {})
        self.assertEqual(sorted(os.listdir(self.cache)),
                         [".gitignore", ".typecache", "CACHEDIR.TAG", "typecache.conf"])
        # Kept state: the lock, the counters, the checker version the latest run recorded.
        self.assertLessEqual(set(os.listdir(os.path.join(self.cache, ".typecache"))),
                             {"lock", "runs", "stats", "stats.lock", "checker-version"})
        # The counters stay (like ccache -C); the next run starts cold and refills the cache.
        stats = json.loads(e.run([e.TYPECACHE, "stats", "--json"], self.src).stdout)
        self.assertEqual(stats["counters"]["runs"], 1)
        r = self.run_mypy("-v")
        self.assertIn("snapshot: the shared cache is empty", r.stderr)
        self.assertEqual(set(e.rows(self.cache)), set(rows))
        # A plain mypy cache (a real directory) goes too.
        plain = os.path.join(self.work, "plain")
        e.run([e.MYPY, "--cache-dir", plain, "-p", "pkg0"], self.src)
        self.assertTrue(os.path.isdir(os.path.join(plain, e.PYVER)))
        r = e.run([e.TYPECACHE, "clean", plain], self.src)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(plain, e.PYVER)))
        r = e.run([e.TYPECACHE, "clean", os.path.join(self.work, "none")], self.src)
        self.assertEqual((r.returncode, r.stdout.startswith("nothing to clean")), (0, True))

    def test_dir(self):
        r = e.run([e.TYPECACHE, "dir"], self.src)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, self.cache + "\n")
        self.assertEqual(r.stderr, "typecache: chosen by mypy's default, .mypy_cache\n")
        r = e.run([e.TYPECACHE, "dir", "--json", "--", e.MYPY, "--cache-dir", "x"], self.src)
        self.assertEqual(json.loads(r.stdout), {"cache_dir": os.path.join(self.src, "x"),
                                                "origin": "mypy's --cache-dir"})

    def test_disable_runs_the_command_unchanged(self):
        echo = ["sh", "-c", "echo dir=$MYPY_CACHE_DIR"]
        r = e.run([e.TYPECACHE, "run", "-v", "--"] + echo, self.src, env={"TYPECACHE_DISABLE": "1"})
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "dir=\n")
        self.assertEqual(r.stderr,
                         "typecache: disabled (TYPECACHE_DISABLE): running the command unchanged\n")
        self.assertFalse(os.path.exists(self.cache))
        r = e.run([e.TYPECACHE, "run", "--"] + echo, self.src, env={"TYPECACHE_DISABLE": "1"})
        self.assertEqual(r.stderr, "")
        r = e.run([e.TYPECACHE, "run", "--"] + echo, self.src)
        self.assertTrue(r.stdout.startswith("dir=" + os.path.join(self.cache, ".typecache")),
                        r.stdout)

    def test_disable_never_writes_into_a_generation(self):
        # A cache in typecache's layout: <cache>/<X.Y> is a link to an immutable generation.
        self.run_mypy()
        gens = os.path.join(self.cache, ".typecache", "gens")
        self.assertTrue(os.path.islink(os.path.join(self.cache, e.PYVER)))

        def digest():
            h = hashlib.sha256()
            for dirpath, dirs, files in os.walk(gens):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(dirpath, name)
                    h.update(os.path.relpath(path, gens).encode() + b"\0")
                    with open(path, "rb") as f:
                        h.update(f.read())
            return h.hexdigest()

        before = digest()
        rows = e.rows(self.cache)
        # A changed module: mypy 1.0.1 (JSON cache by default) would write where it points.
        with open(os.path.join(self.src, "pkg0", "__init__.py"), "a") as f:
            f.write("\nCHANGED: int = 1\n")
        env = {"TYPECACHE_DISABLE": "1"}
        r = e.run([e.TYPECACHE, "run", "-v", "--", e.MYPY, "-p", "pkg0"], self.src, env=env)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(digest(), before)
        self.assertIn("disabled (TYPECACHE_DISABLE): running the command unchanged", r.stderr)
        self.assertIn("never into a generation", r.stderr)
        self.assertEqual(e.rows(self.cache), rows)
        passthrough = os.path.join(self.cache, ".typecache", "passthrough", e.PYVER)
        self.assertTrue(os.listdir(passthrough))
        # The same with mypy's cache named by its own flag, and through a launcher.
        r = e.run([e.TYPECACHE, "run", "--", "env", e.MYPY, "--cache-dir", self.cache, "-p",
                   "pkg0"], self.src, env=env)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(digest(), before)
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_merge_into_a_database_file(self):
        self.run_mypy()

        def file_rows(db):
            conn = e.connect_ro(db)
            try:
                return {k: (m, d) for k, m, d in conn.execute("SELECT path, mtime, data FROM files")}
            finally:
                conn.close()

        expected = {key: (m, d) for (_, key), (m, _, d) in e.rows(self.cache).items()}
        self.assertTrue(expected)
        # A cache directory into a new database file: the groups of its one <X.Y>.
        new = os.path.join(self.work, "new.db")
        r = self.typecache("merge", "--into", new, self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"taken from %s: [1-9]\d* groups\n" % re.escape(self.cache))
        self.assertEqual(file_rows(new), expected)
        # Into that existing file again: everything is already there.
        r = self.typecache("merge", "--into", new, self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^kept in %s: [1-9]\d* groups\ntaken from %s: 0 groups\n"
                         % (re.escape(new), re.escape(self.cache)))
        self.assertEqual(file_rows(new), expected)
        # Several <X.Y> and one database file: refused, naming the choice; nothing created.
        other = os.path.join(self.work, "two")
        for version in (e.PYVER, "3.1"):
            os.makedirs(os.path.join(other, version))
            shutil.copy(os.path.join(self.cache, e.PYVER, "cache.db"),
                        os.path.join(other, version, "cache.db"))
        two = os.path.join(self.work, "two.db")
        r = self.typecache("merge", "--into", two, other)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertRegex(r.stderr, r"^typecache: error: %s holds the caches of 3.1, %s .*name the "
                         r"one to merge, e\.g\. %s" % (re.escape(other), re.escape(e.PYVER),
                                                       re.escape(os.path.join(other, "3.1"))))
        self.assertFalse(os.path.exists(two))
        # ... unless the file is inside one of them: <dest>/<X.Y>/cache.db takes that <X.Y>.
        inside = os.path.join(self.work, "d", e.PYVER, "cache.db")
        os.makedirs(os.path.dirname(inside))
        r = self.typecache("merge", "--into", inside, other)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(file_rows(inside), expected)

    def test_version_and_help(self):
        r = self.typecache("--version")
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^typecache \d+\.\d+\.\d+")
        version_file = os.path.join(HERE, "..", "..", "VERSION")
        if os.path.exists(version_file):
            with open(version_file) as f:
                self.assertEqual(lines[0], "typecache " + f.read().strip())
        for lib in ("SQLite 3.", "Abseil LTS 20", "CLI11 2.", "nlohmann-json 3.", "toml++ 3."):
            self.assertIn(lib, lines[1])
        r = self.typecache("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("man typecache", r.stdout)
        self.assertNotIn("docs/", r.stdout)
        for name in ("run", "config", "dir", "clean", "stats", "verify", "prune", "merge",
                     "compact", "TYPECACHE_DISABLE"):
            self.assertIn(name, r.stdout)

    def test_verbose_output_is_readable(self):
        r = self.run_mypy("-v")
        notes = [l for l in r.stderr.splitlines() if l.startswith("typecache:")]
        self.assertEqual(notes[:4], [
            "typecache: checker: mypy",
            "typecache: cache: %s (mypy's default, .mypy_cache)" % self.cache,
            "typecache: snapshot: the shared cache is empty (this run starts cold)",
            "typecache: added --cache-dir=<private copy> --sqlite-cache before -p"])
        self.assertRegex(notes[4], r"^typecache: published [\d.]+ MiB: \d+ module groups written "
                         r"by this run, 0 merged from others, 0 conflicts; lock wait [\d.]+ ms, "
                         r"held [\d.]+ ms$")
        r = self.run_mypy("-v")
        self.assertNotIn(".typecache", r.stderr)
        self.assertNotIn(" bytes", r.stderr)
        self.assertRegex(r.stderr, r"typecache: snapshot: 1 database, [\d.]+ MiB, in \d+ ms")
        self.assertIn("typecache: nothing to publish: the run changed no module", r.stderr)

    def test_every_json_output_is_one_document(self):
        self.run_mypy()
        other = os.path.join(self.work, "other")
        e.shutil.copytree(self.cache, other, symlinks=True)
        outputs = {
            "stats": ["stats", "--json", self.cache],
            "stats of two": ["stats", "--json", self.cache, other],
            "stats --zero": ["stats", "--json", "--zero", self.cache],
            "verify": ["verify", "--json", self.cache],
            "verify of two": ["verify", "--json", self.cache, other],
            "prune": ["prune", "--json", "--dry-run", "--older-than", "1s", self.cache],
            "compact": ["compact", "--json", other],
            "merge": ["merge", "--json", "--into", os.path.join(self.work, "m"), other],
            "clean": ["clean", "--json", "--dry-run", other],
            "config": ["config", "--json", "--cache-dir", self.cache],
            "dir": ["dir", "--json"],
        }
        docs = {}
        for name, args in outputs.items():
            r = self.typecache(*args, cwd=self.src)
            self.assertEqual(r.returncode, 0, (name, r.stderr))
            docs[name] = json.loads(r.stdout)  # one document, or this raises
        self.assertEqual(docs["stats --zero"], {"path": self.cache, "zeroed": True})
        self.assertEqual([d["path"] for d in docs["stats of two"]], [self.cache, other])
        self.assertEqual(len(docs["verify of two"]), 2)
        self.assertGreater(docs["compact"]["size_before"], 0)
        self.assertTrue(docs["clean"]["dry_run"])
        self.assertEqual(docs["dir"]["cache_dir"], self.cache)

    def test_json_of_a_path_that_is_not_utf8(self):
        odd = os.path.join(os.fsencode(self.work), b"caf\xe9-\xff")
        os.makedirs(odd)
        r = e.subprocess.run([os.fsencode(e.TYPECACHE), b"run", b"--cache-dir", odd, b"--",
                              os.fsencode(e.MYPY), b"-p", b"pkg0"], cwd=self.src,
                             capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = e.subprocess.run([os.fsencode(e.TYPECACHE), b"stats", b"--json", odd],
                             capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(all(b < 0x80 for b in r.stdout), "the JSON is ASCII")
        doc = json.loads(r.stdout)
        self.assertEqual(doc["path"], os.fsdecode(self.work) + "/caf\u00e9-\u00ff")
        self.assertIn(b"caf\\u00e9-\\u00ff", r.stdout)


if __name__ == "__main__":
    e.main()
