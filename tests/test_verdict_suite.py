"""benchmarks/verdict_suite.py: the regret of the dev run's recommendation, scored on the test run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from verdict_suite import task_result  # noqa: E402


def run_report(verdict_arm: str, semantic_arm: str, scores: dict[str, list[tuple[float, float]]]) -> dict:
    """A compare report: each arm's (accuracy, semantic_match) per question, and the arms the rules chose."""
    n = len(next(iter(scores.values())))
    metrics = {arm: {m: {"mean": sum(row[i] for row in rows) / n} for i, m in enumerate(("accuracy", "semantic_match"))}
               for arm, rows in scores.items()}
    per_question = [{"answers": {arm: {"scores": {"accuracy": rows[q][0], "semantic_match": rows[q][1]}}
                                 for arm, rows in scores.items()}} for q in range(n)]
    return {"primary_metric": "accuracy", "questions": {"count": n}, "metrics": metrics, "per_question": per_question,
            "recommendation": {"verdict": "rag", "arm": verdict_arm, "headline": "Use RAG",
                               "under_semantic_match": {"arm": semantic_arm}, "metric_dependent": False}}


def test_regret_is_the_best_test_arm_minus_the_arm_recommended_on_dev_on_each_metric():
    # On test, rag is right on 8 of 10 and finetuned on 5 (accuracy); on semantic match finetuned on 9, rag on 8.
    test = run_report("rag", "finetuned", {"rag": [(1.0, 1.0)] * 8 + [(0.0, 0.0)] * 2,
                                           "finetuned": [(1.0, 1.0)] * 5 + [(0.0, 1.0)] * 4 + [(0.0, 0.0)]})
    dev = run_report("finetuned", "rag", {"rag": [(1.0, 1.0)], "finetuned": [(1.0, 1.0)]})
    result = task_result(dev, test, {"dev": 1.0, "test": 2.0})
    accuracy = result["regret_accuracy"]
    assert (accuracy["best"], accuracy["recommended"]) == ("rag", "finetuned")
    assert accuracy["regret"] == pytest.approx(0.3) and accuracy["low"] <= 0.3 <= accuracy["high"]
    semantic = result["regret_semantic_match"]  # the arm dev recommends when semantic match decides: rag
    assert (semantic["best"], semantic["recommended"]) == ("finetuned", "rag")
    assert semantic["regret"] == pytest.approx(0.1)
    assert result["dev_arm"] == "finetuned" and result["dev_arm_under_semantic_match"] == "rag"


def test_a_recommendation_of_the_best_test_arm_has_no_regret():
    test = run_report("rag", "rag", {"rag": [(1.0, 1.0)] * 6 + [(0.0, 0.0)] * 4, "finetuned": [(0.0, 0.0)] * 10})
    result = task_result(test, test, {})
    assert result["regret_accuracy"]["regret"] == 0.0 == result["regret_accuracy"]["high"]
