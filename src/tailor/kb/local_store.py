"""The embedded default store: SQLite holds the truth, a derived in-memory index serves searches.

SQLite (WAL, synchronous=FULL) records documents, chunks, vectors and the version log; one
transaction per commit makes each version atomic and crash-safe. The search index is derived
from a committed version, cached on disk under `index/`, and rebuilt whenever it is older than
the database, so a crash between the commit and the index refresh loses nothing.

A commit builds the new version's index inside its transaction, before any reader can see the
version, so searches go on against the previous one meanwhile; only the COMMIT and the swap of
the cached index happen under the caller's `publish` guard. Another store on the same folder in
this process (the server's reader) takes that index from memory instead of loading it from disk.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from tailor.kb.local_index import AnnSettings, IndexedDocument, LocalIndex
from tailor.kb.store import ChunkMatch, DocumentWrite, SearchFilter, StoredDocument, VersionInfo
from tailor.records import Chunk
from tailor.sqlite_wal import use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, hash TEXT NOT NULL,
    groups TEXT NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,
    text TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, page INTEGER,
    heading_path TEXT NOT NULL, index_text TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id);
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY, created_at REAL NOT NULL, added INTEGER NOT NULL,
    updated INTEGER NOT NULL, removed INTEGER NOT NULL, chunks INTEGER NOT NULL, note TEXT NOT NULL
);
"""
_DOC_COLUMNS = "id, title, source, hash, groups, metadata, text, version"

# The index each knowledge-base folder's latest commit in this process built, for its other stores.
_PUBLISHED: weakref.WeakValueDictionary[Path, LocalIndex] = weakref.WeakValueDictionary()


