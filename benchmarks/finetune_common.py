"""Shared setup of the fine-tuning benchmarks: the handbook KB, the scratch base model, the QA data.

Expensive artefacts are cached under $TAILOR_BENCH_CACHE (default .cache/finetune in the checkout)
and rebuilt when missing; delete the folder to start from nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tailor.finetune.config import DataConfig, ScratchConfig
from tailor.finetune.data import build_dataset
from tailor.finetune.scratch import build_scratch_model, is_scratch_model

REPO = Path(__file__).resolve().parents[1]
HANDBOOK = REPO / "examples" / "handbook"
CACHE = Path(os.environ.get("TAILOR_BENCH_CACHE", REPO / ".cache" / "finetune"))


def set_threads(threads: int | None) -> int:
    """Pin torch's intra-op threads (a busy machine makes OpenMP spin-waits very slow)."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def handbook_kb() -> Path:
    """The example handbook ingested into a cached knowledge base."""
    from tailor.kb.knowledge_base import KnowledgeBase

    path = CACHE / "handbook-kb"
    if not (path / "kb.sqlite").is_file():
        kb = KnowledgeBase.open(path)
        kb.ingest([HANDBOOK / "docs"])
        kb.close()
    return path


def scratch_base(kb: Path | None = None) -> Path:
    """The default from-scratch demonstration model, cached; with `kb`, its tokenizer also learns the KB's words."""
    path = CACHE / ("scratch-base-kb-vocab" if kb else "scratch-base")
    if not is_scratch_model(str(path)):
        build_scratch_model(ScratchConfig(out=path, kb=kb))
    return path


def questions() -> list[dict]:
    return [json.loads(line) for line in (HANDBOOK / "questions.jsonl").read_text().splitlines()]


def qa_dataset(kb: Path, out: Path, paraphrases: int = 0, questions_per_chunk: int = 3, val_fraction: float = 0.2) -> dict:
    """Closed-book QA data: the handbook's answerable original questions (human paraphrases held back
    for evaluation) plus offline synthetic questions, split by document (val_fraction 0: no split)."""
    originals = [q for q in questions() if q["answerable"] and not q["paraphrase_of"]]
    qa_file = out.parent / f"{out.name}-questions.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    qa_file.write_text("".join(json.dumps(q) + "\n" for q in originals))
    config = DataConfig(kb=kb, out=out, qa_file=qa_file, paraphrases=paraphrases,
                        questions_per_chunk=questions_per_chunk, val_fraction=val_fraction, seed=0)
    return build_dataset(config)
