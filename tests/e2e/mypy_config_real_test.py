"""The mypy configuration library (src/checker/mypy/mypy_config.h) against the real mypy 1.0.1.

For each case a temporary project gets a configuration (mypy.ini, pyproject.toml, setup.cfg,
user config files, flags, MYPY_CACHE_DIR, ...); Debian's real mypy runs there with -v, and the
test compares what mypy did (its "Config File:" and "Cache Dir:" log lines, the one directory
where a cache appeared on disk, whether it is SQLite, whether a second run read it) with what
the library says through the test-only mypy_config_probe binary.

Where mypy 1.0.1 only prints an error and carries on (a malformed file, a key that is not a
boolean), the library reports an error instead: those cases are listed in KNOWN_DIFFERENCES and
checked to be errors on the library's side and complaints on mypy's.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # Debian's mypy 1.0.1 runs on it.
PYVER = subprocess.run([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                       capture_output=True, text=True, check=True).stdout.strip()


def probe_binary():
    for candidate in (
        os.environ.get("MYPY_CONFIG_PROBE", ""),
        os.path.join(os.environ.get("TEST_SRCDIR", ""),
                     "typecache/src/checker/mypy/mypy_config_probe"),
        os.path.join(HERE, "../../bazel-bin/src/checker/mypy/mypy_config_probe"),
    ):
        if candidate and os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise RuntimeError("build //src/checker/mypy:mypy_config_probe or set MYPY_CONFIG_PROBE")


PROBE = probe_binary()

# name: (files, args, env, cwd below the project, check a second run's cache reads)
# Paths in files and env: "{P}" is the project, "{H}" the home directory, "{R}" the root.
CASES = {
    "no_config": ({}, [], {}, "", True),
    "mypy_ini": ({"mypy.ini": "[mypy]\ncache_dir = build/mc\nsqlite_cache = True\n"}, [], {},
                 "", False),
    "dot_mypy_ini": ({".mypy.ini": "[mypy]\ncache_dir = dotc\nincremental = off\n"}, [], {}, "",
                     True),
    "pyproject": ({"pyproject.toml": "[project]\nname = 'x'\n[tool.mypy]\n"
                                     "cache_dir = 'tc'\nsqlite_cache = true\n"}, [], {}, "", False),
    "pyproject_without_tool_mypy": ({"pyproject.toml": "[tool.black]\nline-length = 1\n",
                                     "setup.cfg": "[mypy]\ncache_dir = from-setup\n"}, [], {}, "",
                                    False),
    "setup_cfg_without_mypy_section": ({"setup.cfg": "[metadata]\nname = x\n",
                                        "{H}/.mypy.ini": "[mypy]\ncache_dir = user-ini\n"}, [], {},
                                       "", False),
    "setup_cfg_with_mypy": ({"setup.cfg": "[metadata]\nname = x\n[mypy]\ncache_dir = sc\n"
                                          "sqlite_cache = 1\n"}, [], {}, "", False),
    "mypy_ini_without_section_wins": ({"mypy.ini": "[other]\nx = 1\n",
                                       "setup.cfg": "[mypy]\ncache_dir = sc\n"}, [], {}, "",
                                      False),
    "file_order": ({"mypy.ini": "[mypy]\ncache_dir = one\n", ".mypy.ini": "[mypy]\ncache_dir = 2\n",
                    "pyproject.toml": "[tool.mypy]\ncache_dir = '3'\n",
                    "setup.cfg": "[mypy]\ncache_dir = 4\n"}, [], {}, "", False),
    "config_file_flag": ({"mypy.ini": "[mypy]\ncache_dir = dflt\n",
                          "conf/other.ini": "[mypy]\ncache_dir = other\nsqlite_cache = yes\n"},
                         ["--config-file", "conf/other.ini"], {}, "", False),
    "config_file_empty_means_none": ({"mypy.ini": "[mypy]\ncache_dir = dflt\n"},
                                     ["--config-file="], {}, "", False),
    "config_file_setup_cfg_by_name": ({"setup.cfg": "[metadata]\n",
                                       "{H}/.mypy.ini": "[mypy]\ncache_dir = user\n"},
                                      ["--config-file", "setup.cfg"], {}, "", False),
    "config_file_dot_slash_setup_cfg": ({"setup.cfg": "[metadata]\n"},
                                        ["--config-file", "./setup.cfg"], {}, "", False),
    "user_dot_config": ({"{H}/.config/mypy/config": "[mypy]\ncache_dir = ~/uc\n"}, [], {}, "",
                        False),
    "xdg_config_home": ({"{R}/xdg/mypy/config": "[mypy]\ncache_dir = xdgc\n",
                         "{H}/.mypy.ini": "[mypy]\ncache_dir = not-this\n"}, [],
                        {"XDG_CONFIG_HOME": "{R}/xdg"}, "", False),
    "env_beats_config": ({"mypy.ini": "[mypy]\ncache_dir = cfg\n"}, [],
                         {"MYPY_CACHE_DIR": "envc"}, "", False),
    "flag_beats_env": ({"mypy.ini": "[mypy]\ncache_dir = cfg\n"}, ["--cache-dir", "flagc"],
                       {"MYPY_CACHE_DIR": "envc"}, "", False),
    "blank_env_ignored": ({"mypy.ini": "[mypy]\ncache_dir = cfg\n"}, [],
                          {"MYPY_CACHE_DIR": "  "}, "", False),
    "env_tilde_expanded": ({}, [], {"MYPY_CACHE_DIR": "~/envhome"}, "", False),
    "env_vars_not_expanded": ({}, [], {"MYPY_CACHE_DIR": "$HOME/x", "HOME": "{H}"}, "", False),
    "flag_taken_verbatim": ({}, ["--cache-dir", "~/lit"], {}, "", False),
    "flags_override_config": ({"mypy.ini": "[mypy]\nsqlite_cache = True\nincremental = False\n"},
                              ["--no-sqlite-cache", "-i"], {}, "", True),
    "no_incremental_flag": ({}, ["--no-incremental", "--sqlite-cache"], {}, "", True),
    "last_flag_wins": ({}, ["--no-sqlite-cache", "--sqlite-cache"], {}, "", False),
    "abbreviations": ({}, ["--cache-d", "abbr", "--sq", "--no-inc"], {}, "", True),
    "arg_file": ({"args.txt": "--cache-dir\nfromfile\n--sqlite-cache\n"}, ["@args.txt"], {}, "",
                 False),
    "config_vars_and_home": ({"conf/m.ini": "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/c/$NOPE\n"},
                             ["--config-file", "conf/m.ini"], {}, "", False),
    "config_tilde": ({"mypy.ini": "[mypy]\ncache_dir = ~/tilde\n"}, [], {}, "", False),
    "config_file_dir_from_subdir": ({"mypy.ini": "[mypy]\ncache_dir = $MYPY_CONFIG_FILE_DIR/c\n",
                                     "sub/keep": ""},
                                    ["--config-file", "../mypy.ini"], {}, "sub", False),
    "relative_to_cwd_not_config": ({"mypy.ini": "[mypy]\ncache_dir = rel\n", "sub/keep": ""},
                                   ["--config-file", "../mypy.ini"], {}, "sub", False),
    "ini_syntax": ({"mypy.ini": "; comment\n[mypy]\n  # indented comment\nCache_Dir : first\n"
                                "   continued\nSQLITE_CACHE=On\n"}, [], {}, "", False),
    "default_section": ({"mypy.ini": "[DEFAULT]\ncache_dir = dsec\n[mypy]\n"
                                     "no_sqlite_cache = False\n"}, [], {}, "", False),
    "per_module_section_ignored": ({"mypy.ini": "[mypy]\n[mypy-m]\ncache_dir = no\n"}, [], {}, "",
                                   False),
    "toml_inverted_and_string_bool": ({"pyproject.toml": "[tool.mypy]\nno_sqlite_cache = 'no'\n"
                                                         "incremental = 0\n"}, [], {}, "", True),
    "empty_cache_dir": ({"mypy.ini": "[mypy]\ncache_dir =\n"}, [], {}, "", False),
    "dev_null": ({}, ["--cache-dir=/dev/null"], {}, "", False),
    # Known differences: mypy prints an error and carries on; the library reports an error.
    "inline_comment_is_not_a_comment": ({"mypy.ini": "[mypy]\nsqlite_cache = True ; yes\n"}, [],
                                        {}, "", False),
    "malformed_ini_skipped_by_mypy": ({"mypy.ini": "[mypy]\njunk\n",
                                       "setup.cfg": "[mypy]\ncache_dir = after\n"}, [], {}, "",
                                      False),
    "malformed_toml_skipped_by_mypy": ({"pyproject.toml": "[tool.mypy\n",
                                        "setup.cfg": "[mypy]\ncache_dir = after\n"}, [], {}, "",
                                       False),
}

KNOWN_DIFFERENCES = {
    "inline_comment_is_not_a_comment": "mypy: 'Not a boolean' printed, key ignored",
    "malformed_ini_skipped_by_mypy": "mypy: parse error printed, next file (setup.cfg) used",
    "malformed_toml_skipped_by_mypy": "mypy: TOML error printed, next file (setup.cfg) used",
}


def cache_dirs_under(top):
    """Directories D under top where mypy wrote a cache: D/<pyver>/ holds m's entry."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if os.path.basename(dirpath) != PYVER:
            continue
        if "cache.db" in filenames:
            found[os.path.dirname(dirpath)] = "sqlite"
        elif "m.meta.json" in filenames:
            found[os.path.dirname(dirpath)] = "json"
    return found


