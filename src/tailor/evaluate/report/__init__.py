"""The `tailor compare` report: report.json (a dict) rendered as report.html and summary.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tailor.evaluate.report.fields import ReportError
from tailor.evaluate.report.html import render_html
from tailor.evaluate.report.summary import render_summary
from tailor.evaluate.report.view import ReportView, build_view

__all__ = ["ReportError", "ReportView", "build_view", "render_html", "render_summary", "write_report"]


def _write_atomically(path: Path, text: str) -> None:
    """A reader (or a killed run) never sees half a file."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write OUT/report.html and OUT/summary.md; raises ReportError naming a field it cannot use."""
    view = build_view(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "report.html", "summary": out_dir / "summary.md"}
    _write_atomically(paths["html"], render_html(view))
    _write_atomically(paths["summary"], render_summary(view))
    return paths
