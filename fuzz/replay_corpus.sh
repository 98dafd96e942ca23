#!/bin/bash
# fuzz/<target>_corpus_test: runs a fuzz target once over every input of its seed corpus
# (replay_main.cc, or libFuzzer's main with -runs=0 under --config=fuzz). Fails on a crash.
set -euo pipefail
cd "${TEST_SRCDIR:?run me with bazel test}/typecache"
export TMPDIR="${TEST_TMPDIR:-/tmp}"
exec "$1" -runs=0 "$2"
