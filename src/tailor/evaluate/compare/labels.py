"""Label tasks scored exactly: the committed answer's first line, normalised, must be the gold label.

An answer that names no label of the set is wrong and counted as out of set (no arm's decoding is
constrained, so every LLM arm is scored the same way, and the report says how often each strayed).
Macro-F1 averages the per-label F1 over the labels of the questions asked (scikit-learn's `average="macro"`
with those labels), with a percentile-bootstrap interval over questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tailor.evaluate.compare.examples import normalise_label
from tailor.evaluate.compare.scoring import committed_answer
from tailor.finetune.formats import ANSWER_PREFIX


def predicted_label(text: str) -> str:
    """The label an answer commits to: the first line of its committed part (after a RAFT 'Answer:')."""
    if ANSWER_PREFIX in text:
        text = text.rsplit(ANSWER_PREFIX, 1)[1]
    first = next((line for line in text.splitlines() if line.strip()), "")
    return normalise_label(committed_answer(first))


def label_scores(text: str, abstained: bool, gold: str, labels: Sequence[str]) -> dict[str, float]:
    predicted = "" if abstained else predicted_label(text)
    right = float(predicted == normalise_label(gold))
    # A label means itself: another label is wrong however close its name, so it has no paraphrase to accept.
    return {"label_accuracy": right, "semantic_match": right, "out_of_set": float(predicted not in labels)}


def macro_f1(golds: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-F1 over `labels`; a prediction outside them counts against recall only."""
    return float(_macro_f1_many(*_encode(golds, predicted, labels), np.arange(len(golds))[None, :])[0])


def _encode(golds: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    index = {label: i for i, label in enumerate(labels)}
    outside = len(labels)
    return (np.array([index.get(g, outside) for g in golds]), np.array([index.get(p, outside) for p in predicted]),
            outside)


def _macro_f1_many(gold: np.ndarray, pred: np.ndarray, outside: int, samples: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of `samples` (question indices), averaged over the labels 0..outside-1 its gold
    answers use."""
    found = []
    width = outside + 1
    for rows in samples:
        g, p = gold[rows], pred[rows]
        true_pos = np.bincount(g[g == p], minlength=width)[:outside]
        gold_n = np.bincount(g, minlength=width)[:outside]
        pred_n = np.bincount(p, minlength=width)[:outside]
        denominator = gold_n + pred_n
        f1 = np.divide(2 * true_pos, denominator, out=np.zeros(outside), where=denominator > 0)
        asked = gold_n > 0  # a resample averages over the labels its questions have, as the whole sample does
        found.append(f1[asked].mean() if asked.any() else 0.0)
    return np.array(found)


def macro_f1_estimate(golds: Sequence[str], predicted: Sequence[str], labels: Sequence[str],
                      resamples: int, seed: int) -> dict[str, Any] | None:
    """Macro-F1 over the labels the gold answers use, with a 95% percentile-bootstrap interval."""
    if not golds:
        return None
    used = sorted(set(golds) & set(labels))
    gold, pred, outside = _encode(golds, predicted, used)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(golds), size=(resamples, len(golds)))
    spread = _macro_f1_many(gold, pred, outside, samples)
    mean = float(_macro_f1_many(gold, pred, outside, np.arange(len(golds))[None, :])[0])
    return {"mean": mean, "low": float(np.percentile(spread, 2.5)), "high": float(np.percentile(spread, 97.5)),
            "n": len(golds)}
