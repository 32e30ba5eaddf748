"""report.html: one self-contained page (inline CSS, charts as data URIs, one inline script, no external URL).

Autoescaping is on: document text renders as text. The per-question detail is data, not markup: the
compact tables of questions.py, gzipped into one base64 block that the page's script unpacks, filters
and pages, writing text nodes only. The page's Content-Security-Policy allows that script alone (by its
hash) and no remote load, as a second line of defence.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from tailor.evaluate.report.figures import (
    Chart,
    arm_colors,
    forgetting_scatter,
    freshness_bars,
    history_trend,
    latency_stack,
    leak_bars,
    metric_bars,
)
from tailor.evaluate.report.metrics_view import metric_label
from tailor.evaluate.report.questions import CORRECT_AT, OUTCOMES, QuestionTable
from tailor.evaluate.report.view import ReportView

TEMPLATES = Path(__file__).parent / "templates"
SCRIPT = TEMPLATES / "questions.js"


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
        "history": history_trend(view.history, colors) if view.history else None,
    }
    return {section: chart for section, chart in drawn.items() if chart}


@dataclass(frozen=True)
class Script:
    text: Markup  # our own file, inlined as is
    source: str  # its Content-Security-Policy source, 'sha256-...'


@cache
def _script() -> Script:
    text = SCRIPT.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Script(Markup(text), f"'sha256-{digest}'")


def packed_questions(table: QuestionTable) -> str:
    """The table's JSON, gzipped (a third of its size) and base64-encoded: inert in HTML, which has no
    markup in the alphabet A-Z a-z 0-9 + / =."""
    text = json.dumps(table.data(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def render_html(view: ReportView) -> str:
    packed = packed_questions(view.questions) if view.questions.rows else None
    return (
        _environment()
        .get_template("report.html.jinja")
        .render(
            view=view,
            charts=charts(view),
            packed=packed,
            script=_script(),
            outcomes=OUTCOMES,
            correct_at=CORRECT_AT,
        )
    )
