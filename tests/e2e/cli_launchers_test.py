"""`typecache run` finds mypy inside launchers and redirects its cache where mypy's own
arguments start, never handing mypy's flags to another program.

Stand-in launchers (uv, poetry, pdm, hatch, pipx: small scripts first on PATH that exec their
command as the real ones do, and fail on an option they do not know, so a flag of typecache's
given to the launcher instead of mypy fails the run) and real ones (python3 -m mypy, env,
timeout 60, nice) run Debian's mypy 1.0.1: each time the shared cache fills and the next run
is warm. Commands that hide mypy (sh -c) are redirected through MYPY_CACHE_DIR alone; dmypy
runs unchanged.
"""

import os
import sys
import stat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

# One stand-in per launcher: the options it accepts (those that take a value marked "="), how
# it finds the command (after its "run" subcommand), and what it does to the command's first
# word (hatch's "env:cmd", pipx's "mypy==1.0.1").
STAND_IN = r'''#!/usr/bin/python3
import os, sys
NAME = %(name)r
GLOBAL = %(global_opts)r
RUN = %(run_opts)r
args = sys.argv[1:]
def skip(args, opts):
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a == "--":
            break
        name = a.split("=", 1)[0]
        if name + "=" in opts:
            if "=" not in a:
                args.pop(0)
        elif name not in opts:
            sys.exit("stand-in %%s: unknown option %%s" %% (NAME, a))
    return args
args = skip(args, GLOBAL)
if not args or args.pop(0) != "run":
    sys.exit("stand-in %%s: expected 'run'" %% NAME)
args = skip(args, RUN)
if not args:
    sys.exit("stand-in %%s: no command" %% NAME)
if NAME == "hatch" and ":" in args[0]:
    args[0] = args[0].split(":", 1)[1]
if NAME == "pipx":
    args[0] = args[0].split("==", 1)[0].split("@", 1)[0]
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write("%%s %%s\n" %% (NAME, " ".join(args)))
os.execvp(args[0], args)
'''

LAUNCHERS = {
    "uv": (["-q", "--directory="], ["--with=", "--frozen", "--no-sync", "-q"]),
    "poetry": (["-q", "--no-interaction"], ["-q"]),
    "pdm": (["-v"], ["-v"]),
    "hatch": (["-e="], []),
    "pipx": ([], ["--spec="]),
}

PKG_ARGS = ["-p", "pkg0"]

# (name, argv prefix before mypy's own arguments, program the stand-ins must have run)
CASES = [
    ("uv run", ["uv", "run", "--with", "x", "--frozen", "mypy"], "uv"),
    ("uv -q run --", ["uv", "-q", "run", "--", "mypy"], "uv"),
    ("poetry run", ["poetry", "--no-interaction", "run", "mypy"], "poetry"),
    ("pdm run", ["pdm", "run", "-v", "/usr/bin/python3", "-m", "mypy"], "pdm"),
    ("hatch run env:", ["hatch", "run", "types:mypy"], "hatch"),
    ("pipx run", ["pipx", "run", "mypy==1.0.1"], "pipx"),
    ("python3 -m mypy", ["/usr/bin/python3", "-m", "mypy"], None),
    ("env", ["env", "A=1", "mypy"], None),
    ("timeout 60", ["timeout", "60", "mypy"], None),
    ("nice", ["nice", "-n", "5", "mypy"], None),
    ("chain", ["env", "B=2", "timeout", "-s", "TERM", "60", "nice", "uv", "run", "mypy"], "uv"),
]

