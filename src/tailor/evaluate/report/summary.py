"""summary.md: the verdict and the headline numbers, short enough for a pull-request comment."""

from __future__ import annotations

import re
from collections.abc import Callable

from tailor.evaluate.report.fields import Estimate, Number
from tailor.evaluate.report.metrics_view import MetricTable, metric_label
from tailor.evaluate.report.sections import TOTAL_STAGE
from tailor.evaluate.report.view import ReportView

SECOND_METRIC = "semantic_match"  # the correctness score the verdict is also checked under (recommend.py)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(text: str) -> str:
    """Text from report.json as inert markdown: one line, markdown syntax and HTML tags escaped."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _estimate(estimate: Estimate | None) -> str:
    if estimate is None:
        return "–"
    if estimate.low and estimate.high:
        return f"{estimate.mean.text} [{estimate.low.text}, {estimate.high.text}]"
    return estimate.mean.text


def _number(number: Number | None) -> str:
    return number.text if number else "–"


def _metric_column(table: MetricTable | None, metric: str) -> Callable[[str], str] | None:
    if table is None or metric not in table.metrics:
        return None
    index = table.metrics.index(metric)
    cells = {row.arm: row.cells[index] for row in table.rows}
    return lambda arm: _estimate(cells.get(arm))


def _columns(view: ReportView) -> list[tuple[str, Callable[[str], str]]]:
    """The headline columns that have data: primary metric, semantic match (the verdict's second opinion),
    grounding, refusals, p50 latency, cost."""
    table_of = {metric: table for table in view.tables.values() for metric in table.metrics}
    columns: list[tuple[str, Callable[[str], str] | None]] = [
        (
            f"{metric_label(view.primary_metric)} (95% CI)",
            _metric_column(table_of.get(view.primary_metric), view.primary_metric),
        ),
        (f"{metric_label(SECOND_METRIC)} (95% CI)", _metric_column(table_of.get(SECOND_METRIC), SECOND_METRIC)
         if view.primary_metric != SECOND_METRIC else None),
        (metric_label("grounded"), _metric_column(table_of.get("grounded"), "grounded")),
        (metric_label("abstain_correct"), _metric_column(table_of.get("abstain_correct"), "abstain_correct")),
    ]
    if view.latency and TOTAL_STAGE in view.latency.stages:
        index = view.latency.stages.index(TOTAL_STAGE)
        p50 = {row.arm: cell.p50 for row in view.latency.rows if (cell := row.stages[index])}
        columns.append(("p50 latency (ms)", lambda arm: _number(p50.get(arm))))
    if view.cost:
        per_1000 = {row.arm: row.per_1000_queries for row in view.cost.rows}
        columns.append(
            (f"{md(view.cost.currency)} per 1,000 queries", lambda arm: _number(per_1000.get(arm)))
        )
    return [(header, cell) for header, cell in columns if cell]


def _significance(view: ReportView) -> str:
    rows = [row for row in view.comparisons if row.metric == view.primary_metric]
    if not rows:
        return ""
    parts = [
        f"{md(row.a)} − {md(row.b)} = {_estimate(row.diff)}: "
        + (f"{md(row.winner)} wins" if row.winner else "tie")
        for row in rows
    ]
    return f"**{metric_label(view.primary_metric)}, pairwise:** " + "; ".join(parts) + "."


SHOWN = 8  # other metrics beyond the noise, fingerprints and runs listed in summary.md


def _since_baseline(view: ReportView) -> list[str]:
    since = view.baseline
    if since is None:
        return []
    label = metric_label(since.primary_metric)
    verdict = (f"**Verdict changed: {md(since.verdict_before or 'none')} → {md(since.verdict_after)}**"
               if since.verdict_changed else f"Verdict unchanged: {md(since.verdict_after)}")
    rule = f" (now decided by {md(since.decided_by)})" if since.decided_by else " (no deciding rule fired)"
    lines = [f"**Since the baseline** ({md(since.source)}{', revision ' + md(since.revision) if since.revision else ''}):"
             f" {_number(since.matched)} questions paired, {len(since.added)} added, {len(since.dropped)} dropped, "
             f"{len(since.reworded)} reworded. {verdict}{rule}.", "",
             f"| Arm | {label}: baseline | this run | difference (95% CI) | change |", "|---|---|---|---|---|"]
    lines += [f"| {md(d.arm)} | {_number(d.before)} | {_number(d.after)} | {_estimate(d.diff)} | "
              f"{'**worse**' if d.change == 'worse' else d.change} |" for d in since.primary]
    lines.append("")
    if others := since.beyond_noise:
        listed = [f"{md(d.arm)} {metric_label(d.metric)} {_estimate(d.diff)} {d.change}" for d in others[:SHOWN]]
        more = f" and {len(others) - SHOWN} more" if len(others) > SHOWN else ""
        lines += ["Other metrics beyond the 95% CI: " + "; ".join(listed) + more + ".", ""]
    if since.fingerprints:
        changed = [f"{md(f.name)} {md(f.before)} → {md(f.after)}" for f in since.fingerprints[:SHOWN]]
        lines += ["Changed since the baseline: " + "; ".join(changed) + ".", ""]
    return lines


def _trend(view: ReportView) -> list[str]:
    history = view.history
    if history is None:
        return []
    runs = history.runs[-SHOWN:]
    per_arm = [f"{md(arm)} " + " → ".join(e.mean.text if (e := run.arms.get(arm)) else "–" for run in runs)
               for arm in history.arms]
    return [f"**Trend** (last {len(runs)} runs, {metric_label(history.metric)}): " + "; ".join(per_arm) + ".", ""]


def _question_source(view: ReportView) -> list[str]:
    """Generated questions are said so, with the documents on each side of their split (none for a file)."""
    if not view.run.questions_generated:
        return []
    sides = view.run.question_documents
    split = (f" ({_number(sides.get('questions'))} held out for the questions, "
             f"{_number(sides.get('training'))} for training)") if sides else ""
    return [f"**Questions:** generated from held-out documents{split}, not written by a person.", ""]


def render_summary(view: ReportView) -> str:
    lines: list[str] = []
    if view.verdict:
        lines += [
            f"## Tailor compare: {md(view.verdict.headline)}",
            "",
            f"**Recommendation: {md(view.verdict.verdict)}**",
            "",
        ]
        if view.verdict.metric_note:
            lines += [f"**Metric-dependent verdict:** {md(view.verdict.metric_note)}", ""]
        if view.verdict.beside:
            lines += [f"**Beside it:** {md(view.verdict.beside)}.", ""]
        lines += [f"- **{md(rule.name)}**: {md(rule.because)}" for rule in view.verdict.fired] or [
            "No rule fired."
        ]
        lines.append("")
    else:
        lines += ["## Tailor compare", ""]
    lines += _question_source(view)
    columns = _columns(view)
    lines.append("| Arm | Generator | Model | " + " | ".join(header for header, _ in columns) + " |")
    lines.append("|---" * (3 + len(columns)) + "|")
    for arm in view.ran_arms:
        cells = [md(arm.name), md(arm.generator), md(arm.model), *(cell(arm.name) for _, cell in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for arm in view.skipped_arms:
        lines.append(
            f"- Skipped **{md(arm.name)}** ({md(arm.generator)}, {md(arm.model)}): {md(arm.skip_reason or 'no reason recorded')}"
        )
    if view.skipped_arms:
        lines.append("")
    if significance := _significance(view):
        lines += [significance, ""]
    if view.freshness:
        fresh = [f"{md(row.arm)} {_estimate(row.after)}" for row in view.freshness.rows]
        lines += ["**Fresh after the change set:** " + ", ".join(fresh) + ".", ""]
    lines += _since_baseline(view) + _trend(view)
    footer = [
        f"Tailor {md(view.tailor_version)}" if view.tailor_version else "",
        md(view.created_at),
        md(view.command),
    ]
    lines.append(" · ".join(part for part in footer if part) + " · full report: report.html")
    return "\n".join(lines) + "\n"
