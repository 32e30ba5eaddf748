"""Attention for packed training batches that attends within each example only, on any device.

TRL packs short examples into blocks and, padding-free, flattens a batch into one row whose positions restart at
every example (`cu_seq_lens_q` marks where). transformers' `sdpa` then builds a block-diagonal mask over the whole
row and scores every pair of its tokens: the handbook's QA rows are ~68 tokens, 16 to a 1,024-token row, so 15/16
of those scores are masked out. `flash_attention_2` attends per example but needs CUDA. Here the row is cut at
`cu_seq_lens_q`, its examples are stacked into a padded batch and attended causally (the padding follows each
example, so no real token sees it), and the outputs are put back in place: the same numbers as the masked call
(tests/finetune/test_packed_attention.py). Every other call (generation, padded batches) is plain `sdpa`.

Measured on SmolLM2-135M (LoRA in the top 10 blocks, bf16 autocast, 2 threads), one forward and backward of a
1,024-token row of 16 examples: 1.45 s against 2.07 s (benchmarks/finetune_throughput.py has the whole loop).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

NAME = "sdpa_packed"


def _examples(cu_seq_lens: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """For each token of the row: its example's index and its offset in that example; how many examples, and the
    longest one's length."""
    starts = cu_seq_lens[:-1].to(device=device, dtype=torch.long)
    lengths = cu_seq_lens.diff().to(device=device, dtype=torch.long)
    example = torch.repeat_interleave(torch.arange(lengths.numel(), device=device), lengths)
    offset = torch.arange(example.numel(), device=device) - starts[example]
    return example, offset, lengths.numel(), int(lengths.max())


def sdpa_packed_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          **kwargs: Any) -> tuple[torch.Tensor, None]:
    cu_seq_lens = kwargs.get("cu_seq_lens_q")
    packed_row = cu_seq_lens is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2]
    if not packed_row or not getattr(module, "is_causal", True):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    example, offset, count, longest = _examples(cu_seq_lens, query.device)

    def stacked(states: torch.Tensor) -> torch.Tensor:  # [1, heads, row, dim] -> [examples, heads, longest, dim]
        out = states.new_zeros(count, states.shape[1], longest, states.shape[3])
        out[example, :, offset] = states[0].transpose(0, 1)
        return out

    attended = F.scaled_dot_product_attention(stacked(query), stacked(key), stacked(value), dropout_p=dropout,
                                              is_causal=True, scale=scaling, enable_gqa=key.shape[1] != query.shape[1])
    return attended[example, :, offset].unsqueeze(0), None  # [1, row, heads, dim], as sdpa returns it


AttentionInterface.register(NAME, sdpa_packed_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)  # what the plain-sdpa calls need; a packed row ignores it
