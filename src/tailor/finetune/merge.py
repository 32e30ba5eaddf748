"""`tailor adapters merge`: fold a LoRA adapter into a 16-bit copy of its base model.

The result is a plain Transformers model folder (config, safetensors, tokenizer) that any runtime
loads without PEFT: vLLM directly, llama.cpp after `convert_hf_to_gguf.py`. A QLoRA adapter is merged
into the 16-bit base too, never into the 4-bit one it was trained against.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.finetune.registry import AdapterEntry, model_revision

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def merge_adapter(entry: AdapterEntry, out: Path, dtype: str = "bfloat16") -> Path:
    """Load the base in `dtype`, apply the adapter, merge_and_unload, save to `out`."""
    if entry.manifest["weights"] != "adapter":
        raise ValueError(f"{entry.ref} is a full fine-tune: {entry.weights} is already a plain model")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}")
    expected = entry.manifest["base_model"]["revision"]
    if (actual := model_revision(entry.base_model)) != expected:
        raise ValueError(f"base model {entry.base_model} changed since {entry.ref} was trained ({actual} != {expected})")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    base = AutoModelForCausalLM.from_pretrained(entry.base_model, dtype=DTYPES[dtype])
    merged = PeftModel.from_pretrained(base, str(entry.weights)).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(entry.weights)).save_pretrained(out)
    note = {"adapter": entry.ref, "base_model": entry.manifest["base_model"], "dtype": dtype}
    (out / "tailor_merge.json").write_text(json.dumps(note, indent=2) + "\n")
    return out
