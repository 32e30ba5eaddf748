"""The chosen setting and the defaults, each asked every held-out question: the only scores the report
gives as results (the development scores chose them, so they are optimistic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.stats import compare_paired, estimate_dict
from tailor.evaluate.tune.arms import TunedArm
from tailor.evaluate.tune.measure import Measure


def held_out(arm: TunedArm, chosen: Any, default: Any, test: Sequence[Question], resamples: int,
             seed: int) -> dict[str, Any]:
    """Accuracy with its 95% bootstrap CI for each, the paired difference (tuned - default), latency, cost."""
    tuned = arm.measure(chosen, test, f"{arm.name}: held-out, tuned")
    base = tuned if chosen == default else arm.measure(default, test, f"{arm.name}: held-out, defaults")
    ids = sorted(tuned.correct)
    diff = compare_paired("tuned", "defaults", "accuracy", [tuned.correct[i] for i in ids],
                          [base.correct[i] for i in ids], resamples, seed)
    return {"questions": len(test), "answerable": len(ids), "same_settings": chosen == default,
            "tuned": _row(tuned, resamples, seed), "defaults": _row(base, resamples, seed),
            "difference": diff.to_dict() if diff else None}


def _row(measured: Measure, resamples: int, seed: int) -> dict[str, Any]:
    return {"accuracy": estimate_dict(list(measured.correct.values()), resamples, seed),
            "abstain_correct": measured.abstain_correct, "p50_ms": round(measured.p50_ms, 1),
            "cost_per_1000": measured.cost_per_1000, "setup_seconds": measured.setup_seconds}
