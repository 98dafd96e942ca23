#!/usr/bin/env python3
"""Checks the layering of src/ (docs/architecture.md) from the sources themselves.

Bazel's visibility stops a BUILD file from naming a library of a higher layer; this check also
stops a source file from including a header of a layer it may not use, directly or through
other headers (a command that includes src/cachedb/cache_db.h reaches src/sqlite through it),
and keeps rules that visibility cannot express:
  - no SQL text and no SQLite C API outside src/sqlite and src/cachedb (above them,
    src/cachedb/cache_file.h is the whole database API);
  - no transaction control (BEGIN, COMMIT, ROLLBACK) outside src/sqlite (SqlTransaction);
  - no mypy-specific name outside src/checker/mypy, except in the layers that may include it
    (src/cli: it builds the MypyAdapter and documents mypy's defaults in its help).
Tests (*_test.cc) and src/testing may include anything.

  tools/layers.py [ROOT]     exit 0 when clean, 1 with one line per violation
Run by `bazel test //tools:layers_test` (with a self-test on synthetic trees).
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
# Layers that may name mypy: mypy's own, and those allowed to include it.
MYPY_LAYERS = {"checker/mypy"} | {l for l, allowed in ALLOWED.items() if "checker/mypy" in allowed}
SQL = re.compile(r'"[^"\n]*\b(SELECT [^"\n]*FROM|SELECT \d|INSERT (OR \w+ )?INTO|DELETE FROM|'
                 r'UPDATE \w+ SET|CREATE (TEMP )?(TABLE|INDEX|TRIGGER)|DROP (TABLE|TRIGGER)|'
                 r'BEGIN( IMMEDIATE)?"|COMMIT|ROLLBACK|PRAGMA|ATTACH|VACUUM)\b')
# A string that starts a transaction ("BEGIN", "BEGIN IMMEDIATE; ..."), or ends one. A trigger
# body (" BEGIN " inside CREATE TRIGGER) is not a transaction.
TRANSACTION = re.compile(r'"(BEGIN( IMMEDIATE| EXCLUSIVE| DEFERRED)?( TRANSACTION)?(;[^"\n]*)?"|'
                         r'[^"\n]*\b(COMMIT|ROLLBACK)\b[^"\n]*")')
SQLITE_API = re.compile(r'\bsqlite3_\w+|#include [<"]sqlite3\.h[>"]')
MYPY_NAMES = re.compile(r'files2|data_mtime|CACHEDIR|\.mypy_cache|meta_ex|"files"|version_id')
INCLUDE = re.compile(r'#include "(src/([^"]+)/[^/"]+\.h)"')


def layer_of(rel):
    """'src/store/local/publish.cc' -> 'store/local'; 'src/main.cc' -> ''."""
    parts = rel.split("/")[1:-1]
    return "/".join(parts)


def read_sources(root):
    """{rel path: lines} of every .cc and .h under ROOT/src."""
    sources = {}
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        for name in sorted(files):
            if name.endswith((".cc", ".h")):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    sources[os.path.relpath(path, root)] = f.read().split("\n")
    return sources


def includes_of(lines):
    """[(line number, included header path, its layer)] of the src/ includes in LINES."""
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip().startswith("//"):
            continue
        m = INCLUDE.search(line)
        if m:
            out.append((n, m.group(1), m.group(2)))
    return out


def first_forbidden(start, layer, sources, memo_includes):
    """Through the headers START includes (transitively), the first chain that reaches a header
    of a layer LAYER may not include: [header, ..., forbidden header], or None."""
    seen = set()
    stack = [[start]]
    while stack:
        chain = stack.pop()
        header = chain[-1]
        if header in seen:
            continue
        seen.add(header)
        target = layer_of(header)
        if target != layer and target not in ALLOWED.get(layer, set()):
            return chain
        for _, inc, _ in reversed(memo_includes.get(header, [])):
            if inc not in seen:
                stack.append(chain + [inc])
    return None


def check(root):
    problems = []
    sources = read_sources(root)
    includes = {rel: includes_of(lines) for rel, lines in sources.items()}
    for rel in sorted(sources):
        lines = sources[rel]
        layer = layer_of(rel)
        if layer == "testing" or rel.endswith("_test.cc"):
            continue
        if layer not in ALLOWED:
            problems.append("%s: directory src/%s is not a known layer" % (rel, layer))
            continue
        for n, header, target in includes[rel]:
            if target != layer and target not in ALLOWED[layer]:
                problems.append("%s:%d: layer %s must not include src/%s (allowed: %s)" % (
                    rel, n, layer or "main", target, ", ".join(sorted(ALLOWED[layer])) or "nothing"))
                continue
            chain = first_forbidden(header, layer, sources, includes)
            if chain:
                problems.append("%s:%d: layer %s must not include src/%s, reached through %s" % (
                    rel, n, layer or "main", layer_of(chain[-1]), " -> ".join(chain)))
        for n, line in enumerate(lines, 1):
            if line.strip().startswith("//"):
                continue
            if layer not in SQL_LAYERS:
                if SQL.search(line):
                    problems.append("%s:%d: SQL outside src/sqlite and src/cachedb" % (rel, n))
                if SQLITE_API.search(line):
                    problems.append("%s:%d: SQLite C API outside src/sqlite" % (rel, n))
            elif layer == "cachedb":
                if SQLITE_API.search(line):
                    problems.append("%s:%d: SQLite C API outside src/sqlite" % (rel, n))
                if TRANSACTION.search(line):
                    problems.append("%s:%d: transaction control outside src/sqlite "
                                    "(use SqlTransaction or CacheFile::Transaction)" % (rel, n))
            if layer not in MYPY_LAYERS and MYPY_NAMES.search(line):
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
