"""Freshness on examples: new labelled examples arrive (e.g. a new intent); which arm handles them, and how
soon? Half of `changes/examples.jsonl` (stratified by label, seeded) joins the train examples, re-indexed
into a copy of the examples KB (timed: retrieval's time to fresh); the other half is asked before and after.
The closed-book prompt lists the enlarged label set after the change (editing it costs nothing). Adapters
stay stale unless `--retrain`, which retrains them on the enlarged train set, timed."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from tailor.evaluate.compare.answering import Answerer, Answers
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.context import RunContext, kb_fingerprint
from tailor.evaluate.compare.examples import (
    Example,
    ExamplesConfig,
    as_documents,
    label_set,
    load_examples,
    split_examples,
)
from tailor.evaluate.compare.labels import label_scores
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import answer_states
from tailor.evaluate.compare.training import TrainedAdapter
from tailor.generate.strategies import Strategy
from tailor.kb.copy import copy_store
from tailor.kb.knowledge_base import KnowledgeBase

CHANGES_FILE = "examples.jsonl"


class ExampleArms(Protocol):
    """What the probe needs of the example task."""

    spec: ExamplesConfig
    labels: tuple[str, ...] | None
    train_examples: list[Example]

    def strategy_with(self, plan: ArmPlan, kb: KnowledgeBase, labels: Any) -> Strategy: ...

    def train_on(self, ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str,
               examples: list[Example], suffix: str) -> TrainedAdapter: ...

    def training_format(self, arm: Any) -> str: ...


def example_freshness(ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase,
                      task: ExampleArms) -> dict[str, Any] | None:
    config = ctx.config
    if config.changes is None:
        return None
    path = Path(config.changes) / CHANGES_FILE
    if not path.is_file():
        return {"skipped": f"{config.changes}: an examples change set needs {CHANGES_FILE}"}
    started = time.perf_counter()
    spec = task.spec.model_copy(update={"path": path, "dev_fraction": 0.0, "test_fraction": 0.5})
    loaded = load_examples(spec)
    for error in loaded.errors:
        ctx.log(f"skipped change example {error.path}: {error.reason}")
    labels = tuple(sorted(set(task.labels or ()) | set(label_set(loaded.examples, spec) or ()))) or None
    parts = split_examples(loaded.examples, spec, labels)
    added, probe = parts["train"], [Question(id=f"change:{e.id}", question=e.input, answers=(e.output,),
                                             groups=e.groups) for e in parts["test"]]
    if not added or not probe:
        return {"skipped": f"{path}: too few valid examples to add some and ask the others"}
    fresh_path = ctx.work / "examples-kb-fresh"
    shutil.rmtree(fresh_path, ignore_errors=True)
    copy_store(kb.uri, str(fresh_path), queries=5)
    fresh = KnowledgeBase.open(fresh_path, kb.config, embedder=kb.embedder)
    updating = time.perf_counter()
    fresh.ingest_documents(as_documents(added, str(path)))
    update_seconds = time.perf_counter() - updating
    ctx.log(f"freshness: {len(added)} new examples indexed in {update_seconds:.2f}s")
    fresh_state = kb_fingerprint(fresh)
    retrained: dict[str, TrainedAdapter] = {}
    arms: dict[str, Any] = {}
    for plan in plans:
        if plan.skip_reason:
            continue
        prior = answerer.ask(plan, answerer.strategy(plan, kb), probe, kb_fingerprint(kb),
                             f"freshness before: {plan.name}", kb.version)
        after_plan, time_to_fresh, measured = plan, None, False
        if plan.retrieves:
            time_to_fresh, measured = update_seconds, True
        if plan.adapter and config.retrain:
            key = task.training_format(plan.config)
            if key not in retrained:
                retrained[key] = task.train_on(ctx, fresh, plan.generator.removeprefix("hf:"), key,
                                             [*task.train_examples, *added], "-fresh")
            entry = retrained[key].entry
            after_plan = replace(plan, adapter=entry, adapter_info=retrained[key].to_dict(),
                                 fingerprint={**plan.fingerprint, "adapter": [entry.ref, entry.manifest.get("created_at")]})
            cost = entry.manifest.get("cost", {})
            time_to_fresh = (time_to_fresh or 0.0) + float(cost.get("wall_clock_s") or 0.0) + retrained[key].data_seconds
            measured = not retrained[key].reused
        elif plan.adapter:
            measured = False
        after_plan = replace(after_plan, fingerprint={**after_plan.fingerprint, "fresh_labels": list(labels or [])})
        after = answerer.ask(after_plan, task.strategy_with(after_plan, fresh, labels), probe, fresh_state,
                             f"freshness after: {plan.name}", fresh.version)
        arms[plan.name] = _scores(ctx, probe, prior, after, labels, time_to_fresh, measured)
    fresh.close()
    ctx.timings["freshness"] = time.perf_counter() - started
    return {"changes": str(path), "questions": len(probe), "added_examples": len(added),
            "rag_update_seconds": round(update_seconds, 3), "updated_documents": [e.id for e in added],
            "retrained": bool(config.retrain), "arms": arms}


def _correct(answer: dict[str, Any], question: Question, labels: Any) -> float:
    if labels:
        return label_scores(answer["text"], answer["abstained"], question.answers[0], labels)["label_accuracy"]
    return answer_states(answer, question.answers)


def _scores(ctx: RunContext, probe: list[Question], before: Answers, after: Answers, labels: Any,
            time_to_fresh: float | None, measured: bool) -> dict[str, Any]:
    def shares(answers: Answers) -> list[float]:
        return [_correct(answers[q.id], q, labels) for q in probe if q.id in answers]

    wrong = [{"id": q.id, "question": q.question, "answer": after[q.id]["text"], "old_answers": [],
              "answers": list(q.answers)} for q in probe if q.id in after and not _correct(after[q.id], q, labels)]
    return {
        "before": ctx.estimate(shares(before)),  # the new examples answered right before they were added
        "before_new": ctx.estimate(shares(before)),
        "after": ctx.estimate(shares(after)),
        "stale": None,
        "time_to_fresh_s": round(time_to_fresh, 3) if time_to_fresh is not None else None,
        "time_to_fresh_measured": measured,
        "stale_answers": wrong[:20],
    }
