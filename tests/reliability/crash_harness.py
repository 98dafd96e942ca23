"""Crash harness: SIGKILL typecache at every step of snapshot, run and publish (injected kill
points, TYPECACHE_FAULT=kill@N, in the faulty build) and at random times (signals, the shipped
binary), with other runs in flight.

After every trial:
  - the shared cache opens and passes PRAGMA integrity_check, and `typecache verify` exits 0
    (a dead run's private copy is only reported after the sweeper's grace period);
  - every module group is the old or the new generation, never a mix (each group's rows carry
    the tag of the run that wrote them, and all rows of a group must carry the same tag);
  - no group published by a surviving run is missing.
At the end: every kill-at-step trial was killed by its fault (exit by SIGKILL), so the number of
killed trials equals the number of kill points probed (a fault hook that does nothing fails
here), and the next run sweeps what the dead left.

Retired spares: a second probe is a run that claims a retired generation as its snapshot (a
reader's shared lock, the claim, the update from the logs) and whose publish retires another
(the exclusive try-lock, the rename into spares/); its trace must show both. It is then killed at
each of its calls, alone (so that every kill point is on those paths), with a retired spare in
place before each trial. After each, besides the checks above: no spare is the directory of a
generation (a claimed spare is rewritten in place), and every retired spare still matches its
generation's log (sizes and mtimes). The statistics must count snapshots from retired spares.

Adoption: a third probe is the first typecache run on a cache that plain mypy wrote (a foreign
<X.Y> directory): it copies it outside the lock and, under the lock, only checks the stamps of its
files before publishing by exchange (the `adopted_unchanged` counter). It is then killed at each
of its calls, each trial on its own fresh foreign cache (made up front and aged past the 1 s racy
margin once); after each: integrity, verify exits 0, the groups are the foreign ones, plus the
victim's or not, never a mix, and a next run publishes on top without losing any of them.

  python3 crash_harness.py [--typecache BIN] [--typecache-faulty BIN] [--long]
        (default: every kill point once plus 40 random-time trials; --long: every kill point
        4 times plus 500 random-time trials)
Prints "N passed, M failed" at the end.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402


class Harness:
    def __init__(self, work):
        self.faulty = tc.faulty()
        self.work = work
        self.cache = os.path.join(work, "cache")
        self.passed = 0
        self.leftovers_seen = 0  # dead runs verify named (swept at the end)
        self.failed = 0
        self.published = {}  # group -> tag of the last surviving publisher

    def run(self, tag, modules, env=None, sleep=0.0):
        """A run of the fake checker writing `modules` tagged `tag`; with `env` (a fault) the
        faulty build runs, else the shipped binary."""
        before = [{"op": "sleep", "seconds": sleep}] if sleep else []
        return tc.start([self.faulty if env else tc.TYPECACHE, "run", "--cache-dir", self.cache,
                         "--", tc.FAKE_CHECKER], self.work,
                        env=tc.fake_env(tc.tagged_spec(tag, modules, before=before), env),
                        stdout=subprocess.DEVNULL)

    def fail(self, name, what):
        self.failed += 1
        print("FAIL %s: %s" % (name, what))

    # What a killed process may leave that verify names (exit 1) once it is past the 60 s grace
    # period: reclaimable disk, which the next run or `verify --repair` removes, not damage.
    # (A directory renamed into trash/ or runs/ keeps its old mtime, so it can be "old" at once.)
    LEFTOVERS = ("leftovers of a dead run", "trash a run that died did not finish deleting",
                 "a generation that never went live")

    def verify(self, cache):
        """verify exits 0, or 1 naming only a dead process's leftovers (counted)."""
        r = subprocess.run([tc.TYPECACHE, "verify", "--json", cache], capture_output=True,
                           text=True)
        problems = json.loads(r.stdout)["problems"] if r.returncode == 1 else []
        damage = [p for p in problems
                  if not any(m in str(v) for v in p.values() for m in self.LEFTOVERS)]
        assert r.returncode == 0 or (r.returncode == 1 and not damage), \
            "verify exited %d: %s %s" % (r.returncode, r.stdout[-1500:], r.stderr[-500:])
        self.leftovers_seen += len(problems)

    def check(self, name, before, victim_tag, victim_modules):
        try:
            assert set(tc.integrity(self.cache)) <= {"ok"}, "integrity: %s" % tc.integrity(self.cache)
            now = tc.group_tags(self.cache)
            self.verify(self.cache)
            for group, tag in self.published.items():
                assert group in now, "lost group %s published by %s" % (group, tag)
            victim = {g: now.get(g) for g in victim_modules}
            old = {g: before.get(g) for g in victim_modules}
            new = {g: victim_tag for g in victim_modules}
            assert victim in (new, old), "victim's groups are neither old nor new: %s" % victim
            if victim == new:
                self.published.update(victim)
            self.passed += 1
        except AssertionError as e:
            self.fail(name, e)

    def trial_kill_at(self, n):
        """The victim is killed before its n-th file-system call; a bystander runs alongside.
        Returns whether the fault killed it."""
        before = tc.group_tags(self.cache)
        mods = ["shared/m%d" % (n % 5), "victim/m%d" % n]
        by_mods = ["bystander/m%d" % n, "shared/b%d" % (n % 3)]
        bystander = self.run("by%d" % n, by_mods)
        victim = self.run("v%d" % n, mods, {"TYPECACHE_FAULT": "kill@%d" % n})
        _, victim_err = victim.communicate()
        _, by_err = bystander.communicate()
        if bystander.returncode == 0:
            self.published.update({g: "by%d" % n for g in by_mods})
        else:
            self.fail("kill@%d" % n, "bystander exited %d: %s" % (bystander.returncode, by_err))
        killed = victim.returncode == -signal.SIGKILL
        if not killed:
            print("note kill@%d: the victim was not killed (exit %d) %s" % (
                n, victim.returncode, victim_err.strip()[-300:]))
        self.check("kill@%d" % n, before, "v%d" % n, mods)
        return killed

    def spares_dir(self):
        return os.path.join(self.cache, ".typecache", "spares", "3.11")

    def retired_spares(self):
        d = self.spares_dir()
        return sorted(n for n in os.listdir(d) if ".retired." in n) if os.path.isdir(d) else []

    def ensure_retired(self, i):
        """Publishes sequential runs until a retired generation waits in spares/."""
        for k in range(6):
            if self.retired_spares():
                return True
            tag = "bump%d-%d" % (i, k)
            p = self.run(tag, ["bump/m%d" % (i % 3)])
            _, err = p.communicate()
            if p.returncode != 0:
                self.fail("bump %s" % tag, err)
                return False
            self.published["bump/m%d" % (i % 3)] = tag
        return bool(self.retired_spares())

    def spare_problems(self):
        """A spare that is a generation's directory, or a retired spare that is no longer exactly
        its generation (its files differ from the stamps in its log)."""
        problems = []
        gens_dir = os.path.join(self.cache, ".typecache", "gens", "3.11")
        gens = {(st.st_dev, st.st_ino) for st in
                (os.lstat(os.path.join(gens_dir, n)) for n in os.listdir(gens_dir))}
        d = self.spares_dir()
        for name in (os.listdir(d) if os.path.isdir(d) else []):
            st = os.lstat(os.path.join(d, name))
            if (st.st_dev, st.st_ino) in gens:
                problems.append("spare %s is a generation directory" % name)
            if ".retired." not in name:
                continue
            log = os.path.join(self.cache, ".typecache", "logs", "3.11",
                               name.split(".")[0] + ".log")
            if not os.path.exists(log):
                continue  # Its log was pruned: the next run discards it.
            with open(log) as f:
                stamps = [l.split() for l in f if l.startswith("stamp ")]
            for _, db, size, mtime in stamps:
                got = os.stat(os.path.join(d, name, db))
                if (got.st_size, got.st_mtime_ns) != (int(size), int(mtime)):
                    problems.append("retired spare %s: %s is not as its log recorded" % (name, db))
        return problems

    def trial_spare_kill_at(self, n):
        """Alone (no bystander): with a retired spare waiting, the victim is killed before its
        n-th call. Returns whether the fault killed it."""
        if not self.ensure_retired(n):
            self.fail("spare kill@%d" % n, "no retired spare could be made")
            return False
        before = tc.group_tags(self.cache)
        mods = ["victim/s%d" % n, "shared/m%d" % (n % 5)]
        victim = self.run("s%d" % n, mods, {"TYPECACHE_FAULT": "kill@%d" % n})
        _, err = victim.communicate()
        killed = victim.returncode == -signal.SIGKILL
        if not killed:
            print("note spare kill@%d: the victim was not killed (exit %d) %s" % (
                n, victim.returncode, err.strip()[-300:]))
        problems = self.spare_problems()
        if problems:
            self.fail("spare kill@%d" % n, problems)
        self.check("spare kill@%d" % n, before, "s%d" % n, mods)
        # These trials run alone, so no later run may sweep what the victim left before it
        # passes the sweeper's grace period (verify would then report it): sweep it now.
        tc.backdate_runs(self.cache)
        r = subprocess.run([tc.TYPECACHE, "verify", "--repair", self.cache], capture_output=True,
                           text=True)
        if r.returncode != 0 or os.listdir(os.path.join(self.cache, ".typecache", "runs")):
            self.fail("spare kill@%d" % n, "sweep after the trial: %s %s" % (r.stdout[-500:],
                                                                              r.stderr[-500:]))
        return killed

    def spare_probe(self, trace, tag):
        """A run that claims a retired spare and retires a generation (it publishes a change);
        returns its call count."""
        if not self.ensure_retired(0):
            self.fail("spare probe", "no retired spare after 6 publishing runs")
            return 0
        stats_before = self.counters()
        p = tc.start([self.faulty, "run", "-v", "--cache-dir", self.cache, "--", tc.FAKE_CHECKER],
                     self.work, env=tc.fake_env(tc.tagged_spec(tag, ["sprobe/m"]),
                                                {"TYPECACHE_FAULT_TRACE": trace}),
                     stdout=subprocess.DEVNULL)
        _, err = p.communicate()
        self.published["sprobe/m"] = tag
        with open(trace) as f:
            lines = [l.split() for l in f]
        ops = {l[1] for l in lines}
        retire = [l for l in lines if l[1] == "rename" and ".retired." in l[-1]]
        used = self.counters().get("spares_from_retired", 0) - stats_before.get(
            "spares_from_retired", 0)
        if "(spare)" not in err or used != 1:
            self.fail("spare probe", "the run did not snapshot from the retired spare (counter "
                      "%s): %s" % (used, err[-500:]))
        if not {"opendir", "lockshared", "statfd", "lock"} <= ops or not retire:
            self.fail("spare probe", "the trace lacks the reader lock or the retirement: ops %s, "
                      "retiring renames %d" % (sorted(ops), len(retire)))
        return len(lines)

    def counters(self, cache=None):
        r = subprocess.run([tc.TYPECACHE, "stats", "--json", cache or self.cache],
                           capture_output=True, text=True)
        return json.loads(r.stdout)["counters"]

    FOREIGN = ["foreign/m%d" % i for i in range(4)]

    def foreign_cache(self, name):
        """A cache directory plain mypy wrote (the fake checker run without typecache)."""
        cache = os.path.join(self.work, "adopt", name)
        r = subprocess.run([tc.FAKE_CHECKER, "--cache-dir", cache], cwd=self.work,
                           env=tc.clean_env(tc.fake_env(tc.tagged_spec("foreign", self.FOREIGN))),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return cache

    def adopt_run(self, cache, tag, mods, env=None):
        p = tc.start([self.faulty if env else tc.TYPECACHE, "run", "-v", "--cache-dir", cache,
                      "--", tc.FAKE_CHECKER], self.work,
                     env=tc.fake_env(tc.tagged_spec(tag, mods), env), stdout=subprocess.DEVNULL)
        _, err = p.communicate()
        return p.returncode, err

    def adoption(self, rounds):
        """Kill at every call of a run adopting a foreign cache; returns (calls, killed)."""
        probe = self.foreign_cache("probe")
        time.sleep(1.2)  # Past the racy margin: the stamps can prove the directory unchanged.
        trace = os.path.join(self.work, "adopt-trace")
        code, err = self.adopt_run(probe, "aprobe", ["adopted/p"], {"TYPECACHE_FAULT_TRACE": trace})
        with open(trace) as f:
            calls = sum(1 for _ in f)
        adopted = self.counters(probe).get("adopted_unchanged", 0)
        if code != 0 or adopted != 1 or self.counters(probe).get("publish_full_merge", 0) != 0:
            self.fail("adoption probe", "exit %d, adopted_unchanged %s: %s" % (
                code, adopted, err[-500:]))
        caches = {(r, n): self.foreign_cache("r%d-k%d" % (r, n))
                  for r in range(rounds) for n in range(1, calls + 1)}
        time.sleep(1.2)
        killed = 0
        for (r, n), cache in sorted(caches.items()):
            name = "adopt kill@%d" % n
            mods = ["adopted/v%d" % n, self.FOREIGN[n % 4]]
            code, err = self.adopt_run(cache, "av%d" % n, mods, {"TYPECACHE_FAULT": "kill@%d" % n})
            killed += code == -signal.SIGKILL
            try:
                assert set(tc.integrity(cache)) <= {"ok"}, "integrity: %s" % tc.integrity(cache)
                self.verify(cache)
                now = tc.group_tags(cache)
                old = {g: "foreign" for g in self.FOREIGN}
                new = dict(old, **{g: "av%d" % n for g in mods})
                assert now in (old, new), "neither the foreign cache nor it plus the victim: %s" % now
                code2, err2 = self.adopt_run(cache, "after%d" % n, ["adopted/after"])
                assert code2 == 0, "the next run exited %d: %s" % (code2, err2[-300:])
                assert tc.group_tags(cache) == dict(now, **{"adopted/after": "after%d" % n}), \
                    "the next run lost groups: %s" % tc.group_tags(cache)
                self.passed += 1
            except AssertionError as e:
                self.fail(name, e)
        return calls, killed

    def trial_random_signal(self, i, rng):
        before = tc.group_tags(self.cache)
        mods = ["victim/r%d" % i, "shared/m%d" % (i % 5)]
        others = [self.run("o%d-%d" % (i, k), ["other/r%d-%d" % (i, k)]) for k in range(2)]
        victim = self.run("r%d" % i, mods, sleep=rng.choice([0, 0, 0.05]))
        time.sleep(rng.uniform(0, 0.25))
        try:
            victim.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        victim.communicate()
        for k, o in enumerate(others):
            o.communicate()
            if o.returncode == 0:
                self.published["other/r%d-%d" % (i, k)] = "o%d-%d" % (i, k)
        self.check("random-kill %d" % i, before, "r%d" % i, mods)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--typecache", help="the shipped binary (see tclib)")
    parser.add_argument("--typecache-faulty", help="the build with fault injection (see tclib)")
    parser.add_argument("--long", action="store_true", help="every kill point 4 times, 500 random-time trials")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="crash.", dir=os.environ.get("TEST_TMPDIR"))
    h = Harness(work)
    h.run("seed", ["shared/m%d" % i for i in range(5)]).communicate()
    h.published.update({"shared/m%d" % i: "seed" for i in range(5)})
    # Count the calls of one run, then kill at each of them.
    trace = os.path.join(work, "trace")
    h.run("probe", ["probe/m"], {"TYPECACHE_FAULT_TRACE": trace}).communicate()
    h.published["probe/m"] = "probe"
    calls = 0
    if os.path.exists(trace):
        with open(trace) as f:
            calls = sum(1 for _ in f)
    if calls < 20:
        h.fail("probe", "the faulty build traced %d file-system calls (expected 20+): is "
               "TYPECACHE_FAULT_TRACE honoured?" % calls)
    rounds = 4 if args.long else 1
    kills = 0
    for _ in range(rounds):
        for n in range(1, calls + 1):
            kills += h.trial_kill_at(n)
    if kills == rounds * calls:
        h.passed += 1
    else:
        h.fail("kill count", "%d of %d kill-at-step trials were killed by their fault" % (
            kills, rounds * calls))
    # Retired spares: kill at every call of a run that claims one and retires another. What the
    # trials above left is swept first, so that the probe makes the calls each trial will make.
    tc.backdate_runs(h.cache)
    subprocess.run([tc.TYPECACHE, "verify", "--repair", h.cache], capture_output=True)
    # Twice: the first probe also empties what the sweep left in the trash; the second makes
    # exactly the calls of a trial.
    h.spare_probe(os.path.join(work, "spare-trace-0"), "sprobe0")
    spare_calls = h.spare_probe(os.path.join(work, "spare-trace"), "sprobe1")
    # A run's last few calls vary with what is in the trash (a background deleter may still be
    # emptying it), so the runs killed must be every trial up to some n near the probe's count,
    # and those not killed only the ones past it (they finished: nothing left to kill).
    spare_kills, killed_at, survived_at = 0, [], []
    for _ in range(rounds):
        for n in range(1, spare_calls + 1):
            killed = h.trial_spare_kill_at(n)
            spare_kills += killed
            (killed_at if killed else survived_at).append(n)
    if (spare_calls and spare_kills >= rounds * (spare_calls - 8) and
            (not survived_at or min(survived_at) > max(killed_at or [0]) - 8 * rounds)):
        h.passed += 1
    else:
        h.fail("spare kill count", "%d of %d spare kill-at-step trials were killed; not killed "
               "at %s" % (spare_kills, rounds * spare_calls, survived_at[:20]))
    used = h.counters().get("spares_from_retired", 0)
    if used < 1:
        h.fail("spares used", "only %d snapshots came from retired spares" % used)
    else:
        h.passed += 1
    # Adoption of a cache that plain mypy wrote: kill at every call.
    adopt_calls, adopt_kills = h.adoption(rounds)
    if adopt_calls >= 20 and adopt_kills >= rounds * (adopt_calls - 8):
        h.passed += 1
    else:
        h.fail("adoption kill count", "%d of %d adoption trials were killed" % (
            adopt_kills, rounds * adopt_calls))
    rng = random.Random(args.seed)
    randoms = 500 if args.long else 40
    for i in range(randoms):
        h.trial_random_signal(i, rng)
    # The next run sweeps everything the dead left (backdated past the grace period).
    tc.backdate_runs(h.cache)
    h.run("final", ["final/m"]).communicate()
    leftovers = os.listdir(os.path.join(h.cache, ".typecache", "runs"))
    if leftovers:
        h.fail("sweep", "leftovers %s" % leftovers)
    else:
        h.passed += 1
    print("kill points per run: %d; trials: %d kill-at-step (%d killed), %d random-time kills; "
          "groups published by survivors: %d, lost: 0 unless reported above" % (
              calls, rounds * calls, kills, randoms, len(h.published)))
    print("retired spares: %d kill points in a run that claims one and retires another, "
          "%d killed; snapshots from retired spares: %d" % (
              spare_calls, spare_kills, h.counters().get("spares_from_retired", 0)))
    print("adoption: %d kill points in a run adopting a foreign cache, %d killed" % (
        adopt_calls, adopt_kills))
    print("a dead process's leftovers named by verify along the way (swept after): %d"
          % h.leftovers_seen)
    print("%d passed, %d failed" % (h.passed, h.failed))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failed else 0


if __name__ == "__main__":
    sys.exit(main())
