"""SQuAD answer metrics: normalisation, exact match and token F1 (checked against the official script;
typographic quotes and dashes are folded to ASCII first, which the script does not do).

A ground-floor module: training data (de-duplication, validation scores) and evaluation both use them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)
# Typographic quotes, apostrophes and dashes as their ASCII forms: “The Late Show” and
# "The Late Show" are one answer. SQuAD's script keeps them; on ASCII text the two agree.
_TYPOGRAPHIC = str.maketrans({
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
})


def fold_typography(s: str) -> str:
    """`s` with typographic quotes, apostrophes and dashes replaced by their ASCII forms."""
    return s.translate(_TYPOGRAPHIC)


def normalize_answer(s: str) -> str:
    """Lowercase, fold typography, drop punctuation and articles, collapse whitespace (as SQuAD)."""
    no_punct = "".join(ch for ch in fold_typography(s).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punct).split())


def _golds_or_empty(golds: Sequence[str]) -> list[str]:
    """Golds that survive normalization, or [""] for an unanswerable question."""
    if isinstance(golds, str):
        raise TypeError("golds must be a sequence of answers, not a string")
    return [gold for gold in golds if normalize_answer(gold)] or [""]


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalized prediction equals a normalized gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return max(float(normalize_answer(gold) == pred) for gold in _golds_or_empty(golds))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best bag-of-tokens F1 of the prediction against any gold answer."""
    pred_tokens = normalize_answer(prediction).split()
    return max(_f1(pred_tokens, normalize_answer(gold).split()) for gold in _golds_or_empty(golds))
