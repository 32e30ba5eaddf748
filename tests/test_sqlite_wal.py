"""Switching a file to WAL while another connection holds it: retried until the timeout, then the error."""

import sqlite3
import threading

import pytest

from tailor.sqlite_wal import use_wal


def test_the_switch_waits_for_a_lock_held_elsewhere_and_gives_up_after_the_timeout(tmp_path):
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    db = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(db, timeout_s=0.1)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    use_wal(db, timeout_s=10)
    release.join()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    use_wal(db)  # already WAL: nothing to do
