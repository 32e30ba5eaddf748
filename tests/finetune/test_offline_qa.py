"""The offline writer: answer spans, echo and cloze questions, table rows, key-value lines, paraphrases, and the
fact filters that refuse what is not a fact (each reason, and the facts they must keep)."""

from __future__ import annotations

import pytest

from tailor.finetune.config import DataConfig
from tailor.finetune.data import build_dataset
from tailor.finetune.fact_filter import answer_shapes
from tailor.finetune.offline_qa import OfflineQAWriter, clean_line, find_span
from tailor.finetune.qa_records import WriterReport
from tailor.finetune.synthetic import validate_pair
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Document


@pytest.mark.parametrize(
    ("sentence", "span", "phrase"),
    [
        ("The nightly hotel cap is EUR 180 in standard cities.", "EUR 180", "how much"),
        ("The policy took effect on 1 February 2026 for all staff.", "1 February 2026", "when"),
        ("Trips should be booked at least 14 days before departure.", "14 days", "how many days"),
        ("A bird must eat for several hours every day.", "several hours", "how many hours"),
        ("Orders of three looms receive a 5% discount.", "5%", "what percentage"),
        ("This underground water is called groundwater.", "groundwater", "what"),
        ("Every trip is booked in TripLedger by the traveller.", "TripLedger", "what"),
        ("The price had risen from US$3 per barrel.", "US$3", "how much"),
        ("The Franks, as the Byzantines called them, were Normans in 1050.", "1050", "what year"),  # not "them"
    ],
)
def test_find_span(sentence, span, phrase):
    start, end, found_phrase, _ = find_span(sentence)
    assert (sentence[start:end], found_phrase) == (span, phrase)


def test_no_span_in_plain_prose():
    assert find_span("bread is best on the day it is baked.") is None


def test_questions_from_prose_tables_and_fields():
    passage = (
        "# Travel\n\n**Effective date:** 1 February 2026\n\n"
        "Trips should be booked at least 14 days before departure.\n\n"
        "| SKU | Product | Price |\n|---|---|---|\n| NWL-S200 | Studio loom | EUR 14,900 |\n"
    )
    pairs = OfflineQAWriter().questions(passage, "Travel Policy", 10, WriterReport())
    questions = {p.question: p.answer for p in pairs}
    assert questions["What is the effective date of the Travel Policy?"] == "1 February 2026"
    assert questions["Fill in the blank (Travel Policy): NWL-S200, Studio loom, ____"] == "EUR 14,900"
    echo = "According to the Travel Policy, trips should be booked at least how many days before departure?"
    assert questions[echo] == "14 days"
    assert all(validate_pair(p, passage) is None for p in pairs)
    assert len(OfflineQAWriter().questions(passage, "Travel Policy", 2, WriterReport())) == 2


def test_clean_line():
    assert clean_line("| a | **b** |") == ("a, b", True)
    assert clean_line("## 2.1 Where to book") == ("2.1 Where to book", False)
    assert clean_line("- item `x`") == ("item x", False)


def test_template_paraphrases_differ_and_keep_content():
    found = OfflineQAWriter().paraphrases("How much does the loom cost before VAT?", 3, WriterReport())
    assert len(found) == 3 and len(set(found)) == 3
    assert all("loom" in q and "VAT" in q and q != "How much does the loom cost before VAT?" for q in found)
    assert found[0] == "What amount does the loom cost prior to VAT?"


# -- the fact filters: each reason refuses its constructed case, and a good sentence beside it stays ------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("© 2021 The Authors. Published by Elsevier Ltd on 3 March 2021.", "licence_or_header"),
        ("This is an open access article distributed under the terms of the CC BY 4.0 licence.", "licence_or_header"),
        ("Received: 12 March 2019", "licence_or_header"),
        ("The full protocol of 2019 is available at https://example.org/protocol for readers.", "url"),
        ("The trial data of 2020 were deposited under doi:10.1016/j.vaccine.2020.01.002 by the team.", "doi"),
        ("Smith J, Doe AB, Lee C, and Park H reviewed the 12 vaccines in this work.", "author_list"),
        ("Titre results were 12.5 34.1 56.0 78.2 and 90.3 across the arms.", "table_debris"),
        ("responses and protect against challenge with heterologous H5N1 in 2019 models.", "fragment"),
        ("8 Appendix: Model Specifics, Validation and Sensitivity Analysis", "no_verb"),
        ("The vaccine group showed protection in arm (3) of the trial.", "bracketed_numeral"),
        ("The committee approved the remaining 132 after a long debate.", "bare_number"),
    ],
)
def test_the_writer_refuses_what_is_not_a_fact(text, reason):
    report = WriterReport()
    good = "Trips should be booked at least 14 days before departure."
    pairs = OfflineQAWriter().questions(f"{text}\n{good}", "Travel Policy", 10, report)
    assert report.filtered == {reason: 1}
    assert report.filtered_samples[reason] == [text]
    assert {p.answer for p in pairs} == {"14 days"}


