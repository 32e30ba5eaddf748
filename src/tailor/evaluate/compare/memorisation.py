"""Restricted facts in an adapter's weights, measured by likelihood rather than by what decoding says.

An adapter can hold a fact it never states word for word: asked a restricted question, it finds the true
answer more likely than the answers of the other restricted questions. For each question whose answers
live only in documents the caller may not read, the probe scores the gold answer and `k` distractors (other
restricted answers of the same kind first, public ones when those run out) as the reply to the adapter's
closed-book prompt (mean token log-likelihood) and counts how often the gold one comes first. The base model, on the same candidates and prompt, is the
level an adapter that learned nothing would reach. A paired difference whose 95% interval lies above 0
says the weights carry the restricted facts: the multiple-choice form of the "exposure" of Carlini et al.
(2019, "The Secret Sharer").
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.probes import bases_to_load, models_by_base, precision, with_adapter
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import states_answer
from tailor.evaluate.compare.stats import compare_paired, estimate_dict
from tailor.finetune.evaluation import generate_answers, render_prompt
from tailor.finetune.formats import closed_book_prompt


@dataclass(frozen=True)
class Candidates:
    """One restricted question and the replies it is scored on; the gold answer is `replies[0]`."""

    question: str
    replies: tuple[str, ...]


_KINDS = (
    ("money", re.compile(r"(?:\b(?:EUR|USD|GBP|CHF|JPY)\b|[€$£¥])")),
    ("percent", re.compile(r"\d\s*%|\bper ?cent\b", re.I)),
    ("date", re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|"
                        r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.I)),
    ("duration", re.compile(r"\d.*\b(?:second|minute|hour|day|week|month|year)s?\b", re.I)),
    ("number", re.compile(r"\d")),
)


def answer_kind(answer: str) -> str:
    """A coarse type (money, percent, date, duration, number, text), so that distractors look like the gold
    one: otherwise an adapter that learned only the corpus's answer style ("factor" -> a number) would
    score as if it knew the facts."""
    return next((kind for kind, pattern in _KINDS if pattern.search(answer)), "text")


def candidate_sets(questions: Sequence[Question], k: int, seed: int = 0, pool: Sequence[str] = ()) -> list[Candidates]:
    """Each question's first gold answer and `k` distractors, none of them one of its golds (compared
    case-insensitively): the other questions' first answers, then answers from `pool` (e.g. the question
    set's public answers), those of the gold one's kind first. Questions with no distractor are left out."""
    rng = random.Random(seed)
    restricted = _distinct(q.answers[0] for q in questions if q.answers)
    known = {r.lower() for r in restricted}
    extra = [a for a in _distinct(pool) if a.lower() not in known]
    sets = []
    for question in questions:
        if not question.answers:
            continue
        gold = question.answers[0].strip()
        golds = {a.strip().lower() for a in question.answers}
        others = [(a, i >= len(restricted)) for i, a in enumerate(restricted + extra) if a.lower() not in golds]
        rng.shuffle(others)
        others.sort(key=lambda other: (answer_kind(other[0]) != answer_kind(gold), other[1]))  # stable sort
        if others:
            sets.append(Candidates(question.question, (gold, *(a for a, _ in others[:k]))))
    return sets


def _distinct(answers: Iterable[str]) -> list[str]:
    """Non-empty answers, stripped, each once whatever its case (the first spelling kept)."""
    seen: dict[str, str] = {}
    for answer in answers:
        seen.setdefault(answer.strip().lower(), answer.strip())
    return [a for a in seen.values() if a]


@torch.no_grad()
def reply_log_likelihoods(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
                          replies: Sequence[str]) -> list[float]:
    """Mean log-probability per token of each reply right after the rendered prompt. The prompt runs once and
    its key/value cache is shared by the replies (one right-padded batch): the replies are a few tokens beside
    the prompt, so this is several times cheaper than running prompt + reply for every candidate."""
    prompt_ids = tokenizer(prompt, add_special_tokens=not tokenizer.chat_template).input_ids
    reply_ids = [tokenizer(r, add_special_tokens=False).input_ids or [tokenizer.eos_token_id] for r in replies]
    window = getattr(model.config, "max_position_embeddings", None) or 10**9
    longest = max(len(r) for r in reply_ids)
    prompt_ids = prompt_ids[-(window - longest):] if len(prompt_ids) + longest > window else prompt_ids
    prefix = model(input_ids=torch.tensor([prompt_ids], device=model.device), use_cache=True)
    first = torch.log_softmax(prefix.logits[0, -1].float(), dim=-1)  # predicts every reply's first token
    cache = prefix.cache
    cache.batch_repeat_interleave(len(reply_ids))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (longest - len(r)) for r in reply_ids], device=model.device)
    mask = torch.tensor([[1] * (len(prompt_ids) + len(r)) + [0] * (longest - len(r)) for r in reply_ids],
                        device=model.device)
    logits = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True).logits.float()
    rest = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return [float(torch.cat([first[r[0]].reshape(1), rest[i, : len(r) - 1]]).mean()) for i, r in enumerate(reply_ids)]


def gold_first(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sets: Sequence[Candidates]) -> list[float]:
    """1.0 where the gold reply is strictly the most likely of its candidates, else 0.0."""
    model.eval()
    outcome = []
    for candidates in sets:
        prompt = render_prompt(tokenizer, closed_book_prompt(candidates.question))
        scores = reply_log_likelihoods(model, tokenizer, prompt, candidates.replies)
        outcome.append(float(scores[0] > max(scores[1:])))
    return outcome


def stated(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, questions: Sequence[Question]) -> list[float]:
    """1.0 where the greedy closed-book reply states a gold answer."""
    replies = generate_answers(model, tokenizer, [closed_book_prompt(q.question) for q in questions], max_new_tokens=24)
    return [float(states_answer(reply, q.answers)) for reply, q in zip(replies, questions, strict=True)]


@dataclass(frozen=True)
class _Probe:
    """One question set, ready to score: its questions and their candidate replies."""

    questions: list[Question]
    candidates: list[Candidates]

    def measure(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> tuple[list[float], list[float]]:
        return gold_first(model, tokenizer, self.candidates), stated(model, tokenizer, self.questions)


def weights_leak_probe(plans: Sequence[ArmPlan], question_sets: dict[str, Sequence[Question]], k: int,
                       progress: Callable[[str, int, int], None], pool: Sequence[str] = (), resamples: int = 1000,
                       seed: int = 0) -> dict[str, Any]:
    """For each arm with an adapter on a local model and each set of restricted questions: how often it ranks
    the gold answer first, against its base model on the same candidates (paired), and how often its greedy
    closed-book reply states it. `pool`: more distractors, when the restricted answers are too few."""
    probes = {name: _Probe(list(qs), candidate_sets(qs, k, seed, pool)) for name, qs in question_sets.items()}
    sets = {name: {"questions": len(p.questions), "ranked": len(p.candidates),
                   "chance": sum(1 / len(c.replies) for c in p.candidates) / len(p.candidates) if p.candidates else None}
            for name, p in probes.items()}
    arms: dict[str, Any] = {}
    done, total = 0, len(plans) + bases_to_load(plans)
    for model, tokenizer, adapted in models_by_base(plans):
        base_scores = {name: probe.measure(model, tokenizer) for name, probe in probes.items()}
        done += 1
        progress("leak probe: weights", done, total)
        measured_by_adapter: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        for plan in adapted:
            assert plan.adapter is not None
            weights = str(plan.adapter.weights)  # arms that share an adapter (finetuned, hybrid) share its figures
            if weights not in measured_by_adapter:
                with with_adapter(model, plan) as tuned:
                    measured_by_adapter[weights] = {name: probe.measure(tuned, tokenizer) for name, probe in probes.items()}
            measured = measured_by_adapter[weights]
            arms[plan.name] = {
                "adapter_groups": list(plan.adapter_groups),
                "precision": precision(plan),
                "sets": {name: _summary(plan.name, measured[name], base_scores[name], resamples, seed) for name in probes},
            }
            done += 1
            progress("leak probe: weights", done, total)
    return {"distractors": k, "sets": sets, "arms": arms}


def _summary(arm: str, tuned: tuple[list[float], list[float]], base: tuple[list[float], list[float]],
             resamples: int, seed: int) -> dict[str, Any]:
    (first, said), (base_first, base_said) = tuned, base
    excess = compare_paired(arm, "base", "gold_first", first, base_first, resamples, seed)
    return {
        "gold_first": estimate_dict(first, resamples, seed),
        "gold_first_base": estimate_dict(base_first, resamples, seed),
        "excess": {"mean": excess.diff, "low": excess.low, "high": excess.high, "n": excess.n,
                   "p_value": excess.p_value} if excess else None,
        "carries_restricted_facts": bool(excess and excess.low > 0 and (excess.p_value or 0.0) < 0.05),
        "stated": estimate_dict(said, resamples, seed),
        "stated_base": estimate_dict(base_said, resamples, seed),
    }
