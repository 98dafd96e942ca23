"""Deterministic generated Python packages for tests and benchmarks."""

import os

# Standard-library modules the generated packages import; each package takes a different slice,
# so their module sets overlap in the standard library and differ in their own code.
STDLIB = [
    "json", "os", "re", "email.mime.text", "http.client", "urllib.parse", "collections",
    "dataclasses", "pathlib", "argparse", "logging", "csv", "decimal", "fractions", "statistics",
    "textwrap", "shutil", "subprocess", "tempfile", "itertools", "functools", "heapq", "bisect",
    "string", "difflib", "enum", "uuid", "hashlib", "hmac", "base64", "zipfile", "tarfile",
]


def write_package(root, index, modules=6, with_error=True, extra="", chained=True, edit_round=0):
    """Writes package pkg<index> under root: `modules` modules with typed code, one type error.
    chained: each module imports the previous one (else modules import only the stdlib).
    edit_round > 0 appends a function to one module (an edit between benchmark rounds)."""
    pkg = os.path.join(root, "pkg%d" % index)
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write('"""Generated package %d."""\n' % index)
    for m in range(modules):
        imports = [STDLIB[(index * 3 + m + k) % len(STDLIB)] for k in range(3)]
        lines = ["import %s" % name for name in imports]
        if m > 0 and chained:
            lines.append("from pkg%d import mod%d" % (index, m - 1))
        lines += [
            "",
            "",
            "def f%d(x: int, y: str = 'a') -> str:" % m,
            "    return y * x",
            "",
            "",
            "class C%d:" % m,
            "    def __init__(self, value: int) -> None:",
            "        self.value = value",
            "",
            "    def double(self) -> int:",
            "        return self.value * 2",
            "",
        ]
        if m > 0 and chained:
            lines.append("def g%d() -> str:" % m)
            lines.append("    return mod%d.f%d(%d)" % (m - 1, m - 1, m))
            lines.append("")
        if with_error and m == modules - 1:
            lines.append("bad: int = f%d(1)  # a deliberate type error" % m)
        if edit_round and m == (edit_round % modules):
            lines += ["", "def edited_%d() -> int:" % edit_round, "    return %d" % edit_round]
        lines.append(extra)
        with open(os.path.join(pkg, "mod%d.py" % m), "w") as f:
            f.write("\n".join(lines) + "\n")
    return "pkg%d" % index
