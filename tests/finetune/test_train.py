"""The recipe on a tiny model: it learns, evaluates by generation, stops early, publishes to the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ft_corpus import FACTS

from tailor.finetune.config import DataConfig, FinetuneConfig
from tailor.finetune.data import build_dataset
from tailor.finetune.train import finetune


def config(tiny_llm_dir: Path, dataset: Path, home: Path, **overrides) -> FinetuneConfig:
    fields = dict(base_model=str(tiny_llm_dir), dataset=dataset, home=home, batch_size=4, max_length=128,
                  eval_steps=2, save_steps=2, logging_steps=1, warmup=0, early_stopping_patience=0)
    return FinetuneConfig(**{**fields, **overrides})


def tensorboard_scalars(folder: Path) -> dict[str, list]:
    """Every scalar series in a folder of TensorBoard event files, read the way TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}


def test_lora_learns_the_facts_and_the_final_evaluation_answers_them(tiny_llm_dir, facts_dataset, tmp_path):
    cfg = config(tiny_llm_dir, facts_dataset, tmp_path, max_steps=120, learning_rate=1e-2, eval_steps=20,
                 save_steps=20, lora_dropout=0.0)
    result = finetune(cfg)
    validation = result.metrics["validation"]
    assert validation["eval_exact_match"] == 1.0 and validation["eval_f1"] == 1.0
    assert validation["eval_generated"] == len(FACTS)


def test_an_untrained_run_scores_zero_and_publishes_everything(tiny_llm_dir, small_kb, tmp_path):
    data = tmp_path / "data"
    card = build_dataset(DataConfig(kb=small_kb, out=data, val_fraction=0.25))
    cfg = config(tiny_llm_dir, data, tmp_path / "home", name="kb-qa", max_steps=4, eval_samples=3)
    result = finetune(cfg)
    entry = result.entry
    assert entry.ref == "kb-qa@1" and not cfg.runs_dir.exists()  # checkpoints of a finished run are removed
    assert (entry.weights / "adapter_config.json").is_file() and (entry.weights / "tokenizer.json").is_file()
    manifest = entry.manifest
    assert manifest["base_model"]["id"] == str(tiny_llm_dir) and manifest["base_model"]["revision"].startswith("sha256:")
    assert manifest["dataset"]["hash"] == card["hash"] and manifest["groups"] == ["public"]
    assert manifest["metrics"]["train"]["global_step"] == manifest["cost"]["steps"] == 4
    assert manifest["cost"]["train_tokens"] > 0 and manifest["cost"]["wall_clock_s"] > 0
    assert manifest["metrics"]["validation"]["eval_generated"] == card["examples"]["validation"]  # final eval: all
    assert FinetuneConfig.model_validate(yaml.safe_load((entry.path / "training_config.yaml").read_text())) == cfg
    assert json.loads((entry.path / "dataset_card.json").read_text())["hash"] == card["hash"]
    events = [json.loads(line) for line in (entry.path / "metrics.jsonl").read_text().splitlines()]
    assert [e["eval_generated"] for e in events if "eval_generated" in e] == [3, 3, card["examples"]["validation"]]
    assert any("train_tokens_per_second" in e for e in events)
    scalars = tensorboard_scalars(entry.path / "tensorboard")
    assert [e.step for e in scalars["train/loss"]] == [1, 2, 3, 4] and all(e.value > 0 for e in scalars["train/loss"])
    assert [e.step for e in scalars["eval/f1"]] == [2, 4, 4]  # every evaluation, the final one included


def test_early_stopping_on_generation_f1(tiny_llm_dir, facts_dataset, tmp_path):
    # A random tiny model with a tiny learning rate never answers: F1 stays 0 and never improves.
    cfg = config(tiny_llm_dir, facts_dataset, tmp_path, max_steps=40, learning_rate=1e-6, early_stopping_patience=2)
    result = finetune(cfg)
    assert result.metrics["train"]["global_step"] == 6  # evals at 2 (best), 4 and 6 (no improvement twice)
    assert result.metrics["best"] == {"metric": "eval_f1", "value": 0.0, "checkpoint_step": 2}


def test_cpt_data_trains_on_loss_only(tiny_llm_dir, small_kb, tmp_path):
    data = tmp_path / "cpt"
    build_dataset(DataConfig(kb=small_kb, out=data, format="cpt", val_fraction=0.25))
    with pytest.raises(ValueError, match="early_stopping_metric: loss"):
        finetune(config(tiny_llm_dir, data, tmp_path, max_steps=2))
    cfg = config(tiny_llm_dir, data, tmp_path, max_steps=2, early_stopping_metric="loss", method="full")
    result = finetune(cfg, progress=True)  # the rich progress panel, then a final evaluation without it
    assert "eval_f1" not in result.metrics["validation"] and result.metrics["best"]["metric"] == "eval_loss"
    assert result.entry.manifest["weights"] == "model" and (result.entry.weights / "model.safetensors").is_file()


def test_qlora_needs_cuda(tiny_llm_dir, facts_dataset, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(RuntimeError, match="qlora"):
        finetune(config(tiny_llm_dir, facts_dataset, tmp_path, method="qlora", max_steps=1))


def test_run_folder_guards(tiny_llm_dir, facts_dataset, tmp_path):
    cfg = config(tiny_llm_dir, facts_dataset, tmp_path, max_steps=2)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        finetune(cfg, resume=True)
    (cfg.runs_dir / "checkpoint-2").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="--resume"):
        finetune(cfg)


def test_metric_none_trains_to_the_end_and_keeps_the_last_weights(tiny_llm_dir, facts_dataset, tmp_path):
    cfg = config(tiny_llm_dir, facts_dataset, tmp_path, max_steps=8, learning_rate=1e-6, early_stopping_patience=1,
                 early_stopping_metric="none")
    result = finetune(cfg)
    assert result.metrics["train"]["global_step"] == 8 and "best" not in result.metrics
    assert "eval_f1" in result.metrics["validation"]  # still evaluated and logged


def test_groups_train_only_on_rows_they_can_read_and_the_adapter_records_them(tiny_llm_dir, small_kb, tmp_path):
    data = tmp_path / "data"
    card = build_dataset(DataConfig(kb=small_kb, out=data, groups=["hr", "public"], val_fraction=0.25, seed=3))
    assert card["adapter_groups"] == ["hr", "public"]  # trained on all of it, an adapter would carry hr
    cfg = config(tiny_llm_dir, data, tmp_path / "home", name="public-qa", groups=["public"], max_steps=2, eval_samples=2)
    entry = finetune(cfg).entry
    manifest = entry.manifest
    assert manifest["groups"] == ["public"]
    trained = json.loads((entry.path / "dataset_card.json").read_text())
    assert trained["restricted"]["groups"] == ["public"] and sum(trained["restricted"]["dropped"].values()) > 0
    assert "salary" not in trained["documents"]["train"] + trained["documents"]["validation"]
    assert manifest["dataset"]["examples"] == trained["examples"] and not cfg.runs_dir.exists()

