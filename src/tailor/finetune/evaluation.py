"""Answering validation questions by generation and scoring them (SQuAD exact match and token F1).

Used during training (the generation-eval callback), after it (the registry's validation metrics)
and by the knowledge-injection benchmark, so every number comes from the same decoding and scoring.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tailor.finetune.formats import final_answer
from tailor.generate.base import Message
from tailor.generate.hf import plain_prompt
from tailor.squad_metrics import exact_match, token_f1


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[Message]) -> str:
    """The prompt text exactly as `HFGenerator` builds it: chat template, else the plain format."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return plain_prompt(messages)


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[list[Message]],
    max_new_tokens: int = 48,
    batch_size: int = 16,
) -> list[str]:
    """Greedy completions of each prompt, decoded without special tokens (left-padded batches)."""
    was_training = model.training
    model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    texts = [render_prompt(tokenizer, p) for p in prompts]
    outputs: list[str] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                padding_side="left",
                add_special_tokens=not tokenizer.chat_template,
            ).to(model.device)
            generated = model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id, use_cache=True,
                temperature=None, top_p=None, top_k=None,
            )
            new_tokens = generated[:, batch["input_ids"].shape[1] :]
            outputs += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    finally:
        model.train(was_training)
    return outputs


def score(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean exact match and token F1 of each prediction's final answer against its gold answers."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    answers = [final_answer(p) for p in predictions]
    return {
        "exact_match": sum(exact_match(a, g) for a, g in zip(answers, golds, strict=True)) / len(answers),
        "f1": sum(token_f1(a, g) for a, g in zip(answers, golds, strict=True)) / len(answers),
    }
