#!/bin/bash
# Runs a Python test script (path relative to the workspace) with Debian's python3, the
# interpreter Debian's mypy uses, from the runfiles tree. The binaries come as arguments
# (--typecache, --typecache-faulty; see tests/defs.bzl and tests/pylib/tclib.py).
set -euo pipefail
root="${TEST_SRCDIR:?run me with bazel test}/typecache"
cd "$root"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$@"
