"""Deterministic workloads for the benchmarks: Python packages and synthetic mypy caches."""

import json
import os
import random
import sqlite3

STDLIB = [
    "json", "os", "re", "email.mime.text", "http.client", "urllib.parse", "collections",
    "dataclasses", "pathlib", "argparse", "logging", "csv", "decimal", "fractions", "statistics",
    "textwrap", "shutil", "subprocess", "tempfile", "itertools", "functools", "heapq", "bisect",
    "string", "difflib", "enum", "uuid", "hashlib", "hmac", "base64", "zipfile", "tarfile",
]


def write_package(root, index, modules=6, edit_round=0):
    """Package pkg<index>: typed modules importing a slice of the standard library.
    edit_round > 0 appends a function to one module (an edit between rounds)."""
    pkg = os.path.join(root, "pkg%d" % index)
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write('"""Generated package %d."""\n' % index)
    for m in range(modules):
        imports = [STDLIB[(index * 3 + m + k) % len(STDLIB)] for k in range(3)]
        lines = ["import %s" % name for name in imports]
        if m > 0:
            lines.append("from pkg%d import mod%d" % (index, m - 1))
        lines += ["", "", "def f%d(x: int, y: str = 'a') -> str:" % m, "    return y * x", "",
                  "", "class C%d:" % m, "    def __init__(self, value: int) -> None:",
                  "        self.value = value", "", "    def double(self) -> int:",
                  "        return self.value * 2", ""]
        if m > 0:
            lines += ["def g%d() -> str:" % m, "    return mod%d.f%d(%d)" % (m - 1, m - 1, m), ""]
        if m == modules - 1:
            lines.append("bad: int = f%d(1)  # a deliberate type error" % m)
        if edit_round and m == (edit_round % modules):
            lines += ["", "def edited_%d() -> int:" % edit_round, "    return %d" % edit_round]
        with open(os.path.join(pkg, "mod%d.py" % m), "w") as f:
            f.write("\n".join(lines) + "\n")
    return "pkg%d" % index


def sample_sizes(real_db, limit=2000):
    """(meta size, data size) pairs from a real mypy cache, to give synthetic rows real sizes."""
    conn = sqlite3.connect(real_db)
    metas = {p[:-len(".meta.json")]: len(d) for p, d in conn.execute(
        "SELECT path, data FROM files WHERE path LIKE '%.meta.json' LIMIT ?", (limit,))}
    pairs = []
    for p, d in conn.execute("SELECT path, data FROM files WHERE path LIKE '%.data.json'"):
        stem = p[:-len(".data.json")]
        if stem in metas:
            pairs.append((metas[stem], len(d)))
    conn.close()
    return pairs or [(2000, 20000)]


def synthetic_cache(db_path, target_bytes, sizes, prefix="gen", seed=1, version="1.0.1",
                    base_mtime=1700000000.0):
    """A mypy 1.0-layout cache.db of about target_bytes, with module groups of realistic sizes.
    Returns the number of groups."""
    os.makedirs(os.path.dirname(db_path), exist_ok=True)
    rng = random.Random(seed)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE IF NOT EXISTS files (path TEXT UNIQUE NOT NULL, mtime REAL, data TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS path_idx ON files(path)")
    total, n = 0, 0
    filler = "x" * 200000
    while total < target_bytes:
        meta_size, data_size = sizes[rng.randrange(len(sizes))]
        name = "%s/p%d/m%d" % (prefix, n // 100, n)
        mtime = base_mtime + rng.randrange(0, 90 * 86400)
        meta = json.dumps({"data_mtime": int(mtime), "version_id": version, "id": name,
                           "path": name + ".py", "pad": filler[:max(0, meta_size - 120)]})
        data = json.dumps({".class": "MypyFile", "_fullname": name,
                           "pad": (filler * (1 + data_size // len(filler)))[:data_size]})
        conn.execute("INSERT OR REPLACE INTO files VALUES(?, ?, ?)", (name + ".meta.json", mtime, meta))
        conn.execute("INSERT OR REPLACE INTO files VALUES(?, ?, ?)", (name + ".data.json", mtime, data))
        total += len(meta) + len(data)
        n += 1
        if n % 2000 == 0:
            conn.commit()
    conn.commit()
    conn.close()
    return n
