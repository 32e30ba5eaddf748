"""What a compare run is about, behind one protocol: documents with questions, or labelled examples.

The runner asks the task for its knowledge base, its questions, each arm's strategy, each trained adapter,
the per-answer scores and the freshness and leak probes; everything else (answering, caching, the judge,
forgetting, statistics, the recommendation, the report) is the same for both. The task is chosen by the
configuration: `examples:` set or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tailor.evaluate.compare.answering import Answerer, ArmAnswers
from tailor.evaluate.compare.arms import ArmPlan, build_strategy
from tailor.evaluate.compare.assemble import score
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.freshness import freshness_probe
from tailor.evaluate.compare.inputs import load_question_set, open_kb
from tailor.evaluate.compare.leak import leak_probe
from tailor.evaluate.compare.models import DocumentTraining, Training
from tailor.evaluate.compare.questions import Question, QuestionSet
from tailor.generate.strategies import Strategy
from tailor.kb.knowledge_base import KnowledgeBase


class CompareTask(Training, Protocol):
    config: CompareConfig  # the run's configuration as the task completes it (e.g. its primary metric)

    def open_kb(self, ctx: RunContext) -> tuple[KnowledgeBase, dict[str, Any]]: ...

    def questions(self, ctx: RunContext, kb: KnowledgeBase) -> QuestionSet: ...

    def strategy(self, plan: ArmPlan, kb: KnowledgeBase) -> Strategy: ...

    def score(self, config: CompareConfig, plan: ArmPlan, question: Question,
              answer: dict[str, Any]) -> dict[str, float]: ...

    def freshness(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan],
                  kb: KnowledgeBase) -> dict[str, Any] | None: ...

    def leak(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase,
             questions: Sequence[Question], kb_state: str) -> dict[str, Any] | None: ...

    def extend(self, report: dict[str, Any], plans: list[ArmPlan], questions: Sequence[Question],
               answers: dict[str, ArmAnswers]) -> None:
        """Add the task's own sections to the assembled report."""
        ...


class DocumentTask(DocumentTraining):
    """Documents ingested into a knowledge base, questions about them (read or generated)."""

    def __init__(self, config: CompareConfig) -> None:
        self.config = config

    def open_kb(self, ctx: RunContext) -> tuple[KnowledgeBase, dict[str, Any]]:
        return open_kb(ctx)

    def questions(self, ctx: RunContext, kb: KnowledgeBase) -> QuestionSet:
        return load_question_set(ctx, kb)

    def strategy(self, plan: ArmPlan, kb: KnowledgeBase) -> Strategy:
        return build_strategy(plan, kb)

    def score(self, config: CompareConfig, plan: ArmPlan, question: Question,
              answer: dict[str, Any]) -> dict[str, float]:
        return score(config, plan, question, answer)

    def freshness(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan],
                  kb: KnowledgeBase) -> dict[str, Any] | None:
        return freshness_probe(ctx, answerer, plans, kb)

    def leak(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase,
             questions: Sequence[Question], kb_state: str) -> dict[str, Any] | None:
        return leak_probe(ctx, answerer, plans, kb, questions, kb_state)

    def extend(self, report: dict[str, Any], plans: list[ArmPlan], questions: Sequence[Question],
               answers: dict[str, ArmAnswers]) -> None:
        return None  # the document report is assembled whole
