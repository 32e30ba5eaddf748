"""Since the baseline: questions matched by id and text, paired differences with their CIs, the verdict and
the fingerprints that changed; and OUT/history.jsonl with the report's trend."""

from __future__ import annotations

import html as html_text
import json
import re

import numpy as np
import pytest

from tailor.evaluate.compare.baseline import (
    Asked,
    asked_in_report,
    differences,
    fingerprints,
    load_baseline,
    match,
    since_baseline,
)
from tailor.evaluate.compare.history import append_history, history_entry, read_history, with_history
from tailor.evaluate.compare.stats import compare_paired
from tailor.evaluate.report import build_view, render_html, render_summary


def asked(qid: str, text: str, **arms: dict[str, float]) -> Asked:
    return Asked(qid, text, arms)


def report(rows: list[Asked], verdict: str = "rag", deciding: str = "rag_ties_or_wins", **extra) -> dict:
    arms = sorted({arm for row in rows for arm in row.scores})
    means = {arm: {"accuracy": {"mean": float(np.mean([r.scores[arm]["accuracy"] for r in rows if arm in r.scores])),
                                "low": 0.0, "high": 1.0, "n": len(rows)}} for arm in arms}
    return {
        "created_at": "2026-12-07T06:00:00+0000", "primary_metric": "accuracy",
        "config": {"base_model": "scratch"}, "base_model": {"kind": "scratch", "path": "/home/models/scratch-abc"},
        "kb": {"version": 1, "fingerprint": "f" * 64},
        "arms": [{"name": arm, "status": "ran", "strategy": "rag", "generator": "extractive", "model": ""}
                 for arm in arms],
        "metrics": means, "latency": {arm: {"total": {"p50": 12.5}} for arm in arms},
        "cost": {arm: {"per_1000_queries": 0.01} for arm in arms}, "prices": {"currency": "EUR"},
        "questions": {"count": len(rows)},
        "recommendation": {"verdict": verdict, "headline": verdict, "rules": [
            {"name": "hybrid_beats_both", "decides": "hybrid", "fired": False, "because": "no hybrid arm"},
            {"name": deciding, "decides": verdict, "fired": True, "because": "the numbers"}]},
        "per_question": [{"id": r.id, "question": r.question, "answers": {arm: {"scores": s} for arm, s in
                                                                        r.scores.items()}} for r in rows],
        **extra,
    }


def test_questions_are_matched_by_id_and_text_the_rest_added_dropped_or_reworded():
    before = [asked("q1", "How much?", rag={"accuracy": 1.0}), asked("q2", "Who?", rag={"accuracy": 0.0}),
              asked("q3", "Where  is it?", rag={"accuracy": 1.0})]
    after = [asked("q1", " How  much? ", rag={"accuracy": 1.0}), asked("q2", "Who exactly?", rag={"accuracy": 1.0}),
             asked("q4", "When?", rag={"accuracy": 0.0})]
    found = match(before, after)
    assert [(old.id, new.id) for old, new in found.pairs] == [("q1", "q1")]  # whitespace aside, same text
    assert found.added == ["q4"] and found.dropped == ["q3"] and found.reworded == ["q2"]


def test_the_difference_is_the_paired_bootstrap_of_stats_on_the_matched_questions():
    rng = np.random.default_rng(1)
    old = rng.integers(0, 2, 40).astype(float)
    new = np.where(rng.random(40) < 0.3, 0.0, old)
    pairs = [(asked(f"q{i}", "x", rag={"accuracy": o}), asked(f"q{i}", "x", rag={"accuracy": n}))
             for i, (o, n) in enumerate(zip(old, new, strict=True))]
    [found] = differences(pairs, ["rag"], 1000, 0)
    expected = compare_paired("rag", "rag", "accuracy", list(new), list(old), 1000, 0)
    assert expected is not None
    assert (found["diff"], found["low"], found["high"], found["n"]) == (expected.diff, expected.low, expected.high, 40)
    assert found["before"] == pytest.approx(old.mean()) and found["after"] == pytest.approx(new.mean())
    assert found["change"] == ("worse" if expected.high < 0 else "tie")


@pytest.mark.parametrize("metric, old, new, change", [
    ("accuracy", 1.0, 0.0, "worse"), ("accuracy", 0.0, 1.0, "better"), ("accuracy", 1.0, 1.0, "tie"),
    ("abstain_wrong", 0.0, 1.0, "worse"), ("leak_rate", 1.0, 0.0, "better"),
])
def test_a_change_is_better_or_worse_by_the_metric_s_direction(metric, old, new, change):
    pairs = [(asked(f"q{i}", "x", a={metric: old}), asked(f"q{i}", "x", a={metric: new})) for i in range(10)]
    assert differences(pairs, ["a"], 200, 0)[0]["change"] == change


def test_a_metric_or_arm_only_one_run_has_is_not_paired():
    pairs = [(asked("q1", "x", a={"accuracy": 1.0}, gone={"accuracy": 1.0}),
              asked("q1", "x", a={"accuracy": 1.0, "format_adherence": 1.0}))]
    assert [(d["arm"], d["metric"]) for d in differences(pairs, ["a"], 200, 0)] == [("a", "accuracy")]


