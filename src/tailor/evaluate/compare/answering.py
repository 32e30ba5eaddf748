"""Every arm answers every question (or its seeded sample of them) as the question's caller, a batch at a time.

Each answer is committed to OUT/work/answers.sqlite as its batch ends (keyed by the arm's settings and
model, the question, the caller and, for arms that retrieve, the KB's content), so a killed run resumes
there, and goes to the KB's audit trail like the answers of `ask` and the API, a batch in one commit. An
arm refused to a caller (an adapter trained on groups it lacks) answers a refusal without asking the model.

The main phase keeps in memory only what the report's numbers need (`Answered`: scores, times, tokens);
the whole record, citations and passages included, stays in the cache until the report is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tailor.audit import AuditLog, AuditRecord
from tailor.evaluate.compare.arms import ArmPlan, build_strategy, refusal
from tailor.evaluate.compare.cache import AnswerCache, cache_key
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.splits import stratified_sample
from tailor.generate.base import GeneratorError
from tailor.generate.strategies import Strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer

Answers = dict[str, dict[str, Any]]
"""Question id -> the committed answer record (`answer_record`)."""
Scorer = Callable[[ArmPlan, Question, dict[str, Any]], dict[str, float]]
"""The scores of one answer record of an arm to a question."""


@dataclass
class Answered:
    """One arm's answer to one question as the run holds it; the whole record is `AnswerCache.get(key)`."""

    key: str
    text: str
    timings_ms: dict[str, float]
    tokens_in: int
    tokens_out: int
    scores: dict[str, float]


ArmAnswers = dict[str, Answered]
"""Question id -> the arm's answer, for the questions the arm was asked."""


def asked(plan: ArmPlan, questions: Sequence[Question], seed: int) -> list[Question]:
    """The questions an arm is asked: all of them, or its seeded sample stratified by groups and answerability."""
    sample = plan.config.sample
    return stratified_sample(questions, sample, seed) if sample else list(questions)


StrategyBuilder = Callable[[ArmPlan, KnowledgeBase], Strategy]
"""An arm's strategy over a knowledge base (documents: `build_strategy`; examples: the example task's)."""


