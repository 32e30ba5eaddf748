"""One settings file per front point, `settings/<arm>-<rank>.yaml`, in the form `tailor compare --config`
reads (a compare configuration with the tuned arm and the sections it depends on), which `tailor serve
--settings` reads too (the rag arm's search and prompt).

A tune folder is data: `tune.json` and the settings files are read within the bounds of every config file,
and a point's name picks a file inside `settings/` only (no `..`, no absolute path, no link out)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tailor.config_files import ConfigFileError, inside, mapping_field, read_mapping
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.tune.example_space import ExampleSettings
from tailor.evaluate.tune.front import FrontPoint
from tailor.evaluate.tune.space import FinetuneSettings, RagSettings
from tailor.generate.prompts import template_path
from tailor.kb.config import IndexConfig, RetrievalConfig


def rag_fragment(config: CompareConfig, settings: RagSettings, reranker: str | None) -> dict[str, Any]:
    arm = next(a for a in config.arms if a.name == "rag")
    index = settings.index(config.kb_index or IndexConfig())
    return {
        "base_model": config.base_model,
        "kb_index": {"chunk_tokens": index.chunk_tokens, "overlap_tokens": index.overlap_tokens},
        "retrieval": settings.retrieval(config.retrieval or RetrievalConfig(), reranker).model_dump(),
        "arms": [settings.arm(arm).model_dump(exclude_defaults=True)],
    }


def finetune_fragment(config: CompareConfig, settings: FinetuneSettings, base_model: str) -> dict[str, Any]:
    arm = next(a for a in config.arms if a.name == "finetuned")
    training = settings.training(config.training, base_model)
    return {"base_model": config.base_model, "training": training.model_dump(mode="json"),
            "arms": [settings.arm(arm).model_dump(exclude_defaults=True)]}


def examples_fragment(config: CompareConfig, name: str, settings: ExampleSettings) -> dict[str, Any]:
    """An examples folder's rag or hybrid arm: its k and demonstration format, and the examples' search."""
    arm = next(a for a in config.arms if a.name == name)
    return {"base_model": config.base_model,
            "retrieval": settings.retrieval(config.retrieval or RetrievalConfig()).model_dump(),
            "arms": [settings.arm(arm).model_dump(exclude_defaults=True)]}


def write_settings(folder: Path, point: FrontPoint, fragment: dict[str, Any]) -> Path:
    """settings/<arm>-<rank>.yaml with a header naming the trial and its development objectives."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{point.name}.yaml"
    header = (f"# tailor tune: {point.arm} front point {point.rank} (trial {point.trial}"
              f"{', the defaults' if point.defaults else ''}); on the development questions: accuracy "
              f"{point.accuracy:.3f}, p50 {point.p50_ms:.0f} ms, {point.cost_per_1000:.4f} per 1,000 queries.\n"
              f"# tailor compare DIR --config {path.name}   or   tailor compare DIR --tuned {folder.parent}\n")
    path.write_text(header + yaml.safe_dump(fragment, sort_keys=False))
    return path


def clear_settings(folder: Path, arm: str) -> None:
    """The arm's files of an earlier run go: a front point that is no longer on the front has none."""
    for path in folder.glob(f"{arm}-*.yaml"):
        path.unlink()


def read_settings_file(path: Path) -> dict[str, Any]:
    """A front point's settings file, its `arms` a list of mappings with a name and its sections mappings;
    a ConfigFileError naming the file and field otherwise."""
    data = read_mapping(path)
    for i, arm in enumerate(mapping_field(data, "arms", path, list)):
        if not isinstance(arm, dict) or not isinstance(arm.get("name"), str):
            raise ConfigFileError(f"{path}: arms.{i}: expected a mapping with a name, got {arm!r:.60}")
        if arm.get("template") is not None:
            try:
                template_path(str(arm["template"]))
            except ValueError as exc:
                raise ConfigFileError(f"{path}: arms.{i}.template: {exc}") from None
    for section in ("kb_index", "retrieval", "training"):
        if section in data:
            mapping_field(data, section, path)
    return data


def tuned_settings_files(folder: Path, points: Sequence[str] = ()) -> list[Path]:
    """The settings files `tailor compare --tuned FOLDER` applies: each arm's chosen front point in
    tune.json, or the point named in `points` (`rag-2`), each a file of FOLDER/settings."""
    summary = Path(folder) / "tune.json"
    if not summary.is_file():
        raise FileNotFoundError(f"--tuned {folder}: no tune.json (run `tailor tune` first)")
    data = read_mapping(summary)
    chosen: dict[str, tuple[str, str]] = {}
    for arm, found in mapping_field(data, "arms", summary).items():
        if not isinstance(found, dict):
            raise ConfigFileError(f"{summary}: arms.{arm}: expected a mapping, got {type(found).__name__}")
        point = found.get("chosen")
        if point is not None and not isinstance(point, str):
            raise ConfigFileError(f"{summary}: arms.{arm}.chosen: expected a front point's name, got {point!r:.60}")
        if point:
            chosen[arm] = (point, f"{summary}: arms.{arm}.chosen")
    for point in points:
        arm = point.rpartition("-")[0]
        if arm not in chosen:
            raise ValueError(f"--tuned-point {point}: the tune folder has no front of arm {arm!r}")
        chosen[arm] = (point, f"--tuned-point {point}")
    files = []
    for point, field in chosen.values():
        path = inside(Path(folder) / "settings", f"{point}.yaml", field)
        if not path.is_file():
            raise FileNotFoundError(f"{field}: {path} is not a front point's settings file")
        files.append(path)
    return files
