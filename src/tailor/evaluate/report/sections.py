"""The optional sections of the report: freshness, latency, cost, format, forgetting and leak.

Each builder returns None when report.json has nothing for its section, and the section is omitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tailor.evaluate.report.fields import Estimate, Number, ReportField
from tailor.evaluate.report.metrics_view import MetricRow, MetricTable

STAGE_ORDER = ("retrieve", "rerank", "generate")
TOTAL_STAGE = "total"


@dataclass(frozen=True)
class StaleAnswer:
    id: str
    question: str
    answer: str
    old_answers: list[str]
    answers: list[str]


@dataclass(frozen=True)
class FreshnessRow:
    arm: str
    before: Estimate | None
    after: Estimate | None
    stale: Estimate | None
    time_to_fresh: Number | None
    time_to_fresh_measured: bool
    stale_answers: list[StaleAnswer]


@dataclass(frozen=True)
class Freshness:
    changes: str
    questions: Number | None
    rag_update_seconds: Number | None
    rows: list[FreshnessRow]


@dataclass(frozen=True)
class StageLatency:
    p50: Number | None
    p95: Number | None


@dataclass(frozen=True)
class LatencyRow:
    arm: str
    stages: list[StageLatency | None]  # aligned with Latency.stages
    tokens_in: Number | None
    tokens_out: Number | None


@dataclass(frozen=True)
class Latency:
    stages: list[str]
    rows: list[LatencyRow]

    @property
    def parts(self) -> list[str]:
        """The stages that add up to a query (everything but the total)."""
        return [stage for stage in self.stages if stage != TOTAL_STAGE]


@dataclass(frozen=True)
class CostRow:
    arm: str
    setup: Number | None
    setup_seconds: Number | None
    per_1000_queries: Number | None
    per_update: Number | None
    per_update_seconds: Number | None
    per_update_measured: bool
    basis: str


@dataclass(frozen=True)
class Cost:
    currency: str
    prices: list[tuple[str, Number]]
    rows: list[CostRow]


@dataclass(frozen=True)
class FormatSection:
    spec: str | None  # pretty JSON of the format spec
    table: MetricTable


@dataclass(frozen=True)
class ForgettingRow:
    arm: str
    perplexity: Number | None
    perplexity_base: Number | None
    perplexity_change: Estimate | None
    general_accuracy: Estimate | None
    general_accuracy_base: Number | None
    general_accuracy_change: Estimate | None
    general_retained: Estimate | None  # of the general questions the base model answered correctly
    domain_gain: Estimate | None


@dataclass(frozen=True)
class Forgetting:
    probe: str
    rows: list[ForgettingRow]


@dataclass(frozen=True)
class LeakedAnswer:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class LeakRow:
    arm: str
    leak_rate: Estimate | None
    refused_by_access_check: bool | None  # None: not recorded
    adapter_groups: list[str] | None
    leaked: list[LeakedAnswer]


@dataclass(frozen=True)
class WeightsLeakSet:
    name: str
    ranked: Number | None
    chance: Number | None


@dataclass(frozen=True)
class WeightsLeakRow:
    arm: str
    question_set: str
    gold_first: Estimate | None
    gold_first_base: Estimate | None
    excess: Estimate | None
    stated: Estimate | None
    carries_restricted_facts: bool


@dataclass(frozen=True)
class WeightsLeak:
    distractors: Number | None
    sets: list[WeightsLeakSet]
    rows: list[WeightsLeakRow]


@dataclass(frozen=True)
class Leak:
    caller_groups: list[str]
    questions: Number | None
    rows: list[LeakRow]
    weights: WeightsLeak | None = None


def freshness(report: ReportField) -> Freshness | None:
    block = report.field("freshness")
    if not block.present:
        return None
    rows = []
    for arm, entry in block.field("arms").entries():
        stale_answers = [
            StaleAnswer(
                id=item.field("id").text(),
                question=item.field("question").text(),
                answer=item.field("answer").text(),
                old_answers=item.field("old_answers").texts(),
                answers=item.field("answers").texts(),
            )
            for item in entry.field("stale_answers").elements()
        ]
        rows.append(
            FreshnessRow(
                arm=arm,
                before=entry.field("before").estimate("fresh_before", arm),
                after=entry.field("after").estimate("fresh_after", arm),
                stale=entry.field("stale").estimate("stale", arm),
                time_to_fresh=entry.field("time_to_fresh_s").number("seconds", "time_to_fresh_s", arm),
                time_to_fresh_measured=entry.field("time_to_fresh_measured").flag(),
                stale_answers=stale_answers,
            )
        )
    return Freshness(
        changes=block.field("changes").text(),
        questions=block.field("questions").number("count", "freshness_questions"),
        rag_update_seconds=block.field("rag_update_seconds").number("seconds", "rag_update_seconds"),
        rows=rows,
    )


def latency(report: ReportField, arm_order: list[str]) -> Latency | None:
    per_arm = dict(report.field("latency").entries())
    tokens = report.field("tokens")
    arms = [arm for arm in arm_order if arm in per_arm] + [arm for arm in per_arm if arm not in arm_order]
    if not arms:
        return None
    seen = list(dict.fromkeys(stage for arm in arms for stage, _ in per_arm[arm].entries()))
    stages = [s for s in STAGE_ORDER if s in seen] + [s for s in seen if s not in (*STAGE_ORDER, TOTAL_STAGE)]
    stages += [TOTAL_STAGE] if TOTAL_STAGE in seen else []
    rows = []
    for arm in arms:
        cells: list[StageLatency | None] = []
        for stage in stages:
            entry = per_arm[arm].field(stage)
            cells.append(
                StageLatency(
                    *(
                        entry.field(stat).number("ms", "latency_ms", arm, stage=stage)
                        for stat in ("p50", "p95")
                    )
                )
                if entry.present
                else None
            )
        arm_tokens = tokens.field(arm)
        rows.append(
            LatencyRow(
                arm=arm,
                stages=cells,
                tokens_in=arm_tokens.field("in_mean").number("count", "tokens_in", arm),
                tokens_out=arm_tokens.field("out_mean").number("count", "tokens_out", arm),
            )
        )
    return Latency(stages, rows)


PRICE_LABELS = {
    "gpu_hour": "GPU hour",
    "cpu_hour": "CPU hour",
    "input_per_million": "1M input tokens",
    "output_per_million": "1M output tokens",
}


def cost(report: ReportField, arm_order: list[str]) -> Cost | None:
    per_arm = dict(report.field("cost").entries())
    if not per_arm:
        return None
    prices = report.field("prices")
    price_rows = [
        (label, number)
        for key, label in PRICE_LABELS.items()
        if (number := prices.field(key).number("money", f"price.{key}")) is not None
    ]
    arms = [arm for arm in arm_order if arm in per_arm] + [arm for arm in per_arm if arm not in arm_order]
    rows = [
        CostRow(
            arm=arm,
            setup=per_arm[arm].field("setup").number("money", "cost.setup", arm),
            setup_seconds=per_arm[arm].field("setup_seconds").number("seconds", "cost.setup_seconds", arm),
            per_1000_queries=per_arm[arm]
            .field("per_1000_queries")
            .number("money", "cost.per_1000_queries", arm),
            per_update=per_arm[arm].field("per_update").number("money", "cost.per_update", arm),
            per_update_seconds=per_arm[arm]
            .field("per_update_seconds")
            .number("seconds", "cost.per_update_seconds", arm),
            per_update_measured=per_arm[arm].field("per_update_measured").flag(),
            basis=per_arm[arm].field("basis").text(),
        )
        for arm in arms
    ]
    return Cost(currency=prices.field("currency").text("USD"), prices=price_rows, rows=rows)


def format_section(report: ReportField, tables: dict[str, MetricTable]) -> FormatSection | None:
    """From the "format" block when present (with its spec), else from the arms' format_adherence metric."""
    block = report.field("format")
    if block.present:
        rows = [
            MetricRow(arm, [entry.estimate("format_adherence", arm)])
            for arm, entry in block.field("arms").entries()
        ]
        spec = block.field("spec").value
        pretty = json.dumps(spec, indent=2, ensure_ascii=False, default=str) if spec is not None else None
        return FormatSection(spec=pretty, table=MetricTable(["format_adherence"], rows))
    return FormatSection(spec=None, table=tables["format"]) if "format" in tables else None


