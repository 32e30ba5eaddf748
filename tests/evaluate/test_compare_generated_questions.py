"""Questions generated when none are given: through the training data's fact filters, their document split
counted, and said so in report.json, report.html and summary.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.inputs import generate_questions
from tailor.evaluate.report import build_view, render_html, render_summary
from tailor.finetune.offline_qa import OfflineQAWriter
from tailor.finetune.synthetic import WRITERS
from tailor.records import Document

# Each document: one fact, then lines the fact filters refuse (licence, author list, URL, reference markers).
TEXTS = {
    f"doc{i}.md": f"# Product {i}\n\n"
    f"Copyright {2010 + i} Weft Ltd. All rights reserved, licensed under CC BY 4.0 since {2010 + i}.\n"
    f"Smith J, Jones K, Lee P, Brown T, Green A, White B.\n"
    f"Full specifications are published at https://weft.example.com/model-{i} since {2000 + i}.\n"
    f"Earlier looms reached {50 + i} metres per hour [1{i}] in 1998 [2{i}].\n"
    f"The Model {i} loom weaves {100 + i} metres of cloth per hour.\n"
    for i in range(10)
}
GARBAGE = ("copyright", "http", "smith j", "[1", "[2")


def _generate(make_kb, tmp_path: Path, name: str):
    kb = make_kb(f"kb-{name}")
    kb.ingest_documents([Document(id=d, text=t, title=d, source=d) for d, t in TEXTS.items()])
    out = tmp_path / f"out-{name}"
    return generate_questions(RunContext(CompareConfig(kb=kb.uri, out=out, arms=[]), out, tmp_path / "home"), kb)


def _garbage(found) -> list[str]:
    pairs = [f"{q.question} -> {q.answers[0]}" for q in found.questions]
    return [pair for pair in pairs if any(mark in pair.lower() for mark in GARBAGE)]


def test_generated_questions_pass_the_training_datas_fact_filters(make_kb, tmp_path, monkeypatch):
    found = _generate(make_kb, tmp_path, "filtered")
    assert found.questions and _garbage(found) == []
    card = json.loads((tmp_path / "out-filtered" / "work" / "heldout-questions" / "card.json").read_text())
    refused = card["generation"]["filtered"]
    assert {"licence_or_header", "author_list", "url"} <= set(refused)
    # the same documents with the filters off: the check above is not vacuous
    monkeypatch.setitem(WRITERS, "offline", lambda spec: OfflineQAWriter(filters=False))
    assert _garbage(_generate(make_kb, tmp_path, "unfiltered"))


def test_the_question_set_counts_the_documents_on_each_side_of_its_split(make_kb, tmp_path):
    found = _generate(make_kb, tmp_path, "split")
    held_out = {d for q in found.questions for d in q.doc_ids}
    assert found.documents == {"questions": 3, "training": 7}  # val_fraction 0.3 of 10 documents
    assert 0 < len(held_out) <= 3
    assert "3 held-out documents" in found.source and "7 others left for training" in found.source


@pytest.fixture
def generated_report():
    report = json.loads((Path(__file__).parent / "fixtures" / "report_sample.json").read_text())
    report["questions"].update(source="generated from 3 held-out documents, never trained on (7 others left for "
                               "training)", generated=True, documents={"questions": 3, "training": 7})
    return report


def test_the_html_report_says_the_questions_were_generated_and_the_documents_on_each_side(generated_report):
    soup = BeautifulSoup(render_html(build_view(generated_report)), "html.parser")
    row = next(tr for tr in soup.select("#run tr") if tr.th and tr.th.get_text() == "Questions")
    text = " ".join(row.td.get_text().split())
    assert "generated from held-out documents: 3 held out for the questions, 7 for training" in text
    sources = {span["data-source"] for span in row.select("span.num")}
    assert sources == {"/questions/documents/questions", "/questions/documents/training"}


def test_the_summary_says_the_questions_were_generated_and_a_questions_file_is_not(generated_report):
    summary = render_summary(build_view(generated_report))
    assert "**Questions:** generated from held-out documents (3 held out for the questions, 7 for training)" in summary
    generated_report["questions"].update(source="questions.jsonl", generated=False, documents=None)
    assert "**Questions:**" not in render_summary(build_view(generated_report))
