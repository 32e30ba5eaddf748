"""The settings searched for the arms that retrieve train examples (rag and hybrid on an examples folder).

    top_k     how many similar train examples are shown as demonstrations
    template  the demonstration format: input/output pairs, or one compact line per example
    mode      the search over the examples (dense, BM25, both weighted): a setting of the examples' knowledge
              base, so shared by the retrieving arms; the first one searched chooses it, the others are
              searched at its choice (their settings files then agree)

Chunking does not apply (an example is one chunk), nor focus (the demonstrations are shown whole).
"""

from __future__ import annotations

from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict

from tailor.evaluate.compare.config import ArmConfig
from tailor.generate.demonstrations import EXAMPLE_TEMPLATES
from tailor.kb.config import RetrievalConfig

EXAMPLE_CHOICES: dict[str, list[Any]] = {
    "top_k": [1, 2, 3, 5, 8],
    "template": ["examples_demonstrations", "examples_compact"],
    "mode": ["dense", "bm25", "hybrid"],
}


class ExampleSettings(BaseModel):
    """One point of a demonstration arm's space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int
    template: str
    mode: Literal["dense", "bm25", "hybrid"]
    dense_weight: float  # hybrid: weight of the dense list (BM25 gets the rest)

    def retrieval(self, base: RetrievalConfig) -> RetrievalConfig:
        return base.model_copy(update={"mode": self.mode, "fusion": "weighted", "dense_weight": self.dense_weight,
                                       "bm25_weight": round(1.0 - self.dense_weight, 4)})

    def arm(self, base: ArmConfig) -> ArmConfig:
        return base.model_copy(update={"top_k": self.top_k, "template": self.template})


def default_examples(arm: ArmConfig, retrieval: RetrievalConfig) -> ExampleSettings:
    """The arm as compare runs it untuned."""
    return ExampleSettings(
        top_k=arm.top_k, template=arm.template or EXAMPLE_TEMPLATES[arm.strategy], mode=retrieval.mode,
        dense_weight=retrieval.dense_weight / ((retrieval.dense_weight + retrieval.bm25_weight) or 1.0),
    )


def suggest_examples(trial: optuna.Trial, default: ExampleSettings, search_mode: bool) -> ExampleSettings:
    """A point; the mode (and a hybrid's weight) only where this arm chooses it, else the default's."""
    def pick(name: str) -> Any:
        values = list(EXAMPLE_CHOICES[name])
        value = getattr(default, name)
        return trial.suggest_categorical(name, values if value in values else [*values, value])

    if not search_mode:
        return ExampleSettings(top_k=pick("top_k"), template=pick("template"), mode=default.mode,
                               dense_weight=default.dense_weight)
    mode = pick("mode")
    weight = trial.suggest_float("dense_weight", 0.0, 1.0) if mode == "hybrid" else default.dense_weight
    return ExampleSettings(top_k=pick("top_k"), template=pick("template"), mode=mode, dense_weight=weight)


def example_params(settings: ExampleSettings, search_mode: bool) -> dict[str, Any]:
    """The trial parameters that draw `settings` (to enqueue the defaults as the first trial)."""
    params = settings.model_dump()
    if not search_mode:
        del params["mode"], params["dense_weight"]
    elif settings.mode != "hybrid":
        del params["dense_weight"]
    return params
