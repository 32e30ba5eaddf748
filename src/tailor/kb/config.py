"""Configuration of a knowledge base: what defines the index, and how it is searched."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tailor.kb.embedding import DEFAULT_EMBEDDING_MODEL


class EmbedderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field("sentence-transformers", description="Key in tailor.kb.embedding.EMBEDDERS")
    model: str = Field(DEFAULT_EMBEDDING_MODEL, description="Hub id or local path of the model")
    device: str | None = Field(None, description="torch device; None picks cuda when present")
    batch_size: int = Field(64, ge=1, description="Texts per forward pass: higher is faster, uses more memory")


class IndexConfig(BaseModel):
    """Fixed when the knowledge base is created: changing it means re-embedding everything."""

    model_config = ConfigDict(extra="forbid")

    embedder: EmbedderConfig = EmbedderConfig()
    chunk_tokens: int = Field(200, ge=16, description="Tokens per chunk (embedder tokenizer); <= model limit")
    overlap_tokens: int = Field(32, ge=0, description="Tokens shared by consecutive chunks of a section")
    ann_min_chunks: int = Field(
        200_000, ge=1, description="Chunks from which dense search uses an IVF index instead of an exact scan"
    )
    ann_nprobe: int = Field(32, ge=1, description="IVF lists scanned per query: higher is more exact, slower")


class RetrievalConfig(BaseModel):
    """May change between searches without touching the index."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted",
        description="How dense and BM25 lists merge: `weighted` sums min-max normalised scores (0.730 nDCG@10"
        " on SciFact test, chosen on train), `rrf` sums reciprocal ranks (0.720); docs/decisions/0002",
    )
    rrf_k: int = Field(60, ge=1, description="RRF constant: larger flattens the weight of top ranks")
    dense_weight: float = Field(0.5, ge=0, description="Weight of the dense list in fusion")
    bm25_weight: float = Field(0.5, ge=0, description="Weight of the BM25 list in fusion")
    candidates: int = Field(100, ge=1, description="Hits fetched from each retriever before fusion")
    reranker: str | None = Field(None, description="CrossEncoder id or path; None disables reranking")
    rerank_candidates: int = Field(30, ge=1, description="Fused hits re-scored by the cross-encoder")


class KBConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()

    @classmethod
    def from_file(cls, path: Path) -> KBConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.model_validate(data.get("kb", data))
