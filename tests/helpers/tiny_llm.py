"""Tiny random-init Llama models, tokenizers and LoRA adapters, built on the fly for tests."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<s>", "</s>", "<pad>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = """\
Tailor adapts a language model to your own documents. It can retrieve passages from a knowledge base,
fine-tune a small adapter on questions and answers, or do both, and then measure which approach wins.
The retriever splits every document into chunks, embeds them, and keeps a lexical index next to the
dense one. When a question arrives, both indexes are searched and their results are fused.

A generator then reads the question together with the retrieved passages and writes an answer.
Answers should cite their sources, stay short, and say so when the documents do not contain the answer.
The system prompt tells the assistant what it may and may not do; the user prompt carries the question.

Evaluation compares the approaches on held-out questions. Exact match, token F1, and faithfulness to
the retrieved context are reported for each run, with confidence intervals from bootstrap resampling.
Small models are cheap to serve on a laptop, while larger ones need a GPU with enough memory.
Numbers like 0123456789 and symbols such as ?!.,;:'"()[]{}<>/\\|@#$%^&*-_=+~` appear now and then.
"""


def _ascii_alphabet() -> list[str]:
    """Printable ASCII in byte-level form (space -> 'Ġ', newline -> 'Ċ')."""
    return [chr(c) for c in range(33, 127)] + ["\u0120", "\u010a"]


def build_tiny_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on CORPUS; ASCII only, so every decode is valid text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=_ascii_alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines() * 4, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llama(out_dir: Path, seed: int = 0) -> Path:
    """Save a random-init tiny Llama (about 0.1M parameters) and its tokenizer to out_dir."""
    torch.manual_seed(seed)
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_eos_first_llama(model_dir: Path, out_dir: Path) -> Path:
    """Copy the tiny model, rewired so that greedy decoding emits EOS as its first token.

    Hidden dimension 0 is held at a positive constant through the residual stream, the final
    norm keeps only that dimension, and only the EOS row of the LM head reads it.
    """
    model = LlamaForCausalLM.from_pretrained(model_dir)
    eos = model.config.eos_token_id
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0] = 0.0
            layer.mlp.down_proj.weight[0] = 0.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[eos, 0] = 1.0
    model.save_pretrained(out_dir)
    PreTrainedTokenizerFast.from_pretrained(model_dir).save_pretrained(out_dir)
    return out_dir


def build_tiny_lora_adapter(model_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    """Save a LoRA adapter (q_proj, v_proj) with random non-zero weights, so it changes outputs."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    base = LlamaForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(out_dir)
    return out_dir
