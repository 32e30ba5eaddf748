"""The models behind the arms: the base model (the offline scratch model is built once) and the adapters,
trained in the run by `tailor data build` + `tailor finetune`, or reused from the registry when one was
trained on a dataset with the same hash, from the same base, with the same settings."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.finetune.config import DataConfig, FinetuneConfig, ScratchConfig
from tailor.finetune.data import build_dataset
from tailor.finetune.registry import AdapterEntry, AdapterRegistry
from tailor.finetune.retrieved import RetrievedContext
from tailor.finetune.scratch import MARKER, build_scratch_model
from tailor.finetune.train import finetune

# Settings for the from-scratch demonstration model and its adapters that fit the demo's time budget on
# two CPU cores (benchmarks/finetune_knowledge.py measured the longer recipe in configs/finetune/).
SCRATCH_DEFAULTS: dict[str, Any] = {"epochs": 10}
SCRATCH_FINETUNE_DEFAULTS: dict[str, Any] = {
    "method": "lora", "lora_rank": 64, "lora_alpha": 64, "lora_dropout": 0.0, "epochs": 4, "batch_size": 1,
    "learning_rate": 2e-3, "max_length": 256, "packing": True, "early_stopping_metric": "none",
    "eval_steps": 100, "save_steps": 100, "logging_steps": 20,
}


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def ensure_scratch_model(home: Path, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The scratch model for these settings: built on first use under HOME/models/, reused after."""
    fields = {**SCRATCH_DEFAULTS, **overrides}
    folder = Path(home) / "models" / f"scratch-{_digest({**fields, 'recipe': 2})}"  # 2: window = max_length
    if (folder / MARKER).is_file():
        return str(folder), {**json.loads((folder / MARKER).read_text()), "reused": True}
    facts = build_scratch_model(ScratchConfig(out=folder, **fields))
    return str(folder), {**facts, "reused": False}


@dataclass
class TrainedAdapter:
    entry: AdapterEntry
    reused: bool
    dataset: dict[str, Any]  # the dataset card
    data_seconds: float

    def to_dict(self) -> dict[str, Any]:
        cost = self.entry.manifest.get("cost", {})
        return {
            "ref": self.entry.ref,
            "base_model": self.entry.base_model,
            "groups": list(self.entry.manifest.get("groups", [])),
            "reused": self.reused,
            "dataset_hash": self.dataset["hash"],
            "examples": self.dataset["examples"],
            "data_card": str(Path(self.dataset["config"]["out"]) / "card.json"),
            "data_quality": {key: self.dataset.get("quality", {}).get(key) for key in ("rejected", "answer_shapes")},
            "training": {
                "wall_clock_s": cost.get("wall_clock_s"),
                "tokens": cost.get("train_tokens"),
                "steps": cost.get("steps"),
                "device": cost.get("device"),
                "processes": cost.get("processes"),
                "data_seconds": round(self.data_seconds, 2),
                "time_budget": self.entry.manifest.get("time_budget"),  # estimate, budget, whether it cut the run
            },
        }


def finetune_settings(base_model: str, is_scratch: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    return {**(SCRATCH_FINETUNE_DEFAULTS if is_scratch else {}), **overrides, "base_model": base_model}


def train_adapter(
    *,
    kb: Path,
    work: Path,
    home: Path,
    base_model: str,
    is_scratch: bool,
    data_format: str,
    groups: list[str],
    training: dict[str, Any],
    qa_file: Path | None,
    name: str,
    exclude_documents: list[str] | None = None,
    retrieved: RetrievedContext | None = None,
    progress: bool = False,
) -> TrainedAdapter:
    """Build the dataset from the KB (never from `exclude_documents`; raft rows on `retrieved`, the asking
    arm's retrieval and prompt), then reuse a matching registry adapter or train a new one."""
    started = time.perf_counter()
    data = DataConfig(
        kb=kb,
        out=work / f"data-{name}",
        groups=groups,
        format=data_format,
        qa_file=qa_file,
        generator="offline",
        questions_per_chunk=training["questions_per_chunk"],
        paraphrases=training["paraphrases"],
        answer_template=training["answer_template"],
        # every document the RAG arms can read is also trained on (a like-for-like arm), except those generated
        # questions were written from
        val_fraction=0.0,
        exclude_documents=exclude_documents or [],
    )
    card = build_dataset(data, retrieved)
    return fit_adapter(card, data.out, time.perf_counter() - started, work=work, home=home, base_model=base_model,
                       is_scratch=is_scratch, finetune_overrides=training["finetune"], name=name, progress=progress)


def fit_adapter(card: dict[str, Any], dataset: Path, data_seconds: float, *, work: Path, home: Path,
                base_model: str, is_scratch: bool, finetune_overrides: dict[str, Any], name: str,
                progress: bool = False) -> TrainedAdapter:
    """The registry adapter trained on `dataset` with these settings, reused when one exists, else trained."""
    settings = finetune_settings(base_model, is_scratch, finetune_overrides)
    config = FinetuneConfig(**settings, dataset=dataset, name=name, home=home, run_dir=work / f"run-{name}")
    registry = AdapterRegistry(home)
    for entry in reversed(registry.entries(name) if name in registry.names() else []):
        if _same_training(entry, card, config):
            return TrainedAdapter(entry, True, card, data_seconds)
    result = finetune(config, resume=_resumable(config.runs_dir), progress=progress)
    if result.entry is None:
        raise RuntimeError("training finished on a non-main process; run compare as a single process")
    return TrainedAdapter(result.entry, False, card, data_seconds)


def _resumable(run_dir: Path) -> bool:
    """A killed training run resumes from its last complete checkpoint; one without any starts over."""
    if any((p / "trainer_state.json").is_file() for p in run_dir.glob("checkpoint-*")):
        return True
    shutil.rmtree(run_dir, ignore_errors=True)
    return False


TRAINING_KEYS_IGNORED = ("home", "run_dir", "dataset", "name")


def _same_training(entry: AdapterEntry, card: dict[str, Any], config: FinetuneConfig) -> bool:
    manifest = entry.manifest
    if manifest.get("dataset", {}).get("hash") != card["hash"] or entry.base_model != config.base_model:
        return False
    trained = entry.path / "training_config.yaml"
    if not trained.is_file():
        return False
    import yaml

    previous = yaml.safe_load(trained.read_text()) or {}
    wanted = config.model_dump(mode="json")
    return all(previous.get(k) == v for k, v in wanted.items() if k not in TRAINING_KEYS_IGNORED)
