"""tc_test: the cc_test for one library, from <name>_test.cc beside it."""

def tc_test(name, deps = [], size = "small", **kwargs):
    native.cc_test(
        name = name + "_test",
        srcs = [name + "_test.cc"],
        size = size,
        deps = [
            ":" + name,
            "//src/testing:test_util",
            "@system//:gtest_main",
            "@system//:absl",
        ] + deps,
        **kwargs
    )
