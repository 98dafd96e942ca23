"""Shared helpers for typecache's end-to-end tests: the built binary, real mypy, generated code.

Everything runs inside TEST_TMPDIR (or a fresh temporary directory outside Bazel).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MYPY = shutil.which("mypy") or "/usr/bin/mypy"
# Debian's mypy runs on /usr/bin/python3; its cache directory is named after that version.
PYVER = subprocess.run(
    ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
    capture_output=True, text=True, check=True).stdout.strip()


def typecache_binary(rel="src/typecache", env_var="TYPECACHE_BIN"):
    for candidate in (
        os.environ.get(env_var, ""),
        os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache", rel),
        os.path.join(HERE, "../../bazel-bin", rel),
    ):
        if candidate and os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise RuntimeError("typecache binary %s not found; build //%s or set %s"
                       % (rel, rel.replace("/typecache", ":typecache"), env_var))


TYPECACHE = typecache_binary()
# The test-only build with fault injection (//src/testing:typecache_faulty). Runs that set
# TYPECACHE_FAULT or TYPECACHE_FAULT_TRACE use it; the shipped binary has no fault hooks.
FAULT_VARS = ("TYPECACHE_FAULT", "TYPECACHE_FAULT_TRACE")


def faulty_binary():
    return typecache_binary("src/testing/typecache_faulty", "TYPECACHE_FAULTY_BIN")

from pygen import STDLIB, write_package  # noqa: F401,E402  (re-exported)


def run(cmd, cwd, env=None, timeout=600):
    full_env = dict(os.environ)
    full_env.pop("MYPY_CACHE_DIR", None)
    full_env.pop("TYPECACHE_DIR", None)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def start(cmd, cwd, env=None):
    full_env = dict(os.environ)
    full_env.pop("MYPY_CACHE_DIR", None)
    if env:
        full_env.update(env)
    return subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def db_paths(cache_dir):
    """Every cache database under cache_dir's version directories."""
    out = []
    if not os.path.isdir(cache_dir):
        return out
    for entry in sorted(os.listdir(cache_dir)):
        d = os.path.join(cache_dir, entry)
        if entry.startswith(".") or not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name == "cache.db" or (name.startswith("cache.") and name.endswith(".db")):
                out.append(os.path.join(d, name))
    return out


def rows(cache_dir, table=None):
    """{(db file name, path): (mtime, typeof(data), data)} over every database."""
    result = {}
    for db in db_paths(cache_dir):
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            tables = [t for (t,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")]
            for t in ("files", "files2"):
                if t in tables and (table is None or table == t):
                    for path, mtime, kind, data in conn.execute(
                            "SELECT path, mtime, typeof(data), data FROM %s" % t):
                        result[(os.path.basename(db), path)] = (mtime, kind, data)
        finally:
            conn.close()
    return result


def groups(cache_dir):
    """Module groups present: key up to the first dot of its basename."""
    out = set()
    for (_, path) in rows(cache_dir):
        base = path.rsplit("/", 1)
        stem = base[-1].split(".", 1)[0]
        out.add((base[0] + "/" + stem) if len(base) == 2 else stem)
    return out


def integrity(cache_dir):
    results = []
    for db in db_paths(cache_dir):
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            results.append(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    return results


def meta_data_problems(cache_dir):
    """JSON-layout pairing: every X.meta.json has X.data.json with int(mtime) == data_mtime."""
    problems = []
    all_rows = rows(cache_dir)
    for (db, path), (mtime, kind, data) in all_rows.items():
        if not path.endswith(".meta.json"):
            continue
        meta = json.loads(data if isinstance(data, str) else data.decode())
        data_key = (db, path[:-len(".meta.json")] + ".data.json")
        if data_key not in all_rows:
            problems.append("%s: no data row" % path)
        elif int(all_rows[data_key][0]) != meta.get("data_mtime"):
            problems.append("%s: data mtime %r != meta data_mtime %r" % (
                path, all_rows[data_key][0], meta.get("data_mtime")))
    return problems


class E2ETestCase(unittest.TestCase):
    """A test case with a private working directory."""

    def setUp(self):
        base = os.environ.get("TEST_TMPDIR") or None
        self.work = tempfile.mkdtemp(prefix="e2e.", dir=base)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def typecache(self, *args, env=None, cwd=None):
        binary = faulty_binary() if env and any(v in env for v in FAULT_VARS) else TYPECACHE
        return run([binary] + list(args), cwd or self.work, env=env)


class FakeCheckerTestCase(E2ETestCase):
    """A test case with fake_checker.py installed as an executable `fakemypy` (typecache runs
    it like mypy) and a shared cache directory path, `self.cache`."""

    def setUp(self):
        super().setUp()
        self.fake = os.path.join(self.work, "fakemypy")
        shutil.copy(os.path.join(HERE, "fake_checker.py"), self.fake)
        os.chmod(self.fake, 0o755)
        self.cache = os.path.join(self.work, "cache")


def main():
    unittest.main(verbosity=2)
