"""The store protocol: what a knowledge-base backend must do, whatever engine sits behind it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tailor.records import Chunk


@dataclass(frozen=True)
class SearchFilter:
    """Restrictions applied inside a search, before ranking.

    `groups` is the caller's access groups: a chunk is visible when its document shares at least
    one group with them. `groups=None` means unrestricted and is only for administrative paths.
    """

    groups: tuple[str, ...] | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unrestricted(cls) -> SearchFilter:
        return cls(groups=None)


@dataclass
class StoredDocument:
    id: str
    title: str
    source: str
    hash: str
    groups: tuple[str, ...]
    metadata: dict[str, Any]
    text: str
    version: int = 0
    n_chunks: int = 0


@dataclass
class DocumentWrite:
    """A document with its chunks, the text indexed for each chunk, and the chunk vectors."""

    document: StoredDocument
    chunks: list[Chunk]
    index_texts: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created_at: float
    added: int
    updated: int
    removed: int
    chunks: int
    note: str


@dataclass(frozen=True)
class ChunkMatch:
    """A chunk id with the score one retriever gave it."""

    chunk_id: str
    score: float


class Store(Protocol):
    """Persists documents, chunks and vectors; answers dense and full-text searches under a filter.

    Every `commit` is atomic and creates a numbered version: a reader sees the previous version or
    the new one, never a mix, and a process killed mid-commit leaves the previous version intact.
    """

    def version(self) -> int: ...

    def versions(self) -> list[VersionInfo]: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def document_hashes(self) -> dict[str, str]: ...

    def get_document(self, doc_id: str) -> StoredDocument | None: ...

    def list_documents(self, search_filter: SearchFilter) -> list[StoredDocument]: ...

    def commit(
        self, writes: list[DocumentWrite], deletes: list[str], note: str = "",
        publish: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> int:
        """Apply writes and deletes as one new version; `publish()` is entered around the moment readers can
        first see it (a served KB passes an exclusive lock that searches share), so keep the work inside short."""
        ...

    def dense_search(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]: ...

    def text_search(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]: ...

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, tuple[Chunk, StoredDocument]]: ...

    def count_chunks(self) -> int: ...

    def close(self) -> None: ...
