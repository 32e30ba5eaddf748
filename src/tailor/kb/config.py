"""Configuration of a knowledge base: what defines the index, and how it is searched."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tailor.config_files import read_mapping, validate
from tailor.kb.embedding import DEFAULT_EMBEDDING_MODEL
from tailor.kb.embedding_pool import parse_devices


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
        50_000, ge=1, description="Chunks from which dense search uses an IVF index instead of an exact scan"
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


class IngestConfig(BaseModel):
    """How documents are embedded at ingest; may change between runs (the vectors do not depend on it)."""

    model_config = ConfigDict(extra="forbid")

    embed_devices: list[str] = Field(
        [],
        description="One embedding worker process per entry, e.g. [cuda:0, cuda:1] (one per GPU) or [cpu, cpu] "
        "(the cores split between them); empty: embed in the ingesting process on `index.embedder.device`",
    )
    embed_batch: int = Field(
        256,
        ge=1,
        description="Texts embedded between two commits of the embedding cache: a killed ingest re-embeds at most "
        "this many; with N workers, N x 4 x `index.embedder.batch_size` gives each four full batches per commit",
    )

    @field_validator("embed_devices")
    @classmethod
    def _torch_devices(cls, devices: list[str]) -> list[str]:
        return parse_devices(devices)


class KBConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    ingest: IngestConfig = IngestConfig()

    @classmethod
    def from_file(cls, path: Path) -> KBConfig:
        """The file's `kb:` section, or the whole file when it has none (ConfigFileError names what is wrong)."""
        data = read_mapping(path)
        return validate(cls, data["kb"] if "kb" in data else data, path, "kb" if "kb" in data else None)
