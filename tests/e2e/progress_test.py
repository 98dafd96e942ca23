"""Progress lines of the long commands, through the real binary under a pseudo-terminal.

stderr is a pty (python's pty module), TYPECACHE_PROGRESS_AFTER_MS=0 lowers the 1 s threshold so
a small real cache (Debian's mypy 1.0.1) shows progress: each of stats, verify, compact, prune,
merge and run draws a "typecache: <command>..." line, with a count and its total (stats,
verify, prune, merge, compact; merge's total of groups to copy is what it then reports as
changed) (run's snapshot: the bytes of the databases it copies; its publish: the groups written)
or the time spent, redrawn with '\\r' and cleared at the
end. With stderr not a terminal, or TYPECACHE_PROGRESS=0, --no-progress or TERM=dumb, nothing is
written to stderr; and without the test knob (the default 1 s) stats, that fast here, stays
silent on a terminal too.
"""

import json
import os
import pty
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

FAST = {"TYPECACHE_PROGRESS_AFTER_MS": "0"}
# "<amount>/<total>": "3/5 inputs", "1.2 KiB/180.0 KiB".
COUNT_TOTAL = re.compile(r": (\d+(?:\.\d+)?(?: [KMGT]?i?B)?)/(\d+(?:\.\d+)? ?[KMGT]?i?B?)")


def human_bytes(n):
    """How the progress line shows a size (src/base/progress.cc)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    u = 0
    n = float(n)
    while n >= 1024 and u < 4:
        n /= 1024
        u += 1
    return "%.0f B" % n if u == 0 else "%.1f %s" % (n, units[u])


def run_on_pty(cmd, cwd, env):
    """Runs cmd with stderr on a pseudo-terminal; returns (exit code, stdout, stderr bytes)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, cwd=cwd, env=tc.clean_env(env), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    out = p.stdout.read()
    p.stdout.close()
    p.wait(timeout=600)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


