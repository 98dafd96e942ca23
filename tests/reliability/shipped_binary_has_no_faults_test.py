"""The shipped binary (//src:typecache) has no fault injection: TYPECACHE_FAULT and
TYPECACHE_FAULT_TRACE are ignored, a run completes and publishes normally. The hooks live only in
the test-only build //src/testing:typecache_faulty.

FAILS UNTIL THE RESTRUCTURE LANDS: before it, //src:typecache still honours the hooks.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402


class ShippedBinaryTest(tc.FakeCheckerTestCase):

    def test_fault_hooks_are_ignored(self):
        trace = os.path.join(self.work, "trace")
        r = self.fake_run(tc.tagged_spec("shipped", ["m"]), "-v",
                          env={"TYPECACHE_FAULT": "kill@1", "TYPECACHE_FAULT_TRACE": trace})
        self.assertEqual(r.returncode, 0, "the shipped binary obeyed TYPECACHE_FAULT=kill@1 "
                         "(exit %d): %s" % (r.returncode, r.stderr))
        self.assertIn("typecache: published", r.stderr)
        self.assertNotIn("injected fault", r.stderr)
        self.assertEqual(tc.group_tags(self.cache), {"m": "shipped"})
        self.assertFalse(os.path.exists(trace), "the shipped binary wrote a fault trace")


if __name__ == "__main__":
    tc.main()
