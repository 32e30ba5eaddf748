"""semantic_match: paraphrases accepted, wrong answers refused, the calibration reproduced, and a verdict that
depends on the metric flagged in report.json, summary.md and report.html."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.recommend import recommend
from tailor.evaluate.compare.scoring import score_answer
from tailor.evaluate.compare.semantic import (
    THRESHOLD,
    SemanticMatcher,
    negated,
    quantities,
    states_quantities,
)
from tailor.evaluate.report import build_view, render_html, render_summary

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "tests" / "data" / "paraphrase_labels.jsonl"
CALIBRATION = REPO / "benchmarks" / "results" / "paraphrase_calibration.json"
SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"
LEAVE = "25 days of paid annual leave"


@pytest.fixture(scope="module")
def matcher(embedder):
    return SemanticMatcher(embedder)


def test_a_paraphrase_is_accepted_where_containment_refuses_it(matcher):
    paraphrase = "Staff are entitled to twenty-five paid vacation days a year."
    assert matcher.match(paraphrase, [LEAVE]) == 1.0
    assert matcher.match("Book trips two weeks or more ahead of departure.",
                         ["Travel must be booked at least 14 days before departure"]) == 1.0
    assert matcher.match("1.5 hours", ["90 minutes"]) == 1.0
    question = Question("q", "How much annual leave do staff get?", (LEAVE,))
    scores = score_answer(question, {"text": paraphrase, "abstained": False, "citations": []}, retrieves=False)
    assert scores["accuracy"] == 0.0 and scores["semantic_match"] == 1.0


def test_wrong_answers_close_in_wording_are_refused(matcher):
    assert matcher.match("You get 20 days of paid annual leave.", [LEAVE]) == 0.0  # another number
    assert matcher.match("Laptops do not need to be encrypted.",
                         ["The laptop must be encrypted with full-disk encryption"]) == 0.0  # negated
    assert matcher.match("90 seconds", ["90 minutes"]) == 0.0  # the number, another unit
    assert matcher.match("Lyon", ["Paris"]) == 0.0
    assert matcher.match("", [LEAVE]) == 0.0
    # Without the guards, cosine alone would take the wrong number: the guards are what refuse it.
    assert matcher.closeness("Passwords must be at least 8 characters long.",
                             ["The password must be at least 12 characters long"]) == 0.0


def test_a_version_number_is_read_as_its_leading_number():
    assert [q.value for q in quantities("firmware 7.5.0, then 1,200 picks")] == [7.5, 1200.0]  # crashed the demo


def test_quantities_compare_durations_by_length_and_numbers_by_value():
    assert states_quantities("14 days", "two weeks") and states_quantities("a fortnight", "two weeks")
    assert states_quantities("half a year", "The probation period lasts six months")
    assert not states_quantities("two months", "two weeks")
    assert not states_quantities("2006", "2005") and not states_quantities("49 days", "50 days")
    assert states_quantities("3 months", "90 days") and states_quantities("52 weeks", "one year")
    assert states_quantities("12", "at least 12 characters")  # a bare number counts for the gold's quantity
    assert [q.value for q in quantities("8am to 6pm, 150 million km")] == [8, 18, 1.5e8]
    assert states_quantities("up to 3 days per week", "up to three days a week")  # "a week" is a rate, not a number
    assert negated("Drinking is prohibited") and negated("It isn't allowed")
    assert not negated("Claims are filed no later than 30 days after purchase")


def test_abstentions_score_zero_unanswerable_questions_none_and_a_choice_its_accuracy():
    question = Question("q", "How much leave?", (LEAVE,))
    refusal = score_answer(question, {"text": "I don't know.", "abstained": True, "citations": []}, retrieves=False)
    assert refusal["semantic_match"] == 0.0
    unanswerable = Question("u", "What is the CEO's shoe size?", (), answerable=False)
    assert "semantic_match" not in score_answer(unanswerable, {"text": "I don't know.", "abstained": True,
                                                               "citations": []}, retrieves=False)
    choice = Question("m", "Which loom is fastest?", ("Weft M400",), choices=("Weft S200", "Weft M400"))
    for text in ("B", "Weft S200"):
        scores = score_answer(choice, {"text": text, "abstained": False, "citations": []}, retrieves=False)
        assert scores["semantic_match"] == scores["accuracy"]


def test_the_calibration_sample_reproduces_its_recorded_agreement(matcher):
    rows = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    assert len(rows) >= 80 and {r["label"] for r in rows} == {0, 1}
    assert all(r["gold"] and r["answer"] and r["note"] for r in rows)
    predicted = [matcher.match(r["answer"], [r["gold"]]) for r in rows]
    labels = [r["label"] for r in rows]
    agreement = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(rows)
    recorded = json.loads(CALIBRATION.read_text())
    shipped = recorded["rules"]["shipped (SemanticMatcher, THRESHOLD)"]
    assert shipped["threshold"] == THRESHOLD and recorded["rows"] == len(rows)
    assert round(agreement, 3) == shipped["agreement"]
    assert agreement > recorded["rules"]["contains a gold (accuracy)"]["agreement"] + 0.15
    assert shipped["kappa"] >= 0.6


def est(mean, half=0.05):
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": 40}


def two_metric_report(accuracy_winner: str | None, semantic_winner: str | None) -> dict:
    """rag and finetuned (and the bare model, beaten by both) on accuracy and semantic match."""
    arms = [{"name": n, "strategy": n, "generator": "hf:model"} for n in ("closed_book", "rag", "finetuned")]
    means = {"accuracy": {"closed_book": 0.1, "rag": 0.6, "finetuned": 0.4},
             "semantic_match": {"closed_book": 0.1, "rag": 0.6, "finetuned": 0.8}}
    comparisons = [{"a": "finetuned", "b": "rag", "metric": "accuracy", "winner": accuracy_winner},
                   {"a": "finetuned", "b": "rag", "metric": "semantic_match", "winner": semantic_winner}]
    comparisons += [{"a": arm, "b": "closed_book", "metric": metric, "winner": arm}
                    for arm in ("rag", "finetuned") for metric in means]
    return {"primary_metric": "accuracy", "arms": arms, "comparisons": comparisons,
            "metrics": {arm: {metric: est(means[metric][arm]) for metric in means} for arm in means["accuracy"]},
            "latency": {}, "freshness": None, "leak": None, "format": None, "forgetting": None, "prices": {},
            "cost": {}}


def test_a_verdict_the_metrics_disagree_on_is_flagged():
    result = recommend(two_metric_report("rag", "finetuned"))
    assert result["verdict"] == "rag" and result["arm"] == "rag"
    assert result["under_semantic_match"]["verdict"] == "finetune"
    assert result["under_semantic_match"]["arm"] == "finetuned"
    assert result["metric_dependent"] is True
    assert result["metric_note"] == ("The verdict depends on the metric: on accuracy, use RAG (rag); on semantic "
                                     "match, fine-tune (finetuned).")


def test_a_verdict_whose_win_over_the_bare_model_one_metric_takes_away_is_flagged():
    report = two_metric_report("rag", "rag")
    for c in report["comparisons"]:
        if c["metric"] == "semantic_match" and c["b"] == "closed_book":
            c["winner"] = None
    result = recommend(report)
    assert result["arm"] == result["under_semantic_match"]["arm"] == "rag"
    assert result["adaptation_helped"] is True and result["under_semantic_match"]["adaptation_helped"] is False
    assert result["metric_dependent"] and result["metric_note"].endswith(
        "on semantic match, use RAG (rag), though no adaptation beats the bare model.")


def test_two_tied_arms_of_one_verdict_swapping_places_is_not_flagged():
    """rag_extractive and rag tie on both metrics; the rules name one on accuracy and the other on semantic match:
    the verdict (RAG) is the same and the arm is a toss-up, so nothing depends on the metric; nor when the
    recommended arm wins on accuracy and only ties on semantic match. Once the other arm beats it on semantic
    match, the arm depends on the metric."""
    report = two_metric_report("rag", "rag")
    report["arms"].append({"name": "rag_extractive", "strategy": "rag", "generator": "extractive"})
    report["metrics"]["rag_extractive"] = {"accuracy": est(0.61), "semantic_match": est(0.58)}
    report["comparisons"] += [{"a": "rag_extractive", "b": "rag", "metric": m, "winner": None} for m in
                              ("accuracy", "semantic_match")]
    report["comparisons"] += [{"a": "finetuned", "b": "rag_extractive", "metric": m, "winner": "rag_extractive"}
                              for m in ("accuracy", "semantic_match")]
    report["comparisons"] += [{"a": "rag_extractive", "b": "closed_book", "metric": m, "winner": "rag_extractive"}
                              for m in ("accuracy", "semantic_match")]
    result = recommend(report)
    assert (result["arm"], result["under_semantic_match"]["arm"]) == ("rag_extractive", "rag")
    assert result["metric_dependent"] is False and result["metric_note"] == ""
    report["comparisons"][-6]["winner"] = "rag_extractive"  # it beats rag on accuracy, ties on semantic match
    assert report["comparisons"][-6]["metric"] == "accuracy"
    assert recommend(report)["arm"] == "rag_extractive"
    assert recommend(report)["metric_dependent"] is False  # semantic match does not prefer rag: a toss-up there
    report["comparisons"][-6]["winner"] = None
    report["comparisons"][-5]["winner"] = "rag"  # rag now beats rag_extractive on semantic match
    assert report["comparisons"][-5]["metric"] == "semantic_match" and report["comparisons"][-5]["b"] == "rag"
    assert recommend(report)["metric_dependent"] is True


def test_a_verdict_both_metrics_give_is_not_flagged():
    result = recommend(two_metric_report("rag", "rag"))
    assert result["verdict"] == result["under_semantic_match"]["verdict"] == "rag"
    assert result["metric_dependent"] is False and result["metric_note"] == ""
    report = two_metric_report("rag", None)
    for scores in report["metrics"].values():
        del scores["semantic_match"]
    assert recommend(report)["under_semantic_match"] is None  # nothing to check it against


def test_the_report_shows_semantic_match_and_the_flag():
    report = json.loads(SAMPLE.read_text())
    for scores in report["metrics"].values():
        scores["semantic_match"] = copy.deepcopy(scores["accuracy"])
    plain = render_summary(build_view(report))
    assert "Metric-dependent" not in plain
    note = "The verdict depends on the metric: on accuracy, use RAG (rag_scratch); on semantic match, fine-tune."
    report["recommendation"].update(metric_dependent=True, metric_note=note)
    view = build_view(report)
    assert "semantic_match" in view.tables["correctness"].metrics
    assert f"**Metric-dependent verdict:** {note}" in render_summary(view).replace("\\_", "_")
    html = render_html(view)
    assert "Semantic match (paraphrases accepted)" in html and "metric-dependent verdict</span> " + note in html


def test_the_console_prints_the_flag(capsys):
    from tailor.cli.compare import _print_summary

    report = json.loads(SAMPLE.read_text())
    note = "The verdict depends on the metric: on accuracy, use RAG (rag_scratch); on semantic match, fine-tune."
    report["recommendation"].update(metric_dependent=True, metric_note=note)
    _print_summary(report)
    assert note in " ".join(capsys.readouterr().out.split())