def log_value(stderr, key):
    for line in stderr.splitlines():
        if line.startswith("LOG:  %s:" % key):
            return line.split(":", 2)[2].strip()
    return None


class MypyConfigRealTest(unittest.TestCase):

    def setUp(self):
        base = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
        self.base = tempfile.mkdtemp(dir=base)

    def tearDown(self):
        shutil.rmtree(self.base, ignore_errors=True)

    def run_case(self, name, files, args, env_extra, subdir, check_incremental):
        root = os.path.join(self.base, name)
        project = os.path.join(root, "project")
        home = os.path.join(root, "home")
        os.makedirs(project)
        os.makedirs(home)

        def fill(s):
            return s.replace("{P}", project).replace("{H}", home).replace("{R}", root)

        for rel, content in files.items():
            path = fill(rel) if rel.startswith("{") else os.path.join(project, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(content)
        with open(os.path.join(project, "m.py"), "w") as f:
            f.write("x: int = 1\n")
        cwd = os.path.join(project, subdir)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
        env.update({k: fill(v) for k, v in env_extra.items()})
        target = os.path.relpath(os.path.join(project, "m.py"), cwd)

        probe = subprocess.run([PROBE, "--cwd", cwd, "--"] + args + [target], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(probe.returncode, 0, probe.stderr)
        lib = json.loads(probe.stdout)

        mypy = subprocess.run([PYTHON, "-m", "mypy", "-v"] + args + [target], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        self.assertIn(mypy.returncode, (0, 1), mypy.stderr[-2000:])
        real_dirs = cache_dirs_under(root)

        if name in KNOWN_DIFFERENCES:
            self.assertFalse(lib["ok"], "the library should report an error: %s" % lib)
            self.assertTrue("error" in mypy.stderr.lower() or "not a boolean" in mypy.stderr.lower()
                            or ".ini" in mypy.stdout + mypy.stderr,
                            "mypy should complain: %s" % mypy.stderr[:2000])
            return "%s: library error %r; %s" % (name, lib["error"], KNOWN_DIFFERENCES[name])

        self.assertTrue(lib["ok"], lib)
        # The configuration file mypy read ("Default" when none). The final argparse pass stores
        # --config-file's value in options.config_file too, read or not (setup.cfg without
        # [mypy]); the library names the file whose settings apply.
        logged = lib["config_file"]
        for i, a in enumerate(args):
            if a == "--config-file":
                logged = args[i + 1]
            elif a.startswith("--config-file="):
                logged = a.split("=", 1)[1]
        self.assertEqual(log_value(mypy.stderr, "Config File"), logged or "Default")
        # mypy's options.cache_dir, then where the cache really is on disk.
        # (A multi-line value shows as its first line in the log.)
        self.assertEqual(log_value(mypy.stderr, "Cache Dir"),
                         lib["cache_dir_value"].split("\n")[0])
        if lib["cache_disabled"]:
            self.assertEqual(real_dirs, {})
        else:
            self.assertEqual({os.path.realpath(d) for d in real_dirs},
                             {os.path.realpath(lib["cache_dir"])}, real_dirs)
            kind = list(real_dirs.values())[0]
            self.assertEqual(kind == "sqlite", lib["sqlite_cache"], real_dirs)
        if check_incremental:
            again = subprocess.run([PYTHON, "-m", "mypy", "-v"] + args + [target], cwd=cwd,
                                   env=env, capture_output=True, text=True, timeout=300)
            read_cache = "Metadata fresh for m:" in again.stderr
            self.assertEqual(read_cache, lib["incremental"],
                             "second run read the cache: %s; library: %s" % (read_cache, lib))
        return None

    def test_library_agrees_with_real_mypy(self):
        differences = []
        only = os.environ.get("MYPY_CONFIG_CASES", "")
        for name, case in CASES.items():
            if only and name not in only.split(","):
                continue
            with self.subTest(case=name):
                note = self.run_case(name, *case)
                if note:
                    differences.append(note)
        sys.stderr.write("known differences from mypy 1.0.1:\n  %s\n" % "\n  ".join(differences))


if __name__ == "__main__":
    unittest.main()
