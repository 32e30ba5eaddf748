"""tailor compare's console summary: arm and generator names are shown whole, however narrow the console."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import tailor.cli.compare as compare_cli

SAMPLE = Path(__file__).resolve().parents[1] / "evaluate" / "fixtures" / "report_sample.json"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_arm_and_generator_names_are_never_cut(monkeypatch, width):
    report = json.loads(SAMPLE.read_text())
    long_generator = "hf:/root/.tailor/models/gguf-0123456789abcdef0123456789abcdef/SmolLM2-135M-Instruct"
    report["arms"][0]["generator"] = long_generator
    report["recommendation"]["beside"] = "rag_extractive: p50 61 ms, absorbs new data in 6.4 s (re-index, measured)"
    out = io.StringIO()
    monkeypatch.setattr(compare_cli, "console", Console(file=out, width=width))
    compare_cli._print_summary(report)
    text = out.getvalue()
    assert "…" not in text.split("Recommendation:")[0]
    cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    for arm in report["arms"]:
        assert arm["name"] in cells
    folded = "".join(line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│"))
    assert long_generator in folded
    assert "Beside it: rag_extractive: p50 61 ms" in " ".join(text.split())