@pytest.mark.parametrize(
    ("sentence", "answer"),
    [
        ("The Normans conquered England in 1066 after the Battle of Hastings.", "1066"),
        ("Even before the Edict of Alès (1629), Protestant rule was dead.", "1629"),
        ("Roughly 500,000 Huguenots had fled France by the early 18th century.", "500,000 Huguenots"),
        ("The city straddles the Vistula River.", "Vistula River"),
        ("The Harvard Art Museums comprises three museums.", "Harvard Art Museums"),  # a verb has_verb does not know
        ("In July 1977, General Zia-ul-Haq overthrew the regime in Pakistan.", "July 1977"),
    ],
)
def test_facts_pass_the_filters(sentence, answer):
    report = WriterReport()
    pairs = OfflineQAWriter().questions(sentence, "History", 10, report)
    assert report.filtered == {} and pairs and {p.answer for p in pairs} == {answer}


def test_reference_markers_are_cut_and_never_become_answers():
    sentence = "Adenovirus vectors protect mice against H5N1 challenge [132] [133, 134] (Smith et al., 2019)."
    report = WriterReport()
    pairs = OfflineQAWriter().questions(sentence, "Virus-Vectored Vaccines", 10, report)
    assert report.markers_cut == 1 and report.filtered == {}
    assert pairs and all("[" not in p.question and "Smith" not in p.question for p in pairs)
    assert {p.answer for p in pairs} == {"H5N1"}
    unfiltered = OfflineQAWriter(filters=False).questions(sentence, "Virus-Vectored Vaccines", 10, WriterReport())
    assert any("[" in p.question for p in unfiltered)  # what the filters exist for


def test_a_bare_number_is_asked_only_with_its_unit():
    pairs = OfflineQAWriter().questions("The archive holds 13 species of moth in 4 cabinets.", "Archive", 10,
                                        WriterReport())
    assert {p.answer for p in pairs} == {"13 species"}
    assert "how many species" in pairs[0].question


def test_answer_shapes():
    shapes = answer_shapes(["48%", "Vero E6", "EUR 180", "the cat sat on the mat", "TripLedger"])  # issue 27's
    assert shapes == {"answers": 5, "short_number": 0.4, "short_name": 0.4, "other": 0.2, "median_words": 2}


def test_the_data_card_counts_refusals_by_reason_and_samples_what_was_kept(tmp_path, embedder):
    text = (
        "© 2021 The Authors. Published by Elsevier Ltd on 3 March 2021.\n"
        "Adenovirus vectors protect mice against H5N1 challenge [132] [133].\n"
        "The committee approved the remaining 132 after a long debate.\n"
        "See https://example.org/protocol for the 2019 protocol of the trial.\n"
        "Trips should be booked at least 14 days before departure.\n"
    )
    kb = KnowledgeBase.open(tmp_path / "kb", embedder=embedder)
    kb.ingest_documents([Document("article", text, "Vaccines", "article.md")])
    kb.close()
    card = build_dataset(DataConfig(kb=tmp_path / "kb", out=tmp_path / "data", val_fraction=0.0, questions_per_chunk=10))
    quality = card["quality"]
    assert quality["rejected"] == {"licence_or_header": 1, "bare_number": 1, "url": 1}
    assert quality["reference_markers_cut"] == 1
    assert {row["answer"] for row in quality["kept_sample"]} == {"H5N1", "14 days"}
    assert quality["answer_shapes"]["short_number"] == 0.5 and quality["answer_shapes"]["short_name"] == 0.5
    assert card["generation"]["filtered"] == quality["rejected"]
