"""Optional second-stage reranking of fused hits with a cross-encoder."""

from __future__ import annotations

import os
from functools import cached_property

from tailor.records import Hit


class CrossEncoderReranker:
    """Re-scores (query, passage) pairs with a sentence-transformers CrossEncoder (hub id or path)."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 32):
        self.model_id = model
        self.device = device
        self.batch_size = batch_size

    @cached_property
    def _model(self):  # noqa: ANN202 - sentence_transformers is imported lazily
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        return CrossEncoder(self.model_id, device=self.device)

    def run(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        scores = self._model.predict(
            [(query, hit.chunk.text) for hit in hits], batch_size=self.batch_size, show_progress_bar=False
        )
        for hit, score in zip(hits, scores, strict=True):
            hit.scores["rerank"] = float(score)
            hit.score = float(score)
        reranked = sorted(hits, key=lambda h: -h.score)
        for rank, hit in enumerate(reranked, start=1):
            hit.ranks["rerank"] = rank
        return reranked
