"""`typecache run` reads mypy's cache_dir as mypy does, from each kind of configuration file
(mypy.ini, .mypy.ini, pyproject.toml [tool.mypy], setup.cfg [mypy], --config-file), so it
publishes where plain mypy looks: `typecache dir` names the directory and the file:line it came
from, plain mypy -v logs the same Cache Dir and finds the shared cache warm, and a second
`typecache run` is warm too.
"""

import os
import sys
import re

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

KINDS = [
    # (name, file, text, mypy arguments before -p, expected directory, origin)
    ("mypy.ini", "mypy.ini", "[mypy]\ncache_dir = from_ini\n", [], "from_ini",
     "mypy.ini:2 [mypy] cache_dir"),
    (".mypy.ini", ".mypy.ini", "[mypy]\nstrict_optional = True\ncache_dir = from_dot_ini\n", [],
     "from_dot_ini", ".mypy.ini:3 [mypy] cache_dir"),
    ("pyproject.toml", "pyproject.toml",
     "[project]\nname = \"x\"\n\n[tool.mypy]\ncache_dir = \"from_toml\"\n", [], "from_toml",
     "pyproject.toml:5 [tool.mypy] cache_dir"),
    ("setup.cfg", "setup.cfg", "[metadata]\nname = x\n\n[mypy]\ncache_dir = from_cfg\n", [],
     "from_cfg", "setup.cfg:5 [mypy] cache_dir"),
    ("--config-file", "conf/types.ini",
     "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/from_flag_file\n",
     ["--config-file", "conf/types.ini"], "conf/from_flag_file",
     "conf/types.ini:2 [mypy] cache_dir"),
]

def module_rows(cache):
    """The cache's rows without mypy's global ones (@plugins_snapshot.json is rewritten by every
    run, warm or not)."""
    return {k: v for k, v in e.rows(cache).items() if not k[1].startswith("@")}


def log_value(stderr, name):
    m = re.search(r"^LOG:  %s: +(.*)$" % re.escape(name), stderr, re.M)
    return m.group(1) if m else None


class ConfigKindsTest(e.E2ETestCase):

    def test_cache_dir_from_each_kind_of_configuration_file(self):
        for i, (name, rel, text, args, expected, origin) in enumerate(KINDS):
            with self.subTest(kind=name):
                root = os.path.join(self.work, "kind%d" % i)
                e.write_package(root, 0, modules=3, with_error=False)
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
                cache = os.path.join(root, expected)
                mypy_args = args + ["-p", "pkg0"]

                where = e.run([e.TYPECACHE, "dir", "--"] + [e.MYPY] + mypy_args, root)
                self.assertEqual(where.returncode, 0, where.stderr)
                self.assertEqual(where.stdout.strip(), cache)
                self.assertIn(origin, where.stderr)

                first = e.run([e.TYPECACHE, "run", "-v", "--", e.MYPY] + mypy_args, root)
                self.assertEqual(first.returncode, 0, first.stderr[-3000:])
                self.assertIn("typecache: cache: %s (%s)" % (cache, origin), first.stderr)
                self.assertTrue(os.path.islink(os.path.join(cache, e.PYVER)), first.stderr)
                rows = module_rows(cache)
                self.assertTrue(any(p.startswith("pkg0/") for (_, p) in rows))
                self.assertFalse(os.path.exists(os.path.join(root, ".mypy_cache")))

                # Plain mypy, reading its own configuration, looks in the same place and finds
                # the shared cache warm.
                plain = e.run([e.MYPY, "-v", "--sqlite-cache"] + mypy_args, root)
                self.assertEqual(plain.returncode, 0, plain.stderr[-3000:])
                self.assertEqual(os.path.normpath(os.path.join(root, log_value(plain.stderr,
                                                                               "Cache Dir"))),
                                 cache)
                self.assert_warm(plain.stderr)
                self.assertIn("Metadata fresh for pkg0.mod2", plain.stderr)

                second = e.run([e.TYPECACHE, "run", "--", e.MYPY, "-v"] + mypy_args, root)
                self.assertEqual(second.returncode, 0, second.stderr[-3000:])
                self.assert_warm(second.stderr, rows, module_rows(cache))

    def test_typecache_cache_dir_wins_and_config_shows_where_it_came_from(self):
        root = os.path.join(self.work, "p")
        e.write_package(root, 0, modules=2, with_error=False)
        with open(os.path.join(root, "mypy.ini"), "w") as f:
            f.write("[mypy]\ncache_dir = from_ini\n")
        r = e.run([e.TYPECACHE, "config", "--json"], root)
        self.assertEqual(r.returncode, 0, r.stderr)
        import json
        doc = json.loads(r.stdout)
        self.assertEqual(doc["cache_dir"], os.path.join(root, "from_ini"))
        self.assertEqual(doc["cache_dir_origin"], "mypy.ini:2 [mypy] cache_dir")
        r = e.run([e.TYPECACHE, "config"], root)
        self.assertIn("cache_dir = %s    (mypy.ini:2 [mypy] cache_dir)"
                      % os.path.join(root, "from_ini"), r.stdout)
        r = e.run([e.TYPECACHE, "dir"], root, env={"TYPECACHE_DIR": os.path.join(root, "tc")})
        self.assertEqual(r.stdout.strip(), os.path.join(root, "tc"))
        self.assertIn("TYPECACHE_DIR", r.stderr)
        r = e.run([e.TYPECACHE, "dir", "--", e.MYPY, "--cache-dir", "flag_dir"], root,
                  env={"MYPY_CACHE_DIR": os.path.join(root, "env_dir")})
        self.assertEqual(r.stdout.strip(), os.path.join(root, "flag_dir"))
        self.assertIn("mypy's --cache-dir", r.stderr)
        r = e.run([e.TYPECACHE, "dir"], root, env={"MYPY_CACHE_DIR": os.path.join(root, "env_dir")})
        self.assertEqual(r.stdout.strip(), os.path.join(root, "env_dir"))
        self.assertIn("MYPY_CACHE_DIR", r.stderr)


if __name__ == "__main__":
    e.main()
