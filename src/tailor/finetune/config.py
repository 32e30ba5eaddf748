"""One config model per fine-tuning command; each is the YAML/TOML schema and the set of CLI flags.

Every field becomes a `--flag` of its command (its description is the help text), a config file
sets any subset of fields, and flags given on the command line win over the file:

    defaults  <  --config FILE  <  --flag value
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tailor.base_models import DEFAULT_BASE_MODEL, preferred_training
from tailor.config_files import read_mapping, validate
from tailor.home import default_home

Model = TypeVar("Model", bound=BaseModel)


class DataConfig(BaseModel):
    """`tailor data build`: a training dataset from a knowledge base."""

    model_config = ConfigDict(extra="forbid")

    kb: Path = Field(description="Knowledge base to read documents and chunks from (folder, Milvus Lite .db or milvus:// URI)")
    out: Path = Field(description="Folder to write train.jsonl, validation.jsonl and card.json to")
    groups: list[str] = Field(["public"], description="Access groups: only their documents are read")
    format: Literal["qa", "raft", "cpt"] = Field(
        "qa", description="qa: closed-book question->answer; raft: documents+question->quote+answer; cpt: raw text"
    )
    qa_file: Path | None = Field(None, description="JSONL of question, answer(s), optional doc_ids")
    generator: str | None = Field(
        "offline", description="Synthetic question writer: 'offline', 'hf:<model>', 'openai:<url>#<model>', or none"
    )
    questions_per_chunk: int = Field(3, ge=0, description="Synthetic questions asked per chunk")
    paraphrases: int = Field(0, ge=0, description="Extra rewordings of each training question (knowledge injection)")
    raft_distractors: int = Field(3, ge=0, description="RAFT: distractor chunks per example")
    raft_oracle_p: float = Field(0.8, ge=0, le=1, description="RAFT: probability that the oracle chunk is kept")
    answer_template: str = Field(
        "{answer}",
        description="qa: how a completion is written; {answer} and {title} (the answer's document) are filled "
        "in, e.g. '{answer}\\nSource: {title}' to teach a declared answer format",
    )
    val_fraction: float = Field(0.2, ge=0, lt=1, description="Share of documents (not questions) held out")
    exclude_documents: list[str] = Field(
        [], description="Documents never read, in any split or RAFT context (e.g. those evaluation questions were "
        "written from)",
    )
    seed: int = Field(0, description="Seed for the split, sampling and shuffling")

    @field_validator("answer_template")
    @classmethod
    def _template_names_the_answer(cls, template: str) -> str:
        if "{answer}" not in template:
            raise ValueError("answer_template must contain {answer}")
        try:
            template.format(answer="", title="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"answer_template may use only {{answer}} and {{title}}: {exc}") from exc
        return template


class FinetuneConfig(BaseModel):
    """`tailor finetune`: SFT of a base model on a `tailor data build` dataset.

    A bundled base model brings the training settings measured best for it on a CPU (`tailor.base_models`);
    they replace the defaults below, and any field a file or flag sets wins over them.
    """

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL, description="The causal LM to adapt: a hub id, a local folder, a .gguf file or a bundled "
        "short name (default: smollm2-135m-instruct, offline, with its own measured training defaults)",
    )
    dataset: Path = Field(description="Folder written by `tailor data build`")
    groups: list[str] | None = Field(
        None,
        description="Train only on rows whose every document shares a group with these (a caller holding them "
        "could read it); the adapter records the groups it then requires. Default: the whole dataset",
    )
    name: str = Field("adapter", description="Registry name; each run adds a version")
    home: Path = Field(default_factory=default_home, description="Project data dir (adapters/, runs/)")
    run_dir: Path | None = Field(None, description="Checkpoints and logs; default HOME/runs/NAME")
    method: Literal["lora", "qlora", "full"] = Field(
        "lora", description="lora; qlora (4-bit base, needs CUDA + bitsandbytes); full (every weight)"
    )
    lora_rank: int = Field(16, ge=1, description="LoRA rank: higher learns more, costs memory")
    lora_alpha: int = Field(32, ge=1, description="LoRA scale numerator (update scaled by alpha/rank)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input")
    lora_target_modules: list[str] = Field(["all-linear"], description="Modules that get LoRA; all-linear = every Linear")
    lora_layers: int | None = Field(
        None, ge=1, description="LoRA only in the last N transformer blocks (needs named target modules): "
        "backpropagation stops below them; None: every block",
    )
    epochs: float = Field(3.0, gt=0, description="Passes over the training set (ignored when max_steps > 0)")
    max_steps: int = Field(-1, description="Optimizer steps; > 0 overrides epochs")
    budget_minutes: float | None = Field(
        None, gt=0, description="Time budget: when the warm-up's estimate is over it, train only the steps that fit "
        "(fewer epochs) and stop at it in any case; the adapter records it. None: no cap",
    )
    batch_size: int = Field(8, ge=1, description="Sequences per device per step")
    grad_accum: int = Field(1, ge=1, description="Steps accumulated per optimizer update")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name: cosine, linear, constant, ...")
    warmup: float = Field(0.03, ge=0, description="Warm-up: a fraction of the steps if < 1, else a step count")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_length: int = Field(1024, ge=16, description="Tokens per sequence (per packed block when packing)")
    packing: bool = Field(True, description="Pack examples into max_length blocks (no padding waste)")
    completion_only_loss: bool = Field(True, description="Loss on the answer only, not on the prompt")
    gradient_checkpointing: bool = Field(False, description="Recompute activations: less memory, ~20% slower")
    cache_frozen_blocks: bool = Field(
        True, description="With lora_layers and packing: run the frozen blocks below the LoRA layers once per "
        "example and reuse their outputs every epoch (tailor.finetune.frozen_blocks); same loss, fewer FLOPs",
    )
    bf16: bool | None = Field(
        None, description="bfloat16 mixed precision (autocast on a CPU, bf16 weights on CUDA); default: on when CUDA "
        "supports it",
    )
    attn_implementation: str = Field(
        "sdpa_packed", description="sdpa_packed (sdpa attending within each packed example: "
        "tailor.finetune.packed_attention), sdpa, eager, flash_attention_2, ...",
    )
    eval_steps: int = Field(50, ge=1, description="Evaluate (loss and generation EM/F1) every N steps")
    eval_samples: int = Field(64, ge=1, description="Validation questions answered at each evaluation")
    eval_max_new_tokens: int = Field(48, ge=1, description="Longest generated answer during evaluation")
    early_stopping_metric: Literal["f1", "exact_match", "loss", "none"] = Field(
        "f1", description="Validation metric that picks the best checkpoint and stops training; none: keep the last"
    )
    early_stopping_patience: int = Field(3, ge=0, description="Evaluations without improvement before stopping; 0: never")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (must be a multiple of eval_steps)")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (plus the best one)")
    logging_steps: int = Field(5, ge=1, description="Log loss and tokens/s every N steps")
    seed: int = Field(0, description="Seed for initialisation, data order and dropout")

    @model_validator(mode="before")
    @classmethod
    def _bundled_model_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preferred = preferred_training(str(data.get("base_model", DEFAULT_BASE_MODEL)))
        if "lora_target_modules" in data:  # the LoRA placement is one choice: given modules replace its layers
            preferred.pop("lora_layers", None)
        return {**preferred, **data}

    @model_validator(mode="after")
    def _layers_need_named_modules(self) -> FinetuneConfig:
        if self.lora_layers is not None and "all-linear" in self.lora_target_modules:
            raise ValueError("lora_layers needs named lora_target_modules (e.g. [q_proj, v_proj]), not all-linear")
        return self

    @property
    def runs_dir(self) -> Path:
        return self.run_dir or self.home / "runs" / self.name


class ScratchConfig(BaseModel):
    """`tailor base-model scratch`: a small from-scratch demonstration base model, no download needed."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(description="Folder for the model and tokenizer")
    kb: Path | None = Field(
        None,
        description="Opt-in: the tokenizer also learns this KB's words; they never occur in the general text, so "
        "their embeddings start untrained and LoRA learns facts about them far worse (docs/decisions/0006)",
    )
    groups: list[str] = Field(["public"], description="Access groups of the KB documents the tokenizer reads")
    general_text: Path | None = Field(None, description="Folder of .txt pre-training text; default: the shipped corpus")
    vocab_size: int = Field(2048, ge=300, description="BPE vocabulary size")
    hidden_size: int = Field(128, ge=16, description="Model width")
    layers: int = Field(4, ge=1, description="Transformer blocks")
    heads: int = Field(4, ge=1, description="Attention heads")
    intermediate_size: int = Field(384, ge=16, description="MLP width")
    max_length: int = Field(256, ge=32, description="Context length used in pre-training")
    instruct: bool = Field(True, description="Also train on offline questions about the general text (chat format)")
    epochs: float = Field(40.0, gt=0, description="Passes over the pre-training text")
    max_steps: int = Field(-1, description="Optimizer steps; > 0 overrides epochs")
    batch_size: int = Field(8, ge=1, description="Sequences per step")
    learning_rate: float = Field(6e-3, gt=0, description="Peak learning rate")
    seed: int = Field(0, description="Seed")


def load_config(model: type[Model], path: Path | None = None, overrides: dict[str, Any] | None = None) -> Model:
    """Defaults, then the file's fields (YAML or TOML), then the overrides that are not None; a
    ConfigFileError names the file and each bad field."""
    data = read_mapping(path) if path else {}
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    data.update(given)
    source = " and ".join(name for name, used in ((str(path), path), ("command-line options", given)) if used)
    return validate(model, data, source or None)
