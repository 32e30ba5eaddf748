"""A small tune folder: twelve one-fact documents, two questions each and two unanswerable ones, and a tiny
random Llama as the base model (fast; its answers are noise, which is all the tune tests need)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from helpers.tiny_llm import build_tiny_llama

DOCS = {f"loom{i}.md": f"# Loom {i}\n\nThe Model {i} loom weaves {100 + i} metres of cloth per hour. It weighs "
        f"{40 + i} kilograms.\n\nIt needs a {220 + i} volt supply and was first sold in {2000 + i}.\n" for i in range(12)}


def questions() -> list[dict]:
    rows = []
    for i in range(12):
        rows.append({"id": f"w{i}", "question": f"How many metres per hour does the Model {i} loom weave?",
                     "answers": [f"{100 + i} metres"], "doc_ids": [f"loom{i}.md"]})
        rows.append({"id": f"v{i}", "question": f"What supply does the Model {i} loom need?",
                     "answers": [f"{220 + i} volt"], "doc_ids": [f"loom{i}.md"]})
    rows += [{"id": "u1", "question": "Who founded the chess club?", "answerable": False},
             {"id": "u2", "question": "What colour is the canteen?", "answerable": False}]
    return rows


def write_tune_folder(root: Path) -> Path:
    """root/docs, root/questions.jsonl, root/compare.yaml with the tiny model (built once under root)."""
    model = root / "tiny-llama"
    if not model.exists():
        build_tiny_llama(model)
    for name, text in DOCS.items():
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text(text)
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions()) + "\n")
    config = {"base_model": str(model), "question_split": {"part": "test", "dev_fraction": 0.5, "seed": 0},
              "arms": [{"name": "rag", "strategy": "rag", "max_new_tokens": 8},
                       {"name": "finetuned", "strategy": "finetuned", "max_new_tokens": 8}],
              "training": {"questions_per_chunk": 1, "paraphrases": 0,
                           "finetune": {"epochs": 1, "max_length": 64, "batch_size": 4, "save_steps": 1000,
                                        "eval_steps": 1000, "early_stopping_metric": "none"}},
              "probes": {"forgetting": False}, "bootstrap": 200}
    (root / "compare.yaml").write_text(yaml.safe_dump(config))
    return root
