"""Arms made runnable: each `ArmConfig` resolved to a strategy over the KB, or skipped with its reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tailor.finetune.strategies  # noqa: F401  (registers the finetuned and hybrid strategies)
from tailor.base_models import MARKER as GGUF_MARKER
from tailor.evaluate.compare.config import BASE, ArmConfig
from tailor.finetune.registry import AdapterAccessError, AdapterEntry, require_adapter_access
from tailor.finetune.scratch import LABEL, is_scratch_model
from tailor.generate.strategies import STRATEGIES, AskConfig, Strategy, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer

EXTRACTIVE_MODEL = "none: extractive reader (sentences scored with the KB's embedder, quoted verbatim)"


@dataclass
class ArmPlan:
    """What an arm runs: its generator spec, the model behind it, its adapter; or why it cannot run."""

    config: ArmConfig
    generator: str = ""
    model: str = ""
    adapter: AdapterEntry | None = None
    adapter_info: dict[str, Any] | None = None
    skip_reason: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def retrieves(self) -> bool:
        return STRATEGIES[self.config.strategy].retrieves

    @property
    def adapter_groups(self) -> tuple[str, ...]:
        return tuple(self.adapter.manifest.get("groups", [])) if self.adapter else ()

    def access_problem(self, groups: Sequence[str]) -> str | None:
        """Why a caller holding `groups` may not use this arm's adapter (the registry's rule), or None."""
        if self.adapter is None:
            return None
        try:
            require_adapter_access(self.adapter, groups)
        except AdapterAccessError as exc:
            return str(exc)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "strategy": self.config.strategy,
            "generator": self.generator or self.config.generator,
            "model": self.model,
            "retrieves": self.retrieves,
            "top_k": self.config.top_k if self.retrieves else None,
            "status": "skipped" if self.skip_reason else "ran",
            "skip_reason": self.skip_reason,
            "adapter": self.adapter_info,
        }


def describe_model(generator: str) -> str:
    if generator == "extractive":
        return EXTRACTIVE_MODEL
    kind, _, target = generator.partition(":")
    if kind == "hf" and is_scratch_model(target):
        return f"{target} ({LABEL})"
    if kind == "hf" and (Path(target) / GGUF_MARKER).is_file():
        facts = json.loads((Path(target) / GGUF_MARKER).read_text())
        return f"{facts.get('label', target)} (GGUF {Path(facts.get('source', '')).name}, converted to {target})"
    return target


def resolve_generator(arm: ArmConfig, base_generator: str | None, base_problem: str | None) -> tuple[str | None, str | None]:
    """The arm's generator spec, or the reason it has none."""
    if arm.generator != BASE:
        return arm.generator, None
    if base_generator is None:
        return None, base_problem
    return base_generator, None


def build_strategy(plan: ArmPlan, kb: KnowledgeBase) -> Strategy:
    config = AskConfig(
        strategy=plan.config.strategy,
        generator=plan.generator,
        adapter=str(plan.adapter.weights) if plan.adapter else None,
        top_k=plan.config.top_k,
        max_new_tokens=plan.config.max_new_tokens,
        temperature=0.0,
        template=plan.config.template,
        focus_sentences=plan.config.focus_sentences,
        focus_abstain_below=plan.config.focus_abstain_below,
        quantize=plan.config.quantize if plan.generator.startswith("hf:") else None,
        batch_size=plan.config.batch_size,
    )
    return make_strategy(config, kb if plan.retrieves else None)


def refusal(plan: ArmPlan, question: str, problem: str) -> Answer:
    """What the access check answers when the caller may not use the arm's adapter."""
    return Answer(
        question=question,
        text=f"Refused: {problem}",
        abstained=True,
        strategy=plan.config.strategy,
        generator=plan.generator,
        timings_ms={"retrieve": 0.0, "rerank": 0.0, "generate": 0.0, "total": 0.0},
    )
