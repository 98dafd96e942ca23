#!/bin/bash
# //tools:layers_test: the layering of the source tree (tools/layers.py over src/, as declared by
# each package's :layer_sources), then the checker's own self-test on synthetic trees: an upward
# include, SQL in a command and the like must fail it.
set -euo pipefail
cd "${TEST_SRCDIR:?run me with bazel test}/typecache"
/usr/bin/python3 tools/layers.py .
/usr/bin/python3 tools/layers_selftest.py
