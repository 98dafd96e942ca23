"""The one helper module of typecache's Python tests (e2e, reliability, integration) and of the
benchmarks: the binaries under test, running commands, rows for the fake checker, reading a cache
group by group, and the warm-rerun check.

Binaries. The shipped binary (//src:typecache) has no fault injection; tests that set
TYPECACHE_FAULT or TYPECACHE_FAULT_TRACE take the test-only build (//src/testing:typecache_faulty).
Both come from the command line (`--typecache PATH`, `--typecache-faulty PATH`, which tests/defs.bzl
passes), else from $TYPECACHE_BIN / $TYPECACHE_FAULTY_BIN, else from bazel-bin.

Groups. A group is one module's rows "<module>.<suffix>" in one table of one database file (the
module is the key up to the first dot after its last slash, as MypyAdapter::GroupOf has it); a
global key beginning with "@" is a group of its own. Groups are read per (database file, table,
format family), the family being "json" (mypy's .json rows) or "ff" (the fixed-format .ff rows of
mypy 1.20+), since the two formats are kept apart.

Everything a test writes goes under TEST_TMPDIR (or a fresh temporary directory outside Bazel).
"""

import collections
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FAKE_CHECKER = os.path.join(HERE, "fake_checker.py")
MYPY = shutil.which("mypy") or "/usr/bin/mypy"
# Debian's mypy runs on /usr/bin/python3; its cache directory is named after that version.
PYVER = "%d.%d" % sys.version_info[:2] if sys.executable == "/usr/bin/python3" else \
    subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                   capture_output=True, text=True, check=True).stdout.strip()

sys.path.insert(0, HERE)
from pygen import STDLIB, write_package  # noqa: F401,E402  (re-exported)

# ------------------------------------------------------------------------------- binaries

BINARY_FLAGS = ("--typecache", "--typecache-faulty")


def _flag(argv, flag):
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return ""


def _find(flag, env, runfile, what):
    for candidate in (_flag(sys.argv, flag), os.environ.get(env, ""),
                      os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache", runfile),
                      os.path.join(ROOT, "bazel-bin", runfile)):
        if candidate and os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise RuntimeError("%s not found: pass %s PATH or set %s" % (what, flag, env))


def shipped():
    """The shipped binary: no fault injection. Also tclib.TYPECACHE."""
    return _find("--typecache", "TYPECACHE_BIN", "src/typecache", "typecache binary")


def __getattr__(name):  # tclib.TYPECACHE, found when first used
    if name == "TYPECACHE":
        return shipped()
    raise AttributeError(name)


def faulty():
    """The test-only build that honours TYPECACHE_FAULT and TYPECACHE_FAULT_TRACE."""
    return _find("--typecache-faulty", "TYPECACHE_FAULTY_BIN", "src/testing/typecache_faulty",
                 "typecache_faulty binary (//src/testing:typecache_faulty)")


def strip_binary_flags(argv):
    """argv without --typecache/--typecache-faulty and their values (for unittest's parser)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in BINARY_FLAGS:
            skip = True
        elif not arg.startswith(tuple(f + "=" for f in BINARY_FLAGS)):
            out.append(arg)
    return out


# ------------------------------------------------------------------------------- processes

def clean_env(env=None):
    full = dict(os.environ)
    for name in ("MYPY_CACHE_DIR", "TYPECACHE_DIR", "TYPECACHE_FAULT", "TYPECACHE_FAULT_TRACE"):
        full.pop(name, None)
    full.update(env or {})
    return full


def run(cmd, cwd, env=None, timeout=600):
    return subprocess.run(cmd, cwd=cwd, env=clean_env(env), capture_output=True, text=True,
                          timeout=timeout)


def start(cmd, cwd, env=None, stdout=subprocess.PIPE):
    return subprocess.Popen(cmd, cwd=cwd, env=clean_env(env), stdout=stdout,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path, seconds=10.0):
    """Waits until path exists; returns whether it does."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def backdate_runs(cache_dir, seconds=3600):
    """Ages the private copies under .typecache/runs past the sweeper's grace period."""
    runs = os.path.join(cache_dir, ".typecache", "runs")
    names = os.listdir(runs)
    for name in names:
        os.utime(os.path.join(runs, name), (time.time() - seconds,) * 2, follow_symlinks=False)
    return names


# ------------------------------------------------------------------------------- rows for the fake checker

