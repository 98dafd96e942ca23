"""The ways several mypy processes can share one cache, as runnable schemes.

Used by tools/demo.py and bench/compare.py. Each scheme runs one mypy invocation against a shared
cache directory and returns (exit code, stdout, stderr):

  direct     every process opens the shared cache.db itself (mypy's own SQLite locking)
  pants      Pants' runner: copy cache.db into a private sandbox, run there with
             --skip-cache-mtime-checks, then copy back beside the shared file and rename over it
             when mypy exited 0 or 1 (last writer wins)
  private    every run gets an empty cache of its own (always cold, nothing shared)
  typecache  typecache run -- mypy ...
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
import tclib  # noqa: E402  (the group reader the tests use)

MYPY = shutil.which("mypy") or "/usr/bin/mypy"
SCHEMES = ("direct", "pants", "private", "typecache")


def _run(cmd, cwd, env=None):
    full_env = dict(os.environ)
    full_env.pop("MYPY_CACHE_DIR", None)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_scheme(scheme, typecache, shared, mypy_args, cwd, pyver):
    if scheme == "direct":
        return _run([MYPY, "--sqlite-cache", "--cache-dir", shared] + mypy_args, cwd)
    if scheme == "typecache":
        return _run([typecache, "run", "--cache-dir", shared, "--", MYPY] + mypy_args, cwd)
    if scheme == "private":
        with tempfile.TemporaryDirectory(dir=os.path.dirname(shared)) as sandbox:
            return _run([MYPY, "--sqlite-cache", "--cache-dir", sandbox] + mypy_args, cwd)
    if scheme == "pants":
        named = os.path.join(shared, pyver)
        os.makedirs(named, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(shared)) as sandbox:
            sandbox_db = os.path.join(sandbox, pyver, "cache.db")
            os.makedirs(os.path.dirname(sandbox_db))
            shared_db = os.path.join(named, "cache.db")
            if os.path.exists(shared_db):
                shutil.copyfile(shared_db, sandbox_db)
            code, out, err = _run([MYPY, "--sqlite-cache", "--skip-cache-mtime-checks",
                                   "--cache-dir", sandbox] + mypy_args, cwd)
            if code in (0, 1) and os.path.exists(sandbox_db):
                fd, tmp = tempfile.mkstemp(prefix="cache.db.tmp.", dir=named)
                os.close(fd)
                shutil.copyfile(sandbox_db, tmp)
                os.replace(tmp, shared_db)
            return code, out, err
    raise ValueError(scheme)


def cache_groups(cache_dir):
    """Module groups held by every cache database under cache_dir (tclib's one definition)."""
    return tclib.groups(cache_dir)


REAL_PACKAGES = [  # (mypy target flag, name); from Debian's pre-commit and its dependencies
    ("-p", "identify"), ("-p", "virtualenv"), ("-p", "filelock"), ("-p", "platformdirs"),
    ("-p", "distlib"), ("-p", "yaml"), ("-m", "cfgv"), ("-m", "nodeenv"),
]


def copy_real_packages(dest):
    """Copies Debian-installed pure-Python packages into dest; returns mypy target args."""
    os.makedirs(dest, exist_ok=True)
    targets = []
    for flag, name in REAL_PACKAGES:
        src = os.path.join("/usr/lib/python3/dist-packages", name)
        if flag == "-m":
            src += ".py"
        if not os.path.exists(src):
            continue
        target = os.path.join(dest, os.path.basename(src))
        if os.path.isdir(src):
            shutil.copytree(src, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, target)
        targets.append([flag, name])
    return targets


def python_version():
    out = subprocess.run(["/usr/bin/python3", "-c",
                          "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()
