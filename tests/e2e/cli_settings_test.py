"""Settings trouble through the binary: a bad value in typecache.conf, the user file or a
TYPECACHE_* variable is one warning naming file:line (or the variable); that setting falls back
to its default and every other setting is kept; an unknown key is a warning; `run` never fails
because of configuration; the maintenance commands name file:line and exit 2;
TYPECACHE_CONFIG naming a missing file is a warning for run and an error for config. And
`typecache config get|set|unset`.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402


def warnings(stderr):
    return [l for l in stderr.splitlines() if l.startswith("typecache: warning:")]


def errors(stderr):
    return [l for l in stderr.splitlines() if l.startswith("typecache: error:")]


class SettingsTest(e.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.cache = os.path.join(self.work, "cache")
        os.makedirs(self.cache)
        self.conf = os.path.join(self.cache, "typecache.conf")
        self.xdg = os.path.join(self.work, "xdg")
        self.user_conf = os.path.join(self.xdg, "typecache", "typecache.conf")
        self.env = {"XDG_CONFIG_HOME": self.xdg, "HOME": os.path.join(self.work, "home")}
        for var in ("TYPECACHE_CONFIG", "TYPECACHE_PUBLISH", "TYPECACHE_LOCK_TIMEOUT",
                    "TYPECACHE_MAX_SIZE", "TYPECACHE_VERBOSE", "TYPECACHE_DISABLE"):
            self.env.setdefault(var, "")

    def tc(self, *args, env=None):
        full = dict(self.env)
        full.update(env or {})
        return self.typecache(*args, env=full)

    def write(self, path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def config_json(self, env=None):
        r = self.tc("config", "--json", "--cache-dir", self.cache, env=env)
        return r, json.loads(r.stdout)

    def test_bad_value_in_the_cache_file_is_one_warning_and_the_rest_is_kept(self):
        self.write(self.conf, "lock_timeout = 5m\npublish = sometimes\nverbose = true\n")
        src = os.path.join(self.work, "src")
        e.write_package(src, 0, modules=2, with_error=False)
        r = e.run([e.TYPECACHE, "run", "--cache-dir", self.cache, "--", e.MYPY, "-p", "pkg0"], src,
                  env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(warnings(r.stderr),
                         ["typecache: warning: %s:2: publish: 'sometimes' is not one of auto, "
                          "always, never; using the default, auto" % self.conf])
        self.assertIn("typecache: published", r.stderr)  # verbose = true (line 3) still applies
        self.assertTrue(e.rows(self.cache))
        r, doc = self.config_json()
        self.assertEqual(r.returncode, 2)
        self.assertEqual(doc["settings"]["lock_timeout"],
                         {"value": "5m", "origin": self.conf + ":1"})
        self.assertEqual(doc["settings"]["publish"], {"value": "auto", "origin": "default"})
        self.assertEqual(errors(r.stderr), ["typecache: error: %s:2: publish: 'sometimes' is not "
                                            "one of auto, always, never; using the default, auto"
                                            % self.conf])
        # A maintenance command names file:line and stops.
        r = self.tc("stats", self.cache)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(errors(r.stderr)), 1, r.stderr)
        self.assertIn(self.conf + ":2", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_bad_values_in_the_user_file_and_the_environment(self):
        self.write(self.user_conf, "# mine\nlock_timeout = soon\nmax_size = 3K\n")
        r = self.tc("run", "--cache-dir", self.cache, "--", "true",
                    env={"TYPECACHE_PUBLISH": "sometimes"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(warnings(r.stderr)), sorted([
            "typecache: warning: %s:2: lock_timeout: 'soon' is not a duration (e.g. 30d, 12h, "
            "90m, 45s, 250ms); using the default, 120s" % self.user_conf,
            "typecache: warning: TYPECACHE_PUBLISH: publish: 'sometimes' is not one of auto, "
            "always, never; using the default, auto"]))
        r = self.tc("run", "--cache-dir", self.cache, "--", "true",
                    env={"TYPECACHE_LOCK_TIMEOUT": "x"})
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(warnings(r.stderr)), 1, r.stderr)
        self.assertIn("TYPECACHE_LOCK_TIMEOUT: lock_timeout: 'x'", r.stderr)
        _, doc = self.config_json(env={"TYPECACHE_LOCK_TIMEOUT": "x"})
        self.assertEqual(doc["settings"]["max_size"], {"value": "3K",
                                                       "origin": self.user_conf + ":3"})
        self.assertEqual(doc["settings"]["lock_timeout"]["value"], "120s")
        # A flag is a usage error, not configuration: exit 2, nothing ran.
        marker = os.path.join(self.work, "ran")
        r = self.tc("run", "--lock-timeout", "x", "--", "touch", marker)
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.exists(marker))

    def test_unknown_key_is_a_warning_and_the_file_is_kept(self):
        self.write(self.conf, "max_size = 1K\nlock_timout = 5s\nlock_timeout = 7s\n")
        r = self.tc("run", "--cache-dir", self.cache, "--", "true")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(warnings(r.stderr), ["typecache: warning: %s:2: unknown setting "
                                              "'lock_timout' (ignored)" % self.conf])
        r, doc = self.config_json()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(warnings(r.stderr)), 1)
        self.assertEqual(doc["settings"]["lock_timeout"]["value"], "7s")
        self.assertEqual(doc["settings"]["max_size"]["origin"], self.conf + ":1")
        self.assertEqual(self.tc("stats", self.cache).returncode, 0)

    def test_missing_named_user_file(self):
        missing = os.path.join(self.work, "missing.conf")
        env = {"TYPECACHE_CONFIG": missing}
        r = self.tc("run", "--cache-dir", self.cache, "--", "true", env=env)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(warnings(r.stderr), ["typecache: warning: TYPECACHE_CONFIG: %s does not "
                                              "exist" % missing])
        r = self.tc("config", "--cache-dir", self.cache, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(errors(r.stderr), ["typecache: error: TYPECACHE_CONFIG: %s does not exist"
                                            % missing])
        r = self.tc("stats", self.cache, env=env)
        self.assertEqual(r.returncode, 2)

    def test_config_shows_every_origin(self):
        self.write(self.user_conf, "publish = never\n")
        self.write(self.conf, "\nlock_timeout = 5m\n")
        r = self.tc("config", "--cache-dir", self.cache, "--max-size", "1G",
                    env={"TYPECACHE_VERBOSE": "1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in ("cache_dir = %s    (--cache-dir)" % self.cache,
                     "lock_timeout = 5m    (%s:2)" % self.conf,
                     "publish = never    (%s:1)" % self.user_conf,
                     "max_size = 1G    (command line)",
                     "verbose = 1    (environment (TYPECACHE_VERBOSE))",
                     "disable = false    (default)"):
            self.assertIn(line + "\n", r.stdout)

    def test_config_get_set_unset(self):
        r = self.tc("config", "--cache-dir", self.cache, "set", "max_size", "2G")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "max_size = 2G    (%s:1)\n" % self.conf)
        self.assertEqual(r.stderr, "")
        with open(self.conf) as f:
            self.assertEqual(f.read(), "max_size = 2G\n")
        r = self.tc("config", "--cache-dir", self.cache, "get", "max_size")
        self.assertEqual((r.returncode, r.stdout), (0, "2G\n"))
        # A stronger layer is named when it overrides what was just written.
        r = self.tc("config", "--cache-dir", self.cache, "set", "max_size", "3G",
                    env={"TYPECACHE_MAX_SIZE": "1G"})
        self.assertEqual(r.returncode, 0)
        self.assertIn("TYPECACHE_MAX_SIZE", r.stderr)
        self.assertIn("max_size = 1G", r.stderr)
        r = self.tc("config", "set", "--user", "publish", "never", "--cache-dir", self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "publish = never    (%s:1)\n" % self.user_conf)
        self.assertEqual(self.tc("config", "--cache-dir", self.cache, "get", "publish").stdout,
                         "never\n")
        r = self.tc("config", "--cache-dir", self.cache, "unset", "max_size")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "removed max_size from %s\n" % self.conf)
        self.assertIn("max_size is now 0 (default)", r.stderr)
        for bad in (["set", "max_size", "huge"], ["set", "nope", "1"], ["set", "cache_dir", "x"],
                    ["get", "nope"], ["set", "max_size"]):
            r = self.tc("config", "--cache-dir", self.cache, *bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertEqual(len(errors(r.stderr)), 1, r.stderr)
        self.assertEqual(self.tc("config", "--cache-dir", self.cache, "get", "cache_dir").stdout,
                         self.cache + "\n")


if __name__ == "__main__":
    e.main()
