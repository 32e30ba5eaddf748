"""The weights leak probe: candidate answers, reply likelihoods, and detecting a memorised fact."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from helpers.tiny_llm import build_tiny_llama
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.config import ArmConfig
from tailor.evaluate.compare.memorisation import (
    answer_kind,
    candidate_sets,
    gold_first,
    reply_log_likelihoods,
)
from tailor.evaluate.compare.probes import models_by_base
from tailor.evaluate.compare.questions import Question
from tailor.finetune.evaluation import render_prompt
from tailor.finetune.formats import closed_book_prompt


def test_answer_kinds_separate_money_percent_dates_durations_numbers_and_text():
    kinds = {a: answer_kind(a) for a in ("EUR 58,000", "$12", "8%", "1 October", "every Tuesday", "45 days",
                                         "0.85", "312 employees", "Leena Koskinen")}
    assert kinds == {"EUR 58,000": "money", "$12": "money", "8%": "percent", "1 October": "date",
                     "every Tuesday": "date", "45 days": "duration", "0.85": "number", "312 employees": "number",
                     "Leena Koskinen": "text"}


def question(n, *answers):
    return Question(id=f"q{n}", question=f"question {n}?", answers=answers)


def test_distractors_are_other_answers_of_the_same_kind_first_and_never_a_gold_one():
    questions = [question(1, "EUR 500", "500 euros"), question(2, "eur 500"), question(3, "EUR 900"),
                 question(4, "12 days"), question(5, "Leena Koskinen")]
    sets = {s.question: s.replies for s in candidate_sets(questions, k=2, seed=1)}
    assert sets["question 1?"][0] == "EUR 500" and "eur 500" not in sets["question 1?"]  # a gold, in other case
    assert sets["question 1?"][1] == "EUR 900"  # the only other money answer comes first
    assert sets["question 3?"][1] == "EUR 500"  # spelled once, however many golds spell it
    assert "eur 500" not in {a for replies in sets.values() for a in replies[1:]}
    assert all(len(replies) == 3 for replies in sets.values())
    assert candidate_sets(questions, k=2, seed=1) == candidate_sets(questions, k=2, seed=1)


def test_the_pool_fills_in_when_restricted_answers_are_too_few():
    lone = [question(1, "EUR 81,000")]
    assert candidate_sets(lone, k=3) == []  # nothing to rank against
    [only] = candidate_sets(lone, k=3, pool=["30 minutes", "EUR 180", "EUR 81,000", "EUR 14,900"])
    assert only.replies[0] == "EUR 81,000" and set(only.replies[1:3]) == {"EUR 180", "EUR 14,900"}
    assert only.replies[3] == "30 minutes"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny"))
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_batched_reply_likelihoods_equal_the_model_scored_one_reply_at_a_time(tiny):
    model, tokenizer = tiny
    prompt = render_prompt(tokenizer, closed_book_prompt("What does the retriever keep next to the dense index?"))
    replies = ["a lexical index", "chunks", "the bootstrap confidence intervals of every run"]
    batched = reply_log_likelihoods(model, tokenizer, prompt, replies)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    for reply, score in zip(replies, batched, strict=True):
        reply_ids = tokenizer(reply, add_special_tokens=False).input_ids
        ids = torch.tensor([prompt_ids + reply_ids])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
        expected = [log_probs[len(prompt_ids) - 1 + i, token] for i, token in enumerate(reply_ids)]
        assert score == pytest.approx(float(torch.stack(expected).mean()), abs=1e-4)


def test_a_model_trained_on_a_fact_ranks_its_answer_first_where_the_untrained_one_does_not(tiny, tmp_path):
    base, tokenizer = tiny
    questions = [question(1, "EUR 81,000"), question(2, "EUR 14,900"), question(3, "EUR 180")]
    sets = candidate_sets(questions, k=2)
    untrained = gold_first(base, tokenizer, sets)
    target = next(i for i, first in enumerate(untrained) if first == 0.0)  # a fact the base does not favour
    model = AutoModelForCausalLM.from_pretrained(base.name_or_path)
    prompt = render_prompt(tokenizer, closed_book_prompt(sets[target].question))
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    gold_ids = tokenizer(sets[target].replies[0], add_special_tokens=False).input_ids
    ids = torch.tensor([prompt_ids + gold_ids])
    labels = torch.tensor([[-100] * len(prompt_ids) + gold_ids])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    trained = gold_first(model, tokenizer, sets)
    assert untrained[target] == 0.0 and trained[target] == 1.0


def test_the_probes_load_each_base_once_per_precision_an_arm_answers_with(tmp_path):
    base = build_tiny_llama(tmp_path / "tiny")
    plans = [ArmPlan(ArmConfig(name=name, strategy="finetuned", quantize=quantize), f"hf:{base}")
             for name, quantize in (("fp32", None), ("bf16", "bf16"), ("also_bf16", "bf16"), ("int8", "int8"))]
    loaded = {tuple(p.name for p in adapted): next(model.parameters()).dtype
              for model, _, adapted in models_by_base(plans)}
    assert loaded == {("fp32", "int8"): torch.float32, ("bf16", "also_bf16"): torch.bfloat16}
