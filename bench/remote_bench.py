"""The `remote` workload: sharing a cache across machines through one nginx WebDAV server.

  tarball   the scheme in mypy's docs: after each commit, tar + zstd the cache directory and PUT
            it under the commit's name; a machine GETs the tarball of the commit it wants and
            unpacks it over its cache.
  typecache `typecache remote push` / `pull` (driven through //tests/remote_sync:remote_tool until
            the CLI has the subcommands): groups, content-addressed, with a publish log; a cold
            machine gets the pack `remote push` wrote (docs/remote.md "Packs"; --no-pack: the
            per-group path, for an A/B with one binary).

Scenarios, with Debian's real mypy 1.0.1 on generated packages (tests/pylib/pygen.py):
  cold        a machine with no cache gets the whole cache
  behind      a machine one commit behind (one module edited) catches up
  publish x8  8 machines that checked 8 different packages publish at once; a 9th gets what the
              store holds: groups lost against the union of their work (tarball: all publish
              under the same "latest" name, the last one wins)

Bytes are what crossed the network (HTTP bodies); seconds are wall time of the transfer step
including packing/unpacking (tarball) or reading/verifying/publishing (typecache), not mypy;
the table gives the median and (min-max) of --repeat rounds.

Sizes: the default cache, then (full mode) a larger one, --large 32x25. Besides wall seconds the
table gives CPU seconds (user + system of the step's processes), which a loaded machine moves far
less; and a tarball whose files are all fsynced (as durable as a typecache publish).

Measured 2026-12-01 (2-vCPU Debian 12 VM with four other builds running, load 5-7; -c opt;
--repeat 3), cold machine: 8 x 12 typecache CPU 0.049 s vs tarball 0.025 s (1.94x); 32 x 25
0.088 s vs 0.034 s (2.63x); one commit behind about the tarball's CPU. docs/remote.md "Measured".

  tools/bench [--quick]   (runs compare.py, then this with the -c opt binaries), or
  bazel build -c opt //src:typecache //tests/remote_sync:remote_tool
  python3 bench/remote_bench.py [--typecache B] [--tool B] [--quick] [--packages 8]
                                [--modules 12] [--repeat 3] [--large PxM|none] [--json-out F]
                                [--no-pack] [--no-direct]
"""

import argparse
import concurrent.futures
import http.client
import io
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
from pygen import write_package  # noqa: E402

TYPECACHE = os.path.join(ROOT, "bazel-bin", "src", "typecache")
TOOL = os.path.join(ROOT, "bazel-bin", "tests", "remote_sync", "remote_tool")
SERVERS = os.path.join(ROOT, "tests", "remote", "servers.py")
MYPY = shutil.which("mypy") or "/usr/bin/mypy"
PYVER = subprocess.run(["/usr/bin/python3", "-c",
                        "import sys; print('%d.%d' % sys.version_info[:2])"],
                       capture_output=True, text=True, check=True).stdout.strip()


