"""The shell completions and the man page (share/) know every command and option the binary
has: each subcommand `typecache --help` lists, and each long option of `typecache CMD --help`.
"""

import os
import sys
import re

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

SHARE = os.path.join(os.environ.get("TEST_SRCDIR", ""), "typecache", "share")
if not os.path.isdir(SHARE):
    SHARE = os.path.join(e.HERE, "..", "..", "share")


def read(rel):
    with open(os.path.join(SHARE, rel)) as f:
        return f.read()


class ShareTest(e.E2ETestCase):

    def commands(self):
        r = self.typecache("--help")
        block = r.stdout.split("Subcommands:", 1)[1].split("\n\n", 1)[0]
        return re.findall(r"^  (\w+) ", block, re.M)

    def options(self, command):
        r = self.typecache(command, "--help")
        self.assertEqual(r.returncode, 0, command)
        return sorted(set(re.findall(r"(--[a-z][a-z-]*)", r.stdout.split("Options:", 1)[1]
                                     .split("\n\n", 1)[0])) - {"--help"})

    def test_every_command_and_option_is_completed_and_documented(self):
        files = {"bash": read("completions/typecache.bash"), "zsh": read("completions/_typecache"),
                 "fish": read("completions/typecache.fish"), "man": read("man/typecache.1")}
        commands = self.commands()
        self.assertLessEqual({"run", "config", "dir", "clean", "stats", "verify", "prune", "merge",
                              "compact"}, set(commands))
        for name, text in files.items():
            self.assertFalse("planned" in text, name)
        # Each command where each file lists the commands.
        bash_list = re.search(r'local commands="([^"]*)"', files["bash"]).group(1).split()
        for command in commands:
            self.assertIn(command, bash_list)
            self.assertIn("'%s:" % command, files["zsh"])
            self.assertRegex(files["fish"], r"-a %s -d " % command)
            self.assertRegex(files["man"], r"(?m)^\.B %s\b" % command)
        for command in commands:
            for option in self.options(command):
                with self.subTest(command=command, option=option):
                    for name, needle in (("bash", option), ("zsh", option),
                                         ("fish", "-l " + option[2:]),
                                         ("man", option.replace("-", "\\-"))):
                        self.assertTrue(needle in files[name], "%s lacks %s" % (name, needle))
        for key in ("lock_timeout", "publish", "max_size", "verbose", "disable"):
            for name, text in files.items():
                self.assertTrue(key in text, "%s lacks %s" % (name, key))


if __name__ == "__main__":
    e.main()