def test_the_section_names_the_verdict_change_the_deciding_rule_and_the_changed_fingerprints(tmp_path):
    rows = [asked(f"q{i}", f"question {i}", rag={"accuracy": float(i % 2)}) for i in range(6)]
    old = report(rows, verdict="no_clear_winner", deciding="nothing", prompts={"rag": "rag@aaaaaaaaaaaa"})
    old["recommendation"]["rules"][1]["fired"] = False
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "report.json").write_text(json.dumps(old))
    new_rows = [*rows[1:], asked("q9", "question 9", rag={"accuracy": 1.0})]
    new = report(new_rows, prompts={"rag": "rag@bbbbbbbbbbbb"})
    new["kb"]["version"] = 2
    baseline = load_baseline(tmp_path / "old")  # a folder: its report.json
    section = since_baseline(baseline, new, asked_in_report(new), 500, 0)
    assert section["source"] == str(tmp_path / "old" / "report.json")
    assert section["questions"] == {"matched": 5, "added": ["q9"], "dropped": ["q0"], "reworded": []}
    assert section["verdict"] == {"before": "no_clear_winner", "after": "rag", "changed": True,
                                  "decided_by": "rag_ties_or_wins", "because": "the numbers",
                                  "decided_by_before": None}
    assert {f["name"]: (f["before"], f["after"]) for f in section["fingerprints"]} == {
        "kb_version": ("1", "2"), "prompt.rag": ("rag@aaaaaaaaaaaa", "rag@bbbbbbbbbbbb")}
    [diff] = section["differences"]
    assert diff["diff"] == 0.0 and diff["change"] == "tie" and diff["n"] == 5

    new["baseline"] = section
    view = build_view(new)
    summary = render_summary(view)
    assert "**Verdict changed: no\\_clear\\_winner → rag** (now decided by rag\\_ties\\_or\\_wins)" in summary
    assert "5 questions paired, 1 added, 1 dropped, 0 reworded" in summary
    assert "kb\\_version 1 → 2" in summary and len(summary.splitlines()) < 40
    html = render_html(view)
    assert 'id="since-baseline"' in html and "verdict changed" in html and "rag@bbbbbbbbbbbb" in html
    assert_numbers_point_into(new, html, "/baseline/")


def test_fingerprints_read_base_model_kb_adapter_data_and_prompts():
    found = fingerprints(report([asked("q1", "x", tuned={"accuracy": 1.0})], prompts={"tuned": "qa@123"}) | {
        "arms": [{"name": "tuned", "adapter": {"dataset_hash": "d" * 64}}]})
    assert found == {"base_model": "scratch", "base_model_build": "scratch-abc", "kb_version": "1",
                     "kb_content": "f" * 12, "adapter_data.tuned": "d" * 12, "prompt.tuned": "qa@123"}


@pytest.mark.parametrize("content, problem", [
    (None, "no report.json there"), ("{", "not a readable report.json"), ('{"metrics": {}}', "no per_question"),
    ('{"per_question": [{"id": "q1", "question": "x"}, {"id": "q2"}]}', "/per_question/1 is not a question row"),
])
def test_a_bad_baseline_is_one_error_naming_it(tmp_path, content, problem):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=problem):
        load_baseline(tmp_path)


def test_each_run_appends_a_history_line_and_two_runs_draw_a_trend(tmp_path):
    first = report([asked("q1", "x", rag={"accuracy": 1.0}), asked("q2", "y", rag={"accuracy": 0.0})],
                   revision="abc123")
    first["history"] = with_history(tmp_path, first)
    assert len(first["history"]) == 1 and build_view(first).history is None  # one run is not a trend
    append_history(tmp_path, first["history"][-1])
    second = report([asked("q1", "x", rag={"accuracy": 1.0}), asked("q2", "y", rag={"accuracy": 1.0})])
    second["history"] = with_history(tmp_path, second)
    append_history(tmp_path, second["history"][-1])
    (tmp_path / "history.jsonl").open("a").write("not json\n")
    runs, problems = read_history(tmp_path)
    assert [r["arms"]["rag"]["mean"] for r in runs] == [0.5, 1.0] and runs[0]["revision"] == "abc123"
    assert runs[1] == history_entry(second)
    assert runs[0]["arms"]["rag"] == {"mean": 0.5, "low": 0.0, "high": 1.0, "n": 2, "p50_ms": 12.5,
                                      "per_1000_queries": 0.01}
    assert runs[0]["verdict"] == "rag" and runs[0]["fingerprints"]["base_model"] == "scratch"
    assert problems == [f"{tmp_path / 'history.jsonl'}:3: not JSON (Expecting value)"]
    view = build_view(second)
    assert view.history is not None and [run.label for run in view.history.runs][0] == "abc123"
    html = render_html(view)
    assert 'id="history"' in html and "Line chart of Accuracy per arm over the last 2 runs" in html
    assert "**Trend** (last 2 runs, Accuracy): rag 0.500 → 1.000." in render_summary(view)
    assert_numbers_point_into(second, html, "/history/")


def assert_numbers_point_into(report: dict, html: str, prefix: str) -> None:
    """Every number the page prints under `prefix` is the value at its JSON pointer in report.json."""
    found = re.findall(r'data-value="([^"]*)" data-source="([^"]*)"', html)
    checked = [(value, source) for value, source in found if source.startswith(prefix)]
    assert len(checked) >= 5
    for value, source in checked:
        document = report
        for part in source.strip("/").split("/"):
            document = document[int(part)] if isinstance(document, list) else document[part]
        assert float(html_text.unescape(value)) == pytest.approx(float(document)), source


def test_the_primary_metric_leads_each_arm_s_differences():
    scores = {"accuracy": 1.0, "f1": 0.5, "grounded": 1.0}
    pairs = [(asked("q1", "x", a=scores, b=scores), asked("q1", "x", a=scores, b=scores))]
    found = [(d["arm"], d["metric"]) for d in differences(pairs, ["a", "b"], 200, 0, primary="f1")]
    assert found == [("a", "f1"), ("a", "accuracy"), ("a", "grounded"), ("b", "f1"), ("b", "accuracy"),
                     ("b", "grounded")]
