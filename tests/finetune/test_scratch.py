"""The from-scratch demonstration base model: general text without company facts, KB-aware tokenizer, labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.finetune.config import ScratchConfig
from tailor.finetune.data import load_corpus
from tailor.finetune.scratch import (
    GENERAL_TEXT,
    LABEL,
    build_scratch_model,
    is_scratch_model,
    pretraining_rows,
    read_general_text,
    train_tokenizer,
)
from tailor.squad_metrics import normalize_answer

HANDBOOK_QUESTIONS = Path(__file__).parents[2] / "examples" / "handbook" / "questions.jsonl"


def test_the_shipped_general_text_holds_no_handbook_answer():
    docs = read_general_text(GENERAL_TEXT)
    assert len(docs) >= 10 and sum(len(body.split()) for _, body in docs) > 5000
    text = " ".join(f"{title} {body}" for title, body in docs).lower()
    for line in HANDBOOK_QUESTIONS.read_text().splitlines():
        for answer in json.loads(line)["answers"]:
            if answer.isalpha():  # single words ("October", "Portuguese") are language, not facts
                continue
            assert not re.search(rf"(?<![\w.,]){re.escape(answer.lower())}(?![\w%]|[.,]\d)", text), answer
    words = set(normalize_answer(text).split())
    assert not words & {"northwind", "loom", "looms", "loomcloud", "warpmaster", "weft", "tripledger", "ledgerly"}


def test_the_tokenizer_learns_the_kb_vocabulary(small_kb):
    general = [body for _, body in read_general_text(GENERAL_TEXT)]
    kb_texts = [c.text for d in load_corpus(small_kb, ["public"]).docs.values() for c in d.chunks]
    plain, aware = train_tokenizer(general, 700), train_tokenizer(general + kb_texts * 20, 700)
    sample = " ".join(kb_texts)
    assert len(aware(sample)["input_ids"]) < len(plain(sample)["input_ids"])
    assert aware.decode(aware(sample)["input_ids"], skip_special_tokens=True) == sample  # byte-level: lossless
    rendered = aware.apply_chat_template([{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}],
                                         tokenize=False)
    assert rendered == "<s><|user|>\nHi?\n<|assistant|>\nHello.</s>\n"


def test_instruct_rows_are_questions_about_the_general_text_in_chat_format():
    docs = read_general_text(GENERAL_TEXT)
    tokenizer = train_tokenizer([body for _, body in docs], 500)
    rows = pretraining_rows(docs, tokenizer, instruct=True)
    chats = [r["text"] for r in rows if r["text"].startswith("<s><|system|>")]
    assert len(chats) > 40 and all(c.endswith("</s>\n") for c in chats)
    assert len(rows) - len(chats) == len(pretraining_rows(docs, tokenizer, instruct=False))


def test_build_pretrains_and_labels_the_model(small_kb, tmp_path):
    config = ScratchConfig(out=tmp_path / "base", kb=small_kb, vocab_size=500, hidden_size=32, layers=1, heads=2,
                           intermediate_size=64, max_length=64, batch_size=8, max_steps=25, learning_rate=1e-2)
    facts = build_scratch_model(config)
    out = tmp_path / "base"
    assert facts["kind"] == LABEL and is_scratch_model(str(out))
    assert facts["tokenizer_kb"]["documents"] == 4 and facts["tokenizer_kb"]["groups"] == ["public"]
    assert LABEL in (out / "README.md").read_text() and json.loads((out / "tailor_scratch.json").read_text())["steps"] == 25
    assert facts["last_logged_loss"] < 6.0  # ln(500) = 6.2 is the loss of a uniform guess
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.num_parameters() == facts["parameters"] and AutoTokenizer.from_pretrained(out).chat_template
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no trainer leftovers
