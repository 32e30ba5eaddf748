"""tune.json (every number) and report.html (tables and the front's figure, one self-contained file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tailor.evaluate.tune.figure import front_figure

TEMPLATES = Path(__file__).parent / "templates"


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    paths = {"json": out / "tune.json", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=2, default=str) + "\n")
    # Our own template, but the report's values come from the tune folder's data: the sandbox costs nothing.
    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "jinja"]))
    html = env.get_template("tune.html.jinja").render(report=report, figure=front_figure(report["arms"]))
    paths["html"].write_text(html)
    return paths
