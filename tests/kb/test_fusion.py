import pytest

from tailor.kb.fusion import reciprocal_rank_fusion, weighted_score_fusion
from tailor.kb.store import ChunkMatch


def ranking(*ids_scores):
    return [ChunkMatch(i, s) for i, s in ids_scores]


def test_rrf_matches_the_formula():
    rankings = {"dense": ranking(("a", 0.9), ("b", 0.8)), "bm25": ranking(("b", 12.0), ("c", 3.0))}
    fused = dict(reciprocal_rank_fusion(rankings, {"dense": 1.0, "bm25": 1.0}, rrf_k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion(rankings, {}, rrf_k=60)] == ["b", "a", "c"]


def test_rrf_weights_scale_each_list():
    rankings = {"dense": ranking(("a", 0.9)), "bm25": ranking(("b", 1.0))}
    fused = reciprocal_rank_fusion(rankings, {"dense": 2.0, "bm25": 1.0}, rrf_k=10)
    assert fused[0] == ("a", pytest.approx(2 / 11))


def test_weighted_fusion_normalises_each_list_to_unit_range():
    rankings = {
        "dense": ranking(("a", 0.9), ("b", 0.5), ("c", 0.1)),
        "bm25": ranking(("c", 30.0), ("a", 20.0), ("d", 10.0)),
    }
    fused = dict(weighted_score_fusion(rankings, {"dense": 0.5, "bm25": 0.5}))
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert fused["b"] == pytest.approx(0.5 * 0.5)
    assert fused["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert fused["d"] == pytest.approx(0.0)


def test_ties_break_by_id_deterministically():
    rankings = {"dense": ranking(("b", 1.0)), "bm25": ranking(("a", 1.0))}
    assert [i for i, _ in reciprocal_rank_fusion(rankings, {})] == ["a", "b"]


def test_empty_lists():
    assert reciprocal_rank_fusion({"dense": [], "bm25": []}, {}) == []
    assert weighted_score_fusion({"dense": [], "bm25": []}, {}) == []
