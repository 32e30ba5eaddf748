"""The report's charts: small matplotlib PNGs embedded as data URIs (no pyplot, no global state).

Each function takes a section of the view and returns None when there is nothing to draw. Every chart
has alt text, and the numbers it shows are also in a table next to it.
"""

from __future__ import annotations

import base64
import io
import textwrap
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tailor.evaluate.report.fields import Estimate
from tailor.evaluate.report.metrics_view import MetricTable, metric_label
from tailor.evaluate.report.sections import Forgetting, Freshness, Latency, Leak
from tailor.evaluate.report.since import History

SIZE = (6.0, 3.0)  # inches
DPI = 100
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
STAGE_PALETTE = ("#2F4B7C", "#A0B9D9", "#F6C85F", "#6F4E7C", "#9DD866")  # stages are not arms: other colors


@dataclass(frozen=True)
class Chart:
    uri: str  # data:image/png;base64,...
    alt: str


def arm_colors(arms: list[str]) -> dict[str, str]:
    """One color per arm, the same in every chart."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}


def _legend(axes: Axes) -> None:
    """Outside the plot, on the right, so it never hides a bar."""
    axes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _encode(figure: Figure, alt: str) -> Chart:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return Chart("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), alt)


def _grouped_bars(
    groups: list[str], series: list[tuple[str, list[Estimate | None]]], colors: dict[str, str], ylabel: str
) -> Figure:
    """Bars per group (x) and series (color), each with its 95% CI as an error bar."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    for s, (name, estimates) in enumerate(series):
        xs = [g + (s - (len(series) - 1) / 2) * width for g, e in enumerate(estimates) if e]
        shown = [e for e in estimates if e]
        errors = [[e.error_below for e in shown], [e.error_above for e in shown]]
        axes.bar(
            xs,
            [e.mean.value for e in shown],
            width,
            yerr=errors,
            capsize=3,
            label=name,
            color=colors.get(name),
        )
    axes.set_xticks(
        range(len(groups)), [textwrap.fill(g, 12, break_long_words=False) for g in groups], fontsize=7
    )
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    _legend(axes)
    return figure


def metric_bars(tables: list[MetricTable], colors: dict[str, str], subject: str) -> Chart | None:
    """Per-arm bars of every metric in the tables, with error bars for the 95% CIs."""
    metrics = [(table, i, metric) for table in tables for i, metric in enumerate(table.metrics)]
    if not metrics:
        return None
    found = {row.arm for table in tables for row in table.rows}
    arms = [arm for arm in colors if arm in found] + sorted(found - colors.keys())
    series = []
    for arm in arms:
        cells = []
        for table, i, _ in metrics:
            row = next((r for r in table.rows if r.arm == arm), None)
            cells.append(row.cells[i] if row else None)
        series.append((arm, cells))
    labels = [metric_label(metric) for _, _, metric in metrics]
    figure = _grouped_bars(labels, series, colors, "share (95% CI)")
    alt = f"Bar chart of {subject} per arm ({', '.join(arms)}): {', '.join(labels)}, with 95% confidence intervals."
    return _encode(figure, alt)


