"""The demonstration arms of an examples folder at an `ExampleSettings` point, run by the examples task.

rag     the train examples' KB searched at the point's mode, its k nearest shown in the point's format
hybrid  the same prompt read by an adapter trained on that very prompt (each train example with its k nearest
        other train examples, in the point's format): one adapter per point, reused from the registry when
        the same data and settings were trained before

The strategy, the scores (label accuracy, out-of-set, similarity) and the training data are the examples
task's own (`ExampleTask`), so a point runs as `tailor compare --tuned` will run it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.arms import ArmPlan, describe_model
from tailor.evaluate.compare.config import ArmConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.example_task import ExampleTask
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.training import TrainedAdapter
from tailor.evaluate.tune.example_space import ExampleSettings
from tailor.evaluate.tune.measure import Measure, ask, fingerprint, summarise
from tailor.kb.config import RetrievalConfig
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.retrieval import Retriever


@dataclass
class ExampleArm:
    """The rag or hybrid arm of `task` (its strategy named by `config`) at a point."""

    ctx: RunContext
    answerer: Answerer
    task: ExampleTask
    kb: KnowledgeBase
    kb_info: dict[str, Any]
    generator: str
    config: ArmConfig
    retrieval: RetrievalConfig  # the examples' search as configured; a point sets its mode and weights
    generators: dict[str, Any] = field(default_factory=dict)
    adapters: dict[str, TrainedAdapter] = field(default_factory=dict)  # by point: trained once per run

    @property
    def name(self) -> str:
        return self.config.name

    def measure(self, settings: ExampleSettings, questions: Sequence[Question], phase: str) -> Measure:
        retrieval = settings.retrieval(self.retrieval)
        if self.kb.retriever.config != retrieval:  # before training too: the hybrid data's neighbours use it
            self.kb.retriever = Retriever(self.kb.store, self.kb.retriever.embedder, retrieval)
        arm = settings.arm(self.config)
        plan = ArmPlan(arm, generator=self.generator, model=describe_model(self.generator))
        if arm.adapter:
            adapter = self._adapter(settings, arm)
            plan.adapter, plan.adapter_info = adapter.entry, adapter.to_dict()
        plan.fingerprint = fingerprint(self.name, self.generator, plan,
                                       {**settings.model_dump(), **self.task.settings(arm)})
        # an adapter's model is its own (merged weights are not shared), dropped after the trial
        generators = {} if arm.adapter else self.generators
        answers = ask(self.answerer, plan, self.kb, self.kb_info["fingerprint"], questions, phase, generators,
                      self.task.strategy)
        return summarise(self.task.config, plan, questions, answers, self.kb_info,
                         partial(self.task.score, self.task.config))

    def _adapter(self, settings: ExampleSettings, arm: ArmConfig) -> TrainedAdapter:
        """The hybrid adapter of this point: the task's training with this arm's k and format."""
        digest = hashlib.sha256(json.dumps(settings.model_dump(), sort_keys=True).encode()).hexdigest()[:8]
        if digest not in self.adapters:
            at_point = copy.copy(self.task)
            at_point.config = self.task.config.model_copy(update={"arms": [arm]})
            self.adapters[digest] = at_point.train_on(self.ctx, self.kb, self.generator.removeprefix("hf:"),
                                                      "demonstrations", self.task.train_examples,
                                                      f"-tune-{digest}")
        return self.adapters[digest]
