"""The front as a figure: accuracy against p50 latency per arm, every trial grey, the front coloured by
cost per 1,000 queries (and sized by it); a PNG embedded as a data URI."""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib.figure import Figure

DPI = 100


def front_figure(arms: dict[str, dict[str, Any]]) -> str | None:
    """A data URI, or None when no arm has a finished trial."""
    drawn = {name: arm for name, arm in arms.items() if arm["front"]}
    if not drawn:
        return None
    figure = Figure(figsize=(5.0 * len(drawn), 3.6), dpi=DPI, layout="constrained")
    for axes, (name, arm) in zip(figure.subplots(1, len(drawn), squeeze=False)[0], drawn.items(), strict=True):
        done = [r for r in arm["trials"] if r["values"]]
        axes.scatter([r["values"][1] for r in done], [r["values"][0] for r in done], s=14, color="#BBBBBB",
                     label="trials")
        front = arm["front"]
        costs = [p["cost_per_1000"] for p in front]
        top = max(costs) or 1.0
        points = axes.scatter([p["p50_ms"] for p in front], [p["accuracy"] for p in front], c=costs,
                              s=[40 + 160 * c / top for c in costs], cmap="viridis", edgecolors="black",
                              label="front")
        for p in front:
            axes.annotate(f"{name}-{p['rank']}" + (" (defaults)" if p["defaults"] else ""),
                          (p["p50_ms"], p["accuracy"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        figure.colorbar(points, ax=axes, label="cost per 1,000 queries")
        stopped = len(arm["trials"]) - len(done)
        axes.set_title(f"{name}: {len(done)} trials on every dev question, {stopped} stopped early", fontsize=10)
        axes.set_xlabel("p50 latency (ms)")
        axes.set_ylabel("accuracy")
        axes.legend(fontsize=7, loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
