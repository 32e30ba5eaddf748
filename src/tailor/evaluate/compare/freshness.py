"""The freshness probe: the change set's questions asked before; the edited documents re-indexed into a copy
of the KB (timed: RAG's time to fresh); the questions asked again. Adapter arms stay stale unless
`--retrain`, which rebuilds their data from the changed KB and retrains them, timed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.answering import Answerer, Answers
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.context import RunContext, kb_fingerprint
from tailor.evaluate.compare.models import train, training_key
from tailor.evaluate.compare.questions import Question, load_questions
from tailor.evaluate.compare.scoring import answer_states, states_answer
from tailor.evaluate.compare.training import TrainedAdapter
from tailor.kb.copy import copy_store
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.loaders import load_documents


def freshness_probe(ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase) -> dict[str, Any] | None:
    config = ctx.config
    if config.changes is None:
        return None
    changes = Path(config.changes)
    if not (changes / "docs").is_dir() or not (changes / "questions.jsonl").is_file():
        raise FileNotFoundError(f"{changes}: a change set needs docs/ and questions.jsonl")
    if config.docs is None:
        return {"skipped": "the freshness probe re-ingests the documents folder: give docs, not kb"}
    started = time.perf_counter()
    probe = load_questions(changes / "questions.jsonl")
    for error in probe.errors:
        ctx.log(f"skipped change question: {error.reason}")
    overlay = ctx.work / "fresh-docs"
    shutil.rmtree(overlay, ignore_errors=True)
    # Links are copied as links, never followed: a link loop in docs/ would make copytree recurse until the
    # path is too long (after every answer was given); the loader below skips a loop with a named reason.
    shutil.copytree(Path(config.docs), overlay, symlinks=True)
    shutil.copytree(changes / "docs", overlay, dirs_exist_ok=True, symlinks=True)
    edited = {p.relative_to(changes / "docs").as_posix() for p in (changes / "docs").rglob("*") if p.is_file()}
    fresh_path = ctx.work / "kb-fresh"
    shutil.rmtree(fresh_path, ignore_errors=True)
    copy_store(kb.uri, str(fresh_path), queries=5)
    fresh = KnowledgeBase.open(fresh_path, kb.config, embedder=kb.embedder)  # the same search settings
    # The update a team would run: load and re-index the edited files only (with the corpus's sidecar
    # metadata, so that they keep their access groups), timed from reading the files to the commit.
    updating = time.perf_counter()
    documents, errors = load_documents([overlay])
    update = fresh.ingest_documents([d for d in documents if d.id in edited])
    update_seconds = time.perf_counter() - updating
    for error in errors:
        ctx.log(f"freshness: skipped {error.path}: {error.reason}")
    ctx.log(f"freshness: {len(update.updated)} edited documents re-indexed in {update_seconds:.2f}s")
    fresh_state = kb_fingerprint(fresh)
    retrained: dict[str, TrainedAdapter] = {}
    arms: dict[str, Any] = {}
    for plan in plans:
        if plan.skip_reason:
            continue
        prior = answerer.ask(plan, answerer.strategy(plan, kb), probe.questions, kb_fingerprint(kb),
                             f"freshness before: {plan.name}", kb.version)
        after_plan, time_to_fresh, measured = plan, None, False
        if plan.retrieves:
            time_to_fresh, measured = update_seconds, True
        if plan.adapter and config.retrain:
            key = training_key(plan.config)  # a raft adapter is retrained on its own arm's prompt, over the fresh KB
            if key not in retrained:
                retrained[key] = train(ctx, fresh, plan.generator.removeprefix("hf:"), plan.config.data_format,
                                       kb_path=fresh_path, suffix="-fresh", arm=plan.config)
            after_plan = ArmPlan(plan.config, plan.generator, plan.model, retrained[key].entry, retrained[key].to_dict())
            after_plan.fingerprint = {**plan.fingerprint, "adapter": [after_plan.adapter.ref,
                                      after_plan.adapter.manifest.get("created_at")]}
            cost = after_plan.adapter.manifest.get("cost", {})
            time_to_fresh = (time_to_fresh or 0.0) + float(cost.get("wall_clock_s") or 0.0) + retrained[key].data_seconds
            measured = not retrained[key].reused
        elif plan.adapter:
            measured = False
        after = answerer.ask(after_plan, answerer.strategy(after_plan, fresh), probe.questions, fresh_state,
                             f"freshness after: {plan.name}", fresh.version)
        arms[plan.name] = freshness_scores(ctx, probe.questions, prior, after, time_to_fresh, measured)
    fresh.close()
    ctx.timings["freshness"] = time.perf_counter() - started
    return {"changes": str(changes), "questions": len(probe.questions), "rag_update_seconds": round(update_seconds, 3),
            "updated_documents": update.updated, "retrained": bool(config.retrain), "arms": arms}


def freshness_scores(ctx: RunContext, probe: Sequence[Question], before: Answers, after: Answers,
                     time_to_fresh: float | None, measured: bool) -> dict[str, Any]:
    def share(answers: Answers, golds: str) -> list[float]:
        return [answer_states(answers[q.id], getattr(q, golds)) for q in probe if q.id in answers]

    stale = [{"id": q.id, "question": q.question, "answer": after[q.id]["text"],
              "old_answers": list(q.old_answers), "answers": list(q.answers)}
             for q in probe if not states_answer(after[q.id]["text"], q.answers)]
    return {
        "before": ctx.estimate(share(before, "old_answers")),
        "before_new": ctx.estimate(share(before, "answers")),
        "after": ctx.estimate(share(after, "answers")),
        "stale": ctx.estimate(share(after, "old_answers")),
        "time_to_fresh_s": round(time_to_fresh, 3) if time_to_fresh is not None else None,
        "time_to_fresh_measured": measured,
        "stale_answers": stale,
    }
