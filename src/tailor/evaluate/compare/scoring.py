"""Per-answer scores, judge-free: correctness, grounding, citations, retrieval and abstention.

Each score is a number in [0, 1] for one question and one arm, or absent where it does not apply
(grounding of an arm that cites nothing, retrieval of an arm that retrieves nothing, correctness of an
unanswerable question). Arms are compared on the same questions, so the means are paired.
"""

from __future__ import annotations

import re
from typing import Any

from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.semantic import default_matcher
from tailor.evaluate.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from tailor.finetune.formats import ANSWER_PREFIX
from tailor.generate.citations import MARKER, answer_sentences
from tailor.squad_metrics import exact_match, normalize_answer, token_f1

RETRIEVAL_K = 5
# A line that only says where the answer came from: the house form '{answer}\nSource: {title}' and the like.
_TRAILER = re.compile(r"^\s*(sources?|references?|citations?|cited|see also)\s*:", re.IGNORECASE | re.MULTILINE)


def committed_answer(text: str) -> str:
    """The answer a reply commits to, the only part any metric reads: after the last 'Answer:' when there
    is one (RAFT style), up to a trailer line such as 'Source: <title>', [n] markers removed, one line.
    A title cited after the answer ("Lady Gaga\nSource: Shakira wins...") is never taken for the answer."""
    if ANSWER_PREFIX in text:
        text = text.rsplit(ANSWER_PREFIX, 1)[1]
    trailer = next((m.start() for m in _TRAILER.finditer(text) if text[: m.start()].strip()), len(text))
    text = text[:trailer]
    return " ".join(MARKER.sub("", text).split())


def states_answer(text: str, golds: tuple[str, ...]) -> bool:
    """A gold answer, normalised, appears in the normalised committed answer (fair to readers that quote
    sentences)."""
    answer = f" {normalize_answer(committed_answer(text))} "
    return any(f" {normalize_answer(g)} " in answer for g in golds if normalize_answer(g))


def answer_states(answer: dict[str, Any], golds: tuple[str, ...]) -> float:
    """1.0 when the committed answer is not an abstention and states a gold answer (`states_answer`)."""
    return float(not answer["abstained"] and states_answer(answer["text"], golds))


# The option a reply leads with: "B", "B.", "B)", "(B)", "B: ...", "B. Paris", "b" (any case); a capital
# followed by text without punctuation ("A dog") is a word, not a letter.
_LEAD_LETTER = re.compile(r"^\s*(?:\(([A-Za-z])\)|([A-Za-z])(?:[.):]|\s*$))")


def chosen_choice(text: str, choices: tuple[str, ...]) -> str | None:
    """The one option the answer chooses, else None, read from the first line of its committed answer (a
    small model goes on to repeat the question and its options). A leading letter of an option (see
    `_LEAD_LETTER`), the form the prompt asks for (`posed_question`), decides, unless the text after it names
    another option ("B. <option C's text>" chose nothing); without one, the option the line names
    (`_named_option`). The extractive reader quotes a sentence, so it chooses only by the second rule."""
    body = text.rsplit(ANSWER_PREFIX, 1)[1] if ANSWER_PREFIX in text else text
    line = committed_answer(next((line for line in body.splitlines() if line.strip()), ""))
    lead = _LEAD_LETTER.match(line)
    index = ord((lead.group(1) or lead.group(2)).upper()) - ord("A") if lead else len(choices)
    if index >= len(choices):
        return _named_option(line, choices)
    named = _named_option(line[lead.end():], choices) if lead else None
    return choices[index] if named in (None, choices[index]) else None


def _named_option(text: str, choices: tuple[str, ...]) -> str | None:
    """The option whose text `text` contains when exactly one does (the longest when the others are part of
    it: "New York City" over "York"), else None."""
    answer = f" {normalize_answer(text)} "
    named = [c for c in choices if normalize_answer(c) and f" {normalize_answer(c)} " in answer]
    longest = [c for c in named if not any(c != o and normalize_answer(c) in normalize_answer(o) for o in named)]
    return longest[0] if len(longest) == 1 else None


def _retrieval(question: Question, answer: dict[str, Any], k: int) -> dict[str, float]:
    ranking: list[str] = []
    for hit in answer.get("hits", []):
        doc = hit["chunk"]["doc_id"]
        if doc not in ranking:
            ranking.append(doc)
    qrels = {question.id: {doc: 1 for doc in question.doc_ids}}
    run = {question.id: {doc: 1.0 / (rank + 1) for rank, doc in enumerate(ranking)}}
    return {
        f"retrieval_recall@{k}": recall_at_k(qrels, run, k)[question.id],
        "retrieval_mrr": mrr_at_k(qrels, run, k)[question.id],
        f"retrieval_ndcg@{k}": ndcg_at_k(qrels, run, k)[question.id],
    }


def _grounding(answer: dict[str, Any]) -> float:
    """Share of answer sentences backed by a cited passage (the reader's own citation check)."""
    if not answer["citations"]:
        return 0.0
    unsupported = len(answer.get("unsupported", []))
    sentences = max(len(answer_sentences(answer["text"])), unsupported, 1)
    return 1.0 - unsupported / sentences


def score_answer(question: Question, answer: dict[str, Any], retrieves: bool, k: int = RETRIEVAL_K) -> dict[str, float]:
    """The judge-free scores of one answer (an `Answer.to_dict()`) to one question."""
    abstained = bool(answer["abstained"])
    scores: dict[str, float] = {}
    if retrieves and question.doc_ids:
        scores.update(_retrieval(question, answer, k))
    if not question.answerable:
        scores["abstain_correct"] = float(abstained)
        return scores
    text = answer["text"]
    short = committed_answer(text)
    scores["abstain_wrong"] = float(abstained)
    scores["exact_match"] = 0.0 if abstained else exact_match(short, question.answers)
    scores["f1"] = 0.0 if abstained else token_f1(short, question.answers)
    scores["contains"] = answer_states(answer, question.answers)
    if question.choices:
        scores["mc_accuracy"] = float(not abstained and chosen_choice(text, question.choices) in question.answers)
        scores["accuracy"] = scores["mc_accuracy"]
    else:
        scores["accuracy"] = scores["contains"]
    # A chosen option is already scored by its meaning; free text is matched to the gold allowing paraphrase.
    scores["semantic_match"] = scores["accuracy"] if question.choices else \
        0.0 if abstained else default_matcher().match(short, question.answers)
    if retrieves and not abstained:
        scores["grounded"] = _grounding(answer)
        cited = {c["doc_id"] for c in answer["citations"]}
        if question.doc_ids and cited:
            gold = set(question.doc_ids)
            scores["citation_precision"] = len(cited & gold) / len(cited)
            scores["citation_recall"] = len(cited & gold) / len(gold)
    return scores
