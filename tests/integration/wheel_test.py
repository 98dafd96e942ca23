"""The Python wheel end to end: tools/wheel wraps the built binary; the wheel is well formed
(RECORD hashes, WHEEL tag, an executable script); pip installs it offline into a fresh venv,
where `typecache` is on PATH and type-checks a package through the venv's python3 -m mypy,
filling the shared cache, and the next run is warm (every module's metadata fresh, the shared
cache's rows unchanged)."""

import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tclib as e  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WHEEL_TOOL = os.path.join(ROOT, "tools", "wheel")
PYTHON = "/usr/bin/python3"  # Debian's: has venv, and mypy 1.0.1 in its site-packages.


def read_version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


class WheelTest(e.E2ETestCase):

    def build_wheel(self):
        out = os.path.join(self.work, "dist")
        r = subprocess.run([PYTHON, WHEEL_TOOL, "--binary", e.TYPECACHE, "--out", out],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        wheels = os.listdir(out)
        self.assertEqual(len(wheels), 1, wheels)
        return os.path.join(out, wheels[0])

    def check_wheel(self, path):
        version = read_version()
        name = os.path.basename(path)
        self.assertRegex(name, r"^typecache-%s-py3-none-(manylinux_2_\d+|linux)_x86_64\.whl$"
                         % re.escape(version))
        plat = name[:-len(".whl")].split("-")[-1]
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dist_info = "typecache-%s.dist-info" % version
            self.assertEqual(names[-1], dist_info + "/RECORD")
            wheel_meta = zf.read(dist_info + "/WHEEL").decode()
            self.assertIn("Root-Is-Purelib: false", wheel_meta)
            self.assertIn("Tag: py3-none-%s" % plat, wheel_meta)
            metadata = zf.read(dist_info + "/METADATA").decode()
            self.assertIn("Name: typecache\nVersion: %s\n" % version, metadata)
            record = list(csv.reader(io.StringIO(zf.read(dist_info + "/RECORD").decode())))
            self.assertEqual(sorted(r[0] for r in record), sorted(names))
            for entry, digest, size in record:
                if entry.endswith("/RECORD"):
                    self.assertEqual((digest, size), ("", ""))
                    continue
                data = zf.read(entry)
                want = "sha256=" + base64.urlsafe_b64encode(
                    hashlib.sha256(data).digest()).rstrip(b"=").decode()
                self.assertEqual(digest, want, entry)
                self.assertEqual(int(size), len(data), entry)
            script = zf.getinfo("typecache-%s.data/scripts/typecache" % version)
            self.assertTrue((script.external_attr >> 16) & 0o111, "script is not executable")
            with open(e.TYPECACHE, "rb") as f:
                self.assertEqual(zf.read(script), f.read())

    def test_wheel_installs_and_runs_from_a_fresh_venv(self):
        wheel = self.build_wheel()
        self.check_wheel(wheel)
        # The same inputs give the same bytes.
        with open(wheel, "rb") as f:
            first = f.read()
        os.remove(wheel)
        with open(self.build_wheel(), "rb") as f:
            self.assertEqual(f.read(), first)

        venv = os.path.join(self.work, "venv")
        r = subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", venv],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        pip_env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_NO_CACHE_DIR="1")
        r = subprocess.run([os.path.join(venv, "bin", "python3"), "-m", "pip", "install",
                            "--no-index", wheel], capture_output=True, text=True, timeout=300,
                           env=pip_env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        bin_typecache = os.path.join(venv, "bin", "typecache")
        self.assertTrue(os.access(bin_typecache, os.X_OK))
        for rel in ("share/man/man1/typecache.1", "share/bash-completion/completions/typecache",
                    "share/zsh/site-functions/_typecache",
                    "share/fish/vendor_completions.d/typecache.fish"):
            self.assertTrue(os.path.exists(os.path.join(venv, rel)), rel)

        # As an activated venv would: its bin first on PATH, `typecache` found by name.
        env = {"PATH": os.path.join(venv, "bin") + ":/usr/bin:/bin", "VIRTUAL_ENV": venv,
               "HOME": self.work, "TYPECACHE_DIR": os.path.join(self.work, "shared")}
        r = subprocess.run(["typecache", "--version"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().split()[-1], read_version())

        project = os.path.join(self.work, "project")
        pkg = e.write_package(project, 0, modules=6)
        cmd = ["typecache", "run", "--", "python3", "-m", "mypy", "-v", "-p", pkg]
        cold = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True,
                              timeout=600)
        self.assertIn(cold.returncode, (0, 1), cold.stderr[-3000:])
        shared = env["TYPECACHE_DIR"]
        filled = e.rows(shared)
        modules = [g[3] for g in e.groups(shared) if g[3].startswith(pkg)]
        self.assertGreaterEqual(len(modules), 6, sorted(e.groups(shared))[:20])

        warm = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True,
                              timeout=600)
        self.assertIn(warm.returncode, (0, 1), warm.stderr[-3000:])
        stale = [m for m in modules if "Metadata fresh for %s:" % m.replace("/", ".")
                 not in warm.stderr and not m.endswith("__init__")]
        self.assertEqual(stale, [], "modules not read from the cache on the warm run")
        self.assertEqual(e.rows(shared), filled, "the warm run changed the shared cache")


if __name__ == "__main__":
    e.main()
