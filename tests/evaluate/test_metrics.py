"""Retrieval metrics against pytrec_eval (trec_eval) and ranx; bootstrap CI."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import pytrec_eval
from ranx import Qrels as RanxQrels
from ranx import Run as RanxRun
from ranx import evaluate as ranx_evaluate

from tailor.evaluate.beir import load_beir
from tailor.evaluate.metrics import (
    Qrels,
    Run,
    bootstrap_ci,
    evaluate_run,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_docs,
    recall_at_k,
)

TOL = 1e-9
# Our function and k -> the pytrec_eval measure it must equal.
PYTREC = [
    (ndcg_at_k, 10, "ndcg_cut_10"),
    (ndcg_at_k, 100, "ndcg_cut_100"),
    (recall_at_k, 10, "recall_10"),
    (recall_at_k, 100, "recall_100"),
    (precision_at_k, 10, "P_10"),
    (precision_at_k, 100, "P_100"),
]
PYTREC_MEASURES = {"ndcg_cut.10,100", "recall.10,100", "P.10,100", "recip_rank"}


def synthetic(seed: int, n_queries: int = 400) -> tuple[Qrels, Run]:
    """Graded qrels (incl. 0 and -1) and a run with many score ties and lexically tricky ids."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels: Qrels = {}
    run: Run = {}
    for i in range(n_queries):
        qid = f"q{i}"
        judged = rng.sample(docs, rng.randint(1, 20))
        qrels[qid] = {doc: rng.choice([-1, 0, 0, 1, 1, 2, 3]) for doc in judged}
        if rng.random() < 0.05:
            continue  # judged but not retrieved: counts as 0
        pool = rng.sample(docs, rng.randint(1, 150)) + judged[: rng.randint(0, len(judged))]
        run[qid] = {doc: round(rng.random(), rng.choice([0, 1, 2, 6])) for doc in pool}
    run["unjudged-query"] = {"d1": 1.0, "d2": 0.5}
    return qrels, run


def scifact_run(beir_scifact_dir: Path) -> tuple[Qrels, Run]:
    """SciFact test qrels and a seeded run: judged docs plus 100 random corpus docs per query."""
    dataset = load_beir(beir_scifact_dir, split="test")
    doc_ids = sorted(dataset.corpus)
    rng = random.Random(13)
    run: Run = {}
    for qid in sorted(dataset.qrels):
        pool = list(dataset.qrels[qid]) + rng.sample(doc_ids, 100)
        run[qid] = {doc: round(rng.random(), 2) for doc in pool}
    return dataset.qrels, run


def detied(run: Run) -> Run:
    """Same ranking with strictly decreasing scores (ranx breaks ties unlike trec_eval)."""
    return {qid: {doc: float(-i) for i, doc in enumerate(rank_docs(scores))} for qid, scores in run.items()}


def truncated(run: Run, k: int) -> Run:
    return {qid: {doc: scores[doc] for doc in rank_docs(scores)[:k]} for qid, scores in run.items()}


def judged_only(qrels: Qrels) -> Qrels:
    return {qid: rels for qid, rels in qrels.items() if any(rel > 0 for rel in rels.values())}


def assert_matches_pytrec(qrels: Qrels, run: Run) -> None:
    reference = pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES).evaluate(run)
    reference_top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(truncated(run, 10))
    assert set(reference) == set(qrels) & set(run)
    checks = [*PYTREC, (mrr_at_k, 1000, "recip_rank")]
    for metric, k, measure in checks:
        ours = metric(qrels, run, k)
        assert set(ours) == set(qrels)
        for qid in qrels:
            expected = reference[qid][measure] if qid in reference else 0.0
            assert ours[qid] == pytest.approx(expected, abs=TOL), (measure, qid)
    ours_mrr10 = mrr_at_k(qrels, run, 10)
    for qid, values in reference_top10.items():
        assert ours_mrr10[qid] == pytest.approx(values["recip_rank"], abs=TOL), qid

    judged = judged_only(qrels)
    means = evaluate_run(qrels, run, ks=(10, 100))
    for metric, k, measure in PYTREC:
        name = f"{metric.__name__.removesuffix('_at_k')}@{k}"
        expected = sum(reference[qid][measure] for qid in judged if qid in reference) / len(judged)
        assert means[name] == pytest.approx(expected, abs=TOL), name
    expected_mrr10 = sum(reference_top10[qid]["recip_rank"] for qid in judged if qid in reference_top10)
    assert means["mrr@10"] == pytest.approx(expected_mrr10 / len(judged), abs=TOL)


