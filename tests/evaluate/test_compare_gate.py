"""The gate: each failing condition one line with its numbers; a tie inside the CI never fails."""

from __future__ import annotations

import numpy as np
import pytest

from tailor.evaluate.compare.baseline import Asked, differences
from tailor.evaluate.compare.gate import Bound, Gate


def section(old: list[float], new: list[float], changed: bool = False) -> dict:
    pairs = [(Asked(f"q{i}", "x", {"rag": {"accuracy": o}}), Asked(f"q{i}", "x", {"rag": {"accuracy": n}}))
             for i, (o, n) in enumerate(zip(old, new, strict=True))]
    return {"primary_metric": "accuracy", "differences": differences(pairs, ["rag"], 1000, 0),
            "questions": {"matched": len(pairs), "added": [], "dropped": []}, "arms": {"skipped": {}},
            "verdict": {"before": "finetune" if changed else "rag", "after": "rag", "changed": changed,
                        "decided_by": "rag_ties_or_wins", "because": "rag 0.600 [0.500, 0.700] vs tuned 0.100"}}


def report(baseline: dict | None = None) -> dict:
    return {
        "primary_metric": "accuracy", "baseline": baseline, "prices": {"currency": "EUR"},
        "arms": [{"name": "rag", "status": "ran"}, {"name": "remote", "status": "skipped", "skip_reason": "offline"}],
        "metrics": {"rag": {"accuracy": {"mean": 0.5, "low": 0.4, "high": 0.6, "n": 50}}},
        "latency": {"rag": {"total": {"p50": 420.0, "p95": 900.0}}},
        "cost": {"rag": {"per_1000_queries": 0.25}},
    }


REGRESSION = Gate(frozenset({"regression"}))
rng = np.random.default_rng(0)
OLD = list(rng.integers(0, 2, 60).astype(float))


def test_an_identical_rerun_passes_every_condition():
    gate = Gate(frozenset({"regression", "verdict-change"}), (Bound.parse("rag.accuracy=0.5", "min"),
                                                               Bound.parse("rag.p50_ms=420", "max")))
    assert gate.check(report(section(OLD, OLD))) == []


def test_a_drop_beyond_the_ci_fails_with_arm_metric_and_interval():
    dropped = [0.0 if i % 2 else v for i, v in enumerate(OLD)]  # half the right answers lost
    [line] = REGRESSION.check(report(section(OLD, dropped)))
    d = section(OLD, dropped)["differences"][0]
    assert d["high"] < 0
    assert line == (f"regression: rag accuracy {d['before']:.3f} -> {d['after']:.3f}, difference {d['diff']:+.3f} "
                    f"[{d['low']:+.3f}, {d['high']:+.3f}] (95% CI, 60 questions in both runs)")


@pytest.mark.parametrize("flipped", [1, 2, 3])
def test_a_drop_inside_the_ci_is_a_tie_and_never_fails(flipped):
    rights = [i for i, v in enumerate(OLD) if v == 1.0][:flipped]
    new = [0.0 if i in rights else v for i, v in enumerate(OLD)]
    d = section(OLD, new)["differences"][0]
    assert d["diff"] < 0 and d["low"] <= 0 <= d["high"] and d["change"] == "tie"
    assert REGRESSION.check(report(section(OLD, new))) == []


def test_an_improvement_never_fails_the_regression_gate():
    assert REGRESSION.check(report(section([0.0] * 30, [1.0] * 30))) == []


def test_a_verdict_change_fails_naming_the_rule_that_decides_now():
    gate = Gate(frozenset({"verdict-change"}))
    assert gate.check(report(section(OLD, OLD, changed=True))) == [
        "verdict changed: finetune -> rag (now decided by rag_ties_or_wins: rag 0.600 [0.500, 0.700] vs tuned 0.100)"]
    assert gate.check(report(section(OLD, OLD))) == []


@pytest.mark.parametrize("kind, text, line", [
    ("min", "rag.accuracy=0.55", "--min rag.accuracy=0.55: rag accuracy 0.500 [0.400, 0.600] is below 0.55"),
    ("max", "rag.p50_ms=400", "--max rag.p50_ms=400: rag p50_ms 420.0 ms is above 400"),
    ("max", "rag.per_1000_queries=0.2", "--max rag.per_1000_queries=0.2: rag per_1000_queries 0.2500 EUR is above 0.2"),
    ("min", "remote.accuracy=0.1", "--min remote.accuracy=0.1: not measured (arm remote skipped: offline)"),
    ("min", "rag.f1=0.1", "--min rag.f1=0.1: not measured (rag has no 'f1'; it has ['accuracy', 'p50_ms', 'p95_ms', "
                          "'per_1000_queries'])"),
])
def test_a_bound_fails_on_its_side_with_the_measured_value(kind, text, line):
    assert Gate(bounds=(Bound.parse(text, kind),)).check(report()) == [line]


def test_bounds_on_the_right_side_pass():
    bounds = (Bound.parse("rag.accuracy=0.45", "min"), Bound.parse("rag.p50_ms=500", "max"),
              Bound.parse("rag.p95_ms=900", "max"))
    assert Gate(bounds=bounds).check(report()) == []


@pytest.mark.parametrize("text, problem", [
    ("rag.accuracy", "expected ARM.MEASURE=VALUE"), ("rag=0.5", "expected ARM.MEASURE=VALUE"),
    ("rag.accuracy=high", "'high' is not a number"),
])
def test_a_malformed_bound_is_a_clear_error(text, problem):
    with pytest.raises(ValueError, match=problem):
        Bound.parse(text, "min")


def test_an_arm_name_with_dots_keeps_them():
    assert Bound.parse("rag.v2.accuracy=0.5", "min") == Bound("rag.v2", "accuracy", 0.5, "min")


def test_fail_on_without_a_baseline_section_fails_rather_than_passing():
    assert REGRESSION.check(report()) == ["--fail-on regression: no baseline to compare with (--baseline)"]


def test_an_arm_skipped_now_or_no_shared_question_fails_the_regression_gate():
    skipped = section(OLD, OLD) | {"arms": {"skipped": {"rag_llm": "base model 'x' is not available offline"}}}
    assert REGRESSION.check(report(skipped)) == [
        "regression: rag_llm ran in the baseline and was skipped in this run (base model 'x' is not available offline)"]
    nothing = section([], []) | {"questions": {"matched": 0, "added": ["q9"], "dropped": ["q1", "q2"]}}
    assert REGRESSION.check(report(nothing)) == [
        "regression: no question was asked by both runs (1 added, 2 dropped): nothing to compare"]
