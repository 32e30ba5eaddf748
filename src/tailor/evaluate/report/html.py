"""report.html: one self-contained page (inline CSS, charts as data URIs, no script, no external URL).

Autoescaping is on: answers, quotes and passages are document text and render as text. A strict
Content-Security-Policy in the page forbids scripts and remote loads as a second line of defence.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tailor.evaluate.report.figures import (
    Chart,
    arm_colors,
    forgetting_scatter,
    freshness_bars,
    latency_stack,
    leak_bars,
    metric_bars,
)
from tailor.evaluate.report.metrics_view import metric_label
from tailor.evaluate.report.view import ReportView

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["repr"] = repr
    environment.globals["metric_label"] = metric_label
    return environment


def charts(view: ReportView) -> dict[str, Chart]:
    """The charts that have data, keyed by the section they belong to."""
    colors = arm_colors([arm.name for arm in view.arms])
    tables = view.tables
    drawn = {
        "correctness": metric_bars(
            [t for k in ("correctness",) if (t := tables.get(k))], colors, "correctness"
        ),
        "grounding": metric_bars(
            [t for k in ("grounding", "abstention") if (t := tables.get(k))],
            colors,
            "grounding and abstention",
        ),
        "freshness": freshness_bars(view.freshness, colors) if view.freshness else None,
        "latency": latency_stack(view.latency) if view.latency else None,
        "forgetting": forgetting_scatter(view.forgetting, colors) if view.forgetting else None,
        "format": metric_bars([view.format.table], colors, "format adherence") if view.format else None,
        "leak": leak_bars(view.leak, colors) if view.leak else None,
    }
    return {section: chart for section, chart in drawn.items() if chart}


def render_html(view: ReportView) -> str:
    return _environment().get_template("report.html.jinja").render(view=view, charts=charts(view))