def assert_matches_ranx(qrels: Qrels, run: Run) -> None:
    judged = judged_only(qrels)
    ranx_qrels = RanxQrels({qid: {d: r for d, r in rels.items() if r > 0} for qid, rels in judged.items()})
    ranx_run = RanxRun(detied({qid: scores for qid, scores in run.items() if qid in judged}))
    names = ["ndcg@10", "ndcg@100", "recall@10", "recall@100", "precision@10", "mrr@10", "mrr@100"]
    reference = ranx_evaluate(ranx_qrels, ranx_run, names, make_comparable=True)
    means = evaluate_run(qrels, run, ks=(10, 100))
    for name in names:
        assert means[name] == pytest.approx(reference[name], abs=TOL), name
    per_query = mrr_at_k(qrels, run, 10)
    for qid, value in ranx_run.scores["mrr@10"].items():
        assert per_query[qid] == pytest.approx(value, abs=TOL), qid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_matches_pytrec_eval(seed: int):
    assert_matches_pytrec(*synthetic(seed))


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_matches_ranx(seed: int):
    assert_matches_ranx(*synthetic(seed))


def test_scifact_matches_pytrec_eval_and_ranx(beir_scifact_dir: Path):
    qrels, run = scifact_run(beir_scifact_dir)
    assert len(qrels) == 300
    assert_matches_pytrec(qrels, run)
    assert_matches_ranx(qrels, run)


def test_ties_broken_by_doc_id_descending():
    run = {"q": {"a": 1.0, "b": 1.0, "c": 2.0, "d10": 0.5, "d9": 0.5}}
    assert rank_docs(run["q"]) == ["c", "b", "a", "d9", "d10"]
    assert mrr_at_k({"q": {"a": 1}}, run, 10) == {"q": pytest.approx(1 / 3)}
    assert mrr_at_k({"q": {"a": 1}}, run, 2) == {"q": 0.0}


def test_evaluate_run_averages_only_judged_queries():
    qrels = {"hit": {"a": 1}, "missing": {"b": 2}, "unjudged": {"c": 0}}
    run = {"hit": {"a": 1.0}, "unjudged": {"c": 1.0}}
    means = evaluate_run(qrels, run, ks=(1,))
    assert means == {"ndcg@1": 0.5, "recall@1": 0.5, "precision@1": 0.5, "mrr@1": 0.5}
    with pytest.raises(ValueError):
        evaluate_run({"q": {"a": 0}}, run)
    with pytest.raises(ValueError):
        ndcg_at_k(qrels, run, 0)


def test_bootstrap_ci_contains_mean_and_narrows():
    rng = random.Random(0)
    values = [rng.random() for _ in range(2000)]
    mean, low, high = bootstrap_ci(values[:50])
    assert low < mean < high
    assert mean == pytest.approx(sum(values[:50]) / 50)
    _, big_low, big_high = bootstrap_ci(values)
    assert big_high - big_low < (high - low) / 3
    assert bootstrap_ci(values[:50], seed=7) == bootstrap_ci(values[:50], seed=7)
    assert bootstrap_ci(values[:50], seed=7) != bootstrap_ci(values[:50], seed=8)
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci(values, confidence=1.0)