def freshness_bars(freshness: Freshness, colors: dict[str, str]) -> Chart | None:
    """Share of fresh answers before and after the change set, per arm."""
    rows = [row for row in freshness.rows if row.before or row.after]
    if not rows:
        return None
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    for r, row in enumerate(rows):
        for offset, estimate, hatch in ((-0.2, row.before, "//"), (0.2, row.after, "")):
            if estimate:
                axes.bar(
                    r + offset,
                    estimate.mean.value,
                    0.38,
                    yerr=[[estimate.error_below], [estimate.error_above]],
                    capsize=3,
                    color=colors.get(row.arm),
                    hatch=hatch,
                    edgecolor="white",
                )
    axes.set_xticks(range(len(rows)), [row.arm for row in rows], fontsize=8)
    axes.set_ylabel("fresh share (95% CI)")
    axes.set_title("hatched: before the change set, solid: after", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    alt = "Bar chart of the share of answers with the current fact before and after the change set, per arm."
    return _encode(figure, alt)


def latency_stack(latency: Latency) -> Chart | None:
    """p50 of each stage stacked per arm; a black tick marks the p50 of the whole query."""
    parts = latency.parts
    stage_index = {stage: i for i, stage in enumerate(latency.stages)}
    if not parts and "total" not in stage_index:
        return None
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    arms = [row.arm for row in latency.rows]
    bottoms = [0.0] * len(arms)
    for p, stage in enumerate(parts):
        heights = [
            cell.p50.value if (cell := row.stages[stage_index[stage]]) and cell.p50 else 0.0
            for row in latency.rows
        ]
        axes.bar(arms, heights, 0.6, bottom=bottoms, label=stage, color=STAGE_PALETTE[p % len(STAGE_PALETTE)])
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    if "total" in stage_index:
        totals = [
            (a, cell.p50.value)
            for a, row in enumerate(latency.rows)
            if (cell := row.stages[stage_index["total"]]) and cell.p50
        ]
        axes.scatter(
            [a for a, _ in totals],
            [t for _, t in totals],
            marker="_",
            s=400,
            color="black",
            label="total p50",
            zorder=3,
        )
    axes.set_ylabel("p50 latency (ms)")
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(axis="y", alpha=0.3)
    _legend(axes)
    alt = f"Stacked bar chart of median latency per stage ({', '.join(parts)}) for each arm, in milliseconds."
    return _encode(figure, alt)


def forgetting_scatter(forgetting: Forgetting, colors: dict[str, str]) -> Chart | None:
    """Domain gain (y) against the change of perplexity on general text (x), per arm."""
    points = [
        (row.arm, row.perplexity_change, row.domain_gain)
        for row in forgetting.rows
        if row.perplexity_change and row.domain_gain
    ]
    if not points:
        return None
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    for arm, x, y in points:
        axes.errorbar(
            x.mean.value,
            y.mean.value,
            xerr=[[x.error_below], [x.error_above]],
            yerr=[[y.error_below], [y.error_above]],
            fmt="o",
            capsize=3,
            color=colors.get(arm),
            label=arm,
        )
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_xlabel("perplexity change on general text (higher: more forgetting)", fontsize=8)
    axes.set_ylabel("domain gain", fontsize=8)
    _legend(axes)
    alt = "Scatter plot of domain gain against the change of general-text perplexity per arm, with 95% CIs."
    return _encode(figure, alt)


def leak_bars(leak: Leak, colors: dict[str, str]) -> Chart | None:
    """Left: the share of answers stating a restricted fact, per arm. Right, when the weights probe ran: how
    often each adapter ranks the restricted answer first (solid) against its base model (hatched), per set."""
    stated = [row for row in leak.rows if row.leak_rate]
    weights = [row for row in leak.weights.rows if row.gold_first and row.gold_first_base] if leak.weights else []
    if not stated and not weights:
        return None
    figure = Figure(figsize=SIZE)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]}) if weights else (figure.add_subplot(), None)
    for i, row in enumerate(stated):
        estimate = row.leak_rate
        assert estimate is not None
        left.bar(i, estimate.mean.value, 0.7, yerr=[[estimate.error_below], [estimate.error_above]], capsize=3,
                 color=colors.get(row.arm))
    left.set_xticks(range(len(stated)), [textwrap.fill(r.arm, 12, break_long_words=False) for r in stated], fontsize=6,
                    rotation=90)
    left.set_ylim(0, 1)
    left.set_ylabel("restricted facts stated (95% CI)", fontsize=7)
    left.grid(axis="y", alpha=0.3)
    if right is not None:
        for i, row in enumerate(weights):
            for offset, estimate, hatch in ((-0.2, row.gold_first_base, "//"), (0.2, row.gold_first, "")):
                assert estimate is not None
                right.bar(i + offset, estimate.mean.value, 0.38, yerr=[[estimate.error_below], [estimate.error_above]],
                          capsize=3, color=colors.get(row.arm, PALETTE[-1]), hatch=hatch, edgecolor="white")
        labels = [textwrap.fill(f"{row.arm} · {row.question_set}", 14, break_long_words=False) for row in weights]
        right.set_xticks(range(len(weights)), labels, fontsize=6, rotation=90)
        right.set_ylabel("restricted answer ranked first", fontsize=7)
        right.set_title("hatched: base model, solid: with the adapter", fontsize=7)
        right.grid(axis="y", alpha=0.3)
    alt = "Bar chart of the share of answers stating restricted facts per arm" + (
        ", and of how often each adapter ranks the restricted answer first against its base model." if weights else ".")
    return _encode(figure, alt)


def history_trend(history: History, colors: dict[str, str]) -> Chart | None:
    """The primary metric of each arm over the runs recorded in OUT (oldest left), with 95% CIs."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    for arm in history.arms:
        points = [(i, e) for i, run in enumerate(history.runs) if (e := run.arms.get(arm))]
        if not points:
            continue
        axes.errorbar([i for i, _ in points], [e.mean.value for _, e in points],
                      yerr=[[e.error_below for _, e in points], [e.error_above for _, e in points]], fmt="o-",
                      capsize=3, color=colors.get(arm, PALETTE[-1]), label=arm)
    axes.set_xticks(range(len(history.runs)), [run.label for run in history.runs], fontsize=6, rotation=30)
    axes.set_ylabel(f"{metric_label(history.metric)} (95% CI)", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    _legend(axes)
    alt = (f"Line chart of {metric_label(history.metric)} per arm over the last {len(history.runs)} runs "
           f"({', '.join(history.arms)}), with 95% confidence intervals.")
    return _encode(figure, alt)
