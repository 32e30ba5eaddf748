"""`tailor ask` and `tailor strategies` through the real CLI, run as subprocesses: answers, the audit
record of each, and registry adapters refused to callers outside their groups."""

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.tiny_llm import build_tiny_llama, build_tiny_lora_adapter
from tailor.audit import AuditLog
from tailor.cli import app
from tailor.finetune.registry import AdapterRegistry

TRAVEL = (
    "Business Travel Policy\n\n"
    "Trips should be booked at least 14 days before departure. The nightly hotel cap is EUR 180 in "
    "standard cities. In high-cost cities such as London and Zurich the cap is EUR 240 per night.\n"
)
RAIL = "Rail and Road\n\nRail is preferred for journeys under 4 hours. Mileage is reimbursed at EUR 0.25 per kilometre.\n"
SALARY = "Salary Bands\n\nSalary band E4 pays between EUR 88,000 and EUR 104,000 per year.\n"


def tailor(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def recorded(folder: Path) -> list:
    return AuditLog.open(folder).query() if folder.is_dir() else []


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
    before = len(recorded(kb / "audit"))
    answer = json.loads(
        tailor("ask", "What is the hotel cap per night in London?", "--kb", str(kb), "--json").stdout
    )
    trail = recorded(kb / "audit")  # every answer is recorded, by default beside the knowledge base
    assert len(trail) == before + 1 and trail[0].caller == f"cli:{getpass.getuser()}" and trail[0].kb_version == 1
    assert [ref.doc_id for ref in trail[0].cited] == ["travel.txt"] and trail[0].groups == ["public"]
    assert not answer["abstained"] and answer["strategy"] == "rag" and answer["generator"] == "extractive"
    (citation,) = answer["citations"]
    assert citation["doc_id"] == "travel.txt" and citation["title"] == "Business Travel Policy"
    assert TRAVEL.strip()[citation["start"] : citation["end"]] == citation["quote"]
    assert citation["quote"] == "In high-cost cities such as London and Zurich the cap is EUR 240 per night."
    assert set(answer["timings_ms"]) == {"retrieve", "rerank", "generate", "total"}
    # top-5 over three documents returns every visible one: the default caller (public) sees no hr file
    assert {h["chunk"]["doc_id"] for h in answer["hits"]} == {"travel.txt", "rail.txt"}


def test_ask_abstains_when_the_corpus_lacks_the_answer(kb: Path):
    before = len(recorded(kb / "audit"))
    answer = json.loads(tailor("ask", "Who painted the Mona Lisa?", "--kb", str(kb), "--no-audit", "--json").stdout)
    assert answer["abstained"] and answer["citations"] == []
    assert len(recorded(kb / "audit")) == before  # --no-audit


def test_ask_streams_then_prints_numbered_sources_for_the_callers_groups(kb: Path):
    question = "How much does salary band E4 pay?"
    out = tailor(
        "ask", question, "--kb", str(kb), "--as-group", "hr", "--as-group", "public", "--stream"
    ).stdout
    answer_line, rest = out.split("\n", 1)
    assert answer_line.startswith("Salary band E4 pays between EUR 88,000 and EUR 104,000 per year. [")
    assert "Sources" in rest and "Salary Bands" in rest and "hr/salary.txt" in rest


def test_a_stream_interrupted_at_the_terminal_is_recorded_as_far_as_it_went(kb: Path, monkeypatch):
    import types

    import tailor.cli.ask as ask_cli

    written: list[str] = []

    def write(text: str) -> int:
        if len(written) == 2:
            raise KeyboardInterrupt  # Ctrl-C after two words
        written.append(text)
        return len(text)

    terminal = types.SimpleNamespace(write=write, flush=lambda: None)
    monkeypatch.setattr(ask_cli, "sys", types.SimpleNamespace(stdout=terminal))
    before = len(recorded(kb / "audit"))
    result = CliRunner().invoke(app, ["ask", "What is the hotel cap per night in London?", "--kb", str(kb), "--stream"])
    assert result.exit_code != 0 and len(written) == 2
    trail = recorded(kb / "audit")
    assert len(trail) == before + 1 and trail[0].outcome == "interrupted"
    # what the reader had handed over: the two words printed and the one whose printing was interrupted
    assert written == ["In ", "high-cost "] and trail[0].answer_chars == len("In high-cost cities ")
    assert trail[0].reason == "interrupted at the terminal"
    assert [ref.doc_id for ref in trail[0].retrieved] and trail[0].cited == []


def test_strategies_lists_closed_book_and_rag():
    rows = {r["name"]: r for r in json.loads(tailor("strategies", "--json").stdout)}
    assert (rows["closed_book"]["retrieves"], rows["rag"]["retrieves"]) == (False, True)
    assert rows["rag"]["template"] == "rag" and rows["rag"]["description"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> tuple[Path, Path]:
    """A registry home with a tiny LoRA adapter trained (so its manifest says) on hr documents, one whose
    manifest predates recorded groups, and an adapter folder from outside any registry."""
    root = tmp_path_factory.mktemp("registry")
    base = build_tiny_llama(root / "base")
    home = root / "home"
    for name, groups in (("hr-qa", ["hr"]), ("legacy", None)):
        weights = build_tiny_lora_adapter(base, root / f"weights-{name}")
        manifest = {"weights": "adapter", "base_model": {"id": str(base)}} | ({"groups": groups} if groups else {})
        AdapterRegistry(home).publish(name, {"adapter": weights}, manifest, {})
    build_tiny_lora_adapter(base, root / "outside")
    return home, root


def test_an_adapter_is_refused_to_callers_outside_its_groups(registry, monkeypatch):
    home, root = registry
    monkeypatch.setenv("TAILOR_HOME", str(root / "tailor-home"))
    monkeypatch.setenv("COLUMNS", "400")
    question = ["ask", "What does band E4 pay?", "--strategy", "finetuned", "--home", str(home)]
    for adapter, groups, reason in (
        ("hr-qa", ["public"], "lacks ['hr']"),
        ("legacy", ["public", "hr"], "records no access groups"),
        (str(root / "outside"), ["hr"], "not an adapter of a Tailor registry"),
    ):
        as_groups = [arg for group in groups for arg in ("--as-group", group)]
        refused = CliRunner().invoke(app, [*question, "--adapter", adapter, *as_groups])  # in-process: no model loads
        assert refused.exit_code == 1 and refused.stdout == "", adapter
        assert "access denied" in refused.stderr and reason in " ".join(refused.stderr.split()), adapter
    unknown = CliRunner().invoke(app, [*question, "--adapter", "nope", "--as-group", "hr"])
    assert unknown.exit_code == 1 and "no adapter named 'nope'" in unknown.stderr
    with AuditLog.open(root / "tailor-home" / "audit") as log:  # every refusal is on the trail, newest first
        refusals = log.query()
    assert [e.outcome for e in refusals] == ["refused"] * 3
    assert [e.adapter for e in refusals] == [str(root / "outside"), "legacy", "hr-qa"]
    assert "lacks ['hr']" in refusals[2].reason and refusals[2].groups == ["public"]
    assert refusals[2].caller.startswith("cli") and refusals[2].strategy == "finetuned"
    rerun = CliRunner().invoke(app, [*question, "--adapter", "hr-qa", "--as-group", "public", "--no-audit"])
    assert rerun.exit_code == 1 and len(AuditLog.open(root / "tailor-home" / "audit").query()) == 3


def test_an_adapter_answers_a_caller_holding_its_groups_and_the_answer_is_audited(registry):
    home, root = registry
    entry = AdapterRegistry(home).get("hr-qa")
    answer = json.loads(tailor("ask", "What does band E4 pay?", "--strategy", "finetuned", "--adapter", "hr-qa",
                               "--home", str(home), "--as-group", "hr", "--max-new-tokens", "4", "--json",
                               TAILOR_HOME=str(root / "tailor-home")).stdout)
    assert answer["generator"] == f"hf:{entry.base_model}+adapter:{entry.weights}"  # the base model it was trained on
    row, *refusals = recorded(root / "tailor-home" / "audit")  # no knowledge base: the trail is in $TAILOR_HOME
    assert row.outcome == "answered" and all(e.outcome == "refused" for e in refusals)  # the previous test's
    assert (row.adapter, row.adapter_version, row.kb_version, row.strategy) == ("hr-qa", 1, None, "finetuned")
