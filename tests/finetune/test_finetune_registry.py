"""The adapter registry: versions, references, promotion, removal, revisions, access groups."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tailor.finetune.registry import (
    AdapterAccessError,
    AdapterRegistry,
    model_revision,
    require_adapter_access,
)


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


def publish_with_groups(registry: AdapterRegistry, tmp_path: Path, name: str, groups: list[str] | None):
    weights = tmp_path / f"w-{name}"
    weights.mkdir()
    manifest = {"weights": "adapter", "base_model": {"id": "b"}}
    return registry.publish(name, {"adapter": weights}, manifest | ({"groups": groups} if groups is not None else {}), {})


def test_access_needs_every_group_the_adapter_was_trained_on(tmp_path):
    registry = AdapterRegistry(tmp_path)
    mixed = publish_with_groups(registry, tmp_path, "mixed", ["hr", "public"])
    require_adapter_access(mixed, ["public", "hr", "sales"])
    require_adapter_access(mixed, None)  # unrestricted (administrative) caller
    with pytest.raises(AdapterAccessError, match=r"mixed@1 .* lacks \['hr'\]") as denied:
        require_adapter_access(mixed, ["public"])
    assert isinstance(denied.value, PermissionError) and denied.value.missing == ("hr",)
    with pytest.raises(TypeError):
        require_adapter_access(mixed, "hr")  # a string is not a list of groups
    for legacy in (publish_with_groups(registry, tmp_path, "legacy", None),
                   publish_with_groups(registry, tmp_path, "empty", [])):  # fail closed
        assert legacy.groups is None
        require_adapter_access(legacy, None)
        with pytest.raises(AdapterAccessError, match="records no access groups"):
            require_adapter_access(legacy, ["public", "hr"])


def test_resolve_takes_references_and_registry_folders_but_refuses_other_folders(tmp_path):
    registry = AdapterRegistry(tmp_path / "home")
    publish_with_groups(registry, tmp_path, "hr-qa", ["hr"])
    entry = publish_with_groups(registry, tmp_path, "hr-qa", ["hr"])
    registry.promote("hr-qa@1")
    assert registry.resolve("hr-qa").ref == "hr-qa@1" and registry.resolve("hr-qa@2").ref == "hr-qa@2"
    for folder in (entry.path, entry.weights):
        found = registry.resolve(str(folder))
        assert (found.ref, found.groups, found.weights, found.promoted) == ("hr-qa@2", frozenset({"hr"}), entry.weights, False)
    other = AdapterRegistry(tmp_path / "elsewhere")  # a registry folder is known whatever the home
    assert other.resolve(str(entry.weights)).ref == "hr-qa@2" and other.resolve(str(registry.get("hr-qa").path)).promoted
    bare = tmp_path / "downloaded-lora"
    bare.mkdir()
    (bare / "adapter_config.json").write_text("{}")
    with pytest.raises(AdapterAccessError, match="not an adapter of a Tailor registry"):
        registry.resolve(str(bare))
    with pytest.raises(KeyError, match="no adapter named 'nope'"):
        registry.resolve("nope")
