"""The questions a compare run asks: read from jsonl (bad lines reported, the rest kept) or generated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor.generate.prompts import posed_question
from tailor.jsonl import jsonl_lines
from tailor.records import LoadError

MAX_CHOICES = 26  # lettered A to Z


@dataclass(frozen=True)
class Question:
    """A question with its gold answers; `groups` is the caller it is asked as."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    answerable: bool = True
    groups: tuple[str, ...] = ("public",)
    choices: tuple[str, ...] = ()
    old_answers: tuple[str, ...] = ()  # change sets: what was right before the change

    @property
    def asked(self) -> str:
        """The text every arm is asked: the question, with its lettered options when it has `choices`."""
        return posed_question(self.question, self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "doc_ids": list(self.doc_ids),
            "answerable": self.answerable,
            "groups": list(self.groups),
            "choices": list(self.choices),
            "old_answers": list(self.old_answers),
        }


@dataclass
class QuestionSet:
    questions: list[Question]
    source: str
    errors: list[LoadError] = field(default_factory=list)
    generated: bool = False
    # generated questions: documents on each side of the split, {"questions": held out, "training": the rest}
    documents: dict[str, int] | None = None


def _strings(record: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = record.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: field {key!r} must be a string or a list of strings")
    return tuple(value)


def parse_question(record: Any, where: str, default_id: str) -> Question:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object")
    text = record.get("question")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: field 'question' must be a non-empty string")
    answers = _strings(record, "answers", where) or _strings(record, "answer", where)
    answerable = record.get("answerable", bool(answers))
    if not isinstance(answerable, bool):
        raise ValueError(f"{where}: field 'answerable' must be true or false")
    if answerable and not answers:
        raise ValueError(f"{where}: an answerable question needs 'answers'")
    choices = _strings(record, "choices", where)
    if len(choices) > MAX_CHOICES:
        raise ValueError(f"{where}: field 'choices' has {len(choices)} options; at most {MAX_CHOICES} (A to Z)")
    if choices and answers and not set(answers) & set(choices):
        raise ValueError(f"{where}: field 'answers' must name one of the 'choices'")
    groups = _strings(record, "groups", where) or ("public",)
    return Question(
        id=str(record.get("id") or default_id),
        question=text.strip(),
        answers=answers,
        doc_ids=_strings(record, "doc_ids", where),
        answerable=answerable,
        groups=groups,
        choices=choices,
        old_answers=_strings(record, "old_answers", where),
    )


def load_questions(path: Path) -> QuestionSet:
    """Every valid line of a jsonl file; each invalid one becomes a LoadError naming file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"questions file not found: {path}")
    questions: list[Question] = []
    errors: list[LoadError] = []
    seen: set[str] = set()
    for line in jsonl_lines(path, objects=False):
        where = line.where
        try:
            if line.error is not None:
                raise ValueError(f"{where}: {line.error}")
            question = parse_question(line.value, where, default_id=f"line{line.number}")
            if question.id in seen:
                raise ValueError(f"{where}: duplicate id {question.id!r}")
        except ValueError as exc:
            errors.append(LoadError(where, str(exc)))
            continue
        seen.add(question.id)
        questions.append(question)
    return QuestionSet(questions, str(path), errors)
