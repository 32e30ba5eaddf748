"""The leak probe: questions answerable only from documents the leak caller may not read, asked as that
caller against every arm without the adapter access check (the weights measured as they are), then what
the adapters' weights hold of those facts (`memorisation.weights_leak_probe`). `probes.leak_adapter` adds
the remedy's "before": an adapter trained on the restricted documents too."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.answering import Answerer, asked
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.config import TRAIN
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.memorisation import weights_leak_probe
from tailor.evaluate.compare.models import train
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import answer_states
from tailor.finetune.data import unreadable_rows
from tailor.kb.knowledge_base import KnowledgeBase


def leak_probe(ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase,
               questions: Sequence[Question], kb_state: str) -> dict[str, Any] | None:
    config = ctx.config
    caller = tuple(config.probes.leak_caller_groups)
    restricted = [q for q in questions if q.answerable and q.doc_ids and all(
        kb.document(d, groups=caller) is None and kb.document(d, groups=None) is not None for d in q.doc_ids)]
    probed = [p for p in plans + leak_plans(ctx, plans, kb) if not p.skip_reason]
    training = restricted_training_rows(ctx, probed, caller)
    if not restricted and not training:
        return None
    started = time.perf_counter()
    arms = {}
    for plan in (probed if restricted else []):
        sampled = {q.id for q in asked(plan, questions, config.seed)}
        probe = [q for q in restricted if q.id in sampled]  # an arm asked a sample is probed on its sample
        if not probe:
            continue
        # Measured as the weights are: the access check that would refuse the adapter is not applied here.
        answers = answerer.ask(plan, answerer.strategy(plan, kb), probe, kb_state, f"leak probe: {plan.name}",
                               kb.version, groups=caller, check_access=False)
        leaks = [answer_states(answers[q.id], q.answers) for q in probe]
        arms[plan.name] = {
            "leak_rate": ctx.estimate(leaks),
            "refused_by_access_check": plan.access_problem(caller) is not None,
            "adapter_groups": list(plan.adapter_groups) if plan.adapter else None,
            "leaked": [{"id": q.id, "question": q.question, "answer": answers[q.id]["text"]}
                       for q, leak in zip(probe, leaks, strict=True) if leak],
        }
    adapted = [p for p in probed if p.adapter and p.generator.startswith("hf:")]
    weights = None
    if adapted:
        sets = {"questions": restricted, "training": training}
        pool = [a for q in questions if q.answerable for a in q.answers[:1]]
        weights = weights_leak_probe(adapted, {k: v for k, v in sets.items() if v}, config.probes.leak_distractors,
                                     ctx.progress, pool, config.bootstrap, config.seed)
    ctx.timings["leak_probe"] = time.perf_counter() - started
    return {"caller_groups": list(caller), "questions": len(restricted), "arms": arms, "weights": weights}


def leak_plans(ctx: RunContext, plans: list[ArmPlan], kb: KnowledgeBase) -> list[ArmPlan]:
    """The 'before' of the leak remedy: each trained `finetuned` arm again, with an adapter trained on the
    documents of `probes.leak_adapter.groups` (default every group)."""
    leak_adapter = ctx.config.probes.leak_adapter
    if leak_adapter is None:
        return []
    groups = sorted(leak_adapter.groups or kb.stats()["groups"])
    extra, trained = [], {}
    for plan in plans:
        if plan.skip_reason or plan.config.adapter != TRAIN or plan.config.strategy != "finetuned":
            continue
        key = plan.config.data_format
        if key not in trained:
            trained[key] = train(ctx, kb, plan.generator.removeprefix("hf:"), key, groups=groups, suffix="-leak",
                                 finetune=leak_adapter.finetune)
        config = plan.config.model_copy(update={"name": f"{plan.name} ({', '.join(groups)})"})
        before = ArmPlan(config, plan.generator, plan.model, trained[key].entry, trained[key].to_dict())
        before.fingerprint = {**plan.fingerprint, "adapter": [trained[key].entry.ref,
                              trained[key].entry.manifest.get("created_at")]}
        extra.append(before)
    return extra


def restricted_training_rows(ctx: RunContext, plans: Sequence[ArmPlan], caller: Sequence[str]) -> list[Question]:
    """Rows of the adapters' training data that the caller may not read, as questions: the facts an adapter
    trained on them could hold, asked as it was trained (the worst case). Adapters whose dataset is gone
    are left out, with a note."""
    rows: dict[str, Question] = {}
    for plan in plans:
        if plan.adapter is None:
            continue
        dataset = (plan.adapter.manifest.get("dataset") or {}).get("path")
        if not dataset or not Path(dataset, "card.json").is_file():
            ctx.log(f"leak probe: {plan.name}'s training data is not at hand; its training rows are not probed")
            continue
        try:
            unreadable = unreadable_rows(Path(dataset), caller)
        except (OSError, ValueError) as exc:  # changed since training (hash mismatch) or unreadable
            ctx.log(f"leak probe: {plan.name}'s training data at {dataset} is not usable ({exc}); not probed")
            continue
        for row in unreadable:
            if row.get("question") and row.get("answers"):
                rows.setdefault(row["question"], Question(id=str(row.get("id", len(rows))), question=row["question"],
                                                          answers=tuple(row["answers"])))
    chosen = list(rows.values())
    limit = ctx.config.probes.leak_training_questions
    return random.Random(ctx.config.seed).sample(chosen, limit) if len(chosen) > limit else chosen
