"""The two tuned arms: how a setting becomes a runnable plan (and its knowledge base or adapter).

rag        a chunking's KB from the pool, the trial's search settings, the base model with the trial's prompt
finetuned  compare's training (data build + LoRA) with the trial's recipe, reused from the adapter registry
           when the same data and settings were trained before; answered closed book, like compare's arm
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.arms import ArmPlan, describe_model
from tailor.evaluate.compare.config import ArmConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.models import train
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.training import TrainedAdapter
from tailor.evaluate.tune.kbs import KnowledgePool
from tailor.evaluate.tune.measure import Measure, ask, fingerprint, summarise
from tailor.evaluate.tune.space import FinetuneSettings, RagSettings
from tailor.finetune import strategies  # noqa: F401  (registers the finetuned strategy)
from tailor.finetune.scratch import is_scratch_model
from tailor.kb.config import IndexConfig, RetrievalConfig


class TunedArm(Protocol):
    name: str

    def measure(self, settings: Any, questions: Sequence[Question], phase: str) -> Measure: ...


@dataclass
class RagArm:
    """The rag arm at a `RagSettings` point."""

    ctx: RunContext
    answerer: Answerer
    pool: KnowledgePool
    generator: str
    config: ArmConfig
    index: IndexConfig
    retrieval: RetrievalConfig
    reranker: str | None
    generators: dict[str, Any] = field(default_factory=dict)
    name: str = "rag"

    def measure(self, settings: RagSettings, questions: Sequence[Question], phase: str) -> Measure:
        kb = self.pool.get(settings.index(self.index), settings.retrieval(self.retrieval, self.reranker))
        info = self.pool.info(kb)
        plan = ArmPlan(settings.arm(self.config), generator=self.generator, model=describe_model(self.generator))
        plan.fingerprint = fingerprint(self.name, self.generator, plan,
                                       {**settings.model_dump(), "reranker": self.reranker if settings.rerank else None})
        answers = ask(self.answerer, plan, kb, info["fingerprint"], questions, phase, self.generators)
        return summarise(self.ctx.config, plan, questions, answers, info)


@dataclass
class FinetuneArm:
    """The fine-tuned arm at a `FinetuneSettings` point: an adapter per (data, settings), trained once."""

    ctx: RunContext
    answerer: Answerer
    pool: KnowledgePool
    generator: str
    config: ArmConfig
    name: str = "finetuned"
    trained: list[str] = field(default_factory=list)  # adapters trained (not reused) by this arm
    adapters: dict[str, TrainedAdapter] = field(default_factory=dict)  # by settings: the data is built once too

    def measure(self, settings: FinetuneSettings, questions: Sequence[Question], phase: str) -> Measure:
        kb = self.pool.get(IndexConfig(), self.ctx.config.retrieval or RetrievalConfig())
        base = self.generator.removeprefix("hf:")
        training = settings.training(self.ctx.config.training, base)
        ctx = RunContext(self.ctx.config.model_copy(update={"training": training}), self.ctx.out, self.ctx.home,
                         self.ctx.progress, self.ctx.log)
        digest = hashlib.sha256(json.dumps(settings.model_dump(), sort_keys=True).encode()).hexdigest()[:8]
        if digest not in self.adapters:
            self.adapters[digest] = train(ctx, kb, base, settings.data_format, suffix=f"-tune-{digest}")
            if not self.adapters[digest].reused:
                self.trained.append(self.adapters[digest].entry.ref)
        adapter = self.adapters[digest]
        plan = ArmPlan(settings.arm(self.config), generator=self.generator, model=describe_model(self.generator),
                       adapter=adapter.entry, adapter_info=adapter.to_dict())
        plan.fingerprint = fingerprint(self.name, self.generator, plan, settings.model_dump())
        # each adapter its own model, dropped after the trial (merged weights are not shared between adapters)
        answers = ask(self.answerer, plan, kb, self.pool.info(kb)["fingerprint"], questions, phase, {})
        return summarise(ctx.config, plan, questions, answers, self.pool.info(kb))


def is_scratch(generator: str) -> bool:
    return is_scratch_model(generator.removeprefix("hf:"))
