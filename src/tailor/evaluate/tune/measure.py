"""One arm at one setting, asked a list of questions through compare's machinery: its plan, its answer
cache (a setting asked again answers from the cache), its scores, latency table and cost model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

import tailor
from tailor.evaluate.compare.answering import Answerer, Answers, Scorer, StrategyBuilder
from tailor.evaluate.compare.arms import ArmPlan, build_strategy
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.costs import arm_costs, latency_table, token_means
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import score_answer
from tailor.generate.strategies import Strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer


class Measure(BaseModel):
    """The three objectives of one setting on some questions, and what they were measured on."""

    accuracy: float  # the compare config's primary metric, mean over the answerable questions
    p50_ms: float  # median total latency per answer
    cost_per_1000: float  # compare's cost model: measured time (and API tokens) at the price table
    setup_seconds: float  # ingest (retrieving arms) + data and training (adapter arms)
    question_ids: list[str]
    correct: dict[str, float]  # answerable question id -> primary metric (for paired statistics)
    abstain_correct: float | None  # share of the unanswerable questions refused


class LazyStrategy:
    """Built only when a question is not in the answer cache: a setting asked again loads no model."""

    name = "lazy"

    def __init__(self, plan: ArmPlan, kb: KnowledgeBase | None, generators: dict[str, Any],
                 build: StrategyBuilder | None = None) -> None:
        self.plan, self.kb, self.generators, self.build = plan, kb, generators, build
        self._built: Strategy | None = None

    def answer_batch(self, questions: Sequence[str], groups: Sequence[Sequence[str]]) -> list[Answer]:
        if self._built is None:
            self._built = (self.build or build_strategy)(self.plan, self.kb)  # type: ignore[arg-type]
            reader = getattr(self._built, "reader", None)
            generator = getattr(reader, "generator", None)
            if generator is not None:  # one loaded model per (model, adapter, quantize), shared by the trials
                reader.generator = self.generators.setdefault(generator.name, generator)  # type: ignore[union-attr]
        return self._built.answer_batch(questions, groups)


def fingerprint(arm: str, generator: str, plan: ArmPlan, settings: dict[str, Any]) -> dict[str, Any]:
    """What decides an answer of a tuned arm (the answer cache's key, with the question and caller)."""
    adapter = [plan.adapter.ref, plan.adapter.manifest.get("created_at")] if plan.adapter else None
    return {"tune": arm, "generator": generator, "settings": settings, "quantize": plan.config.quantize,
            "adapter": adapter, "tailor": tailor.__version__}


def ask(answerer: Answerer, plan: ArmPlan, kb: KnowledgeBase, kb_state: str, questions: Sequence[Question],
        phase: str, generators: dict[str, Any], build: StrategyBuilder | None = None) -> Answers:
    """`questions` through the plan's strategy (`build`: the task's; None: compare's documents strategy)."""
    strategy = LazyStrategy(plan, kb if plan.retrieves else None, generators, build)
    return answerer.ask(plan, strategy, questions, kb_state, phase, kb.version)  # type: ignore[arg-type]


def document_scores(plan: ArmPlan, question: Question, answer: dict[str, Any]) -> dict[str, float]:
    return score_answer(question, answer, plan.retrieves)


def summarise(config: CompareConfig, plan: ArmPlan, questions: Sequence[Question], answers: Answers,
              kb_info: dict[str, Any], scores_of: Scorer = document_scores) -> Measure:
    """Compare's scores (the task's: `scores_of`), latency and cost of `answers`, as the three objectives."""
    metric = config.primary_metric
    scores = {q.id: scores_of(plan, q, answers[q.id]) for q in questions}
    correct = {q.id: scores[q.id].get(metric, 0.0) for q in questions if q.answerable}
    refused = [scores[q.id]["abstain_correct"] for q in questions if not q.answerable]
    records = [answers[q.id] for q in questions]
    latency = latency_table(a["timings_ms"] for a in records)
    tokens = token_means((a["tokens_in"], a["tokens_out"]) for a in records)
    cost = arm_costs(plan, kb_info, latency, tokens, None, config.prices)
    return Measure(
        accuracy=float(np.mean(list(correct.values()))) if correct else 0.0,
        p50_ms=latency.get("total", {}).get("p50", 0.0), cost_per_1000=cost["per_1000_queries"],
        setup_seconds=cost["setup_seconds"], question_ids=[q.id for q in questions], correct=correct,
        abstain_correct=float(np.mean(refused)) if refused else None,
    )
