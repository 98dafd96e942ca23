"""Disk accounting and command targets through the binary, with Debian's real mypy 1.0.1
(issue 13, items 5 and 9):

- `stats` shows what the cache directory holds on disk, by bucket (live generations, old
  generations, spares, runs in progress, leftovers of dead or failed runs, pass-through caches,
  typecache's own state), and the buckets add up to what `du` counts for the directory;
- what failed publishes leave (never-live generations, runs/*.link files) is reclaimed by the next
  run and by `verify --repair` once older than the dead-run age, never while young;
- `prune --max-size` ends within its budget as `stats` reports the size, and prints one summary
  line (per-group lines with --list);
- a directory that holds no cache is an error naming it; `stats` before the first run shows
  zeros; a failed command leaves its inputs byte for byte as they were;
- `run -- mypy --no-sqlite-cache` (a pass-through run) never writes into a generation;
- issue 12: after any number of changing runs the cache takes at most twice the live cache (the
  head and one spare; no window of old generations), besides typecache's small state.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

BUCKETS = ("live", "old_generations", "spares", "running", "leftovers", "passthrough", "state")


def tree_digest(root):
    """A digest of everything under root: names, types, file bytes, symlink targets."""
    h = hashlib.sha256()
    if not os.path.lexists(root):
        return "missing"
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(dirpath, root)
        h.update(("D %s\n" % rel).encode())
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                h.update(("L %s -> %s\n" % (os.path.join(rel, name), os.readlink(path))).encode())
            else:
                with open(path, "rb") as f:
                    h.update(("F %s %s\n" % (os.path.join(rel, name),
                                             hashlib.sha256(f.read()).hexdigest())).encode())
    return h.hexdigest()


def du_bytes(path):
    """What du counts for path: allocated bytes, hard links once, symlinks not followed."""
    out = subprocess.run(["du", "-s", "--block-size=1", path], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0])


def age(paths, seconds=3600):
    for p in paths:
        os.utime(p, (time.time() - seconds,) * 2, follow_symlinks=False)


class DiskTargetsTest(tc.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.work, "proj")
        self.pkgs = [tc.write_package(self.src, i) for i in range(3)]
        self.cache = os.path.join(self.src, ".mypy_cache")

    def mypy_run(self, pkg, binary=None, env=None, run_args=()):
        """Edits pkg (so the run has something to publish) and checks it through typecache."""
        with open(os.path.join(self.src, pkg, "mod0.py"), "a") as f:
            f.write("edited_%d: int = 1\n" % time.monotonic_ns())
        r = self.typecache("run", *run_args, "--", tc.MYPY, "-p", pkg, env=env, cwd=self.src,
                           binary=binary)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # one deliberate error per package
        self.settle()
        return r

    def settle(self, seconds=60.0):
        """Waits for the detached deleter a run leaves behind (at the lowest CPU and I/O
        priority, so on a busy machine it can take seconds) to empty .typecache/trash: until
        then what it deletes counts as leftovers and du moves under the test's feet."""
        trash = os.path.join(self.cache, ".typecache", "trash")
        deadline = time.monotonic() + seconds
        while os.path.isdir(trash) and os.listdir(trash):
            if time.monotonic() > deadline:
                self.fail("the run's trash was not emptied in %.0f s: %s" % (
                    seconds, os.listdir(trash)))
            time.sleep(0.05)

    def stats(self, *args, cwd=None):
        r = self.typecache("stats", "--json", *args, cwd=cwd or self.src)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def gens(self):
        return sorted(os.listdir(os.path.join(self.cache, ".typecache", "gens", tc.PYVER)))

    def live_gen(self):
        return os.path.basename(os.readlink(os.path.join(self.cache, tc.PYVER)))

    def fail_publishes(self, n):
        """n runs whose switch to the new generation fails (ENOSPC on the link's rename): each
        leaves a generation that never went live and its runs/*.link file."""
        for i in range(n):
            # Renames: claiming an idle run directory (tried once even when there is none),
            # claiming a spare (when there is one), the log, the directory, the link.
            spares = os.path.join(self.cache, ".typecache", "spares", tc.PYVER)
            link = 5 if os.path.isdir(spares) and os.listdir(spares) else 4
            r = self.mypy_run(self.pkgs[i % len(self.pkgs)], binary=tc.faulty(),
                              env={"TYPECACHE_FAULT": "fail:rename:ENOSPC@%d" % link})
            self.assertIn("cannot publish to the shared cache", r.stderr)
            self.assertIn("/%s: No space left" % tc.PYVER, r.stderr)

    def kill_after_snapshot(self):
        """A run killed (SIGKILL) right after copying the cache: its private copy stays in
        runs/ (a dead run's leftover). The call to kill at is found from a traced run that
        publishes nothing, so the cache is the same for both."""
        trace = os.path.join(self.work, "trace")
        args = ["run", "--publish", "never", "--", tc.MYPY, "-p", self.pkgs[0]]
        self.typecache(*args, cwd=self.src, binary=tc.faulty(),
                       env={"TYPECACHE_FAULT_TRACE": trace})
        with open(trace) as f:
            calls = [line.split() for line in f]
        copy = next(int(n) for n, op, *_ in calls if op == "copy")
        r = self.typecache(*args, cwd=self.src, binary=tc.faulty(),
                           env={"TYPECACHE_FAULT": "kill@%d" % (copy + 1)})
        self.assertEqual(r.returncode, -9, r.stderr)
        runs = os.path.join(self.cache, ".typecache", "runs")
        copies = [n for n in os.listdir(runs) if os.path.isdir(os.path.join(runs, n))]
        self.assertEqual(len(copies), 1, os.listdir(runs))
        return os.path.join(runs, copies[0])

    def links(self):
        runs = os.path.join(self.cache, ".typecache", "runs")
        return sorted(n for n in os.listdir(runs) if n.endswith(".link"))

    def age_leftovers(self):
        runs = os.path.join(self.cache, ".typecache", "runs")
        gens = os.path.join(self.cache, ".typecache", "gens", tc.PYVER)
        age([os.path.join(runs, n) for n in os.listdir(runs)]
            + [os.path.join(gens, n) for n in os.listdir(gens)])

    # ---- item 5: disk accounting

    def test_stats_buckets_add_up_to_du(self):
        for pkg in self.pkgs:
            self.mypy_run(pkg)
        self.fail_publishes(2)
        dead_copy = self.kill_after_snapshot()
        doc = self.stats()
        disk = doc["disk"]
        print("stats disk:", disk, "du:", du_bytes(self.cache))
        self.assertEqual(sorted(disk), sorted(BUCKETS + ("total",)))
        self.assertEqual(disk["total"], sum(disk[b] for b in BUCKETS))
        # Nothing changes the directory between the two: equal, not within a margin.
        self.assertEqual(disk["total"], du_bytes(self.cache))
        # The live generation is the databases' size rounded up to blocks.
        live = os.path.join(self.cache, tc.PYVER)
        self.assertEqual(disk["live"], du_bytes(os.path.realpath(live)))
        self.assertEqual(doc["size"], tc.cache_bytes(self.cache))
        gens = os.path.join(self.cache, ".typecache", "gens", tc.PYVER)
        old = [g for g in self.gens() if g < self.live_gen()]
        never = [g for g in self.gens() if g > self.live_gen()]
        self.assertEqual(len(never), 2, self.gens())
        self.assertEqual(disk["old_generations"],
                         sum(du_bytes(os.path.join(gens, g)) for g in old))
        self.assertGreaterEqual(disk["leftovers"], du_bytes(dead_copy)
                                + sum(du_bytes(os.path.join(gens, g)) for g in never))
        self.assertEqual(disk["running"], 0)
        # The text screen shows each bucket, and the leftovers say who removes them.
        text = self.typecache("stats", cwd=self.src).stdout
        for label in ("Disk use (what du counts)", "live generations",
                      "old generations awaiting removal", "spares kept for the next run",
                      "runs in progress", "leftovers of dead or failed runs",
                      "typecache's own state and other files"):
            self.assertIn(label, text)
        self.assertIn("(removed by the next run or verify --repair)", text)

    def test_failed_publishes_are_reclaimed_by_the_next_run(self):
        self.mypy_run(self.pkgs[0])
        self.fail_publishes(2)
        self.assertEqual(len(self.links()), 2)
        never_live = [g for g in self.gens() if g > self.live_gen()]
        self.assertEqual(len(never_live), 2, self.gens())
        # Young leftovers may be a publish in progress: a run leaves them alone. (These runs
        # publish nothing: a publish would go live above them, and they would be plain old
        # generations, collected as those are.)
        self.mypy_run(self.pkgs[1], run_args=["--publish", "never"])
        self.assertEqual(len(self.links()), 2)
        self.assertEqual([g for g in self.gens() if g > self.live_gen()], never_live)
        self.age_leftovers()
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stdout.count("a generation that never went live"), 2, r.stdout)
        self.assertEqual(r.stdout.count("leftovers of a dead run"), 2, r.stdout)
        before = self.stats()["disk"]["leftovers"]
        self.assertGreater(before, 0)
        self.mypy_run(self.pkgs[2], run_args=["--publish", "never"])
        self.assertEqual(self.links(), [])
        self.assertEqual([g for g in self.gens() if g > self.live_gen()], [])
        self.assertEqual(self.stats()["disk"]["leftovers"], 0)
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_failed_publishes_are_reclaimed_by_verify_repair(self):
        self.mypy_run(self.pkgs[0])
        self.fail_publishes(3)
        self.age_leftovers()
        r = self.typecache("verify", "--repair", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.links(), [])
        self.assertEqual([g for g in self.gens() if g > self.live_gen()], [])
        self.assertEqual(r.stdout.count("repaired: removed the leftovers of dead run"), 3, r.stdout)
        disk = self.stats()["disk"]
        self.assertEqual(disk["leftovers"], 0)
        self.assertEqual(disk["total"], du_bytes(self.cache))

    def test_prune_budget_is_exact(self):
        for pkg in self.pkgs:
            self.mypy_run(pkg)
        size = self.stats()["size"]
        # One byte under: the oldest group alone rarely frees a whole page, so this takes rounds.
        for budget in (size - 1, size * 3 // 4, size // 3):
            r = self.typecache("prune", "--max-size", str(budget), self.cache)
            self.assertEqual(r.returncode, 0, r.stderr)
            after = self.stats()["size"]
            print("budget %d: %s" % (budget, r.stdout.strip()))
            self.assertLessEqual(after, budget)
            self.assertGreater(after, 0)
            lines = r.stdout.splitlines()
            self.assertEqual(len(lines), 1, r.stdout)  # The summary only, without --list.
            self.assertRegex(lines[0], r"^evicted \d+ module groups?, .* freed; size .* -> .* "
                                       r"\(budget .*, within\)$")
            size = after
        r = self.typecache("prune", "--list", "--json", "--max-size", str(size // 2), self.cache)
        doc = json.loads(r.stdout)
        self.assertLessEqual(self.stats()["size"], size // 2)
        self.assertEqual(doc["budget"], size // 2)
        self.assertEqual(doc["size_after"], self.stats()["size"])
        r = self.typecache("prune", "--list", "--dry-run", "--max-size", "1", self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertTrue(r.stdout.startswith("would evict "), r.stdout)
        # A budget not even the empty databases fit in cannot be met: an error, not a success
        # that ends over budget.
        r = self.typecache("prune", "--max-size", "1K", self.cache)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"^typecache: error: %s: --max-size 1.0 KiB: the databases take "
                                   r".* with no module group left" % self.cache)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_disk_stays_within_twice_the_live_cache(self):
        # Changing runs (each publishes a generation) and warm runs (publish nothing, donate their
        # copy), in turn.
        figures = []
        for i in range(8):
            if i % 4 == 3:
                r = self.typecache("run", "--", tc.MYPY, "-p", self.pkgs[0], cwd=self.src)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            else:
                self.mypy_run(self.pkgs[i % len(self.pkgs)])
            disk = self.stats()["disk"]
            used = disk["total"] - disk["state"] - disk["passthrough"]
            figures.append("%d: live %d, used %d (%.2fx), old %d, spares %d, leftovers %d, "
                           "state %d" % (i, disk["live"], used, used / disk["live"],
                                         disk["old_generations"], disk["spares"],
                                         disk["leftovers"], disk["state"]))
            self.assertEqual(disk["running"], 0, figures[-1])
            # A donated spare may hold a few free pages more than the generation it restores
            # (SQLite does not shrink a file when the run's rewrites are put back): a slack of
            # 16 pages, against one cache size per extra generation a window would keep.
            self.assertLessEqual(used, 2 * disk["live"] + 16 * 4096, "\n".join(figures))
            self.assertEqual(disk["old_generations"], 0, figures[-1])
            self.assertEqual(disk["total"], du_bytes(self.cache))
        print("\n".join(figures))
        self.assertEqual(self.gens(), [self.live_gen()])
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout)

    # ---- item 9: targets

    def assert_one_error(self, r, path, reason):
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(r.stderr, "typecache: error: %s: %s\n" % (path, reason))

    def test_a_directory_without_a_cache_is_an_error_naming_it(self):
        self.mypy_run(self.pkgs[0])
        home = os.path.join(self.work, "home")
        os.makedirs(os.path.join(home, ".config"))
        with open(os.path.join(home, "notes.txt"), "w") as f:
            f.write("hello\n")
        not_cache = "not a cache directory: it holds no cache database directory (such as 3.11/), " \
                    "no .typecache/ and no typecache.conf"
        before = {p: tree_digest(p) for p in (home, self.src)}
        for args in (["stats"], ["stats", "--json"], ["verify"], ["verify", "--repair"],
                     ["prune", "--older-than", "1s"], ["compact"]):
            r = self.typecache(*args, home)
            self.assert_one_error(r, home, not_cache)
        # merge --into m ../proj: a project, not a cache (its cache is proj/.mypy_cache).
        r = self.typecache("merge", "--into", "m", "../proj", cwd=os.path.join(self.work, "home"))
        self.assert_one_error(r, "../proj", not_cache)
        self.assertFalse(os.path.lexists(os.path.join(home, "m")))
        self.assertEqual({p: tree_digest(p) for p in (home, self.src)}, before)
        # The cache itself is fine.
        r = self.typecache("merge", "--into", os.path.join(self.work, "m"), self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_stats_before_the_first_run_shows_zeros(self):
        fresh = os.path.join(self.work, "fresh")
        os.makedirs(fresh)
        r = self.typecache("stats", cwd=fresh)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Cache directory: %s" % os.path.join(fresh, ".mypy_cache"), r.stdout)
        self.assertRegex(r.stdout, r"\n  Runs +0\n")
        doc = self.stats(cwd=fresh)
        self.assertEqual(set(doc["counters"].values()), {0})
        self.assertEqual(set(doc["disk"].values()), {0})
        self.assertEqual(doc["databases"], [])
        self.assertEqual(os.listdir(fresh), [])  # Looking wrote nothing.
        # A path given explicitly must exist.
        r = self.typecache("stats", "missing", cwd=fresh)
        self.assert_one_error(r, "missing", "no such file or directory")

    def test_a_failed_command_leaves_its_input_unchanged(self):
        bad = os.path.join(self.work, "bad")
        os.makedirs(os.path.join(bad, tc.PYVER))
        with open(os.path.join(bad, tc.PYVER, "cache.db"), "wb") as f:
            f.write(b"this is not an SQLite database\n" * 100)
        bad_file = os.path.join(self.work, "bad.db")
        with open(bad_file, "wb") as f:
            f.write(b"neither is this\n" * 100)
        for target in (bad, bad_file):
            for args in (["verify", "--repair"], ["prune", "--orphans"], ["compact"],
                         ["prune", "--max-size", "1K"]):
                before = tree_digest(self.work)
                r = self.typecache(*args, target)
                self.assertEqual(r.returncode, 2, (args, target, r.stdout, r.stderr))
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("typecache: error: "), r.stderr)
                self.assertEqual(tree_digest(self.work), before, (args, target))
        # merge into a new destination from an unreadable source creates no destination.
        r = self.typecache("merge", "--into", os.path.join(self.work, "new"), bad)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertFalse(os.path.lexists(os.path.join(self.work, "new")))

    def test_no_sqlite_cache_never_writes_into_a_generation(self):
        self.mypy_run(self.pkgs[0])
        gens = os.path.join(self.cache, ".typecache", "gens")
        before = tree_digest(gens)
        live = self.live_gen()
        r = self.typecache("run", "--", tc.MYPY, "--no-sqlite-cache", "-p", self.pkgs[0],
                           cwd=self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # mypy's own status
        self.assertIn("error: Incompatible types", r.stdout)
        self.assertEqual(tree_digest(gens), before)
        self.assertEqual(self.live_gen(), live)
        self.assertEqual(os.listdir(os.path.join(self.cache, tc.PYVER)), ["cache.db"])
        # mypy kept its JSON cache beside, in the pass-through directory stats accounts for.
        json_dir = os.path.join(self.cache, ".typecache", "passthrough", tc.PYVER)
        self.assertTrue(any(n.endswith(".meta.json") for n in os.listdir(json_dir)))
        disk = self.stats()["disk"]
        self.assertGreater(disk["passthrough"], 0)
        self.assertEqual(disk["total"], du_bytes(self.cache))
        r = self.typecache("verify", self.cache)
        self.assertEqual(r.returncode, 0, r.stdout)
        # clean removes it with the rest.
        r = self.typecache("clean", self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.cache, ".typecache", "passthrough")))
        self.assertEqual(self.stats()["disk"]["passthrough"], 0)


if __name__ == "__main__":
    tc.main()
