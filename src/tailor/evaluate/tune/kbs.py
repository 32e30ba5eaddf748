"""One knowledge base per chunking, built once, all sharing one embedder and one embedding cache.

A chunking is a new index (`IndexConfig` cannot change in place), so each gets its folder under
TUNE/work/kbs/. Their ingests embed through one cache keyed by (embedder, text): a chunk text seen under
another chunking, or in an earlier run, is never embedded again. Search settings change per trial
without touching an index.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.context import kb_fingerprint
from tailor.kb.config import IndexConfig, KBConfig, RetrievalConfig
from tailor.kb.embedding import Embedder
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.retrieval import Retriever


class SharedCacheKnowledgeBase(KnowledgeBase):
    """A knowledge base whose ingest embeds through a cache shared with other chunkings of the same documents."""

    cache_file: Path | None = None

    def _cache_path(self) -> Path:
        return self.cache_file or super()._cache_path()


class KnowledgePool:
    """Knowledge bases by chunking, over the documents folder `docs`, or the one given KB (fixed chunking)."""

    def __init__(self, work: Path, embedder: Embedder, docs: Path | None = None, kb: Path | None = None) -> None:
        self.work = Path(work)
        self.embedder = embedder
        self.docs = docs
        self.kb = kb
        self._open: dict[tuple[int, int], KnowledgeBase] = {}
        self.ingest_seconds: dict[tuple[int, int], float] = {}

    @property
    def can_chunk(self) -> bool:
        return self.docs is not None

    def get(self, index: IndexConfig, retrieval: RetrievalConfig) -> KnowledgeBase:
        """The KB at `index`'s chunking, built on first use, searching with `retrieval` from now on."""
        key = (index.chunk_tokens, index.overlap_tokens) if self.docs is not None else (0, 0)  # a given KB: one
        if key not in self._open:
            self._open[key] = self._build(index) if self.docs is not None else self._given()
        kb = self._open[key]
        if kb.retriever.config != retrieval:
            kb.retriever = Retriever(kb.store, kb.retriever.embedder, retrieval)
        return kb

    def info(self, kb: KnowledgeBase) -> dict[str, Any]:
        """What compare's cost model and answer cache read of a KB: its ingest time and content."""
        key = next(k for k, v in self._open.items() if v is kb)
        return {"ingest_seconds": self.ingest_seconds.get(key, 0.0), "fingerprint": kb_fingerprint(kb),
                "chunking": list(key)}

    def _build(self, index: IndexConfig) -> KnowledgeBase:
        assert self.docs is not None
        folder = self.work / "kbs" / f"kb-{index.chunk_tokens}-{index.overlap_tokens}"
        kb = SharedCacheKnowledgeBase.open(folder, KBConfig(index=index), embedder=self.embedder)
        kb.cache_file = self.work / "embedding-cache.sqlite"  # before the first ingest builds the ingestor
        started = time.perf_counter()
        kb.ingest([self.docs], sync=True)
        self.ingest_seconds[(index.chunk_tokens, index.overlap_tokens)] = time.perf_counter() - started
        return kb

    def _given(self) -> KnowledgeBase:
        assert self.kb is not None
        return KnowledgeBase.open(self.kb, must_exist=True, embedder=self.embedder)

    def close(self) -> None:
        for kb in self._open.values():
            kb.close()
        self._open.clear()
