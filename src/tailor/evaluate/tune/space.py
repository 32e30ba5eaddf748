"""The settings searched per arm, as records, and how a trial draws them (Optuna's define-by-run API).

Each space's choices always include the arm's defaults, so the first trial (the defaults, enqueued) is a
point of the same space and the front shows where the defaults stand.
"""

from __future__ import annotations

from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict

from tailor.base_models import preferred_settings, preferred_training
from tailor.evaluate.compare.config import ArmConfig, TrainingConfig
from tailor.evaluate.compare.training import SCRATCH_FINETUNE_DEFAULTS
from tailor.generate.strategies import STRATEGIES
from tailor.kb.config import IndexConfig, RetrievalConfig

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
PROJECTIONS = [*ATTENTION, "gate_proj", "up_proj", "down_proj"]
MODULES = {"attention": ATTENTION, "attention+mlp": PROJECTIONS}

RAG_CHOICES: dict[str, list[Any]] = {
    "chunk_tokens": [96, 128, 200, 256],
    "overlap_tokens": [0, 32, 64],
    "top_k": [1, 2, 3, 5, 8],
    "mode": ["dense", "bm25", "hybrid"],
    "template": ["rag", "rag_brief", "rag_quoted", "rag_titled"],
    "focus_sentences": [0, 1, 2, 3],  # 0: the top_k chunks whole; N: the N best sentences of them
    "focus_abstain_below": [0.0, 0.1, 0.15, 0.2, 0.28],
    "max_new_tokens": [16, 32, 64],
}
FINETUNE_CHOICES: dict[str, list[Any]] = {
    "data_format": ["qa", "raft"],
    "paraphrases": [0, 1, 2, 3],
    "lora_rank": [4, 8, 16, 32, 64],
    "modules": list(MODULES),
    "epochs": [2, 4, 6, 8],
}
LEARNING_RATE = (1e-4, 5e-3)


class RagSettings(BaseModel):
    """One point of the rag arm's space: chunking, retrieval and prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_tokens: int
    overlap_tokens: int
    top_k: int
    mode: Literal["dense", "bm25", "hybrid"]
    dense_weight: float  # hybrid: weight of the dense list (BM25 gets the rest)
    rerank: bool
    template: str
    focus_sentences: int
    focus_abstain_below: float
    max_new_tokens: int

    def index(self, base: IndexConfig) -> IndexConfig:
        return base.model_copy(update={"chunk_tokens": self.chunk_tokens, "overlap_tokens": self.overlap_tokens})

    def retrieval(self, base: RetrievalConfig, reranker: str | None) -> RetrievalConfig:
        return base.model_copy(update={"mode": self.mode, "fusion": "weighted", "dense_weight": self.dense_weight,
                                       "bm25_weight": round(1.0 - self.dense_weight, 4),
                                       "reranker": reranker if self.rerank else None})

    def arm(self, base: ArmConfig) -> ArmConfig:
        return base.model_copy(update={"top_k": self.top_k, "template": self.template,
                                       "focus_sentences": self.focus_sentences,
                                       "focus_abstain_below": self.focus_abstain_below,
                                       "max_new_tokens": self.max_new_tokens})


class FinetuneSettings(BaseModel):
    """One point of the fine-tuned arm's space: the training data and the LoRA recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_format: Literal["qa", "raft"]
    paraphrases: int
    lora_rank: int
    modules: str
    epochs: int
    learning_rate: float

    def training(self, base: TrainingConfig, model: str) -> TrainingConfig:
        """The compare training section with this recipe (LoRA placed in the model's measured top blocks)."""
        finetune = {**base.finetune, "lora_rank": self.lora_rank, "lora_alpha": 2 * self.lora_rank,
                    "lora_target_modules": MODULES[self.modules], "epochs": self.epochs,
                    "learning_rate": self.learning_rate}
        layers = preferred_training(model).get("lora_layers")
        if layers:
            finetune["lora_layers"] = layers
        return base.model_copy(update={"paraphrases": self.paraphrases, "finetune": finetune})

    def arm(self, base: ArmConfig) -> ArmConfig:
        return base.model_copy(update={"data_format": self.data_format})


