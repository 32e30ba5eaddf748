"""Sentence spans, stemmed terms, IDF recall and word-piece similarity."""

from __future__ import annotations

import numpy as np
import pytest

from tailor.generate.sentences import (
    WordPieces,
    content_terms,
    idf_weights,
    soft_matches,
    split_sentences,
    weighted_recall,
)


def spans(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_split_sentences_keeps_exact_spans():
    text = "  Dr. Smith paid EUR 3.50 at 9 a.m. on Monday. He left!\nJ. R. R. Tolkien wrote it (in 1937). \n\n- a bullet"
    assert spans(text) == [
        "Dr. Smith paid EUR 3.50 at 9 a.m. on Monday.",
        "He left!",
        "J. R. R. Tolkien wrote it (in 1937).",
        "- a bullet",
    ]
    assert spans('He said "Stop." Then he went. "Why?" she asked.') == [
        'He said "Stop."',
        "Then he went.",
        '"Why?" she asked.',
    ]
    assert split_sentences("") == [] and split_sentences(" \n ") == []


def test_content_terms_stem_and_drop_stopwords():
    assert content_terms("What are the booking rules for the trips?") == ["book", "rule", "trip"]


def test_weighted_recall_weights_rare_terms():
    idf = idf_weights([["hotel", "cap"], ["hotel", "tax"], ["hotel", "rail"]])
    assert idf["cap"] > idf["hotel"]
    assert weighted_recall(["hotel", "cap"], ["cap"], idf, unseen=5.0) > weighted_recall(
        ["hotel", "cap"], ["hotel"], idf, 5.0
    )
    assert weighted_recall([], ["cap"], idf, 5.0) == 0.0
    assert weighted_recall(["cap", "hotel"], ["hotel", "cap", "x"], idf, 5.0) == pytest.approx(1.0)


def test_word_pieces_leave_out_stopwords_and_punctuation():
    pieces = WordPieces.default()
    (rows,) = pieces.rows(["What is the rate?"])
    (rate,) = pieces.rows(["rate"])
    assert rows.shape == (1, pieces.vectors.shape[1]) and np.allclose(rows, rate)
    assert pieces.rows(["the, of; and!"])[0].shape[0] == 0
    assert np.allclose(np.linalg.norm(pieces.vectors[:100], axis=1), 1.0, atol=1e-5)


def test_soft_match_prefers_related_words():
    question, related, unrelated = WordPieces.default().rows(
        [
            "How is mileage reimbursed?",
            "Kilometres driven are paid back per km.",
            "The canteen opens at noon.",
        ]
    )
    same, close, far, nothing = soft_matches(question, [question, related, unrelated, related[:0]])
    assert same == pytest.approx(1.0) and close > far and nothing == 0.0
    for passage, score in ((related, close), (unrelated, far)):  # one product equals each passage on its own
        assert score == pytest.approx(float((question @ passage.T).max(axis=1).mean()))
    assert soft_matches(question[:0], [related]) == [0.0]
