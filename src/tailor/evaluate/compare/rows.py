"""report.json's per-question rows, read back from the answer cache one question at a time, and report.json
written row by row: a run of any size never holds every answer's citations and passages at once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from tailor.evaluate.compare.answering import ArmAnswers
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.questions import Question

CITATION_FIELDS = ("marker", "doc_id", "title", "source", "quote", "passage", "start", "end", "page", "supported")


class QuestionRows(Sequence[dict[str, Any]]):
    """Each question with every arm's answer, scores, citations (with their passages) and times."""

    def __init__(self, questions: Sequence[Question], answers: dict[str, ArmAnswers], cache: AnswerCache) -> None:
        self.questions = questions
        self.answers = answers
        self.cache = cache

    def __len__(self) -> int:
        return len(self.questions)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self.row(q) for q in self.questions[index]]
        return self.row(self.questions[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.row(q) for q in self.questions)

    def row(self, q: Question) -> dict[str, Any]:
        return {
            "id": q.id, "question": q.question, "answerable": q.answerable, "gold": list(q.answers),
            "gold_doc_ids": list(q.doc_ids), "groups": list(q.groups),
            "answers": {arm: self.answer(found[q.id].key, found[q.id].scores)
                        for arm, found in self.answers.items() if q.id in found},
        }

    def answer(self, key: str, scores: dict[str, float]) -> dict[str, Any]:
        record = self.cache.get(key)
        if record is None:
            raise KeyError(f"answer {key} is missing from the answer cache")
        return {"text": record["text"], "abstained": record["abstained"], "scores": scores,
                "citations": [{k: c[k] for k in CITATION_FIELDS} for c in record["citations"]],
                "timings_ms": record["timings_ms"]}


def write_report_json(report: dict[str, Any], path: Path) -> None:
    """report.json, atomically, its per-question rows streamed one at a time (the rest dumped as usual)."""
    rows = report.get("per_question", [])
    head = {k: v for k, v in report.items() if k != "per_question"}
    partial = path.with_suffix(".json.tmp")
    with partial.open("w", encoding="utf-8") as f:
        text = json.dumps(head, indent=2, ensure_ascii=False, default=str)
        f.write(text[: text.rindex("}")].rstrip() + ',\n  "per_question": [')
        for i, row in enumerate(rows):
            f.write(("," if i else "") + "\n    " + json.dumps(row, ensure_ascii=False, default=str))
        f.write("\n  ]\n}\n")
    partial.replace(path)