class Answerer:
    def __init__(self, ctx: RunContext, cache: AnswerCache, audit: AuditLog | None,
                 build: StrategyBuilder = build_strategy) -> None:
        self.ctx = ctx
        self.cache = cache
        self.audit = audit
        self.build = build
        self._strategies: dict[str, Strategy] = {}

    def answer_all(self, plans: list[ArmPlan], kb: KnowledgeBase, questions: Sequence[Question], kb_state: str,
                   score: Scorer) -> dict[str, ArmAnswers]:
        """Arm name -> its scored answers; an arm whose model fails is marked skipped with the error."""
        started = time.perf_counter()
        results = {}
        for plan in plans:
            if plan.skip_reason:
                self.ctx.log(f"arm {plan.name} skipped: {plan.skip_reason}")
                continue
            try:
                strategy = self.strategy(plan, kb)
                results[plan.name] = {
                    question.id: answered(key, record, score(plan, question, record))
                    for question, key, record in self.each_answer(
                        plan, strategy, asked(plan, questions, self.ctx.config.seed), kb_state,
                        f"answer: {plan.name}", kb.version)
                }
            except GeneratorError as exc:
                plan.skip_reason = f"failed: {exc}"
                self.ctx.log(f"arm {plan.name} failed: {exc}")
        self.ctx.timings["answer"] = time.perf_counter() - started
        return results

    def ask(self, plan: ArmPlan, strategy: Strategy | None, questions: Sequence[Question], kb_state: str,
            phase: str, kb_version: int | None, groups: Sequence[str] | None = None,
            check_access: bool = True) -> Answers:
        """Every question through one arm (a probe's few): question id -> the whole answer record."""
        return {question.id: record for question, _, record in
                self.each_answer(plan, strategy, questions, kb_state, phase, kb_version, groups, check_access)}

    def each_answer(self, plan: ArmPlan, strategy: Strategy | None, questions: Sequence[Question], kb_state: str,
                    phase: str, kb_version: int | None, groups: Sequence[str] | None = None,
                    check_access: bool = True) -> Iterator[tuple[Question, str, dict[str, Any]]]:
        """(question, cache key, answer record), a batch at a time; cached answers are reused, new ones committed
        as each batch finishes (a killed run loses at most one batch)."""
        size = plan.config.batch_size
        for start in range(0, len(questions), size):
            batch = questions[start : start + size]
            callers = {q.id: tuple(sorted(groups or q.groups)) for q in batch}
            keys = {q.id: cache_key(plan.fingerprint, q.asked, callers[q.id],
                                    kb_state if plan.retrieves else None, check_access) for q in batch}
            records: dict[str, dict[str, Any]] = {}  # by cache key: a question asked twice is answered once
            seen: set[str] = set()
            produced: list[tuple[str, Answer, AuditRecord]] = []
            todo: dict[str, Question] = {}
            for question in batch:
                key = keys[question.id]
                if key in seen:
                    continue
                seen.add(key)
                cached = self.cache.get(key)
                problem = plan.access_problem(callers[question.id]) if check_access and cached is None else None
                if cached is not None:
                    records[key] = cached
                elif problem:
                    answer = refusal(plan, question.asked, problem)
                    produced.append((key, answer, self.audit_record(plan, answer, callers[question.id], kb_version,
                                                                    outcome="refused", reason=problem)))
                else:
                    todo[key] = question
            if todo:
                assert strategy is not None
                asking = time.perf_counter()
                found = strategy.answer_batch([q.asked for q in todo.values()],  # with its options, if any
                                              [callers[q.id] for q in todo.values()])
                self.ctx.add_time("retrieve_and_generate", time.perf_counter() - asking)
                produced += [(key, answer, self.audit_record(plan, answer, callers[question.id], kb_version))
                             for (key, question), answer in zip(todo.items(), found, strict=True)]
            if self.audit is not None and produced:
                self.audit.record_all([entry for _, _, entry in produced])
            for key, answer, _ in produced:
                records[key] = self.commit(key, plan, answer)
            for question in batch:
                yield question, keys[question.id], records[keys[question.id]]
            self.ctx.progress(phase, min(start + size, len(questions)), len(questions))

    def strategy(self, plan: ArmPlan, kb: KnowledgeBase) -> Strategy:
        """The arm's strategy over `kb`, built once: the answering, freshness and leak phases share its model."""
        key = json.dumps([plan.fingerprint, kb.uri if plan.retrieves else None], sort_keys=True, default=str)
        if key not in self._strategies:
            loading = time.perf_counter()
            self._strategies[key] = self.build(plan, kb)
            self.ctx.add_time("load_models", time.perf_counter() - loading)
        return self._strategies[key]

    def commit(self, key: str, plan: ArmPlan, answer: Answer) -> dict[str, Any]:
        record = answer_record(answer)
        self.cache.put(key, plan.name, record)
        return record

    @staticmethod
    def audit_record(plan: ArmPlan, answer: Answer, caller: Sequence[str], kb_version: int | None,
                     outcome: str = "answered", reason: str | None = None) -> AuditRecord:
        """Every answer compare produces goes to the KB's audit trail (a batch in one commit); a refusal with
        `outcome="refused"` and its `reason`."""
        return AuditRecord(answer, "compare", caller, kb_version, plan.adapter.ref if plan.adapter else None,
                           outcome=outcome, reason=reason)


def answered(key: str, record: dict[str, Any], scores: dict[str, float]) -> Answered:
    return Answered(key, record["text"], record["timings_ms"], record["tokens_in"], record["tokens_out"], scores)


def answer_record(answer: Answer) -> dict[str, Any]:
    """The answer as stored and reported: hits keep ids, ranks and scores, not the retrieved text."""
    record = answer.to_dict()
    record["hits"] = [{"chunk": {"id": h["chunk"]["id"], "doc_id": h["chunk"]["doc_id"]}, "score": h["score"],
                       "doc_title": h["doc_title"]} for h in record["hits"]]
    passages = {h.chunk.id: h.chunk for h in answer.hits}
    for citation in record["citations"]:
        chunk = passages.get(citation["chunk_id"])
        citation["passage"] = chunk.text if chunk else citation["quote"]
        citation["passage_start"] = chunk.start if chunk else citation["start"]
    return record