def module_rows(module, tag, mtime=10.0):
    """One module's rows in mypy's JSON layout, each carrying the writer's tag: the meta row
    (with data_mtime = int(mtime), as mypy pairs them) and the data row."""
    return [[module + ".meta.json", float(mtime), json.dumps({"data_mtime": int(mtime), "tag": tag})],
            [module + ".data.json", float(mtime), json.dumps({"tag": tag})]]


def modules_rows(modules, tag, mtime=10.0):
    return [row for m in modules for row in module_rows(m, tag, mtime)]


def write_action(rows, db="cache.db", table="files"):
    return {"op": "write", "db": db, "table": table, "rows": rows}


def fake_spec(*actions, exit_code=0, **extra):
    """FAKE_ACTIONS for fake_checker.py."""
    spec = {"actions": list(actions), "exit": exit_code}
    spec.update(extra)
    return spec


def tagged_spec(tag, modules, exit_code=0, before=()):
    """The fake checker writes `modules` (JSON layout, cache.db, files) tagged with `tag`, after
    the actions in `before` (sleeps, gates)."""
    return fake_spec(*before, write_action(modules_rows(modules, tag)), exit_code=exit_code)


def fake_env(spec, env=None):
    full = {"FAKE_ACTIONS": json.dumps(spec)}
    full.update(env or {})
    return full


# ------------------------------------------------------------------------------- reading caches

GroupId = collections.namedtuple("GroupId", "db table family")
TABLES = ("files", "files2")


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


def db_label(cache_dir, db):
    """How tests name a database: "<version dir>/<file>", e.g. "3.11/cache.db"."""
    return os.path.relpath(db, cache_dir)


def connect_ro(db):
    """A read-only connection to `db`. A committed fixture (under FIXTURES) is opened immutable:
    even a read-only open of a WAL database creates -shm and -wal beside it, and Bazel's runfiles
    are symlinks into the checkout, so that would write into the source tree."""
    path = os.path.abspath(db)
    query = "immutable=1" if path.startswith(os.path.abspath(FIXTURES) + os.sep) else "mode=ro"
    return sqlite3.connect("file:%s?%s" % (path, query), uri=True)


def _table_rows(cache_dir):
    """Yields (db label, table, key, mtime, typeof(data), data) over every database."""
    for db in db_paths(cache_dir):
        conn = connect_ro(db)
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for table in TABLES:
                if table in tables:
                    for key, mtime, kind, data in conn.execute(
                            "SELECT path, mtime, typeof(data), data FROM %s" % table):
                        yield db_label(cache_dir, db), table, key, mtime, kind, data
        finally:
            conn.close()


def table_rows(cache_dir):
    """{(database file name, table, key): (mtime, data)} over every database and table."""
    return {(os.path.basename(db), table, key): (mtime, data)
            for db, table, key, mtime, _, data in _table_rows(cache_dir)}


FIXTURES = os.path.join(ROOT, "tests", "fixtures", "mypy-caches")


