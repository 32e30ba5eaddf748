"""The per-question table: each arm's answer with its citations linked to the cited passage.

Answers, quotes and passages are document text, never markup: they are escaped here before the few
tags we add (<a>, <mark>) are put around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from tailor.evaluate.report.fields import Number, ReportField

_SIMPLE_MARKER = re.compile(r"\[(\d+)\]")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CitationView:
    anchor: str  # id of the passage block in the page
    marker: int
    doc_id: str
    title: str
    source: str
    page: int | None
    supported: bool
    quote: str
    quote_found: bool  # whether the quote was found (and highlighted) in the passage
    passage: Markup


@dataclass(frozen=True)
class AnswerCell:
    arm: str
    text: Markup  # escaped, with [n] markers linked to their passages
    abstained: bool
    scores: list[Number]
    citations: list[CitationView]


@dataclass(frozen=True)
class QuestionRow:
    id: str
    question: str
    answerable: bool
    gold: list[str]
    gold_doc_ids: list[str]
    groups: list[str]
    answers: list[AnswerCell | None]  # aligned with the arms of the table


class AnchorIds:
    """Unique, URL-safe element ids built from question id, arm and citation number."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def make(self, *parts: str) -> str:
        base = "-".join(_UNSAFE_ID.sub("-", part).strip("-") or "x" for part in parts)
        anchor, suffix = base, 1
        while anchor in self._used:
            suffix += 1
            anchor = f"{base}-{suffix}"
        self._used.add(anchor)
        return anchor


def highlight(passage: str, quote: str) -> tuple[Markup, bool]:
    """The passage, escaped, with the first occurrence of the quote inside <mark>."""
    at = passage.find(quote) if quote else -1
    if at < 0:
        return escape(passage), False
    return Markup("{}<mark>{}</mark>{}").format(passage[:at], quote, passage[at + len(quote) :]), True


def linked_answer(text: str, anchors: dict[int, str]) -> Markup:
    """The answer, escaped, each "[n]" that has a citation turned into a link to its passage."""
    pieces: list[Markup] = []
    last = 0
    for match in _SIMPLE_MARKER.finditer(text):
        anchor = anchors.get(int(match.group(1)))
        if anchor is None:
            continue
        pieces.append(escape(text[last : match.start()]))
        pieces.append(Markup('<a class="marker" href="#{}">{}</a>').format(anchor, match.group()))
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def _citation(entry: ReportField, anchor: str) -> CitationView:
    quote = entry.field("quote").text()
    passage, found = highlight(entry.field("passage").text(), quote)
    page = entry.field("page").number("count", "page")
    marker = entry.field("marker").number("count", "marker")
    return CitationView(
        anchor=anchor,
        marker=int(marker.value) if marker else 0,
        doc_id=entry.field("doc_id").text(),
        title=entry.field("title").text(),
        source=entry.field("source").text(),
        page=int(page.value) if page else None,
        supported=entry.field("supported").flag(),
        quote=quote,
        quote_found=found,
        passage=passage,
    )


def _answer(question_id: str, arm: str, entry: ReportField, anchors: AnchorIds) -> AnswerCell:
    citations = [
        _citation(item, anchors.make(question_id, arm, f"c{i}"))
        for i, item in enumerate(entry.field("citations").elements(), start=1)
    ]
    first_by_marker: dict[int, str] = {}
    for citation in citations:
        first_by_marker.setdefault(citation.marker, citation.anchor)
    scores = [
        number
        for metric, score in entry.field("scores").entries()
        if (number := score.number("rate", metric, arm, stat="score")) is not None
    ]
    return AnswerCell(
        arm=arm,
        text=linked_answer(entry.field("text").text(), first_by_marker),
        abstained=entry.field("abstained").flag(),
        scores=scores,
        citations=citations,
    )


def question_rows(report: ReportField, arms: list[str]) -> list[QuestionRow]:
    anchors = AnchorIds()
    rows = []
    for entry in report.field("per_question").elements():
        question_id = entry.field("id").text() or str(entry.path[-1])
        answers = entry.field("answers")
        answerable = entry.field("answerable")
        rows.append(
            QuestionRow(
                id=question_id,
                question=entry.field("question").text(),
                answerable=answerable.flag() if answerable.present else True,
                gold=entry.field("gold").texts(),
                gold_doc_ids=entry.field("gold_doc_ids").texts(),
                groups=entry.field("groups").texts(),
                answers=[
                    _answer(question_id, arm, answers.field(arm), anchors)
                    if answers.field(arm).present
                    else None
                    for arm in arms
                ],
            )
        )
    return rows


def answered_arms(report: ReportField, arm_order: list[str]) -> list[str]:
    """Arms with an answer to some question: the arm list's order first, then any others found."""
    found = list(
        dict.fromkeys(
            arm
            for entry in report.field("per_question").elements()
            for arm, _ in entry.field("answers").entries()
        )
    )
    return [arm for arm in arm_order if arm in found] + [arm for arm in found if arm not in arm_order]