def forgetting(report: ReportField) -> Forgetting | None:
    block = report.field("forgetting")
    if not block.present:
        return None
    rows = [
        ForgettingRow(
            arm=arm,
            perplexity=entry.field("perplexity").number("decimal", "perplexity", arm),
            perplexity_base=entry.field("perplexity_base").number("decimal", "perplexity_base", arm),
            perplexity_change=entry.field("perplexity_change").estimate(
                "perplexity_change", arm, kind="signed"
            ),
            general_accuracy=entry.field("general_accuracy").estimate("general_accuracy", arm),
            general_accuracy_base=entry.field("general_accuracy_base").number(
                "rate", "general_accuracy_base", arm
            ),
            general_accuracy_change=entry.field("general_accuracy_change").estimate(
                "general_accuracy_change", arm, kind="signed"
            ),
            general_retained=entry.field("general_retained").estimate("general_retained", arm),
            domain_gain=entry.field("domain_gain").estimate("domain_gain", arm, kind="signed"),
        )
        for arm, entry in block.field("arms").entries()
    ]
    return Forgetting(probe=block.field("probe").text(), rows=rows)


def leak(report: ReportField, tables: dict[str, MetricTable]) -> Leak | None:
    """From the "leak" block when present, else from the arms' leak_rate metric."""
    block = report.field("leak")
    if block.present:
        rows = [
            LeakRow(
                arm=arm,
                leak_rate=entry.field("leak_rate").estimate("leak_rate", arm),
                refused_by_access_check=entry.field("refused_by_access_check").flag(),
                adapter_groups=entry.field("adapter_groups").texts()
                if entry.field("adapter_groups").present
                else None,
                leaked=[
                    LeakedAnswer(
                        item.field("id").text(), item.field("question").text(), item.field("answer").text()
                    )
                    for item in entry.field("leaked").elements()
                ],
            )
            for arm, entry in block.field("arms").entries()
        ]
        return Leak(
            caller_groups=block.field("caller_groups").texts(),
            questions=block.field("questions").number("count", "leak_questions"),
            rows=rows,
            weights=weights_leak(block.field("weights")),
        )
    if "leak" not in tables:
        return None
    rows = [LeakRow(row.arm, row.cells[0], None, None, []) for row in tables["leak"].rows]
    return Leak(caller_groups=[], questions=None, rows=rows)


def weights_leak(block: ReportField) -> WeightsLeak | None:
    """The weights probe: per adapter and question set, how often the restricted answer ranks first."""
    if not block.present:
        return None
    rows = [
        WeightsLeakRow(
            arm=arm,
            question_set=name,
            gold_first=probe.field("gold_first").estimate("leak_gold_first", arm),
            gold_first_base=probe.field("gold_first_base").estimate("leak_gold_first_base", arm),
            excess=probe.field("excess").estimate("leak_gold_first_excess", arm, kind="signed"),
            stated=probe.field("stated").estimate("leak_stated", arm),
            carries_restricted_facts=probe.field("carries_restricted_facts").flag(),
        )
        for arm, entry in block.field("arms").entries()
        for name, probe in entry.field("sets").entries()
    ]
    sets = [WeightsLeakSet(name, entry.field("ranked").number("count", "leak_ranked"),
                           entry.field("chance").number("rate", "leak_chance"))
            for name, entry in block.field("sets").entries()]
    return WeightsLeak(distractors=block.field("distractors").number("count", "leak_distractors"), sets=sets, rows=rows)
