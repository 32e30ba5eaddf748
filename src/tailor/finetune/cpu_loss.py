"""The SFT loss on a CPU: the LM head scores only the positions whose next token is trained on.

TRL's fused LM head keeps the labelled positions alone only on Triton devices; elsewhere it scores every
position of the batch, in fp32 tiles over the whole vocabulary. With the loss on the answers only, most
positions are prompt, so on a CPU that head costs about as much as the rest of the step. Here the model's
own head runs on the labelled positions (`logits_to_keep` with their indices) and the loss is the same
token-mean cross entropy, with the same gradients (tests/finetune/test_cpu_loss.py). For SmolLM2-135M on the
handbook's QA data, benchmarks/finetune_throughput.py measured 914 tokens/s against 297 with TRL's head.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

IGNORED = -100


class LabelledPositionsSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss projects only the labelled positions through the LM head."""

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        targets = inputs["labels"][:, 1:]  # position t predicts token t + 1
        keep = (targets != IGNORED).any(dim=0).nonzero().squeeze(-1)
        forward = {name: value for name, value in inputs.items() if name != "labels"}
        outputs = model(**forward, use_cache=False, logits_to_keep=keep)
        picked = targets[:, keep]
        valid = picked != IGNORED
        loss = F.cross_entropy(outputs.logits.float().flatten(0, 1), picked.flatten(), ignore_index=IGNORED,
                               reduction="sum")
        loss = loss / (valid.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # as TRL: DDP averages the gradients across ranks
        mode = "train" if model.training else "eval"
        correct = (outputs.logits.argmax(-1) == picked) & valid
        self._metrics[mode]["mean_token_accuracy"].append((correct.sum() / valid.sum().clamp(min=1)).item())
        return (loss, outputs) if return_outputs else loss
