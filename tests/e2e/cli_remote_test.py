"""Sharing the cache across machines through the binary (docs/remote.md): `typecache run --remote`
(also TYPECACHE_REMOTE and `remote = URL`) and `typecache remote pull|push|status|gc`, against
real Redis and nginx WebDAV servers (tests/remote/servers.py) and Debian's real mypy 1.0.1.

A "machine" is a cache directory and a checkout of one generated package at its own absolute path
with its own file mtimes; mypy runs from the checkout with relative paths (-p pkg0), as
docs/remote.md recommends. A second machine is warm on its very first run, its output is plain
mypy's, a dead store costs one warning and under a second, --remote-read-only never writes, and
`typecache config` never shows a password.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402


MODULES = 6  # pkg0.mod5 has a type error: mypy exits 1 and keeps no cache for it


warnings = e.warning_lines


errors = e.error_lines


stats = e.run_counters


class RemoteTest(e.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.servers = e.Servers("redis", "nginx", "apache", "blackhole")
        cls.info = cls.servers.info

    @classmethod
    def tearDownClass(cls):
        cls.servers.stop()

    def setUp(self):
        super().setUp()
        self.name = self.id().split(".")[-1]
        self.env = {"TYPECACHE_REMOTE": "", "TYPECACHE_REMOTE_READ_ONLY": "",
                    "TYPECACHE_REMOTE_READ": "", "TYPECACHE_REMOTE_WRITE": "",
                    "TYPECACHE_REMOTE_PREFIX": "", "TYPECACHE_REMOTE_BUDGET": "",
                    "TYPECACHE_CONFIG": "", "SSL_CERT_FILE": "",
                    "HOME": os.path.join(self.work, "home"),
                    "XDG_CONFIG_HOME": os.path.join(self.work, "xdg")}

    # ---- stores and machines

    def redis_url(self, suffix=""):
        return "redis://127.0.0.1:%d/0?prefix=%s%s" % (self.info["redis"]["port"], self.name,
                                                       suffix)

    def dav_url(self, suffix=""):
        return "http://127.0.0.1:%d/dav/%s%s/" % (self.info["nginx"]["port"], self.name, suffix)

    def dav_dir(self, suffix=""):
        return os.path.join(self.info["nginx"]["root"], "dav", self.name + suffix)

    def machine(self, where, mtime):
        """A checkout of pkg0 at its own path with its own mtimes, and its cache directory."""
        root = os.path.join(self.work, where)
        e.write_package(root, 0, modules=MODULES, with_error=True)
        for dirpath, _, files in os.walk(root):
            for f in files:
                os.utime(os.path.join(dirpath, f), (mtime, mtime))
        return root, os.path.join(self.work, where.replace("/", "_") + "-cache")

    def mypy(self, checkout, cache, *typecache_args, env=None, verbose=True):
        full = dict(self.env)
        full.update(env or {})
        args = [e.TYPECACHE, "run"] + (["--cache-dir", cache] if cache else []) + list(
            typecache_args) + ["--", e.MYPY] + (["-v"] if verbose else []) + ["-p", "pkg0"]
        start = time.monotonic()
        r = e.run(args, checkout, env=full)
        r.seconds = time.monotonic() - start
        return r

    def plain_mypy(self, checkout):
        return e.run([e.MYPY, "--cache-dir", os.path.join(self.work, "plain-cache"), "-p", "pkg0"],
                     checkout)

    def tc(self, *args, env=None, cwd=None):
        full = dict(self.env)
        full.update(env or {})
        return self.typecache(*args, env=full, cwd=cwd)

    def assert_cold_push(self, r, cache):
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])  # mypy's: pkg0.mod5 has an error
        self.assertEqual(warnings(r.stderr), [])
        self.assertGreater(stats(cache).get("remote_groups_pushed", 0), 40, stats(cache))

    def assert_warm_first_run(self, r, checkout, cache):
        """The run of a machine that had never run mypy: warm, plain mypy's output and status."""
        self.assertEqual(warnings(r.stderr), [], r.stderr[-3000:])
        self.assert_warm(r.stdout + r.stderr)
        plain = self.plain_mypy(checkout)
        self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout))
        self.assertGreater(stats(cache).get("remote_hits", 0), 40, stats(cache))

    def dav_tree(self, suffix=""):
        """{path: (size, mtime_ns, bytes)} of everything the WebDAV store holds for this test."""
        out = {}
        for dirpath, _, files in os.walk(self.dav_dir(suffix)):
            for f in files:
                p = os.path.join(dirpath, f)
                st = os.stat(p)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, self.dav_dir(suffix))] = (st.st_size, st.st_mtime_ns,
                                                                     fh.read())
        return out

    # ---- run --remote

    def test_second_machine_is_warm_on_its_first_run(self):
        auth = "http://tc:secret@127.0.0.1:%d/auth/%s/" % (self.info["nginx"]["port"], self.name)
        # HTTPS to the same nginx, its self-signed certificate trusted through SSL_CERT_FILE.
        tls = "https://127.0.0.1:%d/dav/%s-tls/" % (self.info["nginx"]["tls_port"], self.name)
        trust = {"SSL_CERT_FILE": self.info["nginx"]["ca_file"]}
        for store, url, env in (("redis", self.redis_url(), {}), ("webdav", self.dav_url(), {}),
                                ("webdav-with-a-password", auth, {}),
                                ("webdav-over-https", tls, trust)):
            with self.subTest(store=store):
                a, cache_a = self.machine(store + "/a/proj", 1600000000)
                b, cache_b = self.machine(store + "/b/x/y/proj", 1650000000)
                self.assert_cold_push(self.mypy(a, cache_a, "--remote", url, env=env), cache_a)
                r = self.mypy(b, cache_b, "-v", "--remote", url, env=env)
                self.assert_warm_first_run(r, b, cache_b)
                self.assertNotIn("secret", r.stderr)
                self.assertIn("typecache: remote: pulled from %s: " % url.replace("secret", "***"),
                              r.stderr)
                # `remote status`: this machine is up to date, nothing differs.
                st = self.tc("remote", "status", url, "--cache-dir", cache_b, env=env)
                self.assertEqual(st.returncode, 0, st.stderr)
                # The run's push wrote the first pack, and its snapshot (#1) names it.
                self.assertRegex(st.stdout, r"lineage main +head #\d+, \d+ groups, snapshot #1; "
                                 r"this machine at #\d+ \(0 behind\)")
                self.assertRegex(st.stdout, r"local: \d+ groups, 0 differ from the store")
                self.assertNotIn("secret", st.stdout + st.stderr)
                doc = json.loads(self.tc("remote", "status", "--json", url, "--cache-dir",
                                         cache_b, env=env).stdout)
                ns = [n for n in doc["namespaces"] if n["local"]]
                self.assertEqual(len(ns), 1, doc)
                self.assertEqual(ns[0]["namespace"], "mypy-1.0.1_py%s_linux_1file" % e.PYVER)
                self.assertEqual(ns[0]["groups_differing"], 0)
                self.assertEqual([l["behind"] for l in ns[0]["lineages"]], [0])
                self.assertGreater(doc["recorded"]["hits"], 40)

    def test_apache_store_shares_like_nginx(self):
        """Apache mod_dav (the collection layout, docs/remote.md): a machine's run pushes, a
        second machine is fully warm on its first run with plain mypy's output, and the store
        holds each key as a collection with its bytes in "v"."""
        apache = "http://127.0.0.1:%d/dav/%s/" % (self.info["apache"]["port"], self.name)
        a, cache_a = self.machine("a/proj", 1600000000)
        self.assert_cold_push(self.mypy(a, cache_a, "--remote", apache), cache_a)
        b, cache_b = self.machine("b/x/proj", 1650000000)
        self.assert_warm_first_run(self.mypy(b, cache_b, "-v", "--remote", apache), b, cache_b)
        root = os.path.join(self.info["apache"]["root"], "dav", self.name)
        values = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
        self.assertTrue(values)
        self.assertTrue(all(v.endswith(".tc-k/v") for v in values), values[:5])
        st = self.tc("remote", "status", apache, "--cache-dir", cache_b)
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertRegex(st.stdout, r"local: \d+ groups, 0 differ from the store")

    def test_cold_run_pulls_only_the_python_version_it_checks(self):
        """A store holding two Python versions' caches: a cold machine checking for one of them
        pulls that namespace only (its version from --python-version or the config file)."""
        url = self.redis_url()
        other = "3.10" if e.PYVER != "3.10" else "3.9"
        a, cache_a = self.machine("a/proj", 1600000000)
        for version in (e.PYVER, other):
            r = e.run([e.TYPECACHE, "run", "--cache-dir", cache_a, "--remote", url, "--", e.MYPY,
                       "--python-version", version, "-p", "pkg0"], a, env=self.env)
            self.assertEqual(warnings(r.stderr), [], r.stderr[-3000:])
        self.assertTrue(os.path.isdir(os.path.join(cache_a, other)))
        for how in ("flag", "config"):
            with self.subTest(how=how):
                b, cache_b = self.machine("b-%s/proj" % how, 1650000000)
                extra = ["--python-version", other]
                if how == "config":
                    with open(os.path.join(b, "mypy.ini"), "w") as f:
                        f.write("[mypy]\npython_version = %s\n" % other)
                    extra = []
                r = e.run([e.TYPECACHE, "run", "-v", "--cache-dir", cache_b, "--remote", url,
                           "--", e.MYPY, "-v"] + extra + ["-p", "pkg0"], b, env=self.env)
                self.assertEqual(warnings(r.stderr), [], r.stderr[-3000:])
                self.assert_warm(r.stdout + r.stderr)
                self.assertFalse(os.path.exists(os.path.join(cache_b, e.PYVER)),
                                 "the other version's rows were pulled too")
                self.assertGreater(stats(cache_b).get("remote_hits", 0), 40, stats(cache_b))

    def test_environment_and_config_file_work_as_the_flag(self):
        url = self.dav_url()
        a, cache_a = self.machine("a/proj", 1600000000)
        self.assert_cold_push(self.mypy(a, cache_a, env={"TYPECACHE_REMOTE": url}), cache_a)
        b, cache_b = self.machine("b/proj", 1650000000)
        os.makedirs(cache_b)
        with open(os.path.join(cache_b, "typecache.conf"), "w") as f:
            f.write("remote = %s\n" % url)
        self.assert_warm_first_run(self.mypy(b, cache_b), b, cache_b)
        # The user's file too, and the default cache directory (mypy's .mypy_cache).
        c, _ = self.machine("c/proj", 1700000000)
        user = os.path.join(self.work, "xdg", "typecache", "typecache.conf")
        os.makedirs(os.path.dirname(user))
        with open(user, "w") as f:
            f.write("remote = %s\n" % url)
        self.assert_warm_first_run(self.mypy(c, None), c, os.path.join(c, ".mypy_cache"))

    def test_dead_store_is_one_warning_and_under_a_second(self):
        b, cache = self.machine("b/proj", 1650000000)
        hole = self.info["blackhole"]
        dead = {
            "nothing listens (redis)": "redis://127.0.0.1:%d" % hole["refused_port"],
            "nothing listens (webdav)": "http://127.0.0.1:%d/dav/" % hole["refused_port"],
            "connect hangs (redis)": "redis://127.0.0.1:%d" % hole["full_port"],
            "connect hangs (webdav)": "http://127.0.0.1:%d/dav/" % hole["full_port"],
            "accepts, never answers (redis)": "redis://127.0.0.1:%d" % hole["port"],
            "accepts, never answers (webdav)": "http://127.0.0.1:%d/dav/" % hole["port"],
            # A server whose certificate nothing trusts (SSL_CERT_FILE is not set here).
            "untrusted certificate (https)": "https://127.0.0.1:%d/dav/%s/" % (
                self.info["nginx"]["tls_port"], self.name),
        }
        # A cold run with each dead store: it still publishes (and would push).
        for what, url in dead.items():
            with self.subTest(what=what, run="cold"):
                cold = os.path.join(self.work, "cold-" + what.replace(" ", "_"))
                r = self.mypy(b, cold, "--remote", url, verbose=False)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(len(warnings(r.stderr)), 1, r.stderr)
                self.assertRegex(warnings(r.stderr)[0], r"^typecache: warning: remote cache "
                                 r"unavailable for this run \(.*\); using the local cache only$")
                self.assertGreater(stats(cold)["runs_published"], 0)
                self.assertEqual(stats(cold)["remote_groups_pushed"], 0)
        # Warm runs: what a dead store adds to a run.
        self.mypy(b, cache, verbose=False)
        base = statistics.median(self.mypy(b, cache, verbose=False).seconds for _ in range(3))
        for what, url in dead.items():
            with self.subTest(what=what, run="warm"):
                took = []
                for _ in range(2):  # the faster of two: less noise from a busy machine
                    r = self.mypy(b, cache, "--remote", url, verbose=False)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertEqual(len(warnings(r.stderr)), 1, r.stderr)
                    took.append(r.seconds)
                print("%-32s %.2f s (without a store %.2f s): +%.2f s" % (
                    what, min(took), base, min(took) - base))
                # Bounded by the run's remote budget (remote_budget, 2 s by default), not by the
                # store's 10 s request timeout; on a quiet machine about 1 s here (printed above).
                self.assertLess(min(took) - base, 2.5)
        counted = stats(cache)
        self.assertEqual(counted["remote_errors"] + counted["remote_timeouts"], 2 * len(dead),
                         counted)

    def test_read_only_never_writes_to_the_store(self):
        url = self.dav_url()
        a, cache_a = self.machine("a/proj", 1600000000)
        self.assert_cold_push(self.mypy(a, cache_a, "--remote", url), cache_a)
        before = self.dav_tree()
        self.assertTrue(before)
        # B edits a module: its runs publish a group the store does not have.
        b, cache_b = self.machine("b/proj", 1650000000)
        e.write_package(b, 0, modules=MODULES, with_error=True, edit_round=2)
        r = self.mypy(b, cache_b, "--remote-read-only", "--remote", url)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(warnings(r.stderr), [])
        self.assertGreater(stats(cache_b)["remote_hits"], 40)  # it did pull
        self.assertGreater(stats(cache_b)["runs_published"], 0)
        with open(os.path.join(cache_b, "typecache.conf"), "w") as f:
            f.write("remote = %s\nremote_read_only = true\n" % url)
        e.write_package(b, 0, modules=MODULES, with_error=True, edit_round=3)
        self.assertEqual(self.mypy(b, cache_b).returncode, 1)
        self.assertEqual(self.mypy(b, cache_b, env={"TYPECACHE_REMOTE_READ_ONLY": "1"}).returncode, 1)
        r = self.tc("remote", "push", "--remote-read-only", url, "--cache-dir", cache_b)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("read-only", r.stderr)
        self.assertEqual(self.dav_tree(), before, "a read-only machine wrote to the store")
        self.assertEqual(stats(cache_b)["remote_bytes_up"], 0)
        # The same machine without read-only pushes its edit.
        with open(os.path.join(cache_b, "typecache.conf"), "w") as f:
            f.write("remote = %s\n" % url)
        e.write_package(b, 0, modules=MODULES, with_error=True, edit_round=4)
        self.assertEqual(self.mypy(b, cache_b).returncode, 1)
        self.assertNotEqual(self.dav_tree(), before)
        self.assertGreater(stats(cache_b)["remote_groups_pushed"], 0)

    # ---- typecache remote

    def test_explicit_push_and_pull_round_trip(self):
        for store, url in (("redis", self.redis_url()), ("webdav", self.dav_url())):
            with self.subTest(store=store):
                a, cache_a = self.machine(store + "/a/proj", 1600000000)
                self.assertEqual(self.mypy(a, cache_a).returncode, 1)  # no store: local only
                r = self.tc("remote", "push", url, "--cache-dir", cache_a)
                pushed_at = time.time()
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^pushed to %s: \d\d+ module groups in 1 log record; "
                                 r"\d+ objects uploaded, [\d.]+ KiB up\n$" % url.replace("?", r"\?"))
                again = self.tc("remote", "push", "--json", url, "--cache-dir", cache_a)
                self.assertEqual(again.returncode, 0, again.stderr)
                self.assertEqual(json.loads(again.stdout)["groups_pushed"], 0)
                b, cache_b = self.machine(store + "/b/proj", 1650000000)
                r = self.tc("remote", "pull", url, "--python", e.PYVER, "--cache-dir", cache_b)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^pulled from .*: \d\d+ module groups applied")
                self.assertGreater(stats(cache_b)["remote_hits"], 40)
                warm = self.mypy(b, cache_b)  # no store: the pulled rows only
                self.assert_warm(warm.stdout + warm.stderr)
                doc = json.loads(self.tc("remote", "pull", "--json", url, "--cache-dir",
                                         cache_b).stdout)
                self.assertEqual((doc["command"], doc["groups_applied"]), ("pull", 0), doc)
                # gc: a dry run deletes nothing; with a short --min-age, the log goes and a fresh
                # machine still gets everything from the snapshot.
                time.sleep(max(0.0, pushed_at + 2.5 - time.time()))  # records hold seconds
                dry = self.tc("remote", "gc", url, "--min-age", "1s", "--dry-run")
                self.assertEqual(dry.returncode, 0, dry.stderr)
                self.assertIn("would delete 1 log record,", dry.stdout)
                # The pack `remote push` wrote is the one the pointer names: kept, with its size.
                self.assertRegex(dry.stdout, r"; kept \d+ objects?, 1 pack \(\d", dry.stdout)
                gc = self.tc("remote", "gc", "--json", url, "--min-age", "1s")
                self.assertEqual(gc.returncode, 0, gc.stderr)
                (ns,) = json.loads(gc.stdout)["namespaces"]
                self.assertEqual((ns["records_deleted"], ns["snapshot_seq"]), (1, 1), ns)
                self.assertEqual((ns["packs_kept"], ns["packs_deleted"]), (1, 0), ns)
                self.assertGreater(ns["pack_bytes_kept"], 1000, ns)
                c, cache_c = self.machine(store + "/c/proj", 1700000000)
                r = self.tc("remote", "pull", url, "--python", e.PYVER, "--cache-dir", cache_c)
                self.assertEqual(r.returncode, 0, r.stderr)
                warm = self.mypy(c, cache_c)
                self.assert_warm(warm.stdout + warm.stderr)

    def test_machine_that_pulls_every_commit_does_not_copy_its_cache(self):
        """After its first pull, each pull of a machine that keeps up starts from the generation
        the previous pull retired (O(changes)); what it publishes is what a copy gives: its next
        mypy run is warm on the edited code and prints plain mypy's output."""
        url = self.dav_url("-steady")
        a, cache_a = self.machine("steady/a/proj", 1600000000)
        self.assertEqual(self.mypy(a, cache_a).returncode, 1)
        self.assertEqual(self.tc("remote", "push", url, "--cache-dir", cache_a).returncode, 0)
        b, cache_b = self.machine("steady/b/proj", 1650000000)
        first = json.loads(self.tc("remote", "pull", "--json", url, "--python", e.PYVER,
                                   "--cache-dir", cache_b).stdout)
        self.assertEqual(first["direct_publishes"], 1, first)
        spares = []
        for round_ in (1, 2, 3):
            for checkout in (a, b):  # the same commit on both machines
                e.write_package(checkout, 0, modules=MODULES, with_error=True, edit_round=round_)
            self.assertEqual(self.mypy(a, cache_a).returncode, 1)
            self.assertEqual(self.tc("remote", "push", url, "--cache-dir", cache_a).returncode, 0)
            r = self.tc("remote", "pull", "--json", url, "--python", e.PYVER, "--cache-dir", cache_b)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)
            self.assertGreaterEqual(doc["groups_applied"], 1, doc)
            spares.append(doc["dbs_from_spares"])
        # The first of these pulls finds no retired generation (the cold pull's is live): a copy.
        self.assertEqual(spares, [0, 1, 1])
        warm = self.mypy(b, cache_b)
        self.assert_warm(warm.stdout + warm.stderr)
        plain = self.plain_mypy(b)
        self.assertEqual((warm.returncode, warm.stdout), (plain.returncode, plain.stdout))
        v = self.tc("verify", cache_b)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def test_explicit_commands_exit_codes(self):
        refused = self.info["blackhole"]["refused_port"]
        b, cache = self.machine("b/proj", 1650000000)
        self.assertEqual(self.mypy(b, cache, verbose=False).returncode, 1)  # something to push
        # Store trouble: 1, one error line naming the store, credentials redacted.
        for cmd in ("pull", "push", "status", "gc"):
            for url in ("http://tc:secret@127.0.0.1:%d/dav/" % refused,
                        "redis://tc:secret@127.0.0.1:%d" % refused):
                with self.subTest(cmd=cmd, url=url):
                    r = self.tc("remote", cmd, url, "--cache-dir", cache)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertEqual(r.stdout, "")
                    self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                    self.assertEqual(len(errors(r.stderr)), 1, r.stderr)
                    self.assertIn("typecache: error: remote %s: " % cmd, r.stderr)
                    self.assertIn("tc:***@127.0.0.1:%d" % refused, r.stderr)
                    self.assertNotIn("secret", r.stderr)
        # A store that answers, but with errors: 1 too.
        r = self.tc("remote", "push", "http://127.0.0.1:%d/err500/" % self.info["nginx"]["port"],
                    "--cache-dir", cache)
        self.assertEqual((r.returncode, len(errors(r.stderr))), (1, 1), r.stderr)
        # Usage and configuration errors: 2, one line.
        usage = [["remote"], ["remote", "pull"], ["remote", "pull", "ftp://x/"],
                 ["remote", "pull", "redis://h:1", "extra"], ["remote", "fetch", "redis://h:1"],
                 ["remote", "gc", "redis://h:1", "--min-age", "soon"],
                 ["remote", "pull", "redis://h:1", "--python", "3"],
                 ["remote", "pull", "redis://h:1", "--remote-budget", "0"],
                 ["remote", "pull", "redis://h:1", "--no-such-option"],
                 ["run", "--remote", "ftp://x/", "--", "true"],
                 ["run", "--remote-budget", "0s", "--", "true"],
                 ["run", "--remote-write", "a,b", "--", "true"]]
        for args in usage:
            with self.subTest(args=args):
                r = self.tc(*args, "--cache-dir", cache)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(errors(r.stderr)), 1, r.stderr)
        os.makedirs(cache, exist_ok=True)
        with open(os.path.join(cache, "typecache.conf"), "w") as f:
            f.write("remote_budget = never\n")
        r = self.tc("remote", "status", "redis://h:1", "--cache-dir", cache)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("typecache.conf:1: remote_budget:", r.stderr)
        # A bad remote in a file is a warning for run (the run goes on without a store).
        with open(os.path.join(cache, "typecache.conf"), "w") as f:
            f.write("remote = ftp://u:secret@x/\n")
        r = self.tc("run", "--cache-dir", cache, "--", "sh", "-c", "exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(len(warnings(r.stderr)), 1, r.stderr)
        self.assertNotIn("secret", r.stderr)

    def test_config_shows_remote_redacted(self):
        cache = os.path.join(self.work, "cache")
        url = "redis://tc:secret@127.0.0.1:6379/0?prefix=p"
        shown = "redis://tc:***@127.0.0.1:6379/0?prefix=p"
        r = self.tc("config", "--cache-dir", cache, env={"TYPECACHE_REMOTE": url})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("remote = %s    (environment (TYPECACHE_REMOTE))\n" % shown, r.stdout)
        for line in ("remote_read_only = false    (default)", "remote_write = main    (default)",
                     "remote_budget = 2s    (default)"):
            self.assertIn(line + "\n", r.stdout)
        doc = json.loads(self.tc("config", "--json", "--cache-dir", cache,
                                 env={"TYPECACHE_REMOTE": url}).stdout)
        self.assertEqual(doc["settings"]["remote"]["value"], shown)
        r = self.tc("config", "--cache-dir", cache, "set", "remote", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "remote = %s    (%s:1)\n" % (shown, os.path.join(
            cache, "typecache.conf")))
        with open(os.path.join(cache, "typecache.conf")) as f:
            self.assertEqual(f.read(), "remote = %s\n" % url)  # the file holds the real URL
        outputs = [r.stdout + r.stderr]
        for args in (["config", "--cache-dir", cache], ["config", "--cache-dir", cache, "get",
                                                        "remote"],
                     ["config", "--cache-dir", cache, "--remote", url],
                     ["config", "--cache-dir", cache, "unset", "remote"]):
            r = self.tc(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            outputs.append(r.stdout + r.stderr)
        self.assertEqual(outputs[2], shown + "\n")
        for text in outputs:
            self.assertNotIn("secret", text)


if __name__ == "__main__":
    e.main()
