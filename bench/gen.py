"""Deterministic workloads for the benchmarks: Python packages and synthetic mypy caches."""

import json
import os
import random
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from pygen import write_package  # noqa: E402,F401  (the generator the tests use)


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
