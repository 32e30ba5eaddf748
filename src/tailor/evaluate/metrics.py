"""Retrieval metrics (trec_eval semantics) and a bootstrap CI (the SQuAD answer metrics: `tailor.squad_metrics`).

Retrieval rankings follow trec_eval: documents sorted by score descending, ties broken
by doc id descending. A document is relevant when its graded relevance is > 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

Qrels = dict[str, dict[str, int]]
"""Query id -> doc id -> graded relevance."""
Run = dict[str, dict[str, float]]
"""Query id -> doc id -> retrieval score."""

_QueryMetric = Callable[[dict[str, int], list[str], int], float]


def rank_docs(scores: dict[str, float]) -> list[str]:
    """Doc ids best first: score descending, ties by doc id descending (as trec_eval)."""
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


def _ndcg(rels: dict[str, int], ranking: list[str], k: int) -> float:
    dcg = 0.0
    for i, doc in enumerate(ranking[:k]):
        gain = rels.get(doc, 0)
        if gain > 0:
            dcg += gain / math.log2(i + 2)
    ideal = sorted((rel for rel in rels.values() if rel > 0), reverse=True)[:k]
    idcg = 0.0
    for i, gain in enumerate(ideal):
        idcg += gain / math.log2(i + 2)
    return dcg / idcg if idcg > 0 else 0.0


def _hits(rels: dict[str, int], ranking: list[str], k: int) -> int:
    return sum(1 for doc in ranking[:k] if rels.get(doc, 0) > 0)


def _recall(rels: dict[str, int], ranking: list[str], k: int) -> float:
    n_relevant = sum(1 for rel in rels.values() if rel > 0)
    return _hits(rels, ranking, k) / n_relevant if n_relevant else 0.0


def _precision(rels: dict[str, int], ranking: list[str], k: int) -> float:
    return _hits(rels, ranking, k) / k


def _reciprocal_rank(rels: dict[str, int], ranking: list[str], k: int) -> float:
    for i, doc in enumerate(ranking[:k]):
        if rels.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_METRICS: dict[str, _QueryMetric] = {
    "ndcg": _ndcg,
    "recall": _recall,
    "precision": _precision,
    "mrr": _reciprocal_rank,
}


def _per_query(metric: _QueryMetric, qrels: Qrels, run: Run, k: int) -> dict[str, float]:
    """Score every query of ``qrels``; queries absent from ``run`` score 0."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return {qid: metric(rels, rank_docs(run.get(qid, {})), k) for qid, rels in qrels.items()}


def ndcg_at_k(qrels: Qrels, run: Run, k: int) -> dict[str, float]:
    """nDCG@k per query (linear gain, log2 discount), as trec_eval ``ndcg_cut``."""
    return _per_query(_ndcg, qrels, run, k)


def recall_at_k(qrels: Qrels, run: Run, k: int) -> dict[str, float]:
    """Recall@k per query, as trec_eval ``recall``."""
    return _per_query(_recall, qrels, run, k)


def precision_at_k(qrels: Qrels, run: Run, k: int) -> dict[str, float]:
    """Precision@k per query (always divided by k), as trec_eval ``P``."""
    return _per_query(_precision, qrels, run, k)


def mrr_at_k(qrels: Qrels, run: Run, k: int) -> dict[str, float]:
    """Reciprocal rank of the first relevant doc within the top k, else 0."""
    return _per_query(_reciprocal_rank, qrels, run, k)


def evaluate_run(qrels: Qrels, run: Run, ks: Iterable[int] = (10, 100)) -> dict[str, float]:
    """Mean ndcg@k, recall@k, precision@k and mrr@k for each k.

    Means are over the queries with at least one relevant doc; those missing from
    ``run`` count as 0.
    """
    judged = {qid: rels for qid, rels in qrels.items() if any(rel > 0 for rel in rels.values())}
    if not judged:
        raise ValueError("no query in qrels has a relevant document")
    rankings = {qid: rank_docs(run.get(qid, {})) for qid in judged}
    results: dict[str, float] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        for name, metric in _METRICS.items():
            scores = [metric(rels, rankings[qid], k) for qid, rels in judged.items()]
            results[f"{name}@{k}"] = sum(scores) / len(scores)
    return results


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile-bootstrap confidence interval (mean, low, high)."""
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("values must be a non-empty 1-d sequence")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(data.mean()), float(low), float(high)
