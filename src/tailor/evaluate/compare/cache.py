"""Answers cached by content, one committed row per (arm, question, KB state): a killed run resumes.

The key hashes everything that decides an answer: the arm's settings and model/adapter identity, the
question and the caller's groups, and the knowledge base's content (its documents' fingerprints, not its
version number, so that re-ingesting unchanged files does not invalidate the cache).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from tailor.sqlite_wal import use_wal


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class AnswerCache:
    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        use_wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, arm TEXT, answer TEXT NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, arm: str, answer: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers (key, arm, answer) VALUES (?, ?, ?)", (key, arm, json.dumps(answer))
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()
