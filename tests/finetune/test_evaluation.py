"""Generation and scoring used during and after training."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.finetune.callbacks import wall_clock_seconds
from tailor.finetune.evaluation import generate_answers, render_prompt, score
from tailor.finetune.formats import closed_book_prompt
from tailor.generate.base import GenerationConfig
from tailor.generate.hf import HFGenerator


def test_score_uses_the_final_answer_and_squad_metrics():
    result = score(["Quote [1]: \"x\"\nAnswer: The EUR 180 [1]", "London, UK", ""], [["EUR 180"], ["London"], ["Paris"]])
    assert result["exact_match"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert score([], []) == {"exact_match": 0.0, "f1": 0.0}
    with pytest.raises(ValueError):
        score(["a"], [])


def test_batched_left_padded_generation_matches_the_hf_generator(tiny_llm_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir).train()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm_dir)
    prompts = [closed_book_prompt(q) for q in ("Hi?", "What does the retriever split every document into?", "Why?")]
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    generator = HFGenerator(str(tiny_llm_dir), device="cpu")
    assert render_prompt(tokenizer, prompts[1]) == generator.build_prompt(prompts[1])
    assert batched == [generator.generate(p, GenerationConfig(max_new_tokens=6)).text for p in prompts]
    assert model.training  # put back in the mode it was in


def test_wall_clock_adds_up_sessions(tmp_path):
    log = tmp_path / "metrics.jsonl"
    events = [("a", 1.0), ("a", 5.0), ("b", 2.0), ("b", 3.5)]
    log.write_text("".join(json.dumps({"session": s, "elapsed_s": t}) + "\n" for s, t in events))
    assert wall_clock_seconds(log) == 8.5
    assert wall_clock_seconds(tmp_path / "missing.jsonl") == 0.0
