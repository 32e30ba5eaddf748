"""Records that cross stage boundaries: documents -> chunks -> hits.

They are plain dataclasses so that every stage can build and read them without
importing the stage that produced them.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


def content_hash(text: str) -> str:
    """Stable hash of a document's text; decides whether a document changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Section:
    """A heading-delimited region of a document's text (character offsets)."""

    start: int
    end: int
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """A page of a paginated source (pdf): 1-based number and character offsets."""

    number: int
    start: int
    end: int


@dataclass
class Document:
    """One source document, as loaded, before chunking."""

    id: str
    text: str
    title: str
    source: str
    groups: tuple[str, ...] = ("public",)
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, located by its character span in the document text."""

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadError:
    """A file that could not be loaded, with the reason; the run goes on without it."""

    path: str
    reason: str


@dataclass
class Hit:
    """A retrieved chunk with its fused score, per-retriever scores and ranks."""

    chunk: Chunk
    score: float
    doc_title: str
    doc_source: str
    scores: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk.to_dict(),
            "score": self.score,
            "doc_title": self.doc_title,
            "doc_source": self.doc_source,
            "scores": self.scores,
            "ranks": self.ranks,
        }


@dataclass
class SearchResult:
    """Hits for one query with the time spent in each stage (milliseconds)."""

    query: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "hits": [h.to_dict() for h in self.hits],
            "timings_ms": self.timings_ms,
        }
