"""Switch an SQLite file to write-ahead logging, safely when several processes open it at once."""

from __future__ import annotations

import sqlite3
import time


def use_wal(db: sqlite3.Connection, timeout_s: float = 30.0) -> None:
    """Put `db`'s file in WAL mode (a no-op when it already is). SQLite answers a switch that races another
    process's (two writers creating the same file) with "locked" at once, without its busy timeout: retry
    for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
