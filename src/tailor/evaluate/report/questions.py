"""The per-question detail as compact data for the page's script: report.json's `per_question`, read in
one pass, with documents and passages stored once and referred to by index.

The shape (arrays, not objects, because there are tens of thousands of answers and citations):

    arms       [name, ...]                       the table's columns, in the report's arm order
    anchors    [anchor, ...]                     aligned with arms, for element ids
    metrics    [[name, label], ...]              what a score's metric index means
    documents  [doc_id, ...]
    sources    [[document, title, source], ...]  how a citation names its document
    passages   [text, ...]
    questions  [[id, anchor, question, answerable, gold, [document, ...], groups, answers], ...]
    answers    aligned with arms: null (no answer) or [text, outcome, scores, citations]
    scores     [[metric, value], ...]            value exactly as in report.json
    citations  [[marker, source, passage, quote, page, supported], ...]
    quote      [start, end] in the passage (UTF-16 offsets, as JavaScript indexes strings), or the quote
               itself when the passage does not contain it

A question's position in `questions` is its index in report.json's `per_question`, so every score
keeps its JSON pointer.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from tailor.evaluate.report.fields import ReportField
from tailor.evaluate.report.metrics_view import metric_label

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
CORRECT_AT = 0.5  # a primary score at or above this is "correct": 1 for 0/1 metrics, half the tokens for F1
OUTCOMES = ("correct", "wrong", "abstained", "refused", "unscored")


class AnchorIds:
    """Unique, URL-safe names made of [A-Za-z0-9_-], so that '.' can join a question's and an arm's into
    an element id no other pair can produce (the script names a cited passage `question.arm.c1`)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def make(self, text: str) -> str:
        base = _UNSAFE_ID.sub("-", text).strip("-") or "x"
        anchor, suffix = base, 1
        while anchor in self._used:
            suffix += 1
            anchor = f"{base}-{suffix}"
        self._used.add(anchor)
        return anchor


class Interned:
    """A table of distinct values; `index` returns a value's position, adding it the first time."""

    def __init__(self) -> None:
        self._index: dict[Hashable, int] = {}
        self.values: list[Any] = []

    def index(self, value: Hashable) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(list(value) if isinstance(value, tuple) else value)
        return found


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def quote_span(passage: str, quote: str) -> list[int] | str:
    """Where the quote sits in the passage, in JavaScript's string offsets; the quote when it is absent."""
    at = passage.find(quote) if quote else -1
    if at < 0:
        return quote
    start = utf16_length(passage[:at])
    return [start, start + utf16_length(quote)]


def outcome(answer: ReportField, primary: str, answerable: bool) -> str:
    """What happened to one answer, for filtering: see OUTCOMES."""
    if answer.field("abstained").flag():
        # The access check answers a refusal without asking the model: no stage took any time.
        total = answer.field("timings_ms").field("total").value
        return "refused" if total == 0 else "abstained"
    if not answerable:
        return "wrong"  # an unanswerable question should have been declined
    score = answer.field("scores").field(primary).finite()
    if score is None:
        return "unscored"
    return "correct" if score >= CORRECT_AT else "wrong"


@dataclass
class QuestionTable:
    """The compact data, filled question by question; `data()` is what the page embeds."""

    arm_order: list[str]
    primary: str
    metrics: Interned = field(default_factory=Interned)
    documents: Interned = field(default_factory=Interned)
    sources: Interned = field(default_factory=Interned)
    passages: Interned = field(default_factory=Interned)
    anchors: AnchorIds = field(default_factory=AnchorIds)
    arms: dict[str, int] = field(default_factory=dict)  # arm -> column, in the order first met
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, entry: ReportField) -> None:
        question_id = entry.field("id").text() or str(entry.path[-1])
        answerable_field = entry.field("answerable")
        answerable = answerable_field.flag() if answerable_field.present else True
        answers = {}
        for arm, answer in entry.field("answers").entries():
            if answer.present:
                answers[self.arms.setdefault(arm, len(self.arms))] = self._answer(answer, answerable)
        self.rows.append(
            [
                question_id,
                self.anchors.make(question_id),
                entry.field("question").text(),
                answerable,
                entry.field("gold").texts(),
                [self.documents.index(doc) for doc in entry.field("gold_doc_ids").texts()],
                entry.field("groups").texts(),
                answers,
            ]
        )

    def _answer(self, answer: ReportField, answerable: bool) -> list[Any]:
        scores = [
            [self.metrics.index(metric), value]
            for metric, score in answer.field("scores").entries()
            if (value := score.finite()) is not None
        ]
        citations = [self._citation(citation) for citation in answer.field("citations").elements()]
        text = answer.field("text").text()
        return [text, outcome(answer, self.primary, answerable), scores, citations]

    def _citation(self, citation: ReportField) -> list[Any]:
        passage = citation.field("passage").text()
        marker = citation.field("marker").finite()
        page = citation.field("page").finite()
        document = self.documents.index(citation.field("doc_id").text())
        return [
            int(marker) if marker is not None else 0,
            self.sources.index((document, citation.field("title").text(), citation.field("source").text())),
            self.passages.index(passage),
            quote_span(passage, citation.field("quote").text()),
            int(page) if page is not None else None,
            citation.field("supported").flag(),
        ]

    @property
    def columns(self) -> list[str]:
        """The arms that answered some question: the report's arm order first, then any others."""
        found = list(self.arms)
        return [arm for arm in self.arm_order if arm in found] + [a for a in found if a not in self.arm_order]

    def data(self) -> dict[str, Any]:
        columns = [self.arms[arm] for arm in self.columns]
        questions = [[*row[:-1], [row[-1].get(column) for column in columns]] for row in self.rows]
        arm_anchors = AnchorIds()
        return {
            "arms": self.columns,
            "anchors": [arm_anchors.make(arm) for arm in self.columns],
            "metrics": [[name, metric_label(name)] for name in self.metrics.values],
            "documents": self.documents.values,
            "sources": self.sources.values,
            "passages": self.passages.values,
            "questions": questions,
        }


def question_table(report: ReportField, arm_order: list[str], primary: str) -> QuestionTable:
    """The per-question detail, read in one pass over `per_question` (which may be a generator)."""
    table = QuestionTable(arm_order, primary)
    for entry in report.field("per_question").each():
        table.add(entry)
    return table
