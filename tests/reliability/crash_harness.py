"""Crash harness: SIGKILL typecache at every step of snapshot, run and publish (injected kill
points, TYPECACHE_FAULT=kill@N) and at random times (signals), with other runs in flight.

After every trial:
  - the shared cache opens and passes PRAGMA integrity_check and `typecache verify`
    (a dead run's leftovers are allowed until the next run sweeps them);
  - every module group is the old or the new generation, never a mix (each group's rows carry
    the tag of the run that wrote them, and all rows of a group must carry the same tag);
  - no group published by a surviving run is missing.

  python3 crash_harness.py --typecache BIN [--long]   (default: every kill point once plus
                                                      40 random-time trials; --long: 500+)
Prints "N passed, M failed" at the end.
"""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "e2e", "fake_checker.py")


def spec(tag, modules, sleep=0.0):
    rows = []
    for m in modules:
        rows += [[m + ".meta.json", 10.0, json.dumps({"data_mtime": 10, "tag": tag})],
                 [m + ".data.json", 10.0, json.dumps({"tag": tag})]]
    actions = [{"op": "sleep", "seconds": sleep}] if sleep else []
    return {"actions": actions + [{"op": "write", "db": "cache.db", "table": "files", "rows": rows}]}


def read_groups(cache):
    """{group: tag}, failing on a group whose rows carry different tags (a torn group)."""
    live = os.path.join(cache, "3.11")
    out = {}
    if not os.path.exists(live):
        return out
    conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(live, "cache.db"), uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity"
        tags = {}
        for path, data in conn.execute("SELECT path, data FROM files"):
            group = path.rsplit(".", 2)[0]
            tags.setdefault(group, set()).add(json.loads(data)["tag"])
    finally:
        conn.close()
    for group, t in tags.items():
        assert len(t) == 1, "torn group %s: %s" % (group, t)
        out[group] = t.pop()
    return out


class Harness:
    def __init__(self, tc, work):
        self.tc = tc
        self.work = work
        self.cache = os.path.join(work, "cache")
        self.passed = 0
        self.failed = 0
        self.published = {}  # group -> tag of the last surviving publisher

    def run(self, tag, modules, env=None, sleep=0.0):
        e = dict(os.environ, FAKE_ACTIONS=json.dumps(spec(tag, modules, sleep)))
        e.update(env or {})
        return subprocess.Popen([self.tc, "run", "--cache-dir", self.cache, "--", FAKE],
                                env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def check(self, name, before, victim_tag, victim_modules):
        try:
            now = read_groups(self.cache)
            r = subprocess.run([self.tc, "verify", self.cache], capture_output=True, text=True)
            problems = [l for l in r.stdout.splitlines()
                        if l.startswith("/") and "dead run" not in l]
            assert not problems, "verify: %s" % problems
            for group, tag in self.published.items():
                assert group in now, "lost group %s published by %s" % (group, tag)
            victim = {g: now.get(g) for g in victim_modules}
            old = {g: before.get(g) for g in victim_modules}
            assert victim in ({g: victim_tag for g in victim_modules}, old), \
                "victim's groups are neither old nor new: %s" % victim
            if victim == {g: victim_tag for g in victim_modules}:
                self.published.update(victim)
            self.passed += 1
        except AssertionError as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e))

    def trial_kill_at(self, n):
        """The victim is killed before its n-th file-system call; a bystander runs alongside."""
        before = read_groups(self.cache)
        mods = ["shared/m%d" % (n % 5), "victim/m%d" % n]
        bystander = self.run("by%d" % n, ["bystander/m%d" % n, "shared/b%d" % (n % 3)])
        victim = self.run("v%d" % n, mods, {"TYPECACHE_FAULT": "kill@%d" % n})
        victim.wait()
        bystander.wait()
        if bystander.returncode == 0:
            self.published.update({"bystander/m%d" % n: "by%d" % n, "shared/b%d" % (n % 3): "by%d" % n})
        killed = victim.returncode == -signal.SIGKILL
        self.check("kill@%d" % n, before, "v%d" % n, mods)
        return killed

    def trial_random_signal(self, i, rng):
        before = read_groups(self.cache)
        mods = ["victim/r%d" % i, "shared/m%d" % (i % 5)]
        others = [self.run("o%d-%d" % (i, k), ["other/r%d-%d" % (i, k)]) for k in range(2)]
        victim = self.run("r%d" % i, mods, sleep=rng.choice([0, 0, 0.05]))
        time.sleep(rng.uniform(0, 0.25))
        try:
            victim.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        victim.wait()
        for k, o in enumerate(others):
            o.wait()
            if o.returncode == 0:
                self.published["other/r%d-%d" % (i, k)] = "o%d-%d" % (i, k)
        self.check("random-kill %d" % i, before, "r%d" % i, mods)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--typecache", required=True)
    parser.add_argument("--long", action="store_true", help="500+ trials")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="crash.", dir=os.environ.get("TEST_TMPDIR"))
    h = Harness(os.path.abspath(args.typecache), work)
    h.run("seed", ["shared/m%d" % i for i in range(5)]).wait()
    h.published.update({"shared/m%d" % i: "seed" for i in range(5)})
    # Count the calls of one run, then kill at each of them.
    trace = os.path.join(work, "trace")
    p = h.run("probe", ["probe/m"], {"TYPECACHE_FAULT_TRACE": trace})
    p.wait()
    h.published["probe/m"] = "probe"
    with open(trace) as f:
        calls = sum(1 for _ in f)
    rounds = 4 if args.long else 1
    kills = 0
    for r in range(rounds):
        for n in range(1, calls + 1):
            kills += h.trial_kill_at(n) and 1 or 0
    rng = random.Random(args.seed)
    randoms = 500 - rounds * calls if args.long else 40
    for i in range(max(randoms, 40)):
        h.trial_random_signal(i, rng)
    # The next run sweeps everything the dead left (backdated past the grace period).
    runs = os.path.join(h.cache, ".typecache", "runs")
    for name in os.listdir(runs):
        os.utime(os.path.join(runs, name), (time.time() - 3600,) * 2, follow_symlinks=False)
    h.run("final", ["final/m"]).wait()
    leftovers = os.listdir(runs)
    if leftovers:
        h.failed += 1
        print("FAIL sweep: leftovers %s" % leftovers)
    else:
        h.passed += 1
    print("kill points per run: %d; trials: %d kill-at-step (%d killed), %d random-time kills; "
          "groups published by survivors: %d, lost: 0 unless reported above" % (
              calls, rounds * calls, kills, max(randoms, 40), len(h.published)))
    print("%d passed, %d failed" % (h.passed, h.failed))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failed else 0


if __name__ == "__main__":
    sys.exit(main())
