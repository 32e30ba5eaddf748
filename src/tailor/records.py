"""Records that cross stage boundaries: documents -> chunks -> hits -> answers with citations.

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
class Example:
    """A labelled example: an input and the output the organisation produced for it (an intent, a reply)."""

    id: str
    input: str
    output: str
    groups: tuple[str, ...] = ("public",)


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


@dataclass
class Citation:
    """Where a claim of an answer came from: a numbered context block, narrowed to one passage.

    `start`/`end` are character offsets in the document text; `quote` is that exact passage.
    `sentence` is the index of the answer sentence carrying the marker; `support` scores how well
    the quote backs that sentence (1.0 for a verbatim extract).
    """

    marker: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None
    sentence: int = 0
    support: float = 1.0
    supported: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """A question's answer with its citations, or an abstention; tokens and per-stage timings (ms)."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    hits: list[Hit] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    strategy: str = ""
    generator: str = ""
    dropped_markers: list[int] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "dropped_markers": self.dropped_markers,
            "unsupported": self.unsupported,
            "hits": [h.to_dict() for h in self.hits],
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "timings_ms": self.timings_ms,
            "strategy": self.strategy,
            "generator": self.generator,
        }
