#!/usr/bin/env python3
"""Checks the layering of src/ (docs/architecture.md) from the sources themselves.

Bazel's visibility stops a BUILD file from naming a library of a higher layer; this check also
stops a source file from including a header it only reaches transitively, and keeps two rules
that visibility cannot express:
  - no SQL text and no SQLite C API outside src/sqlite and src/cachedb;
  - no mypy-specific name outside src/checker/mypy.
Tests (*_test.cc) and src/testing may include anything.

  tools/layers.py [ROOT]     exit 0 when clean, 1 with one line per violation
"""
import os
import re
import sys

# Each layer and the layers its non-test sources may include.
ALLOWED = {
    "base": set(),
    "os": {"base"},
    "sqlite": {"base", "os"},
    "checker": {"base", "os"},
    "checker/mypy": {"base", "os", "checker"},
    "cachedb": {"base", "os", "sqlite", "checker"},
    "store": {"base", "os", "checker"},
    "store/local": {"base", "os", "checker", "cachedb", "store"},
    "store/remote": {"base", "os", "checker", "store"},
    "commands": {"base", "os", "checker", "cachedb", "store", "store/local", "store/remote"},
    "cli": {"base", "os", "sqlite", "checker", "checker/mypy", "cachedb", "store", "store/local",
            "store/remote", "commands"},
    "": {"base", "os", "cli"},  # src/main.cc
}
SQL_LAYERS = {"sqlite", "cachedb"}
SQL = re.compile(r'"[^"\n]*\b(SELECT [^"\n]*FROM|SELECT \d|INSERT (OR \w+ )?INTO|DELETE FROM|'
                 r'UPDATE \w+ SET|CREATE (TEMP )?(TABLE|INDEX|TRIGGER)|DROP (TABLE|TRIGGER)|'
                 r'BEGIN( IMMEDIATE)?"|COMMIT|ROLLBACK|PRAGMA|ATTACH|VACUUM)\b')
SQLITE_API = re.compile(r'\bsqlite3_\w+|#include [<"]sqlite3\.h[>"]')
MYPY_NAMES = re.compile(r'files2|data_mtime|CACHEDIR|\.mypy_cache|meta_ex|"files"|version_id')
INCLUDE = re.compile(r'#include "src/([^"]+)/[^/"]+\.h"')


def layer_of(rel):
    """'src/store/local/publish.cc' -> 'store/local'; 'src/main.cc' -> ''."""
    parts = rel.split("/")[1:-1]
    return "/".join(parts)


def check(root):
    problems = []
    src = os.path.join(root, "src")
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".cc", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            layer = layer_of(rel)
            if layer == "testing" or name.endswith("_test.cc"):
                continue
            if layer not in ALLOWED:
                problems.append("%s: directory src/%s is not a known layer" % (rel, layer))
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
            for n, line in enumerate(lines, 1):
                stripped = line.strip()
                if stripped.startswith("//"):
                    continue
                m = INCLUDE.search(line)
                if m:
                    target = m.group(1)
                    if target != layer and target not in ALLOWED[layer]:
                        problems.append("%s:%d: layer %s must not include src/%s (allowed: %s)" % (
                            rel, n, layer or "main", target,
                            ", ".join(sorted(ALLOWED[layer])) or "nothing"))
                if layer not in SQL_LAYERS:
                    if SQL.search(line):
                        problems.append("%s:%d: SQL outside src/sqlite and src/cachedb" % (rel, n))
                    if SQLITE_API.search(line):
                        problems.append("%s:%d: SQLite C API outside src/sqlite" % (rel, n))
                elif layer == "cachedb" and SQLITE_API.search(line):
                    problems.append("%s:%d: SQLite C API outside src/sqlite" % (rel, n))
                if layer != "checker/mypy" and MYPY_NAMES.search(line):
                    problems.append("%s:%d: mypy-specific name outside src/checker/mypy: %s" % (
                        rel, n, MYPY_NAMES.search(line).group(0)))
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print("layers: %d violation(s)" % len(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
