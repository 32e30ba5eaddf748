"""`finetuned` and `hybrid` in the answering layer: registered, prompted like training, answering."""

from __future__ import annotations

import pytest
from ft_corpus import FACTS, SECRET

from tailor.finetune import formats
from tailor.finetune.config import FinetuneConfig
from tailor.finetune.evaluation import generate_answers
from tailor.finetune.strategies import STRATEGIES
from tailor.finetune.train import finetune
from tailor.generate.prompts import PromptBuilder
from tailor.generate.strategies import AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase


@pytest.fixture(scope="module")
def adapter(tiny_llm_dir, facts_dataset, tmp_path_factory):
    config = FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=tmp_path_factory.mktemp("h"),
                            max_steps=120, learning_rate=1e-2, lora_dropout=0.0, batch_size=4, max_length=128,
                            eval_steps=40, save_steps=40, early_stopping_patience=0, warmup=0)
    result = finetune(config)
    assert result.metrics["validation"]["eval_exact_match"] == 1.0
    return result.entry


@pytest.fixture(scope="module")
def kb(small_kb, embedder):
    knowledge_base = KnowledgeBase.open(small_kb, embedder=embedder)
    yield knowledge_base
    knowledge_base.close()


def test_one_entry_each_with_the_training_templates():
    finetuned, hybrid = STRATEGIES["finetuned"], STRATEGIES["hybrid"]
    assert (finetuned.retrieves, finetuned.needs_adapter, finetuned.template) == (False, True, formats.FINETUNED_TEMPLATE)
    assert (hybrid.retrieves, hybrid.needs_adapter, hybrid.template) == (True, True, formats.HYBRID_TEMPLATE)
    assert PromptBuilder(finetuned.template).build("Q?", []).messages == formats.closed_book_prompt("Q?")


def test_finetuned_answers_what_training_taught(adapter, tiny_llm_dir, kb):
    config = AskConfig(strategy="finetuned", generator=f"hf:{tiny_llm_dir}", adapter=str(adapter.weights), max_new_tokens=16)
    strategy = make_strategy(config, kb)
    for question, gold in FACTS:
        answer = strategy.answer(question, ["public"])
        assert formats.final_answer(answer.text) == gold
        assert answer.strategy == "finetuned" and not answer.hits
    with pytest.raises(ValueError, match="needs an adapter"):
        make_strategy(AskConfig(strategy="finetuned", generator=f"hf:{tiny_llm_dir}"), kb)


def test_the_strategy_and_the_training_evaluation_generate_the_same_text(adapter, tiny_llm_dir, kb):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    question = FACTS[2][0]
    config = AskConfig(strategy="finetuned", generator=f"hf:{tiny_llm_dir}", adapter=str(adapter.weights), max_new_tokens=10)
    text = make_strategy(config, kb).answer(question, ["public"]).text
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llm_dir), str(adapter.weights))
    tokenizer = AutoTokenizer.from_pretrained(adapter.weights)
    (generated,) = generate_answers(model, tokenizer, [formats.closed_book_prompt(question)], max_new_tokens=10)
    assert text == generated.strip()


def test_hybrid_retrieves_as_the_callers_groups(adapter, tiny_llm_dir, kb):
    config = AskConfig(strategy="hybrid", generator=f"hf:{tiny_llm_dir}", adapter=str(adapter.weights), top_k=3,
                       max_new_tokens=8)
    answer = make_strategy(config, kb).answer("What does salary band E4 pay?", ["public"])
    assert answer.strategy == "hybrid" and len(answer.hits) == 3
    assert all(SECRET not in hit.chunk.text for hit in answer.hits)
    assert answer.tokens_in > 40  # the numbered documents are in the prompt
