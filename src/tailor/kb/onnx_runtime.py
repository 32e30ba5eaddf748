"""Run a sentence-transformers model's transformer on ONNX Runtime: the same vectors, faster on a CPU.

Only the transformer's forward pass moves: texts are tokenized, pooled and normalised by the
SentenceTransformer's own modules, so the vectors match the torch path (to ~1e-7 in cosine, tested). The
graph is exported once with torch.onnx (eager attention, dynamic batch and length) and cached (the
caller names the file; `model_key` keys it by the model's files). Measured on 2 CPU cores, one thread, all-MiniLM-L6-v2: about
2.4x faster for one short query and 1.5x for 16 (benchmarks/serve_load.py uses it for queries).
(`SentenceTransformer(backend="onnx")` needs optimum-onnx, which pins transformers < 4.58.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_key(model: str) -> str:
    """A name for the exported graph of `model` (a hub id, or a folder: then its files' sizes and times count)."""
    digest = hashlib.sha256(model.encode())
    folder = Path(model)
    if folder.is_dir():
        digest.update(str(folder.resolve()).encode())
        for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
            stat = (folder / name).stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class OnnxTransformer:
    """Encodes texts like `model.encode(..., normalize_embeddings=True)`, the transformer on ONNX Runtime."""

    def __init__(self, model: Any, path: Path, threads: int = 1) -> None:
        """`model` is a SentenceTransformer (its tokenizer, pooling and normalisation are used as they are);
        `path` the exported graph, written there first when missing."""
        import onnxruntime

        self.model = model
        path = Path(path)
        if not path.is_file():
            self._export(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _export(self, path: Path) -> None:
        import torch

        transformer = self.model[0].model
        example = self.model.preprocess(["a short text", "and a somewhat longer one to pad the batch"])
        names = [name for name in INPUTS if name in example]

        class Forward(torch.nn.Module):  # positional inputs in, the last hidden state out
            def __init__(self) -> None:
                super().__init__()
                self.inner = transformer

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                return self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state

        previous = transformer.config._attn_implementation
        transformer.set_attn_implementation("eager")  # SDPA's traced mask does not generalise to other shapes
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with torch.inference_mode():
                torch.onnx.export(
                    Forward().eval(), tuple(example[n] for n in names), str(tmp), input_names=names,
                    output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                    dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                )
            os.replace(tmp, path)
        finally:
            transformer.set_attn_implementation(previous)
            tmp.unlink(missing_ok=True)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        vectors = np.zeros((len(texts), self.model.get_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            features = self.model.preprocess([texts[i] for i in batch])
            hidden = self.session.run(None, {n: features[n].numpy() for n in self.inputs})[0]
            pooled = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": features["attention_mask"]}
            for module in list(self.model)[1:]:  # pooling, normalisation: the model's own
                pooled = module(pooled)
            vectors[batch] = pooled["sentence_embedding"].numpy()
        return vectors