class Nginx:
    def __init__(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", SERVERS, "nginx"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())
        self.port = self.info["nginx"]["port"]

    def url(self, path):
        return "http://127.0.0.1:%d/dav/%s/" % (self.port, path)

    def put(self, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("PUT", "/dav/" + path, body=body)
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status in (200, 201, 204), r.status

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/dav/" + path)
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status == 200, r.status
        return body

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=20)


def run_mypy(checkout, cache, packages):
    args = [TYPECACHE, "run", "--cache-dir", cache, "--", MYPY, "--sqlite-cache"]
    args += [os.path.join(checkout, p) for p in packages]
    r = subprocess.run(args, cwd=checkout, capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stdout + r.stderr


TOOL_ARGS = []


def tool(cmd, url, cache):
    r = subprocess.run([TOOL, cmd, url, "--cache-dir", cache, "--python", PYVER] + TOOL_ARGS,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def groups(cache):
    """Module groups in the cache: (table, module, format)."""
    db = os.path.join(cache, PYVER, "cache.db")
    if not os.path.exists(db):
        return set()
    con = sqlite3.connect(db)
    try:
        out = set()
        for (key,) in con.execute("SELECT path FROM files"):
            base = key.rsplit("/", 1)[-1]
            stem = key[:len(key) - len(base)] + base.split(".", 1)[0]
            out.add(stem)
        return out
    finally:
        con.close()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-3", "-c"], input=data, capture_output=True,
                          check=True).stdout


def unzstd(data):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True,
                          check=True).stdout


def tar_put(server, cache, name):
    """Packs the cache's live databases (what mypy reads) and PUTs it. Returns bytes sent."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(os.path.realpath(os.path.join(cache, PYVER)), arcname=PYVER)
    body = zstd(buf.getvalue())
    server.put("tar/%s.tar.zst" % name, body)
    return len(body)


def tar_get(server, cache, name):
    """GETs a tarball and unpacks it as the cache. Returns bytes received."""
    body = server.get("tar/%s.tar.zst" % name)
    if os.path.exists(cache):
        shutil.rmtree(cache)
    os.makedirs(cache)
    with tarfile.open(fileobj=io.BytesIO(unzstd(body)), mode="r") as t:
        t.extractall(cache)
    return len(body)


def cpu_seconds():
    """CPU time of this process and of its waited-for children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def fsync_tree(root):
    """fsyncs every file and directory under root: a tarball as durable as a typecache publish
    (which fsyncs its databases and directories before the rename that makes them live)."""
    for d, _, files in os.walk(root):
        for name in files + ["."]:
            fd = os.open(os.path.join(d, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def timed(fn):
    """fn()'s value, wall seconds and CPU seconds (with the processes it ran)."""
    start, cpu = time.monotonic(), cpu_seconds()
    value = fn()
    return value, time.monotonic() - start, cpu_seconds() - cpu


def fetch_both(server, url, work, tar_name):
    """A machine gets the tarball `tar_name` and pulls from the store: {scheme: (bytes, s, cpu)}
    and typecache's report."""
    nbytes, secs, cpu = timed(lambda: tar_get(server, os.path.join(work, "cold-tar"), tar_name))
    out = {"tarball": (nbytes, secs, cpu)}
    synced = os.path.join(work, "cold-tar-synced")
    nbytes, secs, cpu = timed(lambda: (tar_get(server, synced, tar_name), fsync_tree(synced))[0])
    out["tarball_synced"] = (nbytes, secs, cpu)
    report, secs, cpu = timed(lambda: tool("pull", url, os.path.join(work, "cold-tc")))
    out["typecache"] = (report["counters"]["bytes_down"], secs, cpu)
    return out, report


def scenario_single(server, tmp, packages, modules, round_id):
    """Cold and one-commit-behind, both schemes. Returns {scenario: {scheme: (bytes, s)}}."""
    work = os.path.join(tmp, "r%d" % round_id)
    checkout = os.path.join(work, "ci", "proj")
    names = [write_package(checkout, i, modules=modules, with_error=False) for i in range(packages)]
    cache_ci = os.path.join(work, "cache-ci")
    run_mypy(checkout, cache_ci, names)
    url = server.url("tc%d" % round_id)
    out = {}
    tar_put(server, cache_ci, "r%d-c1" % round_id)
    tool("push", url, cache_ci)
    # Cold machine.
    out["cold"], report = fetch_both(server, url, work, "r%d-c1" % round_id)
    out["cold"]["typecache_from_pack"] = report.get("groups_from_pack", 0)
    out["cold"]["typecache_direct"] = report.get("direct_publishes", 0)
    assert groups(os.path.join(work, "cold-tc")) == groups(cache_ci)
    # Commit 2 edits one module; CI checks and publishes it.
    write_package(checkout, 0, modules=modules, with_error=False, edit_round=1)
    run_mypy(checkout, cache_ci, names)
    tar_put(server, cache_ci, "r%d-c2" % round_id)
    tool("push", url, cache_ci)
    out["behind"], report = fetch_both(server, url, work, "r%d-c2" % round_id)
    out["behind"]["typecache_groups"] = report["counters"]["hits"]
    # Commit 3 edits another module: the steady state of a machine that pulls every commit
    # (its previous pull retired a generation, which this pull brings up to date instead of
    # copying the cache).
    write_package(checkout, 1 % packages, modules=modules, with_error=False, edit_round=2)
    run_mypy(checkout, cache_ci, names)
    tar_put(server, cache_ci, "r%d-c3" % round_id)
    tool("push", url, cache_ci)
    out["again"], report = fetch_both(server, url, work, "r%d-c3" % round_id)
    out["again"]["typecache_groups"] = report["counters"]["hits"]
    out["again"]["typecache_spares"] = report.get("dbs_from_spares", 0)
    assert groups(os.path.join(work, "cold-tc")) == groups(cache_ci)
    out["cache_groups"] = len(groups(cache_ci))
    out["cache_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in
                             os.walk(os.path.realpath(os.path.join(cache_ci, PYVER))) for f in fs)
    return out


def scenario_publish(server, tmp, machines, modules):
    """8 machines with disjoint packages publish at once. Returns {scheme: groups lost}."""
    work = os.path.join(tmp, "pub")
    caches = []
    union = set()
    for m in range(machines):
        checkout = os.path.join(work, "m%d" % m, "proj")
        name = write_package(checkout, 100 + m, modules=modules, with_error=False)
        cache = os.path.join(work, "cache-m%d" % m)
        run_mypy(checkout, cache, [name])
        caches.append(cache)
        union |= groups(cache)
    url = server.url("pub")
    with concurrent.futures.ThreadPoolExecutor(machines) as pool:
        list(pool.map(lambda c: tar_put(server, c, "latest"), caches))
        list(pool.map(lambda c: tool("push", url, c), caches))
    tar_get(server, os.path.join(work, "ninth-tar"), "latest")
    tool("pull", url, os.path.join(work, "ninth-tc"))
    return {
        "union": len(union),
        "tarball": len(union - groups(os.path.join(work, "ninth-tar"))),
        "typecache": len(union - groups(os.path.join(work, "ninth-tc"))),
    }


def print_table(runs, label, args):
    """The cold / behind rows of one size: median (min-max) wall seconds and median CPU."""
    def med(scn, scheme, i):
        return statistics.median(r[scn][scheme][i] for r in runs)

    def spread(scn, scheme):
        xs = [r[scn][scheme][1] for r in runs]
        return "%.3f (%.3f-%.3f)" % (statistics.median(xs), min(xs), max(xs))

    print("%s: %d module groups with the stdlib, %s of databases; median (min-max) of %d" % (
        label, runs[0]["cache_groups"], "{:,} bytes".format(runs[0]["cache_bytes"]), len(runs)))
    print()
    print("| scenario | tarball bytes | tarball s | tarball CPU s | typecache bytes | typecache s | "
          "typecache CPU s | typecache/tarball s | CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scn, name in (("cold", "cold machine"), ("behind", "one commit behind"),
                      ("again", "one more commit behind (steady state)")):
        print("| %s | %d | %s | %.3f | %d | %s | %.3f | %.2fx | %.2fx |" % (
            name, med(scn, "tarball", 0), spread(scn, "tarball"), med(scn, "tarball", 2),
            med(scn, "typecache", 0), spread(scn, "typecache"), med(scn, "typecache", 2),
            med(scn, "typecache", 1) / max(med(scn, "tarball", 1), 1e-9),
            med(scn, "typecache", 2) / max(med(scn, "tarball", 2), 1e-9)))
    print()
    for scn, name in (("cold", "cold machine"), ("behind", "one commit behind"),
                      ("again", "one more commit behind")):
        print("%s, tarball with every file fsynced: %s s, typecache/that %.2fx" % (
            name, spread(scn, "tarball_synced"),
            med(scn, "typecache", 1) / max(med(scn, "tarball_synced", 1), 1e-9)))
    print()
    print("one commit behind, typecache fetched %s group(s); cold, %s group(s) from a pack, "
          "%s direct publish(es)" % ([r["behind"]["typecache_groups"] for r in runs],
                                     [r["cold"]["typecache_from_pack"] for r in runs],
                                     [r["cold"]["typecache_direct"] for r in runs]))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packages", type=int, default=8)
    ap.add_argument("--modules", type=int, default=12)
    ap.add_argument("--machines", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large", default="32x25",
                    help="PACKAGESxMODULES of the larger cache measured after the default one "
                         "(full mode only; 'none' to skip)")
    ap.add_argument("--json-out")
    ap.add_argument("--typecache", help="the typecache binary (default: bazel-bin's)")
    ap.add_argument("--tool", help="remote_tool (default: bazel-bin's)")
    ap.add_argument("--no-pack", action="store_true",
                    help="pass --no-pack to remote_tool: no packs written or read (the per-group "
                         "path, for an A/B with one binary)")
    ap.add_argument("--no-direct", action="store_true",
                    help="pass --no-direct to remote_tool: a cold pull publishes through the "
                         "maintenance frame, not straight into a new generation (A/B)")
    ap.add_argument("--quick", action="store_true",
                    help="4 packages x 6 modules, 4 machines, 3 repeats, no larger cache "
                         "(tools/bench --quick)")
    args = ap.parse_args()
    global TYPECACHE, TOOL
    if args.no_pack:
        TOOL_ARGS.append("--no-pack")
    if args.no_direct:
        TOOL_ARGS.append("--no-direct")
    TYPECACHE = os.path.abspath(args.typecache) if args.typecache else TYPECACHE
    TOOL = os.path.abspath(args.tool) if args.tool else TOOL
    if args.quick:
        args.packages, args.modules, args.machines, args.large = 4, 6, 4, "none"
    sizes = [(args.packages, args.modules)]
    if args.large != "none":
        sizes.append(tuple(int(x) for x in args.large.split("x")))
    for path in (TYPECACHE, TOOL):
        if not os.path.exists(path):
            sys.exit("build first: bazel build -c opt //src:typecache //tests/remote_sync:remote_tool")
    tmp = tempfile.mkdtemp(prefix="tc-remote-bench-")
    server = Nginx()
    try:
        by_size = []
        for k, (packages, modules) in enumerate(sizes):
            by_size.append([scenario_single(server, tmp, packages, modules, 100 * k + r)
                            for r in range(args.repeat)])
        pub = scenario_publish(server, tmp, args.machines, args.modules)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print("remote workload: %s, %d cores, %s; nginx %s WebDAV on 127.0.0.1; mypy 1.0.1%s; "
          "seconds are wall time, CPU is user + system of the step's processes" % (
              platform.node(), os.cpu_count(), platform.platform(), "1.22",
              "; packs disabled (--no-pack)" if args.no_pack else ""))
    print()
    for (packages, modules), runs in zip(sizes, by_size):
        print_table(runs, "%d packages x %d modules" % (packages, modules), args)
    print("%d machines publish at once: groups lost of %d: tarball %d, typecache %d" % (
        args.machines, pub["union"], pub["tarball"], pub["typecache"]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"sizes": sizes, "runs": by_size, "publish": pub, "args": vars(args)}, f,
                      indent=1)


if __name__ == "__main__":
    main()
