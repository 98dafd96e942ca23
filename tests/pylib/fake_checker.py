#!/usr/bin/python3
"""A stand-in for mypy that writes the cache layouts of newer mypy versions (which cannot be
installed here), driven by the JSON in FAKE_ACTIONS. It parses --cache-dir like mypy and writes
rows with mypy's exact schemas:

  {"version": "3.12", "journal": "wal" | "delete",
   "actions": [{"op": "write", "db": "cache.3.db", "table": "files2",
                "rows": [["mod.meta.ff", 12.0, "hex:00ff"]]},
               {"op": "delete", "db": "cache.db", "table": "files", "keys": ["m.meta.json"]},
               {"op": "print", "text": "...", "stream": "stdout" | "stderr"},
               {"op": "sleep", "seconds": 1.5},
               {"op": "touch", "path": "FILE"},
               {"op": "wait", "path": "FILE", "seconds": 60},
               {"op": "bulk", "prefix": "gen", "count": 10000, "mtime": 5.0},
               {"op": "copy", "src": "FIXTURE.db", "table": "files2", "db": "cache.db"}],
   "on_sigterm": "FILE", "exit": 0}

Values starting with "hex:" are BLOBs (files2); "repeat:x:N" is N times "x"; others are TEXT. "bulk" writes `count` module
groups (JSON meta + data rows) into cache.db's `files` table in one transaction. "wait" blocks
until FILE exists (a gate the test opens), failing with exit 3 after `seconds`. "copy" writes
every row of `table` in the database `src` (a real mypy cache, e.g. a fixture) the way that
mypy wrote them, bytes and mtimes unchanged.
"""

import json
import os
import signal
import sqlite3
import sys
import time

SCHEMA = {
    "files": "CREATE TABLE IF NOT EXISTS files (path TEXT UNIQUE NOT NULL, mtime REAL, data TEXT)",
    "files2": "CREATE TABLE IF NOT EXISTS files2 (path TEXT UNIQUE NOT NULL, mtime REAL, data BLOB)",
}


def main():
    spec = json.loads(os.environ.get("FAKE_ACTIONS", "{}"))
    cache_dir = os.environ.get("MYPY_CACHE_DIR", ".mypy_cache")
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg.startswith("--cache-dir="):
            cache_dir = arg.split("=", 1)[1]
        elif arg == "--cache-dir" and i + 1 < len(args):
            cache_dir = args[i + 1]
    if spec.get("on_sigterm"):
        def on_term(signum, frame):
            with open(spec["on_sigterm"], "w") as f:
                f.write("got SIGTERM\n")
            sys.exit(143)
        signal.signal(signal.SIGTERM, on_term)
    version_dir = os.path.join(cache_dir, spec.get("version", "3.11"))
    os.makedirs(version_dir, exist_ok=True)
    conns = {}

    def conn_for(db):
        if db not in conns:
            c = sqlite3.connect(os.path.join(version_dir, db), isolation_level=None)
            if spec.get("journal") == "wal":
                c.execute("PRAGMA journal_mode=WAL")
            conns[db] = c
        return conns[db]

    for action in spec.get("actions", []):
        op = action["op"]
        if op == "write":
            c = conn_for(action["db"])
            table = action.get("table", "files")
            c.execute(SCHEMA[table])
            c.execute("CREATE INDEX IF NOT EXISTS path_idx ON %s(path)" % table)
            c.execute("BEGIN")
            for path, mtime, data in action["rows"]:
                if data.startswith("hex:"):
                    value = bytes.fromhex(data[4:])
                elif data.startswith("repeat:"):  # "repeat:<char>:<count>", for huge rows
                    _, char, count = data.split(":")
                    value = char * int(count)
                else:
                    value = data
                c.execute("INSERT OR REPLACE INTO %s(path, mtime, data) VALUES(?, ?, ?)" % table,
                          (path, mtime, value))
            c.execute("COMMIT")
        elif op == "copy":
            c = conn_for(action.get("db", "cache.db"))
            table = action["table"]
            c.execute(SCHEMA[table])
            c.execute("CREATE INDEX IF NOT EXISTS path_idx ON %s(path)" % table)
            # The source is a committed fixture: immutable, so no -shm/-wal lands beside it.
            src = sqlite3.connect("file:%s?immutable=1" % action["src"], uri=True)
            c.execute("BEGIN")
            for path, mtime, data in src.execute("SELECT path, mtime, data FROM %s" % table):
                c.execute("INSERT OR REPLACE INTO %s(path, mtime, data) VALUES(?, ?, ?)" % table,
                          (path, mtime, data))
            c.execute("COMMIT")
            src.close()
        elif op == "delete":
            c = conn_for(action.get("db", "cache.db"))
            for key in action["keys"]:
                c.execute("DELETE FROM %s WHERE path = ?" % action.get("table", "files"), (key,))
        elif op == "print":
            stream = sys.stderr if action.get("stream") == "stderr" else sys.stdout
            stream.write(action["text"])
            stream.flush()
        elif op == "sleep":
            time.sleep(action["seconds"])
        elif op == "touch":
            open(action["path"], "w").close()
        elif op == "wait":
            deadline = time.monotonic() + action.get("seconds", 60)
            while not os.path.exists(action["path"]):
                if time.monotonic() > deadline:
                    sys.stderr.write("fake_checker: gate %s never opened\n" % action["path"])
                    sys.exit(3)
                time.sleep(0.01)
        elif op == "bulk":
            c = conn_for(action.get("db", "cache.db"))
            c.execute(SCHEMA["files"])
            c.execute("BEGIN")
            m = action["mtime"]
            for i in range(action["count"]):
                name = "%s/m%d" % (action["prefix"], i)
                c.execute("INSERT OR REPLACE INTO files VALUES(?, ?, ?)",
                          (name + ".meta.json", m, json.dumps({"data_mtime": int(m)})))
                c.execute("INSERT OR REPLACE INTO files VALUES(?, ?, ?)", (name + ".data.json", m, "{}"))
            c.execute("COMMIT")
    for c in conns.values():
        c.close()
    sys.exit(spec.get("exit", 0))


if __name__ == "__main__":
    main()