def copy_fixture(name, dest):
    """A writable copy of the cache of fixture `name` (tests/fixtures/mypy-caches/<name>/cache,
    read-only in CI) at `dest`, replacing what is there."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(FIXTURES, name, "cache"), dest)
    for root, dirs, files in os.walk(dest):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    return dest


def rows(cache_dir):
    """{(db label, key): (mtime, typeof(data), data)} over every database and table."""
    return {(db, key): (mtime, kind, data) for db, _, key, mtime, kind, data in _table_rows(cache_dir)}


def group_of(key):
    """The group a key belongs to (see the module docstring)."""
    if key.startswith("@"):
        return key
    base = key.rfind("/") + 1
    dot = key.find(".", base)
    return key if dot < 0 else key[:dot]


def module_of_group(name):
    """The module of a group name in typecache's generation logs and reports:
    "files2:pkg/m.json" -> "pkg/m" (names without a table, from typecache 0.1, are modules)."""
    return group_of(name.split(":", 1)[1] if ":" in name else name)


def family_of(key):
    """"json" or "ff" (or "other" for a key with neither ending)."""
    if key.endswith(".json"):
        return "json"
    if key.endswith(".ff"):
        return "ff"
    return "other"


def read_groups(cache_dir):
    """{GroupId(db label, table, family): {group: {key: (mtime, typeof(data), data)}}}."""
    out = {}
    for db, table, key, mtime, kind, data in _table_rows(cache_dir):
        gid = GroupId(db, table, family_of(key))
        out.setdefault(gid, {}).setdefault(group_of(key), {})[key] = (mtime, kind, data)
    return out


def groups(cache_dir):
    """The set of groups present, each as (db label, table, family, group): for comparing what
    two caches hold ("lost" = in the reference, not in the other)."""
    return {(gid.db, gid.table, gid.family, g)
            for gid, by_group in read_groups(cache_dir).items() for g in by_group}


def group_tags(cache_dir):
    """{group: tag} for caches written with module_rows(); raises AssertionError on a torn group
    (rows of one group carrying different writers' tags) or a group in two places."""
    out = {}
    for gid, by_group in read_groups(cache_dir).items():
        for group, group_rows in by_group.items():
            tags = {json.loads(data)["tag"] for (_, _, data) in group_rows.values()}
            assert len(tags) == 1, "torn group %s in %s: tags %s" % (group, gid, sorted(tags))
            assert group not in out, "group %s in two places" % group
            out[group] = tags.pop()
    return out


def integrity(cache_dir):
    results = []
    for db in db_paths(cache_dir):
        conn = connect_ro(db)
        try:
            results.append(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    return results


def meta_data_problems(cache_dir):
    """JSON-layout pairing, group by group: every X.meta.json has X.data.json in the same group
    with int(mtime) == data_mtime."""
    problems = []
    for gid, by_group in read_groups(cache_dir).items():
        if gid.family != "json":
            continue
        for group, group_rows in by_group.items():
            meta = group_rows.get(group + ".meta.json")
            if meta is None:
                continue
            data_row = group_rows.get(group + ".data.json")
            want = json.loads(meta[2] if isinstance(meta[2], str) else meta[2].decode()).get(
                "data_mtime")
            if data_row is None:
                problems.append("%s %s: no data row" % (gid.db, group))
            elif int(data_row[0]) != want:
                problems.append("%s %s: data mtime %r != meta data_mtime %r" % (
                    gid.db, group, data_row[0], want))
    return problems


def cache_bytes(cache_dir):
    return sum(os.path.getsize(p) for p in db_paths(cache_dir))


# ------------------------------------------------------------------------------- the warm-rerun check

# mypy -v (1.0.1) logs, on stderr: "LOG:  Writing <id> <path> <meta> <data>" for every cache entry it
# writes, "LOG:  Processing SCC singleton (<id>) as <why>" / "Processing SCC of size N (<ids>) as
# <why>" for every SCC it rechecks (fresh SCCs are only queued, never "Processing"), and
# "LOG:  Deleting <id> <path> ..." for a module it cannot cache because it has errors.
_WRITING = re.compile(r"^LOG:\s+Writing (\S+) ", re.M)
_PROCESSING = re.compile(r"^LOG:\s+Processing SCC (?:singleton|of size \d+) \(([^)]*)\) as (.*)$",
                         re.M)
_DELETING = re.compile(r"^LOG:\s+Deleting (\S+) (\S+)", re.M)
_ERROR = re.compile(r"^([^:\n]+\.pyi?):(?:\d+:)*\s*error:", re.M)
_FINISHED = re.compile(r"^LOG:\s+Build finished", re.M)


def warm_problems(output, before=None, after=None, allow_modules_with_errors=True):
    """What made a rerun not warm; [] when it was. A warm rerun rechecks no module: mypy (run with
    -v; `output` holds its stderr, stdout may be mixed in) writes no cache entry and processes no
    stale SCC. With allow_modules_with_errors, a module mypy reports an error in (and so deletes
    from the cache, as mypy 1.0.1 keeps no cache for it) may be rechecked alone: the tests'
    packages carry one deliberate error each. When the rows before and after the rerun are given,
    no row other than a global "@" row may have changed either."""
    problems = []
    if not _FINISHED.search(output):
        problems.append("no mypy -v log in the output: cannot tell whether the run was warm")
    for module in sorted(set(_WRITING.findall(output))):
        problems.append("mypy wrote the cache of %s" % module)
    error_files = {os.path.normpath(p) for p in _ERROR.findall(output)}
    erroring = set()
    if allow_modules_with_errors:
        for module, path in _DELETING.findall(output):
            path = os.path.normpath(path)
            if any(path == f or path.endswith("/" + f) for f in error_files):
                erroring.add(module)
    for scc, why in _PROCESSING.findall(output):
        rechecked = sorted(set(scc.split()) - erroring)
        if rechecked:
            problems.append("mypy rechecked %s (%s)" % (" ".join(rechecked[:10]) + (
                " and %d more" % (len(rechecked) - 10) if len(rechecked) > 10 else ""), why))
    if before is not None and after is not None:
        changed = sorted(k for k in set(before) | set(after)
                         if not k[1].startswith("@") and before.get(k) != after.get(k))
        problems += ["row %s %s changed" % k for k in changed]
    return problems


# ------------------------------------------------------------------------------- documentation

_SNIPPET = re.compile(r"^<!-- snippet: ([\w-]+) -->\n```[^\n]*\n(.*?)^```$", re.M | re.S)


def doc_snippets(markdown):
    """{name: text} of the fenced blocks of a documentation page that follow a line
    `<!-- snippet: NAME -->` (tests run them as written). A name given twice is an error."""
    with open(markdown) as f:
        text = f.read()
    found = {}
    for name, body in _SNIPPET.findall(text):
        if name in found:
            raise ValueError("%s: snippet %s given twice" % (markdown, name))
        found[name] = body
    return found


# ------------------------------------------------------------------------------- test cases

class E2ETestCase(unittest.TestCase):
    """A test case with a private working directory."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="e2e.", dir=os.environ.get("TEST_TMPDIR") or None)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def typecache(self, *args, env=None, cwd=None, binary=None):
        return run([binary or shipped()] + list(args), cwd or self.work, env=env)

    def assert_warm(self, output, before=None, after=None):
        self.assertEqual(warm_problems(output, before, after), [], "the rerun was not warm")

    def assert_nothing_lost(self, reference, cache_dir):
        """Every group of the reference cache (the same work run one check after another) is in
        cache_dir, which is intact; prints the figures."""
        want, got = groups(reference), groups(cache_dir)
        print("reference groups %d, shared cache groups %d, lost %d" % (
            len(want), len(got), len(want - got)))
        self.assertEqual(want - got, set())
        self.assertEqual(set(integrity(cache_dir)), {"ok"})


class FakeCheckerTestCase(E2ETestCase):
    """A test case with fake_checker.py installed as an executable `fakemypy` (typecache runs
    it like mypy) and a shared cache directory path, `self.cache`."""

    def setUp(self):
        super().setUp()
        self.fake = os.path.join(self.work, "fakemypy")
        shutil.copy(FAKE_CHECKER, self.fake)
        os.chmod(self.fake, 0o755)
        self.cache = os.path.join(self.work, "cache")

    def fake_run(self, spec, *typecache_args, env=None, check_exit=None, cache=None, binary=None):
        """`typecache run` over the fake checker following `spec`."""
        r = self.typecache("run", "--cache-dir", cache or self.cache, *typecache_args, "--",
                           self.fake, env=fake_env(spec, env), binary=binary)
        if check_exit is not None:
            self.assertEqual(r.returncode, check_exit, r.stderr)
        return r


def main():
    unittest.main(verbosity=2, argv=strip_binary_flags(sys.argv))


# ---- typecache's messages, counters and the test servers ----

def warning_lines(stderr):
    """typecache's warnings in `stderr`, one per line."""
    return [l for l in stderr.splitlines() if l.startswith("typecache: warning:")]


def error_lines(stderr):
    """typecache's errors in `stderr` (a usage or command error is exactly one)."""
    return [l for l in stderr.splitlines() if l.startswith("typecache: error:")]


def run_counters(cache):
    """{counter: value} of the cache's run statistics (.typecache/stats), {} before any run."""
    out = {}
    path = os.path.join(cache, ".typecache", "stats")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, value = line.split()
                out[name] = int(value)
    return out


def servers_script():
    """tests/remote/servers.py, from the runfiles under Bazel or from the checkout."""
    path = os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache", "tests/remote/servers.py")
    return path if os.path.exists(path) else os.path.join(HERE, "..", "remote", "servers.py")


class Servers:
    """Real servers for remote-store tests (tests/remote/servers.py: "redis", "nginx", "s3",
    "blackhole", ...), on free ports of 127.0.0.1, until stop(). `info` is what the script
    printed: each server's URL and settings."""

    def __init__(self, *kinds):
        self.proc = subprocess.Popen(["/usr/bin/python3", servers_script()] + list(kinds),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("servers.py did not start (see its stderr)")
        self.info = json.loads(line)

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run_concurrently(fn, items):
    """[fn(x) for x in items], all at once (one thread each), in the order of `items`."""
    import concurrent.futures
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(max(1, len(items))) as pool:
        return list(pool.map(fn, items))
