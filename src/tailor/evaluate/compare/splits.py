"""Question splits that keep choices honest: settings are chosen on a development part, scored on the rest.

The split is by document, seeded: every question about a document lands on the same side, so a setting
chosen on the development questions has never seen the documents the held-out questions ask about. A
question without a gold document (an unanswerable one) is its own unit. A sample for a time budget is
stratified by (groups, answerable), so restricted and unanswerable questions keep their share.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tailor.evaluate.compare.questions import Question

Part = Literal["dev", "test"]


class QuestionSplit(BaseModel):
    """Which questions a run asks: one part of a by-document split, optionally a stratified sample of it."""

    model_config = ConfigDict(extra="forbid")

    part: Part = Field("test", description="dev: where settings are chosen; test: what a report scores")
    dev_fraction: float = Field(0.3, gt=0, lt=1, description="Share of the questions (whole documents) in dev")
    sample: int | None = Field(None, ge=1, description="Then at most this many, stratified by groups and answerable")
    seed: int = 0


def unit(question: Question) -> str:
    """The unit of the split: the question's first gold document, or the question itself."""
    return f"doc:{sorted(question.doc_ids)[0]}" if question.doc_ids else f"question:{question.id}"


def split_by_document(questions: Sequence[Question], dev_fraction: float, seed: int) -> dict[Part, list[Question]]:
    """Dev and test parts, whole units at a time, dev filled to about `dev_fraction` of the questions."""
    by_unit: dict[str, list[Question]] = defaultdict(list)
    for question in questions:
        by_unit[unit(question)].append(question)
    units = sorted(by_unit)
    random.Random(seed).shuffle(units)
    dev_ids: set[str] = set()
    target = dev_fraction * len(questions)
    for name in units:
        if len(dev_ids) >= target:
            break
        dev_ids.update(q.id for q in by_unit[name])
    return {"dev": [q for q in questions if q.id in dev_ids], "test": [q for q in questions if q.id not in dev_ids]}


def stratified_sample(questions: Sequence[Question], size: int, seed: int) -> list[Question]:
    """At most `size` questions, each (groups, answerable) stratum keeping its share; in the input order."""
    if size >= len(questions):
        return list(questions)
    strata: dict[tuple[tuple[str, ...], bool], list[Question]] = defaultdict(list)
    for question in questions:
        strata[(tuple(sorted(question.groups)), question.answerable)].append(question)
    rng = random.Random(seed)
    quotas = {key: size * len(members) / len(questions) for key, members in strata.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}
    for key in sorted(quotas, key=lambda k: quotas[k] - counts[k], reverse=True)[: size - sum(counts.values())]:
        counts[key] += 1  # largest remainders first
    chosen = {q.id for key, members in strata.items() for q in rng.sample(members, counts[key])}
    return [q for q in questions if q.id in chosen]


def select(questions: Sequence[Question], split: QuestionSplit) -> list[Question]:
    """The questions `split` names."""
    part = split_by_document(questions, split.dev_fraction, split.seed)[split.part]
    return stratified_sample(part, split.sample, split.seed) if split.sample else part