class ProgressTest(tc.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.work, "src")
        self.pkgs = [tc.write_package(self.src, i, modules=6) for i in range(3)]
        self.cache = os.path.join(self.work, "cache")
        r = self.typecache("run", "--cache-dir", self.cache, "--", tc.MYPY, *self.pkgs,
                           cwd=self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # one error per package
        self.assertEqual(r.stderr, "")

    def assert_progress(self, err, command):
        """A line for `command` with a count and its total, redrawn in place, cleared at the
        end (the last thing written is spaces between two '\\r')."""
        lines = [seg for seg in err.split("\r") if seg.startswith("typecache: " + command)]
        self.assertTrue(lines, "no progress line for %s in %r" % (command, err))
        with_total = [seg for seg in lines if COUNT_TOTAL.search(seg)]
        self.assertTrue(with_total, "no count/total in %r" % lines)
        for seg in with_total:
            self.assertRegex(seg, r"\(\d+%\)")
        self.assertNotIn("\n", err, "progress must stay on one line")
        self.assertRegex(err, r"\r *\r$", "the line was not cleared: %r" % err[-200:])
        return with_total

    def test_commands_show_count_and_total_on_a_terminal(self):
        dest = os.path.join(self.work, "merged")
        for args, command in [
                (["stats", self.cache], "stats"),
                (["verify", self.cache], "verify"),
                (["prune", "--older-than", "3650d", self.cache], "prune"),
                (["merge", "--into", dest, self.cache], "merge"),
                (["compact", self.cache], "compact")]:
            with self.subTest(command=command):
                code, out, err = run_on_pty([tc.TYPECACHE] + args, self.work, FAST)
                self.assertEqual(code, 0, out + err)
                lines = self.assert_progress(err, command)
                print(command, repr(lines[-1]))
        # merge's count/total of the groups it copies into an existing cache (which holds only
        # pkg0): the total is what merge then reports as changed.
        small = os.path.join(self.work, "small")
        r = self.typecache("run", "--cache-dir", small, "--", tc.MYPY, self.pkgs[0], cwd=self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        code, out, err = run_on_pty([tc.TYPECACHE, "merge", "--json", "--into", small,
                                     self.cache], self.work, FAST)
        self.assertEqual(code, 0, out + err)
        copying = [seg for seg in err.split("\r") if "copying groups" in seg]
        self.assertTrue(copying, err)
        total = int(re.search(r": \d+/(\d+) groups", copying[-1]).group(1))
        changed = json.loads(out)["groups_changed"]
        self.assertGreater(changed, 0)
        self.assertEqual(total, changed)

    def test_run_shows_its_steps_and_leaves_the_checker_output_alone(self):
        code, out, err = run_on_pty([tc.TYPECACHE, "run", "--cache-dir", self.cache, "--",
                                     tc.MYPY, *self.pkgs], self.src, FAST)
        self.assertEqual(code, 1, out + err)
        self.assertIn("error: Incompatible types", out)
        self.assertIn("\rtypecache: run: snapshot of the shared cache: ", err)
        self.assertIn("\rtypecache: run: publishing to the shared cache: ", err)
        self.assertRegex(err, r"\r *\r$")

    def test_run_counts_the_snapshot_copy_and_the_publish(self):
        # A plain mypy cache (mypy ran without typecache): the first run copies its database and
        # publishes the adopted cache. Both steps count against a total: the snapshot the bytes
        # of the databases it copies, the publish the groups this run wrote.
        plain = os.path.join(self.work, "plain")
        r = tc.run([tc.MYPY, "--sqlite-cache", "--cache-dir", plain, *self.pkgs], self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        size = os.path.getsize(os.path.join(plain, tc.PYVER, "cache.db"))
        with open(os.path.join(self.src, self.pkgs[0], "__init__.py"), "a") as f:
            f.write("\nADDED: int = 1\n")
        code, out, err = run_on_pty([tc.TYPECACHE, "run", "--cache-dir", plain, "--", tc.MYPY,
                                     *self.pkgs], self.src, FAST)
        self.assertEqual(code, 1, out + err)
        # Long lines are shortened from the left ("typecache: ...snapshot of the shared ...").
        segs = [seg for seg in err.split("\r") if seg.startswith("typecache: ")]
        snapshot = [re.search(r"snapshot of the shared cache: %s: (\S+ \S*B)/(\S+ \S*B) "
                              r"\(\d+%%\)" % re.escape(tc.PYVER), seg) for seg in segs]
        self.assertTrue(any(snapshot), err)
        self.assertEqual({m.group(2) for m in snapshot if m}, {human_bytes(size)}, err)
        publish = [re.search(r"shared cache: %s: (\d+)/(\d+) groups (written|merged) \(\d+%%\)"
                             % re.escape(tc.PYVER), seg) for seg in segs]
        written = [m for m in publish if m and m.group(3) == "written"]
        self.assertTrue(written, err)
        self.assertGreater(int(written[0].group(2)), 0)
        self.assertNotIn("\n", err)
        self.assertRegex(err, r"\r *\r$")
        self.assertTrue(os.path.islink(os.path.join(plain, tc.PYVER)))  # adopted and published

    def test_silent_when_not_a_terminal_or_turned_off(self):
        commands = [["stats", self.cache], ["verify", self.cache],
                    ["prune", "--older-than", "3650d", self.cache], ["compact", self.cache],
                    ["merge", "--into", os.path.join(self.work, "m"), self.cache],
                    ["run", "--cache-dir", self.cache, "--", tc.MYPY, *self.pkgs]]
        for args in commands:
            ok = (0, 1) if args[0] == "run" else (0,)
            with self.subTest(args=args[0], stderr="pipe"):
                r = tc.run([tc.TYPECACHE] + args, self.src, env=FAST)
                self.assertIn(r.returncode, ok, r.stdout + r.stderr)
                self.assertEqual(r.stderr, "")
            cases = [("TYPECACHE_PROGRESS=0", {"TYPECACHE_PROGRESS": "0"}, []),
                     ("--no-progress", {}, ["--no-progress"]),
                     ("TERM=dumb", {"TERM": "dumb"}, [])]
            if args[0] == "stats":  # milliseconds here: under the default 1 s, nothing shows
                cases.append(("the default 1 s threshold", None, []))
            for how, extra_env, flag in cases:
                with self.subTest(args=args[0], stderr="pty, " + how):
                    env = {} if extra_env is None else dict(FAST, **extra_env)
                    cmd = [tc.TYPECACHE, args[0]] + flag + args[1:]
                    code, out, err = run_on_pty(cmd, self.src, env)
                    self.assertIn(code, ok, out + err)
                    self.assertEqual(err, "")


if __name__ == "__main__":
    tc.main()
