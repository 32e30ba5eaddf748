"""The offline writer: answer spans, echo and cloze questions, table rows, key-value lines, paraphrases."""

from __future__ import annotations

import pytest

from tailor.finetune.offline_qa import OfflineQAWriter, clean_line, find_span
from tailor.finetune.qa_records import WriterReport
from tailor.finetune.synthetic import validate_pair


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
