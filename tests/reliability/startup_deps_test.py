"""The shipped binary starts cheaply: it loads only glibc.

typecache starts on every mypy run, so loading costs count (issue 12: a warm no-change run's
own work ≤ 2 ms). libcurl alone brings some 30 shared objects (TLS, Kerberos, LDAP, ...), which
made `typecache --version` take ~5 ms more; it is loaded with dlopen only when an HTTP or S3
store is used (src/store/remote/curl_session.cc). Everything else (libstdc++, libgcc, SQLite,
xxHash, zstd, hiredis, Abseil) is linked statically into //src:typecache (src/BUILD.bazel,
third_party/system.BUILD): resolving libstdc++'s symbols alone cost about 1 ms of CPU per
run. glibc stays shared, since libcurl is loaded into the process with dlopen. This test reads
the binary's dynamic section
(DT_NEEDED) and what the loader resolves (ldd), and checks an HTTP store still works through the
lazily loaded library (cli_remote_test does so against real servers; here a refused connection
must be reported as the store being unavailable, not as a missing library).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as tc  # noqa: E402

# glibc only: the C++ runtime and the libraries every run needs are linked in statically.
ALLOWED = {"libm", "libc", "ld-linux-x86-64", "linux-vdso"}


def soname_stem(name):
    base = os.path.basename(name)
    return base.split(".so")[0]


class StartupDepsTest(tc.E2ETestCase):

    def test_needed_entries_are_only_what_every_run_uses(self):
        out = subprocess.run(["readelf", "-d", tc.shipped()], capture_output=True, text=True,
                             check=True).stdout
        needed = [line.split("[", 1)[1].rstrip("]").strip()
                  for line in out.splitlines() if "(NEEDED)" in line]
        self.assertTrue(needed, out)
        extra = sorted(n for n in needed if soname_stem(n) not in ALLOWED)
        self.assertEqual(extra, [], "shared objects other than glibc's: link them statically")

    def test_loader_resolves_few_objects(self):
        out = subprocess.run(["ldd", tc.shipped()], capture_output=True, text=True,
                             check=True).stdout
        loaded = sorted({soname_stem(line.split()[0]) for line in out.splitlines() if line.strip()})
        extra = [n for n in loaded if n not in ALLOWED]
        self.assertEqual(extra, [], "shared objects loaded at startup: %s" % loaded)

    def test_http_store_loads_libcurl_on_demand(self):
        # A port nothing listens on: the lazily loaded libcurl must get as far as connecting.
        r = self.typecache("remote", "status", "http://127.0.0.1:9/none",
                           "--cache-dir", os.path.join(self.work, "cache"))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("libcurl", r.stderr, "libcurl could not be loaded: " + r.stderr)
        self.assertRegex(r.stderr, r"(?i)refused|connect|unavailable", r.stderr)


if __name__ == "__main__":
    tc.main()
