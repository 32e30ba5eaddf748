"""The served knowledge base: one handle answers queries while another writes, both on the same store.

Queries read the last committed version while an ingestion job embeds and commits. The writer has
its own store connection (a transaction in progress is invisible to readers) and its own embedder
(a Hugging Face fast tokenizer must not be used by two threads at once). The commit that creates a
version builds its index before readers can see it; readers take a shared lock for their searches,
and the commit holds it exclusively only while the version becomes visible (the COMMIT and the swap
of the cached index), so a reader that sees a new version always finds its index ready, and
searches go on while the next version is embedded and indexed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tailor.batching import GroupRunner
from tailor.kb.config import KBConfig
from tailor.kb.embedding import Embedder, make_embedder
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
    """A store whose searches share `lock` and whose commits hold it alone while they publish; the rest passes through."""

    def __init__(self, inner: Store, lock: ReadWriteLock) -> None:
        self.inner = inner
        self.lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit(self, writes: list[DocumentWrite], deletes: list[str], note: str = "") -> int:
        return self.inner.commit(writes, deletes, note, publish=self.lock.exclusive)

    def dense_search(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        with self.lock.shared():
            return self.inner.dense_search(vector, k, search_filter)

    def text_search(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        with self.lock.shared():
            return self.inner.text_search(query, k, search_filter)


@dataclass
class _Request:
    texts: list[str]
    vectors: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.vectors is not None or self.error is not None

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        assert self.vectors is not None
        return self.vectors


class BatchingEmbedder:
    """An embedder shared by request threads: one forward pass at a time, for everyone waiting.

    A fast tokenizer must not be used by two threads at once, so calls are serialised; while one
    runs, the texts of the callers that arrive queue up, and the next pass embeds all of them
    together. On a CPU, 16 short texts in one pass cost about a third of 16 passes of one.
    """

    def __init__(self, inner: Embedder, max_batch: int = 256) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = max_batch
        self._passes = GroupRunner(self._embed, self._fitting)
        self._lock = threading.Lock()  # for the calls that are not batched (tokenizer, model loading)

    @cached_property
    def dim(self) -> int:  # asked before every search: once known, it is read without waiting
        with self._lock:
            return self.inner.dim

    @cached_property
    def max_tokens(self) -> int:
        with self._lock:
            return self.inner.max_tokens

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return self.inner.token_offsets(text)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        request = _Request(list(texts))
        self._passes.submit(request)
        return request.result()

    def _fitting(self, queue: Sequence[_Request]) -> int:
        """How many queued requests fit one pass (the first always does)."""
        size = 0
        for count, request in enumerate(queue):
            size += len(request.texts)
            if count and size > self.max_batch:
                return count
        return len(queue)

    def _embed(self, batch: list[_Request]) -> None:
        try:
            with self._lock:
                vectors = self.inner.embed_documents([text for r in batch for text in r.texts])
        except BaseException as exc:
            for request in batch:
                request.error = exc
            return
        offset = 0
        for request in batch:
            request.vectors = vectors[offset : offset + len(request.texts)]
            offset += len(request.texts)


class ServedKnowledgeBase:
    """`reader` answers and lists; `writer` ingests and deletes. Open with `ServedKnowledgeBase.open`."""

    def __init__(self, reader: KnowledgeBase, writer: KnowledgeBase) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    def open(
        cls, uri: str, config: KBConfig | None = None, embedder: Embedder | None = None,
        onnx_cache: Path | None = None,
    ) -> ServedKnowledgeBase:
        """Open (or create) the knowledge base at `uri`. A given `embedder` is shared by both handles,
        one pass at a time (tests). By default each handle loads its own: the reader's embeds in this
        process (on ONNX Runtime with `onnx_cache`, the folder of exported graphs), the writer's may use
        `kb.ingest.embed_devices` worker processes."""
        probe = KnowledgeBase.open(uri, config, embedder=embedder)  # creates it, or checks its index settings
        probe.close()
        lock = ReadWriteLock()
        shared = BatchingEmbedder(embedder) if embedder is not None else None
        settings = probe.config.index.embedder
        runtime = {"onnx_cache": onnx_cache} if onnx_cache else {}
        queries = shared or BatchingEmbedder(
            make_embedder(settings.backend, **settings.model_dump(exclude={"backend"}), **runtime))
        reader = KnowledgeBase(probe.uri, GuardedStore(open_store(probe.uri), lock), probe.config, queries)
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
