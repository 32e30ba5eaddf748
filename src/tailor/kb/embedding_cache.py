"""A persistent cache of embeddings keyed by (embedder, text).

Ingest writes every embedded batch here and commits it at once, so a run that is killed
mid-way re-embeds nothing it had already embedded when it is started again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tailor.sqlite_wal import use_wal


class EmbeddingCache:
    def __init__(self, path: Path, embedder_name: str, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        use_wal(self._db)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._prefix = embedder_name.encode() + b"\0"
        self.dim = dim

    def _key(self, text: str) -> str:
        return hashlib.sha256(self._prefix + text.encode()).hexdigest()

    def get_many(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """Cached vectors by position in `texts`."""
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            marks = ",".join("?" * len(batch))
            for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(self._key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)

    def embed(
        self,
        texts: Sequence[str],
        embed: Callable[[Sequence[str]], np.ndarray],
        batch_size: int = 256,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for all `texts`, embedding only the ones not cached, in committed batches."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        cached = self.get_many(texts)
        for i, vector in cached.items():
            vectors[i] = vector
        if on_batch and cached:
            on_batch(len(cached))
        missing = [i for i in range(len(texts)) if i not in cached]
        for start in range(0, len(missing), batch_size):
            positions = missing[start : start + batch_size]
            batch_texts = [texts[i] for i in positions]
            embedded = embed(batch_texts)
            self.put_many(batch_texts, embedded)
            vectors[positions] = embedded
            if on_batch:
                on_batch(len(positions))
        return vectors

    def close(self) -> None:
        self._db.close()
