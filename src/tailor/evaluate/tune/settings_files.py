"""One settings file per front point, `settings/<arm>-<rank>.yaml`, in the form `tailor compare --config`
reads (a compare configuration with the tuned arm and the sections it depends on), which `tailor serve
--settings` reads too (the rag arm's search and prompt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.tune.front import FrontPoint
from tailor.evaluate.tune.space import FinetuneSettings, RagSettings
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
