"""Means with bootstrap intervals, and paired tests between arms: a difference inside the noise is a tie."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest

from tailor.evaluate.metrics import bootstrap_ci


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def estimate(values: Sequence[float], resamples: int = 1000, seed: int = 0) -> Estimate | None:
    """Mean and 95% percentile-bootstrap interval; None for no values."""
    if not values:
        return None
    mean, low, high = bootstrap_ci(list(values), n_resamples=resamples, seed=seed)
    return Estimate(mean, low, high, len(values))


def estimate_dict(values: Sequence[float], resamples: int = 1000, seed: int = 0) -> dict[str, float | int] | None:
    """`estimate` as it goes into report.json."""
    found = estimate(values, resamples, seed)
    return found.to_dict() if found else None


@dataclass(frozen=True)
class Comparison:
    """Arm a minus arm b on one metric over the questions both answered."""

    a: str
    b: str
    metric: str
    diff: float
    low: float
    high: float
    p_value: float | None
    n: int

    @property
    def winner(self) -> str | None:
        """The better arm when the 95% interval of the difference excludes 0 (and McNemar agrees), else None."""
        significant = self.low > 0 or self.high < 0
        if self.p_value is not None:
            significant = significant and self.p_value < 0.05
        if not significant:
            return None
        return self.a if self.diff > 0 else self.b

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "test": "paired_bootstrap+mcnemar", "winner": self.winner}


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar test on paired binary outcomes: are the discordant pairs balanced?"""
    a_only = int(np.sum((a == 1) & (b == 0)))
    b_only = int(np.sum((a == 0) & (b == 1)))
    if a_only + b_only == 0:
        return 1.0
    return float(binomtest(a_only, a_only + b_only, 0.5).pvalue)


def compare_paired(
    a_name: str, b_name: str, metric: str, a: Sequence[float], b: Sequence[float], resamples: int = 1000, seed: int = 0
) -> Comparison | None:
    """Paired bootstrap interval of mean(a - b); McNemar's p as well when both are 0/1 outcomes."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs equal lengths, got {len(a)} and {len(b)}")
    if not a:
        return None
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = x - y
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    binary = set(np.unique(np.concatenate([x, y]))) <= {0.0, 1.0}
    return Comparison(a_name, b_name, metric, float(diff.mean()), float(low), float(high),
                      mcnemar_p(x, y) if binary else None, int(diff.size))
