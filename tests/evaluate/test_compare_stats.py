import pytest

from tailor.evaluate.compare.stats import compare_paired, estimate, mcnemar_p


def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs():
    a = [1] * 10 + [0] * 5
    b = [0] * 10 + [0] * 5
    assert mcnemar_p(__import__("numpy").array(a), __import__("numpy").array(b)) == pytest.approx(2 * 0.5**10)
    assert mcnemar_p(__import__("numpy").array([1, 0]), __import__("numpy").array([1, 0])) == 1.0


def test_a_clear_paired_difference_has_a_winner():
    a = [1.0] * 40
    b = [1.0] * 10 + [0.0] * 30
    found = compare_paired("rag", "ft", "accuracy", a, b)
    assert found.diff == pytest.approx(0.75) and found.low > 0 and found.winner == "rag"
    assert found.to_dict()["winner"] == "rag"


def test_a_difference_inside_the_noise_is_a_tie():
    a = [1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
    b = [0, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    found = compare_paired("rag", "ft", "accuracy", a, b)
    assert found.low < 0 < found.high and found.winner is None


def test_paired_comparison_needs_equal_lengths_and_estimate_handles_no_values():
    with pytest.raises(ValueError, match="equal lengths"):
        compare_paired("a", "b", "m", [1.0], [1.0, 0.0])
    assert compare_paired("a", "b", "m", [], []) is None
    assert estimate([]) is None
    found = estimate([0.0, 1.0, 1.0, 1.0])
    assert found.mean == 0.75 and found.n == 4 and found.low <= 0.75 <= found.high
