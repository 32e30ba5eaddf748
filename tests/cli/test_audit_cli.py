"""`tailor ask` records every answer; `tailor audit query` finds them by document, caller and time, and says
which documents were deleted since. The real CLI app, in-process (one embedder load per command)."""

import getpass
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.kb.knowledge_base import KnowledgeBase

TRAVEL = "Business Travel Policy\n\nThe nightly hotel cap is EUR 180. In London the cap is EUR 240 per night.\n"
SECRET_SENTENCE = "Salary band E4 pays between EUR 88,000 and EUR 104,000 per year."
SALARY_QUESTION = "How much does salary band E4 pay?"
CALLER = f"cli:{getpass.getuser()}"


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def query(*args: str) -> list[dict]:
    return json.loads(invoke("audit", "query", *args, "--json"))


@pytest.fixture(scope="module")
def asked(tmp_path_factory, embedder) -> tuple[Path, dict, dict]:
    """A KB with a public and an hr document; one question asked as hr, one as public."""
    root = tmp_path_factory.mktemp("audit-cli")
    docs = root / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "travel.txt").write_text(TRAVEL)
    (docs / "hr" / "salary.txt").write_text(f"Salary Bands\n\n{SECRET_SENTENCE}\n")
    (docs / "_meta.yaml").write_text("files:\n  hr/salary.txt:\n    groups: [hr]\n")
    kb = KnowledgeBase.open(root / "kb", embedder=embedder)
    kb.ingest([docs])
    kb.close()
    config = root / "tailor.yaml"
    config.write_text("ask:\n  top_k: 3\naudit:\n  question: keep\n")
    hr = json.loads(invoke("ask", SALARY_QUESTION, "--kb", root / "kb", "--as-group", "hr", "--as-group", "public",
                           "--config", config, "--json"))
    public = json.loads(invoke("ask", "What is the hotel cap in London?", "--kb", root / "kb", "--config", config,
                               "--json"))
    return root / "kb", hr, public


def test_answers_are_recorded_as_ids_and_hashes_never_the_restricted_text(asked):
    kb, hr, public = asked
    assert SECRET_SENTENCE in hr["text"] and [c["doc_id"] for c in hr["citations"]] == ["hr/salary.txt"]
    newest, oldest = query("--kb", kb)
    assert newest["question"] == "What is the hotel cap in London?" and oldest["question"] == SALARY_QUESTION
    assert (oldest["caller"], oldest["groups"], oldest["strategy"], oldest["kb_version"]) == (CALLER, ["hr", "public"], "rag", 1)
    assert [c["doc_id"] for c in oldest["cited"]] == ["hr/salary.txt"] and oldest["abstained"] is False
    assert oldest["answer_sha256"] == hashlib.sha256(hr["text"].encode()).hexdigest()
    assert oldest["answer_chars"] == len(hr["text"]) and set(oldest["timings_ms"]) == set(hr["timings_ms"])
    assert {d["doc_id"] for d in newest["documents"]} == {"travel.txt"}  # public never retrieved the hr document
    trail = b"".join(p.read_bytes() for p in sorted((kb / "audit").iterdir()))
    assert SALARY_QUESTION.encode() in trail  # the kept question is there: text would be found if stored
    for restricted in (SECRET_SENTENCE, "88,000", hr["text"], hr["citations"][0]["quote"]):
        assert restricted.encode() not in trail


def test_query_by_document_caller_and_time(asked, tmp_path):
    kb = asked[0]
    assert [e["question"] for e in query("--kb", kb, "--doc", "hr/salary.txt")] == [SALARY_QUESTION]
    assert len(query("--kb", kb, "--doc", "travel.txt")) == 2 and query("--kb", kb, "--doc", "nothing") == []
    assert len(query("--kb", kb, "--key", CALLER)) == 2 and query("--kb", kb, "--key", "k0123456789") == []
    assert len(query("--kb", kb, "--since", "1h")) == 2 and query("--kb", kb, "--since", "2999-01-01") == []
    assert len(query("--dir", kb / "audit", "--doc", "hr/salary.txt", "--since", "2020-01-01T00:00+00:00")) == 1
    assert len(query("--kb", kb, "--limit", "1")) == 1
    table = invoke("audit", "query", "--kb", kb, "--doc", "hr/salary.txt")
    assert "hr/salary.txt*" in table and CALLER in table and "1 record(s)" in table
    assert "--since" in invoke("audit", "query", "--kb", kb, "--since", "last tuesday", code=2)
    assert "no audit trail" in invoke("audit", "query", "--dir", tmp_path / "none", code=1)


def test_a_deleted_documents_rows_remain_and_say_it_was_deleted(asked):
    kb = asked[0]
    assert query("--kb", kb, "--doc", "hr/salary.txt")[0]["deleted_doc_ids"] == []
    invoke("kb", "rm", "hr/salary.txt", "--kb", kb)
    (entry,) = query("--kb", kb, "--doc", "hr/salary.txt")
    assert entry["deleted_doc_ids"] == ["hr/salary.txt"]
    assert {d["doc_id"]: d["deleted"] for d in entry["documents"]} == {"hr/salary.txt": True, "travel.txt": False}
    assert query("--dir", kb / "audit", "--doc", "hr/salary.txt")[0]["deleted_doc_ids"] is None  # no KB: unchecked
    assert "(deleted)" in invoke("audit", "query", "--kb", kb, "--doc", "hr/salary.txt")


def test_refusals_are_listed_with_their_reason_and_filtered_by_outcome(tmp_path):
    from tailor.audit import AuditLog
    from tailor.records import Answer

    with AuditLog.open(tmp_path / "trail") as log:
        log.record(Answer(question="q1", text="a1", strategy="rag", generator="extractive"), caller="k1",
                   groups=["public"], kb_version=1)
        log.record_refusal("q2", "adapter hr-qa@1 lacks ['hr']", strategy="finetuned", generator="", caller="k1",
                           groups=["public"], kb_version=1, adapter="hr-qa@1")
    assert [e["reason"] for e in query("--dir", tmp_path / "trail")] == ["adapter hr-qa@1 lacks ['hr']", None]
    assert [e["strategy"] for e in query("--dir", tmp_path / "trail", "--outcome", "refused")] == ["finetuned"]
    assert [e["strategy"] for e in query("--dir", tmp_path / "trail", "--outcome", "answered")] == ["rag"]
    table = invoke("audit", "query", "--dir", tmp_path / "trail")
    assert "refused: adapter hr-qa@1 lacks ['hr']" in table and "answered" in table and "2 record(s)" in table
