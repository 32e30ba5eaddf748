"""The query embedder on ONNX Runtime: the same vectors as torch, the graph exported once."""

from __future__ import annotations

import numpy as np

from tailor.kb.embedding import SentenceTransformerEmbedder
from tailor.kb.onnx_runtime import model_key

TEXTS = [
    "What is the nightly hotel cap?",
    "Who approves spending above EUR 10,000?",
    "Rail",
    "How many days of parental leave does the company add? " * 3,
    "A long passage that the model must truncate. " * 120,  # far over 256 tokens
    "",
]


def test_onnx_vectors_equal_the_torch_vectors_in_any_batch(embedder, tmp_path):
    on_onnx = SentenceTransformerEmbedder(onnx_cache=tmp_path, batch_size=4)  # batches mix lengths: padding
    expected = embedder.embed_documents(TEXTS)
    vectors = on_onnx.embed_documents(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == expected.shape
    assert np.abs(vectors - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(vectors[:-1], axis=1), 1.0, atol=1e-5)
    assert np.abs(on_onnx.embed_query(TEXTS[0]) - expected[0]).max() < 1e-5
    assert on_onnx.name == embedder.name  # the same index: a query runtime, not another embedder


def test_the_graph_is_exported_once_per_model(tmp_path):
    first = SentenceTransformerEmbedder(onnx_cache=tmp_path)
    first.embed_query("warm")
    (graph,) = tmp_path.glob("*/transformer.onnx")
    written = graph.stat().st_mtime_ns
    SentenceTransformerEmbedder(onnx_cache=tmp_path).embed_query("again")
    assert list(tmp_path.glob("*/transformer.onnx")) == [graph] and graph.stat().st_mtime_ns == written
    assert model_key("some/hub-model") != model_key("other/hub-model")


def test_a_changed_model_folder_gets_its_own_graph(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = model_key(str(folder))
    (folder / "config.json").write_text('{"hidden_size": 8}')
    assert model_key(str(folder)) != before


def test_a_model_that_does_not_export_is_embedded_on_torch_with_a_warning(embedder, tmp_path, monkeypatch, caplog):
    from tailor.kb import onnx_runtime

    def refuse(self, path):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_runtime.OnnxTransformer, "_export", refuse)
    fallback = SentenceTransformerEmbedder(onnx_cache=tmp_path)
    assert np.abs(fallback.embed_documents(TEXTS[:2]) - embedder.embed_documents(TEXTS[:2])).max() < 1e-6
    assert "does not run on ONNX Runtime (RuntimeError: unsupported operator)" in caplog.text
