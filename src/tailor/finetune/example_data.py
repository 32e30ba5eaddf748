"""Training data from labelled examples: each train example rendered with the very prompt its arm asks.

    examples        (strategy finetuned)  user: the input alone              assistant: the output
    demonstrations  (strategy hybrid)     user: the k most similar OTHER      assistant: the output
                                          train examples, then the input

The demonstrations of a training row are retrieved from the train examples by the same search the hybrid
arm runs (as the training groups), the example itself left out, so the adapter learns to read neighbours it
did not memorise with their own answer. Rows are TRL conversational prompt-completion rows; the card gives
every example's groups, so the adapter's groups are computed as for document data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tailor.finetune.data import row_access, write_dataset
from tailor.finetune.formats import assistant
from tailor.generate.demonstrations import EXAMPLE_TEMPLATES, DemonstrationPrompts
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Example, Hit

ExampleFormat = Literal["examples", "demonstrations"]
FORMAT_STRATEGY: dict[str, str] = {"examples": "finetuned", "demonstrations": "hybrid"}


def neighbours(kb: KnowledgeBase, example: Example, top_k: int, groups: Sequence[str]) -> list[Hit]:
    """The top-k train examples most similar to `example` that `groups` may read, itself left out."""
    hits = kb.search(example.input, k=top_k + 1, groups=list(groups)).hits
    return [hit for hit in hits if hit.chunk.doc_id != example.id][:top_k]


def example_rows(examples: Sequence[Example], data_format: ExampleFormat, kb: KnowledgeBase, top_k: int,
                 groups: Sequence[str], seed: int, template: str | None = None) -> list[dict[str, Any]]:
    """The rows in `template` (the arm's; None: its strategy's default)."""
    prompts = DemonstrationPrompts(template or EXAMPLE_TEMPLATES[FORMAT_STRATEGY[data_format]], kb)
    rows = []
    for example in examples:
        hits = neighbours(kb, example, top_k, groups) if data_format == "demonstrations" else []
        prompt = prompts.build(example.input, hits)
        rows.append({
            "id": example.id,
            "prompt": prompt.messages,
            "completion": assistant(example.output),
            "question": example.input,
            "answers": [example.output],
            "doc_ids": [example.id],
            "context_ids": [hit.chunk.id for hit in prompt.hits],
            "source": "example",
        })
    random.Random(seed).shuffle(rows)
    return rows


def build_example_dataset(train: Sequence[Example], out: Path, data_format: ExampleFormat, kb: KnowledgeBase,
                          groups: Sequence[str], top_k: int = 5, seed: int = 0,
                          template: str | None = None) -> dict[str, Any]:
    """The dataset folder (train.jsonl, an empty validation.jsonl, card.json) of the train examples that
    `groups` may read; returns its card."""
    started = time.time()
    readers = frozenset(groups)
    usable = [e for e in train if readers & set(e.groups)]
    if not usable:
        raise ValueError(f"no train example is readable by groups {sorted(readers)}")
    rows = example_rows(usable, data_format, kb, top_k, groups, seed, template)
    document_groups = {e.id: list(e.groups) for e in train}
    card: dict[str, Any] = {
        "format": f"examples-{data_format}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "kb": {"uri": kb.uri, "version": kb.version},
        "groups": sorted(readers),
        "document_groups": document_groups,
        "config": {"out": str(out), "data_format": data_format, "top_k": top_k, "seed": seed,
                   "template": template or EXAMPLE_TEMPLATES[FORMAT_STRATEGY[data_format]]},
        "documents": {"train": sorted(e.id for e in usable), "validation": []},
        "examples": {"train": len(rows), "validation": 0},
        "by_source": {"train": {"example": len(rows)}, "validation": {}},
        "skipped": {"not_readable_by_training_groups": len(train) - len(usable)},
        "errors": [],
    }
    needed: set[str] = set()
    for row in rows:
        needed |= row_access(row, card, readers) or set()
    card["adapter_groups"] = sorted(needed)
    card["seconds"] = round(time.time() - started, 2)
    return write_dataset(Path(out), {"train": rows, "validation": []}, card)
