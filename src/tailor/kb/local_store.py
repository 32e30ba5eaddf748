"""The embedded default store: SQLite holds the truth, a derived in-memory index serves searches.

SQLite (WAL, synchronous=FULL) records documents, chunks, vectors, the version log and the rowids of
removed chunks; one transaction per commit makes each version atomic and crash-safe. The search index
of a version is derived from the previous version's and the delta SQLite records (local_index.py), so a
commit, inside its write transaction, does work in proportion to what it changes, not to the knowledge
base: a second writer waits for that, not for a whole rebuild. Searches go on against the previous
version meanwhile; only the COMMIT and the swap of the index happen under the caller's `publish` guard.

The index is cached on disk under `index/` as a snapshot of some earlier version (index_snapshot.py),
rewritten after the commit, outside the write lock, only when a compaction is due; opening a store loads
it and catches up from SQLite. A crash anywhere loses nothing committed: the snapshot is never newer than
the database. Another store on the same folder in this process (the server's reader) takes the latest
index from memory.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from tailor.kb.index_snapshot import load_snapshot, save_snapshot
from tailor.kb.local_index import AnnSettings, IndexDelta, IndexedDocument, LocalIndex
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
CREATE TABLE IF NOT EXISTS removed_chunks (version INTEGER NOT NULL, chunk_rowid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS removed_chunks_by_version ON removed_chunks (version);
"""
# An index of a version before this one cannot be brought forward from SQLite (a knowledge base made before
# removals were logged starts the log at its version then).
_LOGGED_SINCE = "removals_logged_since"
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
        if self.get_meta(_LOGGED_SINCE) is None:
            self._db.execute("INSERT OR IGNORE INTO meta SELECT ?, COALESCE(MAX(version), 0) FROM versions",
                             (_LOGGED_SINCE,))
        self._lock = threading.RLock()
        self._index: LocalIndex | None = None
        self._cache_unusable = False  # the disk cache was absent, unreadable or not of this database's history

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
            previous = self.refresh()  # before the write lock: loading and catching up can take a while
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                version = self.version() + 1
                known = {d for (d,) in cur.execute("SELECT id FROM documents")}
                removed = [d for d in deletes if d in known]
                for doc_id in removed:
                    self._remove_chunks(cur, doc_id, version)
                    cur.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                for write in writes:
                    self._write_document(cur, write, version)
                updated = sum(1 for w in writes if w.document.id in known)
                n_chunks = cur.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                cur.execute(
                    "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (version, time.time(), len(writes) - updated, updated, len(removed), n_chunks, note),
                )
                # What other writers committed since `previous`, then this commit, as this transaction sees them.
                index = previous.advance(self._read_delta(cur, previous))
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            with publish():
                try:
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                self._install(index)
            self._settle(index)
        return version

    def _write_document(self, cur: sqlite3.Cursor, write: DocumentWrite, version: int) -> None:
        doc = write.document
        self._remove_chunks(cur, doc.id, version)
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

    @staticmethod
    def _remove_chunks(cur: sqlite3.Cursor, doc_id: str, version: int) -> None:
        """Delete a document's chunks, logging their rowids so that an index of an earlier version can drop them."""
        cur.execute("INSERT INTO removed_chunks SELECT ?, rowid FROM chunks WHERE doc_id = ?", (version, doc_id))
        cur.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))

    # -- the index ---------------------------------------------------------------------------
    @property
    def _cache_dir(self) -> Path:
        return self.folder / "index" / "current"

    def refresh(self) -> LocalIndex:
        """The index of the latest committed version: the newest one this process or the disk cache holds,
        brought forward with what SQLite recorded after it."""
        with self._lock:
            version = self.version()
            if self._index is not None and self._index.version == version:
                return self._index
            index = self._known_index(version)
            if index.version != version:
                index = index.advance(self._read_delta(None, index))
            self._install(index)
            return self._settle(index)

    def _known_index(self, version: int) -> LocalIndex:
        """The newest index that can be brought forward to `version`: in this process, else the disk cache,
        else an empty one."""
        logged_since = int(self.get_meta(_LOGGED_SINCE) or 0)

        def usable(index: LocalIndex | None) -> bool:
            return index is not None and (index.version == 0 or logged_since <= index.version <= version)

        in_memory = [i for i in (self._index, _PUBLISHED.get(self.folder.resolve())) if usable(i)]
        if in_memory:
            return max(in_memory, key=lambda i: i.version)
        cached = load_snapshot(self._cache_dir, self._ann_settings())
        if usable(cached):
            return cached
        self._cache_unusable = True
        return LocalIndex.empty(self._ann_settings())

    def _install(self, index: LocalIndex) -> None:
        """Make `index` the one this store and the other stores of its folder in this process search."""
        self._index = index
        published = _PUBLISHED.get(self.folder.resolve())
        if published is None or published.version <= index.version:
            _PUBLISHED[self.folder.resolve()] = index

    def _settle(self, index: LocalIndex) -> LocalIndex:
        """Compact `index` and write it to the disk cache when that is due (outside any write transaction:
        this is the work that grows with the knowledge base)."""
        if not index.compaction_due() and not (self._cache_unusable and len(index)):
            return index
        with _lock_unless_held(self.folder / "index.lock") as locked:
            if not locked:  # another store is compacting: its snapshot will do
                return index
            compact = index.compacted()
            if len(compact):
                save_snapshot(compact, self._cache_dir)
                self._cache_unusable = False
        if self._index is index:
            self._install(compact)
        return compact

    def _ann_settings(self) -> AnnSettings:
        config = json.loads(self.get_meta("index_config") or "{}")
        defaults = AnnSettings()
        return AnnSettings(
            min_chunks=config.get("ann_min_chunks", defaults.min_chunks),
            nprobe=config.get("ann_nprobe", defaults.nprobe),
        )

    def _read_delta(self, transaction: sqlite3.Cursor | None, since: LocalIndex) -> IndexDelta:
        """What the latest version that `transaction` sees (a snapshot of its own when None) changed after `since`."""
        cur = transaction or self._db.cursor()
        if transaction is None:
            cur.execute("BEGIN")  # one snapshot: the version and the rows it holds
        try:
            version = int(cur.execute("SELECT MAX(version) FROM versions").fetchone()[0] or 0)
            docs = cur.execute(
                "SELECT id, groups, metadata FROM documents WHERE version > ? ORDER BY id", (since.version,)
            ).fetchall()
            rows = cur.execute(
                "SELECT rowid, id, doc_id, index_text, vector FROM chunks WHERE rowid > ? ORDER BY rowid",
                (since.watermark,),
            ).fetchall()
            removed = cur.execute(
                "SELECT chunk_rowid FROM removed_chunks WHERE version > ? AND chunk_rowid <= ?",
                (since.version, since.watermark),
            ).fetchall()
        finally:
            if transaction is None:
                cur.execute("COMMIT")
        dim = int(self.get_meta("dim") or 0)
        return IndexDelta(
            version,
            [IndexedDocument(d, tuple(json.loads(g)), json.loads(m)) for d, g, m in docs],
            np.array([r[0] for r in rows], dtype=np.int64),
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(len(rows), dim),
            np.array([r[0] for r in removed], dtype=np.int64),
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


@contextmanager
def _lock_unless_held(path: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock on `path` (True), or nothing when another holder has it (False)."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _visible(groups: tuple[str, ...], metadata: dict[str, Any], search_filter: SearchFilter) -> bool:
    if search_filter.groups is not None and not set(groups) & set(search_filter.groups):
        return False
    return all(metadata.get(k) == v for k, v in search_filter.metadata.items())
