"""In-tree PEP 517 build backend: `pip install .` of this repository installs the typecache
binary into the environment, offline (no build requirements to download). This is what
pre-commit does for a `language: python` hook: it clones the repository, makes a virtualenv and
runs `python -m pip install .` there.

The wheel is made by tools/wheel. The binary is $TYPECACHE_PREBUILT_BINARY when set (CI, tests,
or a binary from a release), else built here with `bazel build -c opt //src:typecache`, which
needs Debian's build dependencies (tools/install-deps) and some minutes.
"""

import importlib.machinery
import importlib.util
import os
import subprocess

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def _wheel_tool():
    loader = importlib.machinery.SourceFileLoader("typecache_wheel_tool",
                                                  os.path.join(ROOT, "tools", "wheel"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _binary():
    prebuilt = os.environ.get("TYPECACHE_PREBUILT_BINARY", "")
    if prebuilt:
        return prebuilt
    subprocess.run(["bazel", "build", "-c", "opt", "//src:typecache"], cwd=ROOT, check=True)
    bin_dir = subprocess.run(["bazel", "info", "-c", "opt", "bazel-bin"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, "src", "typecache")


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tool = _wheel_tool()
    binary = _binary()
    version = tool.read_version()
    if tool.binary_version(binary) != version:
        raise RuntimeError("%s --version is not %s (VERSION)" % (binary, version))
    plat, _ = tool.platform_tag(binary)
    return os.path.basename(tool.build(binary, wheel_directory, plat, version))