class LocalStore:
    """A knowledge base in one folder: `kb.sqlite` plus the derived `index/` cache."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.folder / "kb.sqlite", isolation_level=None, check_same_thread=False)
        use_wal(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._index: LocalIndex | None = None

    # -- metadata and versions -------------------------------------------------------------
    def version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM versions").fetchone()
        return int(row[0] or 0)

    def versions(self) -> list[VersionInfo]:
        rows = self._db.execute(
            "SELECT version, created_at, added, updated, removed, chunks, note FROM versions ORDER BY version"
        ).fetchall()
        return [VersionInfo(*row) for row in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- documents -------------------------------------------------------------------------
    def document_hashes(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT id, hash FROM documents").fetchall())

    def get_document(self, doc_id: str) -> StoredDocument | None:
        row = self._db.execute(f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return self._document(row) if row else None

    def list_documents(self, search_filter: SearchFilter) -> list[StoredDocument]:
        rows = self._db.execute(f"SELECT {_DOC_COLUMNS} FROM documents ORDER BY id").fetchall()
        documents = [self._document(row) for row in rows]
        return [d for d in documents if _visible(d.groups, d.metadata, search_filter)]

    def _document(self, row: tuple) -> StoredDocument:
        doc_id, title, source, hash_, groups, metadata, text, version = row
        n_chunks = self._db.execute("SELECT COUNT(*) FROM chunks WHERE doc_id = ?", (doc_id,)).fetchone()[0]
        return StoredDocument(
            doc_id, title, source, hash_, tuple(json.loads(groups)), json.loads(metadata), text, version, n_chunks
        )

    # -- writes ----------------------------------------------------------------------------
    def commit(
        self, writes: list[DocumentWrite], deletes: list[str], note: str = "",
        publish: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> int:
        """Apply all writes and deletes as one new version, atomically; `publish` is held while it becomes visible."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                version = self.version() + 1
                known = {d for (d,) in cur.execute("SELECT id FROM documents")}
                removed = [d for d in deletes if d in known]
                for doc_id in removed:
                    cur.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
                    cur.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                for write in writes:
                    self._write_document(cur, write, version)
                updated = sum(1 for w in writes if w.document.id in known)
                n_chunks = cur.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                cur.execute(
                    "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (version, time.time(), len(writes) - updated, updated, len(removed), n_chunks, note),
                )
                index = self._build_index(cur)  # the new version as this transaction sees it
                staged = index.stage(self._cache_dir)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            with publish():
                try:
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    shutil.rmtree(staged, ignore_errors=True)
                    raise
                # A crash before this line leaves the cache one version behind: `refresh` rebuilds it.
                LocalIndex.install(staged, self._cache_dir)
                self._index = _PUBLISHED[self.folder.resolve()] = index
        return version

    @staticmethod
    def _write_document(cur: sqlite3.Cursor, write: DocumentWrite, version: int) -> None:
        doc = write.document
        cur.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.id,))
        cur.execute(
            f"INSERT OR REPLACE INTO documents ({_DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.id, doc.title, doc.source, doc.hash, json.dumps(list(doc.groups)),
             json.dumps(doc.metadata, default=str), doc.text, version),
        )
        vectors = np.asarray(write.vectors, dtype=np.float32)
        cur.executemany(
            "INSERT INTO chunks (id, doc_id, text, start, end, page, heading_path, index_text, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.id, c.doc_id, c.text, c.start, c.end, c.page, json.dumps(list(c.heading_path)), t, v.tobytes())
                for c, t, v in zip(write.chunks, write.index_texts, vectors, strict=True)
            ],
        )

    # -- search ----------------------------------------------------------------------------
    @property
    def _cache_dir(self) -> Path:
        return self.folder / "index" / "current"

    def refresh(self) -> LocalIndex:
        """The index of the latest committed version: from this process's last commit, or cached on disk,
        or rebuilt when both are stale."""
        with self._lock:
            version = self.version()
            if self._index is not None and self._index.version == version:
                return self._index
            index = _PUBLISHED.get(self.folder.resolve())
            if index is None or index.version != version:
                index = _load_cached(self._cache_dir, self._ann_settings())
            if index is None or index.version != version:
                index = self._build_index()
                index.save(self._cache_dir)
            self._index = index
            return index

    def _ann_settings(self) -> AnnSettings:
        config = json.loads(self.get_meta("index_config") or "{}")
        defaults = AnnSettings()
        return AnnSettings(
            min_chunks=config.get("ann_min_chunks", defaults.min_chunks),
            nprobe=config.get("ann_nprobe", defaults.nprobe),
        )

    def _build_index(self, transaction: sqlite3.Cursor | None = None) -> LocalIndex:
        """The index of the latest version that `transaction` sees (a snapshot of its own when None)."""
        cur = transaction or self._db.cursor()
        if transaction is None:
            cur.execute("BEGIN")  # one snapshot: the version and the rows it holds
        try:
            version = int(cur.execute("SELECT MAX(version) FROM versions").fetchone()[0] or 0)
            docs = cur.execute("SELECT id, groups, metadata FROM documents ORDER BY id").fetchall()
            rows = cur.execute("SELECT id, doc_id, index_text, vector FROM chunks ORDER BY rowid").fetchall()
        finally:
            if transaction is None:
                cur.execute("COMMIT")
        documents = [IndexedDocument(d, tuple(json.loads(g)), json.loads(m)) for d, g, m in docs]
        position = {d.id: i for i, d in enumerate(documents)}
        dim = int(self.get_meta("dim") or 0)
        vectors = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return LocalIndex.build(
            version,
            [r[0] for r in rows],
            [r[2] for r in rows],
            vectors,
            np.array([position[r[1]] for r in rows], dtype=np.int32),
            documents,
            self._ann_settings(),
        )

    def dense_search(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        return self.refresh().dense(vector, k, search_filter)

    def text_search(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        return self.refresh().text(query, k, search_filter)

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, tuple[Chunk, StoredDocument]]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._db.execute(
            "SELECT c.id, c.doc_id, c.text, c.start, c.end, c.page, c.heading_path,"
            " d.title, d.source, d.hash, d.groups, d.metadata, d.version"
            f" FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks})",
            chunk_ids,
        ).fetchall()
        found = {}
        for cid, doc_id, text, start, end, page, path, title, source, hash_, groups, metadata, version in rows:
            chunk = Chunk(cid, doc_id, text, start, end, page, tuple(json.loads(path)))
            doc = StoredDocument(
                doc_id, title, source, hash_, tuple(json.loads(groups)), json.loads(metadata), "", version
            )
            found[cid] = (chunk, doc)
        return found

    def count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _load_cached(folder: Path, ann_settings: AnnSettings) -> LocalIndex | None:
    """The cached index, or None when absent or unreadable (it is derived data: rebuild it)."""
    try:
        return LocalIndex.load(folder, ann_settings) if (folder / "index.json").exists() else None
    except (OSError, ValueError, KeyError):
        return None


def _visible(groups: tuple[str, ...], metadata: dict[str, Any], search_filter: SearchFilter) -> bool:
    if search_filter.groups is not None and not set(groups) & set(search_filter.groups):
        return False
    return all(metadata.get(k) == v for k, v in search_filter.metadata.items())