class LauncherTest(e.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.bin = os.path.join(self.work, "bin")
        os.makedirs(self.bin)
        for name, (global_opts, run_opts) in LAUNCHERS.items():
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(STAND_IN % {"name": name, "global_opts": global_opts,
                                    "run_opts": run_opts})
            os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
        self.log = os.path.join(self.work, "stand-ins.log")
        self.env = {"PATH": self.bin + os.pathsep + os.environ["PATH"], "STAND_IN_LOG": self.log}

    def project(self, name):
        root = os.path.join(self.work, name.replace(" ", "_").replace(":", ""))
        e.write_package(root, 0, modules=3, with_error=False)
        return root

    def typecache_run(self, cwd, command, *options):
        return e.run([e.TYPECACHE, "run", *options, "--"] + command, cwd, env=self.env)

    def only_warning(self, r):
        """The one warning of a run that succeeded."""
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        warnings = [l for l in r.stderr.splitlines() if l.startswith("typecache: warning:")]
        self.assertEqual(len(warnings), 1, r.stderr[-3000:])
        return warnings[0]

    def test_each_launcher_fills_the_shared_cache_and_the_next_run_is_warm(self):
        for name, prefix, stand_in in CASES:
            with self.subTest(launcher=name):
                root = self.project(name)
                cache = os.path.join(root, ".mypy_cache")
                first = self.typecache_run(root, prefix + ["-v"] + PKG_ARGS, "-v")
                self.assertEqual(first.returncode, 0, first.stdout + first.stderr[-3000:])
                self.assertNotIn("typecache: warning", first.stderr)
                self.assertIn("typecache: added --cache-dir=<private copy> --sqlite-cache before -v",
                              first.stderr[:3000])
                self.assertTrue(os.path.islink(os.path.join(cache, e.PYVER)), first.stderr)
                rows = e.rows(cache)
                self.assertTrue(any(p.startswith("pkg0/") for (_, p) in rows), rows.keys())
                second = self.typecache_run(root, prefix + ["-v"] + PKG_ARGS, "-v")
                self.assertEqual(second.returncode, 0, second.stderr[-3000:])
                self.assert_warm(second.stderr, rows, e.rows(cache))
                self.assertTrue("Metadata fresh for pkg0.mod2" in second.stderr, second.stderr[:3000])
                if stand_in:
                    with open(self.log) as f:
                        # The stand-in got typecache's flags as mypy's, not as its own.
                        self.assertRegex(f.read(), r"(?m)^%s (\S+ -m )?mypy --cache-dir=\S+ "
                                         r"--sqlite-cache -v -p pkg0$" % stand_in)

    def test_mypy_out_of_sight_gets_the_environment_only(self):
        root = self.project("hidden")
        cache = os.path.join(root, ".mypy_cache")
        command = ["sh", "-c", "mypy " + " ".join(PKG_ARGS)]
        # mypy 1.0.1 without sqlite_cache writes JSON files: the run is not shared, and says so.
        warning = self.only_warning(self.typecache_run(root, command))
        self.assertIn("JSON files", warning)
        self.assertIn("sqlite_cache = True", warning)
        self.assertEqual(e.rows(cache), {})
        # With sqlite_cache = True in mypy's configuration, MYPY_CACHE_DIR alone is enough.
        with open(os.path.join(root, "mypy.ini"), "w") as f:
            f.write("[mypy]\nsqlite_cache = True\n")
        r = self.typecache_run(root, command, "-v")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("mypy not found in the command", r.stderr[-3000:])
        self.assertNotIn("typecache: warning", r.stderr[-3000:])
        rows = e.rows(cache)
        self.assertTrue(any(p.startswith("pkg0/") for (_, p) in rows))
        r = self.typecache_run(root, ["sh", "-c", "mypy -v " + " ".join(PKG_ARGS)])
        self.assert_warm(r.stderr, rows, e.rows(cache))
        # A configuration that turns SQLite off: the command runs unchanged, with one warning.
        with open(os.path.join(root, "mypy.ini"), "w") as f:
            f.write("[mypy]\nsqlite_cache = False\ncache_dir = json_cache\n")
        warning = self.only_warning(self.typecache_run(root, command))
        self.assertIn("mypy.ini:2", warning)
        self.assertIn("running the command unchanged", warning)
        self.assertTrue(os.path.exists(os.path.join(root, "json_cache", e.PYVER, "pkg0",
                                                    "mod2.meta.json")))

    def test_dmypy_runs_unchanged(self):
        root = self.project("daemon")
        r = self.typecache_run(root, ["dmypy", "status"], "-v")
        plain = e.run(["dmypy", "status"], root)
        self.assertEqual(r.returncode, plain.returncode, r.stderr[-3000:])
        self.assertIn("daemon", r.stderr[-3000:])
        self.assertIn("running the command unchanged", r.stderr[-3000:])
        self.assertFalse(os.path.exists(os.path.join(root, ".mypy_cache")))

    def test_launcher_options_stay_the_launchers(self):
        # uv's own --directory: mypy runs (and looks for its configuration) in that directory,
        # and the shared cache is the one mypy would use there.
        root = self.project("outer")
        inner = os.path.join(root, "inner")
        e.write_package(inner, 0, modules=3, with_error=False)
        with open(os.path.join(inner, "mypy.ini"), "w") as f:
            f.write("[mypy]\ncache_dir = inner_cache\n")
        r = self.typecache_run(root, ["uv", "--directory=inner", "run", "mypy"] + PKG_ARGS, "-v")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("cache: %s (mypy.ini:2 [mypy] cache_dir)" % os.path.join(inner, "inner_cache"),
                      r.stderr)
        self.assertTrue(e.rows(os.path.join(inner, "inner_cache")))
        self.assertFalse(os.path.exists(os.path.join(root, ".mypy_cache")))


if __name__ == "__main__":
    e.main()
