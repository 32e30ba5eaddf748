"""`make demo`: `tailor compare examples/handbook`, offline, and where the report is.

Closed book, RAG (the extractive reader and SmolLM2-135M-Instruct), fine-tuned and hybrid arms answer a
seeded sample of the handbook's held-out questions; the change set in examples/handbook/changes/ probes
freshness; the report lands in out/demo/ (report.html, report.json, summary.md). A second run reuses the
converted model, the adapters and every cached answer; the weights' probes (leak likelihoods, forgetting)
run again: 90 s here instead of 6-7 minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HANDBOOK = Path(__file__).resolve().parent / "handbook"
OUT = Path(os.environ.get("TAILOR_DEMO_OUT", Path.cwd() / "out" / "demo"))


def main() -> None:
    command = [sys.executable, "-m", "tailor.cli", "compare", str(HANDBOOK), "--out", str(OUT)]
    print(f"$ tailor compare {HANDBOOK} --out {OUT}", flush=True)
    code = subprocess.call(command)
    if code == 0:
        print(f"\nOpen the report: {OUT / 'report.html'}")
    sys.exit(code)


if __name__ == "__main__":
    main()
