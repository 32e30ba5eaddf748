"""`tailor base-model scratch`: a FROM-SCRATCH DEMONSTRATION base model, trained here, no download.

It exists so that the demo and the tests can fine-tune and compare arms on a machine without a hub:
it is a few million parameters, not a real LLM, and it is labelled as such in its model card, its
`tailor_scratch.json` and every registry entry trained on it.

    tokenizer  byte-level BPE learned from the general text and the KB's documents: the KB's words
               become tokens, but that teaches the model no fact
    model      a small random-init Llama
    pre-train  TRL's SFTTrainer (full weights, packed blocks) on the general text only, plus
               (`instruct`) offline questions about that text in the chat format, so the closed-book
               arm starts the way a real base model does: knowing language and the chat format, not
               the company
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    PrinterCallback,
)
from trl import SFTConfig, SFTTrainer

from tailor.finetune.config import ScratchConfig
from tailor.finetune.data import load_corpus
from tailor.finetune.formats import assistant, closed_book_prompt
from tailor.finetune.offline_qa import OfflineQAWriter
from tailor.finetune.qa_records import WriterReport
from tailor.finetune.synthetic import validate_pair

GENERAL_TEXT = Path(__file__).parent / "general_text"
MARKER = "tailor_scratch.json"
LABEL = "from-scratch demonstration model"
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
# Each turn is "<|role|>\ncontent\n"; assistant turns end with </s> so the model learns to stop.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def read_general_text(folder: Path) -> list[tuple[str, str]]:
    """(title, body) of each .txt file; the first line is the title."""
    docs = []
    for path in sorted(Path(folder).glob("*.txt")):
        title, _, body = path.read_text().strip().partition("\n")
        docs.append((title.strip(), body.strip()))
    if not docs:
        raise FileNotFoundError(f"no .txt files in {folder}")
    return docs


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every byte is in the alphabet, so any text round-trips."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens=SPECIAL_TOKENS[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(config: ScratchConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    torch.manual_seed(config.seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=config.max_length,  # what it was trained on: generators fit prompts to it
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def pretraining_rows(docs: list[tuple[str, str]], tokenizer: PreTrainedTokenizerFast, instruct: bool) -> list[dict[str, str]]:
    """Paragraphs of the general text and, with `instruct`, chat-formatted questions about them."""
    rows, writer, report = [], OfflineQAWriter(), WriterReport()
    for title, body in docs:
        for paragraph in (p.strip() for p in body.split("\n\n") if p.strip()):
            rows.append({"text": f"{title}\n\n{paragraph}"})
            if not instruct:
                continue
            for pair in writer.questions(paragraph, title, 3, report):
                if validate_pair(pair, paragraph) is None:
                    messages = closed_book_prompt(pair.question) + assistant(pair.answer)
                    rows.append({"text": tokenizer.apply_chat_template(messages, tokenize=False)})
    return rows


def build_scratch_model(config: ScratchConfig) -> dict[str, Any]:
    """Train the tokenizer and the model, save both with a model card; returns the card's facts."""
    started = time.time()
    docs = read_general_text(config.general_text or GENERAL_TEXT)
    kb_texts, kb_info = [], None
    if config.kb:
        corpus = load_corpus(config.kb, config.groups)
        kb_texts = [chunk.text for doc in corpus.docs.values() for chunk in doc.chunks]
        kb_info = {"uri": corpus.uri, "version": corpus.version, "groups": list(corpus.groups), "documents": len(corpus.docs)}
    tokenizer = train_tokenizer([body for _, body in docs] + kb_texts, config.vocab_size)
    model = build_model(config, tokenizer)
    rows = pretraining_rows(docs, tokenizer, config.instruct)
    with tempfile.TemporaryDirectory() as workdir:  # nothing is checkpointed; the trainer still wants a folder
        args = SFTConfig(
            output_dir=workdir,
            seed=config.seed,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            max_length=config.max_length,
            packing=True,
            packing_strategy="wrapped",  # pre-training style: fixed blocks, documents cut across blocks
            activation_checkpointing=False,
            bf16=False,
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)
        output = trainer.train()
    out = Path(config.out)
    trainer.model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    general_hash = hashlib.sha256("".join(t + b for t, b in docs).encode()).hexdigest()
    facts = {
        "kind": LABEL,
        "parameters": sum(p.numel() for p in model.parameters()),
        "general_text": {"documents": len(docs), "sha256": general_hash, "rows": len(rows)},
        "tokenizer_kb": kb_info,
        "mean_train_loss": output.training_loss,
        "last_logged_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None),
        "steps": trainer.state.global_step,
        "seconds": round(time.time() - started, 1),
        "config": config.model_dump(mode="json"),
    }
    (out / MARKER).write_text(json.dumps(facts, indent=2) + "\n")
    (out / "README.md").write_text(_model_card(facts))
    return facts


def _model_card(facts: dict[str, Any]) -> str:
    kb = facts["tokenizer_kb"]
    vocabulary = (
        f"Its tokenizer also learned the words (not the facts) of the knowledge base {kb['uri']} "
        f"(version {kb['version']}, groups {', '.join(kb['groups'])})."
        if kb
        else "Its tokenizer was learned from the same general text."
    )
    return f"""# Tailor {LABEL}

**This is a {LABEL}, not a real language model.** It has {facts['parameters']:,} parameters and was
pre-trained by `tailor base-model scratch` on {facts['general_text']['documents']} short documents of
general English prose (no facts of any organisation), so that Tailor's demo and tests can fine-tune
and compare RAG and LoRA without downloading a model. {vocabulary}

Expect fluent-looking but shallow English; use a real base model for real work.
"""


def is_scratch_model(model_id: str) -> bool:
    return (Path(model_id) / MARKER).is_file()
