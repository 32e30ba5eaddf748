"""The extractive reader: sentence choice, exact spans, abstention, answer-type cues, what it embeds."""

from __future__ import annotations

import pytest

from tailor.generate.extractive import ABSTAIN_TEXT, AnswerTypeCue, ExtractiveReader, confidence
from tailor.generate.prompts import PromptBuilder
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


def test_answer_type_cues():
    how_many, when = (
        AnswerTypeCue("How many days ahead must trips be booked?"),
        AnswerTypeCue("When did it start?"),
    )
    assert (how_many("Book 14 days ahead."), how_many("Book early, always.")) == (1.0, -1.0)
    assert (when("It started in March 2021."), when("It started long ago.")) == (1.0, -1.0)
    who = AnswerTypeCue("Who approves trips to Tokyo?")
    assert who("Trips to Tokyo are approved by Anna Berg.") == 1.0
    assert who("Trips to Tokyo need approval.") == -1.0  # the question's own name does not answer it
    assert AnswerTypeCue("What is the mileage rate?")("Mileage is EUR 0.25.") == 0.0


def test_names_and_numbers_are_looked_up_in_the_passage_with_its_title(reader):
    datasheet = Hit(
        Chunk("s200#0", "s200", "It weighs 1,850 kg without the beam.", 0, 36, heading_path=("Weights",)),
        0.5,
        "Weft S200 datasheet",
        "s200.md",
        scores={"dense": 0.5},
    )
    own = reader.confidence_features(
        "How much does the Weft S200 weigh?", reader.candidates("weigh", [datasheet])
    )
    other = reader.confidence_features(
        "How much does the Weft M400 weigh?", reader.candidates("weigh", [datasheet])
    )
    assert (own["name"], own["number"]) == (0.0, 0.0)
    assert (other["name"], other["number"]) == (1.0, 1.0)


def test_a_question_that_flips_a_word_of_the_sentence_into_its_opposite_is_less_sure(reader):
    sales = Hit(Chunk("wool#0", "wool", "Exports of wool increased sharply after the treaty of 1786.", 0, 59),
                0.5, "Wool trade", "wool.md", scores={"dense": 0.6})
    asked = "What increased sharply after the treaty of 1786?"
    flipped = "What decreased sharply after the treaty of 1786?"
    own = reader.confidence_features(asked, reader.candidates(asked, [sales]))
    other = reader.confidence_features(flipped, reader.candidates(flipped, [sales]))
    assert (own["antonym"], other["antonym"]) == (0.0, 1.0)
    assert confidence(other) < confidence({**other, "antonym": 0.0})


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.documents, self.queries = inner, inner.name, 0, 0

    def embed_documents(self, texts):
        self.documents += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        self.queries += 1
        return self.inner.embed_query(text)


def test_nothing_is_embedded_when_the_hits_carry_dense_scores(embedder):
    counting = CountingEmbedder(embedder)
    reader = ExtractiveReader(counting)
    dense = [Hit(h.chunk, h.score, h.doc_title, h.doc_source, scores={"dense": 0.6}) for h in HITS]
    extract = reader.extract("What is the hotel cap per night in Tokyo?", dense)
    assert not extract.abstained and (counting.documents, counting.queries) == (0, 0)


def test_a_bm25_only_hit_gets_its_passage_cosine_from_the_embedder(embedder):
    counting = CountingEmbedder(embedder)
    reader = ExtractiveReader(counting)
    question = "What is the hotel cap per night in Tokyo?"
    best = reader.candidates(question, HITS)[0]
    features = reader.confidence_features(question, [best])
    expected = float(embedder.embed_documents([TRAVEL])[0] @ embedder.embed_query(question))
    assert features["passage_cosine"] == pytest.approx(expected, abs=1e-5)
    assert features["share"] == pytest.approx(1.0) and counting.documents == 1
