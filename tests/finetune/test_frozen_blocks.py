"""The frozen blocks' outputs, kept once: the same training as running them every step, and only for training."""

from __future__ import annotations

from pathlib import Path

import torch
from ft_corpus import FACTS
from safetensors.torch import load_file

from tailor.finetune.config import FinetuneConfig
from tailor.finetune.train import finetune

ATTENTION_AND_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def train(tiny_llm_dir: Path, dataset: Path, home: Path, **overrides):
    fields = dict(base_model=str(tiny_llm_dir), dataset=dataset, home=home, batch_size=4, max_length=128, epochs=3,
                  learning_rate=1e-2, warmup=0, lora_dropout=0.0, lora_layers=1, lora_target_modules=ATTENTION_AND_MLP,
                  eval_steps=2, save_steps=2, logging_steps=1, early_stopping_metric="none")
    config = FinetuneConfig(**{**fields, **overrides})
    entry = finetune(config).entry
    weights = load_file(entry.path / "adapter" / "adapter_model.safetensors")
    return entry.manifest, weights


def test_cached_training_ends_with_the_weights_of_uncached_training(tiny_llm_dir, facts_dataset, tmp_path):
    cached, cached_weights = train(tiny_llm_dir, facts_dataset, tmp_path / "cached")
    plain, plain_weights = train(tiny_llm_dir, facts_dataset, tmp_path / "plain", cache_frozen_blocks=False)

    kept = cached["time_budget"]["frozen_blocks"]
    assert kept["blocks"] == 1 and kept["cached_examples"] == len(FACTS)  # each distinct example once
    assert kept["steps_served"] == cached["cost"]["steps"] > 0  # every training step, none of the evaluations
    assert "frozen_blocks" not in plain["time_budget"]
    assert cached_weights.keys() == plain_weights.keys() and all(".layers.1." in name for name in cached_weights)
    for name, weight in cached_weights.items():
        torch.testing.assert_close(weight, plain_weights[name], rtol=1e-4, atol=1e-5, msg=name)
    assert abs(cached["metrics"]["validation"]["eval_loss"] - plain["metrics"]["validation"]["eval_loss"]) < 1e-4


def test_nothing_is_kept_when_every_block_trains(tiny_llm_dir, facts_dataset, tmp_path):
    manifest, _ = train(tiny_llm_dir, facts_dataset, tmp_path, lora_layers=None)
    assert "frozen_blocks" not in manifest["time_budget"]


def test_it_trains_beside_early_stopping_that_reloads_the_best_checkpoint(tiny_llm_dir, facts_dataset, tmp_path):
    manifest, _ = train(tiny_llm_dir, facts_dataset, tmp_path, early_stopping_metric="f1", early_stopping_patience=1)
    assert manifest["metrics"]["best"]["checkpoint_step"] > 0
    assert manifest["time_budget"]["frozen_blocks"]["steps_served"] == manifest["cost"]["steps"]
