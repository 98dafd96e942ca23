"""tc_py_test: one Python test script of tests/ run with Debian's python3 against the built
binaries (tests/py_test_runner.sh, tests/pylib/tclib.py).

Every test gets the shipped binary (`--typecache`); a test that sets TYPECACHE_FAULT or
TYPECACHE_FAULT_TRACE says `faulty = True` and also gets the test-only build with fault injection
(`--typecache-faulty`). The two labels are set here, once, for every BUILD file under tests/.
"""

# The binary users get: no fault injection.
TYPECACHE = "//src:typecache"

# The test-only build that honours TYPECACHE_FAULT / TYPECACHE_FAULT_TRACE. To try the tests on a
# tree where it does not exist yet, point this at TYPECACHE (which still has the hooks there).
TYPECACHE_FAULTY = "//src/testing:typecache_faulty"

PYLIB = "//tests/pylib"

def tc_py_test(name, script = None, faulty = False, args = [], data = [], tags = [], size = "medium", **kwargs):
    """sh_test running `<script or name>.py` of this package; faulty: it also needs the faulty build."""
    binaries = [TYPECACHE]
    flags = ["--typecache", "$(rootpath %s)" % TYPECACHE]
    if faulty:
        if TYPECACHE_FAULTY != TYPECACHE:
            binaries.append(TYPECACHE_FAULTY)
        flags += ["--typecache-faulty", "$(rootpath %s)" % TYPECACHE_FAULTY]
    native.sh_test(
        name = name,
        size = size,
        srcs = ["//tests:py_test_runner.sh"],
        args = ["%s/%s.py" % (native.package_name(), script or name)] + flags + args,
        data = [(script or name) + ".py", PYLIB] + binaries + data,
        tags = ["e2e"] + tags,
        **kwargs
    )
