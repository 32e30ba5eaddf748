"""The report as display records: report.json read once, checked, and arranged by section.

Both the HTML page and summary.md are rendered from this view, so they cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from tailor.evaluate.report import questions, sections, since
from tailor.evaluate.report.examples_section import ExamplesSection, examples_section
from tailor.evaluate.report.fields import Number, ReportError, ReportField
from tailor.evaluate.report.metrics_view import ComparisonRow, MetricTable, comparison_rows, metric_tables


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    because: str


@dataclass(frozen=True)
class Verdict:
    verdict: str
    headline: str
    fired: list[Rule]
    not_fired: list[Rule]
    beside: str  # cost per 1,000 queries, p50 latency and time to absorb new data of the arms it weighed
    metric_note: str  # set when semantic match would give another verdict than the primary metric


@dataclass(frozen=True)
class Training:
    wall_clock_s: Number | None
    tokens: Number | None
    steps: Number | None
    device: str
    budget_minutes: Number | None  # tailor.finetune.budget: the cap, and the epochs done when it cut the run
    stopped_by: str
    epochs: Number | None
    planned_epochs: Number | None


@dataclass(frozen=True)
class Adapter:
    ref: str
    base_model: str
    groups: list[str]
    reused: bool
    training: Training | None
    data_card: str  # the card of the adapter's training data, and what its fact filters refused
    refused: list[tuple[str, Number | None]]
    short_number_answers: Number | None
    short_name_answers: Number | None


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: str
    generator: str
    model: str
    retrieves: bool
    top_k: Number | None
    ran: bool
    skip_reason: str
    adapter: Adapter | None
    judged: Number | None
    judge_failed: Number | None


@dataclass(frozen=True)
class RunInfo:
    config: str  # YAML
    environment: list[tuple[str, str]]
    kb_uri: str
    kb_numbers: list[tuple[str, Number]]
    question_source: str
    question_numbers: list[tuple[str, Number]]
    questions_generated: bool
    # generated questions: documents on each side of the split ("questions": held out, "training": the rest)
    question_documents: dict[str, Number]
    question_errors: list[tuple[str, str]]  # (path, reason) of questions that could not be read
    base_model: str  # YAML
    phase_seconds: list[tuple[str, Number]]
    seconds: Number | None


@dataclass(frozen=True)
class ReportView:
    tailor_version: str
    created_at: str
    command: str
    primary_metric: str
    verdict: Verdict | None
    arms: list[Arm]
    judge_generator: str | None
    tables: dict[str, MetricTable]  # keyed by metrics_view.METRIC_GROUPS names and "other"
    comparisons: list[ComparisonRow]
    freshness: sections.Freshness | None
    latency: sections.Latency | None
    cost: sections.Cost | None
    format: sections.FormatSection | None
    forgetting: sections.Forgetting | None
    leak: sections.Leak | None
    questions: questions.QuestionTable
    run: RunInfo
    baseline: since.SinceBaseline | None = None
    history: since.History | None = None
    examples: ExamplesSection | None = None

    @property
    def ran_arms(self) -> list[Arm]:
        return [arm for arm in self.arms if arm.ran]

    @property
    def skipped_arms(self) -> list[Arm]:
        return [arm for arm in self.arms if not arm.ran]


def _verdict(report: ReportField) -> Verdict | None:
    block = report.field("recommendation")
    if not block.present:
        return None
    rules = [
        (
            entry.field("fired").flag(),
            Rule(
                entry.field("name").text(), entry.field("description").text(), entry.field("because").text()
            ),
        )
        for entry in block.field("rules").elements()
    ]
    return Verdict(
        verdict=block.field("verdict").text("no_clear_winner"),
        headline=block.field("headline").text(),
        fired=[rule for fired, rule in rules if fired],
        not_fired=[rule for fired, rule in rules if not fired],
        beside=block.field("beside").text(),
        metric_note=block.field("metric_note").text(),
    )


def _adapter(entry: ReportField, arm: str) -> Adapter | None:
    if not entry.present:
        return None
    training = entry.field("training")
    budget = training.field("time_budget")
    quality = entry.field("data_quality")
    shapes = quality.field("answer_shapes")
    return Adapter(
        ref=entry.field("ref").text(),
        base_model=entry.field("base_model").text(),
        groups=entry.field("groups").texts(),
        reused=entry.field("reused").flag(),
        training=Training(
            wall_clock_s=training.field("wall_clock_s").number("seconds", "training_wall_clock_s", arm),
            tokens=training.field("tokens").number("count", "training_tokens", arm),
            steps=training.field("steps").number("count", "training_steps", arm),
            device=training.field("device").text(),
            budget_minutes=budget.field("budget_minutes").number("decimal", "training_budget_minutes", arm),
            stopped_by=budget.field("stopped_by").text(),
            epochs=budget.field("epochs").number("decimal", "training_epochs", arm),
            planned_epochs=budget.field("planned_epochs").number("decimal", "training_planned_epochs", arm),
        )
        if training.present
        else None,
        data_card=entry.field("data_card").text(),
        refused=[(reason, count.number("count", "data_refused", arm)) for reason, count in quality.field("rejected").entries()],
        short_number_answers=shapes.field("short_number").number("rate", "data_short_number_answers", arm),
        short_name_answers=shapes.field("short_name").number("rate", "data_short_name_answers", arm),
    )


def _arms(report: ReportField) -> list[Arm]:
    arms_field = report.field("arms")
    if not isinstance(arms_field.value, list):
        raise arms_field.error("a list of arms")
    judge = report.field("judge").field("arms")
    arms = []
    for entry in arms_field.elements():
        name = entry.field("name").required_text()
        status = entry.field("status").text("ran")
        if status not in ("ran", "skipped"):
            where = entry.field("status").pointer
            raise ReportError(f"report.json {where}: expected 'ran' or 'skipped', got {status!r}")
        counts = judge.field(name)
        arms.append(
            Arm(
                name=name,
                strategy=entry.field("strategy").text(),
                generator=entry.field("generator").text(),
                model=entry.field("model").text(),
                retrieves=entry.field("retrieves").flag(),
                top_k=entry.field("top_k").number("count", "top_k", name),
                ran=status == "ran",
                skip_reason=entry.field("skip_reason").text(),
                adapter=_adapter(entry.field("adapter"), name),
                judged=counts.field("judged").number("count", "judged", name),
                judge_failed=counts.field("failed").number("count", "judge_failed", name),
            )
        )
    if len({arm.name for arm in arms}) != len(arms):
        raise ReportError(f"report.json {arms_field.pointer}: arm names must be unique")
    return arms


KB_NUMBERS = {"version": "count", "documents": "count", "chunks": "count", "ingest_seconds": "seconds"}
QUESTION_NUMBERS = ("count", "answerable", "unanswerable")


def _run_info(report: ReportField) -> RunInfo:
    kb = report.field("kb")
    asked = report.field("questions")
    return RunInfo(
        config=_yaml(report.field("config").value),
        environment=[
            (key, json.dumps(entry.value) if isinstance(entry.value, dict | list) else entry.text())
            for key, entry in report.field("environment").entries()
        ],
        kb_uri=kb.field("uri").text(),
        kb_numbers=[
            (key, number)
            for key, kind in KB_NUMBERS.items()
            if (number := kb.field(key).number(kind, f"kb.{key}")) is not None
        ],
        question_source=asked.field("source").text(),
        question_numbers=[
            (key, number)
            for key in QUESTION_NUMBERS
            if (number := asked.field(key).number("count", f"questions.{key}")) is not None
        ],
        questions_generated=asked.field("generated").flag(),
        question_documents={
            side: number for side, entry in asked.field("documents").entries()
            if (number := entry.number("count", f"questions.documents.{side}")) is not None
        },
        question_errors=[
            (error.field("path").text(), error.field("reason").text())
            for error in asked.field("errors").elements()
        ],
        base_model=_yaml(report.field("base_model").value),
        phase_seconds=[
            (phase, number)
            for phase, entry in report.field("phase_seconds").entries()
            if (number := entry.number("seconds", "phase_seconds")) is not None
        ],
        seconds=report.field("seconds").number("seconds", "run_seconds"),
    )


def _yaml(value: Any) -> str:
    return yaml.safe_dump(_plain(value), sort_keys=False, allow_unicode=True) if value is not None else ""


def _plain(value: Any) -> Any:
    """JSON-compatible data as YAML can dump it safely (tuples and other oddities as strings)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def build_view(report: dict[str, Any]) -> ReportView:
    """Check and arrange report.json; raises ReportError naming the first field it cannot use."""
    if not isinstance(report, dict):
        raise ReportError(f"report.json: expected an object at the top level, got {type(report).__name__}")
    root = ReportField(report)
    arms = _arms(root)
    order = [arm.name for arm in arms]
    tables = metric_tables(root, order)
    primary_metric = root.field("primary_metric").text("accuracy")
    return ReportView(
        tailor_version=root.field("tailor_version").text(),
        created_at=root.field("created_at").text(),
        command=root.field("command").text(),
        primary_metric=primary_metric,
        verdict=_verdict(root),
        arms=arms,
        judge_generator=root.field("judge").field("generator").text() or None,
        tables=tables,
        comparisons=comparison_rows(root),
        freshness=sections.freshness(root),
        latency=sections.latency(root, order),
        cost=sections.cost(root, order),
        format=sections.format_section(root, tables),
        forgetting=sections.forgetting(root),
        leak=sections.leak(root, tables),
        questions=questions.question_table(root, order, primary_metric),
        run=_run_info(root),
        baseline=since.since_baseline(root),
        history=since.history(root),
        examples=examples_section(root),
    )
