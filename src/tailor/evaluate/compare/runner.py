"""`tailor compare`: the same questions through every arm, then the measurements and the report.

    inputs     ingest the documents into OUT/kb (incremental) or open the given KB; read the questions
               (bad lines reported) or generate them from held-out documents; the split and sample
    models     the base model (converted or built once) and each arm's adapter, trained in the run on the
               KB's documents or reused from the registry (same data hash, base and settings)
    answering  every arm answers every question as the question's caller groups; each answer is committed
               to OUT/work/answers.sqlite as it arrives, so a killed run resumes there
    probes     the optional LLM judge, freshness (the change set re-indexed and re-asked; --retrain
               retrains the adapters), leakage through weights, forgetting
    assemble   means with bootstrap CIs, paired tests, latency, cost, the recommendation; with a baseline
               (an earlier run), the differences since it; report.json, report.html and summary.md in OUT,
               and one line appended to OUT/history.jsonl
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tailor.audit import AuditConfig, AuditLog, default_audit_dir
from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.assemble import assemble, write_outputs
from tailor.evaluate.compare.baseline import asked_in_run, load_baseline, since_baseline
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import LogCallback, ProgressCallback, RunContext
from tailor.evaluate.compare.example_task import ExampleTask
from tailor.evaluate.compare.history import append_history, git_revision, with_history
from tailor.evaluate.compare.judge import judge_answers
from tailor.evaluate.compare.models import plan_arms
from tailor.evaluate.compare.probes import forgetting_probe
from tailor.evaluate.compare.task import CompareTask, DocumentTask
from tailor.home import default_home


@dataclass
class CompareResult:
    report: dict[str, Any]
    paths: dict[str, Path]


def run_compare(config: CompareConfig, progress: ProgressCallback | None = None,
                log: LogCallback | None = None, baseline: Path | None = None) -> CompareResult:
    """Run every arm on the questions, the probes, and write OUT/report.{json,html} and summary.md; with
    `baseline` (an earlier OUT folder or its report.json), the report says what changed since."""
    started = time.perf_counter()
    previous = load_baseline(baseline) if baseline else None  # before this run overwrites it (the same OUT)
    task = make_task(config)
    config = task.config
    ctx = RunContext(config, Path(config.out), Path(config.home) if config.home else default_home())
    ctx.progress = progress or ctx.progress
    ctx.log = log or ctx.log
    ctx.work.mkdir(parents=True, exist_ok=True)
    cache = AnswerCache(ctx.work / "answers.sqlite")

    kb, kb_info = task.open_kb(ctx)
    # As durable as the answer cache (WAL, synchronous=NORMAL): a row lost to a power cut goes with the answer
    # it describes, which the re-run answers and records again.
    audit = AuditLog.open(default_audit_dir(kb.uri), AuditConfig(durable=False))
    try:
        question_set = task.questions(ctx, kb)
        questions = question_set.questions
        plans, base_info = plan_arms(ctx, kb, task)
        answerer = Answerer(ctx, cache, audit, task.strategy)
        answers = answerer.answer_all(plans, kb, questions, kb_info["fingerprint"], partial(task.score, config))
        judged = judge_answers(ctx, cache, questions, answers)
        freshness = task.freshness(ctx, answerer, plans, kb)
        leak = task.leak(ctx, answerer, plans, kb, questions, kb_info["fingerprint"])
        forgetting = forgetting_of(ctx, plans)
        report = assemble(ctx, plans, base_info, kb_info, question_set, answers, cache, judged, freshness, leak,
                          forgetting, time.perf_counter() - started)
        task.extend(report, plans, questions, answers)
        report["revision"] = git_revision(config.docs or Path.cwd())
        if previous:
            report["baseline"] = since_baseline(previous, report, asked_in_run(questions, answers), config.bootstrap,
                                                config.seed)
        report["history"] = with_history(ctx.out, report)
        paths = write_outputs(report, ctx.out)
        append_history(ctx.out, report["history"][-1])
        return CompareResult(report, paths)
    finally:
        kb.close()
        audit.close()


def make_task(config: CompareConfig) -> CompareTask:
    """Labelled examples when the configuration gives them, else documents and questions."""
    return DocumentTask(config) if config.examples is None else ExampleTask(config)


def forgetting_of(ctx: RunContext, plans: list[ArmPlan]) -> dict[str, Any] | None:
    """What each adapter costs its base model's general abilities (`probes.forgetting_probe`)."""
    adapted = [p for p in plans if not p.skip_reason and p.adapter and p.generator.startswith("hf:")]
    if not ctx.config.probes.forgetting or not adapted:
        return None
    started = time.perf_counter()
    result = forgetting_probe(adapted, ctx.config.probes, ctx.progress)
    ctx.timings["forgetting"] = time.perf_counter() - started
    return result
