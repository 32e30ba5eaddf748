"""From the answers to report.json: each answer scored, every arm's means with bootstrap CIs, the paired
comparisons, latency, tokens and cost, the probes' sections, the recommendation, the per-question rows (read
from the answer cache as they are written); then report.json, report.html and summary.md written in OUT."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tailor
from tailor.evaluate.compare.adherence import violations
from tailor.evaluate.compare.answering import ArmAnswers
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.baseline import prompt_fingerprints
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.costs import arm_costs, latency_table, token_means
from tailor.evaluate.compare.questions import Question, QuestionSet
from tailor.evaluate.compare.recommend import recommend
from tailor.evaluate.compare.rows import QuestionRows, write_report_json
from tailor.evaluate.compare.scoring import score_answer
from tailor.evaluate.compare.stats import compare_paired

Scores = dict[str, dict[str, dict[str, float]]]
"""Arm name -> question id -> metric -> value."""


def score(config: CompareConfig, plan: ArmPlan, question: Question, answer: dict[str, Any]) -> dict[str, float]:
    scores = score_answer(question, answer, plan.retrieves)
    if config.format is not None and question.answerable and not answer["abstained"]:
        scores["format_adherence"] = float(not violations(answer["text"], config.format))
    return scores


def assemble(ctx: RunContext, plans: list[ArmPlan], base_info: dict[str, Any] | None, kb_info: dict[str, Any],
             question_set: QuestionSet, answers: dict[str, ArmAnswers], cache: AnswerCache,
             judge_info: dict[str, Any] | None, freshness: dict[str, Any] | None, leak: dict[str, Any] | None,
             forgetting: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    config = ctx.config
    questions = question_set.questions
    scores = {arm: {qid: a.scores for qid, a in found.items()} for arm, found in answers.items()}
    ran = [p for p in plans if p.name in answers and not p.skip_reason]
    metrics = {p.name: arm_metrics(ctx, scores[p.name]) for p in ran}
    if leak:
        for name, probe in leak["arms"].items():
            if probe["leak_rate"] and name in metrics:
                metrics[name]["leak_rate"] = probe["leak_rate"]
    latency = {p.name: latency_table(a.timings_ms for a in answers[p.name].values()) for p in ran}
    tokens = {p.name: token_means((a.tokens_in, a.tokens_out) for a in answers[p.name].values()) for p in ran}
    cost = {p.name: arm_costs(p, kb_info, latency[p.name], tokens[p.name], freshness, config.prices) for p in ran}
    comparisons = paired_comparisons(ctx, ran, scores, questions)
    if forgetting:
        add_domain_gain(ctx, forgetting, ran, scores, questions)
    report: dict[str, Any] = {
        "tailor_version": tailor.__version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "tailor compare",
        "config": json.loads(config.model_dump_json()),
        "environment": environment(),
        "kb": kb_info,
        "base_model": base_info,
        "questions": {"source": question_set.source, "count": len(questions),
                      "answerable": sum(q.answerable for q in questions),
                      "unanswerable": sum(not q.answerable for q in questions),
                      "generated": question_set.generated,
                      "documents": question_set.documents,  # generated: {"questions": n, "training": m}
                      "split": config.question_split.model_dump() if config.question_split else None,
                      "errors": [{"path": e.path, "reason": e.reason} for e in question_set.errors]},
        "primary_metric": config.primary_metric,
        "arms": [p.to_dict() for p in plans],
        "prompts": prompt_fingerprints(ran),
        "metrics": metrics,
        "judge": judge_info,
        "comparisons": [c.to_dict() for c in comparisons],
        "latency": latency,
        "tokens": tokens,
        "prices": config.prices.model_dump(),
        "cost": cost,
        "freshness": freshness,
        "format": format_section(config, metrics),
        "forgetting": forgetting,
        "leak": leak,
        "phase_seconds": {k: round(v, 2) for k, v in ctx.timings.items()},
        "seconds": round(seconds, 2),
    }
    report["recommendation"] = recommend(report)
    report["per_question"] = QuestionRows(questions, answers, cache)
    return report


def arm_metrics(ctx: RunContext, per_question_scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    names = sorted({m for s in per_question_scores.values() for m in s})
    return {m: ctx.estimate([s[m] for s in per_question_scores.values() if m in s]) for m in names}


def paired_comparisons(ctx: RunContext, ran: list[ArmPlan], scores: Scores, questions: Sequence[Question]) -> list[Any]:
    """Every pair of arms on the primary metric, semantic match (the verdict is checked under it too), format
    adherence and abstention, on the questions both scored (an arm asked a sample is paired on its sample)."""
    config = ctx.config
    found = []
    for i, a in enumerate(ran):
        for b in ran[i + 1:]:
            for metric in dict.fromkeys((config.primary_metric, "semantic_match", "format_adherence", "abstain_correct")):
                ids = scored_by_both(scores[a.name], scores[b.name], metric, questions)
                comparison = compare_paired(a.name, b.name, metric, [scores[a.name][i][metric] for i in ids],
                                            [scores[b.name][i][metric] for i in ids], config.bootstrap, config.seed)
                if comparison:
                    found.append(comparison)
    return found


def scored_by_both(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], metric: str,
                   questions: Sequence[Question]) -> list[str]:
    """The ids of the questions both arms have `metric` for (an arm asked a sample has scores for its sample)."""
    return [q.id for q in questions if metric in a.get(q.id, {}) and metric in b.get(q.id, {})]


def add_domain_gain(ctx: RunContext, forgetting: dict[str, Any], ran: list[ArmPlan], scores: Scores,
                    questions: Sequence[Question]) -> None:
    """Next to what an adapter cost: what it gained on the domain over the closed-book base (paired)."""
    closed = next((p.name for p in ran if p.config.strategy == "closed_book"), None)
    config = ctx.config
    metric = config.primary_metric
    for arm, probe in forgetting["arms"].items():
        if closed is None:
            probe["domain_gain"] = None
            continue
        ids = scored_by_both(scores[arm], scores[closed], metric, questions)
        gain = compare_paired(arm, closed, metric, [scores[arm][i][metric] for i in ids],
                              [scores[closed][i][metric] for i in ids], config.bootstrap, config.seed)
        probe["domain_gain"] = {"mean": gain.diff, "low": gain.low, "high": gain.high, "n": gain.n} if gain else None


def format_section(config: CompareConfig, metrics: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if config.format is None:
        return None
    return {"spec": config.format.model_dump(exclude_defaults=True),
            "arms": {name: m.get("format_adherence") for name, m in metrics.items()}}


def environment() -> dict[str, Any]:
    import torch
    import transformers

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device, "cpu_count": os.cpu_count()}


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    from tailor.evaluate.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    write_report_json(report, json_path)
    return {"json": json_path, **write_report(report, out)}
