"""The adapter registry: versions, references, promotion, removal, revisions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tailor.finetune.registry import AdapterRegistry, model_revision


def publish(registry: AdapterRegistry, tmp_path: Path, name: str, marker: str):
    weights = tmp_path / f"w-{name}-{marker}"
    weights.mkdir()
    (weights / "adapter_config.json").write_text(marker)
    return registry.publish(name, {"adapter": weights}, {"weights": "adapter", "base_model": {"id": "b"}},
                            {"notes.txt": marker})


def test_versions_references_and_promotion(tmp_path):
    registry = AdapterRegistry(tmp_path / "home")
    first = publish(registry, tmp_path, "hr", "one")
    second = publish(registry, tmp_path, "hr", "two")
    publish(registry, tmp_path, "sales", "x")
    assert (first.ref, second.ref) == ("hr@1", "hr@2")
    assert (second.weights / "adapter_config.json").read_text() == "two"
    assert json.loads((second.path / "manifest.json").read_text())["version"] == 2
    assert (second.path / "notes.txt").read_text() == "two"
    assert registry.get("hr").version == 2 and registry.get("hr@latest").version == 2
    assert registry.promote("hr@1").promoted
    assert registry.get("hr").version == 1 and registry.get("hr@latest").version == 2
    assert [e.ref for e in registry.entries()] == ["hr@1", "hr@2", "sales@1"]
    assert [e.ref for e in registry.entries("hr")] == ["hr@1", "hr@2"]
    assert not list((tmp_path / "home" / "adapters" / "hr").glob(".staging*"))
    with pytest.raises(KeyError):
        registry.get("hr@7")
    with pytest.raises(KeyError):
        registry.get("nobody")
    for bad in ("a/b", "a@b", ".hidden", ""):
        with pytest.raises(ValueError, match="bad adapter name"):
            registry.publish(bad, {}, {}, {})


def test_remove_a_version_or_a_name(tmp_path):
    registry = AdapterRegistry(tmp_path)
    for marker in ("1", "2", "3"):
        publish(registry, tmp_path, "qa", marker)
    registry.promote("qa@2")
    assert [e.ref for e in registry.remove("qa@2")] == ["qa@2"]
    assert registry.get("qa").version == 3 and not registry.get("qa").promoted  # the promotion went with it
    assert publish(registry, tmp_path, "qa", "4").version == 4  # numbers are never reused while others remain
    assert [e.ref for e in registry.remove("qa")] == ["qa@1", "qa@3", "qa@4"]
    assert registry.names() == [] and not (tmp_path / "adapters" / "qa").exists()


def test_model_revision_follows_the_weights(tiny_llm_dir, tmp_path):
    copy = Path(shutil.copytree(tiny_llm_dir, tmp_path / "copy"))
    assert model_revision(str(copy)) == model_revision(str(tiny_llm_dir))
    (copy / "tokenizer_config.json").write_text("{}")  # not part of the weights
    assert model_revision(str(copy)) == model_revision(str(tiny_llm_dir))
    with (copy / "model.safetensors").open("ab") as handle:
        handle.write(b"\0")
    assert model_revision(str(copy)) != model_revision(str(tiny_llm_dir))
