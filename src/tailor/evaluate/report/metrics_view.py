"""Per-arm metric tables (correctness, grounding, abstention, ...) and the pairwise comparisons."""

from __future__ import annotations

from dataclasses import dataclass

from tailor.evaluate.report.fields import Estimate, Number, ReportField

# Which table each metric of report.json "metrics" is shown in; a metric listed nowhere goes to "other".
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "correctness": ("accuracy", "semantic_match", "exact_match", "f1", "contains", "mc_accuracy", "judge_accuracy", "label_accuracy",
                    "macro_f1", "out_of_set", "similarity"),
    "grounding": (
        "grounded",
        "citation_precision",
        "citation_recall",
        "retrieval_recall@k",
        "retrieval_mrr",
        "retrieval_ndcg@k",
    ),
    "abstention": ("abstain_correct", "abstain_wrong"),
    "format": ("format_adherence",),
    "leak": ("leak_rate",),
}

METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "semantic_match": "Semantic match (paraphrases accepted)",
    "exact_match": "Exact match",
    "f1": "Token F1",
    "contains": "Contains gold",
    "mc_accuracy": "Multiple-choice accuracy",
    "judge_accuracy": "Judge accuracy",
    "label_accuracy": "Label accuracy",
    "macro_f1": "Macro-F1 (labels)",
    "out_of_set": "Answers outside the label set",
    "similarity": "Embedding similarity to the reference",
    "grounded": "Grounded sentences",
    "citation_precision": "Citation precision",
    "citation_recall": "Citation recall",
    "retrieval_recall@k": "Retrieval recall@k",
    "retrieval_mrr": "Retrieval MRR",
    "retrieval_ndcg@k": "Retrieval nDCG@k",
    "abstain_correct": "Correct refusals (unanswerable)",
    "abstain_wrong": "Wrong refusals (answerable)",
    "format_adherence": "Format adherence",
    "leak_rate": "Leak rate",
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


@dataclass(frozen=True)
class MetricRow:
    arm: str
    cells: list[Estimate | None]  # aligned with MetricTable.metrics


@dataclass(frozen=True)
class MetricTable:
    metrics: list[str]
    rows: list[MetricRow]


@dataclass(frozen=True)
class ComparisonRow:
    a: str
    b: str
    metric: str
    diff: Estimate
    p_value: Number | None
    test: str
    winner: str | None  # None: the difference is inside the noise (a tie)


def metric_table(metrics: ReportField, arm_order: list[str], wanted: list[str]) -> MetricTable | None:
    """Rows for the arms that have any of `wanted`, columns for the metrics some arm has."""
    per_arm = dict(metrics.entries())
    arms = [arm for arm in arm_order if arm in per_arm] + [arm for arm in per_arm if arm not in arm_order]
    present = [m for m in wanted if any(per_arm[arm].field(m).present for arm in arms)]
    if not present:
        return None
    rows = [
        MetricRow(arm, [per_arm[arm].field(m).estimate(m, arm) for m in present])
        for arm in arms
        if any(per_arm[arm].field(m).present for m in present)
    ]
    return MetricTable(present, rows)


def metric_tables(report: ReportField, arm_order: list[str]) -> dict[str, MetricTable]:
    """One table per group of METRIC_GROUPS that has data, plus "other" for metrics no group lists."""
    metrics = report.field("metrics")
    primary = report.field("primary_metric").text()
    grouped = {m for group in METRIC_GROUPS.values() for m in group}
    seen = [m for _, arm in metrics.entries() for m, _ in arm.entries()]
    wanted = {name: list(group) for name, group in METRIC_GROUPS.items()}
    wanted["other"] = list(dict.fromkeys(m for m in seen if m not in grouped))
    for names in wanted.values():
        if primary in names:  # the primary metric leads its table
            names.insert(0, names.pop(names.index(primary)))
    tables = {name: metric_table(metrics, arm_order, names) for name, names in wanted.items()}
    return {name: table for name, table in tables.items() if table}


def comparison_rows(report: ReportField) -> list[ComparisonRow]:
    rows = []
    for row in report.field("comparisons").elements():
        a, b, metric = (
            row.field("a").required_text(),
            row.field("b").required_text(),
            row.field("metric").text(),
        )
        pair = f"{a} vs {b}"
        diff = row.field("diff").number("signed", metric, pair)
        if diff is None:
            continue
        rows.append(
            ComparisonRow(
                a=a,
                b=b,
                metric=metric,
                diff=Estimate(
                    mean=diff,
                    low=row.field("low").number("rate", metric, pair),
                    high=row.field("high").number("rate", metric, pair),
                    n=row.field("n").number("count", metric, pair),
                ),
                p_value=row.field("p_value").number("p_value", metric, pair),
                test=row.field("test").text(),
                winner=row.field("winner").text() or None,
            )
        )
    return rows
