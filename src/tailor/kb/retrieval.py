"""Dense, BM25 and hybrid retrieval over a store, with optional reranking and per-stage timings."""

from __future__ import annotations

import time
from collections.abc import Callable

from tailor.kb.config import RetrievalConfig
from tailor.kb.embedding import Embedder
from tailor.kb.fusion import FUSIONS
from tailor.kb.rerank import CrossEncoderReranker
from tailor.kb.store import ChunkMatch, SearchFilter, Store
from tailor.records import Hit, SearchResult


class Retriever:
    """Runs one query in `dense`, `bm25` or `hybrid` mode under a search filter."""

    def __init__(self, store: Store, embedder: Embedder, config: RetrievalConfig | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        self.reranker = CrossEncoderReranker(self.config.reranker) if self.config.reranker else None
        self._searches: dict[str, Callable[[str, int, SearchFilter, dict[str, float]], list[ChunkMatch]]] = {
            "dense": self._dense,
            "bm25": self._bm25,
        }

    def run(
        self, query: str, search_filter: SearchFilter, k: int = 10, mode: str | None = None
    ) -> SearchResult:
        mode = mode or self.config.mode
        if mode not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"unknown search mode {mode!r}: use dense, bm25 or hybrid")
        if mode != "bm25":
            _ = self.embedder.dim  # loads the model on first use: loading is not query latency
        started = time.perf_counter()
        timings: dict[str, float] = {}
        names = ["dense", "bm25"] if mode == "hybrid" else [mode]
        depth = max(k, self.config.candidates)
        rankings = {name: self._searches[name](query, depth, search_filter, timings) for name in names}
        fused = self._fuse(rankings, timings)
        keep = self.config.rerank_candidates if self.reranker else k
        hits = self._hits(fused[:keep], rankings)
        if self.reranker:
            t = time.perf_counter()
            hits = self.reranker.run(query, hits)
            timings["rerank_ms"] = _ms(t)
        timings["total_ms"] = _ms(started)
        return SearchResult(query=query, hits=hits[:k], timings_ms=timings)

    def _dense(self, query: str, k: int, search_filter: SearchFilter, timings: dict[str, float]) -> list[ChunkMatch]:
        t = time.perf_counter()
        vector = self.embedder.embed_query(query)
        timings["embed_ms"] = _ms(t)
        t = time.perf_counter()
        matches = self.store.dense_search(vector, k, search_filter)
        timings["dense_ms"] = _ms(t)
        return matches

    def _bm25(self, query: str, k: int, search_filter: SearchFilter, timings: dict[str, float]) -> list[ChunkMatch]:
        t = time.perf_counter()
        matches = self.store.text_search(query, k, search_filter)
        timings["bm25_ms"] = _ms(t)
        return matches

    def _fuse(self, rankings: dict[str, list[ChunkMatch]], timings: dict[str, float]) -> list[tuple[str, float]]:
        if len(rankings) == 1:
            (matches,) = rankings.values()
            return [(m.chunk_id, m.score) for m in matches]
        t = time.perf_counter()
        weights = {"dense": self.config.dense_weight, "bm25": self.config.bm25_weight}
        fused = FUSIONS[self.config.fusion](rankings, weights, rrf_k=self.config.rrf_k)
        timings["fusion_ms"] = _ms(t)
        return fused

    def _hits(self, fused: list[tuple[str, float]], rankings: dict[str, list[ChunkMatch]]) -> list[Hit]:
        records = self.store.get_chunks([chunk_id for chunk_id, _ in fused])
        per_retriever = {
            name: {m.chunk_id: (rank, m.score) for rank, m in enumerate(matches, start=1)}
            for name, matches in rankings.items()
        }
        hits = []
        for chunk_id, score in fused:
            if chunk_id not in records:  # deleted by a commit that landed during this search
                continue
            chunk, doc = records[chunk_id]
            hit = Hit(chunk=chunk, score=score, doc_title=doc.title, doc_source=doc.source)
            for name, found in per_retriever.items():
                if chunk_id in found:
                    hit.ranks[name], hit.scores[name] = found[chunk_id]
            hits.append(hit)
        return hits


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
