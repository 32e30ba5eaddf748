"""The extractive reader and the sentence tools it stands on."""

from __future__ import annotations

import pytest

from tailor.generate.extractive import ABSTAIN_TEXT, ExtractiveReader
from tailor.generate.prompts import PromptBuilder
from tailor.generate.sentences import content_terms, idf_weights, split_sentences, weighted_recall
from tailor.records import Chunk, Hit

TRAVEL = (
    "## 2.2 When to book\n"
    "Trips should be booked at least 14 days before departure. Last-minute bookings are allowed for "
    "customer emergencies, e.g. a production loom that is down.\n"
    "## 4. Accommodation\n"
    "The nightly hotel cap is EUR 180 in standard cities. In high-cost cities (London, Zurich, New York "
    "and Tokyo) the cap is EUR 240 per night. Both caps exclude local city taxes."
)
RAIL = "Rail is preferred for any journey under 4 hours. Mileage is reimbursed at EUR 0.25 per kilometre."


def hit(doc_id: str, text: str, start: int = 0, chunk: str = "0") -> Hit:
    return Hit(
        Chunk(f"{doc_id}#{chunk}", doc_id, text, start, start + len(text)),
        0.5,
        doc_id.title(),
        f"{doc_id}.md",
    )


HITS = [hit("rail", RAIL, 300), hit("travel", TRAVEL, 1200)]


@pytest.fixture(scope="module")
def reader(embedder) -> ExtractiveReader:
    return ExtractiveReader(embedder)


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


def test_reader_quotes_the_answer_sentence_with_document_offsets(reader):
    extract = reader.extract("What is the hotel cap per night in Tokyo?", HITS)
    assert not extract.abstained and 0.0 < extract.confidence <= 1.0
    (citation,) = extract.citations()
    quote = "In high-cost cities (London, Zurich, New York and Tokyo) the cap is EUR 240 per night."
    assert (citation.quote, citation.marker, citation.doc_id) == (quote, 2, "travel")
    assert (citation.start, citation.end) == (
        1200 + TRAVEL.index(quote),
        1200 + TRAVEL.index(quote) + len(quote),
    )
    assert extract.text == f"{quote} [2]"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "How many days ahead must trips be booked?",
            "Trips should be booked at least 14 days before departure.",
        ),
        ("What is the mileage rate for a private car?", "Mileage is reimbursed at EUR 0.25 per kilometre."),
        ("Do the hotel caps include city taxes?", "Both caps exclude local city taxes."),
    ],
)
def test_reader_picks_the_right_sentence(reader, question, expected):
    assert reader.candidates(question, HITS)[0].text == expected


def test_reader_abstains_below_its_threshold_and_without_hits(embedder, reader):
    question = "What is the mileage rate for a private car?"
    assert ExtractiveReader(embedder, abstain_below=1.0).extract(question, HITS).abstained
    assert not ExtractiveReader(embedder, abstain_below=0.0).extract(question, HITS).abstained
    assert reader.extract("Who won the 1998 football world cup final?", HITS).abstained
    empty = reader.extract(question, [])
    assert empty.abstained and empty.text == ABSTAIN_TEXT and empty.citations() == []


def test_overlapping_chunks_do_not_repeat_sentences(reader):
    overlap = TRAVEL.index("The nightly")
    hits = [hit("travel", TRAVEL, 0, "0"), hit("travel", TRAVEL[overlap:], overlap, "1")]
    candidates = reader.candidates("What is the nightly hotel cap in standard cities?", hits)
    keys = [(c.hit.chunk.doc_id, c.hit.chunk.start + c.start) for c in candidates]
    assert len(keys) == len(set(keys))


def test_more_sentences_when_asked(embedder):
    extract = ExtractiveReader(embedder, max_sentences=2, abstain_below=0.0).extract(
        "hotel cap per night", HITS
    )
    assert [c.sentence for c in extract.citations()] == [0, 1]
    assert extract.text.count("[2]") == 2


def test_read_and_stream_agree(reader):
    question = "What is the mileage rate for a private car?"
    prompt = PromptBuilder("rag").build(question, HITS)
    pieces = reader.stream(question, prompt)
    received: list[str] = []
    with pytest.raises(StopIteration) as done:
        while True:
            received.append(next(pieces))
    reading = reader.read(question, prompt)
    assert "".join(received) == reading.text == done.value.value.text
    assert reading.citations == done.value.value.citations and reading.tokens_in == 0


class CountingEmbedder:
    def __init__(self, inner) -> None:
        self.inner, self.documents = inner, 0

    def embed_documents(self, texts):
        self.documents += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def test_sentence_vectors_are_cached_across_questions(embedder):
    counting = CountingEmbedder(embedder)
    reader = ExtractiveReader(counting)
    reader.extract("What is the mileage rate?", HITS)
    first = counting.documents
    reader.extract("What is the hotel cap?", HITS)
    assert first > 0 and counting.documents == first
