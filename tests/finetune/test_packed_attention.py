"""Packed attention: each packed example attends to itself only, with sdpa's numbers, and nothing else changes."""

from __future__ import annotations

import torch
from sft_step import loss_and_gradients
from transformers import LlamaConfig, LlamaForCausalLM

from tailor.finetune import packed_attention
from tailor.finetune.cpu_loss import LabelledPositionsSFTTrainer

LENGTHS = [5, 11, 1, 7]


def grouped_query_llama(attention: str) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
                         attn_implementation=attention)
    return LlamaForCausalLM(config).eval()


def packed_row() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    cu_seq_lens = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=torch.int32)
    return {"input_ids": torch.randint(3, 97, (1, sum(LENGTHS))),
            "position_ids": torch.cat([torch.arange(n) for n in LENGTHS]).unsqueeze(0),
            "cu_seq_lens_q": cu_seq_lens, "cu_seq_lens_k": cu_seq_lens, "max_length_q": max(LENGTHS),
            "max_length_k": max(LENGTHS)}


def test_each_packed_example_gets_the_logits_it_gets_alone():
    model = grouped_query_llama(packed_attention.NAME)
    row = packed_row()
    with torch.no_grad():
        packed = model(**row, use_cache=False).logits[0]
        start = 0
        for length in LENGTHS:
            alone = model(input_ids=row["input_ids"][:, start:start + length], use_cache=False).logits[0]
            torch.testing.assert_close(packed[start:start + length], alone, rtol=1e-5, atol=1e-5)
            start += length


def test_the_packed_row_equals_sdpa_s_block_diagonal_mask_with_its_gradients():
    row = packed_row()
    results = {}
    for attention in ("sdpa", packed_attention.NAME):
        model = grouped_query_llama(attention).train()
        logits = model(**row, use_cache=False).logits
        logits.float().logsumexp(-1).mean().backward()
        results[attention] = logits.detach(), {n: p.grad for n, p in model.named_parameters()}
    (sdpa_logits, sdpa_grads), (packed_logits, packed_grads) = results["sdpa"], results[packed_attention.NAME]
    torch.testing.assert_close(packed_logits, sdpa_logits, rtol=1e-5, atol=1e-5)
    for name, grad in packed_grads.items():
        torch.testing.assert_close(grad, sdpa_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_generation_and_padded_batches_are_plain_sdpa():
    sdpa, packed = grouped_query_llama("sdpa"), grouped_query_llama(packed_attention.NAME)
    prompt = torch.randint(3, 97, (2, 6))
    mask = torch.ones_like(prompt)
    mask[1, :2] = 0  # left padding
    settings = {"attention_mask": mask, "max_new_tokens": 5, "do_sample": False, "pad_token_id": 0}
    assert torch.equal(packed.generate(prompt, **settings), sdpa.generate(prompt, **settings))
    with torch.no_grad():
        torch.testing.assert_close(packed(prompt, attention_mask=mask).logits, sdpa(prompt, attention_mask=mask).logits)


def test_a_training_step_on_packed_data_has_sdpa_s_loss_and_gradients(tiny_llm_dir, facts_dataset, tmp_path):
    sdpa_loss, sdpa_grads = loss_and_gradients(LabelledPositionsSFTTrainer, tiny_llm_dir, facts_dataset,
                                               tmp_path / "sdpa", packing=True)
    packed_loss, packed_grads = loss_and_gradients(LabelledPositionsSFTTrainer, tiny_llm_dir, facts_dataset,
                                                   tmp_path / "packed", packing=True, attention=packed_attention.NAME)
    assert abs(packed_loss - sdpa_loss) < 1e-5 * max(1.0, sdpa_loss)
    assert packed_grads.keys() == sdpa_grads.keys() and packed_grads
    for name, grad in packed_grads.items():
        torch.testing.assert_close(grad, sdpa_grads[name], rtol=1e-4, atol=1e-6, msg=name)
