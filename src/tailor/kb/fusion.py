"""Fusion of ranked lists from several retrievers into one ranking (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tailor.kb.store import ChunkMatch

Rankings = Mapping[str, list[ChunkMatch]]
Fused = list[tuple[str, float]]


def reciprocal_rank_fusion(rankings: Rankings, weights: Mapping[str, float], rrf_k: int = 60) -> Fused:
    """score(d) = sum_r w_r / (rrf_k + rank_r(d)), ranks starting at 1 (Cormack et al. 2009)."""
    scores: dict[str, float] = {}
    for name, matches in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, match in enumerate(matches, start=1):
            scores[match.chunk_id] = scores.get(match.chunk_id, 0.0) + weight / (rrf_k + rank)
    return _ranked(scores)


def weighted_score_fusion(rankings: Rankings, weights: Mapping[str, float], rrf_k: int = 60) -> Fused:
    """Convex combination of min-max normalised scores; a chunk missing from a list scores 0 there."""
    del rrf_k
    scores: dict[str, float] = {}
    for name, matches in rankings.items():
        if not matches:
            continue
        weight = weights.get(name, 1.0)
        high = matches[0].score
        low = matches[-1].score
        span = (high - low) or 1.0
        for match in matches:
            scores[match.chunk_id] = scores.get(match.chunk_id, 0.0) + weight * (match.score - low) / span
    return _ranked(scores)


def _ranked(scores: dict[str, float]) -> Fused:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


FUSIONS: dict[str, Callable[..., Fused]] = {
    "rrf": reciprocal_rank_fusion,
    "weighted": weighted_score_fusion,
}