def default_rag(arm: ArmConfig, model: str, index: IndexConfig, retrieval: RetrievalConfig) -> RagSettings:
    """The rag arm as compare runs it untuned: the arm's fields, else the model's measured ones, else the KB's."""
    preferred = preferred_settings(model, "rag")
    return RagSettings(
        chunk_tokens=index.chunk_tokens, overlap_tokens=index.overlap_tokens, top_k=arm.top_k, mode=retrieval.mode,
        dense_weight=retrieval.dense_weight / ((retrieval.dense_weight + retrieval.bm25_weight) or 1.0),
        rerank=retrieval.reranker is not None,
        template=arm.template or preferred.get("template") or STRATEGIES["rag"].template,
        focus_sentences=_first(arm.focus_sentences, preferred.get("focus_sentences"), 0),
        focus_abstain_below=_first(arm.focus_abstain_below, preferred.get("focus_abstain_below"), 0.0),
        max_new_tokens=arm.max_new_tokens,
    )


def default_finetune(arm: ArmConfig, training: TrainingConfig, model: str, is_scratch: bool) -> FinetuneSettings:
    """The fine-tuned arm as compare trains it untuned (the training section over the model's defaults)."""
    recipe = {**(SCRATCH_FINETUNE_DEFAULTS if is_scratch else preferred_training(model)), **training.finetune}
    modules = recipe.get("lora_target_modules", ["all-linear"])
    return FinetuneSettings(
        data_format=arm.data_format, paraphrases=training.paraphrases, lora_rank=int(recipe.get("lora_rank", 16)),
        modules="attention" if list(modules) == ATTENTION else "attention+mlp", epochs=int(recipe.get("epochs", 3)),
        learning_rate=float(recipe.get("learning_rate", 2e-4)),
    )


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def _choices(name: str, table: dict[str, list[Any]], default: Any) -> list[Any]:
    values = list(table[name])
    return values if default in values else sorted([*values, default])


def suggest_rag(trial: optuna.Trial, default: RagSettings, can_chunk: bool, can_rerank: bool) -> RagSettings:
    """A rag point; chunking only when the documents can be re-chunked, rerank only with a reranker."""
    def pick(name: str) -> Any:
        return trial.suggest_categorical(name, _choices(name, RAG_CHOICES, getattr(default, name)))

    values: dict[str, Any] = {
        "chunk_tokens": pick("chunk_tokens") if can_chunk else default.chunk_tokens,
        "overlap_tokens": pick("overlap_tokens") if can_chunk else default.overlap_tokens,
        "top_k": pick("top_k"), "mode": pick("mode"), "template": pick("template"),
        "focus_sentences": pick("focus_sentences"), "focus_abstain_below": pick("focus_abstain_below"),
        "max_new_tokens": pick("max_new_tokens"),
        "rerank": trial.suggest_categorical("rerank", [False, True]) if can_rerank else False,
    }
    if 2 * values["overlap_tokens"] >= values["chunk_tokens"]:  # categorical choices cannot depend on another's
        raise optuna.TrialPruned(f"overlap {values['overlap_tokens']} is not under half of chunk "
                                 f"{values['chunk_tokens']} tokens: no such chunking")
    hybrid = values["mode"] == "hybrid"
    values["dense_weight"] = trial.suggest_float("dense_weight", 0.0, 1.0) if hybrid else default.dense_weight
    return RagSettings(**values)


def suggest_finetune(trial: optuna.Trial, default: FinetuneSettings) -> FinetuneSettings:
    def pick(name: str) -> Any:
        return trial.suggest_categorical(name, _choices(name, FINETUNE_CHOICES, getattr(default, name)))

    low, high = min(LEARNING_RATE[0], default.learning_rate), max(LEARNING_RATE[1], default.learning_rate)
    return FinetuneSettings(
        data_format=pick("data_format"), paraphrases=pick("paraphrases"), lora_rank=pick("lora_rank"),
        modules=pick("modules"), epochs=pick("epochs"),
        learning_rate=trial.suggest_float("learning_rate", low, high, log=True),
    )


def params_of(settings: RagSettings | FinetuneSettings, can_chunk: bool = True, can_rerank: bool = True) -> dict[str, Any]:
    """The trial parameters that draw `settings` (to enqueue the defaults as the first trial)."""
    params = settings.model_dump()
    if isinstance(settings, RagSettings):
        if not can_chunk:
            del params["chunk_tokens"], params["overlap_tokens"]
        if not can_rerank:
            params.pop("rerank")
        if settings.mode != "hybrid":
            params.pop("dense_weight")
    return params
