"""One SFT step on the first batch of a dataset: its loss and the LoRA gradients (shared by the recipe's tests)."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig
from trl import SFTConfig

from tailor.finetune.train import load_splits


def loss_and_gradients(trainer_class, model_dir: Path, dataset: Path, out: Path, packing: bool,
                       attention: str = "sdpa") -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    args = SFTConfig(output_dir=str(out), use_cpu=True, per_device_train_batch_size=4, max_length=128,
                     packing=packing, completion_only_loss=True, report_to="none", seed=0,
                     model_init_kwargs={"attn_implementation": attention})
    trainer = trainer_class(model=str(model_dir), args=args, train_dataset=load_splits(dataset)["train"],
                            peft_config=LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0,
                                                   init_lora_weights=False, task_type="CAUSAL_LM"))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()  # prompt and answer tokens
    if packing:
        assert batch["input_ids"].shape[0] == 1 and len(batch["cu_seq_lens_q"]) > 2  # several examples in one row
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    return loss.item(), grads
