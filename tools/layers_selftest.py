#!/usr/bin/env python3
"""Self-test of tools/layers.py: synthetic source trees with one violation each must fail, with
the line that names it; a clean tree must pass. Run by `bazel test //tools:layers_test`."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LAYERS = os.path.join(HERE, "layers.py")

CLEAN = {
    "src/sqlite/sqlite_db.h": '#include <sqlite3.h>\nclass Db {};\n',
    "src/sqlite/sqlite_db.cc": '#include "src/sqlite/sqlite_db.h"\n'
                               'void F(Db& db) { db.Exec("BEGIN IMMEDIATE"); sqlite3_close(0); }\n',
    "src/cachedb/cache_db.h": '#include "src/sqlite/sqlite_db.h"\n',
    "src/cachedb/cache_db.cc": '#include "src/cachedb/cache_db.h"\n'
                               'const char* k = "SELECT key FROM t";\n'
                               'const char* t = " AFTER INSERT ON t BEGIN ";\n',
    "src/cachedb/cache_file.h": '#include "src/checker/checker_adapter.h"\nclass Db;\n',
    "src/checker/checker_adapter.h": 'struct RowFacts { int data_stamp; };\n',
    "src/checker/mypy/mypy_adapter.cc": 'const char* t = "files2"; // data_mtime, CACHEDIR\n',
    "src/commands/merge.cc": '#include "src/cachedb/cache_file.h"\n'
                             '// A comment may say SELECT x FROM y or "files2".\n',
    "src/commands/merge_test.cc": '#include "src/sqlite/sqlite_db.h"\n'
                                  'const char* q = "SELECT * FROM files2";\n',
    "src/cli/cli.cc": '#include "src/checker/mypy/mypy_adapter.h"\n'
                      'const char* help = "default: .mypy_cache";\n',
    "src/main.cc": '#include "src/cli/cli.h"\n',
}

# Each case: (file, content, the text the violation line must contain).
BROKEN = [
    ("src/commands/verify.cc", '#include "src/sqlite/sqlite_db.h"\n',
     "src/commands/verify.cc:1: layer commands must not include src/sqlite"),
    ("src/commands/verify.cc", '#include "src/cachedb/cache_db.h"\n',
     "src/commands/verify.cc:1: layer commands must not include src/sqlite, reached through "
     "src/cachedb/cache_db.h -> src/sqlite/sqlite_db.h"),
    ("src/commands/prune.cc", 'void F() { db.Exec("DELETE FROM files2 WHERE 1"); }\n',
     "src/commands/prune.cc:1: SQL outside src/sqlite and src/cachedb"),
    ("src/store/local/publish.cc", 'void F() { sqlite3_exec(0, 0, 0, 0, 0); }\n',
     "src/store/local/publish.cc:1: SQLite C API outside src/sqlite"),
    ("src/cachedb/group_rows.cc", 'void F() { sqlite3_step(0); }\n',
     "src/cachedb/group_rows.cc:1: SQLite C API outside src/sqlite"),
    ("src/cachedb/group_rows.cc", 'void F() { db.Exec("BEGIN IMMEDIATE"); db.Exec("COMMIT"); }\n',
     "src/cachedb/group_rows.cc:1: transaction control outside src/sqlite"),
    ("src/cachedb/inspect.h", 'struct GroupInfo { int data_mtime; };\n',
     "src/cachedb/inspect.h:1: mypy-specific name outside src/checker/mypy: data_mtime"),
    ("src/store/local/layout.cc", 'const char* tag = "CACHEDIR.TAG";\n',
     "src/store/local/layout.cc:1: mypy-specific name outside src/checker/mypy: CACHEDIR"),
    ("src/os/fs.cc", '#include "src/store/local/layout.h"\n',
     "src/os/fs.cc:1: layer os must not include src/store/local"),
    ("src/brand/new.cc", '\n', "src/brand/new.cc: directory src/brand is not a known layer"),
]


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def run(root):
    return subprocess.run([sys.executable, LAYERS, root], capture_output=True, text=True)


class LayersSelfTest(unittest.TestCase):
    def test_clean_tree_passes(self):
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, CLEAN)
            r = run(root)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout, "")

    def test_each_violation_fails_the_check(self):
        for rel, text, expected in BROKEN:
            with self.subTest(rel=rel, expected=expected), tempfile.TemporaryDirectory() as root:
                files = dict(CLEAN)
                files[rel] = text
                write_tree(root, files)
                r = run(root)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                lines = r.stdout.splitlines()
                self.assertTrue(any(expected in l for l in lines), "%r not in %s" % (expected, lines))
                self.assertIn("violation(s)", r.stderr)


if __name__ == "__main__":
    unittest.main()
