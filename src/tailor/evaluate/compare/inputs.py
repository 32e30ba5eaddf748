"""The run's inputs: the knowledge base (ingested into OUT/kb, incrementally, or opened) and the questions
(read from the file, bad lines reported, or generated from held-out documents), then the split and sample."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext, kb_fingerprint
from tailor.evaluate.compare.questions import Question, QuestionSet, load_questions
from tailor.evaluate.compare.splits import select
from tailor.finetune.config import DataConfig
from tailor.finetune.data import build_dataset
from tailor.jsonl import read_jsonl
from tailor.kb.config import IndexConfig, KBConfig, RetrievalConfig
from tailor.kb.knowledge_base import KnowledgeBase


def open_kb(ctx: RunContext) -> tuple[KnowledgeBase, dict[str, Any]]:
    started = time.perf_counter()
    settings = kb_settings(ctx.config)
    if ctx.config.kb is not None:
        kb = KnowledgeBase.open(ctx.config.kb, settings, must_exist=True)
        info: dict[str, Any] = {"ingest_seconds": 0.0, "ingest_errors": []}
    else:
        kb = KnowledgeBase.open(kb_folder(ctx), settings)
        report = kb.ingest([ctx.config.docs], sync=True, on_progress=ctx.progress)
        info = {"ingest_seconds": round(report.seconds, 3), "embedded_chunks": report.chunks,
                "ingest_errors": [{"path": e.path, "reason": e.reason} for e in report.errors]}
        for error in report.errors:
            ctx.log(f"skipped {error.path}: {error.reason}")
    stats = kb.stats() if ctx.config.report_groups is None else scoped_stats(kb, ctx.config.report_groups)
    ctx.timings["kb"] = time.perf_counter() - started
    return kb, {"uri": stats["uri"], "version": stats["version"], "documents": stats["documents"],
                "chunks": stats["chunks"], "groups": stats["groups"], "fingerprint": kb_fingerprint(kb), **info}


def scoped_stats(kb: KnowledgeBase, groups: list[str]) -> dict[str, Any]:
    """`kb.stats()` counted over the documents `groups` may read, naming only those groups."""
    docs = kb.documents(groups)
    counts = {group: sum(group in doc.groups for doc in docs) for group in sorted(groups)}
    return {"uri": kb.uri, "version": kb.version, "documents": len(docs),
            "chunks": sum(doc.n_chunks for doc in docs), "groups": {g: n for g, n in counts.items() if n}}


def kb_settings(config: CompareConfig) -> KBConfig:
    """The KB's chunking (applied when compare ingests) and search settings of the run."""
    return KBConfig(index=config.kb_index or IndexConfig(), retrieval=config.retrieval or RetrievalConfig())


def kb_folder(ctx: RunContext) -> Path:
    """OUT/kb at the default chunking; another chunking gets its own folder (an index cannot change in place)."""
    index = ctx.config.kb_index
    if index is None or index == IndexConfig():
        return ctx.out / "kb"
    digest = hashlib.sha256(index.model_dump_json().encode()).hexdigest()[:8]
    return ctx.out / f"kb-{index.chunk_tokens}-{index.overlap_tokens}-{digest}"


def load_question_set(ctx: RunContext, kb: KnowledgeBase) -> QuestionSet:
    config = ctx.config
    if config.questions is not None:
        found = load_questions(config.questions)
        for error in found.errors:
            ctx.log(f"skipped question: {error.reason}")
    else:
        found = generate_questions(ctx, kb)
    if config.question_split:
        found.questions = select(found.questions, config.question_split)
    if config.max_questions:
        found.questions = found.questions[: config.max_questions]
    if not found.questions:
        raise ValueError(f"no valid questions in {found.source}")
    return found


def generate_questions(ctx: RunContext, kb: KnowledgeBase) -> QuestionSet:
    """Offline questions about held-out documents: the validation split of the data builder at val_fraction 0.3,
    written by the same offline writer, through the same fact filters (`finetune/fact_filter.py`), as the
    adapters' training rows. `documents` counts the two sides of that document split."""
    groups = sorted(kb.stats()["groups"])
    folder = ctx.work / "heldout-questions"
    card = build_dataset(DataConfig(kb=Path(kb.uri), out=folder, groups=groups, format="qa", generator="offline",
                                    questions_per_chunk=2, val_fraction=0.3, seed=ctx.config.seed))
    rows = read_jsonl(folder / "validation.jsonl")
    questions = []
    for row in rows:
        doc_groups = {g for d in row["doc_ids"] if (doc := kb.document(d, groups=None)) for g in doc.groups}
        questions.append(Question(id=row["id"], question=row["question"], answers=tuple(row["answers"]),
                                  doc_ids=tuple(row["doc_ids"]), groups=tuple(sorted(doc_groups)) or ("public",)))
    documents = {"questions": len(card["documents"]["validation"]), "training": len(card["documents"]["train"])}
    source = (f"generated from {documents['questions']} held-out documents, never trained on "
              f"({documents['training']} others left for training)")
    return QuestionSet(questions, source, generated=True, documents=documents)
