"""`tailor ask` and `tailor strategies` through the real CLI, run as subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAVEL = (
    "Business Travel Policy\n\n"
    "Trips should be booked at least 14 days before departure. The nightly hotel cap is EUR 180 in "
    "standard cities. In high-cost cities such as London and Zurich the cap is EUR 240 per night.\n"
)
RAIL = "Rail and Road\n\nRail is preferred for journeys under 4 hours. Mileage is reimbursed at EUR 0.25 per kilometre.\n"
SALARY = "Salary Bands\n\nSalary band E4 pays between EUR 88,000 and EUR 104,000 per year.\n"


def tailor(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ask-cli")
    docs = root / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "travel.txt").write_text(TRAVEL)
    (docs / "rail.txt").write_text(RAIL)
    (docs / "hr" / "salary.txt").write_text(SALARY)
    (docs / "_meta.yaml").write_text("files:\n  hr/salary.txt:\n    groups: [hr]\n")
    tailor("ingest", str(docs), "--kb", str(root / "kb"), "--json")
    return root / "kb"


def test_ask_json_cites_the_document_and_exact_span(kb: Path):
    answer = json.loads(
        tailor("ask", "What is the hotel cap per night in London?", "--kb", str(kb), "--json").stdout
    )
    assert not answer["abstained"] and answer["strategy"] == "rag" and answer["generator"] == "extractive"
    (citation,) = answer["citations"]
    assert citation["doc_id"] == "travel.txt" and citation["title"] == "Business Travel Policy"
    assert TRAVEL.strip()[citation["start"] : citation["end"]] == citation["quote"]
    assert citation["quote"] == "In high-cost cities such as London and Zurich the cap is EUR 240 per night."
    assert set(answer["timings_ms"]) == {"retrieve", "rerank", "generate", "total"}
    # top-5 over three documents returns every visible one: the default caller (public) sees no hr file
    assert {h["chunk"]["doc_id"] for h in answer["hits"]} == {"travel.txt", "rail.txt"}


def test_ask_abstains_when_the_corpus_lacks_the_answer(kb: Path):
    answer = json.loads(tailor("ask", "Who painted the Mona Lisa?", "--kb", str(kb), "--json").stdout)
    assert answer["abstained"] and answer["citations"] == []


def test_ask_streams_then_prints_numbered_sources_for_the_callers_groups(kb: Path):
    question = "How much does salary band E4 pay?"
    out = tailor(
        "ask", question, "--kb", str(kb), "--as-group", "hr", "--as-group", "public", "--stream"
    ).stdout
    answer_line, rest = out.split("\n", 1)
    assert answer_line.startswith("Salary band E4 pays between EUR 88,000 and EUR 104,000 per year. [")
    assert "Sources" in rest and "Salary Bands" in rest and "hr/salary.txt" in rest


def test_strategies_lists_closed_book_and_rag():
    rows = {r["name"]: r for r in json.loads(tailor("strategies", "--json").stdout)}
    assert (rows["closed_book"]["retrieves"], rows["rag"]["retrieves"]) == (False, True)
    assert rows["rag"]["template"] == "rag" and rows["rag"]["description"]
