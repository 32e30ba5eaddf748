"""The offline question writer: cloze and template questions from sentences, no LLM needed.

For each sentence it finds the most answer-like span (an amount of money, a date, a percentage, a
quantity, a number, a product or proper name) and asks for it in two ways:

    echo   "According to the Business Travel Policy, trips should be booked at least how many days
            before departure?"                                    -> "14 days"
    cloze  "Fill in the blank (Business Travel Policy): Trips should be booked at least ____ before
            departure."                                           -> "14 days"

A bare number is asked for only with its unit ("how many species") or as a year ("in what year");
with the fact filters on (the default, `fact_filter.py`) boilerplate lines, non-prose sentences and
non-answers are refused and counted by reason, and reference markers are cut out first.

Paraphrases are template rewordings (synonym swaps and framings). They are much weaker than an LLM's
and are labelled as such in the dataset card; they exist so the pipeline runs end to end offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tailor.finetune.fact_filter import (
    VERB_FORMS,
    answer_reason,
    line_reason,
    sentence_reason,
    strip_reference_markers,
)
from tailor.finetune.qa_records import QAPair, WriterReport
from tailor.generate.sentences import STOPWORDS, split_sentences

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    "sixty|hundred|thousand|a few|several|dozens of"
)
_UNITS = (
    "days?|working days|business days|hours?|minutes?|seconds?|weeks?|months?|years?|nights?|km|kilometres?|"
    "kilometers?|kg|cm|mm|metres?|meters?|characters?|people|participants|employees|users|seats|looms|times"
)
# (kind, question phrase, pattern), in order of preference: the first kind found in a sentence wins.
SPANS: list[tuple[str, str, re.Pattern[str]]] = [
    ("money", "how much", re.compile(
        r"(?:EUR|USD|GBP|€|(?:US|A|C)?\$)\s?\d[\d,.]*\d(?:\s(?:million|thousand|billion))?|(?:EUR|USD|GBP|€|(?:US|A|C)?\$)\s?\d")),
    ("date", "when", re.compile(rf"\b\d{{1,2}} (?:{_MONTHS})(?: \d{{4}})?\b|\b(?:{_MONTHS}) \d{{4}}\b|\b\d{{4}}-\d\d-\d\d\b")),
    ("percent", "what percentage", re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|per ?cent\b)")),
    ("quantity", "how many {unit}", re.compile(rf"\b(?:\d[\d,.]*|(?:{_NUMBER_WORDS}))\s?(?P<unit>{_UNITS})\b")),
    ("count", "how many {unit}", re.compile(r"\b(?!(?:1\d|20)\d\d\b)\d[\d,.]*\s(?P<unit>[A-Za-z][a-z]{2,}s)\b")),
    ("year", "what year", re.compile(
        r"\b(?:[Ii]n|since|by|until|from|of|after|before|during|between|around|and|to) (?P<answer>1\d{3}|20\d\d)\b"
        r"(?!\s?[-–%])|(?<=\()(?:1\d{3}|20\d\d)(?=\))")),
    ("number", "what number", re.compile(r"\b\d+(?:[.,]\d+)*\b")),
    ("term", "what", re.compile(r"(?<=\bcalled )[a-z][\w-]*(?: (?!and\b|or\b)[a-z][\w-]*){0,2}")),
    ("name", "what", re.compile(r"\b[A-Z][\w-]*[A-Z0-9][\w-]*\b(?: [A-Z0-9][\w-]*)*|\b[A-Z][a-z]+(?: [A-Z0-9][\w-]*)+\b")),
]
_KEY_VALUE = re.compile(r"^([A-Z][\w ]{1,30}):\s+([^:]{1,60})$")
_LEADING_WORDS = {"The", "A", "An", "All", "Our", "Each", "Every", "This", "These", "If", "For", "In", "On", "At"}
_SWAPS = [
    ("How much", "What amount"), ("how much", "what amount"), ("how many", "what number of"),
    ("According to the", "As stated in the"), ("Fill in the blank", "Complete the gap"), ("maximum", "highest"),
    ("minimum", "lowest"), ("employees", "staff"), ("must", "has to"), ("allowed", "permitted"),
    ("costs", "is priced at"), ("before", "prior to"), ("within", "inside"), ("customers", "clients"),
]
_FRAMINGS = ["{q}", "Quick question: {q}", "{q} Please answer briefly.", "I would like to know: {q}"]


def clean_line(line: str) -> tuple[str, bool]:
    """Markdown stripped from one line of a passage; also whether it was a table row."""
    table = line.strip().startswith("|")
    text = re.sub(r"\s*\|\s*", ", ", line.strip().strip("|")) if table else line
    text = re.sub(r"^\s*(?:#+|[-*+]|\d+\.)\s+", "", text)
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", "")).strip(" ,"), table


def spans(sentence: str) -> Iterator[tuple[int, int, str, int]]:
    """(start, end, question phrase, preference rank) of each answer-like span, most answer-like first."""
    for rank, (kind, phrase, pattern) in enumerate(SPANS):
        for match in pattern.finditer(sentence):
            start, end = match.span("answer" if match.groupdict().get("answer") else 0)
            if kind == "name":
                words = match.group().split()
                while words and words[0] in _LEADING_WORDS:
                    start += len(words.pop(0)) + 1
                if len(words) < 2 and not re.search(r"[0-9]|[a-z][A-Z]", "".join(words)):
                    continue
            unit = match.groupdict().get("unit") or ""
            if kind == "count" and unit in VERB_FORMS:  # "Figure 2 shows", not a count of shows
                continue
            if kind == "term" and match.group().split()[0] in STOPWORDS:  # "as they called them"
                continue
            yield start, end, phrase.format(unit=re.sub(r"^(\w+?)s?$", r"\1s", unit) if unit else ""), rank


def find_span(sentence: str) -> tuple[int, int, str, int] | None:
    """The most answer-like span of the sentence, or None."""
    return next(spans(sentence), None)


def fact_span(sentence: str, table: bool, report: WriterReport) -> tuple[int, int, str, int] | None:
    """The most answer-like span that passes the fact filters; a refused sentence is counted by reason."""
    found = list(spans(sentence))
    if not found:
        return None
    if reason := sentence_reason(sentence, table):
        report.refuse(reason, sentence)
        return None
    refused = None
    for start, end, phrase, rank in found:
        refused = answer_reason(sentence, start, end, SPANS[rank][0])
        if refused is None:
            return start, end, phrase, rank
    report.refuse(str(refused), sentence)
    return None


def _lower_first(text: str) -> str:
    """Lower-case a capitalised first word unless it looks like part of a name ("Northwind Loom")."""
    words = text.split(" ", 2)
    name_like = len(words) > 1 and words[1][:1].isupper() and words[0] not in _LEADING_WORDS
    if words[0][:1].isupper() and words[0][1:].islower() and not name_like:
        return text[0].lower() + text[1:]
    return text


class OfflineQAWriter:
    """Cloze and echo questions over spans of each sentence; template paraphrases."""

    name = "offline"

    def __init__(self, filters: bool = True) -> None:
        self.filters = filters  # off only to measure what the filters change (benchmarks/training_data_quality.py)

    def questions(self, passage: str, title: str, n: int, report: WriterReport) -> list[QAPair]:
        candidates: list[tuple[int, QAPair]] = []
        for line in passage.splitlines():
            text, table = clean_line(line)
            if not text or set(text) <= set("-, :"):
                continue
            if self.filters and (reason := line_reason(text)):
                report.refuse(reason, text)
                continue
            field = _KEY_VALUE.match(text)
            if field and not table:
                key, value = field.groups()
                if self.filters and (reason := sentence_reason(value, table=True)):
                    report.refuse(reason, text)
                    continue
                candidates.append((-1, QAPair(f"What is the {key.lower()} of the {title}?", value)))
                continue
            for start, end in split_sentences(text):
                sentence = text[start:end]
                if self.filters:
                    sentence = strip_reference_markers(sentence)
                    report.markers_cut += sentence != text[start:end]
                if not 5 <= len(sentence.split()) <= 60:
                    continue
                found = fact_span(sentence, table, report) if self.filters else find_span(sentence)
                if found is None:
                    continue
                a, b, phrase, rank = found
                answer = sentence[a:b]
                cloze = f"Fill in the blank ({title}): {sentence[:a]}____{sentence[b:]}"
                if table:
                    candidates.append((rank, QAPair(cloze, answer)))
                    continue
                echo = f"According to the {title}, {_lower_first(sentence[:a])}{phrase}{sentence[b:].rstrip('.!')}?"
                candidates.append((rank, QAPair(echo, answer)))
                candidates.append((rank + len(SPANS), QAPair(cloze, answer)))
        candidates.sort(key=lambda item: item[0])
        return [pair for _, pair in candidates[:n]]

    def paraphrases(self, question: str, n: int, report: WriterReport) -> list[str]:
        swapped = question
        for old, new in _SWAPS:
            swapped = re.sub(rf"\b{re.escape(old)}\b", new, swapped)
        found: list[str] = []
        for framing in _FRAMINGS:
            text = framing.format(q=swapped)
            if text != question and text not in found:
                found.append(text)
        return found[:n]
