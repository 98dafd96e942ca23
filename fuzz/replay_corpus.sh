#!/bin/bash
# fuzz/<target>_corpus_test: runs a fuzz target once over every input of its seed corpus
# (replay_main.cc, or libFuzzer's main with -runs=0 under --config=fuzz). Fails on a crash.
# The targets' scratch databases go to memory (/dev/shm) when it exists: they fsync.
set -euo pipefail
cd "${TEST_SRCDIR:?run me with bazel test}/typecache"
scratch="$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TEST_TMPDIR:-/tmp}")/tc-corpus.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
TMPDIR="$scratch" "$1" -runs=0 "$2"
