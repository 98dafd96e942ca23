#!/bin/bash
# Runs one Python end-to-end test file with Debian's python3 (the interpreter mypy uses).
set -euo pipefail
dir="${TEST_SRCDIR:-$(dirname "$0")/../..}/typecache/tests/e2e"
[ -d "$dir" ] || dir="$(cd "$(dirname "$0")" && pwd)"
export TYPECACHE_BIN="${TEST_SRCDIR}/typecache/src/typecache"
exec /usr/bin/python3 "$dir/$1"
