"""The CPU loss: the same loss and gradients as TRL's fused LM head, from the labelled positions alone."""

from __future__ import annotations

import torch
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from tailor.finetune.cpu_loss import LabelledPositionsSFTTrainer
from tailor.finetune.train import load_splits


def loss_and_gradients(trainer_class, model_dir, dataset, out, packing):
    torch.manual_seed(0)
    args = SFTConfig(output_dir=str(out), use_cpu=True, per_device_train_batch_size=4, max_length=128,
                     packing=packing, completion_only_loss=True, report_to="none", seed=0)
    trainer = trainer_class(model=str(model_dir), args=args, train_dataset=load_splits(dataset)["train"],
                            peft_config=LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0,
                                                   init_lora_weights=False, task_type="CAUSAL_LM"))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()  # prompt and answer tokens
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    return loss.item(), grads


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
