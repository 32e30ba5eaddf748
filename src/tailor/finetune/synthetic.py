"""Synthetic training questions: writers that turn passages into question/answer pairs.

A writer is anything with `questions` and `paraphrases` (the `QAWriter` protocol of `qa_records.py`,
which also holds the records every writer shares). Two ship: an LLM
writer over any configured `Generator`, and the offline writer of `offline_qa.py` for machines
without an LLM. Whatever a writer returns goes through `validate_pair` and de-duplication in the
data builder; every rejected, malformed or failed generation is counted in a `WriterReport`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tailor.finetune.offline_qa import OfflineQAWriter
from tailor.finetune.qa_records import QAPair, QAWriter, WriterReport
from tailor.generate.base import GenerationConfig, Generator, GeneratorError
from tailor.squad_metrics import normalize_answer


def validate_pair(pair: QAPair, passage: str) -> str | None:
    """Why the pair is unusable as training data, or None when it is fine."""
    question, answer = normalize_answer(pair.question), normalize_answer(pair.answer)
    if len(question.split()) < 3:
        return "question too short"
    if len(pair.question.split()) > 80:
        return "question too long"
    if not answer:
        return "empty answer"
    if len(answer.split()) > 20:
        return "answer too long"
    if re.search(rf"\b{re.escape(answer)}\b", question):
        return "question gives the answer away"
    text = normalize_answer(passage)
    if answer not in text:
        tokens = answer.split()
        if sum(token in text.split() for token in tokens) < 0.8 * len(tokens):
            return "answer not supported by the passage"
    return None


QUESTIONS_PROMPT = """Write {n} question-answer pairs that test the facts in the passage below.
Each question must make sense without the passage (name what it is about) and be answerable from the
passage alone. Each answer must be short (a name, number, date or short phrase) copied from the passage.
Reply with one JSON object per line and nothing else, like:
{{"question": "...", "answer": "..."}}

Title: {title}
Passage:
{passage}"""

PARAPHRASE_PROMPT = """Rewrite the question below in {n} different ways that keep exactly its meaning.
Reply with one question per line and nothing else.

Question: {question}"""


class LLMQAWriter:
    """Asks an LLM for JSON-lines question/answer pairs and for paraphrases."""

    def __init__(self, generator: Generator, config: GenerationConfig | None = None) -> None:
        self.generator = generator
        self.config = config or GenerationConfig(max_new_tokens=768, temperature=0.0, seed=0)
        self.name = f"llm:{generator.name}"

    def _ask(self, prompt: str, report: WriterReport) -> str | None:
        try:
            return self.generator.generate([{"role": "user", "content": prompt}], self.config).text
        except GeneratorError as exc:
            report.reject("errors", str(exc))
            return None

    def questions(self, passage: str, title: str, n: int, report: WriterReport) -> list[QAPair]:
        text = self._ask(QUESTIONS_PROMPT.format(n=n, title=title, passage=passage), report)
        if text is None:
            return []
        pairs: list[QAPair] = []
        broken = 0
        for line in text.splitlines():
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            try:
                item = json.loads(line)
                pairs.append(QAPair(str(item["question"]).strip(), str(item["answer"]).strip()))
            except (ValueError, KeyError, TypeError):
                broken += 1
                report.reject("malformed", line)
        if not pairs and not broken:
            report.reject("malformed", text)
        return pairs[:n]

    def paraphrases(self, question: str, n: int, report: WriterReport) -> list[str]:
        text = self._ask(PARAPHRASE_PROMPT.format(n=n, question=question), report)
        if text is None:
            return []
        lines = [re.sub(r"^\s*(?:\d+[.)]|[-*])\s*", "", line).strip() for line in text.splitlines()]
        found = [line for line in lines if line.endswith("?")]
        if not found:
            report.reject("malformed", text)
        return found[:n]


def _offline(spec: str) -> QAWriter:
    return OfflineQAWriter()


def _llm(spec: str) -> QAWriter:
    from tailor.generate.registry import make_generator

    return LLMQAWriter(make_generator(spec))


WRITERS: dict[str, Callable[[str], QAWriter]] = {"offline": _offline}


def make_writer(spec: str) -> QAWriter:
    """"offline", or a generator spec ("hf:<model>", "openai:<url>#<model>") for an LLM writer."""
    return WRITERS.get(spec, _llm)(spec)
