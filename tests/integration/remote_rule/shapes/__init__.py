"""A small package for bazel_remote_rule_test: typecache_mypy_test on two executors."""
