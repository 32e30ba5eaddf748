"""The served knowledge base: one handle answers queries while another writes, both on the same store.

Queries read the last committed version while an ingestion job embeds and commits. The writer has
its own store connection (a transaction in progress is invisible to readers) and its own embedder
(a Hugging Face fast tokenizer must not be used by two threads at once). The index derived from a
version is built and cached on disk by the commit that creates the version; readers take a shared
lock for their searches and the commit an exclusive one, so a reader that sees a new version always
finds its index cached, and two threads never rebuild the same cache at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from tailor.kb.config import KBConfig
from tailor.kb.embedding import Embedder
from tailor.kb.knowledge_base import KnowledgeBase, open_store
from tailor.kb.store import ChunkMatch, DocumentWrite, SearchFilter, Store


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back (it is never starved)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class GuardedStore:
    """A store whose searches share `lock` and whose commits hold it alone; everything else passes through."""

    def __init__(self, inner: Store, lock: ReadWriteLock) -> None:
        self.inner = inner
        self.lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit(self, writes: list[DocumentWrite], deletes: list[str], note: str = "") -> int:
        with self.lock.exclusive():
            return self.inner.commit(writes, deletes, note)

    def dense_search(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        with self.lock.shared():
            return self.inner.dense_search(vector, k, search_filter)

    def text_search(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        with self.lock.shared():
            return self.inner.text_search(query, k, search_filter)


class SerialEmbedder:
    """An embedder used by one thread at a time (request threads share the reader's)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        with self._lock:
            return self.inner.dim

    @property
    def max_tokens(self) -> int:
        with self._lock:
            return self.inner.max_tokens

    def embed_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        with self._lock:
            return self.inner.embed_documents(texts, show_progress=show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return self.inner.embed_query(text)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return self.inner.token_offsets(text)


class ServedKnowledgeBase:
    """`reader` answers and lists; `writer` ingests and deletes. Open with `ServedKnowledgeBase.open`."""

    def __init__(self, reader: KnowledgeBase, writer: KnowledgeBase) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    def open(cls, uri: str, config: KBConfig | None = None, embedder: Embedder | None = None) -> ServedKnowledgeBase:
        """Open (or create) the knowledge base at `uri`. A given `embedder` is shared by both handles,
        one call at a time (tests); by default each handle loads its own."""
        probe = KnowledgeBase.open(uri, config, embedder=embedder)  # creates it, or checks its index settings
        probe.close()
        lock = ReadWriteLock()
        shared = SerialEmbedder(embedder) if embedder is not None else None
        reader = KnowledgeBase(probe.uri, GuardedStore(open_store(probe.uri), lock), probe.config,
                               shared or SerialEmbedder(probe.embedder))
        writer = KnowledgeBase(probe.uri, GuardedStore(open_store(probe.uri), lock), probe.config, shared)
        return cls(reader, writer)

    @property
    def version(self) -> int:
        return self.reader.version

    def warm(self) -> None:
        """Load the embedding model and the current index, so that the first query is not slow."""
        self.reader.search("warm up", k=1, groups=())

    def close(self) -> None:
        self.reader.close()
        self.writer.close()
