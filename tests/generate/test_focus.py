"""Context focus: the best sentences of the hits, with their neighbours, as narrowed hits with exact spans."""

from __future__ import annotations

import pytest

from tailor.generate.extractive import ExtractiveReader
from tailor.generate.focus import SentenceFocus
from tailor.records import Chunk, Hit

TRAVEL = ("Travel must be approved by a manager. The nightly hotel cap is EUR 180 in standard cities. "
          "In high-cost cities the cap is EUR 240 per night. Both caps exclude city taxes. Receipts are kept.")
LEAVE = "Employees get 28 days of annual leave. Unused days may be carried over until March."


def hit(doc_id: str, text: str, offset: int) -> Hit:
    return Hit(Chunk(f"{doc_id}#1", doc_id, text, offset, offset + len(text)), 0.5, doc_id, f"{doc_id}.md",
               scores={"dense": 0.5})


HITS = [hit("leave", LEAVE, 10), hit("travel", TRAVEL, 400)]


@pytest.fixture(scope="module")
def reader(embedder) -> ExtractiveReader:
    return ExtractiveReader(embedder)


def test_the_best_sentence_comes_first_with_its_neighbours_and_exact_span(reader):
    focused = SentenceFocus(reader, sentences=1, window=1)("What is the nightly hotel cap in standard cities?", HITS)
    (narrowed,) = focused.hits
    assert narrowed.chunk.id == "travel#1" and narrowed.chunk.doc_id == "travel"
    assert narrowed.chunk.text == TRAVEL[narrowed.chunk.start - 400 : narrowed.chunk.end - 400]
    assert narrowed.chunk.text.startswith("Travel must be approved") and "EUR 240" in narrowed.chunk.text
    assert "Receipts" not in narrowed.chunk.text  # only one neighbour on each side
    assert 0.0 < focused.confidence <= 1.0


def test_window_zero_keeps_the_sentence_alone_and_overlapping_windows_merge(reader):
    alone = SentenceFocus(reader, sentences=1, window=0)("What is the nightly hotel cap in standard cities?", HITS)
    assert alone.hits[0].chunk.text == "The nightly hotel cap is EUR 180 in standard cities."
    merged = SentenceFocus(reader, sentences=2, window=1)("What are the hotel caps per night?", HITS)
    travel = [h for h in merged.hits if h.chunk.doc_id == "travel"]
    assert len(travel) == 1  # two neighbouring caps, one window


def test_confidence_is_lower_for_a_question_the_hits_do_not_answer(reader):
    focus = SentenceFocus(reader, sentences=1)
    answered = focus("What is the nightly hotel cap in standard cities?", HITS).confidence
    unanswered = focus("Which vaccine does the company doctor recommend for Brazil?", HITS).confidence
    assert unanswered < answered


def test_bad_settings_are_refused(reader):
    with pytest.raises(ValueError):
        SentenceFocus(reader, sentences=0)
