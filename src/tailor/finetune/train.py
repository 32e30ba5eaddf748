"""`tailor finetune`: supervised fine-tuning with TRL's SFTTrainer, readable top to bottom.

    setup  the run folder, the dataset (checked against its card), the method (LoRA, QLoRA or full),
           the SFTConfig, the trainer and its callbacks
    train  SFTTrainer.train(), resumable from the last complete checkpoint after a crash or a kill, on the
           threads the process has, printing its plan, an estimate and a line per epoch, held to the
           time budget (`budget.py`)
    save   evaluation on the whole validation set, then the main process publishes the weights with
           their config, dataset card, metrics and cost into the adapter registry

Runs unchanged under `accelerate launch` / `torchrun` (docs/finetuning.md, configs/accelerate/): the
Trainer shards the data and saves checkpoints rank-safely, and only the main process writes anything
else (metrics log, TensorBoard, progress panel, the registry).
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import PartialState
from accelerate.utils import str_to_bool
from datasets import Dataset, load_dataset
from peft import LoraConfig, PeftConfig
from transformers import AutoConfig, EarlyStoppingCallback, PrinterCallback, ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import SFTConfig, SFTTrainer
from trl.trainer.callbacks import RichProgressCallback

from tailor.base_models import resolve_base_model
from tailor.finetune import packed_attention  # noqa: F401  (registers the default attention, sdpa_packed)
from tailor.finetune.budget import TimeBudgetCallback, training_threads
from tailor.finetune.callbacks import (
    GenerationEvalCallback,
    JsonlMetricsCallback,
    TensorBoardLogCallback,
    wall_clock_seconds,
)
from tailor.finetune.config import FinetuneConfig
from tailor.finetune.cpu_loss import LabelledPositionsSFTTrainer
from tailor.finetune.data import SPLITS, adapter_groups, read_card, restrict_dataset
from tailor.finetune.frozen_blocks import FrozenBlocksCache, frozen_block_count
from tailor.finetune.registry import AdapterEntry, AdapterRegistry, model_revision
from tailor.finetune.scratch import LABEL, is_scratch_model

METRICS_LOG = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


@dataclass
class FinetuneResult:
    entry: AdapterEntry | None  # None on every process but the main one
    metrics: dict[str, Any]


# -- methods: what is trained ---------------------------------------------------------------------
def _lora(config: FinetuneConfig) -> tuple[PeftConfig | None, Any]:
    targets = config.lora_target_modules
    layers = None
    if config.lora_layers is not None:
        blocks = AutoConfig.from_pretrained(resolve_base_model(config.base_model, config.home)).num_hidden_layers
        layers = list(range(max(0, blocks - config.lora_layers), blocks))
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    ), None


def _qlora(config: FinetuneConfig) -> tuple[PeftConfig | None, Any]:
    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("method 'qlora' needs CUDA and the bitsandbytes package; use method 'lora' here")
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
    )
    return _lora(config)[0], quantization


def _full(config: FinetuneConfig) -> tuple[PeftConfig | None, Any]:
    return None, None


METHODS: dict[str, Callable[[FinetuneConfig], tuple[PeftConfig | None, Any]]] = {
    "lora": _lora,
    "qlora": _qlora,
    "full": _full,
}


# -- setup ----------------------------------------------------------------------------------------
def use_cpu() -> bool:
    """Train on CPU: no accelerator here, or `accelerate launch --cpu`.

    accelerate only forms a multi-process (gloo) group on CPU when told it is on CPU; without it,
    every process of `torchrun --nproc_per_node N` on a CPU machine trains alone as rank 0.
    """
    return not torch.accelerator.is_available() or bool(str_to_bool(os.environ.get("ACCELERATE_USE_CPU", "false")))


def prepare_run_dir(run_dir: Path, resume: bool, state: PartialState) -> str | None:
    """The checkpoint to resume from (None for a fresh run); half-written checkpoints are removed."""
    checkpoints = sorted(run_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    complete = [p for p in checkpoints if (p / "trainer_state.json").is_file()]
    if not resume:
        if checkpoints:
            raise FileExistsError(f"{run_dir} holds an interrupted run: pass --resume to continue it, or delete it")
        return None
    if not complete:
        raise FileNotFoundError(f"nothing to resume: no complete checkpoint in {run_dir}")
    if state.is_main_process:
        for partial in [p for p in checkpoints if p not in complete] + [run_dir / "final"]:
            shutil.rmtree(partial, ignore_errors=True)  # killed while saving
    state.wait_for_everyone()
    return str(complete[-1])


def load_splits(folder: Path) -> dict[str, Dataset]:
    """train (required) and validation (when not empty) from a `tailor data build` folder."""
    files = {name: str(folder / f"{name}.jsonl") for name in SPLITS if (folder / f"{name}.jsonl").stat().st_size}
    if "train" not in files:
        raise ValueError(f"{folder}/train.jsonl is empty")
    return dict(load_dataset("json", data_files=files))


def sft_config(config: FinetuneConfig, run_dir: Path, validate: bool, cpu: bool) -> SFTConfig:
    bf16 = config.bf16 if config.bf16 is not None else torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    metric = config.early_stopping_metric
    select = validate and metric != "none"  # keep the best checkpoint by `metric`, not the last one
    return SFTConfig(
        output_dir=str(run_dir),
        use_cpu=cpu,
        seed=config.seed,
        data_seed=config.seed,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup,
        weight_decay=config.weight_decay,
        max_length=config.max_length,
        packing=config.packing,
        completion_only_loss=config.completion_only_loss,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=bf16,
        model_init_kwargs={"dtype": "bfloat16" if bf16 else "float32",
                           "attn_implementation": config.attn_implementation},
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if validate else "no",
        eval_steps=config.eval_steps,
        load_best_model_at_end=select,
        metric_for_best_model=f"eval_{metric}" if select else None,
        greater_is_better=metric != "loss",
        restore_callback_states_from_checkpoint=True,
        include_num_input_tokens_seen="non_padding",
        report_to="none",  # TensorBoard is added as a callback that writes into the run folder
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=True,
    )


# -- the recipe -----------------------------------------------------------------------------------
def finetune(config: FinetuneConfig, resume: bool = False, progress: bool = False) -> FinetuneResult:
    """Train, evaluate and publish one version of `config.name`."""
    threads = training_threads()
    cpu = use_cpu()
    state = PartialState(cpu=cpu)
    run_dir = config.runs_dir
    checkpoint = prepare_run_dir(run_dir, resume, state)
    dataset = config.dataset
    if config.groups is not None:  # only the rows those groups can read, copied beside the checkpoints
        dataset = run_dir / "dataset"
        if state.is_main_process:
            restrict_dataset(config.dataset, config.groups, dataset)
        state.wait_for_everyone()
    card = read_card(dataset)
    splits = load_splits(dataset)
    validation = splits.get("validation")
    generation_eval = validation is not None and {"prompt", "answers"} <= set(validation.column_names)
    if validation is not None and config.early_stopping_metric in ("f1", "exact_match") and not generation_eval:
        raise ValueError(f"{card['format']} data has no questions to answer: set early_stopping_metric: loss")

    peft_config, quantization = METHODS[config.method](config)
    trainer_class = LabelledPositionsSFTTrainer if cpu else SFTTrainer  # TRL's fused head is for accelerators
    trainer = trainer_class(
        model=resolve_base_model(config.base_model, config.home),
        args=sft_config(config, run_dir, validate=validation is not None, cpu=cpu),
        train_dataset=splits["train"],
        eval_dataset=validation,
        peft_config=peft_config,
        quantization_config=quantization,
    )
    if len(trainer.train_dataset) == 0:
        raise ValueError(f"no training example fits in max_length={config.max_length} tokens; raise max_length")
    generation = None
    if generation_eval:
        rows = validation.select_columns(["question", "prompt", "answers"]).to_list()
        generation = GenerationEvalCallback(trainer, rows, config.eval_max_new_tokens, limit=config.eval_samples)
        trainer.add_callback(generation)  # before early stopping, which reads the scores it adds
    if validation is not None and config.early_stopping_metric != "none" and config.early_stopping_patience:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    budget = TimeBudgetCallback(trainer, len(splits["train"]), config.budget_minutes, threads, say=_say)
    trainer.add_callback(budget)
    frozen = frozen_block_count(trainer.model)
    if config.cache_frozen_blocks and config.packing and frozen and not config.gradient_checkpointing:
        trainer.add_callback(FrozenBlocksCache(trainer, frozen, _say, budget.record))  # after the budget: it times the fill
    trainer.add_callback(JsonlMetricsCallback(run_dir / METRICS_LOG))
    tensorboard = TensorBoardLogCallback(run_dir / TENSORBOARD_DIR)
    trainer.add_callback(tensorboard)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(RichProgressCallback())

    output = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.remove_callback(RichProgressCallback)  # it closes its display when training ends

    metrics: dict[str, Any] = {"train": {**output.metrics, "global_step": trainer.state.global_step}}
    if validation is not None:
        if generation is not None:
            generation.limit = None  # the final score covers every validation question
        metrics["validation"] = trainer.evaluate()
        if trainer.args.metric_for_best_model:
            metrics["best"] = {"metric": trainer.args.metric_for_best_model, "value": trainer.state.best_metric,
                               "checkpoint_step": trainer.state.best_global_step}
    tensorboard.close()  # the final evaluation is logged; nothing writes into the folder once it moves
    final = run_dir / "final"
    trainer.save_model(str(final))
    entry = None
    if trainer.is_world_process_zero():
        entry = _publish(config, trainer, card, metrics, final, run_dir, budget.record)
    state.wait_for_everyone()
    return FinetuneResult(entry, metrics)


def _say(line: str) -> None:
    print(line, flush=True)  # a line at a time, also when stdout is a file


# -- save -----------------------------------------------------------------------------------------
def _peak_memory_bytes() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _publish(
    config: FinetuneConfig, trainer: SFTTrainer, card: dict[str, Any], metrics: dict[str, Any], final: Path, run_dir: Path,
    time_budget: dict[str, Any],
) -> AdapterEntry:
    state = trainer.state
    weights = "model" if config.method == "full" else "adapter"
    base = {"id": config.base_model, "revision": model_revision(config.base_model)}
    if is_scratch_model(config.base_model):
        base["kind"] = LABEL
    manifest = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "base_model": base,
        "method": config.method,
        "weights": weights,
        "groups": adapter_groups(card),  # who may use it: tailor.finetune.registry.require_adapter_access
        "dataset": {"path": str(config.dataset), "hash": card["hash"], "format": card["format"], "kb": card["kb"],
                    "examples": card["examples"]},
        "metrics": metrics,
        "time_budget": time_budget,  # the plan, the warm-up's estimate and whether the budget cut the run short
        "cost": {
            "wall_clock_s": wall_clock_seconds(run_dir / METRICS_LOG),
            "train_tokens": state.num_input_tokens_seen,
            "steps": state.global_step,
            "processes": trainer.args.world_size,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "peak_memory_bytes": _peak_memory_bytes(),
        },
    }
    files = {
        "training_config.yaml": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
        "dataset_card.json": json.dumps(card, indent=2) + "\n",
        METRICS_LOG: (run_dir / METRICS_LOG).read_text(),
    }
    folders = {weights: final, TENSORBOARD_DIR: run_dir / TENSORBOARD_DIR}
    entry = AdapterRegistry(config.home).publish(config.name, folders, manifest, files)
    shutil.rmtree(run_dir)  # the checkpoints of a finished run; the weights and logs are in the registry
    return entry
