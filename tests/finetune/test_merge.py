"""Merged weights answer exactly like base + adapter; the merged folder is a plain Transformers model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.finetune.config import FinetuneConfig
from tailor.finetune.merge import merge_adapter
from tailor.finetune.train import finetune


@pytest.fixture(scope="module")
def entry(tiny_llm_dir, facts_dataset, tmp_path_factory):
    home = tmp_path_factory.mktemp("merge-home")
    config = FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=home, max_steps=30,
                            learning_rate=1e-2, batch_size=4, max_length=128, eval_steps=30, save_steps=30,
                            early_stopping_patience=0)
    return finetune(config).entry


def test_merged_and_unmerged_outputs_agree(entry, tmp_path):
    out = merge_adapter(entry, tmp_path / "merged", dtype="float32")
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    assert json.loads((out / "tailor_merge.json").read_text())["adapter"] == entry.ref
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer(["What is the hotel cap?", "Who approves trips?"], return_tensors="pt", padding=True)
    base = AutoModelForCausalLM.from_pretrained(entry.base_model)
    unmerged = PeftModel.from_pretrained(base, str(entry.weights)).eval()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    plain = AutoModelForCausalLM.from_pretrained(entry.base_model).eval()
    with torch.no_grad():
        expected, actual = unmerged(**inputs).logits, merged(**inputs).logits
        assert not torch.allclose(plain(**inputs).logits, expected, atol=1e-3)  # the adapter does something
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
        generate = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert torch.equal(merged.generate(**inputs, **generate), unmerged.generate(**inputs, **generate))


def test_default_merge_is_16_bit_and_refuses_a_changed_base_or_a_full_model(entry, tmp_path):
    out = merge_adapter(entry, tmp_path / "bf16")
    assert AutoModelForCausalLM.from_pretrained(out).dtype == torch.bfloat16
    with pytest.raises(FileExistsError):
        merge_adapter(entry, out)
    with pytest.raises(ValueError, match="dtype"):
        merge_adapter(entry, tmp_path / "x", dtype="int3")
    revision = entry.manifest["base_model"]["revision"]
    other_base = {**entry.manifest, "base_model": {"id": str(out), "revision": revision}}  # other weights, same claim
    with pytest.raises(ValueError, match="changed since"):
        merge_adapter(replace(entry, manifest=other_base), tmp_path / "y")
    with pytest.raises(ValueError, match="full fine-tune"):
        merge_adapter(replace(entry, manifest={**entry.manifest, "weights": "model"}), tmp_path / "z")
