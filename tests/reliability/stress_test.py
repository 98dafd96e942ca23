"""Contention: 16 concurrent writers for several rounds against one cache (real SQLite rows in
mypy's layout), each writing its own group and one of 4 contended ("hot") groups.

Every round makes the contention happen rather than hoping for it: the 16 runs take their
snapshots, then wait at a gate inside the checker until all 16 are in flight, and are released
together. So every publish but the first of a round lands on a generation newer than its
snapshot. Asserted after every round:
  - contention: the publish order (read from the generation logs) and each run's `-v` report
    agree that 15 of 16 publishes merged other runs' groups, the conflicts are exactly the hot
    groups an earlier publisher of the round had written, and runs waited for the lock;
  - the union rule: the cache holds exactly the write sets applied one after another in publish
    order (every own group, every hot group from its last publisher), no torn group;
  - lock waits stay below the timeout.
Retired spares: every round's publishes push generations out of the kept window, and the
newest becomes a spare; the next round's first snapshot claims it and brings it up to date from
the logs (16 readers hold the live generation meanwhile). So from round 2 on each round takes one
snapshot from a retired spare (the `spares_from_retired` counter), and the union rule above shows
that what it served was exactly the live generation.
Then, with a 1 ms lock timeout and the same gate, some runs must time out: each still exits with
the checker's status, names the lock's holder (pid, host, since when) and publishes nothing.

  python3 stress_test.py [--typecache BIN] [--rounds N]
Prints "N passed, M failed".
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

WRITERS = 16
HOT = 4
VERSION = "3.11"  # the fake checker's version directory
REPORT = re.compile(r"published [\d.]+ \w+: \d+ module groups? written by this run, (\d+) merged "
                    r"from others, (\d+) conflicts?(?:, (\d+) full comparisons?)?; "
                    r"lock wait ([\d.]+) ms, held ([\d.]+) ms")
HOLDER = re.compile(r"held by pid \d+ on host \S+ since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class Stress:
    def __init__(self, work):
        self.work = work
        self.cache = os.path.join(work, "cache")
        self.passed = 0
        self.failed = 0
        self.expected = {}  # group -> tag: the union rule, applied publish by publish
        self.seen_gen = 0

    def check(self, name, problems):
        if problems:
            self.failed += 1
            print("FAIL %s: %s" % (name, problems[:6]))
        else:
            self.passed += 1

    def gated_round(self, name, writers, timeout="60s"):
        """Starts the writers {tag: modules}, waits until all 16 are inside the checker (their
        snapshots taken), releases them together; returns {tag: (exit code, stderr)}."""
        gate = os.path.join(self.work, name + ".gate")
        procs = {}
        for tag, modules in writers.items():
            started = os.path.join(self.work, "%s.%s.started" % (name, tag))
            before = [{"op": "touch", "path": started},
                      {"op": "wait", "path": gate, "seconds": 120}]
            procs[tag] = (started, tc.start(
                [tc.TYPECACHE, "run", "-v", "--lock-timeout", timeout, "--cache-dir", self.cache,
                 "--", tc.FAKE_CHECKER], self.work,
                env=tc.fake_env(tc.tagged_spec(tag, modules, before=before)),
                stdout=subprocess.DEVNULL))
        all_started = all(tc.wait_for(started, 120) for started, _ in procs.values())
        open(gate, "w").close()
        out = {tag: (p.communicate()[1], p.returncode) for tag, (_, p) in procs.items()}
        if not all_started:
            self.check(name, ["not every writer reached the gate"])
        return {tag: (code, err) for tag, (err, code) in out.items()}

    def new_generations(self):
        """[(gen, {groups})] published since the last call, in publish order."""
        logs = os.path.join(self.cache, ".typecache", "logs", VERSION)
        out = []
        for name in sorted(os.listdir(logs)):
            if not name.endswith(".log"):  # <gen>.digest files hold the generation's digests
                continue
            gen, groups = 0, set()
            with open(os.path.join(logs, name)) as f:
                for line in f:
                    words = line.split()
                    if words[:1] == ["gen"]:
                        gen = int(words[1])
                    elif words[:1] == ["group"]:
                        groups.add(tc.module_of_group(words[2]))
            if gen > self.seen_gen:
                out.append((gen, groups))
        out.sort()
        if out:
            self.seen_gen = out[-1][0]
        return out

    def counters(self):
        r = subprocess.run([tc.TYPECACHE, "stats", "--json", self.cache], capture_output=True,
                           text=True)
        return json.loads(r.stdout)["counters"]

    def contended_round(self, r):
        writers = {"r%d-w%d" % (r, w): ["own/r%d/w%d" % (r, w), "hot/m%d" % (w % HOT)]
                   for w in range(WRITERS)}
        owner = {mods[0]: tag for tag, mods in writers.items()}
        stats_before = self.counters()
        results = self.gated_round("round%d" % r, writers)
        problems = ["%s: exit %d %s" % (tag, code, err.strip()[-300:])
                    for tag, (code, err) in results.items() if code != 0 or "warning" in err]
        reports = {tag: REPORT.search(err) for tag, (code, err) in results.items()}
        problems += ["%s: no publish report in -v output" % t for t, m in reports.items() if not m]
        # Publish order, from the generation logs; each generation is one writer's write set.
        order = []
        for gen, groups in self.new_generations():
            tags = {owner[g] for g in groups if g in owner}
            if len(tags) != 1 or groups != set(writers[next(iter(tags))]):
                problems.append("generation %d holds %s, not one writer's write set" % (gen, groups))
                continue
            order.append(next(iter(tags)))
        if sorted(order) != sorted(writers):
            problems.append("publish order %s does not hold every writer once" % order)
        # Contention: what each publish had to merge, against the order.
        merged_model = conflicts_model = merging = 0
        earlier = set()
        for tag in order:
            mine = set(writers[tag])
            merged_model += len(earlier - mine)
            conflicts_model += len(earlier & mine)
            m = reports.get(tag)
            if m and (int(m.group(1)) > 0) != bool(earlier):
                problems.append("%s merged %s groups from others, expected %s" % (
                    tag, m.group(1), len(earlier - mine)))
            merging += bool(earlier)
            earlier |= mine
        stats = {k: v - stats_before.get(k, 0) for k, v in self.counters().items()
                 if isinstance(v, int)}
        if merging != WRITERS - 1 or stats.get("publish_merged") != WRITERS - 1:
            problems.append("no contention: %s publishes merged others' work (counter %s), "
                            "expected %d" % (merging, stats.get("publish_merged"), WRITERS - 1))
        if stats.get("conflicts") != conflicts_model or conflicts_model != WRITERS - HOT:
            problems.append("conflicts: counter %s, from the publish order %d, expected %d" % (
                stats.get("conflicts"), conflicts_model, WRITERS - HOT))
        if stats.get("groups_merged") != merged_model:
            problems.append("groups merged: counter %s, from the publish order %d" % (
                stats.get("groups_merged"), merged_model))
        waits = [float(m.group(4)) for m in reports.values() if m]
        if not waits or max(waits) < 1.0:
            problems.append("no run waited for the lock (longest wait %s ms)" % max(waits or [0]))
        # The union rule: write sets applied one after another in publish order.
        for tag in order:
            self.expected.update({g: tag for g in writers[tag]})
        try:
            got = tc.group_tags(self.cache)
            if got != self.expected:
                diff = sorted(set(got.items()) ^ set(self.expected.items()))
                problems.append("not the union in publish order: %s" % diff[:6])
        except AssertionError as e:
            problems.append(str(e))
        if set(tc.integrity(self.cache)) != {"ok"}:
            problems.append("integrity: %s" % tc.integrity(self.cache))
        print("round %d: publish order %s; %d publishes merged, %d groups merged, %d conflicts, "
              "longest lock wait %.1f ms" % (r, " ".join(t.split("-")[1] for t in order), merging,
                                             merged_model, conflicts_model, max(waits or [0])))
        self.check("round %d" % r, problems)

    def timeout_round(self):
        """With a 1 ms lock timeout, runs released together must time out; each keeps the
        checker's status, names the holder and publishes nothing."""
        writers = {"t%d" % w: ["timeout/w%d" % w] for w in range(WRITERS)}
        results = self.gated_round("timeouts", writers, timeout="1ms")
        problems = ["%s: exit %d under lock timeout: %s" % (t, code, err[-300:])
                    for t, (code, err) in results.items() if code != 0]
        timed_out = {t: [l for l in err.splitlines() if "timed out" in l]
                     for t, (_, err) in results.items()}
        timed_out = {t: lines for t, lines in timed_out.items() if lines}
        if not timed_out:
            problems.append("no run timed out at 1 ms with %d runs released together" % WRITERS)
        problems += ["%s: the message does not name the holder: %s" % (t, lines[0])
                     for t, lines in timed_out.items() if not HOLDER.search(lines[0])]
        for tag in writers:
            if tag not in timed_out:
                self.expected[writers[tag][0]] = tag
        self.new_generations()
        if tc.group_tags(self.cache) != self.expected:
            problems.append("after the timeouts the cache is not the union of the runs that "
                            "published")
        if timed_out:
            print("lock timeouts: %d of %d runs, e.g. %s" % (
                len(timed_out), WRITERS, next(iter(timed_out.values()))[0]))
        self.check("lock timeout", problems)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--typecache", help="the shipped binary (see tclib)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="stress.", dir=os.environ.get("TEST_TMPDIR"))
    s = Stress(work)
    seed = tc.run([tc.TYPECACHE, "run", "--cache-dir", s.cache, "--", tc.FAKE_CHECKER], work,
                  env=tc.fake_env(tc.tagged_spec("seed", ["seed/m"])))
    s.check("seed", [] if seed.returncode == 0 else [seed.stderr])
    s.expected["seed/m"] = "seed"
    s.new_generations()
    for r in range(args.rounds):
        s.contended_round(r)
    stats = s.counters()
    print("rounds %d x %d writers: groups %d, conflicts resolved %d, publishes merging %d, "
          "longest lock wait %d ms, longest hold %d ms" % (
              args.rounds, WRITERS, len(s.expected), stats["conflicts"], stats["publish_merged"],
              stats["lock_wait_max_ms"], stats["lock_held_max_ms"]))
    retired = stats.get("spares_from_retired", 0)
    print("snapshots from retired spares: %d (copies %d)" % (retired, stats.get("snapshot_copies", 0)))
    s.check("retired generations served as spares",
            [] if retired >= args.rounds - 1 else
            ["only %d snapshots from retired spares in %d rounds" % (retired, args.rounds)])
    s.check("lock waits below the 60 s timeout",
            [] if 0 < stats["lock_wait_max_ms"] < 60000 else [stats["lock_wait_max_ms"]])
    s.timeout_round()
    print("%d passed, %d failed" % (s.passed, s.failed))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
