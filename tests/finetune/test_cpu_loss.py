"""The CPU loss: the same loss and gradients as TRL's fused LM head, from the labelled positions alone."""

from __future__ import annotations

import torch
from sft_step import loss_and_gradients
from trl import SFTTrainer

from tailor.finetune.cpu_loss import LabelledPositionsSFTTrainer


def test_the_loss_and_every_gradient_equal_trl_s_packed_and_padded(tiny_llm_dir, facts_dataset, tmp_path):
    for packing in (True, False):
        ours, our_grads = loss_and_gradients(LabelledPositionsSFTTrainer, tiny_llm_dir, facts_dataset,
                                             tmp_path / f"ours-{packing}", packing)
        trl, trl_grads = loss_and_gradients(SFTTrainer, tiny_llm_dir, facts_dataset, tmp_path / f"trl-{packing}",
                                            packing)
        assert abs(ours - trl) < 1e-5 * max(1.0, trl), (packing, ours, trl)
        assert our_grads.keys() == trl_grads.keys() and our_grads
        for name, grad in our_grads.items():
            torch.testing.assert_close(grad, trl_grads[name], rtol=1e-4, atol=1e-6, msg=f"{name} (packing={packing})")
