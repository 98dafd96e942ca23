#!/bin/bash
# Runs a Python test script (path relative to the workspace) with Debian's python3, the
# interpreter Debian's mypy uses, from the runfiles tree, with TYPECACHE_BIN set to the binary.
set -euo pipefail
root="${TEST_SRCDIR:?run me with bazel test}/typecache"
cd "$root"
export TYPECACHE_BIN="$root/src/typecache"
exec /usr/bin/python3 "$@"
